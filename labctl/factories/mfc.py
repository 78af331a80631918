"""Builds the carrier-gas mass-flow controller (Bronkhorst, propar) from its profile entry."""

from __future__ import annotations

from labctl.devices.flow_controller import MassFlowController, Propar
from labctl.factories.serial import transport_url, wire_timeout


def build_bronkhorst(spec, ctx) -> MassFlowController:
    """A :class:`MassFlowController`. Options: ``node`` (propar node, default 128 = the instrument on the
    cable), ``timeout``/``timeout_s`` (wall-time read timeout, s), ``baudrate`` (default 38400);
    the simulator also reads ``fluid`` and
    ``capacity_mL_min``. Limits: ``flow_mL_min = [low, high]``. Safe state: ``setpoint_mL_min``."""
    options = dict(spec.options or {})
    limits = (spec.limits or {}).get("flow_mL_min")
    if limits is not None and len(limits) != 2:
        raise ValueError(f"{spec.name}: limits.flow_mL_min must be [low, high], got {limits!r}")
    safe = (spec.safe_state or {}).get("setpoint_mL_min", 0.0)
    driver = Propar(transport_url(spec, ctx), node=int(options.get("node", 0x80)), name=spec.name,
                    timeout=wire_timeout(options), baudrate=int(options.get("baudrate", 38400)))
    try:
        return MassFlowController(driver, limits=limits, safe_setpoint=safe, name=spec.name)
    except BaseException:
        driver.close()
        raise
