"""Valve building blocks: a move recorded with lab time, the MS stream selector turned to a line, and the
positions a plan needs."""

from __future__ import annotations

import bluesky.plan_stubs as bps
from bluesky.protocols import Movable, Readable

from labctl.plans.checks import describe
from labctl.plans.params import ParameterError


def check_positions(valve, *names: str) -> None:
    """ParameterError unless *valve* (a device or its description) has every position in *names*."""
    known = describe(valve).position_names
    for name in names:
        if known is not None and name not in known:
            raise ParameterError(f"{valve.name} has no position {name!r} (it has {list(known)})")


def move_valve(valve: Movable, clock: Readable, position: str, *, stream: str = "valve"):
    """Move *valve* to *position* and record where it is, with the lab clock, in *stream*."""
    yield from bps.mv(valve, position)
    yield from bps.trigger_and_read([valve, clock], name=stream)


def select_stream(selector: Movable, port: str, clock: Readable | None = None, *, stream: str = "selector"):
    """Turn the MS stream *selector* to the line named *port*; with *clock*, record where it is in *stream*.

    The status is done once the actuator reads the port back, but the MS gets the new line's gas only after
    the selector's outlet has been swept (dead volume / flow): wait that out, or watch the gas settle, before
    reading the MS.
    """
    check_positions(selector, port)
    yield from bps.mv(selector, port)
    if clock is not None:
        yield from bps.trigger_and_read([selector, clock], name=stream)
