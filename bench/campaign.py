"""The paper's campaign in parallel against the same campaign one experiment after another.

Run on demand: ``.venv/bin/python bench/campaign.py [--only parallel|serial]``. Each run is a fresh simulated
lab (same seed, same start), with the campaign of ``labctl/campaigns/paper.toml`` stored into a temporary data
directory with the catalog live. Prints, in lab time, the makespan, the serial sum and the critical-path
bound (the longest ``after`` chain or the busiest instrument's total work, whichever is longer), the two
ratios the lab cares about, and the wall time of each way of running it.

Targets: makespan / bound <= 1.10; serial sum / makespan >= 3.5; parallel no slower than serial in wall time,
and under 60 s.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/ holds concurrent.py: off the import path, or it would stand in for the standard library's
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import tempfile
import time

from labctl.app.campaign import figures, load_campaign
from labctl.app.demo import paper_campaign_path
from labctl.profile import load_profile
from labctl.session import Session

START = 1_700_000_000.0


def run(serial: bool) -> tuple[object, float, float]:
    """(figures, wall s of the campaign, wall s including bringing the lab up and closing it)."""
    profile = load_profile(None)
    profile.sim["start"] = START
    campaign = load_campaign(paper_campaign_path(), profile)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, Session.from_profile(profile, data_dir=Path(tmp)) as lab:
        t1 = time.perf_counter()
        experiments = campaign.submit(lab, serial=serial)
        lab.wait_all()
        wall = time.perf_counter() - t1
        failed = [e for e in experiments if e.state != "done"]
        if failed:
            raise SystemExit(f"{'serial' if serial else 'parallel'}: {failed[0].name} {failed[0].state}: "
                             f"{failed[0].error}")
        use = figures(experiments)
    return use, wall, time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=("parallel", "serial"), help="run one way only")
    args = ap.parse_args(argv)
    results = {}
    for way in ("parallel", "serial"):
        if args.only in (None, way):
            use, wall, total = run(serial=way == "serial")
            results[way] = (use, wall)
            print(f"{way:8s}: {wall:6.1f} s wall for the campaign ({total:.1f} s with the lab brought up and "
                  f"closed); " + "; ".join(use.lines()))
    if "parallel" in results:
        use, wall = results["parallel"]
        h = 3600.0
        print(f"lab time: makespan {use.makespan / h:.2f} h, serial sum {use.serial_sum / h:.2f} h, critical-path "
              f"bound {use.bound / h:.2f} h")
        print(f"makespan / bound = {use.makespan / use.bound:.3f} (target <= 1.10); serial sum / makespan = "
              f"{use.serial_sum / use.makespan:.2f} (target >= 3.5)")
        ok = use.makespan / use.bound <= 1.10 and use.serial_sum / use.makespan >= 3.5 and wall < 60
        if "serial" in results:
            ok = ok and wall <= results["serial"][1]
            print(f"wall: parallel {wall:.1f} s, serial {results['serial'][1]:.1f} s "
                  f"({wall / results['serial'][1]:.2f}x; target <= 1, and parallel < 60 s)")
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
