"""Gas-analysis plans: record the mass spectrometer (with the carrier flow) and wait for a clean baseline
before a titration or a DEMS release.

The MS's filament is switched on if it was off and switched off again at the end (whatever the exit), so
the plans leave the instrument as they found it.
"""

from __future__ import annotations

from typing import Annotated, Callable, Mapping, Sequence

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
from bluesky.protocols import Movable, Readable

from labctl.devices.units import UnitError, magnitude

from labctl.plans.params import ParameterError, QuantityLike, Unit, check_call
from labctl.plans.stubs.gas import BaselineTimeout, fraction_key, filament_on, record, settle

__all__ = ["ms_monitor", "wait_for_baseline", "BaselineTimeout"]

Seconds = Annotated[QuantityLike, Unit("s", min=0, min_inclusive=False)]
OptionalSeconds = Annotated[QuantityLike | None, Unit("s", min=0, min_inclusive=False)]
Fraction = Annotated[QuantityLike, Unit("dimensionless", min=0, max=1)]


def _readables(extra) -> list:
    extra = list(extra or ())
    for obj in extra:
        if not hasattr(obj, "read") or not hasattr(obj, "describe"):
            raise ParameterError(f"extra: {obj!r} is not a readable device")
    return extra


def _restoring_filament(ms, body):
    """Run *body* with the filament on; switch it off afterwards if this plan switched it on."""
    state = {"was_on": True}

    def inner():
        state["was_on"] = yield from filament_on(ms)
        return (yield from body)

    def cleanup():
        if not state["was_on"]:
            yield from bps.mv(ms.filament, "off")

    return bpp.finalize_wrapper(inner(), cleanup())


def ms_monitor(ms: Readable, clock: Movable, duration: OptionalSeconds = None,
               until: Callable[[dict], bool] | None = None, period: Seconds = "1 s",
               extra: Sequence[Readable] = (), md: dict | None = None):
    """Record *ms*, the lab clock and *extra* readables (e.g. the MFC) every *period* until *duration* of lab
    time has passed or ``until(last reading)`` is true (it receives ``{data key: value}``, e.g.
    ``lambda r: r["ms_fraction_CO2"] < 1e-4``). One run, stream ``primary``.
    """
    args = check_call(ms_monitor, (ms, clock), {"duration": duration, "until": until, "period": period,
                                                "extra": extra})
    if args["duration"] is None and until is None:
        raise ParameterError("ms_monitor: give a duration, a condition (until) or both")
    if until is not None and not callable(until):
        raise ParameterError(f"until={until!r} is not callable")
    readables = _readables(extra)
    metadata = {
        "plan_name": "ms_monitor",
        "plan_args": {"ms": ms.name, "clock": clock.name, "period": f"{args['period']:g} s",
                      "duration": None if args["duration"] is None else f"{args['duration']:g} s",
                      "until": None if until is None else getattr(until, "__name__", repr(until)),
                      "extra": [r.name for r in readables]},
        "detectors": [ms.name, clock.name, *(r.name for r in readables)],
        **(md or {}),
    }

    @bpp.run_decorator(md=metadata)
    def body():
        return (yield from record(ms, clock, duration=args["duration"], until=until, period=args["period"],
                                  extra=readables))

    return (yield from _restoring_filament(ms, body()))


def _thresholds(ms, thresholds: Mapping) -> dict[str, float]:
    if not isinstance(thresholds, Mapping) or not thresholds:
        raise ParameterError(f"thresholds={thresholds!r}: give {{gas: fraction}}, e.g. {{'D2': 1e-4}}")
    out = {}
    for gas, value in thresholds.items():
        try:
            fraction = magnitude(value, "dimensionless", name=f"thresholds[{gas!r}]")
        except UnitError as exc:
            raise ParameterError(str(exc)) from None
        if not 0 < fraction <= 1:
            raise ParameterError(f"thresholds[{gas!r}]={value!r} must be a fraction in (0, 1]")
        try:
            fraction_key(ms, gas)
        except ValueError as exc:
            raise ParameterError(str(exc)) from None
        out[str(gas)] = fraction
    return out


def wait_for_baseline(ms: Readable, clock: Movable,
                      thresholds: Mapping[str, QuantityLike] | None = None, carrier: str | None = "Ar",
                      carrier_min: Fraction = 0.99, hold: Seconds = "5 min", timeout: Seconds = "2 h",
                      period: Seconds = "10 s", extra: Sequence[Readable] = (), md: dict | None = None):
    """Record until every gas in *thresholds* (fractions of the watched total: ``{"D2": 1e-4, "O2": "100
    ppm", "CO2": 1e-4}``) stays below its threshold and the *carrier* stays at or above *carrier_min* for
    *hold*; raises :class:`BaselineTimeout` naming what was still out of bounds after *timeout*.
    Without *thresholds*: D2 1e-4, O2 and CO2 5e-4 (a chamber's residual CO2 sits near 1e-4 of the carrier).
    One run, stream ``primary``.
    """
    thresholds = {"D2": 1e-4, "O2": 5e-4, "CO2": 5e-4} if thresholds is None else thresholds
    args = check_call(wait_for_baseline, (ms, clock),
                      {"thresholds": thresholds, "carrier": carrier, "carrier_min": carrier_min, "hold": hold,
                       "timeout": timeout, "period": period, "extra": extra})
    limits = _thresholds(ms, thresholds)
    if carrier is not None:
        try:
            fraction_key(ms, carrier)
        except ValueError as exc:
            raise ParameterError(str(exc)) from None
    if args["hold"] > args["timeout"]:
        raise ParameterError(f"hold={hold!r} is longer than timeout={timeout!r}: the baseline could never pass")
    readables = _readables(extra)
    metadata = {
        "plan_name": "wait_for_baseline",
        "plan_args": {"ms": ms.name, "clock": clock.name, "thresholds": limits, "carrier": carrier,
                      "carrier_min": args["carrier_min"], "hold": f"{args['hold']:g} s",
                      "timeout": f"{args['timeout']:g} s", "period": f"{args['period']:g} s",
                      "extra": [r.name for r in readables]},
        "detectors": [ms.name, clock.name, *(r.name for r in readables)],
        **(md or {}),
    }

    @bpp.run_decorator(md=metadata)
    def body():
        return (yield from settle(ms, clock, thresholds=limits, carrier=carrier, carrier_min=args["carrier_min"],
                                  hold=args["hold"], timeout=args["timeout"], period=args["period"],
                                  extra=readables))

    return (yield from _restoring_filament(ms, body()))
