"""Coulombic efficiency from recorded galvanostatic data.

A cycle is a plating segment (cathodic current on the working electrode, I < 0) followed by a stripping
segment (I > 0). Charge per segment is the instrument's own coulomb counter (``Q``) where it was recorded,
else the trapezoidal integral of I over instrument time. Rests (|I| below ``rest_current``) separate segments.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .columns import column


@dataclass(frozen=True)
class Segment:
    sign: int          # -1 plating, +1 stripping
    start: int         # row positions in the table, inclusive
    stop: int          # exclusive
    charge_C: float    # magnitude
    end_Ewe: float


def segments(table: pd.DataFrame, *, rest_current: float = 1e-9) -> list[Segment]:
    """Consecutive runs of rows with the same sign of current, with their charge."""
    t = table[column(table, "time")].to_numpy(float)
    current = table[column(table, "I")].to_numpy(float)
    ewe = table[column(table, "Ewe")].to_numpy(float)
    qcol = column(table, "Q", required=False)
    stepcol = column(table, "step", required=False)
    q = table[qcol].to_numpy(float) if qcol else None
    step = table[stepcol].to_numpy() if stepcol else None

    sign = np.where(current > rest_current, 1, np.where(current < -rest_current, -1, 0))
    out: list[Segment] = []
    i, n = 0, len(sign)
    while i < n:
        j = i
        while j < n and sign[j] == sign[i] and (step is None or step[j] == step[i]):
            j += 1
        if sign[i] != 0:
            if q is not None and np.isfinite(q[i:j]).all():
                charge = float(np.max(np.abs(q[i:j])))
            else:
                charge = _integral(t, current, i, j)
            out.append(Segment(int(sign[i]), i, j, charge, float(ewe[j - 1])))
        i = j
    return _merge(out)


def _integral(t, current, i: int, j: int) -> float:
    """|Σ I_k (t_k - t_(k-1))| over rows i..j-1: each sample holds the current since the previous one.

    The very first row of a table has no predecessor; the sampling interval that follows it stands in.
    """
    if j - i == 0 or len(t) < 2:
        return 0.0
    before = t[i - 1] if i > 0 else t[0] - (t[1] - t[0])
    dt = np.diff(np.concatenate(([before], t[i:j])))
    return float(abs(np.sum(current[i:j] * dt)))


def _merge(segs: list[Segment]) -> list[Segment]:
    """Join same-sign segments split only by step boundaries (e.g. a nucleation pulse then a plateau)."""
    merged: list[Segment] = []
    for s in segs:
        if merged and merged[-1].sign == s.sign and merged[-1].stop == s.start:
            m = merged[-1]
            merged[-1] = Segment(s.sign, m.start, s.stop, m.charge_C + s.charge_C, s.end_Ewe)
        else:
            merged.append(s)
    return merged


def coulombic_efficiency(table: pd.DataFrame, *, cutoff_V: float | None = None,
                         rest_current: float = 1e-9, cutoff_tolerance_V: float = 0.05) -> pd.DataFrame:
    """One row per plate/strip cycle: plated and stripped charge (C), CE (%), and whether stripping ended at the cutoff.

    A cycle whose stripping did not reach *cutoff_V* (within ``cutoff_tolerance_V``) is kept but flagged,
    since its CE is only a lower bound.
    """
    rows = []
    segs = segments(table, rest_current=rest_current)
    k = 0
    cycle = 0
    while k < len(segs):
        if segs[k].sign == -1 and k + 1 < len(segs) and segs[k + 1].sign == 1:
            plate, strip = segs[k], segs[k + 1]
            cycle += 1
            at_cutoff = None if cutoff_V is None else bool(strip.end_Ewe >= cutoff_V - cutoff_tolerance_V)
            rows.append({
                "cycle": cycle,
                "plated_C": plate.charge_C,
                "stripped_C": strip.charge_C,
                "ce_percent": 100.0 * strip.charge_C / plate.charge_C if plate.charge_C else float("nan"),
                "strip_end_V": strip.end_Ewe,
                "ended_at_cutoff": at_cutoff,
            })
            k += 2
        else:
            k += 1
    return pd.DataFrame(rows, columns=["cycle", "plated_C", "stripped_C", "ce_percent", "strip_end_V",
                                       "ended_at_cutoff"])
