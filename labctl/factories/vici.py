"""Builds VICI universal actuators: the DEMS isolation valve (``vici.two_position``) and the MS stream selector
(``vici.multiposition``)."""

from __future__ import annotations

from labctl.devices.valve import StreamSelector, TwoPositionValve, ViciActuator, ViciSelectorActuator
from labctl.factories.common import options, transport_url


def build(spec, ctx) -> TwoPositionValve | StreamSelector:
    """The device for *spec*'s driver, with the profile's position names and safe position."""
    if spec.driver == "vici.multiposition":
        return _selector(spec, ctx)
    return _two_position(spec, ctx)


def _two_position(spec, ctx) -> TwoPositionValve:
    """A :class:`TwoPositionValve` (options as :class:`~labctl.devices.valve.vici.ViciOptions`)."""
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


def _selector(spec, ctx) -> StreamSelector:
    """A :class:`StreamSelector` (options as :class:`~labctl.devices.valve.vici_multiposition.ViciSelectorOptions`)."""
    opts = options(spec)
    actuator = ViciSelectorActuator(
        transport_url(spec, ctx), clock=ctx.clock, name=spec.name, positions=opts.positions, address=opts.address,
        interface_mode=opts.interface_mode, move_timeout_s=opts.move_timeout_s, poll_s=opts.poll_s,
        timeout=opts.wire_timeout(), baudrate=opts.baudrate)
    try:
        return StreamSelector(actuator, ports=opts.ports, safe_position=(spec.safe_state or {}).get("position"),
                              name=spec.name)
    except BaseException:
        actuator.close()
        raise
