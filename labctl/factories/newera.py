"""Builds a New Era NE-1000 family syringe pump (driver ``newera.ne1000``) from its profile entry."""

from __future__ import annotations

from labctl.devices.syringe_pump.device import SyringePump
from labctl.devices.syringe_pump.newera import NewEraPump
from labctl.factories.common import options, syringe_pump, transport_url


def build(spec, ctx) -> SyringePump:
    """The pump on the profile's transport; options as :class:`~labctl.devices.syringe_pump.newera.NewEraOptions`."""
    opts = options(spec)
    pump = NewEraPump(transport_url(spec, ctx), address=opts.address, clock=ctx.clock, name=spec.name,
                      timeout=opts.wire_timeout(), baudrate=opts.baudrate, safe_mode_timeout_s=opts.safe_mode_timeout_s)
    return syringe_pump(pump, spec)
