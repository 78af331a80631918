"""Electrochemistry plans: open circuit, galvanostatic plating/stripping cycles, rate tests, CV and EIS.

Each plan takes a potentiostat device and the lab clock, accepts quantities with units (checked against the
declared ranges and the instrument's profile limits before anything is switched on), records every row the
instrument takes into named streams, and leaves the cell at open circuit on any exit while keeping the data
recorded so far. The cycling plans compute each cycle's coulombic efficiency from the data as it arrives and
emit it into a ``cycles`` stream whose CE field is hinted for live tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from labctl.devices.potentiostat.techniques import CV, GEIS, OCV, PEIS
from labctl.devices.records import CycleLog
from labctl.devices.units import UnitError, quantity
from labctl.plans.checks import PlanValues
from labctl.plans.decorator import MsgGenerator, plan
from labctl.plans.params import (
    Choice,
    Clock,
    Count,
    CurrentDensity,
    Flag,
    ParameterError,
    Potentiostat,
    QuantityLike,
    Seconds,
    Unit,
    Volts,
)
from labctl.plans.stubs.electrochem import (
    PLATE_E_MIN,
    check_plating_window,
    check_window,
    cycle_block,
    cycle_techniques,
    electrode_area,
    run_technique,
    validate_all,
)

__all__ = ["ocv", "galvanostatic_cycles", "rate_test", "cv", "eis"]

RestSeconds = Annotated[QuantityLike, Unit("s", min=0.0)]
OptionalSeconds = Annotated[QuantityLike | None, Unit("s", min=0.0, min_inclusive=False)]
OptionalVolts = Annotated[QuantityLike | None, Unit("V")]
CYCLES_HINTS = {"hints": {"dimensions": [(["cycles_cycle"], "cycles")]}}


def _pstat_md(v: PlanValues, techniques) -> dict:
    """What every electrochemistry run records about its instrument and techniques."""
    return {"potentiostat": {"name": v.pstat.name, **getattr(v.pstat, "info", {})},
            "techniques": [t.describe() for t in techniques if t is not None],
            "electrode_area_cm2": electrode_area(v.instrument("pstat"))}


def _ocv_technique(v: PlanValues) -> OCV:
    return OCV(v.duration, v.record_dt)


def _check_ocv(v: PlanValues) -> None:
    electrode_area(v.instrument("pstat"))
    validate_all(v.instrument("pstat"), [_ocv_technique(v)])


@plan(check=_check_ocv, metadata=lambda v: _pstat_md(v, [_ocv_technique(v)]))
def ocv(pstat: Potentiostat, clock: Clock, duration: Seconds = "10 min", record_dt: Seconds = "1 s",
        md: dict | None = None) -> MsgGenerator:
    """Rest at open circuit and record Ewe (stream ``ocv``)."""
    return (yield from run_technique(pstat, clock, OCV(duration, record_dt), "ocv"))


def _cycling(v: PlanValues) -> tuple:
    """The plate/rest/strip techniques of a galvanostatic_cycles call (after checking the potentials)."""
    pstat = v.instrument("pstat")
    if v.explicit("plate_capacity") and v.plate_capacity is not None and v.plate_time is not None:
        raise ParameterError(f"plate_capacity={v.given('plate_capacity')!r} and plate_time="
                             f"{v.given('plate_time')!r}: give one of them (plating for a time ignores the capacity)")
    if v.plate_capacity is None and v.plate_time is None:
        raise ParameterError("give plate_capacity or plate_time")
    check_plating_window(pstat, v.strip_cutoff, v.plate_e_min)
    capacity = None if v.plate_time is not None else v.plate_capacity
    return cycle_techniques(v.current_density, electrode_area(pstat), capacity, v.plate_time, v.strip_cutoff,
                            v.record_dt, v.rest, v.strip_time_limit, v.plate_e_min)


def _check_cycles(v: PlanValues) -> None:
    validate_all(v.instrument("pstat"), [t for t in _cycling(v) if t is not None])


@plan(check=_check_cycles, metadata=lambda v: {**_pstat_md(v, _cycling(v)), **CYCLES_HINTS})
def galvanostatic_cycles(
        pstat: Potentiostat, clock: Clock,
        current_density: CurrentDensity = "0.5 mA/cm^2",
        plate_capacity: Annotated[QuantityLike | None, Unit("mAh/cm^2", min=0.0, min_inclusive=False)] = "0.5 mAh/cm^2",
        strip_cutoff: Volts = "1 V",
        cycles: Annotated[int, Count(min=1)] = 10,
        rest: RestSeconds = "0 s",
        record_dt: Seconds = "1 s",
        plate_time: OptionalSeconds = None,
        strip_time_limit: OptionalSeconds = None,
        poll: OptionalSeconds = None,
        plate_e_min: OptionalVolts = f"{PLATE_E_MIN:g} V",
        first_cycle: Annotated[int, Count(min=1)] = 1,
        plated_before: Annotated[QuantityLike, Unit("C", min=0.0)] = "0 C",
        stripped_before: Annotated[QuantityLike, Unit("C", min=0.0)] = "0 C",
        plated_in_progress: Annotated[QuantityLike | None, Unit("C", min=0.0, min_inclusive=False)] = None,
        reattach: bool = False,
        md: dict | None = None) -> MsgGenerator:
    """Plate at ``current_density`` for ``plate_capacity`` (or ``plate_time``), rest, strip to ``strip_cutoff``.

    Plating also stops at ``plate_e_min`` (a cell that far below its counter electrode is shorted or dry);
    stripping stops after ``strip_time_limit``, by default twice that cycle's plating time (a Na||Cu cell
    cannot strip more than it plated). Streams ``plate``, ``strip`` (and ``rest``) hold every row;
    ``cycles`` holds each cycle's plated and stripped charge, its coulombic efficiency and whether either
    limit ended it, with running totals over every cycle of the cell (``plated_total``, ``stripped_total``,
    ``ce_cumulative``). Returns the per-cycle results.

    Going on with an interrupted experiment (``labctl resume``): cycles are numbered from ``first_cycle``, the
    totals start from ``plated_before``/``stripped_before``, ``plated_in_progress`` is the charge the first
    cycle had plated already (it goes on with its strip) and ``reattach`` takes up the technique the
    instrument may still be running.
    """
    area = electrode_area(pstat)
    techniques = cycle_techniques(current_density, area, None if plate_time is not None else plate_capacity,
                                  plate_time, strip_cutoff, record_dt, rest, strip_time_limit, plate_e_min)
    log = CycleLog(name="cycles", plated_before=plated_before, stripped_before=stripped_before)
    return (yield from cycle_block(pstat, clock, log, current_density, techniques, cycles, first_cycle,
                                   area, set(), poll, strip_limit_from_plating=strip_time_limit is None,
                                   plated_in_progress=plated_in_progress, reattach=reattach))


def _rate_blocks(v: PlanValues) -> list:
    pstat = v.instrument("pstat")
    check_plating_window(pstat, v.strip_cutoff, v.plate_e_min)
    area = electrode_area(pstat)
    return [(j, cycle_techniques(j, area, v.plate_capacity, None, v.strip_cutoff, v.record_dt, v.rest, None,
                                 v.plate_e_min)) for j in v.current_densities]


def _check_rates(v: PlanValues) -> None:
    validate_all(v.instrument("pstat"), [t for _, ts in _rate_blocks(v) for t in ts if t is not None])


@plan(check=_check_rates,
      metadata=lambda v: {**_pstat_md(v, [t for _, ts in _rate_blocks(v) for t in ts]), **CYCLES_HINTS})
def rate_test(
        pstat: Potentiostat, clock: Clock,
        current_densities: Annotated[Sequence[QuantityLike], Unit("mA/cm^2", min=0.0, min_inclusive=False)] = (
            "0.5 mA/cm^2", "1 mA/cm^2", "2 mA/cm^2", "5 mA/cm^2", "0.5 mA/cm^2"),
        plate_capacity: Annotated[QuantityLike, Unit("mAh/cm^2", min=0.0, min_inclusive=False)] = "0.5 mAh/cm^2",
        strip_cutoff: Volts = "1 V",
        cycles_per_rate: Annotated[int, Count(min=1)] = 5,
        rest: RestSeconds = "0 s",
        record_dt: Seconds = "1 s",
        plate_e_min: OptionalVolts = f"{PLATE_E_MIN:g} V",
        md: dict | None = None) -> MsgGenerator:
    """Galvanostatic cycles at several current densities in turn (``cycles`` stream per cycle, with j).

    Plating and stripping are limited as in :func:`galvanostatic_cycles`.
    """
    area = electrode_area(pstat)
    log = CycleLog(name="cycles")
    declared: set = set()
    results = []
    for k, j in enumerate(current_densities):
        techniques = cycle_techniques(j, area, plate_capacity, None, strip_cutoff, record_dt, rest, None, plate_e_min)
        results += yield from cycle_block(pstat, clock, log, j, techniques, cycles_per_rate, 1 + k * cycles_per_rate,
                                          area, declared, None, strip_limit_from_plating=True)
    return results


def _cv_technique(v: PlanValues) -> CV:
    e_end = v.e_start if v.e_end is None else v.e_end
    try:
        return CV(v.e_start, v.vertex1, v.vertex2, e_end, quantity(v.scan_rate, "mV/s"), cycles=v.cycles,
                  step=quantity(v.step, "mV"))
    except ValueError as exc:
        raise ParameterError(str(exc)) from None


def _check_cv(v: PlanValues) -> None:
    pstat = v.instrument("pstat")
    check_window(pstat, e_start=v.e_start, vertex1=v.vertex1, vertex2=v.vertex2, e_end=v.e_end)
    electrode_area(pstat)
    validate_all(pstat, [_cv_technique(v)])


@plan(check=_check_cv,
      metadata=lambda v: {**_pstat_md(v, [_cv_technique(v)]), "expected_points": _cv_technique(v).expected_points()})
def cv(pstat: Potentiostat, clock: Clock,
       e_start: Volts, vertex1: Volts, vertex2: Volts, e_end: OptionalVolts = None,
       scan_rate: Annotated[QuantityLike, Unit("mV/s", min=0.0, min_inclusive=False)] = "20 mV/s",
       cycles: Annotated[int, Count(min=1)] = 1,
       step: Annotated[QuantityLike, Unit("mV", min=0.0, min_inclusive=False)] = "1 mV",
       md: dict | None = None) -> MsgGenerator:
    """Cyclic voltammetry (stream ``cv``): one point per ``step`` of potential."""
    technique = CV(e_start, vertex1, vertex2, e_start if e_end is None else e_end, quantity(scan_rate, "mV/s"),
                   cycles=cycles, step=quantity(step, "mV"))
    return (yield from run_technique(pstat, clock, technique, "cv"))


_EIS_MODES = {"potentiostatic": "V", "galvanostatic": "A"}


def _bare(value) -> bool:
    """A number without a unit (``0.01``, ``"0.01"``), which EIS cannot tell volts from amperes in."""
    if isinstance(value, (int, float)):
        return True
    if isinstance(value, str):
        try:
            float(value)
            return True
        except ValueError:
            return False
    return bool(getattr(value, "dimensionless", False))


def _in(name: str, value, unit: str, how: str = "") -> float:
    try:
        return float(quantity(value, unit, name=name).magnitude)
    except (UnitError, ValueError) as exc:
        raise ParameterError(f"{exc}{how}; allowed: a quantity in {unit}") from None


def eis_drive(amplitude, dc, mode) -> tuple[str, float, float]:
    """("V" for PEIS or "A" for GEIS, amplitude, dc) in that unit, from ``mode`` or the amplitude's unit."""
    if mode is not None:
        unit = _EIS_MODES[mode]
    elif _bare(amplitude):
        raise ParameterError(f"amplitude={amplitude!r} has no unit: give e.g. '10 mV' (PEIS) or '1 mA' (GEIS), "
                             "or set mode='potentiostatic' or 'galvanostatic'")
    else:
        for unit in ("V", "A"):
            try:
                quantity(amplitude, unit, name="amplitude")
                break
            except (UnitError, ValueError):
                pass
        else:
            raise ParameterError(f"amplitude={amplitude!r} is neither a potential nor a current; allowed: a "
                                 "quantity in V (PEIS) or A (GEIS)")
    if dc is not None and _bare(dc) and mode is None and float(dc) != 0:
        raise ParameterError(f"dc={dc!r} has no unit: give it in {unit} like amplitude, or set mode")
    how = f" with mode={mode!r}" if mode is not None else ""
    amp = _in("amplitude", amplitude, unit, how)
    if not amp > 0:
        raise ParameterError(f"amplitude={amplitude!r} must be positive; allowed: (0, +inf] {unit}")
    return unit, amp, 0.0 if dc is None else _in("dc", dc, unit, how)


def _eis_technique(v: PlanValues):
    unit, amp, bias = eis_drive(v.amplitude, v.dc, v.mode)
    try:
        if unit == "A":
            return GEIS(v.f_start, v.f_stop, v.points_per_decade, amp, bias)
        return PEIS(v.f_start, v.f_stop, v.points_per_decade, amp, bias, vs_ocv=v.vs_ocv)
    except ValueError as exc:
        raise ParameterError(str(exc)) from None


def _check_eis(v: PlanValues) -> None:
    validate_all(v.instrument("pstat"), [_eis_technique(v)])
    electrode_area(v.instrument("pstat"))


def _eis_md(v: PlanValues) -> dict:
    unit, amp, bias = eis_drive(v.amplitude, v.dc, v.mode)
    technique = _eis_technique(v)
    return {**_pstat_md(v, [technique]), "frequencies": len(technique.frequencies()),
            "plan_args": {"amplitude": f"{amp:g} {unit}", "dc": f"{bias:g} {unit}"}}


@plan(check=_check_eis, metadata=_eis_md)
def eis(pstat: Potentiostat, clock: Clock,
        f_start: Annotated[QuantityLike, Unit("Hz", min=0.0, min_inclusive=False)] = "1 MHz",
        f_stop: Annotated[QuantityLike, Unit("Hz", min=0.0, min_inclusive=False)] = "0.1 Hz",
        points_per_decade: Annotated[int, Count(min=1, max=100)] = 10,
        amplitude: QuantityLike = "10 mV",
        dc: QuantityLike | None = None,
        vs_ocv: Annotated[bool, Flag()] = True,
        mode: Annotated[str | None, Choice("potentiostatic", "galvanostatic")] = None,
        md: dict | None = None) -> MsgGenerator:
    """Impedance spectrum (stream ``eis``: freq, Zre, Zim, |Z|, phase, Ewe, I).

    An ``amplitude`` in volts runs PEIS (``dc`` in V, vs OCV by default); in amperes, GEIS (``dc`` in A).
    A bare number is refused unless ``mode`` ("potentiostatic"/"galvanostatic") says which it is: 0.01 meant
    as 10 mV would otherwise drive 10 mA through the cell.
    """
    unit, amp, bias = eis_drive(amplitude, dc, mode)
    technique = (GEIS(f_start, f_stop, points_per_decade, amp, bias) if unit == "A"
                 else PEIS(f_start, f_stop, points_per_decade, amp, bias, vs_ocv=vs_ocv))
    return (yield from run_technique(pstat, clock, technique, "eis"))
