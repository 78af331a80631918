"""Builds the DEMS isolation valve (VICI universal actuator, driver ``vici.two_position``)."""

from __future__ import annotations

from labctl.devices.valve import TwoPositionValve, ViciActuator
from labctl.factories.common import options, transport_url


def build(spec, ctx) -> TwoPositionValve:
    """A :class:`TwoPositionValve` with the profile's position names and safe position
    (options as :class:`~labctl.devices.valve.vici.ViciOptions`)."""
    opts = options(spec)
    positions = opts.position_names()
    safe_position = (spec.safe_state or {}).get("position")
    if safe_position is not None and safe_position not in positions.values():
        raise ValueError(f"{spec.name}: safe_state position {safe_position!r} is not one of "
                         f"{sorted(positions.values())}")
    actuator = ViciActuator(
        transport_url(spec, ctx), clock=ctx.clock, name=spec.name, address=opts.address,
        interface_mode=opts.interface_mode, move_timeout_s=opts.move_timeout_s, poll_s=opts.poll_s,
        timeout=opts.wire_timeout(), baudrate=opts.baudrate)
    try:
        return TwoPositionValve(actuator, positions=positions, safe_position=safe_position, name=spec.name)
    except BaseException:
        actuator.close()
        raise
