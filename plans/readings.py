"""Reading instruments at intervals of lab time: the plan for any lab, whatever its instruments."""

from __future__ import annotations

from typing import Annotated, Sequence

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
from bluesky.protocols import Movable, Readable

from labctl.plans.params import Count, QuantityLike, Unit, check_call
from labctl.plans.stubs.time import wait

__all__ = ["readings"]


def readings(clock: Movable, detectors: Sequence[Readable] = (), num: Annotated[int, Count(min=1)] = 5,
             period: Annotated[QuantityLike, Unit("s", min=0, description="lab time between readings")] = 60,
             md: dict | None = None):
    """Read the lab clock and *detectors* *num* times, *period* of lab time apart, in one run."""
    period_s = check_call(readings, (clock, detectors, num, period))["period"]
    readers = [clock, *(d for d in detectors if d is not clock)]
    run_md = {"plan_name": "readings", "num_points": num, "plan_args": {"num": num, "period_s": period_s},
              "detectors": [d.name for d in readers], **(md or {})}

    @bpp.run_decorator(md=run_md)
    def inner():
        for i in range(num):
            yield from bps.trigger_and_read(readers)
            if i + 1 < num:
                yield from wait(clock, period_s)

    return (yield from inner())
