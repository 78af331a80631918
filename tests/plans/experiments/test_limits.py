"""Cycling limits a user relies on: a strip cannot run for ever, plating stops at a lower potential, and a
cycle either limit ended is flagged next to its CE; every electrochemistry run records the electrode area."""

from __future__ import annotations

import pytest
from labwatch import assemble

from labctl.plans.electrochem import cv, eis, galvanostatic_cycles, ocv

AREA = 1.767


def _cycle(lab, **kw):
    assemble(lab, "coin", "coin", "ecdmc", AREA, "vmp3:1")
    (uid,) = lab.run(galvanostatic_cycles(lab.devices["vmp3_1"], lab.clock, cycles=1, record_dt="60 s", **kw))
    return lab.storage.run(uid)


def test_normal_cycle_strips_to_its_cutoff_within_twice_the_plating_time(lab):
    run = _cycle(lab)
    cycles = run.table("cycles")
    # 0.5 mAh/cm^2 at 0.5 mA/cm^2 plates for an hour: the strip may take two at most
    assert cycles["cycles_strip_time_limit"].tolist() == pytest.approx([7200.0])
    assert not cycles["cycles_strip_timed_out"].any() and not cycles["cycles_plate_hit_e_min"].any()
    assert run.table("strip")["vmp3_1_Ewe"].iloc[-1] == pytest.approx(1.0, abs=0.02)


def test_strip_ended_by_its_time_limit_is_flagged(lab):
    cycles = _cycle(lab, strip_time_limit="10 min").table("cycles")
    assert cycles["cycles_strip_timed_out"].tolist() == [True]


def test_plating_stops_at_its_lower_cutoff_and_the_strip_limit_follows(lab):
    run = _cycle(lab, plate_e_min="-0.001 V")  # above the Na plating potential: plating ends at once
    cycles, plate = run.table("cycles"), run.table("plate")
    assert cycles["cycles_plate_hit_e_min"].tolist() == [True]
    assert plate["vmp3_1_time"].iloc[-1] < 3600.0
    plated_s = cycles["cycles_plated_charge"].iloc[0] / (0.5e-3 * AREA)
    assert cycles["cycles_strip_time_limit"].iloc[0] == pytest.approx(2 * plated_s, rel=1e-6)


@pytest.mark.parametrize("plan", ["ocv", "cv", "eis"])
def test_run_records_the_electrode_area(lab, plan):
    d = lab.devices
    assemble(lab, "coin", "coin", "ecdmc", AREA, "vmp3:1")
    make = {"ocv": lambda: ocv(d["vmp3_1"], lab.clock, duration="1 min"),
            "cv": lambda: cv(d["vmp3_1"], lab.clock, "0.5 V", "0.2 V", "1 V", step="10 mV"),
            "eis": lambda: eis(d["vmp3_1"], lab.clock, f_stop="1 kHz")}
    (uid,) = lab.run(make[plan]())
    assert lab.storage.run(uid).start["electrode_area_cm2"] == pytest.approx(AREA)
