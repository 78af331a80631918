"""ctypes structures of the EC-Lab Development Package (EClib), 4-byte packed as in the SDK headers."""

from __future__ import annotations

import ctypes
from ctypes import c_char, c_double, c_float, c_int32, c_uint32

DATA_BUFFER_WORDS = 1000  # BL_GetData fills at most this many uint32 words per call
DataBuffer = c_uint32 * DATA_BUFFER_WORDS


class DeviceInfo(ctypes.Structure):
    """EClib's TDeviceInfos: the instrument behind a connection."""

    _pack_ = 4
    _fields_ = [
        ("DeviceCode", c_int32), ("RAMSize", c_int32), ("CPU", c_int32), ("NumberOfChannels", c_int32),
        ("NumberOfSlots", c_int32), ("FirmwareVersion", c_int32), ("FirmwareDate_yyyy", c_int32),
        ("FirmwareDate_mm", c_int32), ("FirmwareDate_dd", c_int32), ("HTdisplayOn", c_int32),
        ("NbOfConnectedPC", c_int32),
    ]


class ChannelInfo(ctypes.Structure):
    """EClib's TChannelInfos: one channel's board, firmware and state."""

    _pack_ = 4
    _fields_ = [
        ("Channel", c_int32), ("BoardVersion", c_int32), ("BoardSerialNumber", c_int32),
        ("FirmwareCode", c_int32), ("FirmwareVersion", c_int32), ("XilinxVersion", c_int32),
        ("AmpCode", c_int32), ("NbAmps", c_int32), ("Lcboard", c_int32), ("Zboard", c_int32),
        ("MUXboard", c_int32), ("GPRAboard", c_int32), ("MemSize", c_int32), ("MemFilled", c_int32),
        ("State", c_int32), ("MaxIRange", c_int32), ("MinIRange", c_int32), ("MaxBandwidth", c_int32),
        ("NbOfTechniques", c_int32),
    ]


class EccParam(ctypes.Structure):
    """EClib's TEccParam: one technique parameter."""

    _pack_ = 4
    _fields_ = [("ParamStr", c_char * 64), ("ParamType", c_int32), ("ParamVal", c_int32),
                ("ParamIndex", c_int32)]


class EccParams(ctypes.Structure):
    """EClib's TEccParams: a technique's parameter list."""

    _pack_ = 4
    _fields_ = [("len", c_int32), ("pParams", ctypes.POINTER(EccParam))]


class DataInfo(ctypes.Structure):
    """EClib's TDataInfos: what a BL_GetData buffer holds."""

    _pack_ = 4
    _fields_ = [
        ("IRQskipped", c_int32), ("NbRows", c_int32), ("NbCols", c_int32), ("TechniqueIndex", c_int32),
        ("TechniqueID", c_int32), ("ProcessIndex", c_int32), ("loop", c_int32), ("StartTime", c_double),
        ("MuxPad", c_int32),
    ]


class CurrentValues(ctypes.Structure):
    """EClib's TCurrentValues: what the channel reads now."""

    _pack_ = 4
    _fields_ = [
        ("State", c_int32), ("MemFilled", c_int32), ("TimeBase", c_float), ("Ewe", c_float),
        ("EweRangeMin", c_float), ("EweRangeMax", c_float), ("Ece", c_float), ("EceRangeMin", c_float),
        ("EceRangeMax", c_float), ("Eoverflow", c_int32), ("I", c_float), ("IRange", c_int32),
        ("Ioverflow", c_int32), ("ElapsedTime", c_float), ("Freq", c_float), ("Rcomp", c_float),
        ("Saturation", c_int32), ("OptErr", c_int32), ("OptPos", c_int32),
    ]
