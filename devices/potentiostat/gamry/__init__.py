"""Gamry Reference 600 through GamryCOM: the backend, its COM loader and the Dtaq column table."""

from .backend import GamryBackend
from .com import TYPELIB, load_gamrycom

__all__ = ["GamryBackend", "TYPELIB", "load_gamrycom"]
