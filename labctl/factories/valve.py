"""Builds the DEMS isolation valve (VICI universal actuator) from its profile entry."""

from __future__ import annotations

from labctl.devices.valves import TwoPositionValve, ViciActuator


def transport_url(spec, ctx) -> str:
    """The port to open: the simulated lab's ``sim://`` URL for a simulated instrument, else the profile's."""
    transport = spec.transport or ""
    if transport.startswith("sim://"):
        if getattr(ctx, "simlab", None) is None:
            raise ValueError(f"{spec.name}: transport {transport!r} needs the simulated lab ([sim] in the profile)")
        return ctx.simlab.serial(spec.name, spec.driver, dict(spec.options or {}))
    if not transport:
        raise ValueError(f"{spec.name}: no transport given")
    return transport


def wire_timeout(options: dict) -> float:
    """The wall-time read timeout in s (``timeout`` or ``timeout_s``; 1 s when neither is given)."""
    return float(options.get("timeout", options.get("timeout_s", 1.0)))


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
