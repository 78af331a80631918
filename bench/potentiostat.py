"""Potentiostat streaming throughput: a 1 kHz technique through EClib, the RunEngine and storage.

Run on demand: ``.venv/bin/python bench/potentiostat.py [--seconds 60] [--poll 1] [--no-storage]``.
A simulated VMP3 channel records open circuit every millisecond; the plan streams the rows while the
technique runs (lab-time waits of ``--poll`` s, then collect) into the JSON-lines storage. Prints rows/s
(wall) and checks that no row was lost: the stored instrument time advances by exactly 1 ms from row to row,
the row count is what the duration implies, and the event sequence numbers are contiguous.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/ holds concurrent.py: off the import path, or it would stand in for the standard library's
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import tempfile
import time

import bluesky.preprocessors as bpp

from labctl.devices.clock import LabClock
from labctl.devices.potentiostat.biologic import BioLogicBackend
from labctl.devices.potentiostat.device import Potentiostat
from labctl.devices.potentiostat.techniques import OCV
from labctl.plans.stubs.electrochem import run_technique
from labctl.session import run_engine
from labctl.sim.clock import SimClock
from labctl.sim.sdk.biologic import FakeEClib
from labctl.sim.world import World

RECORD_DT = 1e-3


def streamed(pstat, clock, seconds: float, poll: float):
    technique = OCV(seconds, record_dt=RECORD_DT)

    def body():
        return (yield from run_technique(pstat, clock, technique, "ocv", poll=poll))

    return (yield from bpp.run_wrapper(body(), md={"plan_name": "bench_potentiostat"}))


def check_rows(documents, seconds: float) -> dict:
    """Rows stored for the ``ocv`` stream, and whether any is missing."""
    descriptor = None
    times: list[float] = []
    seq: list[int] = []
    for name, doc in documents:
        if name == "descriptor" and doc["name"] == "ocv":
            descriptor = doc["uid"]
        elif name == "event_page" and doc["descriptor"] == descriptor:
            times.extend(doc["data"]["vmp3_1_time"])
            seq.extend(doc["seq_num"])
    expected = int(round(seconds / RECORD_DT)) + 1
    steps_ok = all(abs((b - a) - RECORD_DT) < 2e-5 for a, b in zip(times, times[1:], strict=False))
    return {"rows": len(times), "expected": expected, "time_contiguous": steps_ok,
            "seq_contiguous": seq == list(range(1, len(seq) + 1))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="lab seconds of 1 kHz recording")
    ap.add_argument("--poll", type=float, default=1.0, help="lab seconds between collects while running")
    ap.add_argument("--no-storage", action="store_true", help="keep documents in memory instead")
    args = ap.parse_args(argv)

    clock = SimClock(start=1_700_000_000.0)
    world = World(clock, seed=0, noise=1.0)
    world.add_cell("coin", "coin", "dme", 1.767, channel="vmp3:1")
    pstat = Potentiostat(BioLogicBackend(FakeEClib(world, "vmp3"), "vmp3", 1, name="vmp3_1"), clock=clock,
                         name="vmp3_1", limits={"current_A": [-0.4, 0.4], "voltage_V": [-10, 10]},
                         poll_period=args.poll)
    lab_clock = LabClock(clock, name="clock")
    RE = run_engine({})

    with tempfile.TemporaryDirectory() as tmp:
        memory: list = []
        store = None
        if args.no_storage:
            RE.subscribe(lambda name, doc: memory.append((name, doc)))
        else:
            from labctl.storage import Storage

            store = Storage(Path(tmp))
            store.subscribe(RE)
        t = time.perf_counter()
        (uid,) = RE(streamed(pstat, lab_clock, args.seconds, args.poll))
        wall = time.perf_counter() - t
        if store is not None:
            store.sync(timeout=120)
            documents = list(store.run(uid).documents())
            store.close()
        else:
            documents = memory
        pstat.destroy()
    result = check_rows(documents, args.seconds)
    print(f"{result['rows']} rows ({args.seconds:g} lab s at 1 kHz, collect every {args.poll:g} s) in {wall:.2f} s "
          f"wall: {result['rows'] / wall:,.0f} rows/s into {'memory' if args.no_storage else 'JSON-lines storage'}")
    lost = result["rows"] != result["expected"] or not (result["time_contiguous"] and result["seq_contiguous"])
    print(f"expected {result['expected']} rows; instrument time contiguous: {result['time_contiguous']}; "
          f"seq_num contiguous: {result['seq_contiguous']}; {'ROWS LOST' if lost else 'no row lost'}")
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
