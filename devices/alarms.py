"""Work due at lab times (the end of a wait, a channel's next poll), done by one thread per clock.

On a simulated lab, lab time passes from one sleeping thread to the next: with a thread per wait and per
polled channel, every wait's end and every poll handed lab time to another thread, which then waited for
the GIL behind whatever else ran (the catalog's writer). The paper's campaign made 53,110 channel polls and
5,400 plan waits that way, and ran slower in parallel than one experiment after another (64.9 s against
51.6 s wall, bench/campaign.py, 2-core machine). Here one thread per clock sleeps until the earliest alarm
and rings every alarm due then, so lab time passes from alarm to alarm without a hand-over. Alarms keep
their lab times, so an experiment's data do not depend on which others run.

The thread cannot be woken before the lab time it sleeps to: an alarm due earlier than that gets a thread of
its own, which keeps every alarm on time.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

from ophyd.status import Status

if TYPE_CHECKING:
    from labctl.devices.clock import Clock

Ring = Callable[[], bool]   # called at the alarm's lab time; True: ring again one period later

_alarms: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_alarms_lock = threading.Lock()


def alarms(clock: Clock) -> Alarms:
    """The alarms of *clock*."""
    with _alarms_lock:
        found = _alarms.get(clock)
        if found is None:
            found = _alarms[clock] = Alarms(clock)
        return found


class _Alarm:
    __slots__ = ("ring", "period", "status")

    def __init__(self, ring: Ring, period: float | None, status: Status):
        self.ring, self.period, self.status = ring, period, status


class Alarms:
    """Alarms on one clock, rung by one thread that lives while any alarm is set. The thread holds the lab
    clock while it rings (one hold, taken for each busy spell), so lab time waits for every alarm due at the
    current lab time."""

    def __init__(self, clock: Clock):
        self.clock = weakref.proxy(clock)   # the registry is keyed by the clock: no reference back to it
        self._due: list[tuple[float, int, _Alarm]] = []
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._asleep_until: float | None = None   # the lab time the thread sleeps to, while it sleeps

    def at(self, seconds: float, *, obj) -> Status:
        """A status that finishes *seconds* of lab time from now."""
        return self._set(self.clock.now() + seconds, lambda: False, None, obj)

    def every(self, period: float, ring: Ring, *, obj) -> Status:
        """Call ``ring()`` now, in the caller's thread, and then every *period* lab seconds until it returns
        False (the status finishes) or raises (the status fails with the error)."""
        status = Status(obj=obj)
        try:
            again = ring()
        except Exception as exc:
            status.set_exception(exc)
            return status
        if not again:
            status.set_finished()
            return status
        return self._set(self.clock.now() + period, ring, period, obj, status)

    def _set(self, due: float, ring: Ring, period: float | None, obj, status: Status | None = None) -> Status:
        status = status or Status(obj=obj)
        alarm = _Alarm(ring, period, status)
        with self._lock:
            if self._thread is None:
                # the caller's hold keeps lab time here until the new thread sleeps towards this alarm
                self._thread = self._start(self.clock.hold("alarms"), self._run)
            elif self._asleep_until is not None and due < self._asleep_until:
                self._start(self.clock.hold("alarm"), lambda hold: self._ring_alone(due, alarm, hold))
                return status
            heapq.heappush(self._due, (due, next(self._seq), alarm))
        return status

    @staticmethod
    def _start(hold, target) -> threading.Thread:
        thread = threading.Thread(target=target, args=(hold,), daemon=True, name="lab-alarms")
        thread.start()
        return thread

    def _run(self, hold) -> None:
        hold.adopt()
        try:
            while True:
                with self._lock:
                    if not self._due:
                        self._thread = None
                        return
                    due = self._asleep_until = self._due[0][0]
                self.clock.sleep(due - self.clock.now())
                with self._lock:
                    self._asleep_until = None
                    now = self.clock.now()
                    taken = []
                    while self._due and self._due[0][0] <= now:
                        taken.append(heapq.heappop(self._due))
                for due, seq, alarm in taken:
                    if self._ring(alarm):
                        with self._lock:
                            heapq.heappush(self._due, (due + alarm.period, seq, alarm))
        finally:
            hold.release()

    def _ring_alone(self, due: float, alarm: _Alarm, hold) -> None:
        hold.adopt()
        try:
            while True:
                self.clock.sleep(due - self.clock.now())
                if not self._ring(alarm):
                    return
                due += alarm.period
        finally:
            hold.release()

    @staticmethod
    def _ring(alarm: _Alarm) -> bool:
        """Ring once; True if the alarm is to ring again."""
        try:
            again = alarm.ring()
        except Exception as exc:
            if not alarm.status.done:
                alarm.status.set_exception(exc)
            return False
        if not again and not alarm.status.done:   # a stopped wait may have been finished already
            alarm.status.set_finished()
        return again
