"""The experiments of a session as a person at the prompt sees them: a table of state and progress, and a
live view of one of them.

``experiments(lab)`` prints as that table (IPython's ``experiments()``); ``watch(experiment)`` shows one
experiment's progress bar, live table and live plots until it ends or Ctrl-C (which stops the watching, not
the experiment).
"""

from __future__ import annotations

import io
import sys
import time

from rich.console import Console
from rich.table import Table


class ExperimentList(list):
    """A list of experiments that prints as a table."""

    def __init__(self, experiments, clock=None):
        super().__init__(experiments)
        self.clock = clock

    def table(self) -> Table:
        """One row per experiment: state, plan, instruments, lab time taken, events per stream."""
        now = self.clock.now() if self.clock is not None else None
        table = Table(title="experiments", title_justify="left")
        for column in ("name", "state", "plan", "instruments", "lab time", "events", "note"):
            table.add_column(column, justify="right" if column in ("lab time", "events") else "left")
        for e in self:
            if e.started_at is None:
                span = "-"
            else:
                end = e.ended_at if e.ended_at is not None else now
                span = f"{(end - e.started_at) / 3600:.2f} h" if end is not None else "-"
            streams = ", ".join(f"{k} {v}" for k, v in e.progress.items() if v) or "-"
            note = str(e.error or e.reason or "")
            if e.state == "waiting" and e.after:
                pending = [a.name for a in e.after if a.state != "done"]
                note = note or (f"after {', '.join(pending)}" if pending else "for instruments")
            table.add_row(e.name, e.state, e.plan_name, ", ".join(e.instruments), span, streams, note[:60])
        return table

    def __rich__(self) -> Table:
        return self.table()

    def __str__(self) -> str:
        out = io.StringIO()
        Console(file=out, width=140, color_system=None).print(self.table())
        return out.getvalue()

    __repr__ = __str__

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(str(self))


def watch(experiment, *, clock=None, file=None, poll: float = 0.2, plots: bool = True):
    """Show *experiment*'s progress, live table and live plots until it ends (Ctrl-C stops watching only).

    The plots are those the session's RunEngine would draw for the same plan (:class:`LabPlots`), made from
    this experiment's documents alone, in figures of its own that stay open afterwards; returns them
    (``figures``), or None without plots (``plots=False``, or a matplotlib backend that cannot draw them:
    then a line says why).
    """
    from labctl.app.live import LiveDisplay

    display = LiveDisplay(file, clock=clock)
    drawn = _plots(experiment.name, file) if plots else None
    stops = [experiment.watch(display)]
    if drawn is not None:
        stops.append(experiment.watch(drawn))
    try:
        while not experiment.finished:
            time.sleep(poll)
    except KeyboardInterrupt:
        pass
    finally:
        for stop in stops:
            stop()
        display.close()
    return drawn


def _plots(name: str, file):
    from labctl.app.plots import LabPlots, usable

    ok, why = usable()
    if not ok:
        print(why, file=file or sys.stderr)
        return None
    return LabPlots(name)
