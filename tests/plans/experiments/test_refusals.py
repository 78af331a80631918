"""Impossible parameters are refused with an error naming them, before any run opens or anything moves."""

from __future__ import annotations

import bluesky.plan_stubs as bps
import pytest
from labwatch import world_state

from labctl.devices.errors import LimitError
from labctl.devices.valve.device import TwoPositionValve
from labctl.plans.afm import afm_plating
from labctl.plans.campaign import coin_cell_campaign
from labctl.plans.dems import dems
from labctl.plans.electrochem import eis, galvanostatic_cycles, rate_test
from labctl.plans.liquid_cell import liquid_cell_operando
from labctl.plans.params import ParameterError
from labctl.plans.titration import online_ms_titration


def _dems(d, c, **kw):
    return dems(d["vmp3_2"], d["dems_valve"], d["ms"], d["mfc"], c, d["operator"], electrolyte="ecdmc", **kw)


def _titration(d, c, **kw):
    return online_ms_titration(d["ms"], d["mfc"], c, d["operator"], valve=d["dems_valve"], d2o_pump=d["d2o_pump"],
                               **kw)


def _afm(d, c, **kw):
    return afm_plating(d["vmp3_1"], c, d["operator"], **kw)


def _liquid(d, c, **kw):
    return liquid_cell_operando(d["ref600"], d["pump"], c, d["operator"], **kw)


def _campaign(d, c, **kw):
    return coin_cell_campaign(d["vmp3_1"], d["ms"], d["mfc"], c, d["operator"], valve=d["dems_valve"],
                              d2o_pump=d["d2o_pump"], **kw)


CASES = {
    # name: (plan factory, error type, words the message must contain)
    "dems negative current density": (lambda d, c: _dems(d, c, current_density="-0.5 mA/cm^2"),
                                      ParameterError, ["current_density"]),
    "afm negative current density": (lambda d, c: _afm(d, c, current_density="-1 mA/cm^2"),
                                     ParameterError, ["current_density"]),
    "liquid cell zero current density": (lambda d, c: _liquid(d, c, current_density="0 mA/cm^2"),
                                         ParameterError, ["current_density"]),
    "negative plate capacity": (lambda d, c: galvanostatic_cycles(d["vmp3_1"], c, plate_capacity="-0.5 mAh/cm^2"),
                                ParameterError, ["plate_capacity"]),
    "dems negative plate time": (lambda d, c: _dems(d, c, plate_time="-10 min"), ParameterError, ["plate_time"]),
    "dems strip cutoff beyond the voltage window": (lambda d, c: _dems(d, c, strip_cutoff="12 V"),
                                                    LimitError, ["12 V", "[-10, 10] V"]),
    "afm strip cutoff beyond the voltage window": (lambda d, c: _afm(d, c, strip_cutoff="-20 V"),
                                                   LimitError, ["-20 V", "[-10, 10] V"]),
    "liquid cell CV vertex beyond the Gamry's window": (lambda d, c: _liquid(d, c, mode="cv", vertex2="15 V"),
                                                        LimitError, ["vertex2", "15 V"]),
    "dems carrier flow 0": (lambda d, c: _dems(d, c, carrier_flow="0 mL/min"), ParameterError, ["carrier_flow"]),
    "titration carrier flow 0": (lambda d, c: _titration(d, c, carrier_flow=0), ParameterError, ["carrier_flow"]),
    "dems carrier flow beyond the MFC": (lambda d, c: _dems(d, c, carrier_flow="9 mL/min"),
                                         LimitError, ["mfc", "9 mL/min"]),
    "cycle targets decreasing": (lambda d, c: _dems(d, c, cycle_targets=(2, 1)), ParameterError, ["cycle_targets"]),
    "cycle targets repeated": (lambda d, c: _dems(d, c, cycle_targets=(1, 1)), ParameterError, ["cycle_targets"]),
    "cycle targets from zero": (lambda d, c: _dems(d, c, cycle_targets=(0, 1)), ParameterError, ["cycle_targets"]),
    "no cycle targets": (lambda d, c: _dems(d, c, cycle_targets=()), ParameterError, ["cycle_targets"]),
    "capture times out of order": (lambda d, c: _afm(d, c, capture_times=(1200, 600)),
                                   ParameterError, ["capture_times"]),
    "negative D2O volume": (lambda d, c: _titration(d, c, d2o_volume="-5 uL"), ParameterError, ["d2o_volume"]),
    "injection faster than the D2O pump": (lambda d, c: _titration(d, c, injection_rate="1e6 uL/h"),
                                           LimitError, ["d2o_pump", "rate"]),
    "titration threshold above 1": (lambda d, c: _titration(d, c, thresholds={"D2": 2.0}),
                                    ParameterError, ["threshold", "D2"]),
    "liquid cell unknown mode": (lambda d, c: _liquid(d, c, mode="eis"), ParameterError, ["mode", "eis"]),
    "liquid cell imaging faster than the pump": (lambda d, c: _liquid(d, c, imaging_rate="5000 uL/h"),
                                                 LimitError, ["pump", "5000"]),
    "liquid cell zero cycles": (lambda d, c: _liquid(d, c, cycles=0), ParameterError, ["cycles"]),
    "campaign zero CE cycles": (lambda d, c: _campaign(d, c, ce_cycles=0), ParameterError, ["ce_cycles"]),
    "campaign without electrolytes": (lambda d, c: _campaign(d, c, electrolytes=()), ParameterError, ["electrolytes"]),
    "unknown valve position": (lambda d, c: bps.mv(d["dems_valve"], "open"), LimitError, ["'open'", "dems_valve"]),
    "capture times as one number": (lambda d, c: _afm(d, c, capture_times=600), ParameterError, ["capture_times"]),
    "cycle targets as one number": (lambda d, c: _dems(d, c, cycle_targets=5), ParameterError, ["cycle_targets"]),
    "current densities as one string": (lambda d, c: rate_test(d["vmp3_1"], c, current_densities="1 mA/cm^2"),
                                        ParameterError, ["current_densities"]),
    "eis amplitude without a unit": (lambda d, c: eis(d["vmp3_1"], c, amplitude=0.01),
                                     ParameterError, ["amplitude", "0.01", "mV"]),
    "eis amplitude neither V nor A": (lambda d, c: eis(d["vmp3_1"], c, amplitude="10 Hz"),
                                      ParameterError, ["amplitude", "10 Hz"]),
    "eis galvanostatic amplitude in volts": (lambda d, c: eis(d["vmp3_1"], c, amplitude="10 mV", mode="galvanostatic"),
                                             ParameterError, ["amplitude", "A"]),
    "eis unknown mode": (lambda d, c: eis(d["vmp3_1"], c, mode="fast"), ParameterError, ["mode", "fast"]),
    "eis dc without a unit": (lambda d, c: eis(d["vmp3_1"], c, amplitude="10 mV", dc=0.1),
                              ParameterError, ["dc", "0.1"]),
    "plating cutoff beyond the voltage window": (
        lambda d, c: galvanostatic_cycles(d["vmp3_1"], c, plate_e_min="-20 V"), LimitError, ["plate_e_min"]),
    "campaign titration setting the cell": (lambda d, c: _campaign(d, c, titration={"cell": "x", "md": {}}),
                                            ParameterError, ["titration", "cell", "md"]),
    "campaign titration setting the electrolyte": (lambda d, c: _campaign(d, c, titration={"electrolyte": "dme"}),
                                                   ParameterError, ["titration", "electrolyte"]),
    "campaign EIS without a sweep": (lambda d, c: _campaign(d, c, eis_f_stop="1 MHz"),
                                     ParameterError, ["f_start", "f_stop"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_refused_before_anything_moves(lab, case):
    factory, error, words = CASES[case]
    documents = []
    token = lab.RE.subscribe(lambda name, doc: documents.append(name))
    before = world_state(lab)
    try:
        with pytest.raises(error) as refused:
            lab.run(factory(lab.devices, lab.clock))
    finally:
        lab.RE.unsubscribe(token)
    for word in words:
        assert word in str(refused.value), (word, str(refused.value))
    assert documents == []  # no run opened
    assert world_state(lab) == before


def test_dems_refuses_a_valve_without_sealed_and_sweep_positions(lab):
    d = lab.devices
    renamed = TwoPositionValve(d["dems_valve"].driver, positions={"A": "closed", "B": "open"}, name="dems_valve")
    before = world_state(lab)
    with pytest.raises(ParameterError, match="no position 'sealed'"):
        lab.run(dems(d["vmp3_2"], renamed, d["ms"], d["mfc"], lab.clock))
    assert world_state(lab) == before


@pytest.mark.parametrize("plan", ["dems", "afm_plating"])
def test_strip_cutoff_refusal_names_the_parameter(lab, plan):
    d, c = lab.devices, lab.clock
    gen = _dems(d, c, strip_cutoff="12 V") if plan == "dems" else _afm(d, c, strip_cutoff="12 V")
    with pytest.raises(LimitError, match="strip_cutoff"):
        next(gen)


def test_campaign_refuses_bad_titration_parameters_before_its_first_run(lab):
    gen = _campaign(lab.devices, lab.clock, titration={"carrier_flow": "0 mL/min"})
    try:
        with pytest.raises(ParameterError, match="carrier_flow"):
            next(gen)  # the first message would already open the cycling run
    finally:
        gen.close()


@pytest.mark.parametrize("plan", ["dems", "afm_plating", "liquid_cell_operando", "coin_cell_campaign"])
def test_electrode_without_an_area_is_refused(lab, plan):
    d, c = lab.devices, lab.clock
    pstat = d["ref600"] if plan == "liquid_cell_operando" else d["vmp3_2"] if plan == "dems" else d["vmp3_1"]
    factory = {"dems": _dems, "afm_plating": _afm, "liquid_cell_operando": _liquid, "coin_cell_campaign": _campaign}
    area = pstat.electrode_area.get()
    before = world_state(lab)
    pstat.electrode_area.put(0.0)
    try:
        with pytest.raises(ParameterError, match="electrode_area"):
            lab.run(factory[plan](d, c))
    finally:
        pstat.electrode_area.put(area)
    assert world_state(lab) == before


@pytest.mark.filterwarnings("ignore:(?s).*plan `stop` was never iterated:RuntimeWarning")  # closed before it ran
def test_eis_with_an_explicit_mode_takes_a_bare_amplitude_in_that_unit(lab):
    d = lab.devices
    gen = eis(d["vmp3_1"], lab.clock, amplitude=0.01, mode="potentiostatic")
    try:
        msg = next(gen)  # the run opens: every check passed
        techniques = msg.kwargs["techniques"] if "techniques" in msg.kwargs else None
        assert msg.command == "open_run"
        assert techniques[0]["technique"] == "PEIS" and techniques[0]["amplitude"] == "0.01 V"
    finally:
        gen.close()
