"""Electrochemistry plans on the simulated lab through a RunEngine, on each vendor's backend.

The plan tests run twice: on a VMP3 channel (BioLogic EClib fake, coin cell on ``vmp3:1``) and on the
Reference 600 built by its factory (GamryCOM fake, a Na||Cu coin cell on ``ref600:1``). The outcomes are the
same physics read through different SDKs, so the same assertions hold on both.
"""

import threading
from types import SimpleNamespace

import pytest
from bluesky.utils import RunEngineInterrupted

from labctl.devices.clock import LabClock
from labctl.devices.errors import LimitError
from labctl.factories.gamry import build as build_gamry
from labctl.plans.electrochem import cv, eis, galvanostatic_cycles, ocv, rate_test
from labctl.plans.params import ParameterError
from labctl.sim.lab import SimLab

AREA = 1.767
#: five standard deviations of the simulated Ewe reading noise (100 uV): a sample taken at a cutoff may read below it
E_NOISE_5SIGMA = 5e-4
LIMITS = {"current_A": [-0.4, 0.4], "voltage_V": [-10.0, 10.0]}
GAMRY_SIM = {"seed": 1, "noise": 1.0, "cells": {"coin": {"kind": "coin", "electrolyte": "ecdmc", "area_cm2": AREA,
                                                         "channel": "ref600:1"}}}
REF600 = SimpleNamespace(name="ref600", kind="potentiostat", driver="gamry.ref600", transport="sim://REF600-12345",
                         options={"electrode_area_cm2": AREA}, limits=LIMITS, safe_state={"cell": "off"})


@pytest.fixture(params=["biologic", "gamry"])
def bench(request):
    """The coin cell's potentiostat, its world, lab clock and channel, on one vendor's backend."""
    if request.param == "biologic":
        world = request.getfixturevalue("world")
        yield SimpleNamespace(pstat=request.getfixturevalue("pstat"), world=world, sim_clock=world.clock,
                              clock=request.getfixturevalue("lab_clock"), channel="vmp3:1", key="vmp3_1")
        return
    simlab = SimLab(GAMRY_SIM)
    pstat = build_gamry(REF600, SimpleNamespace(clock=simlab.clock, simlab=simlab))
    yield SimpleNamespace(pstat=pstat, world=simlab.world, sim_clock=simlab.clock,
                          clock=LabClock(simlab.clock, name="clock"),
                          channel="ref600:1", key="ref600")
    pstat.destroy()
    simlab.close()


def _streams(docs):
    """{stream name: {data key: [values...]}} from descriptors and event pages/events."""
    names, out = {}, {}
    for name, doc in docs:
        if name == "descriptor":
            names[doc["uid"]] = doc["name"]
            out.setdefault(doc["name"], {k: [] for k in doc["data_keys"]})
        elif name == "event_page":
            for k, v in doc["data"].items():
                out[names[doc["descriptor"]]][k].extend(v)
        elif name == "event":
            for k, v in doc["data"].items():
                out[names[doc["descriptor"]]][k].append(v)
    return out


def _descriptor(docs, stream):
    return next(d for n, d in docs if n == "descriptor" and d["name"] == stream)


def _runs(rows, key="vmp3_1"):
    """Split a stream's rows (time column) into technique runs: time restarts at 0 for each."""
    runs, current = [], []
    for i, t in enumerate(rows[f"{key}_time"]):
        if t == 0.0 and current:
            runs.append(current)
            current = []
        current.append(i)
    return runs + [current]


def test_ten_cycles_give_the_electrolyte_ce_and_strips_end_at_the_cutoff(RE, bench, docs):
    bench.pstat.poll_period = 60.0
    world, k = bench.world, bench.key
    snapshots = []
    cycles_uid = []

    def on_doc(name, doc):   # what the world itself says at the moment each cycle is reported
        if name == "descriptor" and doc["name"] == "cycles":
            cycles_uid.append(doc["uid"])
        if name == "event" and doc["descriptor"] in cycles_uid:
            snapshots.append(world.cell("coin").inventory())

    RE.subscribe(on_doc)
    result = RE(galvanostatic_cycles(bench.pstat, bench.clock, current_density="0.5 mA/cm^2",
                                     plate_capacity="0.5 mAh/cm^2", strip_cutoff="1 V", cycles=10,
                                     record_dt="10 s"))
    assert result.exit_status == "success"
    streams = _streams(docs)
    ce = streams["cycles"]["cycles_ce"]
    assert streams["cycles"]["cycles_cycle"] == list(range(1, 11))
    prev = {"plated_C": 0.0, "stripped_C": 0.0}
    for n, inv in enumerate(snapshots):
        world_ce = 100 * (inv["stripped_C"] - prev["stripped_C"]) / (inv["plated_C"] - prev["plated_C"])
        assert ce[n] == pytest.approx(world_ce, abs=0.5), f"cycle {n + 1}"
        prev = inv
    assert snapshots[-1]["cycles"] == 10
    assert ce[0] == pytest.approx(24, abs=2) and ce[9] == pytest.approx(22, abs=2)   # EC:DMC, as in the paper
    assert streams["cycles"]["cycles_plated_capacity"] == pytest.approx([0.5] * 10, rel=1e-3)

    strip = streams["strip"]
    runs = _runs(strip, k)
    assert len(runs) == 10
    for run in runs:
        e = [strip[f"{k}_Ewe"][i] for i in run]
        assert e[-1] >= 1.0 - E_NOISE_5SIGMA > e[-2]      # the crossing sample is the last one (read with noise)
        assert e[-1] - 1.0 < 0.05                         # ... recorded at the crossing, not at the next 10 s
        t = [strip[f"{k}_time"][i] for i in run]
        assert 0 < t[-1] - t[-2] <= 10.0
    assert all(r["strip_ended_by"] == "limit" for r in result.plan_result)

    keys = _descriptor(docs, "plate")["data_keys"]
    assert (keys[f"{k}_time"]["units"], keys[f"{k}_Ewe"]["units"], keys[f"{k}_I"]["units"],
            keys[f"{k}_Q"]["units"]) == ("s", "V", "A", "C")
    cycles_desc = _descriptor(docs, "cycles")
    assert cycles_desc["data_keys"]["cycles_ce"]["units"] == "%"
    assert cycles_desc["hints"]["cycles"]["fields"] == ["cycles_ce"]
    start = docs[0][1]
    assert start["plan_name"] == "galvanostatic_cycles"
    assert start["plan_args"]["current_density"] == "0.5 mA/cm^2" and start["electrode_area_cm2"] == 1.767
    assert world.channel(bench.channel).state == "stop"


def test_cv_at_20_mV_s_has_the_points_its_range_and_step_imply(RE, bench, docs):
    result = RE(cv(bench.pstat, bench.clock, "0.5 V", "1.5 V", "0.2 V", scan_rate="20 mV/s", step="1 mV"))
    assert result.exit_status == "success"
    rows = _streams(docs)["cv"]
    assert len(rows[f"{bench.key}_Ewe"]) == docs[0][1]["expected_points"] == 2601
    e = rows[f"{bench.key}_Ewe"]
    assert min(e) == pytest.approx(0.2, abs=2e-3) and max(e) == pytest.approx(1.5, abs=2e-3)
    assert rows[f"{bench.key}_time"][-1] == pytest.approx(2.6 / 0.02, abs=0.1)


def test_eis_from_1_MHz_to_100_mHz_is_stored_as_a_spectrum(RE, bench, docs):
    k = bench.key
    result = RE(eis(bench.pstat, bench.clock, f_start="1 MHz", f_stop="0.1 Hz", points_per_decade=10,
                    amplitude="10 mV"))
    assert result.exit_status == "success"
    spectrum = _streams(docs)["eis"]
    freq = spectrum[f"{k}_eis_freq"]
    assert len(freq) == 71 and freq[0] == pytest.approx(1e6) and freq[-1] == pytest.approx(0.1)
    assert all(a > b for a, b in zip(freq, freq[1:], strict=False))
    z = bench.world.cell("coin").impedance(0.1)
    assert complex(spectrum[f"{k}_eis_Zre"][-1], spectrum[f"{k}_eis_Zim"][-1]) == pytest.approx(z, rel=0.05)
    units = {key: v.get("units") for key, v in _descriptor(docs, "eis")["data_keys"].items()}
    assert units[f"{k}_eis_freq"] == "Hz" and units[f"{k}_eis_Zre"] == "ohm"
    assert units[f"{k}_eis_Zphase"] == "deg"
    assert bench.world.channel(bench.channel).state == "stop"


def test_values_outside_the_limits_are_refused_before_the_cell_is_on(RE, eclib, pstat, lab_clock, docs):
    before = list(eclib.calls)
    with pytest.raises(LimitError, match=r"current=-0\.53\d* A is outside the allowed range \[-0\.4, 0\.4\] A"):
        RE(galvanostatic_cycles(pstat, lab_clock, current_density="300 mA/cm^2"))
    with pytest.raises(LimitError, match="vertex1=12 V"):
        RE(cv(pstat, lab_clock, "0 V", "12 V", "-1 V"))
    with pytest.raises(ParameterError, match="current_density='1 V'"):
        RE(galvanostatic_cycles(pstat, lab_clock, current_density="1 V"))
    with pytest.raises(ParameterError, match="cycles"):
        RE(galvanostatic_cycles(pstat, lab_clock, cycles=0))
    new = eclib.calls[len(before):]
    assert "BL_LoadTechnique" not in new and "BL_StartChannel" not in new
    assert not any(name == "start" for name, _ in docs)


def _stop_on_first_plate_page(RE, action):
    plate = []

    def on_doc(name, doc):
        if name == "descriptor" and doc["name"] == "plate":
            plate.append(doc["uid"])
        if name == "event_page" and doc["descriptor"] in plate and len(plate) == 1:
            plate.append("seen")
            action()

    RE.subscribe(on_doc)


def test_an_exception_leaves_the_cell_at_open_circuit_and_keeps_the_data(RE, world, pstat, lab_clock, docs):
    def boom():
        raise RuntimeError("bench alarm")

    _stop_on_first_plate_page(RE, boom)
    with pytest.raises(RuntimeError, match="bench alarm"):
        RE(galvanostatic_cycles(pstat, lab_clock, cycles=2, poll="60 s"))
    channel = world.channel("vmp3:1")
    assert channel.state == "stop" and channel.ended_by == "stopped"
    assert abs(pstat.current.get()) < 1e-9
    stop = [d for n, d in docs if n == "stop"][-1]
    assert stop["exit_status"] == "fail"
    rows = _streams(docs)["plate"]["vmp3_1_time"]
    assert len(rows) > 60 and rows == sorted(rows)      # recorded up to the stop, nothing after


def test_abort_leaves_the_cell_at_open_circuit_and_keeps_the_data(RE, world, pstat, lab_clock, docs):
    # As Ctrl-C does: the pause request comes from another thread while the run goes on.
    _stop_on_first_plate_page(RE, lambda: threading.Thread(target=RE.request_pause).start())
    with pytest.raises(RunEngineInterrupted):
        RE(galvanostatic_cycles(pstat, lab_clock, cycles=2, poll="60 s"))
    RE.abort("operator")
    channel = world.channel("vmp3:1")
    assert channel.state == "stop" and channel.ended_by == "stopped"
    stop = [d for n, d in docs if n == "stop"][-1]
    assert stop["exit_status"] == "abort"
    assert len(_streams(docs)["plate"]["vmp3_1_time"]) > 60


def test_rate_test_reports_each_cycle_with_its_current_density(RE, pstat, lab_clock, docs):
    pstat.poll_period = 120.0
    result = RE(rate_test(pstat, lab_clock, current_densities=["0.5 mA/cm^2", "1 mA/cm^2"], cycles_per_rate=2,
                          record_dt="60 s"))
    cycles = _streams(docs)["cycles"]
    assert cycles["cycles_cycle"] == [1, 2, 3, 4]
    assert cycles["cycles_current_density"] == [0.5, 0.5, 1.0, 1.0]
    assert [r["ce_percent"] for r in result.plan_result] == pytest.approx(cycles["cycles_ce"])
    assert docs[0][1]["plan_args"]["current_densities"] == ["0.5 mA/cm^2", "1 mA/cm^2"]


def test_ocv_plan_records_the_rest_potential(RE, world, pstat, lab_clock, docs):
    RE(ocv(pstat, lab_clock, duration="5 min", record_dt="30 s"))
    rows = _streams(docs)["ocv"]
    assert rows["vmp3_1_time"] == pytest.approx([30.0 * k for k in range(11)], abs=1e-4)
    assert rows["vmp3_1_Ewe"][-1] == pytest.approx(world.cell("coin").ocv(), abs=0.01)


def test_stop_mid_strip_ends_the_run_successfully_with_the_cell_off_and_the_rows_kept(RE, bench, docs):
    k, world = bench.key, bench.world
    strip_uid = []

    def on_doc(name, doc):   # the operator pauses (Ctrl-C) once the first strip rows are in, then stops
        if name == "descriptor" and doc["name"] == "strip":
            strip_uid.append(doc["uid"])
        if name == "event_page" and doc["descriptor"] in strip_uid and len(strip_uid) == 1:
            strip_uid.append("seen")
            threading.Thread(target=RE.request_pause).start()

    RE.subscribe(on_doc)
    with pytest.raises(RunEngineInterrupted):
        RE(galvanostatic_cycles(bench.pstat, bench.clock, cycles=3, record_dt="10 s", poll="60 s"))
    assert RE.state == "paused"
    RE.stop()
    stop = [d for n, d in docs if n == "stop"][-1]
    assert stop["exit_status"] == "success"          # bluesky: a stop is an orderly, successful end
    channel = world.channel(bench.channel)
    assert channel.state == "stop" and channel.ended_by == "stopped"
    assert abs(bench.pstat.current.get()) < 1e-9
    inv = world.cell("coin").inventory()
    bench.sim_clock.sleep(600)
    assert world.cell("coin").inventory() == inv     # nothing flows any more

    streams = _streams(docs)
    assert len(_runs(streams["plate"], k)) == 1 and len(streams["plate"][f"{k}_time"]) == 361
    strip = streams["strip"]
    assert len(_runs(strip, k)) == 1 and strip[f"{k}_time"] == sorted(strip[f"{k}_time"])
    assert all(i > 0 for i in strip[f"{k}_I"]) and strip[f"{k}_Ewe"][-1] < 1.0   # stopped before the cutoff
    # every row up to the stop was kept: the charge they report is what left the Na inventory,
    # short of at most the one sample period between the last row and the switch-off (the instrument's
    # integrated current carries its measurement noise, hence the 1e-4 on the other side)
    one_sample = 0.5e-3 * AREA * 10.0
    assert -1e-4 * inv["stripped_C"] <= inv["stripped_C"] - strip[f"{k}_Q"][-1] <= one_sample * 1.001
    assert "cycles" not in streams                   # no cycle was completed, none is reported


@pytest.mark.parametrize("noise, rel", [(0.0, 1e-6), (1.0, 0.05)])
def test_geis_on_the_vmp3_is_stored_as_the_cells_spectrum(RE, clock, lab_clock, noise, rel, docs):
    from labctl.devices.potentiostat.biologic import BioLogicBackend
    from labctl.devices.potentiostat.device import Potentiostat
    from labctl.sim.sdk.biologic import FakeEClib
    from labctl.sim.world import World

    world = World(clock, seed=1, noise=noise)
    world.add_cell("coin", "coin", "ecdmc", AREA, channel="vmp3:1")
    pstat = Potentiostat(BioLogicBackend(FakeEClib(world, "vmp3", plugged=(1,)), "vmp3", 1, name="vmp3_1"),
                         clock=clock, name="vmp3_1", limits=LIMITS, electrode_area_cm2=AREA)
    try:
        result = RE(eis(pstat, lab_clock, f_start="100 kHz", f_stop="0.1 Hz", points_per_decade=5,
                        amplitude="10 uA"))
    finally:
        pstat.destroy()
    assert result.exit_status == "success"
    assert docs[0][1]["techniques"][0]["technique"] == "GEIS"
    spectrum = _streams(docs)["eis"]
    freq = spectrum["vmp3_1_eis_freq"]
    assert len(freq) == 31 and freq[0] == pytest.approx(1e5) and freq[-1] == pytest.approx(0.1)
    cell = world.cell("coin")
    for f, zre, zim in zip(freq, spectrum["vmp3_1_eis_Zre"], spectrum["vmp3_1_eis_Zim"], strict=False):
        assert complex(zre, zim) == pytest.approx(cell.impedance(f), rel=rel), f"{f:g} Hz"
    assert world.channel("vmp3:1").state == "stop"
