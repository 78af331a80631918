"""Serial transports for drivers: any pyserial URL, one lock per port.

A driver gets a URL (``/dev/ttyUSB0``, ``COM3``, ``socket://host:port``, ``sim://name``...) and never knows
what is behind it. Every read has a timeout and every exchange holds the port's lock, so two threads (a
plan and a monitor, say) cannot interleave their commands on the wire.
"""

from __future__ import annotations

import threading
import weakref

import serial

from .errors import ConnectionLost, InstrumentTimeout

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
        try:
            self._serial = serial.serial_for_url(url, timeout=timeout, **settings)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise ConnectionLost(self.name, f"cannot open {url}: {exc}") from exc

    def close(self) -> None:
        self._serial.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def write(self, data: bytes) -> None:
        try:
            self._serial.write(data)
            self._serial.flush()
        except (serial.SerialException, OSError) as exc:
            raise ConnectionLost(self.name, f"write failed on {self.url}: {exc}") from exc

    def read_until(self, terminator: bytes, *, max_size: int = 65536) -> bytes:
        """Bytes up to and including *terminator*; raise :class:`InstrumentTimeout` if it never comes."""
        data = self._read(lambda s: s.read_until(terminator, max_size))
        if not data.endswith(terminator):
            raise InstrumentTimeout(self.name, f"no reply ending {terminator!r} within {self.timeout} s",
                                    data or None)
        return data

    def read_exact(self, size: int) -> bytes:
        data = self._read(lambda s: s.read(size))
        if len(data) != size:
            raise InstrumentTimeout(self.name, f"expected {size} bytes within {self.timeout} s, got {len(data)}",
                                    data or None)
        return data

    def read_available(self) -> bytes:
        """Whatever is waiting, without blocking (used to discard stale bytes before a command)."""
        return self._read(lambda s: s.read(s.in_waiting) if s.in_waiting else b"")

    def _read(self, op) -> bytes:
        try:
            return op(self._serial)
        except (serial.SerialException, OSError) as exc:
            raise ConnectionLost(self.name, f"read failed on {self.url}: {exc}") from exc
