"""DEMS: cycle a sealed cell to cumulative cycle targets and sweep what it gassed to the MS after each."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import bluesky.plan_stubs as bps

from labctl.devices.records import CycleLog
from labctl.plans.checks import PlanValues
from labctl.plans.decorator import MsgGenerator, plan
from labctl.plans.params import (
    Clock,
    Count,
    CurrentDensity,
    FlowController,
    Increasing,
    MassSpectrometer,
    Operator,
    OptionalSeconds,
    Potentiostat,
    Seconds,
    Valve,
    Volts,
)
from labctl.plans.stubs import gas
from labctl.plans.stubs.electrochem import (
    PLATE_E_MIN,
    check_plating_window,
    cycle_block,
    cycle_techniques,
    electrode_area,
    validate_all,
)
from labctl.plans.stubs.operator import checkpoint
from labctl.plans.stubs.valve import check_positions, move_valve
from labctl.plans.titration import Flow, Pressure, Temperature

__all__ = ["dems"]


def _techniques(v: PlanValues, pstat) -> tuple:
    return cycle_techniques(v.current_density, electrode_area(pstat), None, v.plate_time, v.strip_cutoff,
                            v.record_dt, 0.0, v.strip_time_limit)


def _check(v: PlanValues) -> None:
    check_positions(v.instrument("valve"), "sealed", "sweep")
    gas.check_setpoint(v.instrument("mfc"), v.carrier_flow)
    gas.check_watched(v.instrument("ms"), "CO2")
    pstat = v.instrument("pstat")
    electrode_area(pstat)
    check_plating_window(pstat, v.strip_cutoff, PLATE_E_MIN)
    validate_all(pstat, [t for t in _techniques(v, pstat) if t is not None])


def _md(v: PlanValues) -> dict:
    return {"cell": v.cell, "electrode_area_cm2": electrode_area(v.instrument("pstat")), "valve_sealed": "sealed",
            "valve_sweep": "sweep", **({"electrolyte": v.electrolyte} if v.electrolyte else {}),
            **gas.gas_conditions(v.temperature, v.pressure, v.carrier_flow)}


def _cleanup(v: PlanValues) -> MsgGenerator:
    yield from bps.mv(v.valve, "sealed")


@plan(check=_check, metadata=_md, cleanup=_cleanup)
def dems(pstat: Potentiostat, valve: Valve, ms: MassSpectrometer, mfc: FlowController, clock: Clock,
         operator: Operator | None = None,
         cycle_targets: Annotated[Sequence[int], Count(min=1), Increasing("[1, 5, 10]")] = (1, 5, 10),
         current_density: CurrentDensity = "0.5 mA/cm^2",
         plate_time: Seconds = "10 min",
         strip_cutoff: Volts = "1 V",
         strip_time_limit: Seconds = "2 h",
         record_dt: Seconds = "5 s", poll: OptionalSeconds = None,
         carrier_flow: Flow = "1 mL/min",
         sweep_min: Seconds = "15 min", sweep_hold: Seconds = "5 min", sweep_timeout: Seconds = "3 h",
         period: Seconds = "5 s",
         electrolyte: str | None = None, cell: str = "dems",
         temperature: Temperature = "298.15 K", pressure: Pressure = "1 bar",
         md: dict | None = None) -> MsgGenerator:
    """Cycle a sealed cell to each cumulative cycle target, then sweep its headspace to the MS.

    For each target: valve ``sealed`` (carrier bypasses the cell), galvanostatic cycles (plate for
    ``plate_time``, strip to ``strip_cutoff``) up to the target, a minute of the bypass gas as the CO2
    baseline, valve ``sweep`` until CO2 is back at that baseline (within its noise) for ``sweep_hold`` (at
    least ``sweep_min``), valve ``sealed`` again. The cycling is streamed every ``poll`` if given, else
    collected at the end of each step. One run; streams
    ``valve`` (every move, with lab time), ``plate``/``strip``/``cycles`` and ``gas`` (MS + MFC).
    """
    area = electrode_area(pstat)
    techniques = cycle_techniques(current_density, area, None, plate_time, strip_cutoff, record_dt, 0.0,
                                  strip_time_limit)
    log = CycleLog(name="cycles")
    if operator is not None and electrolyte:
        yield from checkpoint(operator, "assemble_cell", f"Assemble the sealed DEMS vial cell ({electrolyte}) "
                              f"on {pstat.name} and connect its gas lines", name=cell, kind="dems",
                              electrolyte=electrolyte, area_cm2=area, potentiostat=pstat.name)
        yield from checkpoint(operator, "connect_vessel", "Connect the cell's gas lines to the valve", name=cell)
    yield from bps.mv(mfc, carrier_flow)
    yield from gas.filament_on(ms)
    yield from move_valve(valve, clock, "sealed")
    yield from gas.sample(ms, clock, [mfc, valve], stream="gas")
    declared: set = set()
    done = 0
    for target in cycle_targets:
        yield from move_valve(valve, clock, "sealed")
        yield from cycle_block(pstat, clock, log, current_density, techniques, target - done, done + 1, area,
                               declared, poll)
        done = target
        base = yield from gas.level(ms, clock, duration=2 * gas.AVERAGE * period, period=period, extra=[mfc, valve],
                                stream="gas")
        back = gas.back_at(base, ["CO2"], lambda name: f"{ms.name}_fraction_{name}")
        yield from move_valve(valve, clock, "sweep")
        yield from gas.record(ms, clock, duration=sweep_min, period=period, extra=[mfc, valve], stream="gas")
        try:
            yield from gas.settle(ms, clock, thresholds=back, carrier=None, hold=sweep_hold, timeout=sweep_timeout,
                              period=period, extra=[mfc, valve], stream="gas", average=gas.AVERAGE)
        except gas.BaselineTimeout:
            pass  # a slow tail: the sweep ends at its timeout and the next block begins
        yield from move_valve(valve, clock, "sealed")
