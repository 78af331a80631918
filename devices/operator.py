"""The operator as a device: checkpoints that need hands (disassemble a cell, connect a vial).

A plan moves the operator to a :class:`Checkpoint`; the status finishes when somebody confirms it. Who
confirms depends on the lab: at the instrument, a person at the console; in the simulated lab, a simulated
operator who also performs the action on the simulated world. Either way the run records what was asked,
who confirmed and when (lab time).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable

from ophyd import Component as Cpt
from ophyd import Device
from ophyd.status import Status

from .clock import Clock, WallClock
from .signals import Signal


@dataclass(frozen=True)
class Checkpoint:
    action: str                     # machine-readable: "transfer_to_titration", "inject_d2o", ...
    prompt: str                     # what the person is asked to do
    params: dict = field(default_factory=dict)


#: A confirmer blocks until the checkpoint is done and returns who did it.
Confirmer = Callable[[Checkpoint], str]


def console_confirmer(checkpoint: Checkpoint) -> str:
    """Ask at the terminal; the operator confirms by typing their name or initials."""
    print(f"\n*** Operator checkpoint: {checkpoint.prompt}")
    while True:
        who = input("    Type your name or initials when done: ").strip()
        if who:
            return who


class Operator(Device):
    action = Cpt(Signal, value="", kind="hinted")
    confirmed_by = Cpt(Signal, value="", kind="normal")
    confirmed_at = Cpt(Signal, value=0.0, units="s", kind="normal")

    def __init__(self, confirmer: Confirmer = console_confirmer, clock: Clock | None = None, *,
                 name: str = "operator", **kwargs):
        self.confirmer = confirmer
        self.clock = clock or WallClock()
        self._lock = threading.Lock()
        self._pending: tuple[Checkpoint, Status] | None = None
        super().__init__(name=name, **kwargs)

    def set(self, checkpoint: Checkpoint) -> Status:
        """Ask for *checkpoint*; the status finishes when somebody confirms it.

        Asking again for a checkpoint whose confirmation is still pending (a run paused at it and resumed)
        waits for that same confirmation rather than asking twice: one prompt at the console, one action in
        the simulated lab.
        """
        if not isinstance(checkpoint, Checkpoint):
            raise TypeError(f"{self.name}: expected a Checkpoint, got {checkpoint!r}")
        with self._lock:
            pending = self._pending
            if pending is not None and pending[0] == checkpoint and not pending[1].done:
                first = pending[1]
            else:
                first = Status(obj=self)
                self._pending = (checkpoint, first)
                threading.Thread(target=self._confirm, args=(checkpoint, first), daemon=True,
                                 name=f"{self.name}-checkpoint").start()
        status = Status(obj=self)

        def relay(done):
            exc = done.exception()
            status.set_exception(exc) if exc is not None else status.set_finished()

        first.add_callback(relay)
        return status

    def _confirm(self, checkpoint: Checkpoint, status: Status) -> None:
        try:
            who = self.confirmer(checkpoint)
            self.action.put(checkpoint.action)
            self.confirmed_by.put(str(who))
            self.confirmed_at.put(self.clock.now())
            status.set_finished()
        except Exception as exc:
            status.set_exception(exc)
