"""Soft devices plans fill in and read into a stream: what they derived from the data as it arrived."""

from __future__ import annotations

from ophyd import Component as Cpt
from ophyd import Device

from labctl.devices.signals import Signal


class CycleLog(Device):
    """Per-cycle summary of galvanostatic cycling, read into its own stream (CE is the hinted field)."""

    cycle = Cpt(Signal, value=0, kind="normal")
    current_density = Cpt(Signal, value=0.0, units="mA/cm^2", kind="normal")
    plated_charge = Cpt(Signal, value=0.0, units="C", kind="normal")
    stripped_charge = Cpt(Signal, value=0.0, units="C", kind="normal")
    plated_capacity = Cpt(Signal, value=0.0, units="mAh/cm^2", kind="normal")
    stripped_capacity = Cpt(Signal, value=0.0, units="mAh/cm^2", kind="normal")
    ce = Cpt(Signal, value=0.0, units="%", kind="hinted")
    # why the cycle's steps ended: a CE from a strip that ran out of time or a plating cut off at its lower
    # potential is not a clean measurement
    strip_timed_out = Cpt(Signal, value=False, kind="normal")
    plate_hit_e_min = Cpt(Signal, value=False, kind="normal")
    strip_time_limit = Cpt(Signal, value=0.0, units="s", kind="normal")
    # every cycle of the cell so far, those of an interrupted run this one resumes included
    plated_total = Cpt(Signal, value=0.0, units="C", kind="normal")
    stripped_total = Cpt(Signal, value=0.0, units="C", kind="normal")
    ce_cumulative = Cpt(Signal, value=0.0, units="%", kind="normal")

    def __init__(self, *args, plated_before: float = 0.0, stripped_before: float = 0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self._totals = [float(plated_before), float(stripped_before)]

    def record(self, *, cycle: int, current_density: float, plated_C: float, stripped_C: float,
               area_cm2: float) -> float:
        """Store one cycle; returns its coulombic efficiency in %."""
        ce = 100.0 * stripped_C / plated_C if plated_C > 0 else float("nan")
        to_mAh_cm2 = 1.0 / 3.6 / area_cm2   # C -> mAh, per cm^2
        self.cycle.put(int(cycle))
        self.current_density.put(float(current_density))
        self.plated_charge.put(float(plated_C))
        self.stripped_charge.put(float(stripped_C))
        self.plated_capacity.put(float(plated_C) * to_mAh_cm2)
        self.stripped_capacity.put(float(stripped_C) * to_mAh_cm2)
        self.ce.put(ce)
        self._totals[0] += float(plated_C)
        self._totals[1] += float(stripped_C)
        plated, stripped = self._totals
        self.plated_total.put(plated)
        self.stripped_total.put(stripped)
        self.ce_cumulative.put(100.0 * stripped / plated if plated > 0 else float("nan"))
        return ce


class TopographyCapture(Device):
    """One AFM capture during plating: when it was planned and taken, and what had been plated by then."""

    planned = Cpt(Signal, value=0.0, units="s", kind="normal")
    at = Cpt(Signal, value=0.0, units="s", kind="hinted")
    late = Cpt(Signal, value=0.0, units="s", kind="normal")
    charge = Cpt(Signal, value=0.0, units="C", kind="normal")
    capacity = Cpt(Signal, value=0.0, units="mAh/cm^2", kind="hinted")
