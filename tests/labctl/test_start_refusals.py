"""``session.start`` refuses a call that cannot run at once, in the caller: bad parameters (the plan's declared
checks), an instrument the lab lacks, and (``wait=False``) an instrument another experiment holds. Each refusal
is one line; no experiment is queued, no run is opened, and the simulators' transcripts show that not one
command reached an instrument."""

from __future__ import annotations

import time

import pytest

from labctl.parallel import InstrumentBusy, UnknownInstrument
from labctl.plans import ParameterError
from labctl.plans.electrochem import galvanostatic_cycles, ocv
from labctl.plans.fluidics import flow_schedule
from labctl.plans.readings import readings
from labctl.session import Session
from labctl.sim import transcript


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with Session.from_profile(None, data_dir=tmp_path_factory.mktemp("start-refusals"), quiet=True) as session:
        yield session


def _runs(lab) -> int:
    return len(list(lab.storage.runs_dir.glob("*/*/*/*.jsonl")))


def _until(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _refused(lab, error, words, call) -> str:
    experiments, runs, before = len(lab.experiments), _runs(lab), transcript.counts()
    with pytest.raises(error) as refused:
        call()
    line = str(refused.value)
    assert "\n" not in line and line, line
    for word in words:
        assert word in line, (word, line)
    assert len(lab.experiments) == experiments     # nothing queued
    assert _runs(lab) == runs                      # no run opened
    assert transcript.received_since(before) == {}  # not one command reached an instrument
    return line


BAD_CALLS = {
    "a count out of range": (ParameterError, ["cycles", "0"],
                             lambda lab: lab.start(galvanostatic_cycles, lab.vmp3_1, lab.clock, cycles=0)),
    "a current beyond the instrument's limit": (
        ParameterError, ["current"],
        lambda lab: lab.start(galvanostatic_cycles(lab.vmp3_1, lab.clock, current_density="500 mA/cm^2"))),
    "a quantity in the wrong unit": (ParameterError, ["duration", "10 V"],
                                     lambda lab: lab.start(ocv, lab.vmp3_1, lab.clock, duration="10 V")),
    "a rate the pump cannot do": (ParameterError, ["5000 uL/h"],
                                  lambda lab: lab.start(flow_schedule, lab.pump, lab.clock, [("5000 uL/h", "1 min")])),
    "a device of the wrong kind": (ParameterError, ["pstat", "pump", "potentiostat"],
                                   lambda lab: lab.start(ocv, lab.pump, lab.clock)),
    "an unknown parameter": (ParameterError, ["speed"],
                             lambda lab: lab.start(ocv, lab.vmp3_1, lab.clock, speed=3)),
    "an instrument named that the lab lacks": (ParameterError, ["pstat", "vmp3_9", "not a device of this lab"],
                                               lambda lab: lab.start(ocv, pstat="vmp3_9", clock=lab.clock)),
    "instruments to hold that the lab lacks": (UnknownInstrument, ["no instrument named 'nope'"],
                                               lambda lab: lab.start(readings, lab.clock, instruments=["nope"])),
}


@pytest.mark.parametrize("case", sorted(BAD_CALLS))
def test_a_call_that_cannot_run_is_refused_at_once_in_the_caller(lab, case):
    error, words, call = BAD_CALLS[case]
    _refused(lab, error, words, lambda: call(lab))


def test_an_instrument_held_by_another_experiment_is_refused_at_once_naming_the_holder(lab):
    feed = lab.start(flow_schedule, lab.pump, lab.clock, [("240 uL/h", "2 h")], name="feed")
    _until(lambda: feed.state == "running" and feed.RE.state == "running" and feed.progress["primary"] > 0)
    feed.pause()                                  # quiet: nothing talks to any instrument while it is paused
    _until(lambda: feed.state == "paused")
    try:
        line = _refused(lab, InstrumentBusy, [], lambda: lab.start(
            flow_schedule, lab.pump, lab.clock, [("120 uL/h", "1 min")], name="impatient", wait=False))
        assert line == "impatient: pump is held by experiment 'feed'"
    finally:
        feed.stop()
        feed.wait(120)


def test_the_transcripts_do_record_what_a_started_experiment_sends(lab):
    """The control: a good call, started the same way, reaches the instruments and stores a run."""
    runs, before = _runs(lab), transcript.counts()
    experiment = lab.start(ocv, pstat="vmp3_1", clock=lab.clock, duration="1 min", record_dt="10 s")
    (uid,) = experiment.wait(120)
    assert transcript.received_since(before).get("vmp3", 0) > 0
    assert _runs(lab) == runs + 1
    assert lab.storage.run(uid).stop["exit_status"] == "success"
