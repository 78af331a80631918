"""Operator checkpoints inside a run."""

from __future__ import annotations

import bluesky.plan_stubs as bps

from labctl.devices.operator import Checkpoint


def checkpoint(operator, action: str, prompt: str, *, stream: str = "checkpoints", **params):
    """Ask the operator to do *action* and record who confirmed it and when.

    A ``bps.checkpoint`` comes first, so a run paused while waiting here (Ctrl-C) asks again on resume.
    """
    yield from bps.checkpoint()
    yield from bps.mv(operator, Checkpoint(action, prompt, dict(params)))
    yield from bps.trigger_and_read([operator], name=stream)
