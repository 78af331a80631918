"""What labctl does where an instrument has no interlock of its own: a Bronkhorst controller keeps its setpoint
whoever stops talking to it, so labctl commands zero flow itself on every way out of a run that did not end
well, and on closing the session."""

from __future__ import annotations

import bluesky.plan_stubs as bps
import pytest
from bluesky.utils import RunEngineInterrupted

from labctl.devices.errors import InstrumentError
from labctl.plans import plan
from labctl.plans.params import Clock, FlowController, SyringePump
from labctl.plans.stubs.time import wait
from labctl.session import Session


@plan
def carrier(mfc: FlowController, clock: Clock, minutes: int = 3):
    """Carrier gas at 1 mL/min, recorded every minute; the flow is left on for what comes next."""
    yield from bps.mv(mfc, 1.0)
    for _ in range(minutes):
        yield from bps.trigger_and_read([clock, mfc])
        yield from wait(clock, 60)


@plan
def carrier_until_paused(mfc: FlowController, clock: Clock):
    """Carrier gas at 1 mL/min until the operator pauses (and the session aborts the run)."""
    yield from bps.mv(mfc, 1.0)
    yield from bps.trigger_and_read([clock, mfc])
    yield from bps.checkpoint()
    yield from bps.pause()


@plan
def carrier_and_pump(mfc: FlowController, pump: SyringePump, clock: Clock):
    """Carrier gas while a pump feeds the cell, read every minute."""
    yield from bps.mv(mfc, 1.0, pump, 240.0)
    for _ in range(5):
        yield from bps.trigger_and_read([clock, mfc, pump])
        yield from wait(clock, 60)


@pytest.fixture
def lab(tmp_path):
    with Session.from_profile(data_dir=tmp_path) as session:
        yield session


def _setpoint(lab) -> float:
    return lab.simlab.world.mfc("mfc").setpoint_mL_min


def test_a_run_that_ends_well_keeps_its_flow_and_closing_the_session_stops_it(tmp_path):
    with Session.from_profile(data_dir=tmp_path) as lab:
        lab.run(carrier(lab.mfc, lab.clock))
        assert _setpoint(lab) == 1.0
        world = lab.simlab.world
    assert world.mfc("mfc").setpoint_mL_min == 0.0


def test_an_aborted_run_leaves_zero_flow(lab):
    with pytest.raises(RunEngineInterrupted):
        lab.run(carrier_until_paused(lab.mfc, lab.clock))
    assert lab.RE.state == "idle" and _setpoint(lab) == 0.0


def test_a_run_ended_by_another_instruments_fault_leaves_zero_flow(lab):
    core = lab.simlab.cores["pump"]
    seen = {"n": 0}

    def pump_refuses_from_the_second_reading_to_the_end_of_the_run(kind, doc):
        if kind == "event":
            seen["n"] += 1
            if seen["n"] == 2:
                core.inject("error")
        if kind == "stop":
            core.inject(None)

    lab.RE.subscribe(pump_refuses_from_the_second_reading_to_the_end_of_the_run)
    with pytest.raises(InstrumentError, match="^pump: "):
        lab.run(carrier_and_pump(lab.mfc, lab.pump, lab.clock))
    assert _setpoint(lab) == 0.0 and not lab.simlab.world.pump("pump").running


def test_an_experiment_that_fails_leaves_zero_flow(lab):
    core = lab.simlab.cores["mfc"]
    experiment = lab.start(carrier, lab.mfc, lab.clock, minutes=5)
    lab.simlab.clock.call_every(90, lambda now: core.power_cycle() if _setpoint(lab) else None)
    lab.wait_all()
    assert experiment.state == "failed" and _setpoint(lab) == 0.0
