"""Online-MS D2O titration of a cycled (or blank) electrode: the paper's measure of metallic Na left behind.

Operator steps (disassemble the cell, connect the vial, inject) are checkpoints, recorded with who confirmed
them and when, and repeated on resume if the run was paused there.
"""

from __future__ import annotations

from typing import Annotated

import bluesky.plan_stubs as bps

from labctl.plans.checks import PlanValues
from labctl.plans.decorator import MsgGenerator, plan
from labctl.plans.params import (
    Clock,
    Flag,
    FlowController,
    Fractions,
    MassSpectrometer,
    Operator,
    ParameterError,
    QuantityLike,
    Seconds,
    SyringePump,
    Unit,
    Valve,
)
from labctl.plans.stubs.calibration import check_standard, purge_standard, sample_standard, split, standard_of
from labctl.plans.stubs.fluidics import check_rates, set_flow
from labctl.plans.stubs.gas import (
    AVERAGE,
    BaselineTimeout,
    back_at,
    check_setpoint,
    check_watched,
    filament_on,
    gas_conditions,
    level,
    record,
    settle,
)
from labctl.plans.stubs.operator import checkpoint
from labctl.plans.stubs.valve import check_positions

__all__ = ["online_ms_titration"]

#: fractions of the watched gases that count as "none" at the MS (the paper's "no D2, O2, CO2"): above the
#: chamber's own residual CO2 (~1.5e-4 of the carrier on an RGA) but far below any titration peak
BASELINE_THRESHOLDS = {"D2": 1e-4, "O2": 5e-4, "CO2": 5e-4}
TITRATION_GASES = ("D2", "HD", "CO2")
#: the standard re-measured at the end: the line swept for this long, then recorded for this long (lab s)
CHECK_HOLD_S, CHECK_RECORD_S = 240.0, 300.0
Flow = Annotated[QuantityLike, Unit("mL/min", min=0.0, min_inclusive=False, description="carrier gas flow")]
Temperature = Annotated[QuantityLike, Unit("K", min=0.0, min_inclusive=False)]
Pressure = Annotated[QuantityLike, Unit("Pa", min=0.0, min_inclusive=False)]


def _check(v: PlanValues) -> None:
    if v.hold > v.baseline_timeout:
        raise ParameterError("hold is longer than baseline_timeout: the baseline could never pass")
    for gas in [*(v.thresholds or BASELINE_THRESHOLDS), *TITRATION_GASES]:
        check_watched(v.instrument("ms"), gas)
    check_setpoint(v.instrument("mfc"), v.carrier_flow)
    v.only_with("injection_rate", "a d2o_pump (without one the operator injects)", v.d2o_pump is not None)
    if v.d2o_pump is not None:
        check_rates(v.instrument("d2o_pump"), v.injection_rate)
    if v.valve is not None:
        check_positions(v.instrument("valve"), "sweep", "sealed")
    v.only_with("check_dilution", "a std_mfc (the standard re-measured at the end)", v.std_mfc is not None)
    if v.std_mfc is not None:
        check_standard(v.instrument("ms"), v.instrument("mfc"), v.instrument("std_mfc"), "Ar",
                       [split(v.carrier_flow, v.check_dilution)])


def _md(v: PlanValues) -> dict:
    check = {}
    if v.std_mfc is not None:
        check = {"standard_check": standard_of(v.std_mfc),
                 "standard_check_flows": {"carrier": v.mfc.name, "standard": v.std_mfc.name}}
    return {"cell": v.cell, "blank": bool(v.blank), "titration_gases": list(TITRATION_GASES),
            **({"electrolyte": v.electrolyte} if v.electrolyte else {}),
            **gas_conditions(v.temperature, v.pressure, v.carrier_flow), **check}


def _cleanup(v: PlanValues) -> MsgGenerator:
    if v.std_mfc is not None:
        yield from bps.mv(v.std_mfc, 0.0)
    if v.valve is not None:
        yield from bps.mv(v.valve, "sealed")


@plan(check=_check, metadata=_md, cleanup=_cleanup)
def online_ms_titration(
        ms: MassSpectrometer, mfc: FlowController, clock: Clock, operator: Operator,
        valve: Valve | None = None, d2o_pump: SyringePump | None = None,
        std_mfc: FlowController | None = None,
        check_dilution: Annotated[QuantityLike, Unit("dimensionless", min=0.0, max=0.9,
                                                     min_inclusive=False)] = 0.4,
        cell: str = "coin", electrolyte: str | None = None, blank: Annotated[bool, Flag()] = False,
        carrier_flow: Flow = "1 mL/min",
        d2o_volume: Annotated[QuantityLike, Unit("uL", min=0.0, min_inclusive=False)] = "50 uL",
        injection_rate: Annotated[QuantityLike, Unit("uL/h", min=0.0, min_inclusive=False)] = "3000 uL/h",
        hold: Seconds = "5 min", baseline_timeout: Seconds = "2 h",
        min_record: Seconds = "20 min", return_hold: Seconds = "10 min", record_timeout: Seconds = "6 h",
        period: Seconds = "5 s",
        temperature: Temperature = "298.15 K", pressure: Pressure = "1 bar",
        thresholds: Annotated[dict | None, Fractions()] = None, md: dict | None = None) -> MsgGenerator:
    """Titrate a cycled (or, with ``blank=True``, an uncycled) electrode with D2O and record D2, HD and CO2.

    Streams: ``checkpoints`` (operator steps), ``baseline`` (until no D2/O2/CO2 and ~100 % Ar for ``hold``),
    ``titration`` (from the injection until D2, HD and CO2 are back under their thresholds for
    ``return_hold``). The D2O goes in through ``d2o_pump`` if given, else by an operator checkpoint. With
    ``std_mfc`` (an MFC metering a certified standard), the standard is re-measured at the end, at
    ``check_dilution`` in the carrier with the vial sealed off: stream ``standard_check``, which the analysis
    uses to tell whether the calibration still holds.
    """
    extra = [mfc] if d2o_pump is None else [mfc, d2o_pump]
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
    yield from bps.mv(mfc, carrier_flow)
    yield from filament_on(ms)
    yield from settle(ms, clock, thresholds=thresholds or BASELINE_THRESHOLDS, carrier="Ar", hold=hold,
                      timeout=baseline_timeout, period=period, extra=extra, stream="baseline", average=AVERAGE)
    base = yield from level(ms, clock, duration=2 * AVERAGE * period, period=period, extra=extra, stream="baseline")
    # done when each titration gas is back where it sat before the injection, within its noise
    back = back_at(base, TITRATION_GASES, lambda gas: f"{ms.name}_fraction_{gas}")
    if d2o_pump is not None:  # gas comes off from the first drop: the MS records throughout the injection
        yield from set_flow(d2o_pump, injection_rate, direction="infuse")
        yield from record(ms, clock, duration=d2o_volume / injection_rate * 3600.0, period=period, extra=extra,
                          stream="titration")
        yield from set_flow(d2o_pump, 0)
    else:
        yield from checkpoint(operator, "inject_d2o", f"Inject {d2o_volume:g} uL of degassed D2O into the vial",
                              volume_uL=d2o_volume)
    yield from record(ms, clock, duration=min_record, period=period, extra=extra, stream="titration")
    try:
        yield from settle(ms, clock, thresholds=back, carrier=None, hold=return_hold, timeout=record_timeout,
                          period=period, extra=extra, stream="titration", average=AVERAGE)
    except BaselineTimeout:
        pass  # the gases have not come back down: what was recorded stands, the run ends here
    if std_mfc is not None:
        if valve is not None:
            yield from bps.mv(valve, "sealed")
        yield from sample_standard(ms, clock, mfc, std_mfc, dilution=check_dilution, total_flow=carrier_flow,
                                   hold=CHECK_HOLD_S, duration=CHECK_RECORD_S, period=period,
                                   stream="standard_check")
        yield from purge_standard(clock, mfc, std_mfc, carrier_flow=carrier_flow, period=period)
