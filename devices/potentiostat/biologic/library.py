"""Loading the real EClib DLL (Windows only) with the prototypes the backend calls."""

from __future__ import annotations

import ctypes
import sys
from ctypes import POINTER, c_bool, c_char_p, c_float, c_int32, c_uint8, c_uint32
from pathlib import Path

from labctl.devices.potentiostat.biologic import structures as S

DEFAULT_DLL = Path("C:/EC-Lab Development Package/EC-Lab Development Package/EClib64.dll")

# name: argtypes (every function returns an int32 error code)
PROTOTYPES = {
    "BL_Connect": [c_char_p, c_uint8, POINTER(c_int32), POINTER(S.DeviceInfo)],
    "BL_Disconnect": [c_int32],
    "BL_GetChannelsPlugged": [c_int32, POINTER(c_uint8), c_uint8],
    "BL_GetChannelInfos": [c_int32, c_uint8, POINTER(S.ChannelInfo)],
    "BL_LoadFirmware": [c_int32, POINTER(c_uint8), POINTER(c_int32), c_uint8, c_bool, c_bool, c_char_p, c_char_p],
    "BL_DefineIntParameter": [c_char_p, c_int32, c_int32, POINTER(S.EccParam)],
    "BL_DefineBoolParameter": [c_char_p, c_bool, c_int32, POINTER(S.EccParam)],
    "BL_DefineSglParameter": [c_char_p, c_float, c_int32, POINTER(S.EccParam)],
    "BL_LoadTechnique": [c_int32, c_uint8, c_char_p, S.EccParams, c_bool, c_bool, c_bool],
    "BL_StartChannel": [c_int32, c_uint8],
    "BL_StopChannel": [c_int32, c_uint8],
    "BL_GetCurrentValues": [c_int32, c_uint8, POINTER(S.CurrentValues)],
    "BL_GetData": [c_int32, c_uint8, POINTER(S.DataBuffer), POINTER(S.DataInfo), POINTER(S.CurrentValues)],
    "BL_ConvertNumericIntoSingle": [c_uint32, POINTER(c_float)],
    "BL_GetErrorMsg": [c_int32, c_char_p, POINTER(c_uint32)],
}


def load_eclib(path: str | Path | None = None):
    """The EClib DLL with its prototypes declared; raises ``OSError`` saying why off Windows."""
    if sys.platform != "win32":
        raise OSError("the BioLogic EC-Lab Development Package (EClib64.dll) only runs on Windows; "
                      "use a sim:// transport to run against the simulated lab")
    dll = Path(path) if path else DEFAULT_DLL
    if not dll.exists():
        raise OSError(f"EClib not found at {dll}: install the EC-Lab Development Package or give its path "
                      f"in the instrument options (dll = ...)")
    lib = ctypes.WinDLL(str(dll))  # type: ignore[attr-defined]
    for name, argtypes in PROTOTYPES.items():
        fn = getattr(lib, name)
        fn.argtypes = argtypes
        fn.restype = c_int32
    return lib
