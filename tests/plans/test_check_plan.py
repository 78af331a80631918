"""A plan call is checked completely from the lab profile's instrument descriptions, before anything connects,
and ``plan_call`` tells which instruments a plan call uses."""

from __future__ import annotations

import dataclasses

import pytest
from ophyd.sim import SynAxis, SynGauss

from labctl.devices.errors import LimitError
from labctl.plans import ParameterError, check_plan, plan_call
from labctl.plans.dems import dems
from labctl.plans.electrochem import cv, galvanostatic_cycles, ocv
from labctl.plans.fluidics import flow_schedule
from labctl.plans.gas import wait_for_baseline
from labctl.plans.liquid_cell import liquid_cell_operando
from labctl.plans.readings import count, readings
from labctl.plans.titration import online_ms_titration
from labctl.profile import load_profile

LAB = load_profile(None).descriptions()  # the default (simulated) lab, described without connecting anything
TITRATION = {"ms": "ms", "mfc": "mfc", "clock": "clock", "operator": "operator"}


def test_a_call_by_instrument_names_comes_back_in_the_declared_units():
    v = check_plan(galvanostatic_cycles, {"pstat": "vmp3_1", "clock": "clock", "current_density": "1 mA/cm^2",
                                          "cycles": 3, "rest": "1 min"}, LAB)
    assert (v.current_density, v.cycles, v.rest, v.plate_capacity) == (1.0, 3, 60.0, 0.5)
    assert v.pstat == "vmp3_1" and v.instrument("pstat").electrode_area_cm2 == 1.767


@pytest.mark.parametrize("plan, params, error, words", [
    # a device of the wrong kind
    (flow_schedule, {"pump": "mfc", "clock": "clock", "segments": [("240 uL/h", "1 min")]}, ParameterError,
     ["pump='mfc' is a flow_controller", "syringe_pump"]),
    # a negative rate is not made an infusion: the direction says which way
    (flow_schedule, {"pump": "pump", "clock": "clock", "segments": [("-240 uL/h", "1 min")]}, ParameterError,
     ["segments[0]", "positive"]),
    # the lower potential cutoff above the upper one
    (galvanostatic_cycles, {"pstat": "vmp3_1", "clock": "clock", "plate_e_min": "2 V", "strip_cutoff": "1 V"},
     ParameterError, ["plate_e_min=2 V", "strip_cutoff=1 V"]),
    (count, {"detectors": ["clock"], "num": -3}, ParameterError, ["num=-3"]),
    # a parameter the plan would ignore
    (online_ms_titration, {**TITRATION, "injection_rate": "1000 uL/h"}, ParameterError,
     ["injection_rate", "d2o_pump"]),
    (liquid_cell_operando, {"pstat": "ref600", "pump": "pump", "clock": "clock", "operator": "operator",
                            "mode": "cv", "plate_time": "20 s"}, ParameterError,
     ["plate_time", "mode='galvanostatic'"]),
    (galvanostatic_cycles, {"pstat": "vmp3_1", "clock": "clock", "plate_time": "10 min",
                            "plate_capacity": "1 mAh/cm^2"}, ParameterError, ["plate_capacity", "plate_time"]),
    # infinity is no number in range
    (ocv, {"pstat": "vmp3_1", "clock": "clock", "duration": float("inf")}, ParameterError, ["duration=inf"]),
    (ocv, {"pstat": "vmp3_1", "clock": "clock", "duration": "inf s"}, ParameterError, ["duration='inf s'"]),
    # structured parameters of the wrong shape are one line, not an AttributeError
    (wait_for_baseline, {"ms": "ms", "clock": "clock", "thresholds": ["D2"]}, ParameterError, ["thresholds=['D2']"]),
    (online_ms_titration, {**TITRATION, "thresholds": "D2"}, ParameterError, ["thresholds='D2'"]),
    (flow_schedule, {"pump": "pump", "clock": "clock", "segments": [240, 60]}, ParameterError, ["segments[0]=240"]),
    (readings, {"clock": "clock", "detectors": "ms"}, ParameterError, ["detectors='ms'", "give a list"]),
    # what the instruments allow, from the profile alone
    (wait_for_baseline, {"ms": "ms", "clock": "clock", "thresholds": {"Xe": 1e-4}}, ParameterError,
     ["ms does not watch 'Xe'"]),
    (liquid_cell_operando, {"pstat": "ref600", "pump": "pump", "clock": "clock", "operator": "operator",
                            "imaging_rate": "5000 uL/h"}, LimitError, ["pump: rate 5000 uL/h is outside 1-3000 uL/h"]),
    (online_ms_titration, {**TITRATION, "carrier_flow": "9 mL/min"}, LimitError, ["mfc", "9 mL/min"]),
    (cv, {"pstat": "vmp3_1", "clock": "clock", "e_start": 0, "vertex1": "12 V", "vertex2": 0}, LimitError,
     ["vertex1=12 V", "[-10, 10] V"]),
    (galvanostatic_cycles, {"pstat": "vmp3_1", "clock": "clock", "current_density": "500 mA/cm^2"}, LimitError,
     ["current_A"]),
    (galvanostatic_cycles, {"pstat": "vmp3_9", "clock": "clock"}, ParameterError,
     ["pstat='vmp3_9' is not a device of this lab"]),
])
def test_every_check_runs_from_the_profile(plan, params, error, words):
    with pytest.raises(error) as refused:
        check_plan(plan, params, LAB)
    message = str(refused.value)
    assert isinstance(refused.value, ParameterError) and "\n" not in message
    for word in words:
        assert word in message, (word, message)


def test_instrument_dependent_checks_follow_the_description():
    no_sweep = {**LAB, "dems_valve": dataclasses.replace(LAB["dems_valve"], position_names=("open", "closed"))}
    params = {"pstat": "vmp3_2", "valve": "dems_valve", "ms": "ms", "mfc": "mfc", "clock": "clock"}
    check_plan(dems, params, LAB)
    with pytest.raises(ParameterError, match="dems_valve has no position 'sealed'"):
        check_plan(dems, params, no_sweep)
    no_area = {**LAB, "vmp3_2": dataclasses.replace(LAB["vmp3_2"], electrode_area_cm2=0.0)}
    with pytest.raises(ParameterError, match="electrode_area must be positive"):
        check_plan(dems, params, no_area)


def test_plan_call_names_the_plan_its_arguments_and_every_device_it_was_given():
    clock, det1, det2 = SynAxis(name="clock"), SynGauss("g1", SynAxis(name="m1"), "m1", 0, 1), SynAxis(name="m2")
    gen = readings(clock, [det1, det2], num=3)
    call = plan_call(gen)
    assert call.plan_name == "readings"
    assert call.arguments["num"] == 3 and call.arguments["period"] == 60  # defaults included
    assert call.devices == (clock, det1, det2)
    gen.close()
    with pytest.raises(KeyError):
        plan_call(iter(()))
