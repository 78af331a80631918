"""Test-side helpers: run the paper's protocols on a channel exactly as a potentiostat program would."""

from labctl.sim.lab import SimLab
from labctl.sim.world import Limit, Step

MAH = 3.6  # C per mAh


def coin_lab(electrolyte: str, *, seed: int = 7, noise: float = 1.0, area: float = 1.767) -> SimLab:
    return SimLab({"seed": seed, "noise": noise,
                   "cells": {"coin": {"kind": "coin", "electrolyte": electrolyte, "area_cm2": area,
                                      "channel": "vmp3:1"}}})


def plate_strip(area: float, *, capacity_mAh_cm2: float | None = 0.5, plate_s: float | None = None,
                j_mA_cm2: float = 0.5, record_dt: float | None = 10.0) -> list[Step]:
    i = j_mA_cm2 * 1e-3 * area
    plate = Step("cc", value=-i, record_dt=record_dt,
                 charge_limit=None if capacity_mAh_cm2 is None else capacity_mAh_cm2 * MAH * area,
                 duration=plate_s)
    strip = Step("cc", value=i, limits=(Limit("Ewe", ">", 1.0),), record_dt=record_dt)
    return [plate, strip]


def run_program(lab: SimLab, channel: str, steps: list[Step], chunk: float = 300.0) -> list:
    ch = lab.world.channel(channel)
    ch.load(steps)
    ch.start()
    samples = []
    while ch.state == "run":
        lab.clock.advance(chunk)
        samples += ch.drain()
    return samples + ch.drain()


def coulombic_efficiency(samples) -> float:
    q_plate = [s.Q for s in samples if s.step == 0][-1]
    q_strip = [s.Q for s in samples if s.step == 1][-1]
    return q_strip / -q_plate
