"""Lab time.

Every timed wait in labctl goes through a :class:`Clock`, never ``time.sleep``: on real hardware the clock is
the wall clock; in the simulated lab it is a simulated clock that can run hours of protocol in seconds.
Drivers, devices and plans only see this protocol, so they never know which one they have.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from ophyd import Component as Cpt
from ophyd import Device
from ophyd.status import Status
from typing_extensions import override

from labctl.devices.alarms import alarms
from labctl.devices.options import DriverDeclaration, InstrumentDescription
from labctl.devices.signals import DriverSignal

log = logging.getLogger(__name__)

DRIVER = DriverDeclaration("lab.clock", "clock", "none",
                           description="lab time: wall clock on hardware, simulated clock in the simulated lab")


class Timer(Protocol):
    """A periodic call. A callback that raises does not end it: the error is logged and counted in
    ``failures``, and the next call comes on time (whoever needs to act on failures keeps its own record)."""

    failures: int

    def cancel(self) -> None:
        """Stop the calls (idempotent)."""


class Hold(Protocol):
    """Lab work in progress at the current lab time. A simulated clock does not advance while any hold is
    held, so work started at lab time t happens at t however many experiments share the clock; the wall
    clock ignores holds. Taken by the thread that asks for the work, handed to the thread that does it."""

    def adopt(self) -> None:
        """Make the calling thread the holder: its ``clock.sleep`` lets go of the hold while it sleeps."""

    def release(self) -> None:
        """Let go: the work is over, or nothing is to be done for now (idempotent; :meth:`reacquire`
        holds again)."""

    def release_until(self, ready: Callable[[], bool]) -> None:
        """Let go while waiting for something; counted as held again as soon as ``ready()`` is true, so the
        waiter resumes at the lab time its wait ended."""

    def reacquire(self) -> None:
        """Hold again (after :meth:`release_until` or :meth:`release`)."""


@runtime_checkable
class Clock(Protocol):
    """What labctl needs from time."""

    def now(self) -> float:
        """Lab time in seconds since the Unix epoch."""

    def sleep(self, seconds: float) -> None:
        """Return once lab time has advanced by *seconds* (a simulated clock may advance it itself)."""

    def call_every(self, period: float, callback: Callable[[float], None]) -> Timer:
        """Call ``callback(now)`` every *period* lab seconds until the returned timer is cancelled.

        An exception from *callback* is logged and counted (``timer.failures``); the timer keeps running.
        """

    def hold(self, name: str) -> Hold:
        """A :class:`Hold` on lab time, named for what holds it (shown when lab time is stalled)."""

    def settle(self) -> None:
        """Return once everybody else working at the current lab time is done (the calling thread's holds
        are let go meanwhile); lab time does not move on. The wall clock returns at once."""


class _NoHold:
    """The wall clock's hold: wall time passes whatever anybody holds."""

    def adopt(self) -> None:
        """Nothing to hand over: wall time does not wait for the holder."""

    def release(self) -> None:
        """Nothing was held."""

    def release_until(self, ready: Callable[[], bool]) -> None:
        """Nothing to let go of while waiting."""

    def reacquire(self) -> None:
        """Nothing to take back."""


NO_HOLD = _NoHold()


class WallClock:
    """Real time: the clock of every hardware profile."""

    @override
    def now(self) -> float:
        return time.time()

    @override
    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    @override
    def call_every(self, period: float, callback: Callable[[float], None]) -> Timer:
        return _ThreadTimer(self, period, callback)

    @override
    def hold(self, name: str) -> Hold:
        return NO_HOLD

    @override
    def settle(self) -> None:
        pass


class _ThreadTimer:
    def __init__(self, clock: Clock, period: float, callback: Callable[[float], None]):
        if period <= 0:
            raise ValueError(f"timer period must be positive, got {period}")
        self._stop = threading.Event()
        self.failures = 0
        self._thread = threading.Thread(target=self._run, args=(clock, period, callback), daemon=True,
                                        name="labctl-timer")
        self._thread.start()

    def _run(self, clock, period, callback):
        deadline = clock.now() + period
        while not self._stop.wait(max(0.0, deadline - clock.now())):
            try:
                callback(clock.now())
            except Exception:  # one failed call (an instrument timeout, say) must not end the timer
                self.failures += 1
                log.exception("periodic call %r failed (%d so far); the timer goes on", callback, self.failures)
            deadline += period

    def cancel(self) -> None:
        self._stop.set()


class LabClock(Device):
    """The lab clock as an ophyd device.

    Reading it gives lab time (``time``) and time since the device was made (``elapsed``), so every event
    can carry experiment time as a data column. Setting it to a number of seconds waits that long in lab
    time: ``yield from bps.mv(clock, 600)`` (see :func:`labctl.plans.stubs.time.wait`).
    """

    # -- what the signals read and write (bound below, so a renamed method cannot be missed) --
    def _now(self) -> float:
        return self.clock.now()

    def _elapsed(self) -> float:
        return self.clock.now() - self._t0

    time = Cpt(DriverSignal, getter=_now, units="s", kind="hinted")
    elapsed = Cpt(DriverSignal, getter=_elapsed, units="s", kind="normal")

    def __init__(self, clock: Clock | None = None, *, name: str = "clock", **kwargs):
        self.clock: Clock = clock or WallClock()
        self._t0 = self.clock.now()
        self._waits: dict[int, list[Status]] = {}   # by the thread that asked
        self._waits_lock = threading.Lock()
        super().__init__(name=name, **kwargs)

    def instrument_description(self) -> InstrumentDescription:
        """The lab clock: nothing to check a plan against but its kind."""
        return InstrumentDescription(self.name, "clock")

    @override
    def set(self, seconds: float) -> Status:
        seconds = float(seconds)
        if not seconds >= 0:
            raise ValueError(f"{self.name}: cannot wait {seconds} s")
        status = alarms(self.clock).at(seconds, obj=self)
        with self._waits_lock:
            mine = [w for w in self._waits.get(threading.get_ident(), ()) if not w.done]
            self._waits[threading.get_ident()] = [*mine, status]
        return status

    @override
    def stop(self, *, success: bool = False) -> None:
        """End now the waits asked for from this thread: a RunEngine stops what it set from its own loop
        thread, and experiments sharing the lab clock must not cut each other's waits short."""
        with self._waits_lock:
            waits = self._waits.pop(threading.get_ident(), [])
        for status in waits:
            if not status.done:
                status.set_finished()
