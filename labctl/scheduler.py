"""Which experiment runs when: instruments as resources that one experiment holds at a time, order
constraints between experiments, and decisions that come out the same however the threads interleave.

Every decision is taken in one thread, at a lab time when everybody else working at that lab time is done
(``clock.settle()``): experiments ending at the same lab time are all seen before anything starts, so the
same campaign gives the same schedule on any machine. Waiting experiments are considered in the order they
were submitted; one waiting for an instrument keeps later ones off it (nobody starves), and an experiment
takes all its instruments at once (no deadlock).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from labctl.experiment import FINAL, Experiment

log = logging.getLogger(__name__)


class InstrumentBusy(RuntimeError):
    """An instrument is held by another experiment."""

    def __init__(self, instrument: str, holder: str, wanted_by: str = ""):
        self.instrument, self.holder = instrument, holder
        who = f"{wanted_by}: " if wanted_by else ""
        super().__init__(f"{who}{instrument} is held by experiment {holder!r}")


class UnknownInstrument(KeyError):
    """An experiment names an instrument the lab does not have."""

    def __str__(self) -> str:   # one line, without the quotes KeyError puts around its message
        return str(self.args[0]) if self.args else ""


class Scheduler:
    """Starts submitted experiments as their instruments and predecessors allow.

    *engine(name)* makes a RunEngine for an experiment (storage subscribed, lab clock attached); *safe(names)*
    puts instruments in their safe state after an experiment that did not end well.
    """

    def __init__(self, clock, engine: Callable[[str], object], safe: Callable[[Iterable[str]], None]):
        self.clock = clock
        self._engine, self._safe = engine, safe
        self._cond = threading.Condition()
        self._queue: list[Experiment] = []         # waiting, in submission order
        self._running: list[Experiment] = []
        self._ended: list[Experiment] = []
        self._holders: dict[str, Experiment] = {}  # instrument -> experiment holding it
        self._changes = 0
        self._held = False                          # everything paused: nothing new starts
        self._closed = False
        self._hold = clock.hold("scheduler")
        self._hold.release_until(lambda: self._changes > 0)
        self._thread = threading.Thread(target=self._loop, daemon=True, name="labctl-scheduler")
        self._thread.start()

    # -- what users call ----------------------------------------------------------------------------
    def submit(self, experiment: Experiment, *, wait: bool = True) -> Experiment:
        """Queue *experiment*; with ``wait=False`` refuse it at once (:class:`InstrumentBusy`) if an
        instrument it needs is held or claimed by another experiment."""
        with self._cond:
            if self._closed:
                raise RuntimeError("the lab is closed")
            if any(e.name == experiment.name for e in self.experiments if not e.finished):
                raise ValueError(f"an experiment named {experiment.name!r} is already under way")
            if not wait:
                for name in experiment.instruments:
                    holder = self._holders.get(name) or next(
                        (e for e in self._queue if name in e.instruments), None)
                    if holder is not None:
                        raise InstrumentBusy(name, holder.name, experiment.name)
            self._queue.append(experiment)
            self._changed()
        return experiment

    @property
    def paused(self) -> bool:
        """Everything was paused (:meth:`pause_all`) and nothing new starts."""
        return self._held

    @property
    def experiments(self) -> list[Experiment]:
        """Ended, running and waiting experiments, in that order."""
        with self._cond:
            return [*self._ended, *self._running, *self._queue]

    def holder(self, instrument: str) -> Experiment | None:
        """The experiment holding *instrument* now, if any."""
        with self._cond:
            return self._holders.get(instrument)

    def claim(self, owner: str, instruments: Iterable[str]) -> None:
        """Hold *instruments* for something outside the queue (a plan run at the prompt), or refuse with
        :class:`InstrumentBusy` naming the experiment that holds one."""
        with self._cond:
            for name in instruments:
                holder = self._holders.get(name)
                if holder is not None:
                    raise InstrumentBusy(name, holder.name, owner)

    def pause_all(self) -> None:
        """Pause every running experiment at its next checkpoint and start nothing new until
        :meth:`resume_all`."""
        with self._cond:
            self._held = True
            running = list(self._running)
        for e in running:
            e.pause()

    def resume_all(self) -> None:
        """Resume every paused experiment and start waiting ones again."""
        with self._cond:
            self._held = False
            paused = [e for e in self._running if e.state == "paused"]
            self._changed()
        for e in paused:
            e.resume()

    def stop_all(self, reason: str = "stopped by the operator", *, abort: bool = False) -> None:
        """End every experiment: waiting ones are cancelled, running or paused ones stopped (or aborted);
        their cleanup runs and their instruments are left safe."""
        with self._cond:
            waiting, self._queue = self._queue, []
            for e in waiting:
                e.state, e.reason = "cancelled", reason
                e._done.set()
                self._ended.append(e)
            running = list(self._running)
        for e in running:
            e.abort(reason) if abort else e.stop(reason)

    def wait_all(self, timeout: float | None = None) -> list[Experiment]:
        """Wait until nothing waits or runs; every experiment, in the order they ended."""
        with self._cond:
            if not self._cond.wait_for(lambda: not self._queue and not self._running, timeout):
                raise TimeoutError(f"still under way: {', '.join(e.name for e in self._running + self._queue)}")
            return list(self._ended)

    def close(self) -> None:
        """Stop deciding (the session ends the experiments first)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(10)
        self._hold.release()

    # -- deciding -----------------------------------------------------------------------------------
    def _changed(self) -> None:
        """Something happened at this lab time (call with the lock held): decide before lab time moves on."""
        self._changes += 1
        self._cond.notify_all()

    def _loop(self) -> None:
        self._hold.adopt()
        while True:
            with self._cond:
                while not self._changes and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
            self.clock.settle()   # every experiment working at this lab time is done: see all of it
            with self._cond:
                self._changes = 0
                try:
                    self._decide()
                except Exception:   # a scheduler that dies would leave the lab's time stuck
                    log.exception("the scheduler could not decide")
                self._hold.release_until(lambda: self._changes > 0)

    def _decide(self) -> None:
        """Start, in submission order, every waiting experiment whose predecessors ended well and whose
        instruments are free and not claimed by an earlier waiting one (call with the lock held)."""
        claimed: set[str] = set()
        for e in list(self._queue):
            failed = [p for p in e.after if p.finished and p.state != "done"]
            if failed:
                self._queue.remove(e)
                e.state, e.reason = "cancelled", f"{failed[0].name} ended {failed[0].state}"
                e._done.set()
                self._ended.append(e)
                continue
            if self._held or not all(p.state == "done" for p in e.after):
                continue
            wanted = set(e.instruments)
            if wanted & claimed or any(name in self._holders for name in wanted):
                claimed |= wanted
                continue
            self._queue.remove(e)
            for name in wanted:
                self._holders[name] = e
            self._running.append(e)
            hold = self.clock.hold(f"experiment {e.name}")
            try:
                e._start(self._engine(e.name), self.clock, hold, self._ended_one)
            except BaseException as exc:
                hold.release()
                self._finish(e, exc)
        self._cond.notify_all()

    def _ended_one(self, e: Experiment) -> None:
        """From the experiment's thread, at the lab time it ended: make its instruments safe if it did not
        end well, give them back, and have the next decision taken before lab time moves on."""
        if e.state != "done":
            try:
                self._safe(e.instruments)
            except Exception as exc:
                log.error("%s: instruments not all safe after %s: %s", e.name, e.state, exc)
        with self._cond:
            self._finish(e, None)

    def _finish(self, e: Experiment, exc: BaseException | None) -> None:
        if exc is not None:
            e.error, e.state = exc, "failed"
            e._done.set()
        for name in e.instruments:
            if self._holders.get(name) is e:
                del self._holders[name]
        if e in self._running:
            self._running.remove(e)
        self._ended.append(e)
        self._changed()


__all__ = ["FINAL", "InstrumentBusy", "Scheduler", "UnknownInstrument"]
