"""Builds the DEMS isolation valve (VICI universal actuator) from its profile entry."""

from __future__ import annotations

from labctl.devices.valve import TwoPositionValve, ViciActuator

from labctl.factories.serial import transport_url, wire_timeout


def build_vici(spec, ctx) -> TwoPositionValve:
    """A :class:`TwoPositionValve` with the profile's position names and safe position.

    Options: ``positions`` ({"A": name, "B": name}), ``move_timeout_s`` (lab s, default 5), ``poll_s``
    (lab s, default 0.05), ``address`` (actuator ID character, if one is set), ``interface_mode`` (IFM level,
    default 1), ``timeout``/``timeout_s`` (wall-time read timeout), ``baudrate`` (default 9600).
    """
    options = dict(spec.options or {})
    positions = options.get("positions") or {"A": "A", "B": "B"}
    safe_position = (spec.safe_state or {}).get("position")
    if safe_position is not None and safe_position not in positions.values():
        raise ValueError(f"{spec.name}: safe_state position {safe_position!r} is not one of "
                         f"{sorted(positions.values())}")
    driver = ViciActuator(
        transport_url(spec, ctx), clock=ctx.clock, name=spec.name,
        address=options.get("address"), interface_mode=int(options.get("interface_mode", 1)),
        move_timeout_s=float(options.get("move_timeout_s", 5.0)), poll_s=float(options.get("poll_s", 0.05)),
        timeout=wire_timeout(options), baudrate=int(options.get("baudrate", 9600)))
    try:
        return TwoPositionValve(driver, positions=positions, safe_position=safe_position, name=spec.name)
    except BaseException:
        driver.close()
        raise
