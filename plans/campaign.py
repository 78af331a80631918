"""The founding paper's coin-cell campaign: per electrolyte a cycle and a titration, impedance, CE cycling."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated

from labctl.plans.checks import PlanValues, check_plan
from labctl.plans.decorator import MsgGenerator, plan
from labctl.plans.electrochem import eis, galvanostatic_cycles
from labctl.plans.params import (
    Clock,
    Count,
    Flag,
    FlowController,
    MassSpectrometer,
    Operator,
    ParameterError,
    Potentiostat,
    QuantityLike,
    Seconds,
    SyringePump,
    Text,
    Unit,
    Valve,
)
from labctl.plans.stubs.electrochem import electrode_area
from labctl.plans.stubs.operator import with_checkpoint
from labctl.plans.titration import online_ms_titration

__all__ = ["coin_cell_campaign"]

#: online_ms_titration parameters the campaign sets for each cell, so a ``titration`` dict may not
CAMPAIGN_SETS = {"cell", "electrolyte", "md", "blank", "valve", "d2o_pump"}


def _check(v: PlanValues) -> None:
    """Every run's checks up front, so a bad titration setting is refused before the first cell is cycled."""
    if v.titration is not None and not isinstance(v.titration, Mapping):
        raise ParameterError(f"titration={v.titration!r}: give a dict of online_ms_titration parameters")
    titration = dict(v.titration or {})
    ours = sorted(set(titration) & CAMPAIGN_SETS)
    if ours:
        raise ParameterError(f"titration sets {', '.join(ours)}, which the campaign sets itself per cell; "
                             f"leave {'them' if len(ours) > 1 else 'it'} out")
    electrochem = {"pstat": v.pstat, "clock": v.clock}
    check_plan(galvanostatic_cycles, {**electrochem, "cycles": v.ce_cycles, "record_dt": v.record_dt}, v.instruments)
    check_plan(online_ms_titration, {"ms": v.ms, "mfc": v.mfc, "clock": v.clock, "operator": v.operator,
                                     "valve": v.valve, "d2o_pump": v.d2o_pump, **titration}, v.instruments)
    check_plan(eis, {**electrochem, "f_stop": v.eis_f_stop}, v.instruments)


@plan(check=_check, opens_run=False)
def coin_cell_campaign(
        pstat: Potentiostat, ms: MassSpectrometer, mfc: FlowController, clock: Clock, operator: Operator,
        valve: Valve | None = None, d2o_pump: SyringePump | None = None,
        electrolytes: Annotated[Sequence[str], Text()] = ("ecdmc", "ecdmc_vc", "ecdmc_fec", "dme"),
        cell: str = "coin", ce_cycles: Annotated[int, Count(min=1)] = 10, blank: Annotated[bool, Flag()] = True,
        record_dt: Seconds = "10 s",
        eis_f_stop: Annotated[QuantityLike, Unit("Hz", min=0.0, min_inclusive=False)] = "0.1 Hz",
        titration: dict | None = None, md: dict | None = None) -> MsgGenerator:
    """For each electrolyte: one plating/stripping cycle then a D2O titration of the electrode; a fresh
    cell's impedance spectrum, then that cell cycled ``ce_cycles`` times for CE. With ``blank``, an
    uncycled cell is titrated as the control. One run per measurement, each tagged with ``electrolyte``,
    ``campaign`` and ``purpose``.
    """
    area = electrode_area(pstat)
    shared = {"campaign": "coin_cell_campaign", **(md or {})}
    titration = dict(titration or {})

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
