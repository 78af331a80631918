"""The paper's campaign in parallel against the same campaign one experiment after another.

Run on demand: ``.venv/bin/python bench/campaign.py [--only parallel|serial]``. Each way runs in a fresh
interpreter (neither pays the other's first imports) on a fresh simulated lab (same seed, same start), with
the campaign of ``labctl/campaigns/paper.toml`` stored into a temporary data directory with the catalog live.
Prints, in lab time, the makespan, the serial sum and the critical-path bound (the longest ``after`` chain or
the busiest instrument's total work, whichever is longer), the two ratios the lab cares about, and the wall
and CPU time of each way of running it.

Targets: makespan / bound <= 1.10; serial sum / makespan >= 3.5; parallel no slower than serial in wall time,
and under 60 s.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/ holds concurrent.py: off the import path, or it would stand in for the standard library's
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import json
import subprocess
import tempfile
import time

from labctl.app.campaign import figures, load_campaign
from labctl.app.demo import paper_campaign_path
from labctl.profile import load_profile
from labctl.session import Session

START = 1_700_000_000.0


def run(serial: bool) -> dict:
    """Run the campaign one way on a fresh simulated lab; its figures, wall and CPU seconds."""
    profile = load_profile(None)
    profile.sim["start"] = START
    campaign = load_campaign(paper_campaign_path(), profile)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, Session.from_profile(profile, data_dir=Path(tmp)) as lab:
        t1, cpu1 = time.perf_counter(), time.process_time()
        experiments = campaign.submit(lab, serial=serial)
        lab.wait_all()
        wall, cpu = time.perf_counter() - t1, time.process_time() - cpu1
        failed = [e for e in experiments if e.state != "done"]
        if failed:
            raise SystemExit(f"{'serial' if serial else 'parallel'}: {failed[0].name} {failed[0].state}: "
                             f"{failed[0].error}")
        use = figures(experiments)
    return {"wall": wall, "cpu": cpu, "total": time.perf_counter() - t0, "makespan": use.makespan,
            "serial_sum": use.serial_sum, "bound": use.bound, "lines": use.lines()}


def in_child(way: str) -> dict:
    """Run one way in a fresh interpreter, so that neither pays the other's first imports and warm-up."""
    out = subprocess.run([sys.executable, __file__, "--only", way, "--json"], capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        raise SystemExit(f"{way}: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=("parallel", "serial"), help="run one way only, in this process")
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    args = ap.parse_args(argv)
    if args.only:
        result = run(serial=args.only == "serial")
        if args.json:
            print(json.dumps(result))
            return 0
        results = {args.only: result}
    else:
        results = {way: in_child(way) for way in ("parallel", "serial")}
    for way, r in results.items():
        print(f"{way:8s}: {r['wall']:6.1f} s wall, {r['cpu']:.1f} s CPU for the campaign ({r['total']:.1f} s "
              f"with the lab brought up and closed); " + "; ".join(r["lines"]))
    if "parallel" in results:
        r = results["parallel"]
        h = 3600.0
        print(f"lab time: makespan {r['makespan'] / h:.2f} h, serial sum {r['serial_sum'] / h:.2f} h, "
              f"critical-path bound {r['bound'] / h:.2f} h")
        print(f"makespan / bound = {r['makespan'] / r['bound']:.3f} (target <= 1.10); serial sum / makespan = "
              f"{r['serial_sum'] / r['makespan']:.2f} (target >= 3.5)")
        ok = r["makespan"] / r["bound"] <= 1.10 and r["serial_sum"] / r["makespan"] >= 3.5 and r["wall"] < 60
        if "serial" in results:
            serial = results["serial"]["wall"]
            ok = ok and r["wall"] <= serial
            print(f"wall: parallel {r['wall']:.1f} s, serial {serial:.1f} s ({r['wall'] / serial:.2f}x; "
                  "target <= 1, and parallel < 60 s)")
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
