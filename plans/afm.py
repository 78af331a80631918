"""In-situ AFM of plating: plate without a break while the operator captures topography at set times."""

from __future__ import annotations

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp

from labctl.devices.potentiostat.techniques import Galvanostatic
from labctl.devices.records import TopographyCapture
from labctl.plans.checks import PlanValues
from labctl.plans.decorator import MsgGenerator, plan
from labctl.plans.params import Clock, CurrentDensity, LaterTimes, Operator, Potentiostat, Seconds, Volts
from labctl.plans.stubs.electrochem import (
    PLATE_E_MIN,
    check_plating_window,
    electrode_area,
    instrument_errors,
    run_technique,
    summarize,
    validate_all,
)
from labctl.plans.stubs.operator import checkpoint
from labctl.plans.stubs.time import wait

__all__ = ["afm_plating"]


def _techniques(pstat, current_density: float, capture_times, strip_cutoff: float, strip_time_limit: float,
                record_dt: float) -> tuple[Galvanostatic, Galvanostatic]:
    current = current_density * electrode_area(pstat) * 1e-3
    plate = Galvanostatic(-current, duration=capture_times[-1], e_min=PLATE_E_MIN, record_dt=record_dt)
    strip = Galvanostatic(current, e_max=strip_cutoff, duration=strip_time_limit, record_dt=record_dt)
    return plate, strip


def _of(v: PlanValues) -> tuple[Galvanostatic, Galvanostatic]:
    return _techniques(v.instrument("pstat"), v.current_density, v.capture_times, v.strip_cutoff,
                       v.strip_time_limit, v.record_dt)


def _check(v: PlanValues) -> None:
    check_plating_window(v.instrument("pstat"), v.strip_cutoff, PLATE_E_MIN)
    validate_all(v.instrument("pstat"), _of(v))


def _md(v: PlanValues) -> dict:
    return {"cell": "afm", "electrode_area_cm2": electrode_area(v.instrument("pstat")),
            "techniques": [t.describe() for t in _of(v)], **({"electrolyte": v.electrolyte} if v.electrolyte else {})}


@plan(check=_check, metadata=_md)
def afm_plating(pstat: Potentiostat, clock: Clock, operator: Operator,
                current_density: CurrentDensity = "0.5 mA/cm^2",
                capture_times: LaterTimes = (600, 1200, 1800),
                strip_cutoff: Volts = "1 V",
                strip_time_limit: Seconds = "2 h",
                record_dt: Seconds = "1 s",
                electrolyte: str | None = "dme", md: dict | None = None) -> MsgGenerator:
    """Plate for the last capture time with topography markers at each ``capture_times``, then strip.

    The plating current flows without a break: at each capture time after the current was switched on (lab
    clock; at once if the operator's previous capture ran past it) the plan asks for a capture and records
    in ``topography`` when it was planned and taken and the charge and capacity actually plated by then.
    The plating is never replayed: a deferred pause takes effect within one ``record_dt`` and leaves the current
    flowing; resuming goes on with the same plating. Streams: ``plate``,
    ``checkpoints``, ``topography``, ``strip``.
    """
    area = electrode_area(pstat)
    plate, strip = _techniques(pstat, current_density, capture_times, strip_cutoff, strip_time_limit, record_dt)
    state = {"started": False, "pages": []}
    capture = TopographyCapture(name="topography")

    def plating():
        yield from bps.prepare(pstat, plate, wait=True)
        yield from bps.declare_stream(pstat, name="plate", collect=True)
        state["started"] = True
        yield from bps.kickoff(pstat, wait=True)
        start = yield from bps.rd(clock)
        for t in capture_times:
            late = (yield from bps.rd(clock)) - start - t
            now = start + t + late
            while now < start + t - 1e-9:  # plating on: looked at (and a pause possible) every record_dt
                yield from bps.checkpoint()
                yield from wait(clock, min(record_dt, start + t - now))
                state["pages"] += (yield from bps.collect(pstat, name="plate")) or []
                now = yield from bps.rd(clock)
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

    # like run_technique: never replayed; a pause leaves the plating running and resuming goes on with it
    yield from bpp.rewindable_wrapper(bpp.finalize_wrapper(plating(), stop_plating()), False)
    yield from bps.checkpoint()
    yield from run_technique(pstat, clock, strip, "strip")
