"""Fault hooks, fluidics, the MS, and the SimLab with its operator."""

import tomllib
from importlib import resources

import pytest
from test_world_kit import coin_lab

from labctl.sim.lab import SimLab
from labctl.sim.world import Step


def test_pump_stalls_when_empty_and_when_blocked():
    lab = coin_lab("dme")
    pump = lab.world.pump("pump", diameter_mm=4.78, volume_uL=100.0, contents="electrolyte", feeds="coin")
    pump.run(600.0)                           # 100 uL at 600 uL/h: empty after 10 min
    lab.clock.advance(900)
    assert not pump.running and pump.stalled and pump.infused_uL == pytest.approx(100.0)
    pump.refill("electrolyte", 100.0)
    lab.world.inject_fault("pump", "stall")
    pump.run(600.0)
    lab.clock.advance(60)
    assert pump.stalled and pump.infused_uL == pytest.approx(100.0)
    lab.world.inject_fault("pump", None)
    pump.run(600.0, target_uL=10.0)
    lab.clock.advance(600)
    assert not pump.running and not pump.stalled and pump.infused_uL == pytest.approx(110.0)


def test_pump_exchanges_liquid_cell_electrolyte_and_feeds_d2o_to_the_titration_vial():
    lab = SimLab({"cells": {"liquid": {"kind": "liquid", "electrolyte": "dme", "area_cm2": 0.0005}}})
    w = lab.world
    rinse = w.pump("pump", contents="DME", feeds="liquid")
    rinse.run(240.0)
    lab.clock.advance(600)
    assert w.cell("liquid").liquid()["salt_fraction"] < 0.01        # flushed with bare solvent
    rinse.stop()
    lab.operator.perform("swap_syringe", pump="pump", contents="electrolyte", volume_uL=1000.0)
    rinse.run(240.0)
    lab.clock.advance(600)
    assert w.cell("liquid").liquid()["salt_fraction"] > 0.99
    d2o = w.pump("d2o", contents="D2O", volume_uL=500.0, feeds="titration")
    d2o.run(6000.0, target_uL=50.0)
    lab.clock.advance(60)
    assert w.titration.remaining()["D2O"] == pytest.approx(50 * 1.107e-3 / 20.03)


def test_stuck_valve_does_not_move_and_moves_take_time():
    lab = coin_lab("dme")
    v = lab.world.valve("dems_valve")
    v.move_to("B")
    assert v.moving and v.position == "A"
    lab.clock.advance(1.0)
    assert not v.moving and v.position == "B"
    lab.world.inject_fault("dems_valve:stuck")
    v.move_to("A")
    lab.clock.advance(5.0)
    assert v.position == "B" and not v.moving


def test_burned_filament_gives_no_ion_current_until_replaced():
    lab = coin_lab("dme", noise=0.0)
    ms = lab.world.mass_spec("ms")
    ms.filament_on(1.0)
    assert ms.ion_current(40) > 1e-10
    lab.world.inject_fault("ms", "filament_burned")
    assert not ms.filament_ok and ms.ion_current(40) == 0.0
    ms.filament_on(1.0)
    assert ms.ion_current(40) == 0.0
    lab.world.clear_fault("ms")
    ms.filament_on(1.0)
    assert ms.ion_current(40) > 1e-10


def test_ms_fragments_sensitivity_and_noise_floor():
    lab = coin_lab("dme", noise=1.0)
    ms = lab.world.mass_spec("ms")
    ms.filament_on(1.0)
    ar40, ar20 = ms.ion_current(40), ms.ion_current(20)
    assert ar20 / ar40 == pytest.approx(ms.pattern("Ar")[20], rel=0.05)    # Ar++ at m/z 20, this head's share
    assert ms.pattern("Ar")[20] == pytest.approx(0.146, rel=0.5)           # near the textbook's
    assert ar40 == pytest.approx(ms.sensitivity("Ar") * ms.total_pressure(), rel=0.05)

    def spread(nf):
        ms.noise_floor = nf
        vals = [ms.ion_current(4) for _ in range(200)]              # nothing at m/z 4 but noise
        return float(sum(v * v for v in vals) / len(vals)) ** 0.5

    assert spread(7) < spread(0) / 50
    ms.set_multiplier(1400)
    assert ms.ion_current(40) > 100 * ar40


def test_unplugged_channel_stops_the_program():
    lab = coin_lab("dme")
    ch = lab.world.channel("vmp3:1")
    ch.load([Step("cc", value=-1e-3, duration=600.0, record_dt=1.0)])
    ch.start()
    lab.clock.advance(100)
    lab.world.inject_fault("vmp3:1", "unplugged")
    assert ch.state == "stop" and ch.ended_by == "unplugged" and ch.cell is None
    lab.world.inject_fault("vmp3:1", None)
    assert ch.cell.name == "coin"


def test_blocked_mfc_delivers_no_flow():
    lab = coin_lab("dme", noise=0.0)
    mfc = lab.world.mfc("mfc")
    mfc.setpoint_mL_min = 9.0
    lab.clock.advance(5)
    assert mfc.setpoint_mL_min == 5.0 and mfc.flow_mL_min == pytest.approx(5.0)
    lab.world.inject_fault("mfc", "blocked")
    lab.clock.advance(5)
    assert mfc.flow_mL_min == pytest.approx(0.0, abs=1e-6)


def test_unknown_faults_and_targets_are_refused():
    lab = coin_lab("dme")
    lab.world.pump("pump")
    with pytest.raises(ValueError, match="cannot have fault"):
        lab.world.inject_fault("pump", "exploded")
    with pytest.raises(KeyError):
        lab.world.inject_fault("nothing", "stall")


def test_simlab_from_the_default_profile():
    text = resources.files("labctl").joinpath("profiles/default.toml").read_text()
    lab = SimLab(tomllib.loads(text)["sim"])
    w = lab.world
    assert w.cells() == ["coin", "dems", "liquid"]
    assert w.channel("vmp3:1").cell.name == "coin" and w.channel("ref600:1").cell.name == "liquid"
    assert w.gas.vessel == "dems" and lab.clock.acceleration is None
    t0 = lab.clock.now()
    lab.clock.advance(10)
    assert w.now() == t0 + 10


def test_operator_actions():
    lab = coin_lab("ecdmc")
    op = lab.operator
    rec = op.perform("assemble_cell", name="fresh", kind="coin", electrolyte="dme", area_cm2=1.767, channel="vmp3:1")
    assert rec["action"] == "assemble_cell" and lab.world.channel("vmp3:1").cell.name == "fresh"
    assert lab.world.cell("fresh").inventory()["plated_C"] == 0
    op.perform("transfer_to_titration", cell="fresh")
    assert lab.world.gas.vessel == "titration" and lab.world.channel("vmp3:1").cell is None
    assert op.perform("start_imaging")["imaging"] is True
    assert op.perform("stop_imaging")["imaging"] is False
    with pytest.raises(ValueError, match="cannot"):
        op.perform("make_coffee")
    with pytest.raises(ValueError):
        op.perform("inject_d2o")


def test_simlab_serial_lookup_refuses_unknown_drivers(closing):
    lab = closing(coin_lab("dme"))
    with pytest.raises(ValueError, match="no protocol simulator"):
        lab.serial("x", "acme.widget", {})
