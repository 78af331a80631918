"""A checkpoint left unanswered by an aborted run: withdrawn, and the next answer goes to the next checkpoint."""

from __future__ import annotations

import queue
import threading
import time

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import pytest
from bluesky.utils import RunEngineInterrupted

from labctl.devices.clock import WallClock
from labctl.devices.operator import Checkpoint, CheckpointCancelled, ConsoleConfirmer, Operator
from labctl.plans.stubs.operator import checkpoint


def _checkpoint_events(docs):
    descriptors = {d["uid"] for n, d in docs if n == "descriptor" and d["name"] == "checkpoints"}
    return [d["data"] for n, d in docs if n == "event" and d["descriptor"] in descriptors]


def _run(RE, action, prompt):
    return RE(bpp.run_wrapper(checkpoint(RE.operator, action, prompt), md={"plan_name": action}))


def _wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.01)
    return predicate()


def test_after_an_abort_at_a_console_prompt_the_next_prompt_gets_the_answer(RE, docs):
    typed, shown = queue.Queue(), []

    def screen(text):
        shown.append(text)
        if "Connect the vial" in text:
            RE.request_pause()            # Ctrl-C while prompt A is up
        if "Inject the D2O" in text:
            typed.put("XY\n")             # the operator answers prompt B

    RE.operator = Operator(ConsoleConfirmer(readline=typed.get, write=screen), WallClock(), name="operator")
    with pytest.raises(RunEngineInterrupted):
        _run(RE, "connect_vessel", "Connect the vial")
    RE.abort("wrong vial")                # abort at A, prompt unanswered
    assert [d["exit_status"] for n, d in docs if n == "stop"] == ["abort"]

    _run(RE, "inject_d2o", "Inject the D2O")
    assert [d["exit_status"] for n, d in docs if n == "stop"] == ["abort", "success"]
    assert _checkpoint_events(docs) == [
        {"operator_action": "inject_d2o", "operator_confirmed_by": "XY",
         "operator_confirmed_at": pytest.approx(time.time(), abs=60)}]

    assert RE.operator.action.get() == "inject_d2o" and RE.operator.confirmed_by.get() == "XY"


def test_a_late_answer_to_an_aborted_console_prompt_is_ignored(RE, docs):
    typed, shown = queue.Queue(), []

    def screen(text):
        shown.append(text)
        if "Connect the vial" in text:
            RE.request_pause()
        if "Inject the D2O" in text:
            typed.put("XY\n")

    RE.operator = Operator(ConsoleConfirmer(readline=typed.get, write=screen), WallClock(), name="operator")
    with pytest.raises(RunEngineInterrupted):
        _run(RE, "connect_vessel", "Connect the vial")
    RE.abort()
    typed.put("AB\n")                     # typed into prompt A after the abort
    assert _wait_for(lambda: any("'AB' ignored" in t for t in shown))
    assert (RE.operator.action.get(), RE.operator.confirmed_by.get()) == ("", "")

    _run(RE, "inject_d2o", "Inject the D2O")
    assert [(e["operator_action"], e["operator_confirmed_by"]) for e in _checkpoint_events(docs)] == [
        ("inject_d2o", "XY")]
    assert len([t for t in threading.enumerate() if t.name == "operator-console"]) <= 1


def _asks(operator):
    """Record the status of every set() the run makes on *operator*."""
    statuses, ask = [], operator.set

    def set_(cp):
        statuses.append(ask(cp))
        return statuses[-1]

    operator.set = set_
    return statuses


def test_a_late_answer_to_an_aborted_checkpoint_is_not_recorded(RE, docs):
    answer, returned = threading.Event(), threading.Event()

    def confirmer(cp):
        if cp.action == "connect_vessel":
            RE.request_pause()
            answer.wait(10)               # the person answers only after the run was aborted
            returned.set()
            return "late"
        return "CD"

    RE.operator = Operator(confirmer, WallClock(), name="operator")
    statuses = _asks(RE.operator)
    with pytest.raises(RunEngineInterrupted):
        _run(RE, "connect_vessel", "Connect the vial")
    RE.abort()
    assert _wait_for(lambda: statuses[0].done)
    with pytest.raises(CheckpointCancelled, match="operator: checkpoint 'connect_vessel' cancelled"):
        statuses[0].wait(0)
    answer.set()
    assert returned.wait(5)
    _run(RE, "inject_d2o", "Inject the D2O")
    assert [e["operator_confirmed_by"] for e in _checkpoint_events(docs)] == ["CD"]
    assert (RE.operator.action.get(), RE.operator.confirmed_by.get()) == ("inject_d2o", "CD")


def test_an_answer_after_the_run_failed_at_the_checkpoint_is_not_recorded(RE):
    answer, returned = threading.Event(), threading.Event()

    def confirmer(cp):
        answer.wait(10)
        returned.set()
        return "late"

    RE.operator = Operator(confirmer, WallClock(), name="operator")
    statuses = _asks(RE.operator)

    def plan():
        yield from bps.abs_set(RE.operator, Checkpoint("connect_vessel", "Connect the vial"), group="cp")
        raise RuntimeError("the cell leaked")   # the run ends while the prompt is up

    with pytest.raises(RuntimeError, match="the cell leaked"):
        RE(bpp.run_wrapper(plan()))
    answer.set()
    assert returned.wait(5) and _wait_for(lambda: statuses[0].done)
    with pytest.raises(CheckpointCancelled):
        statuses[0].wait(0)
    assert RE.operator.confirmed_by.get() == "" and RE.operator.action.get() == ""
