"""One simulated clock for several experiments: lab time jumps to the next moment somebody is due, never
while somebody works at the current lab time, and each experiment's timeline is the same whatever the
threads' interleaving or the machine's speed."""

from __future__ import annotations

import random
import threading
import time

import numpy as np
import pytest

from labctl.sim.clock import SimClock


def _run_threads(clock, *targets):
    """Start each target in its own thread, holding the clock from the start (as device work and running
    experiments do) until it ends."""
    def held(target, hold):
        def run():
            hold.adopt()
            try:
                target()
            finally:
                hold.release()
        return run

    threads = [threading.Thread(target=held(t, clock.hold(f"thread {k}")), daemon=True)
               for k, t in enumerate(targets)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
        assert not t.is_alive(), "a thread never got its lab time"


def _experiment(clock, name, steps, jitter, trace):
    """Work (a random wall-time delay standing for I/O) at each lab time, then wait the next step in lab
    time; records the lab time each piece of work saw."""
    def run():
        for dt in steps:
            time.sleep(jitter.random() * 0.002)
            trace.append((name, clock.now()))
            clock.sleep(dt)
        trace.append((name, clock.now()))
    return run


def test_sleepers_wake_in_lab_time_order():
    clock = SimClock(start=0.0)
    woke = []
    _run_threads(clock, lambda: (time.sleep(0.05), clock.sleep(10), woke.append(("A", clock.now()))),
                 lambda: (clock.sleep(3), woke.append(("B", clock.now()))))
    assert woke == [("B", 3.0), ("A", 10.0)]
    assert clock.now() == 10.0


def test_a_lone_sleeper_outside_any_hold_moves_time_at_once():
    clock = SimClock(start=0.0)
    clock.sleep(3600)
    assert clock.now() == 3600.0


def test_lab_time_stands_still_while_anybody_works():
    clock = SimClock(start=0.0)
    seen = []

    def worker():
        time.sleep(0.1)                 # wall time spent talking to an instrument
        seen.append(clock.now())

    _run_threads(clock, worker, lambda: clock.sleep(5))
    assert seen == [0.0]                # the other thread's 5 s did not pass while the worker worked
    assert clock.now() == 5.0


def test_a_waiter_counts_as_working_from_the_moment_its_wait_is_over():
    clock = SimClock(start=0.0)
    done = threading.Event()
    engine = clock.hold("engine")
    engine.release_until(done.is_set)    # waiting for a status, which a timer completes at t = 2
    clock.call_every(2.0, lambda now: done.set())
    advanced = []
    t = threading.Thread(target=lambda: (clock.sleep(60), advanced.append(clock.now())), daemon=True)
    t.start()
    deadline = time.monotonic() + 5
    while not done.is_set() and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(0.05)
    assert done.is_set() and clock.now() == 2.0 and not advanced   # held at 2 s until the waiter is back
    engine.release_until(lambda: False)  # the waiter went on to wait for something else
    t.join(5)
    assert advanced == [60.0]


def test_timers_fire_before_sleepers_due_at_the_same_time():
    clock = SimClock(start=0.0)
    order = []
    clock.call_every(5.0, lambda now: order.append(("timer", now)))
    _run_threads(clock, lambda: (clock.sleep(10), order.append(("sleeper", clock.now()))))
    assert order == [("timer", 5.0), ("timer", 10.0), ("sleeper", 10.0)]


def test_each_experiment_sees_the_same_timeline_whatever_the_interleaving():
    rng = np.random.default_rng(7)
    plans = {f"exp{k}": list(rng.choice([0.5, 1.0, 2.5, 7.0, 60.0], size=40)) for k in range(5)}

    def timelines(jitter_seed, names):
        clock = SimClock(start=1000.0)
        trace: list = []
        ticks: list = []
        clock.call_every(1.0, lambda now: ticks.append(now))
        jitter = random.Random(jitter_seed)
        _run_threads(clock, *[_experiment(clock, n, plans[n], random.Random(jitter.random()), trace)
                              for n in names])
        return {n: [t for m, t in trace if m == n] for n in names}

    alone = timelines(1, ["exp0"])
    together = timelines(2, list(plans))
    again = timelines(3, list(plans)[::-1])
    expected = list(np.cumsum([0.0] + plans["exp0"]) + 1000.0)
    assert alone["exp0"] == expected
    assert together == again
    assert together["exp0"] == expected


def test_a_timer_callback_may_not_sleep():
    clock = SimClock(start=0.0)
    errors = []

    def nap(now):
        try:
            clock.sleep(1)
        except RuntimeError as exc:
            errors.append(str(exc))

    clock.call_every(1.0, nap)
    clock.sleep(1.0)
    assert errors and "cannot sleep" in errors[0]


@pytest.mark.parametrize("acceleration", [200.0])
def test_holds_mean_nothing_in_real_time(acceleration):
    clock = SimClock(start=0.0, acceleration=acceleration)
    hold = clock.hold("anything")
    t0 = clock.now()
    clock.sleep(2.0)                     # 10 ms of wall time, held or not
    hold.release()
    assert clock.now() - t0 >= 2.0


def test_settle_waits_for_everybody_else_at_this_lab_time_without_moving_it_on():
    clock = SimClock(start=0.0)
    finished = []

    def slow_worker():
        time.sleep(0.1)                 # still working at t = 0 when the settler arrives
        finished.append(clock.now())
        clock.sleep(50)                 # then waits in lab time: the settler goes first

    seen = []

    def settler():
        clock.settle()
        seen.append((clock.now(), list(finished)))

    _run_threads(clock, slow_worker, settler)
    assert seen == [(0.0, [0.0])]
    assert clock.now() == 50.0
