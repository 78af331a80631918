"""Storage throughput and memory: event pages through the RunEngine into JSON-lines and the Tiled catalog.

Run on demand: ``.venv/bin/python bench/storage.py [--rows 1000000] [--page 1000]``. Prints rows/s of
storage fed directly, through the RunEngine (with and without storage subscribed), how long the catalog took
to catch up after the run, the largest catalog backlog, and memory at 10^5 and 10^6 rows (tracemalloc:
Python allocations; and RSS).

The RunEngine validates every event page against event-model's JSON schema. labctl's engines do it with
:mod:`labctl.page_validation` (same verdicts, a fraction of the cost); the line "RunEngine alone, event-model's
validator" shows the engine with event-model's own validator for comparison.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/ holds concurrent.py: off the import path, or it would stand in for the standard library's
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import tempfile
import time
import tracemalloc
from contextlib import contextmanager, nullcontext

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import event_model
import numpy as np
from ophyd.status import StatusBase

from labctl.session import run_engine
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
        # lists, as labctl's devices hand them out
        for _ in range(self.pages_per_collect):
            idx = np.arange(self.rows, self.rows + self.page)
            now = time.time()
            yield {
                "data": {"ewe": (3.0 + 0.01 * self._rng.standard_normal(self.page)).tolist(),
                         "current": (1e-6 * idx).tolist(), "cycle": (idx // 10_000).tolist()},
                "timestamps": {k: [now] * self.page for k in ("ewe", "current", "cycle")},
                "time": [now] * self.page,
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


@contextmanager
def upstream_page_validation():
    """Event-model's own event-page validator, for the duration of the block."""
    registry, key = event_model.schema_validators, event_model.DocumentNames.event_page
    ours = registry[key]
    registry[key] = event_model._Validator(event_model.schemas[key])
    try:
        yield
    finally:
        registry[key] = ours


def direct(rows: int, page: int) -> dict:
    """Storage alone: composed event pages handed straight to the storage callback."""
    from event_model import compose_run

    tmp = tempfile.TemporaryDirectory()
    store = Storage(Path(tmp.name))
    _ = store.catalog
    run_ = compose_run(metadata={"plan_name": "bench"})
    store("start", run_.start_doc)
    source = PageSource(page, pages_per_collect=rows // page)
    desc = run_.compose_descriptor(name="technique", data_keys=source.describe_collect()["technique"])
    store("descriptor", desc.descriptor_doc)
    pages = list(source.collect_pages())[:1]  # reuse one page: measure storage, not data generation
    t0 = time.perf_counter()
    for i in range(rows // page):
        seq = list(range(i * page + 1, (i + 1) * page + 1))
        store("event_page", desc.compose_event_page(data=pages[0]["data"], timestamps=pages[0]["timestamps"],
                                                    time=pages[0]["time"], seq_num=seq, validate=False))
    t_emit = time.perf_counter() - t0
    store("stop", run_.compose_stop())
    t1 = time.perf_counter()
    store.close()
    out = {"rows_per_s": rows / t_emit, "catch_up_s": time.perf_counter() - t1}
    tmp.cleanup()
    return out


def run(rows: int, page: int, with_storage: bool, trace: bool, checkpoints=(), upstream=False):
    marks: dict = {}
    RE = run_engine({})
    validation = upstream_page_validation() if upstream else nullcontext()
    tmp = tempfile.TemporaryDirectory()
    store = Storage(Path(tmp.name)) if with_storage else None
    if store is not None:
        _ = store.catalog  # opened before timing
        store.subscribe(RE)
    if trace:
        tracemalloc.start()
    source = PageSource(page, pages_per_collect=10)
    with validation:
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
    n, small = args.rows, args.rows // 10

    d = direct(n, args.page)
    print(f"storage fed directly:                  {d['rows_per_s']:>10,.0f} rows/s ({n:,} rows); "
          f"catalog catch-up after the stop {d['catch_up_s']:.1f} s")
    base = run(small, args.page, with_storage=False, trace=False, upstream=True)
    print(f"RunEngine alone, event-model validator: {base['rows_per_s']:>10,.0f} rows/s ({base['rows']:,} rows)")
    base = run(small, args.page, with_storage=False, trace=False)
    print(f"RunEngine alone:                       {base['rows_per_s']:>10,.0f} rows/s ({base['rows']:,} rows)")

    full = run(n, args.page, with_storage=True, trace=False, checkpoints=(small, n))
    print(f"RunEngine + storage:                   {full['rows_per_s']:>10,.0f} rows/s ({full['rows']:,} rows, "
          f"JSON-lines {full['file_mb']:.0f} MiB)")
    print(f"catalog catch-up after run:            {full['catalog_catch_up_s']:>10.1f} s; "
          f"catalog rows {full['catalog_rows']:,}; "
          f"peak backlog {full['stats']['peak_backlog_rows']:,} rows; read-backs from file "
          f"{full['stats']['catch_ups']}")
    for k, (_, _, rss) in sorted(full["marks"].items()):
        print(f"  RSS at {k:>9,} rows: {rss:8.1f} MiB")

    mem = run(n, args.page, with_storage=True, trace=True, checkpoints=(small, n))
    for k, (cur, peak, _) in sorted(mem["marks"].items()):
        print(f"  tracemalloc at {k:>9,} rows: current {cur:7.1f} MiB, peak so far {peak:7.1f} MiB")
    print("catalog complete:", full["catalog_rows"] == full["rows"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
