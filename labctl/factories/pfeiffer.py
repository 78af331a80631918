"""Builds the mass spectrometer on a Pfeiffer QMG controller (driver ``pfeiffer.qmg220``) from its profile entry."""

from __future__ import annotations

from labctl.devices.mass_spectrometer.device import GasAnalyser, gas_analyser
from labctl.devices.mass_spectrometer.pfeiffer import Qmg, QmgAnalyser
from labctl.factories.common import options, transport_url


def build(spec, ctx) -> GasAnalyser:
    """A :class:`GasAnalyser` over a QMG watching the profile's gases, one channel each (options as
    :class:`~labctl.devices.mass_spectrometer.pfeiffer.QmgOptions`; safe state ``filament``)."""
    opts = options(spec)
    if not opts.gases:
        raise ValueError(f"{spec.name}: options.gases must name the gases to watch ({{gas = m/z}})")
    qmg = Qmg(transport_url(spec, ctx), name=spec.name, timeout=opts.wire_timeout(), baudrate=opts.baudrate)
    try:
        backend = QmgAnalyser(qmg, ctx.clock, dict(opts.gases), emission_mA=opts.emission_mA, dwell=opts.dwell,
                              fragments=opts.fragments, max_polls=opts.max_polls)
        return gas_analyser(backend, ctx.clock, name=spec.name, cycle_s=opts.cycle_s,
                            safe_state=spec.safe_state or {"filament": "off"})
    except BaseException:
        qmg.close()
        raise
