"""Sixteen VMP3 channels recording at 1 kHz at once, each its own experiment and run, into storage with the
catalog live.

Run on demand: ``.venv/bin/python bench/concurrent.py [--channels 16] [--seconds 60]``. Each channel
holds a coin cell at open circuit recording every millisecond for ``--seconds`` of lab time, streamed while it
runs (collected at every poll of the channel). Prints rows/s in total (wall), rows lost (target 0: every run holds
the rows its duration implies, instrument time steps by 1 ms and sequence numbers are contiguous) and the
catalog's lag behind the last stop document.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/ holds concurrent.py: off the import path, or it would stand in for the standard library's
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import copy
import tempfile
import time

from labctl.plans.electrochem import ocv
from labctl.profile import InstrumentSpec, load_profile
from labctl.session import Session

RECORD_DT = 1e-3


def profile_with(channels: int):
    profile = load_profile(None)
    base = profile.instruments["vmp3_1"]
    for k in range(1, channels + 1):
        name = f"vmp3_{k}"
        options = {**base.options, "channel": k}
        profile.instruments[name] = InstrumentSpec(**{**base.__dict__, "name": name, "options": options})
    profile.sim = copy.deepcopy(profile.sim)
    profile.sim["start"] = 1_700_000_000.0
    profile.sim["cells"] = {f"coin{k}": {"kind": "coin", "electrolyte": "dme", "area_cm2": 1.767,
                                         "channel": f"vmp3:{k}"} for k in range(1, channels + 1)}
    profile.sim["gas"] = {**profile.sim.get("gas", {}), "vessel": "titration"}   # no DEMS cell on the gas port
    return profile


def rows_ok(run, name: str, seconds: float) -> tuple[int, bool]:
    table = run.table("ocv")
    times, seq = table[f"{name}_time"].to_numpy(), table["seq_num"].to_numpy()
    expected = int(round(seconds / RECORD_DT)) + 1
    steps = abs((times[1:] - times[:-1]) - RECORD_DT).max() < 2e-5 if len(times) > 1 else True
    return len(times), len(times) == expected and steps and (seq == range(1, len(seq) + 1)).all()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--channels", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=60.0)
    args = ap.parse_args(argv)
    profile = profile_with(args.channels)
    with tempfile.TemporaryDirectory() as tmp, Session.from_profile(profile, data_dir=Path(tmp)) as lab:
        t0 = time.perf_counter()
        experiments = [lab.start(ocv, lab.devices[f"vmp3_{k}"], lab.clock, duration=args.seconds,
                                 record_dt=RECORD_DT, name=f"ch{k}")
                       for k in range(1, args.channels + 1)]
        lab.wait_all()
        wall = time.perf_counter() - t0
        t_stop = time.perf_counter()
        caught_up = lab.storage.sync(timeout=600)
        lag = time.perf_counter() - t_stop
        stored, bad = 0, []
        for k, e in enumerate(experiments, 1):
            n, ok = rows_ok(lab.storage.run(e.uids[0]), f"vmp3_{k}", args.seconds)
            stored += n
            if not ok or e.state != "done":
                bad.append(e.name)
        expected = args.channels * (int(round(args.seconds / RECORD_DT)) + 1)
        same_start = len({e.started_at for e in experiments}) == 1
    print(f"{args.channels} channels x {args.seconds:g} lab s at 1 kHz, each its own run: {stored:,} rows in "
          f"{wall:.2f} s wall = {stored / wall:,.0f} rows/s in total; all started at the same lab time: {same_start}")
    print(f"rows lost: {expected - stored} (runs with a gap or a missing row: {bad or 'none'}); catalog caught up "
          f"{lag:.2f} s after the last stop ({'yes' if caught_up else 'NO'})")
    return 0 if not bad and stored == expected and caught_up else 1


if __name__ == "__main__":
    sys.exit(main())
