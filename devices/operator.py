"""The operator as a device: checkpoints that need hands (disassemble a cell, connect a vial).

A plan moves the operator to a :class:`Checkpoint`; the status finishes when somebody confirms it. Who
confirms depends on the lab: at the instrument, a person at the console; in the simulated lab, a simulated
operator who also performs the action on the simulated world. Either way the run records what was asked,
who confirmed and when (lab time).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from ophyd import Component as Cpt
from ophyd import Device
from ophyd.status import Status
from typing_extensions import override

from labctl.devices.clock import Clock, WallClock
from labctl.devices.options import InstrumentDescription
from labctl.devices.signals import Signal


@dataclass(frozen=True)
class Checkpoint:
    """An operator step: what to do (machine-readable), how to ask for it, and its details."""

    action: str                     # machine-readable: "transfer_to_titration", "inject_d2o", ...
    prompt: str                     # what the person is asked to do
    params: dict = field(default_factory=dict)
    experiment: str = ""            # who asks, when several experiments run at once


#: A confirmer blocks until the checkpoint is done and returns who did it. It may also have
#: ``cancel(checkpoint)``: withdraw the question (the call then raises), e.g. when the run asking was aborted,
#: and ``immediate = True`` when it answers at once, without waiting for anybody (a simulated operator): the
#: checkpoint is then confirmed at the lab time it was asked.
Confirmer = Callable[[Checkpoint], str]


class CheckpointCancelled(RuntimeError):
    """The run that asked for a checkpoint was stopped before anybody confirmed it."""


class _Question:
    def __init__(self, checkpoint: Checkpoint):
        self.checkpoint = checkpoint
        self.answered = threading.Event()
        self.answer: str | None = None
        self.error: BaseException | None = None


class ConsoleConfirmer:
    """Ask at the terminal; the operator confirms by typing their name or initials.

    Several experiments may wait at checkpoints at once: their questions are asked one at a time, in the
    order they came, each naming its experiment, and the reader hands each line to the question shown
    *now*. An experiment asking again replaces its own earlier question (a prompt left behind by an aborted
    run cannot swallow the answer meant for the next one); a line typed when no question is open is
    ignored and said to be. ``readline``/``write`` default to the process's stdin/stdout.
    """

    def __init__(self, readline: Callable[[], str] | None = None, write: Callable[[str], object] | None = None):
        self._readline = readline
        self._write = write
        self._lock = threading.Lock()
        self._queue: list[_Question] = []   # the first one is shown
        self._reading = False

    @override
    def __call__(self, checkpoint: Checkpoint) -> str:
        question = _Question(checkpoint)
        with self._lock:
            for old in [q for q in self._queue if q.checkpoint.experiment == checkpoint.experiment]:
                self._queue.remove(old)       # a newer question replaces one nobody answered
                self._withdraw(old)
            self._queue.append(question)
            show = self._queue[0] is question
            start, self._reading = not self._reading, True
        if show:
            self._ask(question)
        if start:
            threading.Thread(target=self._read, daemon=True, name="operator-console").start()
        question.answered.wait()
        if question.error is not None:
            raise question.error
        return question.answer

    def cancel(self, checkpoint: Checkpoint) -> None:
        """Withdraw the open question for *checkpoint*, if one is open."""
        with self._lock:
            question = next((q for q in self._queue if q.checkpoint == checkpoint), None)
            if question is None:
                return
            shown = self._queue[0] is question
            self._queue.remove(question)
            self._withdraw(question)
            following = self._queue[0] if shown and self._queue else None
        if following is not None:
            self._ask(following)

    @staticmethod
    def _withdraw(question: _Question) -> None:
        question.error = CheckpointCancelled(f"checkpoint {question.checkpoint.action!r} withdrawn")
        question.answered.set()

    def _ask(self, question: _Question) -> None:
        cp = question.checkpoint
        who = f" [{cp.experiment}]" if cp.experiment else ""
        self._say(f"\n*** Operator checkpoint{who}: {cp.prompt}\n    Type your name or initials when done: ")

    def _say(self, text: str) -> None:
        if self._write is not None:
            self._write(text)
        else:
            sys.stdout.write(text)
            sys.stdout.flush()

    def _read(self) -> None:
        readline = self._readline or sys.stdin.readline
        while True:
            try:
                line = readline()
                failure = None if line else EOFError("the console closed before the checkpoint was confirmed")
            except Exception as exc:
                line, failure = "", exc
            who, note, following = line.strip(), None, None
            with self._lock:
                if failure is not None:
                    for question in self._queue:
                        question.error = failure
                        question.answered.set()
                    self._queue, self._reading = [], False
                    return
                if not self._queue:
                    note = f"    (no operator checkpoint is waiting; {who!r} ignored)\n" if who else None
                elif not who:
                    note = "    Type your name or initials when done: "
                else:
                    question = self._queue.pop(0)
                    question.answer = who
                    question.answered.set()
                    following = self._queue[0] if self._queue else None
                if not self._queue:
                    self._reading = False
            if note:
                self._say(note)
            if following is not None:
                self._ask(following)
            if not self._reading:
                return


#: The console of the process (one reader for the whole process, however many operators ask through it).
console_confirmer = ConsoleConfirmer()


class _Ask:
    """One checkpoint being asked: the shared status every set() for it relays."""

    def __init__(self, checkpoint: Checkpoint, status: Status):
        self.checkpoint, self.status = checkpoint, status
        self.cancelled = False   # a late answer is ignored
        self.orphaned = False    # stopped while not paused: unless a pause follows, the run is over


class Operator(Device):
    """The operator: ``set(Checkpoint)`` finishes when the checkpoint is confirmed.

    A run paused at a checkpoint keeps the question open (resuming joins it). A run stopped or aborted there
    withdraws it: its status fails with :class:`CheckpointCancelled` and a late answer is not recorded.
    """

    action = Cpt(Signal, value="", kind="hinted")
    confirmed_by = Cpt(Signal, value="", kind="normal")
    confirmed_at = Cpt(Signal, value=0.0, units="s", kind="normal")

    def __init__(self, confirmer: Confirmer = console_confirmer, clock: Clock | None = None, *,
                 name: str = "operator", experiment: str = "", **kwargs):
        self.confirmer = confirmer
        self.experiment = experiment  # named in every checkpoint it asks, when experiments run at once
        self.clock = clock or WallClock()
        self._lock = threading.Lock()
        self._pending: _Ask | None = None
        self._paused = False
        super().__init__(name=name, **kwargs)

    def instrument_description(self) -> InstrumentDescription:
        """The operator: nothing to check a plan against but its kind."""
        return InstrumentDescription(self.name, "operator")

    def set(self, checkpoint: Checkpoint) -> Status:
        """Ask for *checkpoint*; the status finishes when somebody confirms it.

        Asking again for a checkpoint whose confirmation is still pending (a run paused at it and resumed)
        waits for that same confirmation rather than asking twice: one prompt at the console, one action in
        the simulated lab.
        """
        if not isinstance(checkpoint, Checkpoint):
            raise TypeError(f"{self.name}: expected a Checkpoint, got {checkpoint!r}")
        if self.experiment and not checkpoint.experiment:
            checkpoint = replace(checkpoint, experiment=self.experiment)
        stale = new = None
        with self._lock:
            ask = self._pending
            if ask is None or ask.status.done or ask.cancelled or ask.orphaned or ask.checkpoint != checkpoint:
                if ask is not None and not ask.status.done:
                    stale = self._cancel(ask, "another checkpoint was asked")
                ask = new = self._pending = _Ask(checkpoint, Status(obj=self))
        if stale is not None:
            self._withdraw(stale)
        if new is not None:
            if getattr(self.confirmer, "immediate", False):
                self._confirm(new)   # answered at the lab time it was asked
            else:  # a person: the wait holds nobody else's lab time
                threading.Thread(target=self._confirm, args=(new,), daemon=True,
                                 name=f"{self.name}-checkpoint").start()
        status = Status(obj=self)

        def relay(done):
            exc = done.exception()
            status.set_exception(exc) if exc is not None else status.set_finished()

        ask.status.add_callback(relay)
        return status

    def _confirm(self, ask: _Ask) -> None:
        try:
            who = self.confirmer(ask.checkpoint)
        except Exception as exc:
            with self._lock:
                if not ask.cancelled and not ask.status.done:
                    ask.status.set_exception(exc)
            return
        with self._lock:
            if ask.cancelled or ask.status.done:
                return  # a late answer to a withdrawn checkpoint records nothing
            if ask.orphaned:  # the run that asked has ended
                self._cancel(ask, "the run was stopped before anybody confirmed it")
                return
            self.action.put(ask.checkpoint.action)
            self.confirmed_by.put(str(who))
            self.confirmed_at.put(self.clock.now())
            ask.status.set_finished()

    def _cancel(self, ask: _Ask, why: str) -> _Ask:
        """Mark *ask* withdrawn and fail its status (call with the lock held)."""
        ask.cancelled = True
        if not ask.status.done:
            ask.status.set_exception(CheckpointCancelled(f"{self.name}: checkpoint {ask.checkpoint.action!r} "
                                                         f"cancelled: {why}"))
        return ask

    def _withdraw(self, ask: _Ask) -> None:
        cancel = getattr(self.confirmer, "cancel", None)
        if cancel is not None:
            cancel(ask.checkpoint)

    # -- run-engine hooks ---------------------------------------------------------------------------
    def stop(self, *, success: bool = False) -> None:
        """The run is stopping (or pausing: the engine stops devices first, then pauses them).

        Stopped while paused (an abort after Ctrl-C): the open checkpoint is withdrawn now. Stopped while
        running: unless a pause follows, the answer belongs to no run and will not be recorded.
        """
        with self._lock:
            ask, paused, self._paused = self._pending, self._paused, False
            if ask is None or ask.status.done or ask.cancelled:
                return
            if not paused:
                ask.orphaned = True
                return
            self._cancel(ask, "the run was stopped before anybody confirmed it")
        self._withdraw(ask)

    def pause(self) -> None:
        """Paused at a checkpoint: its question stays open, so that resuming can join it."""
        with self._lock:
            self._paused = True
            if self._pending is not None:
                self._pending.orphaned = False

    @override
    def resume(self) -> None:
        with self._lock:
            self._paused = False
