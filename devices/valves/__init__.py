"""Valves: the VICI universal actuator driver and the two-position valve device."""

from .device import TwoPositionValve
from .vici import ValveStuck, ViciActuator, ViciError

__all__ = ["TwoPositionValve", "ValveStuck", "ViciActuator", "ViciError"]
