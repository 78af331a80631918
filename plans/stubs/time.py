"""Waiting in lab time."""

from __future__ import annotations

import bluesky.plan_stubs as bps
from bluesky.protocols import Movable


def wait(clock: Movable, seconds: float):
    """Wait *seconds* of lab time on the lab clock (wall time on hardware, simulated time in the sim lab)."""
    if not seconds >= 0:
        raise ValueError(f"cannot wait {seconds!r} s")
    if seconds:
        yield from bps.mv(clock, float(seconds))
