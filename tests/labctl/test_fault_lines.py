"""Faults beyond the matrix: a line that stays dead (the instrument's own interlock makes it safe, and labctl
says what it could not), a fault that passes within a few exchanges, and a fault in one of several experiments
running at once."""

from __future__ import annotations

import bluesky.plan_stubs as bps
import pytest

from labctl.devices.errors import ConnectionLost, InstrumentError
from labctl.plans import plan
from labctl.plans.fluidics import flow_schedule
from labctl.plans.gas import ms_monitor
from labctl.plans.params import Clock, StreamSelector, Valve
from labctl.plans.stubs.time import wait
from labctl.plans.stubs.valve import select_stream
from labctl.session import Session


@plan
def open_line(valve: Valve, clock: Clock):
    """Open the line to the sweep gas and record for ten minutes."""
    yield from bps.mv(valve, "sweep")
    for _ in range(10):
        yield from bps.trigger_and_read([clock, valve])
        yield from wait(clock, 60)


@plan
def carrier_baseline(selector: StreamSelector, clock: Clock):
    """Give the MS the carrier line and record the selector for ten minutes."""
    for _ in range(10):
        yield from select_stream(selector, "carrier", clock)
        yield from wait(clock, 60)


@pytest.fixture
def lab(tmp_path):
    with Session.from_profile(data_dir=tmp_path) as session:
        yield session


def _fault_at_event(lab, n: int, inject) -> None:
    seen = {"n": 0}

    def callback(kind, doc):
        if kind in ("event", "event_page"):
            seen["n"] += 1
            if seen["n"] == n:
                inject()

    lab.RE.subscribe(callback)


def test_a_pump_whose_line_stays_dead_is_stopped_by_its_own_watchdog(lab):
    assert lab.pump.driver.safe_mode_timeout() == 30  # on by default in the lab profile
    core = lab.simlab.cores["pump"]
    _fault_at_event(lab, 2, lambda: core.inject("disconnected"))
    with pytest.raises(ConnectionLost) as ended:
        lab.run(flow_schedule(lab.pump, lab.clock, [("240 uL/h", "30 min")], read_every="1 min"))
    assert str(ended.value).startswith("pump: ")
    (report,) = ended.value.unsafe
    assert report.startswith("pump: line lost") and "last known running True" in report
    lab.simlab.clock.advance(31)                   # labctl could not stop it; its watchdog did
    assert not lab.simlab.world.pump("pump").running
    assert core.alarm == "T"                       # the watchdog alarm, reported on the next command
    core.inject(None)


@pytest.mark.parametrize("fault", ["lost", "disconnected"])  # nothing reaches the actuator
def test_a_valve_whose_line_stays_dead_is_reported_by_name_and_last_known_position(lab, fault):
    core = lab.simlab.cores["dems_valve"]
    _fault_at_event(lab, 2, lambda: core.inject(fault))
    with pytest.raises(InstrumentError) as ended:
        lab.run(open_line(lab.dems_valve, lab.clock))
    (report,) = ended.value.unsafe
    assert report.startswith("dems_valve: line lost") and report.endswith("last known position sweep")
    assert lab.simlab.world.valve("dems_valve").position == "B"   # still open: no interlock on a VICI
    core.inject(None)


@pytest.mark.parametrize("fault", ["lost", "disconnected"])
def test_a_stream_selector_whose_line_stays_dead_is_reported_by_name_and_last_known_port(lab, fault):
    core = lab.simlab.cores["ms_selector"]
    _fault_at_event(lab, 2, lambda: core.inject(fault))
    with pytest.raises(InstrumentError) as ended:
        lab.run(carrier_baseline(lab.ms_selector, lab.clock))
    assert str(ended.value).startswith("ms_selector: ")
    (report,) = ended.value.unsafe
    assert report.startswith("ms_selector: line lost") and report.endswith("last known position carrier")
    assert lab.simlab.world.selector("ms_selector").position == 1   # the rotor stays on the carrier line
    core.inject(None)


@pytest.mark.parametrize("instrument, fault", [("pump", "silent"), ("pump", "garbage"), ("mfc", "lost"),
                                               ("d2o_pump", "disconnected"), ("rga", "garbage")])
def test_a_fault_that_passes_leaves_a_finished_run_or_a_failed_one_and_the_instrument_safe(lab, instrument,
                                                                                            fault):
    core = lab.simlab.cores["ms" if instrument == "rga" else instrument]
    if instrument == "rga":
        plan = ms_monitor(lab.ms, lab.clock, duration="10 min", period="10 s")
    elif instrument == "mfc":
        plan = ms_monitor(lab.ms, lab.clock, duration="10 min", period="10 s", extra=[lab.mfc])
    else:
        plan = flow_schedule(lab.devices[instrument], lab.clock, [("240 uL/h", "10 min")], read_every="1 min")
    _fault_at_event(lab, 2, lambda: core.inject(fault, times=2))
    docs = []
    lab.RE.subscribe(lambda kind, doc: docs.append((kind, doc)))
    try:
        lab.run(plan)
    except InstrumentError as exc:
        assert exc.unsafe == []
        (stop,) = [d for k, d in docs if k == "stop"]
        assert stop["exit_status"] == "fail"
    else:
        (stop,) = [d for k, d in docs if k == "stop"]
        assert stop["exit_status"] == "success"
    world = lab.simlab.world
    assert not world.pump("pump").running and not world.pump("d2o_pump").running
    assert world.mass_spec("ms").emission_mA == 0


def test_a_fault_ends_only_the_experiment_that_holds_the_instrument(lab):
    lab.simlab.cores["pump"].inject("error", times=1)   # the pump refuses the first command it is sent
    pumping = lab.start(flow_schedule, lab.pump, lab.clock, [("240 uL/h", "10 min")], read_every="1 min")
    watching = lab.start(ms_monitor, lab.ms, lab.clock, duration="10 min", period="10 s")
    lab.wait_all()
    assert pumping.state == "failed" and watching.state == "done"
    assert not lab.simlab.world.pump("pump").running
    stops = {r.summary.exit_status for r in (lab.storage.run(u) for e in (pumping, watching) for u in e.uids)}
    assert stops == {"fail", "success"}
