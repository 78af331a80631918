"""Gas plans on the simulated lab: recording the MS with the MFC, and waiting for a clean baseline."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from labctl.devices.clock import LabClock
from labctl.factories.bronkhorst import build as build_bronkhorst
from labctl.factories.srs import build as build_srs_rga
from labctl.plans.gas import BaselineTimeout, ms_monitor, wait_for_baseline
from labctl.plans.params import ParameterError
from labctl.sim.lab import SimLab

GASES = {"D2": 4, "HD": 3, "CO2": 44, "O2": 32, "Ar": 40}


@pytest.fixture
def gas_lab():
    lab = SimLab({"seed": 3, "noise": 1.0,
                  "cells": {"dems": {"kind": "dems", "electrolyte": "ecdmc", "area_cm2": 1.0}},
                  "gas": {"vessel": "dems"}})
    ctx = SimpleNamespace(clock=lab.clock, simlab=lab)
    ms = build_srs_rga(SimpleNamespace(name="ms", kind="mass_spectrometer", driver="srs.rga", transport="sim://rga",
                                       options={"gases": GASES, "emission_mA": 1.0, "noise_floor": 3,
                                                "cycle_s": 1.0},
                                       limits={}, safe_state={"filament": "off"}), ctx)
    mfc = build_bronkhorst(SimpleNamespace(name="mfc", kind="flow_controller", driver="bronkhorst.propar",
                                           transport="sim://mfc", options={"node": 128}, limits={},
                                           safe_state={"setpoint_mL_min": 0.0}), ctx)
    lab.world.mfc("mfc").setpoint_mL_min = 2.0
    lab.clock.advance(120)  # carrier flowing, line flushed
    yield SimpleNamespace(lab=lab, ms=ms, mfc=mfc, clock=LabClock(lab.clock), head=lab.world.mass_spec("ms"))
    ms.safe()
    ms.backend.close()
    lab.close()


def events(docs):
    return [d for n, d in docs if n == "event"]


def test_ms_monitor_for_a_duration_records_ms_mfc_and_clock(gas_lab, run):
    g = gas_lab
    t0 = g.lab.clock.now()
    docs = run(ms_monitor(g.ms, g.clock, duration="10 s", period="2 s", extra=[g.mfc]))
    evs = events(docs)
    assert [round(e["data"]["clock_time"] - t0, 6) for e in evs] == [0, 2, 4, 6, 8, 10]
    assert all(e["data"]["mfc_flow"] == pytest.approx(2.0, rel=0.02) for e in evs)
    assert all(e["data"]["ms_fraction_Ar"] > 0.999 for e in evs)
    start = next(d for n, d in docs if n == "start")
    assert start["plan_name"] == "ms_monitor" and start["plan_args"]["period"] == "2 s"
    assert g.head.emission_mA == 0.0  # the plan switched the filament on and off again


def test_ms_monitor_until_the_co2_peak_arrives(gas_lab, run):
    g = gas_lab
    g.lab.clock.advance(3600)  # sealed cell collecting CO2
    g.lab.world.valve("dems_valve").move_to("B")
    baseline = 1.6e-4  # residual CO2 of the chamber as a fraction of the watched total
    docs = run(ms_monitor(g.ms, g.clock, duration="10 min", period="1 s",
                          until=lambda r: r["ms_fraction_CO2"] > baseline + 3e-5))
    evs = events(docs)
    assert 3 < len(evs) < 600
    assert evs[-1]["data"]["ms_fraction_CO2"] > baseline + 3e-5
    assert next(d for n, d in docs if n == "stop")["exit_status"] == "success"


def test_wait_for_baseline_returns_after_the_hold(gas_lab, run):
    g = gas_lab
    t0 = g.lab.clock.now()
    docs = run(wait_for_baseline(g.ms, g.clock, thresholds={"D2": 1e-4, "O2": "500 ppm", "CO2": 5e-4},
                                 carrier="Ar", carrier_min="99 %", hold="1 min", timeout="10 min",
                                 period="10 s", extra=[g.mfc]))
    assert g.lab.clock.now() - t0 == pytest.approx(60)
    assert len(events(docs)) == 7
    assert next(d for n, d in docs if n == "stop")["exit_status"] == "success"


def test_wait_for_baseline_times_out_naming_the_gas_above_threshold(gas_lab, run):
    g = gas_lab
    t0 = g.lab.clock.now()
    words = r"no stable baseline after 300 s: CO2 at 0\.0001\d+ \(threshold 1e-05\)"
    with pytest.raises(BaselineTimeout, match=words) as err:
        run(wait_for_baseline(g.ms, g.clock, thresholds={"CO2": 1e-5, "D2": 1e-4}, hold="1 min", timeout="5 min",
                              period="30 s"))
    assert list(err.value.above) == ["CO2"]
    assert g.lab.clock.now() - t0 == pytest.approx(300)
    assert g.head.emission_mA == 0.0  # left as found


def test_wait_for_baseline_names_a_carrier_that_is_too_low(gas_lab, run):
    g = gas_lab
    with pytest.raises(BaselineTimeout, match=r"Ar at 0\.99\d+ \(needs >= 0\.9999\)"):
        run(wait_for_baseline(g.ms, g.clock, thresholds={"D2": 1e-3}, carrier_min=0.9999, hold="1 min",
                              timeout="2 min", period="30 s"))


@pytest.mark.parametrize("plan, kwargs, words", [
    (wait_for_baseline, {"thresholds": {"Xe": 1e-4}}, "does not watch 'Xe'; it watches Ar, CO2, D2, HD, O2"),
    (wait_for_baseline, {"thresholds": {"D2": 2}}, r"thresholds\['D2'\]=2 must be a fraction"),
    (wait_for_baseline, {"thresholds": {"D2": "1 mL"}}, "expected units compatible with dimensionless"),
    (wait_for_baseline, {"hold": "3 h", "timeout": "2 h"}, "hold='3 h' is longer than timeout='2 h'"),
    (wait_for_baseline, {"carrier_min": 1.5}, r"carrier_min=1.5 is out of range; allowed: \[0, 1\]"),
    (ms_monitor, {}, "give a duration, a condition"),
    (ms_monitor, {"duration": "5 mL"}, "duration='5 mL'"),
    (ms_monitor, {"duration": "1 min", "period": "0 s"}, "period='0 s' is out of range"),
    (ms_monitor, {"duration": "1 min", "extra": [object()]}, "is not a readable device"),
])
def test_bad_parameters_are_refused_before_anything_moves(gas_lab, plan, kwargs, words, run):
    g = gas_lab
    t0 = g.lab.clock.now()
    with pytest.raises(ParameterError, match=words):
        run(plan(g.ms, g.clock, **kwargs))
    assert g.head.emission_mA == 0.0 and g.lab.clock.now() == t0
