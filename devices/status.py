"""Statuses for work that takes time: one helper for "run this in a thread, return a Status".

Work handed to a thread keeps the lab clock's hold from the moment it was asked for until it sleeps on the
clock or ends, so a simulated lab sees it happen at the lab time the plan asked for, however many
experiments share the clock. On the wall clock the hold costs nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from ophyd.status import Status

if TYPE_CHECKING:
    from labctl.devices.clock import Clock


def finished(obj) -> Status:
    """A status that is already done: for requests the instrument carries out before replying."""
    status = Status(obj=obj)
    status.set_finished()
    return status


def run_in_thread(func: Callable[[], object], *, obj, clock: Clock | None, name: str) -> Status:
    """Call ``func()`` in a daemon thread named *name*; the status finishes when it returns and fails with
    what it raised. The status is marked done before the clock's hold is let go, so lab time cannot slip
    between the end of the work and the plan that waits for it. ``clock=None``: work that waits for a person,
    not for lab time (it must not hold the lab's clock)."""
    status = Status(obj=obj)
    hold = clock.hold(name) if clock is not None else None

    def run():
        if hold is not None:
            hold.adopt()
        try:
            func()
        except Exception as exc:
            status.set_exception(exc)
        else:
            status.set_finished()
        finally:
            if hold is not None:
                hold.release()

    threading.Thread(target=run, daemon=True, name=name).start()
    return status
