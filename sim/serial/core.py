"""The shape every protocol simulator has: bytes in, bytes out, over the simulated world."""

from __future__ import annotations

import random
import threading
from abc import ABC, abstractmethod
from collections import deque

from labctl.sim import transcript


class ProtocolCore(ABC):
    """One instrument's firmware as a pure byte transformer.

    Subclasses implement :meth:`receive`: take whatever bytes arrived (possibly a partial command or
    several commands), buffer as needed, act on the world, and return the bytes the instrument would send.
    The three front ends (``sim://`` URL, TCP, pty) only call :meth:`feed`, which also applies faults.
    """

    #: serial settings the real instrument uses; front ends ignore them, drivers must pass them.
    serial_settings: dict = {}

    FAULTS = ("silent", "garbage", "disconnected")

    def __init__(self, name: str):
        self.name = name
        self.fault: str | None = None
        self.lock = threading.RLock()
        self._rng = random.Random(0)
        #: the most recent bytes received, one entry per :meth:`feed` (a bounded log for tests)
        self.transcript: deque[bytes] = deque(maxlen=10_000)

    def feed(self, data: bytes) -> bytes:
        with self.lock:
            self.transcript.append(bytes(data))
            transcript.record(self.name)
            if self.fault == "disconnected":
                raise ConnectionResetError(f"{self.name}: connection dropped")
            reply = self.receive(data)
            if self.fault == "silent":
                return b""
            if self.fault == "garbage" and reply:
                return bytes(self._rng.randrange(256) for _ in range(len(reply)))
            return reply

    def inject(self, fault: str | None) -> None:
        """Make the wire misbehave: ``silent``, ``garbage``, ``disconnected`` or ``None`` to heal it."""
        if fault is not None and fault not in self.FAULTS:
            raise ValueError(f"unknown wire fault {fault!r}; choose from {self.FAULTS}")
        self.fault = fault

    @abstractmethod
    def receive(self, data: bytes) -> bytes:
        """Consume *data*; return the reply bytes (``b""`` when the instrument says nothing yet)."""
