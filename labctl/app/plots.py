"""Live plots of any run at the prompt: potential against lab time, coulombic efficiency per cycle, partial
pressures and flows against lab time, one figure each, a line per run (labelled with its scan id).

Each curve is bluesky's :class:`~bluesky.callbacks.mpl_plotting.LivePlot`, made when a stream's descriptor shows
a quantity worth plotting, so a plan needs to declare nothing. Two things LivePlot does not do are added here:
x is *lab time* (the lab clock's reading in the row, the instrument's own time, or the row's stamp, which a
potentiostat sets to lab time), because event times are wall time and mean nothing in the simulated lab; and a
page of rows (a technique's thousands) is taken in one go and redrawn at most every ``REDRAW_S`` of wall time,
where LivePlot would rescale and redraw once per row and hold up the RunEngine (``bench/live_plots.py``: 17-22
rows/s for LivePlot on Agg, about 235,000 for this).

Figures work on any matplotlib backend that draws from the thread that emits documents: non-interactive ones
(headless: figures are kept and can be saved) and Qt (through bluesky's teleporter). Other interactive backends
(Tk, macOS) must be drawn from the main thread only, so on those no plots are made and :func:`usable` says why.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from bluesky.callbacks.core import CallbackBase, make_class_safe
from bluesky.callbacks.mpl_plotting import LivePlot, QtAwareCallback, initialize_qt_teleporter

log = logging.getLogger(__name__)

REDRAW_S = 0.5
HOUR = 3600.0


def usable() -> tuple[bool, str]:
    """Whether live plots can be drawn on the current matplotlib backend, and if not why."""
    import matplotlib
    from matplotlib.backends import BackendFilter, backend_registry

    backend = matplotlib.get_backend().lower()
    if "qt" in backend:
        initialize_qt_teleporter()   # documents arrive on the RunEngine's thread; Qt draws on the main one
        return True, ""
    if backend in backend_registry.list_builtin(BackendFilter.NON_INTERACTIVE) or "inline" in backend:
        return True, ""
    return False, f"live plots are off: matplotlib's {backend} backend draws only from the main thread (use Qt)"


# -- which quantities are plotted -------------------------------------------------------------------------------

def _clock_time(keys: dict) -> str | None:
    for k in keys:
        if k.endswith("_elapsed") and k[: -len("_elapsed")] + "_time" in keys:
            return k[: -len("_elapsed")] + "_time"
    return None


#: figure title -> (does this data key belong on it, y label)
FIGURES: dict[str, tuple[Callable[[str, dict], bool], str]] = {
    "potential": (lambda k, d: k.lower().endswith("_ewe") and d.get("units") == "V", "E [V]"),
    "partial pressures": (lambda k, d: "_pressure_" in k and d.get("units") == "Torr", "p [Torr]"),
    "pump flow": (lambda k, d: k.endswith("_rate") and d.get("units") == "uL/h", "flow [uL/h]"),
    "gas flow": (lambda k, d: k.endswith("_flow") and d.get("units") == "mL/min", "flow [mL/min]"),
}
CE_FIGURE = "coulombic efficiency"


class LabTimePlot(LivePlot):
    """bluesky's LivePlot of one data key against lab time (hours since the run started), taking pages whole
    and redrawing at most every ``REDRAW_S``."""

    def __init__(self, y: str, keys: dict, *, ax, t0: float | None):
        super().__init__(y, x="lab time [h]", ax=ax, use_teleporter=False)
        self._clock = _clock_time(keys)
        own = f"{keys[y].get('object_name') or y.split('_', 1)[0]}_time"   # the instrument's own clock
        self._own = own if keys.get(own, {}).get("units") == "s" else None
        self._t0 = t0
        self._drawn = 0.0

    def _x(self, data: dict, stamps: dict, n: int) -> list:
        for key in (self._clock, self._own):
            if key is not None and key in data:
                xs = data[key] if n > 1 or isinstance(data[key], list) else [data[key]]
                if xs and xs[0] is not None and xs[0] > 1e8:   # an absolute time, not a technique's own clock
                    return list(xs)
        xs = stamps.get(self.y)
        return list(xs) if isinstance(xs, list) else [xs]

    def _add(self, data: dict, stamps: dict, n: int, final: bool = False) -> None:
        if self.y not in data:
            return
        ys = data[self.y] if isinstance(data[self.y], list) else [data[self.y]]
        xs = self._x(data, stamps, n)
        if self._t0 is None and xs:
            self._t0 = xs[0]
        self.x_data.extend((x - self._t0) / HOUR for x in xs)
        self.y_data.extend(ys)
        self.update_plot()

    def event(self, doc):
        """One row."""
        self._add(doc["data"], doc.get("timestamps", {}), 1)
        CallbackBase.event(self, doc)

    def event_page(self, doc):
        """A page of rows, plotted in one go."""
        self._add(doc["data"], doc.get("timestamps", {}), len(doc.get("seq_num", ())))

    def update_plot(self, force: bool = False):
        """New data go on the line at once; the axes are rescaled and redrawn at most every ``REDRAW_S``."""
        self.current_line.set_data(self.x_data, self.y_data)
        now = time.monotonic()
        if force or now - self._drawn >= REDRAW_S:
            self._drawn = now
            self.ax.relim(visible_only=True)
            self.ax.autoscale_view(tight=True)
            self.ax.figure.canvas.draw_idle()

    def stop(self, doc):
        """Last redraw."""
        self.update_plot(force=True)
        CallbackBase.stop(self, doc)


class CyclePlot(LivePlot):
    """bluesky's LivePlot of a per-cycle quantity against the cycle number."""

    def __init__(self, y: str, x: str, *, ax):
        super().__init__(y, x=x, ax=ax, marker="o", use_teleporter=False)


@make_class_safe(logger=log)   # a plot that fails must not stop the acquisition
class LabPlots(QtAwareCallback):
    """Makes the plots a run's streams call for and hands them its documents. Figures are kept across runs
    (``figures``: title -> figure), a line per run. With *name* (an experiment's) its figures are its own,
    titled "<title>: <name>", apart from those of the session's RunEngine and of other experiments."""

    def __init__(self, name: str | None = None):
        super().__init__()
        self.name = name
        self.figures: dict = {}
        self._start: dict | None = None
        self._plots: dict[str, list[LivePlot]] = {}   # descriptor uid -> its plots

    def _axes(self, title: str, ylabel: str):
        import matplotlib.pyplot as plt

        fig = self.figures.get(title)
        if fig is None or not plt.fignum_exists(fig.number):   # first use, or the user closed it
            label = title if self.name is None else f"{title}: {self.name}"
            fig = plt.figure(num=label, clear=True)
            ax = fig.add_subplot()
            ax.set_title(label)
            ax.set_ylabel(ylabel)
            self.figures[title] = fig
        return fig.axes[0]

    def start(self, doc):
        """A new run: its plots are made as its streams are declared."""
        self._start = doc
        self._plots.clear()

    def descriptor(self, doc):
        """A stream: a plot for each quantity on it worth plotting."""
        if self._start is None:
            return
        keys = doc["data_keys"]
        plots: list[LivePlot] = []
        for title, (wanted, ylabel) in FIGURES.items():
            for key in (k for k, d in keys.items() if wanted(k, d)):
                ax = self._axes(title, ylabel)
                plots.append(LabTimePlot(key, keys, ax=ax, t0=self._start.get("lab_time")))
        ce = [k for k, d in keys.items() if k.endswith("_ce") and d.get("units") == "%"]
        cycle = next((k for k in keys if k.endswith("_cycle")), None)
        if ce and cycle is not None:
            plots.append(CyclePlot(ce[0], cycle, ax=self._axes(CE_FIGURE, "CE [%]")))
        for p in plots:
            p("start", self._start)
            p("descriptor", doc)
        self._plots[doc["uid"]] = plots

    def event(self, doc):
        """A row, to the plots of its stream."""
        for p in self._plots.get(doc["descriptor"], ()):
            p("event", doc)

    def event_page(self, doc):
        """A page of rows, to the plots of its stream."""
        for p in self._plots.get(doc["descriptor"], ()):
            if isinstance(p, LabTimePlot):
                p("event_page", doc)
            else:
                CallbackBase.event_page(p, doc)   # a few per-cycle rows: row by row

    def stop(self, doc):
        """The run ended: last redraw of each plot."""
        for plots in self._plots.values():
            for p in plots:
                p("stop", doc)
        self._plots.clear()
        self._start = None
