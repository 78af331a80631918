"""The simulated lab's clock, shared by the world and every simulated instrument.

Two ways to run:

* ``acceleration=None`` (default): as fast as the machine allows. Lab time stands still until somebody waits
  on it; ``sleep(dt)`` then advances it by ``dt`` at once, firing every timer that falls due on the way, in
  order, in the sleeping thread. Runs are deterministic. Waits from several threads advance time one after
  the other.
* ``acceleration=k``: lab time runs ``k`` times faster than wall time, for clients outside the process
  (a TCP or pseudo-terminal simulator) that expect time to pass on its own.

The world is stepped lazily: whoever reads it first brings it up to ``now()``.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

EPOCH_DEFAULT = None  # start at the wall time of creation

log = logging.getLogger(__name__)


class SimTimer:
    """A periodic call on the simulated clock."""

    def __init__(self, clock: SimClock, period: float, callback: Callable[[float], None]):
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
            log.exception("periodic call %r failed (%d so far); the timer goes on", self.callback, self.failures)


class SimClock:
    """Lab time of the simulated lab: advances when somebody sleeps on it (or with the wall clock)."""

    def __init__(self, *, start: float | None = EPOCH_DEFAULT, acceleration: float | None = None):
        if acceleration is not None and not acceleration > 0:
            raise ValueError(f"acceleration must be positive or None, got {acceleration}")
        self.acceleration = acceleration
        self._start = time.time() if start is None else float(start)
        self._now = self._start
        self._wall0 = time.monotonic()
        self._lock = threading.RLock()
        self._timers: list[tuple[float, int, SimTimer]] = []
        self._seq = itertools.count()

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
        with self._lock:
            target = self._now + seconds
            while self._timers and self._timers[0][0] <= target:
                due, _, timer = heapq.heappop(self._timers)
                if timer.cancelled:
                    continue
                self._now = max(self._now, due)
                heapq.heappush(self._timers, (due + timer.period, next(self._seq), timer))
                timer.fire(self._now)
            self._now = max(self._now, target)

    advance = sleep  # reads better in tests and simulators: ``lab.clock.advance(3600)``

    def call_every(self, period: float, callback: Callable[[float], None]) -> SimTimer:
        if period <= 0:
            raise ValueError(f"timer period must be positive, got {period}")
        timer = SimTimer(self, period, callback)
        if self.acceleration is None:
            with self._lock:
                heapq.heappush(self._timers, (self._now + period, next(self._seq), timer))
        else:
            timer._thread = threading.Thread(target=self._run_realtime, args=(timer,), daemon=True,
                                             name="sim-timer")
            timer._thread.start()
        return timer

    def hold(self, name: str) -> SimHold:
        return SimHold(self, name)

    def _run_realtime(self, timer: SimTimer) -> None:
        due = self.now() + timer.period
        while not timer.cancelled:
            time.sleep(max(0.0, (due - self.now()) / self.acceleration))
            if timer.cancelled:
                break
            timer.fire(self.now())
            due += timer.period


class SimHold:
    """A hold on the simulated clock (the ``Hold`` protocol of ``labctl.devices.clock``)."""

    def __init__(self, clock: SimClock, name: str):
        self.clock, self.name = clock, name

    def adopt(self) -> None:
        pass

    def release(self) -> None:
        pass

    def release_until(self, ready: Callable[[], bool]) -> None:
        pass

    def reacquire(self) -> None:
        pass
