"""Serial transports for drivers: any pyserial URL or VISA resource, one open handle and one lock per port.

A driver gets a URL (``/dev/ttyUSB0``, ``COM3``, ``socket://host:port``, ``sim://name``, ``ASRL3::INSTR``...)
and never knows what is behind it. Every read has a timeout and every exchange holds the port's lock, so two threads (a
plan and a monitor, say) cannot interleave their commands on the wire.

Drivers that share a line (daisy-chained pumps at different addresses on one RS-232 port) share one open serial
object: Windows opens a COM port exclusively, so a second open of ``COM3`` would fail. Each :class:`Port` is a
handle onto that shared :class:`Line`, which opens with its first handle and closes with its last.

A line that failed (a serial server that dropped its TCP connection, a USB adapter unplugged and plugged back)
is not used again as it is: a dead socket or file handle stays dead. The next exchange on it closes the serial
object and opens a new one with the same URL and settings, so a transient fault costs the exchange it hit and
no more; if the port cannot be opened yet, that exchange raises :class:`ConnectionLost` and the next one tries
again.
"""

from __future__ import annotations

import collections
import gc
import logging
import re
import select
import threading
import time
import weakref

import serial

from labctl.devices.errors import ConnectionLost, InstrumentTimeout
from labctl.devices.visa import VisaPipe, is_visa_resource

log = logging.getLogger(__name__)

_locks: weakref.WeakValueDictionary[str, threading.RLock] = weakref.WeakValueDictionary()
_lines: dict[str, Line] = {}
_locks_guard = threading.Lock()
# lines of Ports garbage-collected without close(): released at the next open, never from inside the collector,
# which may run while any lock is held
_dropped: collections.deque[Line] = collections.deque()


def _key(url: str) -> str:
    """One key per physical port: Windows spells ``COM3`` in any case and also as ``\\\\.\\COM3``."""
    m = re.fullmatch(r"(?:\\\\\.\\)?(com\d+)", url.strip(), re.I)
    return m[1].upper() if m else url


def port_lock(url: str) -> threading.RLock:
    """The lock shared by every :class:`Port` open on *url* in this process."""
    key = _key(url)
    with _locks_guard:
        lock = _locks.get(key)
        if lock is None:
            lock = threading.RLock()
            _locks[key] = lock
        return lock


def open_lines() -> dict[str, int]:
    """The lines open in this process and how many :class:`Port` handles use each."""
    _release_dropped()
    with _locks_guard:
        return {key: line.users for key, line in _lines.items()}


class Line:
    """One open serial object with its receive buffer, shared by every :class:`Port` on the same URL."""

    def __init__(self, url: str, lock: threading.RLock, serial_obj, settings: dict):
        self.url = url
        self.lock = lock
        self.serial = serial_obj
        self.settings = settings
        self.users = 0
        self.buf = bytearray()
        # a reply may still be on its way from an exchange that failed; at opening, whatever the line held
        # before (a boot banner, a previous client's leftovers) counts as stale too
        self.stale = True
        #: the serial object failed (ConnectionLost): the next exchange opens a new one before it writes
        self.broken = False
        self.reopened = 0

    def reopen(self, name: str, timeout: float) -> None:
        """Close the failed serial object and open the same URL with the same settings; ConnectionLost if the
        port cannot be opened (the line stays broken, and the next exchange tries again)."""
        with self.lock:
            try:
                self.serial.close()
            except Exception as exc:   # a handle that died may fail to close too; it is dropped all the same
                log.debug("%s: closing the failed %s: %s", name, self.url, exc)
            self.serial = _open(self.url, name, timeout, self.settings)
            self.buf.clear()
            self.stale, self.broken = True, False
            self.reopened += 1
            log.warning("%s: %s opened again after the line was lost", name, self.url)

    @classmethod
    def acquire(cls, url: str, name: str, timeout: float, settings: dict) -> Line:
        """The open line for *url*, opening it if no handle holds it; raise if the settings disagree."""
        key = _key(url)
        with _locks_guard:
            joining = key in _lines
        if joining:  # a driver dropped without close() may hold it, kept alive only by a reference cycle
            gc.collect()
        _release_dropped()
        lock = port_lock(url)
        with lock:
            with _locks_guard:
                line = _lines.get(key)
            if line is None:
                line = cls(url, lock, _open(url, name, timeout, settings), settings)
                with _locks_guard:
                    _lines[key] = line
            elif settings != line.settings:
                raise ConnectionLost(name, f"cannot open {url}: already open with {line.settings}, "
                                           f"not {settings} (one line has one set of serial settings)")
            line.users += 1
            return line

    def release(self) -> None:
        """One handle fewer; the last one closes the serial object."""
        with self.lock:
            self.users -= 1
            if self.users > 0:
                return
            with _locks_guard:
                if _lines.get(_key(self.url)) is self:
                    del _lines[_key(self.url)]
            self.serial.close()


def _release_dropped() -> None:
    while _dropped:
        try:
            line = _dropped.popleft()
        except IndexError:
            return
        line.release()


def _open(url: str, name: str, timeout: float, settings: dict):
    try:
        if is_visa_resource(url):
            return VisaPipe(url, timeout=timeout, **settings)
        return serial.serial_for_url(url, timeout=timeout, **settings)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise ConnectionLost(name, f"cannot open {url}: {exc}") from exc
    except Exception as exc:  # pyvisa's own errors (no such resource, no VISA library)
        raise ConnectionLost(name, f"cannot open {url}: {exc}") from exc


class Port:
    """A byte pipe to one instrument with timeouts that raise instead of returning short reads.

    Ports opened on the same URL share one :class:`Line` (serial object, buffer and lock); each keeps its own
    name (for errors) and read timeout.
    """

    def __init__(self, url: str, *, name: str | None = None, timeout: float = 1.0, **settings):
        self.url = url
        self.name = name or url
        self.timeout = timeout
        self._line: Line | None = Line.acquire(url, self.name, timeout, settings)
        self.lock = self._line.lock
        # a driver dropped without close() must not hold the line (and the port) forever
        self._finalizer = weakref.finalize(self, _dropped.append, self._line)

    @property
    def line(self) -> Line:
        """The shared line this handle uses (ConnectionLost once closed)."""
        if self._line is None:
            raise ConnectionLost(self.name, f"{self.url} is closed")
        return self._line

    @property
    def _serial(self):
        return self.line.serial

    def close(self) -> None:
        """Let go of the line (closed once no other handle uses it); closing twice is harmless."""
        line, self._line = self._line, None
        if self._finalizer.detach() is not None:
            line.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _usable(self) -> Line:
        """The line, opened again first if it failed (called where an exchange begins)."""
        line = self.line
        if line.broken:
            line.reopen(self.name, self.timeout)
        return line

    def _lost(self, message: str) -> ConnectionLost:
        """The error for a line that failed, marked for opening again at the next exchange."""
        self.line.broken = True
        return ConnectionLost(self.name, message)

    def write(self, data: bytes) -> None:
        """Send *data*; ConnectionLost if the port went away (the next exchange opens it again)."""
        ser = self._usable().serial
        try:
            sock = getattr(ser, "_socket", None)
            if sock is not None:  # a TCP serial server: one send, not pyserial's select-then-send loop
                try:
                    sent = sock.send(data)
                except BlockingIOError:
                    sent = 0
                if sent == len(data):
                    return
                data = data[sent:]
            ser.write(data)
            ser.flush()
        except (serial.SerialException, OSError) as exc:
            raise self._lost(f"write failed on {self.url}: {exc}") from exc

    def read_until(self, terminator: bytes, *, max_size: int = 65536) -> bytes:
        """Bytes up to and including *terminator*; raise :class:`InstrumentTimeout` if it never comes."""
        line = self.line
        deadline = time.monotonic() + self.timeout
        searched = 0
        while True:
            at = line.buf.find(terminator, max(0, searched - len(terminator) + 1))
            if at >= 0:
                return self._take(at + len(terminator))
            searched = len(line.buf)
            if searched >= max_size or not self._fill(deadline):
                line.stale = True
                partial = self._take(len(line.buf))
                raise InstrumentTimeout(self.name, f"no reply ending {terminator!r} within {self.timeout} s",
                                        partial or None)

    def read_exact(self, size: int) -> bytes:
        """Exactly *size* bytes; raise :class:`InstrumentTimeout` (with what came) if they do not come."""
        line = self.line
        deadline = time.monotonic() + self.timeout
        while len(line.buf) < size:
            if not self._fill(deadline):
                line.stale = True
                got = self._take(len(line.buf))
                raise InstrumentTimeout(self.name, f"expected {size} bytes within {self.timeout} s, "
                                        f"got {len(got)}", got or None)
        return self._take(size)

    def discard_stale(self) -> bytes:
        """Before a command: drop what a timed-out or unparsed exchange left behind, so the next reply is
        read from its first byte. Costs nothing when the last exchange ended cleanly; a line that failed is
        opened again here."""
        line = self._usable()
        if not (line.stale or line.buf):
            return b""
        line.stale = False
        dropped = bytearray()
        while chunk := self.read_available():
            dropped += chunk
        return bytes(dropped)

    def mark_stale(self) -> None:
        """Tell the port that the last reply was not fully consumed (it did not parse, or the exchange was
        interrupted): the next :meth:`discard_stale` drops what is left."""
        self.line.stale = True

    def read_available(self) -> bytes:
        """Whatever is waiting, without blocking (used to discard stale bytes before a command)."""
        self._fill(None)
        return self._take(len(self.line.buf))

    def _take(self, n: int) -> bytes:
        buf = self.line.buf
        out = bytes(buf[:n])
        del buf[:n]
        return out

    def _fill(self, deadline: float | None) -> bool:
        """Append what arrives before *deadline* (None: only what is already there); False if nothing came.

        Reads whole chunks rather than pyserial's byte-at-a-time ``read_until``: on a TCP serial server that
        is one system call per reply instead of one per byte, which keeps every driver within 1.1-1.5x of a
        bare socket's round trips (bench/serial.py: 26-38 k round trips/s per driver on two shared cores).
        """
        line = self.line
        ser = line.serial
        try:
            sock = getattr(ser, "_socket", None)
            if sock is not None:
                wait = 0.0 if deadline is None else max(0.0, deadline - time.monotonic())
                ready, _, _ = select.select([sock], [], [], wait)
                if not ready:
                    return False
                data = sock.recv(4096)
                if not data:
                    raise self._lost(f"{self.url} closed the connection")
            else:
                waiting = ser.in_waiting
                if deadline is None and not waiting:
                    return False
                if not waiting and getattr(ser, "timeout", self.timeout) != self.timeout:
                    ser.timeout = self.timeout  # a shared line blocks for the reading handle's timeout
                data = ser.read(waiting or 1)
                if not data and deadline is not None and time.monotonic() < deadline and waiting:
                    return False
        except ConnectionLost:   # (an OSError too) the server closed the connection: said once, as it is
            raise
        except (serial.SerialException, OSError) as exc:
            raise self._lost(f"read failed on {self.url}: {exc}") from exc
        line.buf.extend(data)
        return bool(data)
