"""Builds the mass spectrometer (SRS RGA, driver ``srs.rga``) from its profile entry."""

from __future__ import annotations

from labctl.devices.mass_spectrometer.device import GasAnalyser, gas_analyser
from labctl.devices.mass_spectrometer.srs import SrsRga
from labctl.devices.mass_spectrometer.srs_analyser import RgaAnalyser
from labctl.factories.common import options, transport_url


def build(spec, ctx) -> GasAnalyser:
    """A :class:`GasAnalyser` over an SRS RGA watching the profile's gases at their parent m/z (options as
    :class:`~labctl.devices.mass_spectrometer.srs.SrsOptions`; limits ``emission_mA``, ``multiplier_V``; safe
    state ``filament``)."""
    opts = options(spec)
    if not opts.gases:
        raise ValueError(f"{spec.name}: options.gases must name the gases to watch ({{gas = m/z}})")
    rga = SrsRga(transport_url(spec, ctx), name=spec.name, timeout=opts.wire_timeout(),
                 slow_timeout=opts.slow_timeout_s)
    try:
        backend = RgaAnalyser(
            rga, ctx.clock, dict(opts.gases), emission_mA=opts.emission_mA, noise_floor=opts.noise_floor,
            sensitivities=opts.sensitivities, fragments=opts.fragments, multiplier_V=opts.multiplier_V,
            limits=spec.limits or {})
        return gas_analyser(backend, ctx.clock, name=spec.name, cycle_s=opts.cycle_s,
                            safe_state=spec.safe_state or {"filament": "off"})
    except BaseException:
        rga.close()
        raise
