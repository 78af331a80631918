"""Coulombic efficiency from recorded galvanostatic data.

A cycle is a plating segment (cathodic current on the working electrode, I < 0) followed by a stripping
segment (I > 0). Charge per segment is the instrument's own coulomb counter (``Q``) where it was recorded,
else the trapezoidal integral of I over lab time, taken within the segment's own rows only: a rest, or a
stream left out of the table, between two steps carries no charge. Rests (|I| below ``rest_current``)
separate segments.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from labctl.analysis.columns import column, lab_time


@dataclass(frozen=True)
class Segment:
    """One plating or stripping segment of a cycling run: when, how much charge, where it ended."""

    sign: int          # -1 plating, +1 stripping
    start: int         # row positions in the table, inclusive
    stop: int          # exclusive
    charge_C: float    # magnitude
    end_Ewe: float


def segments(table: pd.DataFrame, *, rest_current: float = 1e-9) -> list[Segment]:
    """Consecutive runs of rows with the same sign of current, step and technique, with their charge.

    A new technique is recognised by the instrument's own clock going back (it counts from each start),
    so two same-sign techniques in a row are integrated apart and then added, never bridged.
    """
    t = lab_time(table).to_numpy(float)
    current = table[column(table, "I")].to_numpy(float)
    ewe = table[column(table, "Ewe")].to_numpy(float)
    qcol = column(table, "Q", required=False)
    stepcol = column(table, "step", required=False)
    q = table[qcol].to_numpy(float) if qcol else None
    step = table[stepcol].to_numpy() if stepcol else None
    restart = _technique_starts(table)

    sign = np.where(current > rest_current, 1, np.where(current < -rest_current, -1, 0))
    out: list[Segment] = []
    i, n = 0, len(sign)
    while i < n:
        j = i + 1
        while (j < n and sign[j] == sign[i] and not restart[j]
               and (step is None or step[j] == step[i])):
            j += 1
        if sign[i] != 0:
            if q is not None and np.isfinite(q[i:j]).all():
                charge = float(np.max(np.abs(q[i:j])))
            else:
                charge = _integral(t, current, i, j)
            out.append(Segment(int(sign[i]), i, j, charge, float(ewe[j - 1])))
        i = j
    return _merge(out)


def _technique_starts(table: pd.DataFrame) -> np.ndarray:
    """True where the instrument's elapsed-time column (``<device>_time``, counted from each technique's
    start) goes back; all False when the table has no such column to go by."""
    lab = {str(c)[: -len("_elapsed")] + "_time" for c in table.columns if str(c).endswith("_elapsed")}
    own = [c for c in table.columns if str(c).endswith("_time") and str(c) not in lab]
    restart = np.zeros(len(table), bool)
    if len(own) == 1:
        elapsed = table[own[0]].to_numpy(float)
        restart[1:] = np.diff(elapsed) < 0
    return restart


def _integral(t, current, i: int, j: int) -> float:
    """|trapezoidal ∫ I dt| over rows i..j-1 in lab time.

    Only the segment's own rows count: the instrument records a row at each step's start, so the
    integral begins there; a gap before the first row (a rest, or rows left out) is not this step's charge.
    """
    if j - i < 2:
        return 0.0
    return float(abs(np.trapezoid(current[i:j], t[i:j])))


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
