"""Crash recovery: how much a SIGKILL loses, what saving the simulated lab costs, how long a resume takes.

Run on demand: ``.venv/bin/python bench/recovery.py [--kills 5]``. Prints

- flush lag: a process records a run of events (one every 10 ms of wall time) and notes each document's
  emission, unbuffered, in a side file; it is killed with SIGKILL at a random moment; the age at the kill of
  the oldest document missing from the run file (0 if nothing was lost), over several kills;
- the simulated lab's saves (``labctl.simstate``): size and wall time of one save of the default lab after two
  cycles, and the wall time of a ten-cycle run with and without saves;
- resume: wall time of ``labctl resume`` (a new process: imports, recovery, the session, the remaining cycles)
  for a six-cycle run killed after two cycles, and of the same run uninterrupted in a new process.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/ holds concurrent.py: off the import path, or it would stand in for the standard library's
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import os
import random
import re
import signal
import subprocess
import tempfile
import textwrap
import time

RECORDER = textwrap.dedent("""
    import os, sys, time
    import bluesky.plan_stubs as bps
    import bluesky.preprocessors as bpp
    from ophyd import Component as Cpt, Device
    from labctl.devices.signals import Signal
    from labctl.engine import run_engine
    from labctl.storage import Storage

    class Cell(Device):
        ewe = Cpt(Signal, value=0.0, units="V", kind="hinted")

    witness = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    store = Storage(sys.argv[1])
    RE = run_engine({})
    store.subscribe(RE)
    RE.subscribe(lambda name, doc: os.write(witness, f"{time.time()!r} {doc.get('uid')}\\n".encode())
                 if name == "event" else None)
    cell = Cell(name="cell")

    @bpp.run_decorator()
    def endless():
        while True:
            yield from bps.trigger_and_read([cell])
            yield from bps.sleep(0.01)

    RE(endless())
""")

CYCLING = textwrap.dedent("""
    import sys
    from labctl.session import Session
    from labctl.plans.electrochem import galvanostatic_cycles

    with Session.from_profile(data_dir=sys.argv[1]) as lab:
        if sys.argv[3] == "no-saves":
            lab.sim_checkpoints.close()
        lab.run(galvanostatic_cycles(lab.vmp3_1, lab.clock, cycles=int(sys.argv[2]), record_dt="10 s"))
""")


def flush_lag(kills: int) -> list[float]:
    """Age (s) at the kill of the oldest document lost, for each kill."""
    ages = []
    for _ in range(kills):
        with tempfile.TemporaryDirectory() as tmp:
            data, witness = Path(tmp) / "data", Path(tmp) / "witness"
            child = subprocess.Popen([sys.executable, "-c", RECORDER, data, witness], stderr=subprocess.DEVNULL)
            while not witness.exists() or witness.stat().st_size < 2000:
                time.sleep(0.05)
            time.sleep(random.uniform(0.5, 2.0))
            killed = time.time()
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
            (path,) = data.glob("runs/*/*/*/*.jsonl")
            text = path.read_text()
            emitted = [line.split() for line in witness.read_text().splitlines()]
            lost = [killed - float(t) for t, uid in emitted if uid not in text]
            ages.append(max(lost, default=0.0))
    return ages


def saves() -> tuple[int, float]:
    """Bytes and wall seconds of one save of the default simulated lab after two cycles."""
    from labctl.plans.electrochem import galvanostatic_cycles
    from labctl.session import Session

    with tempfile.TemporaryDirectory() as tmp, Session.from_profile(data_dir=tmp) as lab:
        lab.run(galvanostatic_cycles(lab.vmp3_1, lab.clock, cycles=2, record_dt="10 s"))
        t = time.perf_counter()
        for _ in range(20):
            lab.sim_checkpoints.save()
        took = (time.perf_counter() - t) / 20
        return lab.sim_checkpoints.path.stat().st_size, took


def timed(*args) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, *map(str, args)], check=True, capture_output=True)
    return time.perf_counter() - t


def resume_time() -> tuple[float, float, int]:
    """Wall seconds of `labctl resume` after a kill at two cycles, of the uninterrupted run, and the cycles
    the resume had left to do."""
    with tempfile.TemporaryDirectory() as tmp:
        whole = timed("-c", CYCLING, Path(tmp) / "whole", 6, "saves")
        data = Path(tmp) / "crashed"
        child = subprocess.Popen([sys.executable, "-c", CYCLING, data, "6", "saves"], stderr=subprocess.DEVNULL)
        while True:
            files = list(data.glob("runs/*/*/*/*.jsonl"))
            if files and len(re.findall(rb'"cycles_ce":[-0-9]', files[0].read_bytes())) >= 2:
                break
            time.sleep(0.01)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "labctl.app.cli", "resume", "1", "--data-dir", data, "-q"],
                             check=True, capture_output=True, text=True)
        took = time.perf_counter() - t
        first = int(re.search(r"from cycle (\d+)", out.stdout).group(1))
        return took, whole, 6 - first + 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=5)
    args = parser.parse_args()
    ages = flush_lag(args.kills)
    print(f"flush lag: oldest document lost at a SIGKILL was {max(ages):.3f} s old "
          f"(kills: {', '.join(f'{a:.3f}' for a in ages)} s; target <= 1 s)")
    size, took = saves()
    print(f"simulated lab save: {size / 1024:.1f} KiB, {took * 1e3:.1f} ms each (pickle + flush + fsync + rename)")
    with tempfile.TemporaryDirectory() as tmp:
        on = timed("-c", CYCLING, Path(tmp) / "a", 10, "saves")
        off = timed("-c", CYCLING, Path(tmp) / "b", 10, "no-saves")
    print(f"ten cycles in a new process: {on:.2f} s with saves, {off:.2f} s without")
    took, whole, left = resume_time()
    print(f"labctl resume after a kill at two cycles: {took:.2f} s ({left} cycles left to run); the six-cycle "
          f"run uninterrupted in a new process: {whole:.2f} s")


if __name__ == "__main__":
    main()
