"""Builds the carrier-gas mass-flow controller (Bronkhorst over propar, driver ``bronkhorst.propar``)."""

from __future__ import annotations

from labctl.devices.flow_controller import MassFlowController, Propar
from labctl.factories.common import options, transport_url


def build(spec, ctx) -> MassFlowController:
    """A :class:`MassFlowController` (options as :class:`~labctl.devices.flow_controller.bronkhorst.BronkhorstOptions`;
    limits ``flow_mL_min``; safe state ``setpoint_mL_min``)."""
    opts = options(spec)
    limits = (spec.limits or {}).get("flow_mL_min")
    if limits is not None and len(limits) != 2:
        raise ValueError(f"{spec.name}: limits.flow_mL_min must be [low, high], got {limits!r}")
    safe = (spec.safe_state or {}).get("setpoint_mL_min", 0.0)
    propar = Propar(transport_url(spec, ctx), node=opts.node, name=spec.name, timeout=opts.wire_timeout(),
                    baudrate=opts.baudrate)
    try:
        return MassFlowController(propar, limits=limits, safe_setpoint=safe, standard=opts.standard, name=spec.name,
                                  clock=ctx.clock, settle_s=opts.settle_s, deviation_rel=opts.deviation_rel,
                                  deviation_mL_min=opts.deviation_mL_min)
    except BaseException:
        propar.close()
        raise
