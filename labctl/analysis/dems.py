"""CO2 released per DEMS sweep: integrate the MS trace over each period the valve routed carrier through the cell."""

from __future__ import annotations

import numpy as np

from labctl.analysis.gas import baseline_fraction, integrate_amount


def sweep_windows(valve_time_s, valve_position, *, sweep: str = "sweep", end: float) -> list[tuple[float, float]]:
    """(open, close) lab times of each sweep from the recorded valve positions."""
    windows, opened = [], None
    for t, pos in zip(valve_time_s, valve_position, strict=False):
        if pos == sweep and opened is None:
            opened = float(t)
        elif pos != sweep and opened is not None:
            windows.append((opened, float(t)))
            opened = None
    if opened is not None:
        windows.append((opened, float(end)))
    return windows


def co2_per_sweep(time_s, fraction, flow_mL_min, molar_volume_L_mol: float, windows, *,
                  baseline_span: float = 120.0) -> list[float]:
    """Moles of gas per sweep; each sweep's baseline is the mean over the *baseline_span* before it opened."""
    t = np.asarray(time_s, float)
    amounts = []
    for start, stop in windows:
        try:
            base = baseline_fraction(t, fraction, before=start, span=baseline_span)
        except ValueError:
            base = 0.0
        amounts.append(integrate_amount(t, fraction, flow_mL_min, molar_volume_L_mol, baseline=base,
                                        window=(start, stop)))
    return amounts
