"""The simulated lab's clock, shared by the world, every simulated instrument and every experiment.

Two ways to run:

* ``acceleration=None`` (default): a discrete-event clock, as fast as the machine allows. Lab time stands
  still while anybody works at the current lab time and jumps to the next moment somebody is due: a
  sleeper's deadline or a timer. Work is anybody holding a :class:`SimHold` (device work handed to a
  thread, an experiment's RunEngine between two waits), so several experiments sharing the clock each
  see their steps happen at the lab times they asked for, whatever the threads' interleaving or the
  machine's speed. Time is advanced by the sleeping threads themselves, one at a time: no thread of the
  clock's own, and a lone sleeper advances time at once, in its own thread.
  ``settle()`` waits, without moving lab time on, until everybody else working at the current lab time
  is done: a scheduler deciding what starts next sees every step taken at that lab time.
* ``acceleration=k``: lab time runs ``k`` times faster than wall time, for clients outside the process
  (a TCP or pseudo-terminal simulator) that expect time to pass on its own. Holds mean nothing there.

At one lab time, timers fire before sleepers wake, each kind in the order it was scheduled. The world is
stepped lazily: whoever reads it first brings it up to ``now()``.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

EPOCH_DEFAULT = None  # start at the wall time of creation
STALL_WARNING_S = 60.0  # wall seconds a sleeper waits before the holders are logged

log = logging.getLogger(__name__)

_SETTLER, _TIMER, _SLEEPER = -1, 0, 1   # at one lab time: settlers, then timers, then sleepers


class SimTimer:
    """A periodic or one-shot call on the simulated clock."""
    def __init__(self, clock: SimClock, period: float | None, callback: Callable[[float], None]):
        """``period=None``: a one-shot timer."""
        self.clock, self.period, self.callback = clock, period, callback
        self.cancelled = False
        self.failures = 0
        self._thread: threading.Thread | None = None

    def cancel(self) -> None:
        self.cancelled = True

    def fire(self, now: float) -> None:
        """Call back as the wall clock's timer does: a failing call is logged and counted, never raised into
        whichever thread happens to be advancing time, and the timer goes on."""
        try:
            self.callback(now)
        except Exception:
            self.failures += 1
            log.exception("timed call %r failed (%d so far); the timer goes on", self.callback, self.failures)


class _Sleeper:
    __slots__ = ("holds", "woken", "nudged", "signal")

    def __init__(self, holds: list[SimHold]):
        self.holds = holds
        self.woken = False
        self.nudged = False           # asked to move lab time on for everybody
        self.signal = threading.Event()


class SimHold:
    """Work in progress at the current lab time (the ``Hold`` protocol of ``labctl.devices.clock``).

    States: ``held`` (lab time cannot advance), ``released`` (gone), ``waiting`` (let go until ``ready()`` is
    true, then counted as held again), ``asleep`` (its thread sleeps on the clock).
    """

    def __init__(self, clock: SimClock, name: str):
        self.clock, self.name = clock, name
        self.state = "held"
        self.ready: Callable[[], bool] | None = None
        with clock._cond:
            clock._held.add(self)

    def adopt(self) -> None:
        self.clock._adopted().append(self)

    def release(self) -> None:
        clock = self.clock
        with clock._cond:
            if self.state == "released":
                return
            clock._held.discard(self)
            clock._waiting.discard(self)
            self.state, self.ready = "released", None
            clock._nudge()

    def release_until(self, ready: Callable[[], bool]) -> None:
        clock = self.clock
        with clock._cond:
            if self.state == "released":
                return
            clock._held.discard(self)
            self.state, self.ready = "waiting", ready
            clock._waiting.add(self)
            clock._nudge()

    def reacquire(self) -> None:
        clock = self.clock
        with clock._cond:
            if self.state == "held":
                return
            clock._waiting.discard(self)
            self.state, self.ready = "held", None
            clock._held.add(self)

    def __repr__(self) -> str:
        return f"<SimHold {self.name!r} {self.state}>"


class SimClock:
    """Lab time of the simulated lab (see the module docstring)."""
    def __init__(self, *, start: float | None = EPOCH_DEFAULT, acceleration: float | None = None):
        if acceleration is not None and not acceleration > 0:
            raise ValueError(f"acceleration must be positive or None, got {acceleration}")
        self.acceleration = acceleration
        self._start = time.time() if start is None else float(start)
        self._now = self._start
        self._wall0 = time.monotonic()
        self._cond = threading.Condition(threading.RLock())
        self._events: list[tuple[float, int, int, object]] = []   # (due, kind, seq, timer | sleeper)
        self._seq = itertools.count()
        self._held: set[SimHold] = set()
        self._waiting: set[SimHold] = set()
        self._returning: set[_Sleeper] = set()   # woken sleepers without a hold, until they are back
        self._sleeping: set[_Sleeper] = set()       # sleepers and settlers not yet woken
        self._advancing: threading.Thread | None = None
        self._firing = False
        self._local = threading.local()

    # -- the Clock protocol -------------------------------------------------------------------------
    def now(self) -> float:
        if self.acceleration is None:
            return self._now
        return self._start + (time.monotonic() - self._wall0) * self.acceleration

    @property
    def start(self) -> float:
        return self._start

    def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if self.acceleration is not None:
            time.sleep(seconds / self.acceleration)
            return
        self._block(seconds, _SLEEPER)

    def settle(self) -> None:
        """Return once everybody else working at the current lab time is done, without lab time moving on:
        for decisions that must see every step taken at this lab time (what ended, what is free)."""
        if self.acceleration is None:
            self._block(0.0, _SETTLER)

    def _block(self, seconds: float, kind: int) -> None:
        with self._cond:
            if self._advancing is threading.current_thread():
                raise RuntimeError("a timer callback cannot sleep on the simulated clock")
            holds = [h for h in self._adopted() if h.state in ("held", "waiting")]
            for hold in holds:
                self._held.discard(hold)
                self._waiting.discard(hold)
                hold.state, hold.ready = "asleep", None
            me = _Sleeper(holds)
            self._push(self._now + seconds, kind, me)
            self._sleeping.add(me)
            self._maybe_advance()
            while not me.woken:
                me.signal.clear()
                self._cond.release()
                try:
                    while not me.signal.wait(STALL_WARNING_S):
                        log.warning("simulated lab time stalled at %.3f for %.0f s: held by %s", self._now,
                                    STALL_WARNING_S, sorted(h.name for h in self._held | self._waiting) or "nobody")
                finally:
                    self._cond.acquire()
                if not me.woken and me.nudged:
                    me.nudged = False
                    self._maybe_advance()
            if me in self._returning:
                self._returning.discard(me)
                self._nudge()

    advance = sleep  # reads better in tests and simulators: ``lab.clock.advance(3600)``

    def call_every(self, period: float, callback: Callable[[float], None]) -> SimTimer:
        if period <= 0:
            raise ValueError(f"timer period must be positive, got {period}")
        timer = SimTimer(self, period, callback)
        if self.acceleration is None:
            with self._cond:
                self._push(self._now + period, _TIMER, timer)
        else:
            timer._thread = threading.Thread(target=self._run_realtime, args=(timer,), daemon=True,
                                             name="sim-timer")
            timer._thread.start()
        return timer

    def hold(self, name: str) -> SimHold:
        return SimHold(self, name)

    # -- the discrete-event core --------------------------------------------------------------------
    def _adopted(self) -> list[SimHold]:
        try:
            return self._local.holds
        except AttributeError:
            self._local.holds = []
            return self._local.holds

    def _push(self, due: float, kind: int, entry) -> None:
        heapq.heappush(self._events, (due, kind, next(self._seq), entry))

    def _quiescent(self) -> bool:
        """Nobody works at the current lab time (call with the lock held)."""
        if self._held or self._firing or self._returning:
            return False
        return not any(h.ready() for h in list(self._waiting))

    def _nudge(self) -> None:
        """Somebody stopped working (call with the lock held): if nobody works now, have a sleeping thread
        move lab time on. Not this thread: it may be a RunEngine's event loop, which timer callbacks must be
        free to call into."""
        if self._advancing is None and self._sleeping and self._quiescent():
            # the sleeper due first, if a sleeper is: it wakes itself instead of waking a third thread
            first = self._events[0][3] if self._events else None
            sleeper = first if first in self._sleeping else next(iter(self._sleeping))
            sleeper.nudged = True
            sleeper.signal.set()

    def _maybe_advance(self) -> None:
        """A sleeping thread moves lab time on, event by event, while nobody works at the current lab time
        (call with the lock held); only sleepers make it move, and timers fire in sleeping threads."""
        if self._advancing is not None:
            return
        self._advancing = threading.current_thread()
        try:
            while self._sleeping and self._quiescent():
                due, kind, _, entry = heapq.heappop(self._events)
                if kind == _TIMER:
                    if entry.cancelled:
                        continue
                    self._now = max(self._now, due)
                    if entry.period is not None:
                        self._push(due + entry.period, _TIMER, entry)
                    self._firing = True
                    self._cond.release()
                    try:
                        entry.fire(self._now)
                    finally:
                        self._cond.acquire()
                        self._firing = False
                else:
                    self._now = max(self._now, due)
                    self._sleeping.discard(entry)
                    for hold in entry.holds:
                        if hold.state == "asleep":
                            hold.state = "held"
                            self._held.add(hold)
                    if not entry.holds:
                        self._returning.add(entry)   # it acts at this lab time once it is back
                    entry.woken = True
                    entry.signal.set()
        finally:
            self._advancing = None

    # -- real-time mode -----------------------------------------------------------------------------
    def _run_realtime(self, timer: SimTimer) -> None:
        due = self.now() + timer.period
        while not timer.cancelled:
            time.sleep(max(0.0, (due - self.now()) / self.acceleration))
            if timer.cancelled:
                break
            timer.fire(self.now())
            due += timer.period
