"""Pausing a cycling run on the simulated lab: a technique is never replayed half-done, and one Ctrl-C
mid-technique pauses at its next look rather than at its end."""

from __future__ import annotations

import threading

from bluesky.utils import RunEngineInterrupted
from labwatch import assemble, message_hook

from labctl.plans.electrochem import galvanostatic_cycles


def _pause_at_kickoff(lab, n: int, defer: bool):
    """A hook asking for a pause once the n-th technique starts (deferred: one Ctrl-C; immediate: two)."""
    count = {"kickoffs": 0}

    def hook(msg):
        if msg.command == "kickoff":
            count["kickoffs"] += 1
            if count["kickoffs"] == n:
                threading.Thread(target=lambda: lab.RE.request_pause(defer=defer)).start()

    return hook


def _run_uid(lab, plan):
    uids = []
    token = lab.RE.subscribe(lambda name, doc: uids.append(doc["uid"]) if name == "start" else None)
    try:
        try:
            lab.run(plan, keep_paused=True)
        except RunEngineInterrupted:
            pass
    finally:
        lab.RE.unsubscribe(token)
    return uids[0]


def _kickoffs(counter):
    def hook(msg):
        if msg.command == "kickoff":
            counter.append(msg)
    return hook


def test_immediate_pause_mid_technique_resumes_it_without_replaying_it(lab, world):
    assemble(lab, "coin", "coin", "ecdmc", 1.767, "vmp3:1")
    d = lab.devices
    with message_hook(lab, _pause_at_kickoff(lab, 3, defer=False)):  # during the second plating
        uid = _run_uid(lab, galvanostatic_cycles(d["vmp3_1"], lab.clock, cycles=3, record_dt="30 s"))
    assert lab.RE.state == "paused"
    kickoffs: list = []
    with message_hook(lab, _kickoffs(kickoffs)):
        lab.resume()
    assert len(kickoffs) == 3  # second strip, third plating and strip: nothing loaded twice
    run = lab.storage.run(uid)
    assert run.stop["exit_status"] == "success"
    assert run.table("cycles")["cycles_cycle"].tolist() == [1, 2, 3]
    assert run.table("plate")["vmp3_1_time"].eq(0).sum() == 3  # three platings, none restarted
    assert world.channel("vmp3:1").state == "stop"


def test_immediate_pause_then_abort_switches_the_cell_off_and_keeps_the_rows(lab, world):
    assemble(lab, "coin", "coin", "ecdmc", 1.767, "vmp3:1")
    d = lab.devices
    with message_hook(lab, _pause_at_kickoff(lab, 2, defer=False)):  # during the first strip
        uid = _run_uid(lab, galvanostatic_cycles(d["vmp3_1"], lab.clock, cycles=3, record_dt="30 s",
                                                 poll="5 min"))
    assert lab.RE.state == "paused"
    lab.RE.abort("operator")
    assert world.channel("vmp3:1").state == "stop"
    run = lab.storage.run(uid)
    assert run.stop["exit_status"] == "abort"
    assert len(run.table("plate")) > 100 and len(run.table("strip")) > 0  # the rows up to the abort are kept
    assert "cycles" not in run.streams  # no cycle completed, none reported


def test_deferred_pause_mid_technique_leaves_it_running_and_resumes_collecting_it(lab, world):
    assemble(lab, "coin", "coin", "ecdmc", 1.767, "vmp3:1")
    d = lab.devices
    with message_hook(lab, _pause_at_kickoff(lab, 2, defer=True)):  # during the first strip
        uid = _run_uid(lab, galvanostatic_cycles(d["vmp3_1"], lab.clock, cycles=3, record_dt="30 s"))
    assert lab.RE.state == "paused"
    assert world.channel("vmp3:1").state == "run"  # paused at the strip's first look, the strip going on
    kickoffs: list = []
    with message_hook(lab, _kickoffs(kickoffs)):
        lab.resume()
    assert len(kickoffs) == 4  # second plating and strip, third plating and strip: the first strip not restarted
    run = lab.storage.run(uid)
    assert run.stop["exit_status"] == "success"
    cycles = run.table("cycles")
    assert cycles["cycles_cycle"].tolist() == [1, 2, 3]
    assert (cycles["cycles_ce"] > 0).all()
    strip = run.table("strip")
    assert strip["vmp3_1_time"].eq(0).sum() == 3  # three strips, none restarted
