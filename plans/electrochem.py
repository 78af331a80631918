"""Electrochemistry plans: open circuit, galvanostatic plating/stripping cycles, rate tests, CV and EIS.

Each plan takes a potentiostat device and the lab clock, accepts quantities with units (checked against the
declared ranges and the instrument's profile limits before anything is switched on), records every row the
instrument takes into named streams, and leaves the cell at open circuit on any exit while keeping the data
recorded so far. The cycling plans compute each cycle's coulombic efficiency from the data as it arrives and
emit it into a ``cycles`` stream whose CE field is hinted for live tables.
"""

from __future__ import annotations

from typing import Annotated, Sequence

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
from bluesky.protocols import Flyable, Movable

from labctl.devices.potentiostat.techniques import CV, GEIS, OCV, PEIS
from labctl.devices.units import UnitError, quantity

from labctl.plans.params import Count, ParameterError, QuantityLike, Unit, check_call
from labctl.plans.stubs.electrochem import (PLATE_E_MIN, CycleLog, check_window, cycle_block, cycle_techniques,
                                run_technique, validate_all)

__all__ = ["ocv", "galvanostatic_cycles", "rate_test", "cv", "eis"]

_POSITIVE = {"min": 0.0, "min_inclusive": False}


def _md(plan_name: str, pstat, clock, values: dict, units: dict, md: dict | None, techniques=()) -> dict:
    args = {k: (f"{v:g} {units[k].unit}" if k in units and isinstance(v, float) else v)
            for k, v in values.items() if k not in ("pstat", "clock", "md")}
    out = {"plan_name": plan_name, "plan_args": args, "detectors": [pstat.name],
           "potentiostat": {"name": pstat.name, **getattr(pstat, "info", {})},
           "techniques": [t.describe() for t in techniques]}
    out.update(md or {})
    return out


def _area(pstat) -> float:
    area = float(pstat.electrode_area.get())
    if not area > 0:
        raise ParameterError(f"{pstat.name}: electrode_area must be positive, got {area:g} cm^2")
    return area


def _safe_run(pstat, body, md: dict):
    """Open a run around *body*; whatever happens the cell ends at open circuit. Returns what *body* returns."""
    out = {}

    def capture():
        out["result"] = yield from body

    yield from bpp.finalize_wrapper(bpp.run_wrapper(capture(), md=md), lambda: bps.stop(pstat))
    return out.get("result")


def ocv(pstat: Flyable, clock: Movable,
        duration: Annotated[QuantityLike, Unit("s", **_POSITIVE)] = "10 min",
        record_dt: Annotated[QuantityLike, Unit("s", **_POSITIVE)] = "1 s",
        md: dict | None = None):
    """Rest at open circuit and record Ewe (stream ``ocv``)."""
    v = check_call(ocv, (pstat, clock, duration, record_dt, md))
    technique = OCV(v["duration"], v["record_dt"])
    validate_all(pstat, [technique])
    metadata = _md("ocv", pstat, clock, v, _units(ocv), md, [technique])
    metadata["electrode_area_cm2"] = _area(pstat)

    def body():
        return (yield from run_technique(pstat, clock, technique, "ocv"))

    return (yield from _safe_run(pstat, body(), metadata))


def _units(func):
    from labctl.plans.params import declared_units

    return declared_units(func)


def galvanostatic_cycles(
        pstat: Flyable, clock: Movable,
        current_density: Annotated[QuantityLike, Unit("mA/cm^2", **_POSITIVE)] = "0.5 mA/cm^2",
        plate_capacity: Annotated[QuantityLike | None, Unit("mAh/cm^2", **_POSITIVE)] = "0.5 mAh/cm^2",
        strip_cutoff: Annotated[QuantityLike, Unit("V")] = "1 V",
        cycles: Annotated[int, Count(min=1)] = 10,
        rest: Annotated[QuantityLike, Unit("s", min=0.0)] = "0 s",
        record_dt: Annotated[QuantityLike, Unit("s", **_POSITIVE)] = "1 s",
        plate_time: Annotated[QuantityLike | None, Unit("s", **_POSITIVE)] = None,
        strip_time_limit: Annotated[QuantityLike | None, Unit("s", **_POSITIVE)] = None,
        poll: Annotated[QuantityLike | None, Unit("s", **_POSITIVE)] = None,
        plate_e_min: Annotated[QuantityLike | None, Unit("V")] = f"{PLATE_E_MIN:g} V",
        md: dict | None = None):
    """Plate at ``current_density`` for ``plate_capacity`` (or ``plate_time``), rest, strip to ``strip_cutoff``.

    Plating also stops at ``plate_e_min`` (a cell that far below its counter electrode is shorted or dry);
    stripping stops after ``strip_time_limit``, by default twice that cycle's plating time (a Na||Cu cell
    cannot strip more than it plated). Streams ``plate``, ``strip`` (and ``rest``) hold every row;
    ``cycles`` holds each cycle's plated and stripped charge, its coulombic efficiency and whether either
    limit ended it. Returns the per-cycle results.
    """
    v = check_call(galvanostatic_cycles, (pstat, clock), dict(
        current_density=current_density, plate_capacity=None if plate_time is not None else plate_capacity,
        strip_cutoff=strip_cutoff, cycles=cycles, rest=rest, record_dt=record_dt, plate_time=plate_time,
        strip_time_limit=strip_time_limit, poll=poll, plate_e_min=plate_e_min, md=md))
    area = _area(pstat)
    check_window(pstat, strip_cutoff=v["strip_cutoff"], plate_e_min=v["plate_e_min"])
    techniques = cycle_techniques(v["current_density"], area, v["plate_capacity"], v["plate_time"],
                                   v["strip_cutoff"], v["record_dt"], v["rest"], v["strip_time_limit"],
                                   v["plate_e_min"])
    validate_all(pstat, [t for t in techniques if t is not None])
    log = CycleLog(name="cycles")
    metadata = _md("galvanostatic_cycles", pstat, clock, v, _units(galvanostatic_cycles), md,
                   [t for t in techniques if t is not None])
    metadata.update(electrode_area_cm2=area, hints={"dimensions": [(["cycles_cycle"], "cycles")]})

    def body():
        return (yield from cycle_block(pstat, clock, log, v["current_density"], techniques, cycles, 1, area, set(),
                                       v["poll"], strip_limit_from_plating=v["strip_time_limit"] is None))

    return (yield from _safe_run(pstat, body(), metadata))


def rate_test(
        pstat: Flyable, clock: Movable,
        current_densities: Annotated[Sequence[QuantityLike], Unit("mA/cm^2", **_POSITIVE)] = (
            "0.5 mA/cm^2", "1 mA/cm^2", "2 mA/cm^2", "5 mA/cm^2", "0.5 mA/cm^2"),
        plate_capacity: Annotated[QuantityLike, Unit("mAh/cm^2", **_POSITIVE)] = "0.5 mAh/cm^2",
        strip_cutoff: Annotated[QuantityLike, Unit("V")] = "1 V",
        cycles_per_rate: Annotated[int, Count(min=1)] = 5,
        rest: Annotated[QuantityLike, Unit("s", min=0.0)] = "0 s",
        record_dt: Annotated[QuantityLike, Unit("s", **_POSITIVE)] = "1 s",
        plate_e_min: Annotated[QuantityLike | None, Unit("V")] = f"{PLATE_E_MIN:g} V",
        md: dict | None = None):
    """Galvanostatic cycles at several current densities in turn (``cycles`` stream per cycle, with j).

    Plating and stripping are limited as in :func:`galvanostatic_cycles`.
    """
    if not isinstance(current_densities, (list, tuple)):
        raise ParameterError(f"current_densities={current_densities!r}: give a list of current densities, "
                             "e.g. ['0.5 mA/cm^2', '1 mA/cm^2']")
    v = check_call(rate_test, (pstat, clock, current_densities, plate_capacity, strip_cutoff, cycles_per_rate,
                               rest, record_dt, plate_e_min, md))
    area = _area(pstat)
    check_window(pstat, strip_cutoff=v["strip_cutoff"], plate_e_min=v["plate_e_min"])
    blocks = [(j, cycle_techniques(j, area, v["plate_capacity"], None, v["strip_cutoff"], v["record_dt"],
                                    v["rest"], None, v["plate_e_min"])) for j in v["current_densities"]]
    every = [t for _, ts in blocks for t in ts if t is not None]
    validate_all(pstat, every)
    log = CycleLog(name="cycles")
    metadata = _md("rate_test", pstat, clock, v, _units(rate_test), md, every)
    metadata["plan_args"]["current_densities"] = [f"{j:g} mA/cm^2" for j in v["current_densities"]]
    metadata.update(electrode_area_cm2=area, hints={"dimensions": [(["cycles_cycle"], "cycles")]})

    def body():
        declared: set = set()
        results = []
        for k, (j, techniques) in enumerate(blocks):
            results += yield from cycle_block(pstat, clock, log, j, techniques, cycles_per_rate,
                                              1 + k * cycles_per_rate, area, declared, None,
                                              strip_limit_from_plating=True)
        return results

    return (yield from _safe_run(pstat, body(), metadata))


def cv(pstat: Flyable, clock: Movable,
       e_start: Annotated[QuantityLike, Unit("V")],
       vertex1: Annotated[QuantityLike, Unit("V")],
       vertex2: Annotated[QuantityLike, Unit("V")],
       e_end: Annotated[QuantityLike | None, Unit("V")] = None,
       scan_rate: Annotated[QuantityLike, Unit("mV/s", **_POSITIVE)] = "20 mV/s",
       cycles: Annotated[int, Count(min=1)] = 1,
       step: Annotated[QuantityLike, Unit("mV", **_POSITIVE)] = "1 mV",
       md: dict | None = None):
    """Cyclic voltammetry (stream ``cv``): one point per ``step`` of potential."""
    v = check_call(cv, (pstat, clock, e_start, vertex1, vertex2, e_end, scan_rate, cycles, step, md))
    check_window(pstat, e_start=v["e_start"], vertex1=v["vertex1"], vertex2=v["vertex2"], e_end=v["e_end"])
    try:
        technique = CV(v["e_start"], v["vertex1"], v["vertex2"], v["e_start"] if v["e_end"] is None else v["e_end"],
                       quantity(v["scan_rate"], "mV/s"), cycles=cycles, step=quantity(v["step"], "mV"))
    except ValueError as exc:
        raise ParameterError(str(exc)) from None
    validate_all(pstat, [technique])
    metadata = _md("cv", pstat, clock, v, _units(cv), md, [technique])
    metadata.update(expected_points=technique.expected_points(), electrode_area_cm2=_area(pstat))

    def body():
        return (yield from run_technique(pstat, clock, technique, "cv"))

    return (yield from _safe_run(pstat, body(), metadata))


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


def _eis_unit(amplitude, dc, mode) -> str:
    """"V" (PEIS) or "A" (GEIS), from ``mode`` or else from the units of ``amplitude``."""
    if mode is not None:
        if mode not in _EIS_MODES:
            raise ParameterError(f"mode={mode!r}: choose 'potentiostatic' (PEIS), 'galvanostatic' (GEIS) or "
                                 "leave it out and give amplitude with a unit")
        return _EIS_MODES[mode]
    if _bare(amplitude):
        raise ParameterError(f"amplitude={amplitude!r} has no unit: give e.g. '10 mV' (PEIS) or '1 mA' (GEIS), "
                             "or set mode='potentiostatic' or 'galvanostatic'")
    for unit in ("V", "A"):
        try:
            quantity(amplitude, unit, name="amplitude")
            return unit
        except (UnitError, ValueError):
            pass
    raise ParameterError(f"amplitude={amplitude!r} is neither a potential nor a current; allowed: a quantity "
                         "in V (PEIS) or A (GEIS)")


def _in(name: str, value, unit: str) -> float:
    try:
        return float(quantity(value, unit, name=name).magnitude)
    except (UnitError, ValueError) as exc:
        raise ParameterError(f"{exc}; allowed: a quantity in {unit}") from None


def _eis_checks(pstat, clock, kwargs: dict):
    """Every check :func:`eis` makes before anything moves (campaigns make them up front): returns the
    arguments in their units, the technique and its unit ("V" for PEIS, "A" for GEIS)."""
    v = check_call(eis, (pstat, clock), kwargs)
    amplitude, dc, mode = v["amplitude"], v["dc"], v["mode"]
    unit = _eis_unit(amplitude, dc, mode)
    if dc is not None and _bare(dc) and mode is None and float(dc) != 0:
        raise ParameterError(f"dc={dc!r} has no unit: give it in {unit} like amplitude, or set mode")
    v["amplitude"] = amp = _in("amplitude", amplitude, unit)
    v["dc"] = bias = 0.0 if dc is None else _in("dc", dc, unit)
    try:
        if unit == "A":
            technique = GEIS(v["f_start"], v["f_stop"], v["points_per_decade"], amp, bias)
        else:
            technique = PEIS(v["f_start"], v["f_stop"], v["points_per_decade"], amp, bias, vs_ocv=v["vs_ocv"])
    except ValueError as exc:
        raise ParameterError(str(exc)) from None
    validate_all(pstat, [technique])
    _area(pstat)
    return v, technique, unit


def eis(pstat: Flyable, clock: Movable,
        f_start: Annotated[QuantityLike, Unit("Hz", **_POSITIVE)] = "1 MHz",
        f_stop: Annotated[QuantityLike, Unit("Hz", **_POSITIVE)] = "0.1 Hz",
        points_per_decade: Annotated[int, Count(min=1, max=100)] = 10,
        amplitude: QuantityLike = "10 mV",
        dc: QuantityLike | None = None,
        vs_ocv: bool = True,
        mode: str | None = None,
        md: dict | None = None):
    """Impedance spectrum (stream ``eis``: freq, Zre, Zim, |Z|, phase, Ewe, I).

    An ``amplitude`` in volts runs PEIS (``dc`` in V, vs OCV by default); in amperes, GEIS (``dc`` in A).
    A bare number is refused unless ``mode`` ("potentiostatic"/"galvanostatic") says which it is: 0.01 meant
    as 10 mV would otherwise drive 10 mA through the cell.
    """
    v, technique, unit = _eis_checks(pstat, clock, dict(
        f_start=f_start, f_stop=f_stop, points_per_decade=points_per_decade, amplitude=amplitude, dc=dc,
        vs_ocv=vs_ocv, mode=mode, md=md))
    amp, bias = v["amplitude"], v["dc"]
    metadata = _md("eis", pstat, clock, v, _units(eis), md, [technique])
    metadata["plan_args"].update(amplitude=f"{amp:g} {unit}", dc=f"{bias:g} {unit}")
    metadata.update(frequencies=len(technique.frequencies()), electrode_area_cm2=_area(pstat))

    def body():
        return (yield from run_technique(pstat, clock, technique, "eis"))

    return (yield from _safe_run(pstat, body(), metadata))
