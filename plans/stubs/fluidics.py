"""Flow building blocks: set a pump going and hold a flow for a lab-time span while recording it.

They open no run, so bigger experiments (liquid-cell TEM imaging, titration) can put them in their own
runs. Readings go to a named stream with the lab clock in every event, so flow and time line up.
"""

from __future__ import annotations

import bluesky.plan_stubs as bps
from bluesky.protocols import Movable, Readable

from labctl.devices.errors import LimitError
from labctl.devices.units import magnitude
from labctl.plans.checks import describe
from labctl.plans.stubs.time import wait


def set_flow(pump: Movable, rate, *, direction: str | None = None):
    """Pump at *rate* (``"240 uL/h"``, a quantity, or µL/h); *direction* "infuse"/"withdraw" overrides the
    sign of the rate. 0 stops. Limits are checked by the pump before anything moves."""
    uL_h = signed_rate(rate, direction)
    check = getattr(pump, "check_rate", None)
    if check is not None:
        check(uL_h)
    yield from bps.mv(pump, uL_h)


def signed_rate(rate, direction: str | None = None) -> float:
    """µL/h, negative for withdrawal; with a *direction* the rate must not be negative (it would say the
    opposite of the direction)."""
    uL_h = magnitude(rate, "uL/h", name="rate")
    if direction is None:
        return uL_h
    if direction not in ("infuse", "withdraw"):
        raise ValueError(f"direction must be 'infuse' or 'withdraw', not {direction!r}")
    if uL_h < 0:
        raise ValueError(f"rate={rate!r} is negative while direction={direction!r} says which way: "
                         "give a positive rate")
    return uL_h if direction == "infuse" else -uL_h


def check_rates(pump, *rates: float) -> None:
    """Refuse any rate (µL/h, either sign; 0 stops) outside what *pump* (a device or its description) allows."""
    known = describe(pump).rate_range_uL_h
    if known is None:
        return
    lo, hi = known
    for rate in rates:
        if rate != 0 and not lo <= abs(rate) <= hi:
            raise LimitError(f"{pump.name}: rate {abs(rate):g} uL/h is outside {lo:.4g}-{hi:.4g} uL/h")


def flow_segment(pump: Movable, clock: Movable, rate, duration, *, direction: str | None = None,
                 read_every="1 min", stream: str = "fluidics", readables: tuple[Readable, ...] = ()):
    """Pump at *rate* for *duration* of lab time, reading pump, clock and *readables* into *stream* at the
    start, every *read_every* and at the end. The pump is left running (the caller decides what comes next);
    a pause takes effect before the next reading period, and the pump keeps its flow meanwhile."""
    seconds = magnitude(duration, "s", name="duration")
    period = magnitude(read_every, "s", name="read_every")
    if not seconds >= 0:
        raise ValueError(f"duration={duration!r} must not be negative")
    if not period > 0:
        raise ValueError(f"read_every={read_every!r} must be positive")
    devices = [pump, clock, *readables]
    yield from set_flow(pump, rate, direction=direction)
    yield from bps.trigger_and_read(devices, name=stream)
    left = seconds
    while left > 1e-9:
        step = min(period, left)
        yield from bps.checkpoint()   # a pause (Ctrl-C) takes effect within one reading period
        yield from wait(clock, step)
        left -= step
        yield from bps.trigger_and_read(devices, name=stream)
