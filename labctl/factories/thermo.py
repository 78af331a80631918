"""Builds an MS followed through its software's export file (driver ``thermo.prima_bt``) from its profile entry."""

from __future__ import annotations

from labctl.devices.mass_spectrometer.device import GasAnalyser, gas_analyser
from labctl.devices.mass_spectrometer.thermo import ExportFileAnalyser
from labctl.factories.common import options


def build(spec, ctx) -> GasAnalyser:
    """A :class:`GasAnalyser` over the export file the profile names (options as
    :class:`~labctl.devices.mass_spectrometer.thermo.ExportOptions`)."""
    opts = options(spec)
    backend = ExportFileAnalyser(opts.path, ctx.clock, dict(opts.gases), dict(opts.columns), name=spec.name,
                                 delimiter=opts.delimiter, stale_after_s=opts.stale_after_s)
    return gas_analyser(backend, ctx.clock, name=spec.name, cycle_s=opts.cycle_s, safe_state={"filament": "on"})
