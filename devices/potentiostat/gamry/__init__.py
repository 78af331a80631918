"""Gamry Reference 600 through GamryCOM: the backend, its COM loader and the Dtaq column table."""

from labctl.devices.potentiostat.gamry.backend import GamryBackend
from labctl.devices.potentiostat.gamry.com import TYPELIB, load_gamrycom

__all__ = ["GamryBackend", "TYPELIB", "load_gamrycom"]
