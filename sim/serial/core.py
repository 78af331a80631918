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

    #: wire faults, as on a real line: ``silent`` (the command arrives and is carried out, the reply is lost),
    #: ``lost`` (the command never arrives: no reply, nothing done), ``garbage`` (a garbled reply: the command
    #: was carried out, its answer cannot be understood), ``disconnected`` (the line is gone), ``error`` (the
    #: instrument answers every command with its own error reply and does nothing)
    FAULTS = ("silent", "lost", "garbage", "disconnected", "error")

    def __init__(self, name: str):
        self.name = name
        self.fault: str | None = None
        self.lock = threading.RLock()
        self._rng = random.Random(0)
        self._fault_left: int | None = None
        #: true while the instrument answers with its own error reply (the ``error`` fault); cores check it
        #: where they dispatch a command
        self.refusing = False
        #: the most recent bytes received, one entry per :meth:`feed` (a bounded log for tests)
        self.transcript: deque[bytes] = deque(maxlen=10_000)

    def feed(self, data: bytes) -> bytes:
        with self.lock:
            self.transcript.append(bytes(data))
            transcript.record(self.name)
            fault = self.fault
            if fault is not None and self._fault_left is not None:
                self._fault_left -= 1
                if self._fault_left <= 0:  # a transient fault: this exchange is its last
                    self.fault, self._fault_left = None, None
            if fault == "disconnected":
                raise ConnectionResetError(f"{self.name}: connection dropped")
            if fault == "lost":
                return b""
            self.refusing = fault == "error"
            try:
                reply = self.receive(data)
            finally:
                self.refusing = False
            if fault == "silent":
                return b""
            if fault == "garbage" and reply:
                return bytes(self._rng.randrange(256) for _ in range(len(reply)))
            return reply

    def inject(self, fault: str | None, *, times: int | None = None) -> None:
        """Make the wire misbehave (one of :attr:`FAULTS`, or ``None`` to heal it): for good, or with *times*
        for that many exchanges only (a transient fault: a loose connector, a burst of noise)."""
        if fault is not None and fault not in self.FAULTS:
            raise ValueError(f"unknown wire fault {fault!r}; choose from {self.FAULTS}")
        if times is not None and times < 1:
            raise ValueError(f"times must be at least 1, got {times}")
        with self.lock:
            self.fault, self._fault_left = fault, (times if fault is not None else None)

    def power_cycle(self) -> None:
        """Power was interrupted and came back: the instrument is as after switching it on (each simulator
        says what that means for its instrument)."""
        raise NotImplementedError(f"{self.name}: {type(self).__name__} does not simulate a power cycle")

    @abstractmethod
    def receive(self, data: bytes) -> bytes:
        """Consume *data*; return the reply bytes (``b""`` when the instrument says nothing yet)."""
