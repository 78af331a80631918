"""Several experiments at once on one simulated lab: instruments taken in turn (or refused), one failure
ending only its own experiment, everything paused, resumed or aborted with every instrument left safe,
and each experiment's data the same alone as in company."""

from __future__ import annotations

import numpy as np
import pytest

from labctl.parallel import InstrumentBusy
from labctl.plans.electrochem import galvanostatic_cycles
from labctl.plans.fluidics import flow_schedule
from labctl.plans.readings import readings
from labctl.plans.titration import online_ms_titration
from labctl.profile import load_profile
from labctl.session import Session

T0 = 1_700_000_000.0
FAST_TITRATION = {"hold": "2 min", "min_record": "10 min", "return_hold": "3 min", "period": "10 s"}


def _session(tmp_path, **sim):
    profile = load_profile(None)
    profile.sim.update({"start": T0, **sim})
    return Session.from_profile(profile, data_dir=tmp_path)


@pytest.fixture
def lab(tmp_path):
    with _session(tmp_path) as lab:
        for n, channel in ((2, "vmp3:3"), (3, "vmp3:4")):
            lab.simlab.operator.perform("assemble_cell", name=f"coin{n}", kind="coin", electrolyte="dme",
                                        area_cm2=1.767, channel=channel)
        yield lab


def _cycles(lab, pstat, name, **kw):
    return lab.start(galvanostatic_cycles, lab.devices[pstat], lab.clock, name=name,
                     **{"cycles": 1, "plate_time": "20 min", "record_dt": "30 s", **kw})


def test_experiments_on_different_instruments_run_at_once_and_one_that_needs_a_held_one_waits(lab):
    a = _cycles(lab, "vmp3_1", "a")
    b = _cycles(lab, "vmp3_3", "b")
    c = _cycles(lab, "vmp3_1", "c")          # vmp3_1 is a's until a ends
    for e in (a, b, c):
        e.wait(120)
    assert a.started_at == b.started_at == T0
    assert c.started_at == a.ended_at > T0
    runs = {e.name: lab.storage.run(e.uids[0]) for e in (a, b, c)}
    assert {n: r.stop["exit_status"] for n, r in runs.items()} == {"a": "success", "b": "success", "c": "success"}
    assert runs["c"].start["lab_time"] == a.ended_at and runs["a"].stop["lab_time"] == a.ended_at
    assert len({r.start["scan_id"] for r in runs.values()}) == 3
    assert {r.start["experiment"] for r in runs.values()} == {"a", "b", "c"}


def test_an_experiment_told_not_to_wait_is_refused_with_the_holder_named(lab):
    a = _cycles(lab, "vmp3_1", "a")
    with pytest.raises(InstrumentBusy, match="vmp3_1 is held by experiment 'a'"):
        _cycles(lab, "vmp3_1", "impatient", wait=False)
    a.wait(120)
    assert [e.name for e in lab.experiments] == ["a"]


def test_a_move_from_the_prompt_on_a_held_instrument_names_the_experiment_holding_it(lab):
    import bluesky.plan_stubs as bps

    liquid = lab.start(flow_schedule, lab.pump, lab.clock, [("240 uL/h", "2 h")], name="feed")
    _until(lambda: liquid.state == "running")
    with pytest.raises(InstrumentBusy, match="pump is held by experiment 'feed'"):
        lab.run(bps.mv(lab.pump, 120))
    lab.run(bps.mv(lab.mfc, 0.5))             # what no experiment holds stays free at the prompt
    liquid.wait(120)
    assert lab.simlab.world.mfc("mfc").setpoint_mL_min == 0.5


def test_a_failing_experiment_ends_alone_with_its_instruments_safe(lab):
    world = lab.simlab.world
    ok = _cycles(lab, "vmp3_3", "ok", cycles=2)
    doomed = lab.start(flow_schedule, lab.pump, lab.clock, [("240 uL/h", "2 h")], name="doomed")
    lab.simlab.clock.call_every(600.0, lambda now: world.inject_fault("pump", "stall") if now >= T0 + 1800 else None)
    with pytest.raises(Exception, match="pump"):
        doomed.wait(120)
    ok.wait(120)
    assert doomed.state == "failed" and ok.state == "done"
    assert lab.storage.run(doomed.uids[0]).stop["exit_status"] == "fail"
    assert lab.storage.run(ok.uids[0]).stop["exit_status"] == "success"
    assert not world.pump("pump").running
    assert ok.ended_at > doomed.ended_at      # the other one went on after the failure


def _world_safe(lab) -> dict:
    w = lab.simlab.world
    return {"valve": w.valve("dems_valve").position, "pumps": [w.pump(p).running for p in ("pump", "d2o_pump")],
            "filament": w.mass_spec("ms").emission_mA, "mfc": w.mfc("mfc").setpoint_mL_min,
            "channels": [w.channel(c).state for c in ("vmp3:1", "vmp3:3", "vmp3:4", "ref600:1")]}


SAFE = {"valve": "A", "pumps": [False, False], "filament": 0.0, "mfc": 0.0, "channels": ["stop"] * 4}


def _campaign(lab):
    return [_cycles(lab, "vmp3_1", "cycling", cycles=3),
            lab.start(readings, lab.clock, [lab.vmp3_3], num=180, period="1 min", name="rest"),
            lab.start(flow_schedule, lab.pump, lab.clock, [("240 uL/h", "3 h")], name="feed"),
            lab.start(online_ms_titration, lab.ms, lab.mfc, lab.clock, valve=lab.dems_valve, d2o_pump=lab.d2o_pump,
                      cell="coin3", electrolyte="dme", name="titration", **FAST_TITRATION)]


#: each experiment of _campaign's reading period (lab s): record_dt, period, read_every (its default), period
PERIODS = {"cycling": 30.0, "rest": 60.0, "feed": 60.0, "titration": 10.0}


def test_pause_everything_then_resume_everything(lab):
    experiments = _campaign(lab)
    _until(lambda: all(e.RE is not None and e.RE.state == "running" for e in experiments))
    paused_at = {}
    for e in experiments:
        e.RE.state_hook = lambda new, old, name=e.name: (
            paused_at.setdefault(name, lab.simlab.clock.now()) if new == "paused" else None)
    _pause_at(lab, T0 + 615)   # between two readings of every experiment
    _until(lambda: all(e.state == "paused" for e in experiments))
    latency = {name: at - (T0 + 615) for name, at in paused_at.items()}
    assert set(latency) == set(PERIODS)
    for name, period in PERIODS.items():   # every one paused within its own reading period
        assert 0 <= latency[name] <= period, (name, latency[name])
    lab.resume_all()
    for e in experiments:
        e.wait(120)
    assert [e.state for e in experiments] == ["done"] * 4
    rows = lab.storage.run(experiments[1].uids[0]).table("primary")
    assert np.all(np.diff(np.asarray(rows["seq_num"])) == 1)   # the stream goes on after the pause


def test_abort_everything_leaves_every_instrument_safe_and_every_run_closed(lab):
    experiments = _campaign(lab)
    _pause_at(lab, T0 + 600)
    _until(lambda: all(e.state == "paused" for e in experiments))
    lab.abort_all("end of the day")
    for e in experiments:
        e._done.wait(120)
    assert [e.state for e in experiments] == ["aborted"] * 4
    assert [lab.storage.run(e.uids[0]).stop["exit_status"] for e in experiments] == ["abort"] * 4
    assert _world_safe(lab) == SAFE


def _pause_at(lab, when: float) -> None:
    """Ctrl-C at lab time *when*: pause everything, from a thread of its own as the console's handler does;
    lab time stands still until every experiment has the request."""
    import threading

    clock = lab.simlab.clock

    def at(now):
        if now >= when and not timer.cancelled:
            timer.cancel()
            hold = clock.hold("ctrl-c")

            def press():
                try:
                    lab.pause_all()
                finally:
                    hold.release()

            threading.Thread(target=press, daemon=True).start()

    timer = clock.call_every(when - clock.now(), at)


def _until(condition, timeout=120.0):
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _data(lab, experiment, stream):
    table = lab.storage.run(experiment.uids[0]).table(stream)
    return {k: np.asarray(table[k]) for k in table.columns if k != "time"}


def test_an_experiment_gives_the_same_data_alone_and_in_company(tmp_path):
    def cycling_alone_then_together(together: bool):
        with _session(tmp_path / str(together), noise=1.0) as lab:
            lab.simlab.operator.perform("assemble_cell", name="coin2", kind="coin", electrolyte="ecdmc",
                                        area_cm2=1.767, channel="vmp3:3")
            if together:
                others = [_cycles(lab, "vmp3_3", "neighbour", record_dt="7 s", poll="73 s", cycles=2),
                          lab.start(flow_schedule, lab.pump, lab.clock, [("240 uL/h", "1 h")], name="feed")]
            me = _cycles(lab, "vmp3_1", "me", cycles=2, record_dt="10 s")
            me.wait(120)
            if together:
                [o.wait(120) for o in others]
            return {s: _data(lab, me, s) for s in ("plate", "strip", "cycles")}

    alone, together = cycling_alone_then_together(False), cycling_alone_then_together(True)
    for stream in alone:
        assert alone[stream].keys() == together[stream].keys()
        for key in alone[stream]:
            np.testing.assert_array_equal(alone[stream][key], together[stream][key], err_msg=f"{stream} {key}")


def test_checkpoints_of_experiments_at_once_are_asked_one_at_a_time_and_hold_only_their_own(lab):
    import queue

    from labctl.devices.operator import ConsoleConfirmer
    from labctl.plans.stubs.operator import with_checkpoint

    typed, screen = queue.Queue(), []
    lab.devices["operator"].confirmer = ConsoleConfirmer(readline=typed.get, write=screen.append)

    def asking(name, detector):
        return lab.start(with_checkpoint(readings(lab.clock, [detector], num=3, period="10 min"),
                                         lab.operator_for(name), "connect_vessel", f"Connect the vial of {name}"),
                         name=name)

    a, b = asking("A", lab.vmp3_1), asking("B", lab.vmp3_3)
    try:
        _answer_one_at_a_time(lab, a, b, typed, screen)
    finally:
        for _ in range(2):
            typed.put("nobody\n")                # a failed check leaves no question waiting for ever


def _answer_one_at_a_time(lab, a, b, typed, screen):
    c = _cycles(lab, "vmp3_4", "C")              # no checkpoint: goes on meanwhile
    c.wait(120)
    asked = "".join(screen)
    assert "[A]: Connect the vial of A" in asked and "[B]" not in asked   # one question at a time
    assert a.state == b.state == "running" and not a.progress["primary"]
    typed.put("ana\n")
    a.wait(120)
    assert "[B]: Connect the vial of B" in "".join(screen)
    typed.put("bob\n")
    b.wait(120)
    who = {e.name: lab.storage.run(e.uids[0]).table("checkpoints")["operator_confirmed_by"].tolist()
           for e in (a, b)}
    assert who == {"A": ["ana"], "B": ["bob"]}
    assert a.ended_at > c.ended_at               # C did not wait for anybody's answer


def test_an_experiment_stopped_while_it_runs_ends_stopped_and_gives_its_instruments_back(lab):
    experiment = lab.start(readings, lab.clock, [lab.mfc], num=100_000, period="10 min")
    _until(lambda: experiment.progress["primary"] > 3)
    experiment.stop("enough")
    experiment.wait(60)
    assert experiment.state == "stopped"
    assert lab.storage.run(experiment.uids[0]).stop["exit_status"] == "success"
    assert lab.scheduler.holder("mfc") is None
