"""Gamry Reference 600 through GamryCOM: the backend, its COM loader and the Dtaq column table."""

from labctl.devices.options import DriverDeclaration, Settings, limit_range
from labctl.devices.potentiostat.gamry.backend import GamryBackend
from labctl.devices.potentiostat.gamry.com import TYPELIB, load_gamrycom
from labctl.devices.potentiostat.settings import PotentiostatOptions, PotentiostatSafeState, describe_potentiostat

__all__ = ["DRIVER", "GamryBackend", "TYPELIB", "load_gamrycom"]


CURRENT_RANGE = limit_range("A", -0.6, 0.6)
VOLTAGE_RANGE = limit_range("V", -11.0, 11.0)


class GamryOptions(PotentiostatOptions):
    """Profile options of a Gamry Reference 600 through GamryCOM."""


class GamryLimits(Settings):
    current_A: CURRENT_RANGE
    voltage_V: VOLTAGE_RANGE


DRIVER = DriverDeclaration(
    "gamry.ref600", "potentiostat", "sdk", options=GamryOptions, limits=GamryLimits, safe_state=PotentiostatSafeState,
    sdk_addresses=((r"[A-Za-z][A-Za-z0-9]*-\d+", "a device section like REF600-12345"),),
    describer=describe_potentiostat, description="Gamry Reference 600 through GamryCOM")
