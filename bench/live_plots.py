"""Rows per second a live plot takes from a technique's event pages: labctl's LabPlots (pages whole, redrawn at
most every half second) beside bluesky's LivePlot (a rescale and a redraw per row), on the Agg backend."""

from __future__ import annotations

import sys
import time
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and bench/concurrent.py would hide the standard
# library's concurrent package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import matplotlib  # noqa: E402

matplotlib.use("agg")

from bluesky.callbacks.mpl_plotting import LivePlot  # noqa: E402
from event_model import compose_run  # noqa: E402

from labctl.app.plots import LabPlots  # noqa: E402

KEY = "vmp3_1_Ewe"


def feed(callback, rows: int, page: int = 1000) -> float:
    """Rows per wall second *callback* took, *rows* in pages of *page*."""
    run = compose_run(metadata={"plan_name": "plate", "lab_time": 0.0})
    callback("start", run.start_doc)
    keys = {KEY: {"dtype": "number", "shape": [], "source": "sim", "units": "V", "object_name": "vmp3_1"}}
    desc = run.compose_descriptor(name="plate", data_keys=keys)
    callback("descriptor", desc.descriptor_doc)
    t0 = time.perf_counter()
    for first in range(0, rows, page):
        span = range(first, first + page)
        callback("event_page", desc.compose_event_page(
            data={KEY: [0.1] * page}, timestamps={KEY: [float(i) for i in span]}, seq_num=[i + 1 for i in span],
            time=[0.0] * page, validate=False))
    elapsed = time.perf_counter() - t0
    callback("stop", run.compose_stop())
    return rows / elapsed


if __name__ == "__main__":
    print(f"LabPlots: {feed(LabPlots(), 60_000):,.0f} rows/s (60,000 rows)")
    print(f"bluesky LivePlot: {feed(LivePlot(KEY), 2_000):,.0f} rows/s (2,000 rows)")
