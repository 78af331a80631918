"""Work due at lab times: polls and waits ring on time, share one thread, and a stop ends only its own waits."""

from __future__ import annotations

import threading

import pytest

from labctl.devices.alarms import alarms
from labctl.devices.clock import LabClock
from labctl.sim.clock import SimClock


def _ringer(clock, times: list, rings: int):
    def ring():
        times.append(clock.now())
        return len(times) < rings
    return ring


@pytest.fixture
def clock():
    """A simulated clock held by the test's thread between its sleeps, as a RunEngine holds it: lab time
    moves only while the test sleeps on it."""
    held = SimClock(start=0.0)
    held.hold("test").adopt()
    return held


def test_polls_ring_at_their_period_from_when_they_were_asked_for(clock):
    a, b = [], []
    first = alarms(clock).every(5.0, _ringer(clock, a, 4), obj=None)
    clock.sleep(2.0)
    second = alarms(clock).every(5.0, _ringer(clock, b, 3), obj=None)
    clock.sleep(30.0)
    first.wait(5)
    second.wait(5)
    assert a == [0.0, 5.0, 10.0, 15.0]
    assert b == [2.0, 7.0, 12.0]


def test_many_channels_share_one_thread(clock):
    before = set(threading.enumerate())
    statuses = [alarms(clock).every(5.0, _ringer(clock, [], 10), obj=None) for _ in range(8)]
    clock.sleep(1.0)
    assert len(set(threading.enumerate()) - before) == 1
    clock.sleep(60.0)
    for status in statuses:
        status.wait(5)
        assert status.success


def test_a_wait_due_before_the_next_poll_ends_on_time(clock):
    polls, ended = [], []
    poll = alarms(clock).every(100.0, _ringer(clock, polls, 2), obj=None)
    clock.sleep(1.0)   # the alarms' thread now sleeps towards the poll at 100
    wait = alarms(clock).at(3.0, obj=None)
    wait.add_callback(lambda status: ended.append(clock.now()))
    clock.sleep(200.0)
    poll.wait(5)
    wait.wait(5)
    assert ended == [4.0] and polls == [0.0, 100.0]


def test_a_failing_poll_fails_its_status_only(clock):

    def broken():
        if clock.now() >= 10.0:
            raise TimeoutError("vmp3_1: no reply")
        return True

    bad = alarms(clock).every(5.0, broken, obj=None)
    good = alarms(clock).every(5.0, _ringer(clock, [], 5), obj=None)
    clock.sleep(30.0)
    good.wait(5)
    assert good.success
    assert isinstance(bad.exception(), TimeoutError)


def test_a_stop_ends_only_the_waits_asked_for_from_its_own_thread(clock):
    """Experiments share the lab clock device; each RunEngine stops what it set when its run ends."""
    device = LabClock(clock)
    other = {}
    asker = threading.Thread(target=lambda: other.setdefault("wait", device.set(100.0)))
    asker.start()
    asker.join()
    ended = []
    other["wait"].add_callback(lambda status: ended.append(clock.now()))
    mine = device.set(10.0)
    device.stop()
    assert mine.done and mine.success
    assert not other["wait"].done
    clock.sleep(150.0)
    other["wait"].wait(5)
    assert other["wait"].success and ended == [100.0]
