"""What goes in comes out: charge, gas and liquid are conserved through the public read-outs."""

import pytest

from labctl.sim.world import MOLAR_VOLUME_ML

from test_world_kit import coin_lab, plate_strip, run_program
from test_world_calibration import SimLabDems


@pytest.mark.parametrize("electrolyte", ["ecdmc", "ecdmc_vc", "dme"])
def test_charge_plated_equals_stripped_plus_sei_plus_dead_every_cycle(electrolyte):
    lab = coin_lab(electrolyte)
    cell = lab.world.cell("coin")
    for n in range(1, 4):
        run_program(lab, "vmp3:1", plate_strip(1.767, capacity_mAh_cm2=0.3))
        inv = cell.inventory()
        accounted = inv["stripped_C"] + inv["sei_C"] + inv["dead_C"] + inv["reversible_C"]
        assert accounted == pytest.approx(inv["plated_C"], rel=1e-9)
        assert inv["reversible_C"] == 0.0          # stripped to 1 V: nothing reversible is left
        assert inv["cycles"] == n


def test_partial_strip_leaves_reversible_na_and_still_balances():
    lab = coin_lab("ecdmc_fec")
    area = 1.767
    steps = plate_strip(area)
    steps[1] = type(steps[1])("cc", value=0.5e-3 * area, duration=600.0, record_dt=10.0)
    run_program(lab, "vmp3:1", steps)
    inv = lab.world.cell("coin").inventory()
    assert inv["reversible_C"] > 0
    assert inv["stripped_C"] == pytest.approx(0.5e-3 * area * 600.0, rel=1e-12)
    total = inv["stripped_C"] + inv["sei_C"] + inv["dead_C"] + inv["reversible_C"]
    assert total == pytest.approx(inv["plated_C"], rel=1e-9)


def test_gas_evolved_in_dems_cell_all_reaches_the_ms_over_a_sweep():
    dems = SimLabDems("ecdmc")
    lab, world = dems.lab, dems.world
    for _ in range(3):
        run_program(lab, "vmp3:2", plate_strip(1.0, capacity_mAh_cm2=None, plate_s=600.0, record_dt=None))
    evolved = world.cell("dems").headspace()["CO2"]
    assert evolved > 0
    ms, mfc = world.mass_spec("ms"), world.mfc("mfc")
    dems.valve.move_to("B")
    n, dt = 0.0, 1.0
    for _ in range(2400):                    # 40 min at 1 mL/min: > 10 headspace volumes
        lab.clock.advance(dt)
        n += mfc.flow_mL_min / 60.0 * ms.fraction("CO2") / MOLAR_VOLUME_ML * dt
    assert n == pytest.approx(evolved, rel=0.01)
    assert world.cell("dems").headspace()["CO2"] < 1e-3 * evolved


def test_sealed_vessel_keeps_its_gas_from_the_ms():
    dems = SimLabDems("ecdmc")
    run_program(dems.lab, "vmp3:2", plate_strip(1.0, capacity_mAh_cm2=None, plate_s=600.0, record_dt=None))
    dems.lab.clock.advance(600)
    assert dems.world.gas.delivered_mol()["CO2"] == 0
    assert dems.world.mass_spec("ms").fraction("CO2") == 0


@pytest.mark.parametrize("rate, minutes", [(240.0, 30), (120.0, 45), (1000.0, 10)])
def test_volume_dispensed_is_rate_times_time(rate, minutes):
    lab = coin_lab("dme")
    pump = lab.world.pump("pump", diameter_mm=4.78, volume_uL=1000.0, contents="electrolyte", feeds="coin")
    pump.run(rate)
    lab.clock.advance(minutes * 60)
    assert pump.infused_uL == pytest.approx(rate * minutes / 60, rel=1e-12)
    assert pump.contents_uL == pytest.approx(1000.0 - rate * minutes / 60, rel=1e-12)
    assert pump.running
