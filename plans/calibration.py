"""MS calibration with a certified gas standard diluted in the carrier at several ratios.

What quantification needs from it (fitted by ``labctl.analysis.calibration`` from the stored run, so a
calibration can be re-fitted and audited at any time): for every gas of the standard, its sensitivity relative
to the carrier at each watched m/z (the parent peak and the fragments landing on other watched masses), the
background at each m/z, and the linearity of each (R^2, residuals) over the dilutions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import bluesky.plan_stubs as bps

from labctl.plans.checks import PlanValues
from labctl.plans.decorator import MsgGenerator, plan
from labctl.plans.params import (
    Clock,
    FlowController,
    MassSpectrometer,
    ParameterError,
    QuantityLike,
    Seconds,
    Text,
    Unit,
    Valve,
)
from labctl.plans.stubs.calibration import check_standard, purge_standard, sample_standard, split, standard_of
from labctl.plans.stubs.gas import filament_on
from labctl.plans.stubs.valve import check_positions

__all__ = ["ms_calibration"]

Dilutions = Annotated[Sequence[QuantityLike], Unit("dimensionless", min=0.0, max=0.9)]


def _check(v: PlanValues) -> None:
    if len(set(v.dilutions)) < 3 or sum(1 for d in set(v.dilutions) if d > 0) < 2:
        raise ParameterError(f"dilutions={v.given('dilutions')!r}: give at least two dilutions above 0 and a "
                             "zero (the background), e.g. [0, 0.1, 0.2, 0.4]")
    check_standard(v.instrument("ms"), v.instrument("mfc"), v.instrument("std_mfc"), v.carrier,
                   [split(v.total_flow, d) for d in v.dilutions])
    if v.valve is not None:
        check_positions(v.instrument("valve"), "sealed")


def _md(v: PlanValues) -> dict:
    standard = standard_of(v.std_mfc)
    return {"calibration_standard": standard, "carrier": v.carrier,
            "calibration_flows": {"carrier": v.mfc.name, "standard": v.std_mfc.name},
            "calibration_ms": v.ms.name, "calibration_masses": dict(getattr(v.ms, "gases", {}) or {}),
            "dilutions": list(v.dilutions)}


def _cleanup(v: PlanValues) -> MsgGenerator:
    yield from bps.mv(v.std_mfc, 0.0)


@plan(check=_check, metadata=_md, cleanup=_cleanup)
def ms_calibration(
        ms: MassSpectrometer, mfc: FlowController, std_mfc: FlowController, clock: Clock,
        valve: Valve | None = None,
        dilutions: Dilutions = (0.0, 0.05, 0.1, 0.2, 0.4),
        total_flow: Annotated[QuantityLike, Unit("mL/min", min=0.0, min_inclusive=False)] = "1 mL/min",
        hold: Seconds = "4 min", duration: Seconds = "3 min", period: Seconds = "5 s",
        carrier: Annotated[str, Text()] = "Ar", md: dict | None = None) -> MsgGenerator:
    """Calibrate *ms* with the certified standard on *std_mfc* (the profile's ``options.standard``), diluted in
    the carrier from *mfc* at each of *dilutions* (standard flow / total flow, 0 giving the background):
    sweep the line for *hold*, then record *duration* into the stream ``calibration``; then the carrier alone
    sweeps the standard out of the line. The vessel on the gas
    port is kept sealed off (*valve* "sealed"). The fit is ``labctl.analysis.calibration.fit(run)``.
    """
    if valve is not None:
        yield from bps.mv(valve, "sealed")
    yield from filament_on(ms)
    for dilution in dilutions:
        yield from sample_standard(ms, clock, mfc, std_mfc, dilution=dilution, total_flow=total_flow, hold=hold,
                                   duration=duration, period=period, stream="calibration")
    yield from purge_standard(clock, mfc, std_mfc, carrier_flow=total_flow, period=period)
