"""VISA resources (``ASRL3::INSTR``, ``TCPIP0::host::4001::SOCKET``) behind the part of pyserial's interface
that :class:`labctl.devices.transport.Port` uses, so a lab that reaches its instruments through VISA (NI-VISA
on an instrument PC, or the pure-Python pyvisa-py) needs nothing else from its drivers.
"""

from __future__ import annotations

import os
import re

#: what a VISA resource name looks like (as opposed to a pyserial URL or device path)
VISA_RESOURCE = re.compile(r"^(ASRL|TCPIP|GPIB|USB|VXI|PXI)[^:]*::.*$", re.IGNORECASE)


def is_visa_resource(address: str) -> bool:
    """Whether *address* is a VISA resource name rather than a pyserial URL or device path."""
    return bool(VISA_RESOURCE.match(address or ""))


class VisaPipe:
    """Raw bytes to and from a VISA resource; terminations are left to the driver, as on a serial port."""

    def __init__(self, resource: str, *, timeout: float = 1.0, baudrate: int | None = None,
                 bytesize: int | None = None, parity: str | None = None, stopbits: float | None = None,
                 rtscts: bool = False, library: str | None = None, **_ignored):
        import pyvisa
        from pyvisa import constants

        self._errors = (pyvisa.errors.VisaIOError,)
        self._timeout_code = constants.StatusCode.error_timeout
        manager = pyvisa.ResourceManager(library or os.environ.get("LABCTL_VISA_LIBRARY", "@py"))
        self._res = manager.open_resource(resource, timeout=max(1, int(timeout * 1000)))
        self._res.read_termination = None
        self._res.write_termination = None
        if resource.upper().startswith("ASRL"):
            if baudrate is not None:
                self._res.baud_rate = int(baudrate)
            if bytesize is not None:
                self._res.data_bits = int(bytesize)
            if parity is not None:
                self._res.parity = {"N": constants.Parity.none, "E": constants.Parity.even,
                                    "O": constants.Parity.odd}[str(parity).upper()[0]]
            if stopbits is not None:
                self._res.stop_bits = constants.StopBits.two if float(stopbits) == 2 else constants.StopBits.one
            if rtscts:
                self._res.flow_control = constants.ControlFlow.rts_cts

    @property
    def in_waiting(self) -> int:
        """Bytes waiting to be read (0 when the resource cannot tell)."""
        try:
            return int(self._res.bytes_in_buffer)
        except (AttributeError, NotImplementedError, *self._errors):
            return 0

    def read(self, size: int = 1) -> bytes:
        """Up to *size* bytes; ``b""`` when the resource's timeout passes first."""
        try:
            return bytes(self._res.read_bytes(size, break_on_termchar=False))
        except self._errors as exc:
            if exc.error_code == self._timeout_code:
                return b""
            raise OSError(str(exc)) from exc

    def write(self, data: bytes) -> int:
        """Send *data* as it is; OSError on failure."""
        try:
            self._res.write_raw(bytes(data))
        except self._errors as exc:
            raise OSError(str(exc)) from exc
        return len(data)

    def flush(self) -> None:
        """Nothing to flush: VISA writes are unbuffered here."""
        pass

    def close(self) -> None:
        """Close the resource."""
        self._res.close()
