"""Speed and memory of the simulated lab on a 10-cycle DEMS protocol (a script, not a test).

Protocol: the DEMS cell's valve sealed, N cycles at 0.5 mA/cm^2 (plate 10 min, strip to 1 V) recorded every
second, then the valve opened and the headspace swept to the MS with Ar at 1 mL/min for 30 min. The MS is
read at 5 masses every lab second throughout (a clock timer, as the MS monitor does). Prints simulated
seconds per wall second and tracemalloc peaks at 2 and 10 cycles.

    .venv/bin/python bench/simlab.py [--electrolyte ecdmc] [--cycles 10]
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/ holds concurrent.py: off the import path, or it would stand in for the standard library's
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import time
import tracemalloc

from labctl.sim.lab import SimLab
from labctl.sim.world import Limit, Step

MASSES = (4, 3, 44, 32, 40)


def run(cycles: int, electrolyte: str, sweep_s: float = 1800.0, measure_memory: bool = False) -> dict:
    if measure_memory:
        tracemalloc.start()
    lab = SimLab({"seed": 1, "noise": 1.0,
                  "cells": {"dems": {"kind": "dems", "electrolyte": electrolyte, "area_cm2": 1.0, "channel": "vmp3:2"}},
                  "gas": {"vessel": "dems"}})
    world, clock = lab.world, lab.clock
    valve, mfc, ms, ch = world.valve("dems_valve"), world.mfc("mfc"), world.mass_spec("ms"), world.channel("vmp3:2")
    ms.filament_on(1.0)
    mfc.setpoint_mL_min = 1.0
    readings = []

    def sample(now):
        readings.append((now, [ms.ion_current(m) for m in MASSES]))
        if len(readings) > 600:   # what a monitor keeps in memory before handing a page on
            readings.clear()

    timer = clock.call_every(1.0, sample)
    t_lab0, t_wall0 = clock.now(), time.perf_counter()
    current = 0.5e-3 * 1.0
    samples = 0
    for _ in range(cycles):
        ch.load([Step("cc", value=-current, duration=600.0, record_dt=1.0),
                 Step("cc", value=current, limits=(Limit("Ewe", ">", 1.0),), record_dt=1.0)])
        ch.start()
        while ch.state == "run":
            clock.advance(60.0)
            samples += len(ch.drain())
    valve.move_to("B")
    clock.advance(sweep_s)
    wall = time.perf_counter() - t_wall0
    lab_s = clock.now() - t_lab0
    timer.cancel()
    out = {"cycles": cycles, "lab_s": lab_s, "wall_s": wall, "speed": lab_s / wall, "samples": samples,
           "co2_delivered_umol": world.gas.delivered_mol()["CO2"] * 1e6}
    if measure_memory:
        out["peak_MiB"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    lab.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--electrolyte", default="ecdmc")
    ap.add_argument("--cycles", type=int, default=10)
    args = ap.parse_args()
    r = run(args.cycles, args.electrolyte)
    print(f"{args.cycles}-cycle DEMS protocol ({args.electrolyte}): {r['lab_s']:.0f} lab s in {r['wall_s']:.2f} wall s"
          f" = {r['speed']:.0f}x real time; {r['samples']} samples; CO2 to MS {r['co2_delivered_umol']:.3f} umol")
    for n in (2, args.cycles):
        m = run(n, args.electrolyte, measure_memory=True)
        print(f"peak traced memory at {n:2d} cycles: {m['peak_MiB']:.2f} MiB")
    # 1 kHz galvanostatic recording throughput
    lab = SimLab({"seed": 1, "cells": {"c": {"kind": "coin", "electrolyte": "dme", "area_cm2": 1.767,
                                             "channel": "vmp3:1"}}})
    ch = lab.world.channel("vmp3:1")
    ch.load([Step("cc", value=-0.5e-3 * 1.767, duration=60.0, record_dt=1e-3)])
    t0 = time.perf_counter()
    ch.start()
    n = 0
    while ch.state == "run":
        lab.clock.advance(0.5)
        n += len(ch.drain())
    dt = time.perf_counter() - t0
    print(f"1 kHz galvanostatic step: {n} samples in {dt:.2f} wall s = {n / dt:,.0f} samples per wall second")


if __name__ == "__main__":
    main()
