"""The potentiostat firmware: limits, recording, techniques and determinism."""

import numpy as np
import pytest
from test_world_kit import coin_lab, plate_strip, run_program

from labctl.sim.world import EisSample, Limit, Step, eis_point_time

AREA = 1.767


def test_strip_ends_within_one_sample_of_the_cutoff_and_records_the_crossing():
    lab = coin_lab("ecdmc")
    samples = run_program(lab, "vmp3:1", plate_strip(AREA, record_dt=1.0))
    strip = [s for s in samples if s.step == 1]
    assert strip[-1].Ewe > 1.0 and strip[-2].Ewe < 1.0
    assert strip[-1].Ewe - 1.0 < 0.05
    assert lab.world.channel("vmp3:1").step_log[-1][1] == "limit"


def test_records_every_record_dt_with_q_and_time():
    lab = coin_lab("dme")
    i = -0.5e-3 * AREA
    samples = run_program(lab, "vmp3:1", [Step("cc", value=i, duration=100.0, record_dt=2.0)])
    t = np.array([s.t for s in samples])
    assert len(samples) == 51
    assert np.allclose(np.diff(t), 2.0)
    assert samples[-1].Q == pytest.approx(i * 100.0)
    assert samples[-1].Ewe < 0                        # plating on the plateau, below 0 V vs Na


def test_record_dE_adds_samples_where_the_potential_moves():
    lab = coin_lab("dme")
    coarse = run_program(lab, "vmp3:1", [Step("cc", value=-0.5e-3 * AREA, duration=30.0, record_dt=10.0)])
    lab2 = coin_lab("dme")
    fine = run_program(lab2, "vmp3:1", [Step("cc", value=-0.5e-3 * AREA, duration=30.0, record_dt=10.0,
                                              record_dE=0.05)])
    assert len(fine) > len(coarse) + 20               # the fall from OCV to the nucleation dip is resolved
    steps = np.abs(np.diff([s.Ewe for s in fine]))
    assert steps.max() < 0.06


def test_nucleation_dip_then_plating_plateau():
    lab = coin_lab("ecdmc", noise=0.0)
    samples = run_program(lab, "vmp3:1", [Step("cc", value=-0.5e-3 * AREA, duration=600.0, record_dt=0.5)])
    e = np.array([s.Ewe for s in samples])
    k = int(np.argmin(e))
    assert 0 < k < len(e) - 1
    assert e[k] < e[-1] - 0.05                        # dip well below the plateau
    assert -0.3 < e[-1] < -0.05


def test_1khz_galvanostatic_recording_delivers_every_sample_once():
    """Drained in quarter-second batches, a 30 s step at 1 kHz yields each millisecond exactly once (the
    throughput is measured in bench/simlab.py)."""
    lab = coin_lab("dme")
    ch = lab.world.channel("vmp3:1")
    i = -0.5e-3 * AREA
    ch.load([Step("cc", value=i, duration=30.0, record_dt=1e-3)])
    ch.start()
    samples, batches = [], 0
    while ch.state == "run":
        lab.clock.advance(0.25)
        samples += ch.drain()
        batches += 1
    assert batches == 120 and ch.drain() == []
    t = np.array([s.t for s in samples])
    assert len(samples) == 30001
    assert np.allclose(np.diff(t), 1e-3) and t[-1] - t[0] == pytest.approx(30.0)
    assert samples[-1].Q == pytest.approx(i * 30.0)


def test_limit_action_stop_ends_the_program():
    lab = coin_lab("dme")
    ch = lab.world.channel("vmp3:1")
    ch.load([Step("cc", value=0.5e-3 * AREA, limits=(Limit("Ewe", ">", 1.0, "stop"),), record_dt=1.0),
             Step("ocv", duration=100.0)])
    ch.start()
    lab.clock.advance(100)
    assert ch.state == "stop" and ch.ended_by == "limit" and ch.step_index == 0


def test_eis_takes_realistic_time_and_returns_the_cell_impedance():
    lab = coin_lab("ecdmc", noise=0.0)
    freqs = (1e5, 1e3, 10.0, 0.1)
    ch = lab.world.channel("vmp3:1")
    ch.load([Step("eis", frequencies=freqs, amplitude=0.01)])
    ch.start()
    needed = sum(eis_point_time(f) for f in freqs)
    lab.clock.advance(needed - 1.0)
    assert ch.state == "run"
    lab.clock.advance(2.0)
    assert ch.state == "stop" and ch.ended_by == "done"
    pts = ch.drain()
    eis = [p for p in pts if isinstance(p, EisSample)]
    assert [p.freq for p in eis] == list(freqs)
    cell = lab.world.cell("coin")
    for p in eis:
        assert p.Z == pytest.approx(cell.impedance(p.freq))
        assert p.I_amp == pytest.approx(0.01 / abs(p.Z))


def test_cv_on_the_liquid_cell_shows_plating_and_stripping_waves():
    from labctl.sim.lab import SimLab

    lab = SimLab({"seed": 1, "noise": 0.0, "cells": {"liquid": {"kind": "liquid", "electrolyte": "dme",
                                                                 "area_cm2": 0.0005, "channel": "ref600:1"}}})
    samples = run_program(lab, "ref600:1", [Step("sweep", vertices=(1.5, -0.5, 1.5), scan_rate=0.02,
                                                 record_dE=0.005)], chunk=50.0)
    e = np.array([s.Ewe for s in samples])
    i = np.array([s.I for s in samples])
    assert i.min() < -1e-6                         # cathodic plating wave below 0 V
    assert i.max() > 1e-6                          # anodic stripping peak on the way back
    assert e[np.argmax(i)] > 0
    assert abs(i[e > 1.2]).max() < 1e-7            # only capacitive current away from the Na couple
    inv = lab.world.cell("liquid").inventory()
    assert inv["reversible_C"] == pytest.approx(0.0, abs=1e-12)   # all plated Na stripped or lost


def test_open_circuit_relaxes_toward_na_after_plating():
    lab = coin_lab("dme", noise=0.0)
    run_program(lab, "vmp3:1", [Step("cc", value=-0.5e-3 * AREA, duration=600.0)])
    ch = lab.world.channel("vmp3:1")
    e0, _ = ch.instant()
    lab.clock.advance(300)
    e1, i1 = ch.instant()
    assert e0 < e1 <= 0.0 and abs(e1) < 0.01 and i1 == 0.0


def _noisy_run(seed):
    lab = coin_lab("ecdmc", seed=seed)
    ms = lab.world.mass_spec("ms")
    ms.filament_on(1.0)
    samples = run_program(lab, "vmp3:1", plate_strip(AREA, capacity_mAh_cm2=0.1))
    return [s.Ewe for s in samples], [ms.ion_current(40) for _ in range(5)]


def test_same_seed_same_data_different_seed_different_noise():
    a, b, c = _noisy_run(3), _noisy_run(3), _noisy_run(4)
    assert a == b
    assert a[0] != c[0] and a[1] != c[1]


def test_noise_zero_is_noiseless():
    lab = coin_lab("dme", noise=0.0)
    samples = run_program(lab, "vmp3:1", [Step("cc", value=-1e-4, duration=100.0, record_dt=1.0)])
    assert all(s.I == -1e-4 for s in samples)
