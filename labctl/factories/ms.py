"""Builds the mass spectrometer (SRS RGA) from its profile entry."""

from __future__ import annotations

from labctl.devices.mass_spectrometer.device import GasAnalyser, gas_analyser
from labctl.devices.mass_spectrometer.srs_analyser import RgaAnalyser
from labctl.devices.mass_spectrometer.srs import SrsRga

from labctl.factories.serial import transport_url


def _calibration(spec, ctx):
    """In the simulated lab, what calibrating the head with gas standards would give (A/Torr, Faraday cup)."""
    simlab = getattr(ctx, "simlab", None)
    if simlab is None or not (spec.transport or "").startswith("sim://"):
        return None
    head = simlab.world.mass_spec(spec.name)

    def calibrate(gas: str) -> float:
        gain = getattr(head, "gain", None)
        return head.sensitivity(gas) / (gain() if callable(gain) else 1.0)

    return calibrate


def build_srs_rga(spec, ctx) -> GasAnalyser:
    """A :class:`GasAnalyser` over an SRS RGA watching the profile's gases at their parent m/z.

    Options: ``gases`` ({gas: m/z}, required), ``emission_mA`` (default 1.0), ``noise_floor`` (0-7),
    ``cycle_s`` (monitor period, lab s, default 1), ``multiplier_V`` (CDEM voltage, absent/0 = Faraday cup),
    ``sensitivities`` ({gas: A/Torr}), ``fragments`` ({gas: {m/z: fraction of parent}}),
    ``timeout``/``timeout_s`` (wall-time read timeout, default 1 s), ``slow_timeout_s`` (for emission and
    high-voltage settling, default 30 s). Limits: ``emission_mA``, ``multiplier_V``. Safe state:
    ``filament`` ("off").
    """
    options = dict(spec.options or {})
    gases = options.get("gases")
    if not gases:
        raise ValueError(f"{spec.name}: options.gases must name the gases to watch ({{gas = m/z}})")
    gases = {str(g): int(m) for g, m in gases.items()}
    timeout = float(options.get("timeout", options.get("timeout_s", 1.0)))
    rga = SrsRga(transport_url(spec, ctx), name=spec.name, timeout=timeout,
                 slow_timeout=float(options.get("slow_timeout_s", 30.0)))
    try:
        backend = RgaAnalyser(
            rga, ctx.clock, gases, emission_mA=float(options.get("emission_mA", 1.0)),
            noise_floor=options.get("noise_floor"), sensitivities=options.get("sensitivities"),
            fragments=options.get("fragments"), multiplier_V=options.get("multiplier_V"),
            limits=spec.limits or {}, calibration=_calibration(spec, ctx))
        return gas_analyser(backend, ctx.clock, name=spec.name, cycle_s=float(options.get("cycle_s", 1.0)),
                            safe_state=spec.safe_state or {"filament": "off"})
    except BaseException:
        rga.close()
        raise
