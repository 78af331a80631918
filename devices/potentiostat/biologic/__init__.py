"""BioLogic potentiostats (VMP3 family) through the EC-Lab Development Package."""

from labctl.devices.potentiostat.biologic.backend import BioLogicBackend, BioLogicError

__all__ = ["BioLogicBackend", "BioLogicError"]
