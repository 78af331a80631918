"""Valves: the VICI universal actuator drivers (two-position and multiposition), the two-position valve
device and the stream selector device."""

from labctl.devices.valve.device import TwoPositionValve
from labctl.devices.valve.selector import StreamSelector
from labctl.devices.valve.vici import ValveStuck, ViciActuator, ViciError
from labctl.devices.valve.vici_multiposition import ViciSelectorActuator

__all__ = ["StreamSelector", "TwoPositionValve", "ValveStuck", "ViciActuator", "ViciError", "ViciSelectorActuator"]
