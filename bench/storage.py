"""Storage throughput and memory: event pages through the RunEngine into JSON-lines and the Tiled catalog.

Run on demand: ``.venv/bin/python bench/storage.py [--rows 1000000] [--page 1000]``. Prints rows/s through
the RunEngine (with and without storage subscribed), how long the catalog took to catch up after the run,
the largest catalog backlog, and memory at 10^5 and 10^6 rows (tracemalloc, Python allocations) plus RSS.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import numpy as np
from bluesky import RunEngine
from ophyd.status import StatusBase

from labctl.storage import Storage


def rss_mb() -> float:
    try:
        import psutil
    except ImportError:
        return float("nan")
    return psutil.Process().memory_info().rss / 2**20


class PageSource:
    """A flyer handing out event pages of synthetic potentiostat data (ewe, current, cycle)."""

    name = "pstat"
    parent = None

    def __init__(self, page: int, pages_per_collect: int):
        self.page = page
        self.pages_per_collect = pages_per_collect
        self.rows = 0
        self._rng = np.random.default_rng(0)

    def _done(self):
        st = StatusBase()
        st.set_finished()
        return st

    def kickoff(self):
        return self._done()

    def complete(self):
        return self._done()

    def describe_collect(self):
        keys = {
            "ewe": {"dtype": "number", "shape": [], "source": "bench", "units": "V"},
            "current": {"dtype": "number", "shape": [], "source": "bench", "units": "A"},
            "cycle": {"dtype": "integer", "shape": [], "source": "bench"},
        }
        return {"technique": keys}

    def collect_pages(self):
        for _ in range(self.pages_per_collect):
            idx = np.arange(self.rows, self.rows + self.page)
            now = time.time()
            yield {
                "data": {"ewe": 3.0 + 0.01 * self._rng.standard_normal(self.page), "current": 1e-6 * idx,
                         "cycle": idx // 10_000},
                "timestamps": {k: np.full(self.page, now) for k in ("ewe", "current", "cycle")},
                "time": np.full(self.page, now),
            }
            self.rows += self.page


def technique_plan(source: PageSource, rows: int, marks: dict, checkpoints=()):
    """Collect *rows* rows from *source*; record memory when the row count passes each checkpoint."""

    @bpp.run_decorator(md={"plan_name": "bench", "electrolyte": "dme"})
    def inner():
        yield from bps.kickoff(source, wait=True)
        pending = sorted(checkpoints)
        while source.rows < rows:
            yield from bps.collect(source)
            while pending and source.rows >= pending[0]:
                cur, peak = tracemalloc.get_traced_memory() if tracemalloc.is_tracing() else (0, 0)
                marks[pending.pop(0)] = (cur / 2**20, peak / 2**20, rss_mb())
        yield from bps.complete(source, wait=True)

    return inner()


def run(rows: int, page: int, with_storage: bool, trace: bool, checkpoints=()):
    marks: dict = {}
    RE = RunEngine({})
    tmp = tempfile.TemporaryDirectory()
    store = Storage(Path(tmp.name)) if with_storage else None
    if store is not None:
        store.catalog  # opened before timing
        store.subscribe(RE)
    if trace:
        tracemalloc.start()
    source = PageSource(page, pages_per_collect=10)
    t0 = time.perf_counter()
    RE(technique_plan(source, rows, marks, checkpoints))
    t_run = time.perf_counter() - t0
    out = {"rows": source.rows, "rows_per_s": source.rows / t_run, "marks": marks}
    if store is not None:
        out["stats"] = store.stats
        t1 = time.perf_counter()
        store.close()
        out["catalog_catch_up_s"] = time.perf_counter() - t1
        with Storage(Path(tmp.name)) as again:
            (summary,) = again.runs()
            out["catalog_rows"] = len(again.catalog.read_table(summary.uid, "technique"))
            out["file_mb"] = summary.path.stat().st_size / 2**20
    if trace:
        tracemalloc.stop()
    tmp.cleanup()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--page", type=int, default=1000)
    args = ap.parse_args(argv)

    base = run(args.rows // 10, args.page, with_storage=False, trace=False)
    print(f"RunEngine alone:            {base['rows_per_s']:>10,.0f} rows/s ({base['rows']:,} rows)")

    full = run(args.rows, args.page, with_storage=True, trace=False, checkpoints=(args.rows // 10, args.rows))
    print(f"RunEngine + storage:        {full['rows_per_s']:>10,.0f} rows/s ({full['rows']:,} rows, "
          f"JSON-lines {full['file_mb']:.0f} MiB)")
    print(f"catalog catch-up after run: {full['catalog_catch_up_s']:>10.1f} s; catalog rows {full['catalog_rows']:,}; "
          f"peak backlog {full['stats']['peak_backlog_rows']:,} rows; read-backs from file "
          f"{full['stats']['catch_ups']}")
    for n, (_, _, rss) in sorted(full["marks"].items()):
        print(f"  RSS at {n:>9,} rows: {rss:8.1f} MiB")

    mem = run(args.rows, args.page, with_storage=True, trace=True, checkpoints=(args.rows // 10, args.rows))
    for n, (cur, peak, _) in sorted(mem["marks"].items()):
        print(f"  tracemalloc at {n:>9,} rows: current {cur:7.1f} MiB, peak so far {peak:7.1f} MiB")
    ok = full["rows_per_s"] >= 20_000 and full["catalog_rows"] == full["rows"]
    print("target >= 20,000 rows/s and a complete catalog:", "met" if ok else "NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
