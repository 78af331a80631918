"""Fluidics plans: timed flow schedules on a syringe pump (e.g. the liquid-cell flush and electrolyte feed:
40 min at 240 µL/h, then 120 µL/h while imaging)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from labctl.devices.units import UnitError, magnitude
from labctl.plans.checks import PlanValues
from labctl.plans.decorator import MsgGenerator, plan
from labctl.plans.params import Choice, Clock, ParameterError, QuantityLike, Seconds, SyringePump
from labctl.plans.stubs.fluidics import check_rates, flow_segment

__all__ = ["flow_schedule"]


@dataclass(frozen=True)
class Segments:
    """``[(rate, duration), ...]``: positive rates (the plan's direction says which way) and durations."""

    description: str = "(rate, duration) pairs, e.g. [('240 uL/h', '40 min')]"
    unit = None
    whole = True

    def allowed(self) -> str:
        return "a list of (rate, duration) pairs with positive rates and durations"

    def convert(self, name: str, value: Any) -> list[tuple[float, float]]:
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value:
            raise ParameterError(f"{name}={value!r}: give {self.allowed()}")
        out = []
        for i, segment in enumerate(value):
            if isinstance(segment, (str, bytes)) or not isinstance(segment, Sequence) or len(segment) != 2:
                raise ParameterError(f"{name}[{i}]={segment!r}: expected (rate, duration)")
            try:
                uL_h = magnitude(segment[0], "uL/h", name=f"{name}[{i}] rate")
                seconds = magnitude(segment[1], "s", name=f"{name}[{i}] duration")
            except UnitError as exc:
                raise ParameterError(str(exc)) from None
            if not (uL_h > 0 and seconds > 0) or uL_h == float("inf") or seconds == float("inf"):
                raise ParameterError(f"{name}[{i}]={segment!r}: rate and duration must be positive and finite "
                                     "(direction says infuse or withdraw)")
            out.append((uL_h, seconds))
        return out


def _check(v: PlanValues) -> None:
    check_rates(v.instrument("pump"), *(rate for rate, _ in v.segments))


def _md(v: PlanValues) -> dict:
    return {"plan_args": {"segments": [[f"{r:g} uL/h", f"{s:g} s"] for r, s in v.segments]},
            "total_volume_uL": sum(r * s / 3600 for r, s in v.segments)}


@plan(check=_check, metadata=_md)
def flow_schedule(pump: SyringePump, clock: Clock,
                  segments: Annotated[Sequence[tuple[QuantityLike, QuantityLike]], Segments()],
                  direction: Annotated[str, Choice("infuse", "withdraw")] = "infuse",
                  read_every: Seconds = "1 min", md: dict | None = None) -> MsgGenerator:
    """Run *pump* through *segments* ``[("240 uL/h", "40 min"), ("120 uL/h", "1 h")]`` in lab time.

    One run, stream ``primary``: rate, dispensed volume, pump status and the lab clock at the start of each
    segment, every *read_every* and at the end. The pump is stopped on any exit, error or abort included.
    """
    for rate, seconds in segments:
        yield from flow_segment(pump, clock, rate, seconds, direction=direction, read_every=read_every,
                                stream="primary")
