"""Fluidics plans: timed flow schedules on a syringe pump (e.g. the liquid-cell flush and electrolyte feed:
40 min at 240 µL/h, then 120 µL/h while imaging)."""

from __future__ import annotations

from typing import Annotated, Sequence

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
from bluesky.protocols import Movable

from labctl.devices.units import UnitError, magnitude

from labctl.plans.params import ParameterError, QuantityLike, Unit
from labctl.plans.stubs.fluidics import flow_segment, signed_rate

__all__ = ["flow_schedule"]


def _segments(pump, segments, direction: str) -> list[tuple[float, float]]:
    """Each (rate, duration) as (signed µL/h, s), all checked before anything moves."""
    if direction not in ("infuse", "withdraw"):
        raise ParameterError(f"direction={direction!r}: choose 'infuse' or 'withdraw'")
    if isinstance(segments, (str, bytes)) or not segments:
        raise ParameterError(f"segments={segments!r}: give a list of (rate, duration) pairs")
    out = []
    for i, segment in enumerate(segments):
        try:
            rate, duration = segment
        except (TypeError, ValueError):
            raise ParameterError(f"segments[{i}]={segment!r}: expected (rate, duration)") from None
        try:
            uL_h = signed_rate(rate, direction)
            seconds = magnitude(duration, "s", name=f"segments[{i}] duration")
        except UnitError as exc:
            raise ParameterError(str(exc)) from None
        if uL_h == 0 or seconds <= 0:
            raise ParameterError(f"segments[{i}]={segment!r}: rate and duration must be positive")
        check = getattr(pump, "check_rate", None)
        if check is not None:
            check(uL_h)  # LimitError naming the allowed range
        out.append((uL_h, seconds))
    return out


def flow_schedule(pump: Movable, clock: Movable, segments: Sequence[tuple[QuantityLike, QuantityLike]],
                  direction: str = "infuse",
                  read_every: Annotated[QuantityLike, Unit("s", min=0, min_inclusive=False)] = "1 min",
                  md: dict | None = None):
    """Run *pump* through *segments* ``[("240 uL/h", "40 min"), ("120 uL/h", "1 h")]`` in lab time.

    One run, stream ``primary``: rate, dispensed volume, pump status and the lab clock at the start of each
    segment, every *read_every* and at the end. The pump is stopped on any exit, error or abort included.
    """
    plan = _segments(pump, segments, direction)
    period = Unit("s", min=0, min_inclusive=False).convert("read_every", read_every)
    metadata = {
        "plan_name": "flow_schedule",
        "plan_args": {"pump": pump.name, "clock": clock.name, "direction": direction,
                      "segments": [[f"{abs(r):g} uL/h", f"{s:g} s"] for r, s in plan],
                      "read_every": f"{period:g} s"},
        "detectors": [pump.name, clock.name],
        "total_volume_uL": sum(abs(r) * s / 3600 for r, s in plan),
        **(md or {}),
    }

    @bpp.run_decorator(md=metadata)
    def inner():
        for rate, seconds in plan:
            yield from flow_segment(pump, clock, rate, seconds, read_every=period, stream="primary")

    def cleanup():
        yield from bps.stop(pump)

    return (yield from bpp.finalize_wrapper(inner(), cleanup()))
