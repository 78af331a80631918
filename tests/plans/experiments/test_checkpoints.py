"""Operator checkpoints: recorded with who and what, asked again when a run paused there is resumed."""

from __future__ import annotations

import threading

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import pytest
from bluesky.utils import RunEngineInterrupted

from labctl.devices.clock import WallClock
from labctl.devices.operator import Operator
from labctl.plans.stubs.operator import checkpoint, with_checkpoint


def _events(docs, stream):
    descriptors = {d["uid"] for n, d in docs if n == "descriptor" and d["name"] == stream}
    return [d for n, d in docs if n == "event" and d["descriptor"] in descriptors]


def _paused_at_checkpoint(RE, docs, confirmer):
    """Run one checkpoint whose prompt is interrupted (Ctrl-C while it is up); return the operator."""
    operator = Operator(confirmer, WallClock(), name="operator")
    plan = bpp.run_wrapper(checkpoint(operator, "connect_vessel", "Connect the vial", name="vial"),
                           md={"plan_name": "test"})
    with pytest.raises(RunEngineInterrupted):
        RE(plan)
    assert RE.state == "paused"
    assert _events(docs, "checkpoints") == []  # nothing recorded for the unanswered prompt
    return operator


def _finished_with(docs, who):
    (event,) = _events(docs, "checkpoints")
    assert event["data"]["operator_action"] == "connect_vessel"
    assert event["data"]["operator_confirmed_by"] == who
    assert [d["exit_status"] for n, d in docs if n == "stop"] == ["success"]


def test_resuming_at_an_unanswered_prompt_waits_for_that_same_prompt(RE, docs):
    asked, answer = [], threading.Event()

    def confirmer(cp):
        asked.append(cp.action)
        RE.request_pause()         # Ctrl-C while the prompt is up
        assert answer.wait(10)     # the operator comes back later and answers
        return "AB"

    operator = _paused_at_checkpoint(RE, docs, confirmer)
    ask = operator.set

    def set_again(cp):             # the resumed run asks again; only then does the operator answer
        status = ask(cp)
        answer.set()
        return status

    operator.set = set_again
    RE.resume()
    assert RE.state == "idle"
    assert asked == ["connect_vessel"]   # one prompt, not two
    _finished_with(docs, "AB")


def test_a_prompt_answered_while_paused_is_asked_again_on_resume(RE, docs):
    asked, paused = [], threading.Event()
    RE.state_hook = lambda new, old: paused.set() if new == "paused" else None

    def confirmer(cp):
        asked.append(cp.action)
        if len(asked) == 1:
            RE.request_pause()
            assert paused.wait(10)
            return "nobody"        # typed into the prompt after the run had paused
        return "AB"

    operator = _paused_at_checkpoint(RE, docs, confirmer)
    for prompt in [t for t in threading.enumerate() if t.name == "operator-checkpoint"]:
        prompt.join(10)            # the answer is in before the run resumes
    assert operator.confirmed_by.get() == "nobody"
    RE.resume()
    assert RE.state == "idle"
    assert asked == ["connect_vessel", "connect_vessel"]
    _finished_with(docs, "AB")


def test_a_refused_checkpoint_fails_the_run_with_the_operators_words(RE, docs):
    def confirmer(cp):
        raise RuntimeError("vial cracked, cannot connect")

    operator = Operator(confirmer, WallClock(), name="operator")
    with pytest.raises(Exception) as failed:
        RE(bpp.run_wrapper(checkpoint(operator, "connect_vessel", "Connect the vial")))
    assert "vial cracked" in str(failed.value.__cause__ or failed.value)
    assert [d["exit_status"] for n, d in docs if n == "stop"] == ["fail"]


def test_with_checkpoint_records_the_step_first_inside_the_wrapped_run(RE, docs):
    operator = Operator(lambda cp: "CD", WallClock(), name="operator")
    finished = []

    def measurement():
        for _ in range(2):  # two runs: only the first gets the checkpoint
            yield from bpp.run_wrapper(bps.null(), md={"plan_name": "measure"})
            finished.append(1)

    RE(with_checkpoint(measurement(), operator, "assemble_cell", "Assemble a fresh cell", name="c1"))
    names = [n for n, _ in docs]
    starts = [i for i, n in enumerate(names) if n == "start"]
    stops = [i for i, n in enumerate(names) if n == "stop"]
    assert len(starts) == 2 and len(finished) == 2
    first_run = names[starts[0]:stops[0]]
    assert first_run[:3] == ["start", "descriptor", "event"]
    (event,) = _events(docs, "checkpoints")
    assert event["data"]["operator_action"] == "assemble_cell"
    assert event["data"]["operator_confirmed_by"] == "CD"
    start_uid = docs[starts[0]][1]["uid"]
    descriptor = next(d for n, d in docs if n == "descriptor" and d["name"] == "checkpoints")
    assert descriptor["run_start"] == start_uid
