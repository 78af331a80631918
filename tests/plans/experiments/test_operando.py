"""Operando liquid-cell TEM and in-situ AFM plating, checked against the simulated pump, cell and channels."""

from __future__ import annotations

import numpy as np
import pytest
from labwatch import assemble, lab_stamps, message_hook

from labctl.analysis.columns import lab_time
from labctl.plans.afm import afm_plating
from labctl.plans.liquid_cell import liquid_cell_operando

RATES = {"flush_rate": "240 uL/h", "imaging_rate": "120 uL/h", "replenish_rate": "360 uL/h"}


@pytest.fixture(scope="module", params=["cv", "galvanostatic"])
def operando(request, lab, world):
    """One liquid-cell run per mode; every rate the pump was set to, with the lab time it was set."""
    mode = request.param
    assemble(lab, "liquid", "liquid", "dme", 0.0005, "ref600:1")
    pump = world.pump("pump")
    settings = []

    def watch_pump(msg):
        if msg.obj is lab.devices["pump"] and msg.command in ("set", "stop"):
            settings.append((world.now(), 0.0 if msg.command == "stop" else float(msg.args[0])))

    infused0 = pump.infused_uL
    d = lab.devices
    with message_hook(lab, watch_pump):
        plating = {"plate_time": "20 s"} if mode == "galvanostatic" else {}  # a CV takes no plating time
        (uid,) = lab.run(liquid_cell_operando(d["ref600"], d["pump"], lab.clock, d["operator"], mode=mode, cycles=2,
                                              flush_time="10 min", replenish_time="2 min", **plating, **RATES))
    return {"mode": mode, "run": lab.storage.run(uid), "settings": settings, "end": world.now(),
            "infused_uL": pump.infused_uL - infused0}


def test_pump_moved_the_commanded_rates_for_their_times(operando):
    settings = operando["settings"]
    rates = [r for _, r in settings]
    # stopped for the solvent syringe, flush, stopped for the electrolyte syringe, image, (replenish, image) x 2
    assert rates == [0.0, 240.0, 0.0, 120.0, 360.0, 120.0, 360.0, 120.0, 0.0]
    expected = sum(rate * (t1 - t0) / 3600.0 for (t0, rate), (t1, _) in zip(settings, settings[1:], strict=False))
    # flush 240 uL/h x 10 min and replenish 360 uL/h x 2 min x 2, plus imaging while the cell cycles
    assert expected > 40.0 + 24.0
    assert operando["infused_uL"] == pytest.approx(expected, rel=1e-3)


def test_flush_and_replenish_last_their_requested_times(operando):
    t = [t for t, _ in operando["settings"]]
    assert t[2] - t[1] == pytest.approx(600.0, abs=1.0)
    assert t[5] - t[4] == pytest.approx(120.0, abs=1.0)
    assert t[7] - t[6] == pytest.approx(120.0, abs=1.0)


def test_fluidics_stream_records_the_rates(operando):
    fluidics = operando["run"].table("fluidics")
    running = fluidics["pump_running"].astype(bool)
    assert set(np.round(fluidics["pump_rate"][running].to_numpy(float), 6)) == {240.0, 120.0, 360.0}
    assert (~running).sum() == 2  # read once stopped before each syringe swap


def test_imaging_markers_bracket_each_cycle(operando):
    run = operando["run"]
    steps = run.table("checkpoints")
    assert steps["operator_action"].tolist() == ["swap_syringe", "swap_syringe", "start_imaging", "stop_imaging",
                                                 "start_imaging", "stop_imaging"]
    assert (steps["operator_confirmed_by"] == "simulated operator").all()
    at = steps["operator_confirmed_at"].to_numpy(float)
    assert np.all(np.diff(at) >= 0)
    streams = ["cv"] if operando["mode"] == "cv" else ["plate", "strip"]
    assert set(streams) <= set(run.streams)
    for cycle in range(2):
        start, stop = at[2 + 2 * cycle], at[3 + 2 * cycle]
        assert stop > start
        for stream in streams:
            t = lab_stamps(run, stream)
            assert np.any((t >= start) & (t <= stop)), (stream, cycle)
    everything = np.concatenate([lab_stamps(run, s) for s in streams])
    inside = np.zeros(len(everything), bool)
    for cycle in range(2):
        inside |= (everything >= at[2 + 2 * cycle]) & (everything <= at[3 + 2 * cycle])
    assert inside.all()  # no electrochemistry outside the imaging windows


def test_cell_off_and_pump_stopped_afterwards(operando, world):
    assert world.channel("ref600:1").state == "stop"
    assert not world.pump("pump").running


def test_pump_stopped_and_its_volume_recorded_at_every_syringe_swap(lab, world):
    """Nobody takes a syringe out of a running pump, and what it delivered before is in the fluidics stream."""
    assemble(lab, "liquid", "liquid", "dme", 0.0005, "ref600:1")
    pump, operator = world.pump("pump"), lab.simlab.operator
    seen = []
    perform = operator.perform

    def watching(action, **params):
        if action == "swap_syringe":
            seen.append((pump.running, pump.infused_uL))
        return perform(action, **params)

    d = lab.devices
    infused0 = pump.infused_uL
    operator.perform = watching
    try:
        (uid,) = lab.run(liquid_cell_operando(d["ref600"], d["pump"], lab.clock, d["operator"], cycles=1,
                                              flush_time="10 min", replenish_time="1 min", plate_time="10 s"))
    finally:
        operator.perform = perform
    assert [running for running, _ in seen] == [False, False]
    flushed = seen[1][1] - infused0
    assert flushed == pytest.approx(240.0 * 600 / 3600, rel=1e-3)  # 40 uL of solvent
    fluidics = lab.storage.run(uid).table("fluidics")
    # the reading taken after the stop, just before the electrolyte swap, holds the full flush
    stopped = fluidics[~fluidics["pump_running"].astype(bool)]
    dispensed = stopped["pump_dispensed"].to_numpy(float)
    assert len(dispensed) == 2 and dispensed[1] - dispensed[0] == pytest.approx(flushed, rel=1e-3)


@pytest.fixture(scope="module")
def plated(lab, world):
    """In-situ AFM: a fresh DME cell on VMP3 channel 1 plated for 30 min with three topography captures."""
    assemble(lab, "afm", "afm", "dme", 1.767, "vmp3:1")
    d = lab.devices
    (uid,) = lab.run(afm_plating(d["vmp3_1"], lab.clock, d["operator"], current_density="0.5 mA/cm^2"))
    return lab.storage.run(uid)


def test_topography_captured_at_600_1200_1800_s_of_plating(plated):
    plate = plated.table("plate")
    start = lab_stamps(plated, "plate")[0] - plate["vmp3_1_time"].iloc[0]  # lab time the plating began
    steps = plated.table("checkpoints")
    assert steps["operator_action"].tolist() == ["capture_topography"] * 3
    assert (steps["operator_confirmed_by"] == "simulated operator").all()
    since = steps["operator_confirmed_at"].to_numpy(float) - start
    np.testing.assert_allclose(since, [600.0, 1200.0, 1800.0], atol=2.0)


def test_captures_are_labelled_with_the_charge_plated_by_then(plated):
    plate, captures = plated.table("plate"), plated.table("topography")
    np.testing.assert_allclose(captures["topography_planned"], [600.0, 1200.0, 1800.0])
    np.testing.assert_allclose(captures["topography_late"], 0.0)
    t, q = plate["vmp3_1_time"].to_numpy(float), np.abs(plate["vmp3_1_Q"].to_numpy(float))
    at = captures["topography_at"].to_numpy(float)
    np.testing.assert_allclose(captures["topography_charge"], np.interp(at, t, q), rtol=2e-3)
    np.testing.assert_allclose(captures["topography_capacity"], captures["topography_charge"] / 3.6 / 1.767)


def test_slow_operator_does_not_shift_later_captures(lab, world):
    """Each capture is due at its time after the plating began, however long the one before took; one due
    while the operator was still busy is taken at once and recorded as late."""
    assemble(lab, "afm", "afm", "dme", 1.767, "vmp3:1")
    operator = lab.simlab.operator
    perform = operator.perform

    def slow(action, **params):
        if action == "capture_topography":
            lab.simlab.clock.sleep(450.0 if params["planned_s"] < 1000 else 100.0)
        return perform(action, **params)

    d = lab.devices
    operator.perform = slow
    try:
        (uid,) = lab.run(afm_plating(d["vmp3_1"], lab.clock, d["operator"], capture_times=[600, 900, 1800],
                                     strip_time_limit="10 min"))
    finally:
        operator.perform = perform
    captures = lab.storage.run(uid).table("topography")
    np.testing.assert_allclose(captures["topography_at"], [600.0, 1050.0, 1800.0], atol=2.0)
    np.testing.assert_allclose(captures["topography_late"], [0.0, 150.0, 0.0], atol=2.0)
    plate = lab.storage.run(uid).table("plate")
    assert plate["vmp3_1_time"].iloc[-1] == pytest.approx(1800.0, abs=1.0)  # plated for exactly 30 min


def test_plating_is_never_interrupted(plated):
    plate = plated.table("plate")
    t = plate["vmp3_1_time"].to_numpy(float)
    assert t[0] == pytest.approx(0.0) and t[-1] == pytest.approx(1800.0, abs=1.0)
    np.testing.assert_allclose(np.diff(t), 1.0, atol=1e-3)  # every second recorded, once, without a gap
    current = plate["vmp3_1_I"].to_numpy(float)
    np.testing.assert_allclose(current, -0.5e-3 * 1.767, rtol=1e-3)  # the current never stopped
    assert plate["vmp3_1_step"].nunique() == 1
    q = np.abs(plate["vmp3_1_Q"].to_numpy(float))
    assert np.all(np.diff(q) > 0)  # charge only ever accumulates: one technique, never restarted


def test_strip_ends_at_the_1_v_cutoff(plated, world):
    strip = plated.table("strip")
    ewe = strip["vmp3_1_Ewe"].to_numpy(float)
    assert ewe[-1] == pytest.approx(1.0, abs=0.02)
    assert np.all(ewe[:-1] < 1.0)
    assert strip["vmp3_1_time"].iloc[-1] < 2 * 3600  # the cutoff, not the time limit, ended it
    assert world.channel("vmp3:1").state == "stop"


def test_recorded_plating_stamps_are_lab_time(plated):
    stamps = lab_stamps(plated, "plate")
    np.testing.assert_allclose(np.diff(stamps), 1.0, atol=1e-3)


def test_analysis_reads_lab_time_for_potentiostat_rows(plated):
    t = lab_time(plated.table("plate", timestamps=True)).to_numpy(float)
    assert t[-1] - t[0] == pytest.approx(1800.0, abs=1.0)
