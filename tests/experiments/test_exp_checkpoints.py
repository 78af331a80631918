"""Operator checkpoints: recorded with who and what, asked again when a run paused there is resumed."""

from __future__ import annotations

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import pytest
from labctl.session import run_engine
from bluesky.utils import RunEngineInterrupted

from labctl.devices.clock import WallClock
from labctl.devices.operator import Operator
from labctl.plans.stubs.operator import checkpoint, with_checkpoint


@pytest.fixture
def RE():
    engine = run_engine({}, context_managers=[])
    docs = []
    engine.subscribe(lambda name, doc: docs.append((name, doc)))
    engine.docs = docs
    yield engine
    if engine.state != "idle":
        engine.abort()


def _events(docs, stream):
    descriptors = {d["uid"] for n, d in docs if n == "descriptor" and d["name"] == stream}
    return [d for n, d in docs if n == "event" and d["descriptor"] in descriptors]


def test_a_run_paused_at_a_checkpoint_asks_again_on_resume(RE):
    asked = []

    def confirmer(cp):
        asked.append(cp.action)
        if len(asked) == 1:
            RE.request_pause()  # the operator walks away: Ctrl-C while the prompt is up
            return "nobody"
        return "AB"

    operator = Operator(confirmer, WallClock(), name="operator")
    plan = bpp.run_wrapper(checkpoint(operator, "connect_vessel", "Connect the vial", name="vial"),
                           md={"plan_name": "test"})
    with pytest.raises(RunEngineInterrupted):
        RE(plan)
    assert RE.state == "paused"
    assert _events(RE.docs, "checkpoints") == []  # nothing recorded for the unanswered prompt
    RE.resume()
    assert RE.state == "idle"
    assert asked == ["connect_vessel", "connect_vessel"]
    (event,) = _events(RE.docs, "checkpoints")
    assert event["data"]["operator_action"] == "connect_vessel"
    assert event["data"]["operator_confirmed_by"] == "AB"
    stop = [d for n, d in RE.docs if n == "stop"]
    assert [s["exit_status"] for s in stop] == ["success"]


def test_a_refused_checkpoint_fails_the_run_with_the_operators_words(RE):
    def confirmer(cp):
        raise RuntimeError("vial cracked, cannot connect")

    operator = Operator(confirmer, WallClock(), name="operator")
    with pytest.raises(Exception) as failed:
        RE(bpp.run_wrapper(checkpoint(operator, "connect_vessel", "Connect the vial")))
    assert "vial cracked" in str(failed.value.__cause__ or failed.value)
    assert [d["exit_status"] for n, d in RE.docs if n == "stop"] == ["fail"]


def test_with_checkpoint_records_the_step_first_inside_the_wrapped_run(RE):
    operator = Operator(lambda cp: "CD", WallClock(), name="operator")
    finished = []

    def measurement():
        for _ in range(2):  # two runs: only the first gets the checkpoint
            yield from bpp.run_wrapper(bps.null(), md={"plan_name": "measure"})
            finished.append(1)

    RE(with_checkpoint(measurement(), operator, "assemble_cell", "Assemble a fresh cell", name="c1"))
    names = [n for n, _ in RE.docs]
    starts = [i for i, n in enumerate(names) if n == "start"]
    stops = [i for i, n in enumerate(names) if n == "stop"]
    assert len(starts) == 2 and len(finished) == 2
    first_run = names[starts[0]:stops[0]]
    assert first_run[:3] == ["start", "descriptor", "event"]
    (event,) = _events(RE.docs, "checkpoints")
    assert event["data"]["operator_action"] == "assemble_cell"
    assert event["data"]["operator_confirmed_by"] == "CD"
    start_uid = RE.docs[starts[0]][1]["uid"]
    descriptor = next(d for n, d in RE.docs if n == "descriptor" and d["name"] == "checkpoints")
    assert descriptor["run_start"] == start_uid
