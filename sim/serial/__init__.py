"""Protocol-level instrument simulators and the three ways of serving them (in-process, TCP, pty).

This package is also a pyserial URL-handler package: once :func:`install_url_handler` has run,
``serial.serial_for_url("sim://NAME")`` opens the simulator registered under NAME.
"""

from __future__ import annotations

import serial

from labctl.sim.serial.core import ProtocolCore
from labctl.sim.serial.registry import get, names, register, unregister

__all__ = ["ProtocolCore", "get", "install_url_handler", "names", "register", "unregister"]


def install_url_handler() -> None:
    """Make ``sim://NAME`` open the simulator registered under NAME (pyserial URL handler)."""
    if __name__ not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append(__name__)
