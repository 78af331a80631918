"""Sampling a certified gas standard diluted in the carrier: the building block of MS calibrations and checks.

The standard's MFC joins the line after the isolation valve, so the MS sees the standard at the dilution
``standard flow / (carrier flow + standard flow)``, once the line has been swept to steady state. Opens no run.
"""

from __future__ import annotations

from collections.abc import Iterable

import bluesky.plan_stubs as bps
from bluesky.protocols import Movable, Readable

from labctl.plans.checks import describe
from labctl.plans.params import ParameterError
from labctl.plans.stubs.gas import check_setpoint, check_watched, record
from labctl.plans.stubs.time import wait


def standard_of(std_mfc) -> dict:
    """The certified standard on *std_mfc* (a device or its description), as the profile declares it; a
    :class:`ParameterError` if the profile names none."""
    standard = (describe(std_mfc).options or {}).get("standard")
    if not standard:
        raise ParameterError(f"{std_mfc.name} meters no gas standard: its profile entry needs options.standard "
                             "= {cylinder, composition, uncertainty_rel}")
    return dict(standard)


def check_standard(ms, carrier_mfc, std_mfc, carrier: str, flows: Iterable[tuple[float, float]]) -> dict:
    """Everything a standard's sampling needs, checked before anything moves: the MS watches the carrier and
    the standard's gases (those it does not watch are left out), and every (carrier, standard) flow pair is
    within both MFCs' limits. Returns the standard."""
    standard = standard_of(std_mfc)
    if standard.get("balance", "Ar") != carrier:
        raise ParameterError(f"{std_mfc.name}'s standard {standard['cylinder']} is balanced in "
                             f"{standard.get('balance')}, not in the carrier {carrier}")
    check_watched(ms, carrier)
    gases = describe(ms).gases
    if gases is not None and not set(standard["composition"]) & set(gases):
        raise ParameterError(f"{ms.name} watches none of the gases of standard {standard['cylinder']} "
                             f"({', '.join(standard['composition'])})")
    for carrier_flow, std_flow in flows:
        check_setpoint(carrier_mfc, carrier_flow)
        check_setpoint(std_mfc, std_flow)
    return standard


def split(total_mL_min: float, dilution: float) -> tuple[float, float]:
    """(carrier, standard) flows giving *dilution* of the standard in *total_mL_min*."""
    return total_mL_min * (1.0 - dilution), total_mL_min * dilution


def sample_standard(ms: Readable, clock: Movable, carrier_mfc: Movable, std_mfc: Movable, *, dilution: float,
                    total_flow: float, hold: float, duration: float, period: float, stream: str,
                    extra: Iterable[Readable] = ()):
    """Set the two flows for *dilution*, sweep the line for *hold* lab s, then record *duration* s into
    *stream* (MS, clock, both MFCs and *extra* in every event)."""
    carrier_flow, std_flow = split(total_flow, dilution)
    yield from bps.mv(carrier_mfc, carrier_flow, std_mfc, std_flow)
    yield from wait(clock, hold, every=period)   # a pause takes effect within one period here too
    yield from record(ms, clock, duration=duration, period=period, extra=[carrier_mfc, std_mfc, *extra],
                      stream=stream)


#: lab s of carrier alone that sweep the standard out of the line (about seven line volumes at 1 mL/min), so
#: the next measurement's baseline does not start on the standard's tail
PURGE_S = 180.0


def purge_standard(clock: Movable, carrier_mfc: Movable, std_mfc: Movable, *, carrier_flow: float,
                   purge: float = PURGE_S, period: float | None = None):
    """Standard off, carrier back at *carrier_flow*, and the line swept clean for *purge* lab s (a pause taking
    effect within one *period*)."""
    yield from bps.mv(std_mfc, 0.0, carrier_mfc, carrier_flow)
    yield from wait(clock, purge, every=period)
