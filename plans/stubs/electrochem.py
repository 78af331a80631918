"""Running one potentiostat technique inside any run, into a stream the caller names.

``run_technique`` loads the technique (checked against the instrument's limits first), switches the cell on,
and streams the rows the instrument records into ``stream``; whatever happens, the cell is left at open
circuit and the rows recorded up to then are collected. It returns a summary the caller can compute with
(the charge passed, why the technique ended), which is how the cycling plans get coulombic efficiencies
from the data as they arrive.
"""

from __future__ import annotations

import bluesky.plan_stubs as bps
from bluesky.preprocessors import finalize_wrapper
from bluesky.protocols import Flyable, Movable
from ophyd import Component as Cpt
from ophyd import Device

from labctl.devices.signals import Signal

from .time import wait

__all__ = ["run_technique", "validate_all", "CycleLog"]


def validate_all(pstat, techniques) -> None:
    """Check every technique against the instrument's limits before anything moves (raises LimitError)."""
    limits = getattr(pstat, "limits", {}) or {}
    for technique in techniques:
        technique.validate(limits)


def _summary(pages, ended_by, prefix: str) -> dict:
    rows = 0
    last: dict = {}
    for page in pages or ():
        data = page["data"]
        n = len(next(iter(data.values()), ()))
        if n:
            rows += n
            last = {k[len(prefix) + 1:]: v[-1] for k, v in data.items()}
    return {"rows": rows, "last": last, "ended_by": ended_by}


def run_technique(pstat: Flyable, clock: Movable, technique, stream: str, *, poll: float | None = None,
                  declared: set[str] | None = None):
    """Run ``technique`` on ``pstat`` and emit its rows as the ``stream`` event stream.

    ``poll`` (lab seconds) streams rows while the technique runs; without it the rows are collected when
    it ends. ``declared`` is the caller's set of stream names already declared in this run (the stream is
    declared once, then reused). Returns ``{"rows", "last" (last row by column), "ended_by"}``.
    """
    validate_all(pstat, [technique])
    if poll is not None and not poll > 0:
        raise ValueError(f"poll must be a positive number of seconds, got {poll!r}")
    target = pstat.spectrum if getattr(technique, "impedance", False) else pstat
    state = {"started": False, "pages": []}

    def body():
        yield from bps.prepare(pstat, technique, wait=True)
        if declared is None or stream not in declared:
            yield from bps.declare_stream(target, name=stream, collect=True)
            if declared is not None:
                declared.add(stream)
        state["started"] = True
        yield from bps.kickoff(target, wait=True)
        if poll is None:
            yield from bps.complete(target, wait=True)
        else:
            group = f"{stream}-complete-{id(state)}"
            status = yield from bps.complete(target, wait=False, group=group)
            while not status.done:
                yield from wait(clock, poll)
                state["pages"] += (yield from bps.collect(target, name=stream)) or []
            yield from bps.wait(group=group)
        state["pages"] += (yield from bps.collect(target, name=stream)) or []

    def cleanup():
        yield from bps.stop(pstat)
        if state["started"]:  # keep what was recorded up to the stop
            state["pages"] += (yield from bps.collect(target, name=stream)) or []

    yield from finalize_wrapper(body(), cleanup())
    return _summary(state["pages"], pstat.ended_by, target.name)


class CycleLog(Device):
    """Per-cycle summary of galvanostatic cycling, read into its own stream (CE is the hinted field)."""

    cycle = Cpt(Signal, value=0, kind="normal")
    current_density = Cpt(Signal, value=0.0, units="mA/cm^2", kind="normal")
    plated_charge = Cpt(Signal, value=0.0, units="C", kind="normal")
    stripped_charge = Cpt(Signal, value=0.0, units="C", kind="normal")
    plated_capacity = Cpt(Signal, value=0.0, units="mAh/cm^2", kind="normal")
    stripped_capacity = Cpt(Signal, value=0.0, units="mAh/cm^2", kind="normal")
    ce = Cpt(Signal, value=0.0, units="%", kind="hinted")

    def record(self, *, cycle: int, current_density: float, plated_C: float, stripped_C: float,
               area_cm2: float) -> float:
        """Store one cycle; returns its coulombic efficiency in %."""
        ce = 100.0 * stripped_C / plated_C if plated_C > 0 else float("nan")
        to_mAh_cm2 = 1.0 / 3.6 / area_cm2   # C -> mAh, per cm^2
        self.cycle.put(int(cycle))
        self.current_density.put(float(current_density))
        self.plated_charge.put(float(plated_C))
        self.stripped_charge.put(float(stripped_C))
        self.plated_capacity.put(float(plated_C) * to_mAh_cm2)
        self.stripped_capacity.put(float(stripped_C) * to_mAh_cm2)
        self.ce.put(ce)
        return ce
