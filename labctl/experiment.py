"""One experiment: an ordinary Bluesky plan run in a RunEngine and thread of its own.

Several experiments run at once in one lab (four cells cycling while the MS titrates). Giving each its own
RunEngine keeps each a plain Bluesky run, with its own start and stop documents, metadata and catalog
entry, and lets one be paused, resumed, stopped or fail without touching the others; documents from every
engine go to the one storage of the lab. The instruments an experiment holds, and when it starts, are the
:class:`~labctl.scheduler.Scheduler`'s business.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import Counter
from collections.abc import Callable, Iterable

from bluesky.utils import RunEngineInterrupted

log = logging.getLogger(__name__)

#: states an experiment passes through; the last four are final
STATES = ("waiting", "running", "paused", "done", "failed", "stopped", "aborted", "cancelled")
FINAL = frozenset(STATES[3:])


class ExperimentError(RuntimeError):
    """An experiment cannot do what was asked (resume one that is not paused, ...)."""


class Experiment:
    """A plan running (or waiting to run) in the background; see :meth:`labctl.session.Session.start`.

    ``state`` is one of :data:`STATES`; ``uids`` the runs it opened; ``error`` what ended it, if anything
    did; ``progress`` the events recorded so far per stream.
    """

    def __init__(self, name: str, plan, instruments: Iterable[str], *, after: Iterable[Experiment] = (),
                 md: dict | None = None, plan_name: str = ""):
        self.name = name
        self.plan = plan
        self.plan_name = plan_name or getattr(getattr(plan, "gi_code", None), "co_name", "") or "plan"
        self.instruments = tuple(dict.fromkeys(instruments))
        self.after = tuple(after)
        self.md = dict(md or {})
        self.state = "waiting"
        self.uids: tuple[str, ...] = ()
        self.error: BaseException | None = None
        self.reason = ""
        self.started_at: float | None = None   # lab time
        self.ended_at: float | None = None
        self.progress: Counter = Counter()
        self.RE = None
        self._commands: queue.Queue = queue.Queue()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._listeners: list[Callable[[str, dict], None]] = []
        self._open_run: list[tuple[str, dict]] = []  # the running run's start and descriptors, for late watchers
        self._listening = threading.Lock()

    # -- running (called by the scheduler) ----------------------------------------------------------
    def _start(self, RE, clock, hold, on_end: Callable[[Experiment], None]) -> None:
        """Run the plan in *RE* in a thread of its own, *hold* (taken by the caller at this lab time) handed
        to it; *on_end* is called from that thread once the plan has ended, still at its lab time."""
        self.RE = RE
        self.state = "running"
        self.started_at = clock.now()
        RE.subscribe(self._count)
        self._thread = threading.Thread(target=self._run, args=(clock, hold, on_end), daemon=True,
                                        name=f"experiment-{self.name}")
        self._thread.start()

    def _run(self, clock, hold, on_end) -> None:
        hold.adopt()
        RE = self.RE
        RE.hold_between_plans(hold)
        go: Callable = lambda: RE(self.plan, **self.md)  # noqa: E731
        try:
            while True:
                try:
                    self.uids = tuple(go())
                    break
                except RunEngineInterrupted:
                    self.uids = tuple(getattr(RE, "_run_start_uids", ()))
                    if RE.state == "idle":   # stopped or aborted from another thread while running: it is over
                        break
                    self.state = "paused"
                    command = self._commands.get()   # a paused experiment holds no lab time
                    go = {"resume": RE.resume, "stop": RE.stop, "abort": lambda: RE.abort(self.reason)}[command]
                    self.state = "running"
            status = getattr(RE, "_exit_status", "success")
            self.state = {"success": "done", "abort": "aborted", "fail": "failed"}.get(status, "done")
            if self.state == "done" and self.reason:
                self.state = "stopped"
        except BaseException as exc:   # the plan failed: its run is closed with exit_status "fail"
            self.uids = self.uids or tuple(getattr(RE, "_run_start_uids", ()))
            self.error = exc
            self.state = "failed"
            log.error("experiment %s failed: %s", self.name, exc)
        finally:
            self.ended_at = clock.now()
            try:
                on_end(self)
            finally:
                self._done.set()
                hold.release()

    def _count(self, name: str, doc: dict) -> None:
        if name == "descriptor":
            self.progress.setdefault(doc.get("name", "primary"), 0)
            self._streams = getattr(self, "_streams", {})
            self._streams[doc["uid"]] = doc.get("name", "primary")
        elif name in ("event", "event_page"):
            stream = getattr(self, "_streams", {}).get(doc["descriptor"], "primary")
            self.progress[stream] += len(doc["seq_num"]) if name == "event_page" else 1
        with self._listening:
            if name == "start":
                self._open_run = [(name, doc)]
            elif name == "descriptor":
                self._open_run.append((name, doc))
            elif name == "stop":
                self._open_run = []
            listeners = list(self._listeners)
        for listener in listeners:
            listener(name, doc)

    # -- control (from any thread) ------------------------------------------------------------------
    @property
    def finished(self) -> bool:
        """Whether the experiment has ended, one way or another."""
        return self.state in FINAL

    def pause(self) -> None:
        """Pause at the plan's next checkpoint (a running technique finishes first)."""
        if self.state == "running" and self.RE is not None:
            self.RE.request_pause(defer=True)

    def resume(self) -> None:
        """Go on from the checkpoint a paused experiment stopped at."""
        if self.state != "paused":
            raise ExperimentError(f"{self.name} is {self.state}, not paused")
        self._commands.put("resume")

    def stop(self, reason: str = "stopped by the operator") -> None:
        """End the plan now (its cleanup runs); the run counts as a success."""
        self._interrupt("stop", reason)

    def abort(self, reason: str = "aborted by the operator") -> None:
        """End the plan now (its cleanup runs); the run is marked aborted."""
        self._interrupt("abort", reason)

    def _interrupt(self, how: str, reason: str) -> None:
        if self.finished:
            return
        self.reason = reason
        RE = self.RE
        if RE is None:
            return
        if RE.state == "paused" or self.state == "paused":
            self._commands.put(how)   # the experiment's own thread ends it (the call runs the cleanup)
        elif RE.state in ("running", "pausing"):
            try:
                RE.abort(reason) if how == "abort" else RE.stop()
            except Exception as exc:   # it paused or ended meanwhile
                log.debug("%s %s: %s", how, self.name, exc)
                if RE.state == "paused":
                    self._commands.put(how)

    def wait(self, timeout: float | None = None) -> tuple[str, ...]:
        """Wait until the experiment has ended; its run uids. Raises what ended a failed one."""
        if not self._done.wait(timeout) and not self.finished:
            raise TimeoutError(f"{self.name} is still {self.state}")
        if self.error is not None:
            raise self.error
        return self.uids

    def watch(self, callback: Callable[[str, dict], None]) -> Callable[[], None]:
        """Send every document from now on to *callback*, after the start and descriptors of the run under
        way (so a plot or table made for them follows a run watched midway); returns the function that stops
        it."""
        with self._listening:
            for name, doc in self._open_run:
                callback(name, doc)
            self._listeners.append(callback)
        return lambda: self._listeners.remove(callback) if callback in self._listeners else None

    def summary(self) -> dict:
        """What a table or a log line shows of the experiment."""
        return {"name": self.name, "state": self.state, "plan": self.plan_name,
                "instruments": list(self.instruments), "events": sum(self.progress.values()),
                "streams": dict(self.progress), "started_at": self.started_at, "ended_at": self.ended_at,
                "uids": list(self.uids), "error": None if self.error is None else str(self.error)}

    def __repr__(self) -> str:
        return f"<Experiment {self.name!r} {self.state} ({self.plan_name} on {', '.join(self.instruments)})>"
