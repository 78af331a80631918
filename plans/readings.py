"""Reading instruments: at intervals of lab time (any lab, whatever its instruments), or bluesky's count."""

from __future__ import annotations

from typing import Annotated

import bluesky.plan_stubs as bps
import bluesky.plans as bp

from labctl.plans.decorator import MsgGenerator, plan
from labctl.plans.params import Clock, Count, Detectors, QuantityLike, Unit
from labctl.plans.stubs.time import wait

__all__ = ["count", "readings"]

Delay = Annotated[QuantityLike, Unit("s", min=0, description="time between readings")]


@plan(metadata=lambda v: {"num_points": v.num})
def readings(clock: Clock, detectors: Detectors = (), num: Annotated[int, Count(min=1)] = 5,
             period: Annotated[QuantityLike, Unit("s", min=0, description="lab time between readings")] = 60,
             md: dict | None = None) -> MsgGenerator:
    """Read the lab clock and *detectors* *num* times, *period* of lab time apart, in one run."""
    readers = [clock, *(d for d in detectors if d is not clock)]
    for i in range(num):
        yield from bps.trigger_and_read(readers)
        if i + 1 < num:
            yield from bps.checkpoint()   # a pause (Ctrl-C) takes effect within one period
            yield from wait(clock, period)


@plan(opens_run=False)
def count(detectors: Detectors, num: Annotated[int | None, Count(min=1)] = 1, delay: Delay = 0,
          md: dict | None = None) -> MsgGenerator:
    """Read *detectors* *num* times (bluesky's count: *delay* wall-clock seconds apart; ``num=None``: until
    stopped)."""
    return (yield from bp.count(detectors, num, delay, md=md))
