"""BioLogic potentiostats (VMP3 family) through the EC-Lab Development Package."""

from pydantic import Field

from labctl.devices.options import DriverDeclaration, Settings, limit_range
from labctl.devices.potentiostat.biologic.backend import BioLogicBackend, BioLogicError, ChannelFault
from labctl.devices.potentiostat.settings import PotentiostatOptions, PotentiostatSafeState, describe_potentiostat

__all__ = ["DRIVER", "BioLogicBackend", "BioLogicError", "ChannelFault"]


CURRENT_RANGE = limit_range("A", -0.4, 0.4)
VOLTAGE_RANGE = limit_range("V", -10.0, 10.0)


class BioLogicOptions(PotentiostatOptions):
    """Profile options of a BioLogic VMP3 through EClib."""

    channel: int = Field(ge=1, le=16)
    library: str | None = Field(None, description="path of EClib64.dll")


class BioLogicLimits(Settings):
    current_A: CURRENT_RANGE
    voltage_V: VOLTAGE_RANGE


DRIVER = DriverDeclaration(
    "biologic.vmp3", "potentiostat", "sdk", options=BioLogicOptions, limits=BioLogicLimits,
    safe_state=PotentiostatSafeState,
    sdk_addresses=((r"USB\d+", "USBn"),), describer=describe_potentiostat, description="BioLogic VMP3 through EClib")
