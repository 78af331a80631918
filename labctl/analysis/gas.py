"""Gas amounts from a carrier stream: n = ∫ r·x / Vm dt.

r is the carrier flow recorded by the flow controller, x the mole fraction of the gas at the mass
spectrometer, Vm the molar volume at the recorded temperature and pressure. Baselines are subtracted before
integrating, and a blank cell's amount can be subtracted after.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GAS_CONSTANT = 8.314462618  # J/(mol K), CODATA exact


def molar_volume_L(temperature_K: float, pressure_Pa: float) -> float:
    """Ideal-gas molar volume in L/mol (24.79 L/mol at 298.15 K and 1 bar)."""
    if temperature_K <= 0 or pressure_Pa <= 0:
        raise ValueError(f"molar volume needs T > 0 K and P > 0 Pa, got {temperature_K} K, {pressure_Pa} Pa")
    return GAS_CONSTANT * temperature_K / pressure_Pa * 1000.0


@dataclass(frozen=True)
class GasAmount:
    """Moles of one gas released over a recording, and its baseline."""

    gas: str
    mol: float
    baseline_fraction: float
    t_start: float
    t_stop: float


def integrate_amount(time_s, fraction, flow_mL_min, molar_volume_L_mol: float, *,
                     baseline: float = 0.0, window: tuple[float, float] | None = None) -> float:
    """Moles carried past the MS: trapezoidal ∫ (flow · (x - baseline) / Vm) dt over *window*.

    *flow_mL_min* may be a scalar or an array aligned with *time_s*. A window holding fewer than two
    samples (a run stopped just after the valve opened) measured nothing: the amount is NaN, not 0 mol.
    """
    t = np.asarray(time_s, float)
    x = np.asarray(fraction, float) - baseline
    r = np.broadcast_to(np.asarray(flow_mL_min, float), t.shape) / 60_000.0  # L/s
    if t.ndim != 1 or x.shape != t.shape:
        raise ValueError("time and fraction must be 1-D arrays of the same length")
    if window is not None:
        keep = (t >= window[0]) & (t <= window[1])
        t, x, r = t[keep], x[keep], r[keep]
    if len(t) < 2:
        return float("nan")
    order = np.argsort(t, kind="stable")
    t, x, r = t[order], x[order], r[order]
    return float(np.trapezoid(r * x, t) / molar_volume_L_mol)


def baseline_fraction(time_s, fraction, before: float, *, span: float | None = None) -> float:
    """Mean fraction over the quiet period before *before* (the last *span* seconds of it, if given).

    The mean, not the median: near an RGA's noise floor readings are clipped at zero, and what is
    subtracted must be the same biased level the integrated trace carries.
    """
    t = np.asarray(time_s, float)
    x = np.asarray(fraction, float)
    keep = t < before
    if span is not None:
        keep &= t >= before - span
    if not keep.any():
        raise ValueError(f"no samples before t={before} to take a baseline from")
    return float(np.mean(x[keep]))


def blank_corrected(amount_mol: float, blank_mol: float | None) -> float:
    """Subtract the uncycled control cell's amount. A blank that integrates below zero is noise around
    nothing evolved and subtracts nothing; a result below zero clips to zero. An amount not measured (NaN)
    stays NaN, and so does one whose blank was not measured: clipping would pass either off as 0 mol."""
    if blank_mol is None:
        return amount_mol
    if np.isnan(amount_mol) or np.isnan(blank_mol):
        return float("nan")
    return max(0.0, amount_mol - max(0.0, blank_mol))
