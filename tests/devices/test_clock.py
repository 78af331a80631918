"""Periodic calls on the lab clock: a call that fails does not end the timer, on either clock."""

from __future__ import annotations

import logging
import threading
import time

from labctl.devices.clock import WallClock
from labctl.sim.clock import SimClock


class _Flaky:
    """Fails on the calls numbered in *failing* (1-based), records the others."""

    def __init__(self, *failing):
        self.failing, self.calls, self.ok = set(failing), 0, []
        self.lock = threading.Lock()

    def __call__(self, now):
        with self.lock:
            self.calls += 1
            if self.calls in self.failing:
                raise TimeoutError(f"no reply (call {self.calls})")
            self.ok.append(now)


def test_wall_clock_timer_goes_on_after_a_failed_call(caplog):
    flaky = _Flaky(2, 3)
    with caplog.at_level(logging.ERROR, logger="labctl.devices.clock"):
        timer = WallClock().call_every(0.02, flaky)
        deadline = time.monotonic() + 5
        while len(flaky.ok) < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        timer.cancel()
    assert len(flaky.ok) >= 4            # calls 4, 5, ... came after the failures
    assert timer.failures == 2
    assert "no reply (call 2)" in caplog.text and "no reply (call 3)" in caplog.text


def test_wall_clock_timer_stops_when_cancelled():
    flaky = _Flaky()
    timer = WallClock().call_every(0.01, flaky)
    time.sleep(0.05)
    timer.cancel()
    time.sleep(0.03)
    calls = flaky.calls
    time.sleep(0.05)
    assert flaky.calls == calls


def test_sim_clock_timer_goes_on_and_the_sleeper_is_not_hit(caplog):
    clock = SimClock(start=0.0)
    flaky = _Flaky(2)
    with caplog.at_level(logging.ERROR, logger="labctl.sim.clock"):
        timer = clock.call_every(1.0, flaky)
        clock.sleep(5.0)                  # whoever advances time does not get the timer's error
    assert clock.now() == 5.0
    assert flaky.ok == [1.0, 3.0, 4.0, 5.0]
    assert timer.failures == 1 and "no reply (call 2)" in caplog.text


def test_accelerated_sim_clock_timer_goes_on_after_a_failed_call():
    clock = SimClock(start=0.0, acceleration=100.0)
    flaky = _Flaky(1)
    timer = clock.call_every(1.0, flaky)  # 10 ms of wall time per call
    deadline = time.monotonic() + 5
    while len(flaky.ok) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    timer.cancel()
    assert len(flaky.ok) >= 3 and timer.failures == 1
