"""Serial transports for drivers: any pyserial URL or VISA resource, one lock per port.

A driver gets a URL (``/dev/ttyUSB0``, ``COM3``, ``socket://host:port``, ``sim://name``, ``ASRL3::INSTR``...)
and never knows what is behind it. Every read has a timeout and every exchange holds the port's lock, so two threads (a
plan and a monitor, say) cannot interleave their commands on the wire.
"""

from __future__ import annotations

import select
import threading
import time
import weakref

import serial

from .errors import ConnectionLost, InstrumentTimeout
from .visa import VisaPipe, is_visa_resource

_locks: "weakref.WeakValueDictionary[str, threading.RLock]" = weakref.WeakValueDictionary()
_locks_guard = threading.Lock()


def port_lock(url: str) -> threading.RLock:
    """The lock shared by every :class:`Port` open on *url* in this process."""
    with _locks_guard:
        lock = _locks.get(url)
        if lock is None:
            lock = threading.RLock()
            _locks[url] = lock
        return lock


class Port:
    """A byte pipe to one instrument with timeouts that raise instead of returning short reads."""

    def __init__(self, url: str, *, name: str | None = None, timeout: float = 1.0, **settings):
        self.url = url
        self.name = name or url
        self.timeout = timeout
        self.lock = port_lock(url)
        self._buf = bytearray()
        # a reply may still be on its way from an exchange that failed; at opening, whatever the line held
        # before (a boot banner, a previous client's leftovers) counts as stale too
        self._stale = True
        try:
            if is_visa_resource(url):
                self._serial = VisaPipe(url, timeout=timeout, **settings)
            else:
                self._serial = serial.serial_for_url(url, timeout=timeout, **settings)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise ConnectionLost(self.name, f"cannot open {url}: {exc}") from exc
        except Exception as exc:  # pyvisa's own errors (no such resource, no VISA library)
            raise ConnectionLost(self.name, f"cannot open {url}: {exc}") from exc

    def close(self) -> None:
        self._serial.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def write(self, data: bytes) -> None:
        try:
            sock = getattr(self._serial, "_socket", None)
            if sock is not None:  # a TCP serial server: one send, not pyserial's select-then-send loop
                try:
                    sent = sock.send(data)
                except BlockingIOError:
                    sent = 0
                if sent == len(data):
                    return
                data = data[sent:]
            self._serial.write(data)
            self._serial.flush()
        except (serial.SerialException, OSError) as exc:
            raise ConnectionLost(self.name, f"write failed on {self.url}: {exc}") from exc

    def read_until(self, terminator: bytes, *, max_size: int = 65536) -> bytes:
        """Bytes up to and including *terminator*; raise :class:`InstrumentTimeout` if it never comes."""
        deadline = time.monotonic() + self.timeout
        searched = 0
        while True:
            at = self._buf.find(terminator, max(0, searched - len(terminator) + 1))
            if at >= 0:
                return self._take(at + len(terminator))
            searched = len(self._buf)
            if searched >= max_size or not self._fill(deadline):
                self._stale = True
                partial = self._take(len(self._buf))
                raise InstrumentTimeout(self.name, f"no reply ending {terminator!r} within {self.timeout} s",
                                        partial or None)

    def read_exact(self, size: int) -> bytes:
        deadline = time.monotonic() + self.timeout
        while len(self._buf) < size:
            if not self._fill(deadline):
                self._stale = True
                got = self._take(len(self._buf))
                raise InstrumentTimeout(self.name, f"expected {size} bytes within {self.timeout} s, "
                                        f"got {len(got)}", got or None)
        return self._take(size)

    def discard_stale(self) -> bytes:
        """Before a command: drop what a timed-out or unparsed exchange left behind, so the next reply is
        read from its first byte. Costs nothing when the last exchange ended cleanly."""
        if not (self._stale or self._buf):
            return b""
        self._stale = False
        dropped = bytearray()
        while chunk := self.read_available():
            dropped += chunk
        return bytes(dropped)

    def mark_stale(self) -> None:
        """Tell the port that the last reply was not fully consumed (it did not parse, or the exchange was
        interrupted): the next :meth:`discard_stale` drops what is left."""
        self._stale = True

    def read_available(self) -> bytes:
        """Whatever is waiting, without blocking (used to discard stale bytes before a command)."""
        self._fill(None)
        return self._take(len(self._buf))

    def _take(self, n: int) -> bytes:
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def _fill(self, deadline: float | None) -> bool:
        """Append what arrives before *deadline* (None: only what is already there); False if nothing came.

        Reads whole chunks rather than pyserial's byte-at-a-time ``read_until``: on a TCP serial server that
        is one system call per reply instead of one per byte.
        """
        try:
            sock = getattr(self._serial, "_socket", None)
            if sock is not None:
                wait = 0.0 if deadline is None else max(0.0, deadline - time.monotonic())
                ready, _, _ = select.select([sock], [], [], wait)
                if not ready:
                    return False
                data = sock.recv(4096)
                if not data:
                    raise ConnectionLost(self.name, f"{self.url} closed the connection")
            else:
                waiting = self._serial.in_waiting
                if deadline is None and not waiting:
                    return False
                data = self._serial.read(waiting or 1)
                if not data and deadline is not None and time.monotonic() < deadline and waiting:
                    return False
        except (serial.SerialException, OSError) as exc:
            raise ConnectionLost(self.name, f"read failed on {self.url}: {exc}") from exc
        self._buf.extend(data)
        return bool(data)
