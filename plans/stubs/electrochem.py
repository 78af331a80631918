"""Running one potentiostat technique inside any run, into a stream the caller names.

``run_technique`` loads the technique (checked against the instrument's limits first), switches the cell on,
and streams the rows the instrument records into ``stream``; whatever happens, the cell is left at open
circuit and the rows recorded up to then are collected. It returns a summary the caller can compute with
(the charge passed, why the technique ended), which is how the cycling plans get coulombic efficiencies
from the data as they arrive.

A technique is never replayed: re-sending a half-done step would plate or strip twice (and the instrument
refuses to load a technique over a running one). The plan waits for a running technique to complete just
after a checkpoint, so labctl's RunEngine takes a deferred pause (one Ctrl-C) at once rather than at the
end of a ten-hour step (:meth:`labctl.engine.LabRunEngine.request_pause`). A pause, deferred or immediate,
during a technique leaves it running on the instrument, and resuming carries on collecting it where the
plan left off, while stopping or aborting the paused run switches the cell off and keeps the rows recorded
so far.
"""

from __future__ import annotations

import dataclasses

import bluesky.plan_stubs as bps
from bluesky.preprocessors import rewindable_wrapper
from bluesky.protocols import Flyable, Movable
from bluesky.utils import Msg

from labctl.devices.errors import LimitError
from labctl.devices.potentiostat.techniques import OCV, Galvanostatic, Reattach
from labctl.devices.records import CycleLog
from labctl.plans.checks import describe
from labctl.plans.decorator import attempt, finalize_keeping_fault, instrument_errors
from labctl.plans.params import ParameterError
from labctl.plans.stubs.time import wait

__all__ = ["run_technique", "summarize", "instrument_errors", "validate_all", "check_window", "CycleLog",
           "cycle_techniques", "cycle_block", "electrode_area", "check_plating_window", "PLATE_E_MIN"]

#: default plating cutoff (V vs the counter/reference): a Na||Cu cell far below this is shorted or dry
PLATE_E_MIN = -1.0
#: default stripping time limit as a multiple of that cycle's plating time: a Na||Cu cell cannot strip more
#: charge than it plated, so at the same current a strip still going after twice that time has failed
STRIP_TIME_FACTOR = 2.0
def electrode_area(pstat) -> float:
    """The electrode area (cm^2) of a potentiostat or its description; ParameterError unless positive."""
    area = getattr(pstat, "electrode_area_cm2", None)
    if area is None:
        area = describe(pstat).electrode_area_cm2
    if area is None or not area > 0:
        raise ParameterError(f"{pstat.name}: electrode_area must be positive, got {area} cm^2")
    return float(area)


def check_plating_window(pstat, strip_cutoff: float, plate_e_min: float | None) -> None:
    """Both cutoffs inside the instrument's window, and the plating cutoff below the stripping one."""
    check_window(pstat, strip_cutoff=strip_cutoff, plate_e_min=plate_e_min)
    if plate_e_min is not None and not plate_e_min < strip_cutoff:
        raise ParameterError(f"plate_e_min={plate_e_min:g} V is not below strip_cutoff={strip_cutoff:g} V: "
                             "give the lower cutoff below the upper one")


def check_window(pstat, **potentials) -> None:
    """Refuse a plan's potential (``strip_cutoff="12 V"`` as a float in V) outside the instrument's voltage
    window, naming the plan's parameter rather than the technique field it becomes. *pstat* is the device or
    its description."""
    window = (getattr(pstat, "limits", {}) or {}).get("voltage_V")
    if window is None:
        return
    lo, hi = float(window[0]), float(window[1])
    for name, value in potentials.items():
        if value is not None and not lo <= value <= hi:
            raise LimitError(f"{name}={value:g} V is outside {pstat.name}'s voltage window [{lo:g}, {hi:g}] V "
                             "(voltage_V limit of the instrument profile)")


def validate_all(pstat, techniques) -> None:
    """Check every technique against the instrument's limits before anything moves (raises LimitError).
    *pstat* is the device or its description."""
    limits = getattr(pstat, "limits", {}) or {}
    for technique in techniques:
        technique.validate(limits)


def summarize(pages, ended_by, prefix: str) -> dict:
    """Rows, last row by column (without the ``prefix_``) and why the technique ended, from collected pages."""
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
                  declared: set[str] | None = None, reattach: bool = False):
    """Run ``technique`` on ``pstat`` and emit its rows as the ``stream`` event stream.

    ``poll`` (lab seconds) streams rows while the technique runs, each look a checkpoint; without it the rows
    are collected when it ends. ``declared`` is the caller's set of stream names already declared in this run
    (the stream is declared once, then reused). With ``reattach`` the technique is taken up where the instrument
    still runs it (or holds its unread rows) after the computer that started it was gone, else started as usual.
    Returns ``{"rows", "last" (last row by column), "ended_by"}``.
    """
    validate_all(pstat, [technique])
    if poll is not None and not poll > 0:
        raise ValueError(f"poll must be a positive number of seconds, got {poll!r}")
    target = pstat.spectrum if getattr(technique, "impedance", False) else pstat
    state = {"started": False, "pages": []}

    def body():
        yield from bps.prepare(pstat, Reattach(technique) if reattach else technique, wait=True)
        if declared is None or stream not in declared:
            yield from bps.declare_stream(target, name=stream, collect=True)
            if declared is not None:
                declared.add(stream)
        state["started"] = True
        yield from bps.kickoff(target, wait=True)
        if poll is not None:  # lab time advances only through these waits, so rows stream at the pace asked
            while True:
                yield from bps.checkpoint()  # one Ctrl-C: paused here, the technique running on
                yield from wait(clock, poll)
                state["pages"] += (yield from bps.collect(target, name=stream)) or []
                if not (yield from bps.rd(pstat.acquiring)):
                    break
        yield from awaiting_completion(target)
        state["pages"] += (yield from bps.collect(target, name=stream)) or []

    def cleanup():
        errors: list = []
        yield from attempt(bps.stop(pstat), f"stopping {pstat.name}", errors)
        if state["started"] and not errors:  # keep what was recorded up to the stop
            yield from attempt(collect(), f"collecting {pstat.name}'s last rows", errors)
        return errors

    def collect():
        state["pages"] += (yield from bps.collect(target, name=stream)) or []

    # not rewindable (a resume continues the technique rather than replaying prepare/kickoff); bluesky's
    # clear_checkpoint would instead make every later pause in the run fail, operator checkpoints included
    yield from rewindable_wrapper(finalize_keeping_fault(body(), cleanup), False)
    yield from bps.checkpoint()  # where a deferred pause takes effect
    return summarize(state["pages"], pstat.ended_by, target.name)


def awaiting_completion(flyer):
    """Wait for *flyer* to complete, from a checkpoint that a resume may go back to.

    One Ctrl-C while a technique runs: labctl's RunEngine pauses at once here (only a completion is waited
    for since the checkpoint), the technique running on; the resume goes back to the checkpoint and waits
    for it again, which starts nothing twice. The stretch is rewindable even inside a plan that is not
    (otherwise the resume would skip the wait); under another RunEngine the pause comes at the flyer's end.
    """
    was_rewindable = yield Msg("rewindable", None, None)
    if not was_rewindable:
        yield Msg("rewindable", None, True)
    yield from bps.checkpoint()
    yield from instrument_errors(bps.complete(flyer, wait=True))
    if not was_rewindable:
        yield Msg("rewindable", None, False)


def cycle_techniques(current_density: float, area: float, plate_capacity: float | None, plate_time: float | None,
                      strip_cutoff: float, record_dt: float, rest: float, strip_time_limit: float | None,
                      plate_e_min: float | None = PLATE_E_MIN):
    """Plate (negative current for a capacity or a time, down to ``plate_e_min`` at most), rest, strip
    (positive current to the cutoff, for ``strip_time_limit`` at most: by default twice the plating time)."""
    current = current_density * area * 1e-3   # mA/cm^2 x cm^2 -> A
    if plate_capacity is not None:
        plate = Galvanostatic(-current, charge=plate_capacity * area * 3.6, e_min=plate_e_min, record_dt=record_dt)
        plating_s = plate_capacity * area * 3.6 / current
    else:
        plate = Galvanostatic(-current, duration=plate_time, e_min=plate_e_min, record_dt=record_dt)
        plating_s = plate_time
    if strip_time_limit is None:
        strip_time_limit = STRIP_TIME_FACTOR * plating_s
    strip = Galvanostatic(current, e_max=strip_cutoff, duration=strip_time_limit, record_dt=record_dt)
    rest_t = OCV(rest, record_dt=min(record_dt, rest)) if rest > 0 else None
    return plate, rest_t, strip


def cycle_block(pstat, clock, log: CycleLog, density: float, techniques, cycles: int, first_cycle: int,
            area: float, declared: set, poll, *, strip_limit_from_plating: bool = False,
            plated_in_progress: float | None = None, reattach: bool = False):
    """Run *cycles* plate/(rest)/strip cycles numbered from *first_cycle* inside the caller's run.

    Rows go to the ``plate``/``rest``/``strip`` streams; each cycle's charges and CE, computed from those
    rows as they arrive, go to the ``cycles`` stream with flags saying whether the strip ran out of time
    (``cycles_strip_timed_out``) or the plating hit its lower potential cutoff (``cycles_plate_hit_e_min``):
    such a cycle's CE is not a clean measurement. With ``strip_limit_from_plating`` a cycle whose plating
    ended early strips for at most twice the time it actually plated. Going on with an interrupted experiment:
    ``plated_in_progress`` (C) says the first cycle's plating was done before, and ``reattach`` takes the first
    technique up where the instrument may still run it. Returns the per-cycle results.
    """
    plate, rest_t, strip = techniques
    results = []
    for n in range(first_cycle, first_cycle + cycles):
        attach = reattach and n == first_cycle
        if n == first_cycle and plated_in_progress is not None:
            p = {"rows": 0, "last": {"Q": -plated_in_progress}, "ended_by": "before"}   # plated before the resume
        else:
            p = yield from run_technique(pstat, clock, plate, "plate", declared=declared, poll=poll, reattach=attach)
            attach = False
        if rest_t is not None:
            yield from run_technique(pstat, clock, rest_t, "rest", declared=declared, poll=poll, reattach=attach)
            attach = False
        plated = abs(p["last"].get("Q", 0.0))
        strip_n = strip
        if strip_limit_from_plating and p["ended_by"] in ("limit", "before") and plate.current:
            limit = STRIP_TIME_FACTOR * plated / abs(plate.current)
            if strip.duration is not None and 0 < limit < strip.duration:
                strip_n = dataclasses.replace(strip, duration=limit)
        s = yield from run_technique(pstat, clock, strip_n, "strip", declared=declared, poll=poll, reattach=attach)
        if rest_t is not None:
            yield from run_technique(pstat, clock, rest_t, "rest", declared=declared, poll=poll)
        stripped = max(s["last"].get("Q", 0.0), 0.0)
        ce = log.record(cycle=n, current_density=density, plated_C=plated, stripped_C=stripped, area_cm2=area)
        timed_out = s["ended_by"] == "done" and strip_n.e_max is not None
        hit_e_min = p["ended_by"] == "limit" and plate.e_min is not None
        log.strip_timed_out.put(bool(timed_out))
        log.plate_hit_e_min.put(bool(hit_e_min))
        log.strip_time_limit.put(float(strip_n.duration) if strip_n.duration is not None else float("nan"))
        yield from bps.trigger_and_read([log, clock], name="cycles")
        results.append({"cycle": n, "plated_C": plated, "stripped_C": stripped, "ce_percent": ce,
                        "strip_ended_by": s["ended_by"], "strip_last_Ewe": s["last"].get("Ewe"),
                        "strip_timed_out": timed_out, "plate_hit_e_min": hit_e_min})
    return results
