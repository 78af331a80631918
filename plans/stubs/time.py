"""Waiting in lab time."""

from __future__ import annotations

import bluesky.plan_stubs as bps
from bluesky.protocols import Movable


def wait(clock: Movable, seconds: float, *, every: float | None = None):
    """Wait *seconds* of lab time on the lab clock (wall time on hardware, simulated time in the sim lab).

    With *every*, in steps of at most that long, each after a checkpoint, so a pause (Ctrl-C) during a long
    wait (a line swept before a measurement) takes effect within one step rather than at its end.
    """
    if not seconds >= 0:
        raise ValueError(f"cannot wait {seconds!r} s")
    if every is not None and not every > 0:
        raise ValueError(f"every={every!r} must be a positive number of seconds")
    left = float(seconds)
    while left > 1e-9:
        step = left if every is None else min(every, left)
        if every is not None:
            yield from bps.checkpoint()
        yield from bps.mv(clock, step)
        left -= step
