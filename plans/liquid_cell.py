"""Operando liquid-cell (S)TEM: flush, feed electrolyte while imaging, cycle, replenish."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Annotated

import bluesky.plan_stubs as bps

from labctl.devices.potentiostat.techniques import CV, Galvanostatic
from labctl.plans.checks import PlanValues
from labctl.plans.decorator import MsgGenerator, plan
from labctl.plans.params import (
    Choice,
    Clock,
    Count,
    CurrentDensity,
    Operator,
    Potentiostat,
    QuantityLike,
    Seconds,
    SyringePump,
    Unit,
    Volts,
)
from labctl.plans.stubs.electrochem import (
    PLATE_E_MIN,
    check_plating_window,
    check_window,
    electrode_area,
    run_technique,
    validate_all,
)
from labctl.plans.stubs.fluidics import check_rates, flow_segment, set_flow
from labctl.plans.stubs.operator import checkpoint

__all__ = ["liquid_cell_operando"]

Rate = Annotated[QuantityLike, Unit("uL/h", min=0.0, min_inclusive=False)]
GALVANOSTATIC = ("current_density", "plate_time", "strip_cutoff", "strip_time_limit")
VOLTAMMETRY = ("e_start", "vertex1", "vertex2", "scan_rate")


def _techniques(v: PlanValues | SimpleNamespace, pstat) -> tuple[list, list[str]]:
    """The techniques of one cycle and their streams, after checking the potentials against *pstat*."""
    if v.mode == "galvanostatic":
        check_plating_window(pstat, v.strip_cutoff, PLATE_E_MIN)
        current = v.current_density * electrode_area(pstat) * 1e-3
        return [Galvanostatic(-current, duration=v.plate_time, e_min=PLATE_E_MIN, record_dt=v.record_dt),
                Galvanostatic(current, e_max=v.strip_cutoff, duration=v.strip_time_limit,
                              record_dt=v.record_dt)], ["plate", "strip"]
    check_window(pstat, e_start=v.e_start, vertex1=v.vertex1, vertex2=v.vertex2)
    return [CV(v.e_start, v.vertex1, v.vertex2, v.e_start, f"{v.scan_rate} mV/s")], ["cv"]


def _check(v: PlanValues) -> None:
    for name in GALVANOSTATIC if v.mode == "cv" else VOLTAMMETRY:
        v.only_with(name, f"mode={'galvanostatic' if v.mode == 'cv' else 'cv'!r}", False)
    check_rates(v.instrument("pump"), v.flush_rate, v.imaging_rate, v.replenish_rate)
    pstat = v.instrument("pstat")
    validate_all(pstat, _techniques(v, pstat)[0])


def _md(v: PlanValues) -> dict:
    pstat = v.instrument("pstat")
    return {"cell": "liquid", "electrode_area_cm2": electrode_area(pstat),
            "techniques": [t.describe() for t in _techniques(v, pstat)[0]],
            **({"electrolyte": v.electrolyte} if v.electrolyte else {})}


@plan(check=_check, metadata=_md)
def liquid_cell_operando(
        pstat: Potentiostat, pump: SyringePump, clock: Clock, operator: Operator,
        solvent: str = "DME", electrolyte: str | None = "dme",
        flush_time: Seconds = "40 min", flush_rate: Rate = "240 uL/h",
        imaging_rate: Rate = "120 uL/h",
        replenish_rate: Rate = "240 uL/h",
        replenish_time: Seconds = "10 min",
        cycles: Annotated[int, Count(min=1)] = 3,
        mode: Annotated[str, Choice("galvanostatic", "cv")] = "galvanostatic",
        current_density: CurrentDensity = "10 mA/cm^2",
        plate_time: Seconds = "60 s",
        strip_cutoff: Volts = "1 V",
        strip_time_limit: Seconds = "5 min",
        e_start: Volts = "0.5 V",
        vertex1: Volts = "-0.5 V",
        vertex2: Volts = "1.0 V",
        scan_rate: Annotated[QuantityLike, Unit("mV/s", min=0.0, min_inclusive=False)] = "20 mV/s",
        record_dt: Seconds = "0.5 s",
        md: dict | None = None) -> MsgGenerator:
    """Operando liquid-cell TEM: flush dried solvent, feed electrolyte while imaging, cycle, replenish.

    Flush ``solvent`` for ``flush_time`` at ``flush_rate``; swap to electrolyte at ``imaging_rate``; then per
    cycle: imaging start marker, one galvanostatic plate/strip (``mode="galvanostatic"``) or one CV
    (``mode="cv"``), imaging stop marker, replenish at ``replenish_rate`` for ``replenish_time``, back to
    ``imaging_rate``. Streams: ``fluidics``, ``checkpoints`` (syringe swaps and imaging markers),
    ``plate``/``strip`` or ``cv``.
    """
    techniques, streams = _techniques(SimpleNamespace(**locals()), pstat)  # the arguments, as checked

    def swap_syringe(prompt, contents):
        """Stop the pump and record what it delivered before anyone takes the syringe out."""
        yield from set_flow(pump, 0)
        yield from bps.trigger_and_read([pump, clock], name="fluidics")
        yield from checkpoint(operator, "swap_syringe", prompt, pump=pump.name, contents=contents)

    declared: set = set()
    yield from swap_syringe(f"Load the syringe with dried {solvent}", solvent)
    yield from flow_segment(pump, clock, flush_rate, flush_time, read_every="5 min")
    yield from swap_syringe(f"Load the syringe with the electrolyte ({electrolyte or 'as prepared'})", "electrolyte")
    yield from set_flow(pump, imaging_rate)
    yield from bps.trigger_and_read([pump, clock], name="fluidics")
    for n in range(1, cycles + 1):
        yield from checkpoint(operator, "start_imaging", f"Start (S)TEM recording for cycle {n}", cycle=n)
        for technique, stream in zip(techniques, streams, strict=False):
            yield from run_technique(pstat, clock, technique, stream, declared=declared)
        yield from checkpoint(operator, "stop_imaging", f"Stop (S)TEM recording for cycle {n}", cycle=n)
        yield from flow_segment(pump, clock, replenish_rate, replenish_time, read_every="5 min")
        yield from set_flow(pump, imaging_rate)
        yield from bps.trigger_and_read([pump, clock], name="fluidics")

