"""Loading GamryCOM on Windows, and turning its COM errors into errors a user can act on.

The backend only ever talks to a *GamryCOM namespace*: an object with the type library's classes as
factories (``com.GamryPC5Pstat()``), its enum constants (``com.CellOn``), ``GetEvents``/``PumpEvents`` from
``comtypes.client`` and the ``COMError`` class. :func:`load_gamrycom` builds that from comtypes on Windows;
the simulated lab passes its fake, so the backend cannot tell them apart.
"""

from __future__ import annotations

import sys
from typing import Any

from labctl.devices.errors import ConnectionLost, InstrumentError

#: GamryCOM type library: GUID, major and minor version (as ``comtypes.client.GetModule`` takes it).
TYPELIB = ["{BD962F0D-A990-4823-9CF5-284D1CDD9C6D}", 1, 0]

#: hresult bit Gamry sets on its own errors (the COM "customer" bit).
GAMRY_BIT = 0x20000000
#: Windows hresults that mean the instrument went away (USB unplugged, powered off, host process died).
GONE_HRESULTS = {
    0x8007048F,  # ERROR_DEVICE_NOT_CONNECTED
    0x8007001F,  # ERROR_GEN_FAILURE: a device attached to the system is not functioning
    0x80010108,  # RPC_E_DISCONNECTED
    0x800706BA,  # RPC_S_SERVER_UNAVAILABLE
}


class _ComtypesGamryCOM:
    """GamryCOM through comtypes: classes become ``CreateObject`` factories, everything else passes through."""

    def __init__(self, client, module, com_error):
        self._client = client
        self._module = module
        self.COMError = com_error

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._module, name)
        if isinstance(value, type) and name.startswith("Gamry"):
            return lambda: self._client.CreateObject(value)
        return value

    def GetEvents(self, source, sink):
        return self._client.GetEvents(source, sink)

    def PumpEvents(self, timeout: float) -> None:
        self._client.PumpEvents(timeout)


def load_gamrycom(instrument: str = "gamry"):
    """The real GamryCOM namespace (Windows with Gamry Framework and comtypes installed)."""
    if sys.platform != "win32":
        raise InstrumentError(instrument, "GamryCOM needs Windows with Gamry Framework installed; on this "
                                          f"platform ({sys.platform}) use a sim:// transport")
    try:
        import comtypes
        import comtypes.client as client
    except ImportError:
        raise InstrumentError(instrument, "the comtypes package is missing: pip install comtypes") from None
    try:
        module = client.GetModule(TYPELIB)
    except Exception as exc:  # OSError / COMError when the type library is not registered
        raise InstrumentError(instrument, "the GamryCOM type library is not registered: install or repair "
                                          "Gamry Framework", reply=str(exc)) from exc
    return _ComtypesGamryCOM(client, module, comtypes.COMError)


def hresult_of(exc: BaseException) -> int | None:
    """The unsigned hresult of a COMError (comtypes puts the signed value in ``args[0]``)."""
    value = getattr(exc, "hresult", None)
    if value is None and exc.args and isinstance(exc.args[0], int):
        value = exc.args[0]
    return None if value is None else value & 0xFFFFFFFF


def com_error_text(exc: BaseException) -> str:
    """The words of a COMError, without its code."""
    if len(exc.args) > 1 and exc.args[1]:
        return str(exc.args[1])
    return str(exc)


def translate(exc: BaseException, instrument: str, doing: str, hint: str) -> InstrumentError:
    """A clear error for a failed COM call: what failed, the instrument's words, and what to do."""
    hresult = hresult_of(exc)
    text = com_error_text(exc)
    if hresult is None:
        return InstrumentError(instrument, f"GamryCOM failed while {doing}; {hint}", reply=text)
    code = f"0x{hresult:08X}"
    if hresult in GONE_HRESULTS:
        return ConnectionLost(instrument, f"the instrument stopped answering while {doing} (hresult {code}): "
                                          "check its USB cable and power, then reconnect", reply=text)
    origin = "Gamry error" if hresult & GAMRY_BIT else "COM error"
    return InstrumentError(instrument, f"{origin} {code} while {doing}; {hint}", reply=text)
