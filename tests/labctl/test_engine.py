"""The lab's RunEngine: lab time in start and stop documents, and engines sharing one simulated clock each
keep to their own lab timeline."""

from __future__ import annotations

import threading

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp

from labctl.devices.clock import LabClock
from labctl.engine import run_engine
from labctl.sim.clock import SimClock

T0 = 1_700_000_000.0


def _ticks(clock_device, period, count):
    @bpp.run_decorator(md={"plan_name": "ticks"})
    def plan():
        for _ in range(count):
            yield from bps.mv(clock_device, period)
            yield from bps.trigger_and_read([clock_device])
    return plan()


def _run(RE, plan, docs, hold=None):
    RE.subscribe(lambda name, doc: docs.append((name, doc)))
    if hold is not None:
        hold.adopt()
        RE.hold_between_plans(hold)
    try:
        RE(plan)
    finally:
        if hold is not None:
            hold.release()


def _times(docs):
    return [d["data"]["clock_time"] for n, d in docs if n == "event"]


def _engines_at_once(clock, plans):
    """Run each (name, plan) in its own engine and thread, all started at the same lab time (each thread
    holds the clock from the moment it is started until its engine takes over); the documents per name."""
    docs = {name: [] for name, _ in plans}
    engines = {name: run_engine(clock=clock, name=name, context_managers=[]) for name, _ in plans}
    threads = [threading.Thread(target=_run, args=(engines[name], plan, docs[name], clock.hold(name)),
                                daemon=True) for name, plan in plans]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
        assert not t.is_alive()
    return docs


def test_start_and_stop_documents_carry_lab_time():
    clock = SimClock(start=T0)
    docs = []
    RE = run_engine(clock=clock)
    _run(RE, _ticks(LabClock(clock, name="clock"), 60.0, 3), docs)
    start = next(d for n, d in docs if n == "start")
    stop = next(d for n, d in docs if n == "stop")
    assert start["lab_time"] == T0
    assert stop["lab_time"] == T0 + 180.0


def test_engines_sharing_a_clock_keep_their_own_timelines():
    clock = SimClock(start=T0)
    a, b = LabClock(clock, name="clock"), LabClock(clock, name="clock")
    docs = _engines_at_once(clock, [("A", _ticks(a, 100.0, 5)), ("B", _ticks(b, 37.0, 12))])
    assert _times(docs["A"]) == [T0 + 100.0 * k for k in range(1, 6)]
    assert _times(docs["B"]) == [T0 + 37.0 * k for k in range(1, 13)]
    stops = {name: next(d for n, d in ds if n == "stop")["lab_time"] for name, ds in docs.items()}
    assert stops == {"A": T0 + 500.0, "B": T0 + 444.0}
    assert clock.now() == T0 + 500.0     # the lab clock ran to the last experiment's end, no further
