"""Simulators reachable by name through ``sim://NAME``."""

from __future__ import annotations

import threading

from labctl.sim.serial.core import ProtocolCore

_cores: dict[str, ProtocolCore] = {}
_guard = threading.Lock()


def register(name: str, core: ProtocolCore) -> None:
    """Make the simulator *core* reachable as ``sim://name``."""
    with _guard:
        _cores[name] = core


def unregister(name: str) -> None:
    """Forget ``sim://name`` (no error if it was not registered)."""
    with _guard:
        _cores.pop(name, None)


def get(name: str) -> ProtocolCore:
    """The simulator registered as *name*; KeyError listing the running ones."""
    with _guard:
        try:
            return _cores[name]
        except KeyError:
            known = ", ".join(sorted(_cores)) or "none"
            raise KeyError(f"no simulated instrument named {name!r} (running: {known})") from None


def names() -> list[str]:
    """The names of the registered simulators."""
    with _guard:
        return sorted(_cores)
