"""Gas-analysis plans: record the mass spectrometer (with the carrier flow) and wait for a clean baseline
before a titration or a DEMS release.

The MS's filament is switched on if it was off and switched off again at the end (whatever the exit), so
the plans leave the instrument as they found it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Annotated

import bluesky.plan_stubs as bps
from bluesky.protocols import Readable

from labctl.plans.checks import PlanValues
from labctl.plans.decorator import MsgGenerator, attempt, finalize_keeping_fault, plan
from labctl.plans.params import (
    Clock,
    Fraction,
    Fractions,
    Instrument,
    MassSpectrometer,
    OptionalSeconds,
    ParameterError,
    QuantityLike,
    Seconds,
)
from labctl.plans.stubs.gas import BaselineTimeout, check_watched, filament_on, record, settle

__all__ = ["ms_monitor", "wait_for_baseline", "BaselineTimeout"]

Extra = Annotated[Sequence[Readable], Instrument(description="more readables in every event (e.g. the MFC)")]
#: what "no D2, O2, CO2" means without thresholds: a chamber's residual CO2 sits near 1e-4 of the carrier
DEFAULT_THRESHOLDS = {"D2": 1e-4, "O2": 5e-4, "CO2": 5e-4}


def restoring_filament(ms, body):
    """Run *body* with the filament on; switch it off afterwards if this plan switched it on."""
    state = {"was_on": True}

    def inner():
        state["was_on"] = yield from filament_on(ms)
        return (yield from body)

    def cleanup():
        errors: list = []
        if not state["was_on"]:
            yield from attempt(bps.mv(ms.filament, "off"), f"switching {ms.name}'s filament off", errors)
        return errors

    return finalize_keeping_fault(inner(), cleanup)


def _check_monitor(v: PlanValues) -> None:
    if v.duration is None and v.until is None:
        raise ParameterError("ms_monitor: give a duration, a condition (until) or both")
    if v.until is not None and not callable(v.until):
        raise ParameterError(f"until={v.until!r} is not callable")


@plan(check=_check_monitor)
def ms_monitor(ms: MassSpectrometer, clock: Clock, duration: OptionalSeconds = None,
               until: Callable[[dict], bool] | None = None, period: Seconds = "1 s",
               extra: Extra = (), md: dict | None = None) -> MsgGenerator:
    """Record *ms*, the lab clock and *extra* readables (e.g. the MFC) every *period* until *duration* of lab
    time has passed or ``until(last reading)`` is true (it receives ``{data key: value}``, e.g.
    ``lambda r: r["ms_fraction_CO2"] < 1e-4``). One run, stream ``primary``.
    """
    return (yield from restoring_filament(ms, record(ms, clock, duration=duration, until=until, period=period,
                                                     extra=list(extra))))


def _check_baseline(v: PlanValues) -> None:
    ms = v.instrument("ms")
    for gas in v.thresholds or DEFAULT_THRESHOLDS:
        check_watched(ms, gas)
    if v.carrier is not None:
        try:
            check_watched(ms, v.carrier)
        except ParameterError as exc:
            raise ParameterError(f"carrier={v.carrier!r}: {exc}") from None
    if v.hold > v.timeout:
        raise ParameterError(f"hold={v.given('hold')!r} is longer than timeout={v.given('timeout')!r}: the "
                             "baseline could never pass")


@plan(check=_check_baseline, metadata=lambda v: {"plan_args": {"thresholds": v.thresholds or DEFAULT_THRESHOLDS}})
def wait_for_baseline(ms: MassSpectrometer, clock: Clock,
                      thresholds: Annotated[Mapping[str, QuantityLike] | None, Fractions()] = None,
                      carrier: str | None = "Ar", carrier_min: Fraction = 0.99, hold: Seconds = "5 min",
                      timeout: Seconds = "2 h", period: Seconds = "10 s", extra: Extra = (),
                      md: dict | None = None) -> MsgGenerator:
    """Record until every gas in *thresholds* (fractions of the watched total: ``{"D2": 1e-4, "O2": "100
    ppm", "CO2": 1e-4}``) stays below its threshold and the *carrier* stays at or above *carrier_min* for
    *hold*; raises :class:`BaselineTimeout` naming what was still out of bounds after *timeout*.
    Without *thresholds*: D2 1e-4, O2 and CO2 5e-4. One run, stream ``primary``.
    """
    return (yield from restoring_filament(ms, settle(
        ms, clock, thresholds=thresholds or DEFAULT_THRESHOLDS, carrier=carrier, carrier_min=carrier_min, hold=hold,
        timeout=timeout, period=period, extra=list(extra))))
