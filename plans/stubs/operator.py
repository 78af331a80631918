"""Operator checkpoints inside a run."""

from __future__ import annotations

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp

from labctl.devices.operator import Checkpoint


def checkpoint(operator, action: str, prompt: str, *, stream: str = "checkpoints", rewindable: bool = True,
               **params):
    """Ask the operator to do *action* and record who confirmed it and when.

    A ``bps.checkpoint`` comes first, so a run paused while waiting here (Ctrl-C) asks again on resume
    (the operator device joins the still-pending confirmation rather than prompting twice); another follows
    the confirmation, so a pause later in the run never asks for a step already done. With
    ``rewindable=False`` (a step asked for while the cell is running) neither is set: the caller's run
    cannot pause there.
    """
    if rewindable:
        yield from bps.checkpoint()
    yield from bps.mv(operator, Checkpoint(action, prompt, dict(params)))
    yield from bps.trigger_and_read([operator], name=stream)
    if rewindable:
        yield from bps.checkpoint()


def with_checkpoint(plan, operator, action: str, prompt: str, *, stream: str = "checkpoints", **params):
    """Run *plan* with an operator checkpoint inserted right after it opens its run (e.g. "assemble a fresh
    cell" at the start of a cycling run), so the confirmation is recorded in that run."""
    inserted = {"done": False}

    def after_open(msg):
        if msg.command == "open_run" and not inserted["done"]:
            inserted["done"] = True
            return None, checkpoint(operator, action, prompt, stream=stream, **params)
        return None, None

    return (yield from bpp.plan_mutator(plan, after_open))
