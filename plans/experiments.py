"""The founding paper's experiments as plans: online-MS titration, DEMS, operando liquid cell, in-situ AFM,
and the coin-cell campaign that strings them together.

Each plan takes its devices as arguments, checks every parameter before anything moves, records one run
with a stream per phase, and leaves the hardware safe on any exit. Operator steps (disassemble a cell,
connect a vial, swap a syringe) are explicit checkpoints: recorded with who confirmed them and when, and
repeated on resume if the run was paused there.
"""

from __future__ import annotations

from typing import Annotated, Sequence

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
from bluesky.protocols import Flyable, Movable, Readable

from ophyd import Component as Cpt
from ophyd import Device

from labctl.devices.potentiostat.techniques import CV, Galvanostatic
from labctl.devices.signals import Signal

from labctl.plans.electrochem import _area, _eis_checks, eis, galvanostatic_cycles
from labctl.plans.params import Count, ParameterError, QuantityLike, Unit, check_call
from labctl.plans.stubs.electrochem import (PLATE_E_MIN, CycleLog, check_window, cycle_block, cycle_techniques,
                                instrument_errors, run_technique, summarize, validate_all)
from labctl.plans.stubs.fluidics import flow_segment, set_flow
from labctl.plans.stubs.gas import BaselineTimeout, filament_on, level, record, sample, settle
from labctl.plans.stubs.operator import checkpoint, with_checkpoint
from labctl.plans.stubs.time import wait

__all__ = ["online_ms_titration", "dems", "liquid_cell_operando", "afm_plating", "coin_cell_campaign"]

_POSITIVE = {"min": 0.0, "min_inclusive": False}
Seconds = Annotated[QuantityLike, Unit("s", **_POSITIVE)]
Flow = Annotated[QuantityLike, Unit("mL/min", **_POSITIVE, description="carrier gas flow")]
Temperature = Annotated[QuantityLike, Unit("K", **_POSITIVE)]
Pressure = Annotated[QuantityLike, Unit("Pa", **_POSITIVE)]

#: fractions of the watched gases that count as "none" at the MS (the paper's "no D2, O2, CO2"): above the
#: chamber's own residual CO2 (~1.5e-4 of the carrier on an RGA) but far below any titration peak
BASELINE_THRESHOLDS = {"D2": 1e-4, "O2": 5e-4, "CO2": 5e-4}
#: how far above its baseline a gas may stay for the titration to count as finished, at the least
RETURN_MARGIN = 2e-5
#: readings averaged by each baseline test (1 min at the default 5 s period)
AVERAGE = 12
#: a gas is back at its baseline when the averaged reading is within this many standard errors of it
NOISE_SIGMAS = 4.0


def _back_at(base, gases, key) -> dict[str, float]:
    """Thresholds for "back at baseline": the baseline level plus the larger of a fixed margin and the noise
    of an averaged reading (a quiet m/z 3 or 4 on an RGA scatters by ~5e-5 of the carrier)."""
    out = {}
    for gas in gases:
        k = key(gas)
        noise = NOISE_SIGMAS * base.std[k] / AVERAGE ** 0.5
        out[gas] = min(1.0, base.mean[k] + max(RETURN_MARGIN, noise))
    return out


TITRATION_GASES = ("D2", "HD", "CO2")


def _sequence(name: str, value, example: str) -> list:
    """A list parameter given as a list (``capture_times=600`` is refused by name, not by a TypeError)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise ParameterError(f"{name}={value!r}: give a list, e.g. {example}")
    return list(value)


def _gas_conditions(v: dict) -> dict:
    """What the analysis needs to turn fractions into moles, recorded with the run."""
    return {"gas_temperature_K": v["temperature"], "gas_pressure_Pa": v["pressure"],
            "carrier_flow_mL_min": v["carrier_flow"]}


def _names(*devices) -> list[str]:
    return [d.name for d in devices if d is not None]


def _thresholds(ms, given: dict | None, gases) -> dict[str, float]:
    out = {}
    for gas, value in (given or {g: BASELINE_THRESHOLDS.get(g, 1e-4) for g in gases}).items():
        if not 0 < float(value) <= 1:
            raise ParameterError(f"threshold for {gas}={value!r} must be a fraction in (0, 1]")
        if f"{ms.name}_fraction_{gas}" not in ms.describe():
            raise ParameterError(f"{ms.name} does not watch {gas!r}")
        out[gas] = float(value)
    return out


def _titration_checks(ms, mfc, clock, operator, kwargs: dict):
    """Every check :func:`online_ms_titration` makes before anything moves (campaigns make them up front):
    the arguments in their units, the thresholds against the watched gases, the flows against the devices."""
    v = check_call(online_ms_titration, (ms, mfc, clock, operator), kwargs)
    if v["hold"] > v["baseline_timeout"]:
        raise ParameterError("hold is longer than baseline_timeout: the baseline could never pass")
    base_limits = _thresholds(ms, v["thresholds"], ("D2", "O2", "CO2"))
    return_limits = _thresholds(ms, None, TITRATION_GASES)
    check = getattr(mfc, "check_setpoint", None)
    if check is not None:
        check(v["carrier_flow"])
    if v["d2o_pump"] is not None:
        v["d2o_pump"].check_rate(v["injection_rate"])
    return v, base_limits, return_limits


def online_ms_titration(
        ms: Readable, mfc: Movable, clock: Movable, operator: Movable,
        valve: Movable | None = None, d2o_pump: Movable | None = None,
        cell: str = "coin", electrolyte: str | None = None, blank: bool = False,
        carrier_flow: Flow = "1 mL/min",
        d2o_volume: Annotated[QuantityLike, Unit("uL", **_POSITIVE)] = "50 uL",
        injection_rate: Annotated[QuantityLike, Unit("uL/h", **_POSITIVE)] = "3000 uL/h",
        hold: Seconds = "5 min", baseline_timeout: Seconds = "2 h",
        min_record: Seconds = "20 min", return_hold: Seconds = "10 min", record_timeout: Seconds = "6 h",
        period: Seconds = "5 s",
        temperature: Temperature = "298.15 K", pressure: Pressure = "1 bar",
        thresholds: dict | None = None, md: dict | None = None):
    """Titrate a cycled (or, with ``blank=True``, an uncycled) electrode with D2O and record D2, HD and CO2.

    Streams: ``checkpoints`` (operator steps), ``baseline`` (until no D2/O2/CO2 and ~100 % Ar for ``hold``),
    ``titration`` (from the injection until D2, HD and CO2 are back under their thresholds for
    ``return_hold``). The D2O goes in through ``d2o_pump`` if given, else by an operator checkpoint.
    """
    v, base_limits, return_limits = _titration_checks(ms, mfc, clock, operator, dict(
        valve=valve, d2o_pump=d2o_pump, cell=cell, electrolyte=electrolyte, blank=blank,
        carrier_flow=carrier_flow, d2o_volume=d2o_volume, injection_rate=injection_rate, hold=hold,
        baseline_timeout=baseline_timeout, min_record=min_record, return_hold=return_hold,
        record_timeout=record_timeout, period=period, temperature=temperature, pressure=pressure,
        thresholds=thresholds, md=md))
    extra = [mfc] if d2o_pump is None else [mfc, d2o_pump]
    metadata = {
        "plan_name": "online_ms_titration",
        "plan_args": {"cell": cell, "blank": blank, "d2o_volume": f"{v['d2o_volume']:g} uL",
                      "carrier_flow": f"{v['carrier_flow']:g} mL/min"},
        "detectors": _names(ms, mfc, clock, valve, d2o_pump),
        "cell": cell, "blank": bool(blank), "titration_gases": list(TITRATION_GASES),
        **({"electrolyte": electrolyte} if electrolyte else {}),
        **_gas_conditions(v),
        **(md or {}),
    }

    def body():
        if blank:
            yield from checkpoint(operator, "assemble_cell", f"Assemble an uncycled Na||Cu coin cell "
                                  f"({electrolyte or 'same electrolyte'}) as the blank", name=cell, kind="coin",
                                  electrolyte=electrolyte)
        yield from checkpoint(operator, "transfer_to_titration",
                              f"Disassemble cell {cell!r} in the glovebox; put the Cu foil and the Cu-side "
                              "separators in the titration vial with a stirrer; connect the vial to the MS line",
                              cell=cell)
        if valve is not None:
            yield from bps.mv(valve, "sweep")
        yield from bps.mv(mfc, v["carrier_flow"])
        yield from filament_on(ms)
        yield from settle(ms, clock, thresholds=base_limits, carrier="Ar", hold=v["hold"],
                          timeout=v["baseline_timeout"], period=v["period"], extra=extra, stream="baseline",
                          average=AVERAGE)
        base = yield from level(ms, clock, duration=2 * AVERAGE * v["period"], period=v["period"], extra=extra,
                                stream="baseline")
        # done when each titration gas is back where it sat before the injection, within its noise
        back = _back_at(base, return_limits, lambda gas: f"{ms.name}_fraction_{gas}")
        if d2o_pump is not None:  # gas comes off from the first drop: the MS records throughout the injection
            yield from set_flow(d2o_pump, v["injection_rate"], direction="infuse")
            yield from record(ms, clock, duration=v["d2o_volume"] / v["injection_rate"] * 3600.0,
                              period=v["period"], extra=extra, stream="titration")
            yield from set_flow(d2o_pump, 0)
        else:
            yield from checkpoint(operator, "inject_d2o", f"Inject {v['d2o_volume']:g} uL of degassed D2O "
                                  "into the vial", volume_uL=v["d2o_volume"])
        yield from record(ms, clock, duration=v["min_record"], period=v["period"], extra=extra,
                          stream="titration")
        try:
            yield from settle(ms, clock, thresholds=back, carrier=None, hold=v["return_hold"],
                              timeout=v["record_timeout"], period=v["period"], extra=extra, stream="titration",
                              average=AVERAGE)
        except BaselineTimeout:
            pass  # the gases have not come back down: what was recorded stands, the run ends here

    def cleanup():
        if d2o_pump is not None:
            yield from bps.stop(d2o_pump)
        if valve is not None:
            yield from bps.mv(valve, "sealed")

    return (yield from bpp.finalize_wrapper(bpp.run_wrapper(body(), md=metadata), cleanup()))


def dems(pstat: Flyable, valve: Movable, ms: Readable, mfc: Movable, clock: Movable,
         operator: Movable | None = None,
         cycle_targets: Annotated[Sequence[int], Count(min=1)] = (1, 5, 10),
         current_density: Annotated[QuantityLike, Unit("mA/cm^2", **_POSITIVE)] = "0.5 mA/cm^2",
         plate_time: Seconds = "10 min",
         strip_cutoff: Annotated[QuantityLike, Unit("V")] = "1 V",
         strip_time_limit: Seconds = "2 h",
         record_dt: Seconds = "5 s", poll: Seconds = "5 min",
         carrier_flow: Flow = "1 mL/min",
         sweep_min: Seconds = "15 min", sweep_hold: Seconds = "5 min", sweep_timeout: Seconds = "3 h",
         period: Seconds = "5 s",
         electrolyte: str | None = None, cell: str = "dems",
         temperature: Temperature = "298.15 K", pressure: Pressure = "1 bar",
         md: dict | None = None):
    """Cycle a sealed cell to each cumulative cycle target, then sweep its headspace to the MS.

    For each target: valve ``sealed`` (carrier bypasses the cell), galvanostatic cycles (plate for
    ``plate_time``, strip to ``strip_cutoff``) up to the target, a minute of the bypass gas as the CO2
    baseline, valve ``sweep`` until CO2 is back at that baseline (within its noise) for ``sweep_hold`` (at
    least ``sweep_min``), valve ``sealed`` again. One run; streams
    ``valve`` (every move, with lab time), ``plate``/``strip``/``cycles`` and ``gas`` (MS + MFC).
    """
    _sequence("cycle_targets", cycle_targets, "[1, 5, 10]")
    v = check_call(dems, (pstat, valve, ms, mfc, clock), dict(
        operator=operator, cycle_targets=cycle_targets, current_density=current_density, plate_time=plate_time,
        strip_cutoff=strip_cutoff, strip_time_limit=strip_time_limit, record_dt=record_dt, poll=poll,
        carrier_flow=carrier_flow, sweep_min=sweep_min, sweep_hold=sweep_hold, sweep_timeout=sweep_timeout,
        period=period, electrolyte=electrolyte, cell=cell,
        temperature=temperature, pressure=pressure, md=md))
    targets = list(cycle_targets)
    if targets != sorted(set(targets)):
        raise ParameterError(f"cycle_targets={cycle_targets!r}: give increasing positive whole numbers of cycles")
    for name in ("sealed", "sweep"):
        if name not in valve.position_names:
            raise ParameterError(f"{valve.name} has no position {name!r} (it has {list(valve.position_names)})")
    mfc.check_setpoint(v["carrier_flow"])
    _thresholds(ms, {"CO2": 1.0}, ())  # the MS must watch CO2
    area = _area(pstat)
    check_window(pstat, strip_cutoff=v["strip_cutoff"])
    techniques = cycle_techniques(v["current_density"], area, None, v["plate_time"], v["strip_cutoff"],
                                  v["record_dt"], 0.0, v["strip_time_limit"])
    validate_all(pstat, [t for t in techniques if t is not None])
    log = CycleLog(name="cycles")
    metadata = {
        "plan_name": "dems",
        "plan_args": {"cycle_targets": targets, "current_density": f"{v['current_density']:g} mA/cm^2",
                      "plate_time": f"{v['plate_time']:g} s", "strip_cutoff": f"{v['strip_cutoff']:g} V",
                      "carrier_flow": f"{v['carrier_flow']:g} mL/min"},
        "detectors": _names(pstat, valve, ms, mfc, clock),
        "cell": cell, "electrode_area_cm2": area, "valve_sealed": "sealed", "valve_sweep": "sweep",
        **({"electrolyte": electrolyte} if electrolyte else {}),
        **_gas_conditions(v),
        **(md or {}),
    }

    def move_valve(position):
        yield from bps.mv(valve, position)
        yield from bps.trigger_and_read([valve, clock], name="valve")

    def body():
        if operator is not None and electrolyte:
            yield from checkpoint(operator, "assemble_cell", f"Assemble the sealed DEMS vial cell ({electrolyte}) "
                                  f"on {pstat.name} and connect its gas lines", name=cell, kind="dems",
                                  electrolyte=electrolyte, area_cm2=area, potentiostat=pstat.name)
            yield from checkpoint(operator, "connect_vessel", "Connect the cell's gas lines to the valve",
                                  name=cell)
        yield from bps.mv(mfc, v["carrier_flow"])
        yield from filament_on(ms)
        yield from move_valve("sealed")
        yield from sample(ms, clock, [mfc, valve], stream="gas")
        declared: set = set()
        done = 0
        for target in targets:
            yield from move_valve("sealed")
            yield from cycle_block(pstat, clock, log, v["current_density"], techniques, target - done, done + 1,
                                   area, declared, v["poll"])
            done = target
            base = yield from level(ms, clock, duration=2 * AVERAGE * v["period"], period=v["period"],
                                    extra=[mfc, valve], stream="gas")
            back = _back_at(base, ["CO2"], lambda gas: f"{ms.name}_fraction_{gas}")
            yield from move_valve("sweep")
            yield from record(ms, clock, duration=v["sweep_min"], period=v["period"], extra=[mfc, valve],
                              stream="gas")
            try:
                yield from settle(ms, clock, thresholds=back, carrier=None, hold=v["sweep_hold"],
                                  timeout=v["sweep_timeout"], period=v["period"], extra=[mfc, valve],
                                  stream="gas", average=AVERAGE)
            except BaselineTimeout:
                pass  # a slow tail: the sweep ends at its timeout and the next block begins
            yield from move_valve("sealed")

    def cleanup():
        yield from bps.stop(pstat)
        yield from bps.mv(valve, "sealed")

    return (yield from bpp.finalize_wrapper(bpp.run_wrapper(body(), md=metadata), cleanup()))


def liquid_cell_operando(
        pstat: Flyable, pump: Movable, clock: Movable, operator: Movable,
        solvent: str = "DME", electrolyte: str | None = "dme",
        flush_time: Seconds = "40 min", flush_rate: Annotated[QuantityLike, Unit("uL/h", **_POSITIVE)] = "240 uL/h",
        imaging_rate: Annotated[QuantityLike, Unit("uL/h", **_POSITIVE)] = "120 uL/h",
        replenish_rate: Annotated[QuantityLike, Unit("uL/h", **_POSITIVE)] = "240 uL/h",
        replenish_time: Seconds = "10 min",
        cycles: Annotated[int, Count(min=1)] = 3, mode: str = "galvanostatic",
        current_density: Annotated[QuantityLike, Unit("mA/cm^2", **_POSITIVE)] = "10 mA/cm^2",
        plate_time: Seconds = "60 s",
        strip_cutoff: Annotated[QuantityLike, Unit("V")] = "1 V",
        strip_time_limit: Seconds = "5 min",
        e_start: Annotated[QuantityLike, Unit("V")] = "0.5 V",
        vertex1: Annotated[QuantityLike, Unit("V")] = "-0.5 V",
        vertex2: Annotated[QuantityLike, Unit("V")] = "1.0 V",
        scan_rate: Annotated[QuantityLike, Unit("mV/s", **_POSITIVE)] = "20 mV/s",
        record_dt: Seconds = "0.5 s",
        md: dict | None = None):
    """Operando liquid-cell TEM: flush dried solvent, feed electrolyte while imaging, cycle, replenish.

    Flush ``solvent`` for ``flush_time`` at ``flush_rate``; swap to electrolyte at ``imaging_rate``; then per
    cycle: imaging start marker, one galvanostatic plate/strip (``mode="galvanostatic"``) or one CV
    (``mode="cv"``), imaging stop marker, replenish at ``replenish_rate`` for ``replenish_time``, back to
    ``imaging_rate``. Streams: ``fluidics``, ``checkpoints`` (syringe swaps and imaging markers),
    ``plate``/``strip`` or ``cv``.
    """
    v = check_call(liquid_cell_operando, (pstat, pump, clock, operator), dict(
        solvent=solvent, electrolyte=electrolyte, flush_time=flush_time, flush_rate=flush_rate,
        imaging_rate=imaging_rate, replenish_rate=replenish_rate, replenish_time=replenish_time, cycles=cycles,
        mode=mode, current_density=current_density, plate_time=plate_time, strip_cutoff=strip_cutoff,
        strip_time_limit=strip_time_limit, e_start=e_start, vertex1=vertex1, vertex2=vertex2,
        scan_rate=scan_rate, record_dt=record_dt, md=md))
    if mode not in ("galvanostatic", "cv"):
        raise ParameterError(f"mode={mode!r}: choose 'galvanostatic' or 'cv'")
    for rate in (v["flush_rate"], v["imaging_rate"], v["replenish_rate"]):
        pump.check_rate(rate)
    area = _area(pstat)
    if mode == "galvanostatic":
        check_window(pstat, strip_cutoff=v["strip_cutoff"])
        current = v["current_density"] * area * 1e-3
        techniques = [Galvanostatic(-current, duration=v["plate_time"], e_min=PLATE_E_MIN, record_dt=v["record_dt"]),
                      Galvanostatic(current, e_max=v["strip_cutoff"], duration=v["strip_time_limit"],
                                    record_dt=v["record_dt"])]
        streams = ["plate", "strip"]
    else:
        check_window(pstat, e_start=v["e_start"], vertex1=v["vertex1"], vertex2=v["vertex2"])
        techniques = [CV(v["e_start"], v["vertex1"], v["vertex2"], v["e_start"], f"{v['scan_rate']} mV/s")]
        streams = ["cv"]
    validate_all(pstat, techniques)
    metadata = {
        "plan_name": "liquid_cell_operando",
        "plan_args": {"mode": mode, "cycles": cycles, "solvent": solvent,
                      "flush": [f"{v['flush_rate']:g} uL/h", f"{v['flush_time']:g} s"],
                      "imaging_rate": f"{v['imaging_rate']:g} uL/h",
                      "replenish": [f"{v['replenish_rate']:g} uL/h", f"{v['replenish_time']:g} s"]},
        "detectors": _names(pstat, pump, clock),
        "cell": "liquid", "electrode_area_cm2": area, "techniques": [t.describe() for t in techniques],
        **({"electrolyte": electrolyte} if electrolyte else {}),
        **(md or {}),
    }

    def swap_syringe(prompt, contents):
        """Stop the pump and record what it delivered before anyone takes the syringe out."""
        yield from set_flow(pump, 0)
        yield from bps.trigger_and_read([pump, clock], name="fluidics")
        yield from checkpoint(operator, "swap_syringe", prompt, pump=pump.name, contents=contents)

    def body():
        declared: set = set()
        yield from swap_syringe(f"Load the syringe with dried {solvent}", solvent)
        yield from flow_segment(pump, clock, v["flush_rate"], v["flush_time"], read_every="5 min")
        yield from swap_syringe(f"Load the syringe with the electrolyte ({electrolyte or 'as prepared'})",
                                "electrolyte")
        yield from set_flow(pump, v["imaging_rate"])
        yield from bps.trigger_and_read([pump, clock], name="fluidics")
        for n in range(1, cycles + 1):
            yield from checkpoint(operator, "start_imaging", f"Start (S)TEM recording for cycle {n}", cycle=n)
            for technique, stream in zip(techniques, streams):
                yield from run_technique(pstat, clock, technique, stream, declared=declared)
            yield from checkpoint(operator, "stop_imaging", f"Stop (S)TEM recording for cycle {n}", cycle=n)
            yield from flow_segment(pump, clock, v["replenish_rate"], v["replenish_time"], read_every="5 min")
            yield from set_flow(pump, v["imaging_rate"])
            yield from bps.trigger_and_read([pump, clock], name="fluidics")

    def cleanup():
        yield from bps.stop(pstat)
        yield from bps.stop(pump)

    return (yield from bpp.finalize_wrapper(bpp.run_wrapper(body(), md=metadata), cleanup()))


class TopographyCapture(Device):
    """One AFM capture during plating: when it was planned and taken, and what had been plated by then."""

    planned = Cpt(Signal, value=0.0, units="s", kind="normal")
    at = Cpt(Signal, value=0.0, units="s", kind="hinted")
    late = Cpt(Signal, value=0.0, units="s", kind="normal")
    charge = Cpt(Signal, value=0.0, units="C", kind="normal")
    capacity = Cpt(Signal, value=0.0, units="mAh/cm^2", kind="hinted")


def afm_plating(pstat: Flyable, clock: Movable, operator: Movable,
                current_density: Annotated[QuantityLike, Unit("mA/cm^2", **_POSITIVE)] = "0.5 mA/cm^2",
                capture_times: Annotated[Sequence[QuantityLike], Unit("s", **_POSITIVE)] = (600, 1200, 1800),
                strip_cutoff: Annotated[QuantityLike, Unit("V")] = "1 V",
                strip_time_limit: Seconds = "2 h",
                record_dt: Seconds = "1 s",
                electrolyte: str | None = "dme", md: dict | None = None):
    """Plate for the last capture time with topography markers at each ``capture_times``, then strip.

    The plating current flows without a break: at each capture time after the current was switched on (lab
    clock; at once if the operator's previous capture ran past it) the plan asks for a capture and records
    in ``topography`` when it was planned and taken and the charge and capacity actually plated by then.
    The plating is never replayed: a deferred pause takes effect once it has ended. Streams: ``plate``,
    ``checkpoints``, ``topography``, ``strip``.
    """
    times = _sequence("capture_times", capture_times, "[600, 1200, 1800]")
    v = check_call(afm_plating, (pstat, clock, operator), dict(
        current_density=current_density, capture_times=times, strip_cutoff=strip_cutoff,
        strip_time_limit=strip_time_limit, record_dt=record_dt, electrolyte=electrolyte, md=md))
    times = list(v["capture_times"])
    if not times or times != sorted(set(times)):
        raise ParameterError(f"capture_times={capture_times!r}: give increasing positive times")
    area = _area(pstat)
    current = v["current_density"] * area * 1e-3
    plate = Galvanostatic(-current, duration=times[-1], e_min=PLATE_E_MIN, record_dt=v["record_dt"])
    check_window(pstat, strip_cutoff=v["strip_cutoff"])
    strip = Galvanostatic(current, e_max=v["strip_cutoff"], duration=v["strip_time_limit"],
                          record_dt=v["record_dt"])
    validate_all(pstat, [plate, strip])
    metadata = {
        "plan_name": "afm_plating",
        "plan_args": {"current_density": f"{v['current_density']:g} mA/cm^2",
                      "capture_times": [f"{t:g} s" for t in times], "strip_cutoff": f"{v['strip_cutoff']:g} V"},
        "detectors": _names(pstat, clock), "cell": "afm", "electrode_area_cm2": area,
        "techniques": [plate.describe(), strip.describe()],
        **({"electrolyte": electrolyte} if electrolyte else {}),
        **(md or {}),
    }
    state = {"started": False, "pages": []}
    capture = TopographyCapture(name="topography")

    def plating():
        yield from bps.prepare(pstat, plate, wait=True)
        yield from bps.declare_stream(pstat, name="plate", collect=True)
        state["started"] = True
        yield from bps.kickoff(pstat, wait=True)
        start = yield from bps.rd(clock)
        for t in times:
            late = (yield from bps.rd(clock)) - start - t
            if late < 0:
                yield from wait(clock, -late)
            state["pages"] += (yield from bps.collect(pstat, name="plate")) or []
            charge = abs(summarize(state["pages"], None, pstat.name)["last"].get("Q", 0.0))
            at = (yield from bps.rd(clock)) - start
            capacity = charge / 3.6 / area  # mAh/cm^2 plated so far, as measured
            yield from checkpoint(operator, "capture_topography",
                                  f"Capture AFM topography at {at:.0f} s ({capacity:.3g} mAh/cm^2 plated)",
                                  rewindable=False, planned_s=t, at_s=at, late_s=max(late, 0.0),
                                  charge_C=charge, capacity_mAh_cm2=capacity)
            for signal, value in ((capture.planned, t), (capture.at, at), (capture.late, max(late, 0.0)),
                                  (capture.charge, charge), (capture.capacity, capacity)):
                signal.put(float(value))
            yield from bps.trigger_and_read([capture, clock], name="topography")
        yield from instrument_errors(bps.complete(pstat, wait=True))
        state["pages"] += (yield from bps.collect(pstat, name="plate")) or []

    def stop_plating():
        yield from bps.stop(pstat)
        if state["started"]:  # keep what was recorded up to the stop
            state["pages"] += (yield from bps.collect(pstat, name="plate")) or []

    def body():
        # like run_technique: never replayed, a deferred pause waits for the plating to end
        yield from bpp.rewindable_wrapper(bpp.finalize_wrapper(plating(), stop_plating()), False)
        yield from bps.checkpoint()
        yield from run_technique(pstat, clock, strip, "strip")

    return (yield from bpp.finalize_wrapper(bpp.run_wrapper(body(), md=metadata), lambda: bps.stop(pstat)))


#: online_ms_titration parameters the campaign sets for each cell, so a ``titration`` dict may not
_CAMPAIGN_SETS = {"cell", "electrolyte", "md", "blank", "valve", "d2o_pump"}


def coin_cell_campaign(
        pstat: Flyable, ms: Readable, mfc: Movable, clock: Movable, operator: Movable,
        valve: Movable | None = None, d2o_pump: Movable | None = None,
        electrolytes: Sequence[str] = ("ecdmc", "ecdmc_vc", "ecdmc_fec", "dme"),
        cell: str = "coin", ce_cycles: Annotated[int, Count(min=1)] = 10, blank: bool = True, record_dt: Seconds = "10 s",
        eis_f_stop: Annotated[QuantityLike, Unit("Hz", **_POSITIVE)] = "0.1 Hz",
        titration: dict | None = None, md: dict | None = None):
    """For each electrolyte: one plating/stripping cycle then a D2O titration of the electrode; a fresh
    cell's impedance spectrum, then that cell cycled ``ce_cycles`` times for CE. With ``blank``, an
    uncycled cell is titrated as the control. One run per measurement, each tagged with ``electrolyte``,
    ``campaign`` and ``purpose``.
    """
    if isinstance(electrolytes, str):
        raise ParameterError(f"electrolytes={electrolytes!r}: give a list, e.g. ['ecdmc', 'dme']")
    if not electrolytes:
        raise ParameterError("electrolytes is empty")
    check_call(coin_cell_campaign, (pstat, ms, mfc, clock, operator),
               dict(ce_cycles=ce_cycles, record_dt=record_dt, eis_f_stop=eis_f_stop))
    area = _area(pstat)
    shared = {"campaign": "coin_cell_campaign", **(md or {})}
    if titration is not None and not isinstance(titration, dict):
        raise ParameterError(f"titration={titration!r}: give a dict of online_ms_titration parameters")
    titration = dict(titration or {})
    ours = sorted(set(titration) & _CAMPAIGN_SETS)
    if ours:
        raise ParameterError(f"titration sets {', '.join(ours)}, which the campaign sets itself per cell; "
                             f"leave {'them' if len(ours) > 1 else 'it'} out")
    _titration_checks(ms, mfc, clock, operator, {"valve": valve, "d2o_pump": d2o_pump, **titration})
    _eis_checks(pstat, clock, dict(f_stop=eis_f_stop))

    def assemble(electrolyte, purpose):
        return dict(action="assemble_cell", prompt=f"Assemble a fresh Na||Cu CR2032 coin cell with {electrolyte} "
                    f"({purpose}) and connect it to {pstat.name}", name=cell, kind="coin", electrolyte=electrolyte,
                    area_cm2=area, potentiostat=pstat.name)

    for electrolyte in electrolytes:
        tags = {**shared, "electrolyte": electrolyte, "cell": cell}
        yield from with_checkpoint(
            galvanostatic_cycles(pstat, clock, cycles=1, record_dt=record_dt,
                                 md={**tags, "purpose": "titration_cycle"}),
            operator, **assemble(electrolyte, "one cycle before titration"))
        yield from online_ms_titration(ms, mfc, clock, operator, valve=valve, d2o_pump=d2o_pump, cell=cell,
                                       electrolyte=electrolyte, md=tags, **titration)
        # the impedance of the fresh cell (the electrolyte's own interphase), then its cycling
        yield from with_checkpoint(eis(pstat, clock, f_stop=eis_f_stop, md={**tags, "purpose": "impedance"}),
                                   operator, **assemble(electrolyte, f"impedance, then {ce_cycles} cycles"))
        yield from galvanostatic_cycles(pstat, clock, cycles=ce_cycles, record_dt=record_dt,
                                        md={**tags, "purpose": "coulombic_efficiency"})
    if blank:
        yield from online_ms_titration(ms, mfc, clock, operator, valve=valve, d2o_pump=d2o_pump, cell="blank",
                                       electrolyte=electrolytes[0], blank=True,
                                       md={**shared, "electrolyte": electrolytes[0], "cell": "blank"}, **titration)
