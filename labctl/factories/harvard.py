"""Builds a Harvard PHD ULTRA / Pump 11 Elite syringe pump (driver ``harvard.phd_ultra``)."""

from __future__ import annotations

from labctl.devices.syringe_pump.device import SyringePump
from labctl.devices.syringe_pump.harvard import HarvardPump
from labctl.factories.common import options, syringe_pump, transport_url


def build(spec, ctx) -> SyringePump:
    """The pump on the profile's transport; options as :class:`~labctl.devices.syringe_pump.harvard.HarvardOptions`."""
    opts = options(spec)
    pump = HarvardPump(transport_url(spec, ctx), address=opts.address, clock=ctx.clock, name=spec.name,
                       timeout=opts.wire_timeout(), baudrate=opts.baudrate)
    return syringe_pump(pump, spec)
