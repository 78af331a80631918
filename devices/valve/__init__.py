"""Valves: the VICI universal actuator driver and the two-position valve device."""

from labctl.devices.valve.device import TwoPositionValve
from labctl.devices.valve.vici import ValveStuck, ViciActuator, ViciError

__all__ = ["TwoPositionValve", "ValveStuck", "ViciActuator", "ViciError"]
