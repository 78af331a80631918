"""pyserial URL handler for ``sim://NAME``: an in-process serial port onto a registered simulator.

Replies are produced synchronously by the simulator when bytes are written, so a read never has to wait
for more to arrive: if what is asked for is not there, it never will be, and the read returns short at
once (exactly what a real port returns at its timeout, without spending the wall time).
"""

from __future__ import annotations

import threading
import urllib.parse

from serial.serialutil import PortNotOpenError, SerialBase, SerialException

from labctl.sim.serial import registry


class Serial(SerialBase):
    """pyserial's interface over a simulator registered under a ``sim://`` name."""

    def open(self):
        if self._port is None:
            raise SerialException("port must be configured before use")
        if self.is_open:
            raise SerialException("port already open")
        self._core = registry.get(self.from_url(self.portstr))
        self._rx = bytearray()
        self._rx_lock = threading.Lock()
        self.is_open = True

    @staticmethod
    def from_url(url: str) -> str:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "sim":
            raise SerialException(f"expected a sim://NAME URL, got {url!r}")
        name = (parts.netloc + parts.path).strip("/")
        if not name:
            raise SerialException(f"no instrument name in {url!r}")
        return name

    def close(self):
        self.is_open = False

    def _reconfigure_port(self):
        pass

    @property
    def in_waiting(self):
        self._check()
        return len(self._rx)

    def _check(self):
        if not self.is_open:
            raise PortNotOpenError()

    def write(self, data):
        self._check()
        try:
            reply = self._core.feed(bytes(data))
        except ConnectionError as exc:
            raise SerialException(str(exc)) from exc
        with self._rx_lock:
            self._rx.extend(reply)
        return len(data)

    def read(self, size=1):
        self._check()
        if self._core.fault == "disconnected":
            raise SerialException(f"{self._core.name}: connection dropped")
        with self._rx_lock:
            out = bytes(self._rx[:size])
            del self._rx[:size]
        return out

    def reset_input_buffer(self):
        self._check()
        with self._rx_lock:
            self._rx.clear()

    def reset_output_buffer(self):
        self._check()

    def flush(self):
        self._check()

    # Modem lines: a simulator has none worth modelling.
    def _update_rts_state(self):
        pass

    def _update_dtr_state(self):
        pass

    def _update_break_state(self):
        pass

    @property
    def cts(self):
        return True

    @property
    def dsr(self):
        return True

    @property
    def ri(self):
        return False

    @property
    def cd(self):
        return True
