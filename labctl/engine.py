"""The lab's RunEngine: bluesky's, with lab time in every run's start and stop documents and a hold on the
lab clock while it works.

Several RunEngines may share one simulated clock (one per experiment running at once). The clock only
moves lab time on while nobody works at the current lab time, so each engine holds the clock while it goes
through its messages and lets go while it waits: during a ``wait`` until the statuses it waits for are done
(from then on it counts as working again, so lab time cannot slip between the end of a move and the
plan's next step), while paused, and when idle. On the wall clock the hold costs nothing.
"""

from __future__ import annotations

import sys
import threading
import traceback
from typing import Any

from bluesky import RunEngine

from labctl import page_validation
from labctl.devices.clock import Clock, Hold, WallClock

#: commands during which the engine waits: for statuses, or for a person or the wall clock
_WAITS = ("wait", "input", "wait_for")
#: what a plan may have sent since its last checkpoint for a deferred pause to take effect at once while it
#: waits: going back to that checkpoint and replaying these on resume starts nothing twice
_REPLAYABLE = frozenset({"complete", "wait"})


class LabRunEngine(RunEngine):
    """A RunEngine that keeps a hold on the lab clock while it works and stamps ``lab_time`` (the lab clock,
    seconds since the epoch) on every start and stop document, so a run's lab-time span is known without
    reading its data. On the real lab ``lab_time`` equals wall time; in the simulated lab it is the simulated
    clock. The hold is kept by the engine's own commands and state changes, so every wait counts, replays
    after a resume included, whatever hooks a user sets."""

    def __init__(self, *args, lab_clock: Clock | None = None, hold_name: str = "RunEngine", **kwargs):
        self.lab_clock: Clock = lab_clock or WallClock()
        self._hold = self.lab_clock.hold(hold_name)
        self._hold.release()   # an idle engine holds nothing (the hold is taken again when a plan runs)
        self._hold_thread: threading.Thread | None = None
        self._between: Hold | None = None
        self._user_state_hook = None
        #: the metadata the engine was last called with (``RE(plan, sample="x")``), which outranks the plan's
        #: own and ``RE.md`` in the start document; for a validator that must know who said what
        self.call_metadata: dict[str, Any] = {}
        self._since_checkpoint: list[str] = []
        self._waiting_on: list = []   # the statuses of the wait in progress, if any
        super().__init__(*args, **kwargs)
        for command in _WAITS:
            self.register_command(command, self._letting_go(command, self._command_registry[command]))
        for command, handler in list(self._command_registry.items()):
            self._command_registry[command] = self._noting(command, handler)

    def __call__(self, plan, subs=None, /, **metadata_kw: Any):
        """Run *plan* as bluesky does, keeping what it was called with in :attr:`call_metadata`."""
        if self.state == "idle":  # a call refused because the engine is busy leaves the running plan's alone
            self.call_metadata = dict(metadata_kw)
        return super().__call__(plan, subs, **metadata_kw)

    def register_command(self, name, func):
        """Register a command as bluesky does; the engine notes it for :meth:`request_pause`."""
        super().register_command(name, self._noting(name, func))

    # -- a deferred pause while a technique runs -----------------------------------------------------
    def request_pause(self, defer: bool = False):
        """Pause as bluesky does, except that a deferred pause (one Ctrl-C) asked for while the plan only
        waits for flyers to complete since its last checkpoint takes effect now rather than when they end
        (a ten-hour plating): the pause leaves the technique running on the instrument, and the resume goes
        back to the checkpoint and waits for it again, which starts nothing twice."""
        if defer and self._only_waiting():
            defer = False
        return super().request_pause(defer)

    def _only_waiting(self) -> bool:
        since = list(self._since_checkpoint)
        return (bool(self._waiting_on) and "complete" in since and set(since) <= _REPLAYABLE
                and not all(s.done for s in self._waiting_on))

    def _noting(self, command: str, handler):
        if getattr(handler, "_noted", False):
            return handler

        async def noting(msg):
            if command == "checkpoint":
                self._since_checkpoint = []
            else:
                self._since_checkpoint.append(command)
            return await handler(msg)

        noting._noted = True
        return noting

    # -- lab time in the documents ------------------------------------------------------------------
    def emit_sync(self, name, doc):
        """Stamp start and stop documents with the lab clock, then dispatch as bluesky does."""
        if getattr(name, "value", name) in ("start", "stop"):
            doc["lab_time"] = self.lab_clock.now()
        super().emit_sync(name, doc)

    # -- the hold -----------------------------------------------------------------------------------
    def _letting_go(self, command: str, wait):
        async def letting_go(msg):
            if self._hold_thread is not threading.current_thread():
                # the engine's loop thread: a clock.sleep there lets go of the hold while it sleeps
                self._hold_thread = threading.current_thread()
                self._hold.adopt()
            if command == "wait":
                group = msg.args[0] if msg.args else msg.kwargs.get("group")
                # the engine keeps each group's statuses until the wait for it; bluesky has no public view
                statuses = list(self._status_objs.get(group, ()))
                self._waiting_on = statuses
                self._hold.release_until(lambda: all(s.done for s in statuses))
            else:
                self._hold.release()
            try:
                return await wait(msg)
            finally:
                self._waiting_on = []
                if self.state != "paused":  # a pause lets go until the resume
                    self._hold.reacquire()

        return letting_go

    def hold_between_plans(self, hold: Hold | None) -> None:
        """Hand the engine the hold of whoever runs it (an experiment's thread): it is let go while a plan
        runs (the engine's own hold takes over) or is paused, and taken back when the plan ends, so the
        runner acts on the end at the lab time the plan ended."""
        self._between = hold

    @property
    def state_hook(self):
        """The engine's own hook (which keeps its hold right) followed by the user's."""
        return self._on_state

    @state_hook.setter
    def state_hook(self, hook) -> None:
        self._user_state_hook = hook

    def _on_state(self, new: str, old: str) -> None:
        between = self._between
        if new == "running":
            self._hold.reacquire()
            if between is not None:
                between.release()
        elif new in ("paused", "idle", "panicked"):
            if between is not None and new != "paused":
                between.reacquire()
            self._hold.release()
        if self._user_state_hook is not None:
            self._user_state_hook(new, old)


class _CreatedAt:
    """Where a plan stub was made, formatted only if the never-iterated warning needs it."""

    __slots__ = ("frame", "name")

    def __init__(self, frame, name: str):
        self.frame, self.name = frame, name

    def __iter__(self):
        yield from traceback.format_stack(self.frame)
        yield f"RuntimeWarning: plan `{self.name}` was never iterated, did you mean to use `yield from`?"


def _lazy_plan_stacks() -> None:
    """bluesky wraps every plan stub in a ``Plan`` that formats the whole call stack when it is made, only
    to warn later should it never be iterated: 100-230 us per stub at the 30-60 frames deep that plans run
    inside a RunEngine (several stubs per reading), 16 % of the CPU time of the paper's campaign. Keep the
    frame instead and format it for the warning alone; the warning reads the same."""
    from bluesky import utils

    if getattr(utils.Plan, "_lazy_stack", False):
        return

    def init(self, f, *args, **kwargs) -> None:
        self._iter = f(*args, **kwargs)
        self._stack = _CreatedAt(sys._getframe(2), f.__name__)   # skip this and the decorator's wrapper

    utils.Plan.__init__ = init
    utils.Plan._lazy_stack = True


def run_engine(md: dict | None = None, *, clock: Clock | None = None, name: str = "RunEngine",
               **options: Any) -> LabRunEngine:
    """The one place labctl makes a RunEngine: sessions, experiments, tests and benchmarks all get one
    configured alike (the cheaper event-page validation of :mod:`labctl.page_validation`, plan stubs that
    format their stack only when warning, lab time in start and stop documents, and a hold on the lab
    *clock*)."""
    page_validation.install()
    _lazy_plan_stacks()
    return LabRunEngine(dict(md or {}), lab_clock=clock, hold_name=name, **options)
