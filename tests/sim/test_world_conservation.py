"""What goes in comes out: charge, gas and liquid are conserved through the public read-outs."""

import pytest
from test_world_calibration import SimLabDems
from test_world_kit import coin_lab, plate_strip, run_program

from labctl.sim.world import MOLAR_VOLUME_ML, Step
from labctl.sim.world.params import C_SURFACE


def _measured(samples, step: int) -> float:
    """|charge| the channel measured over one step: the Q of its last sample."""
    return abs([s.Q for s in samples if s.step == step][-1])


@pytest.mark.parametrize("electrolyte", ["ecdmc", "ecdmc_vc", "dme"])
def test_charge_plated_equals_stripped_plus_sei_plus_dead_every_cycle(electrolyte):
    """Each cycle's plated and stripped charge is what the channel measured, less only the charge that
    took the Na-free surface to the plating onset and, after the Na is gone, up to the 1 V cutoff."""
    lab = coin_lab(electrolyte)
    cell, area = lab.world.cell("coin"), 1.767
    prev = cell.inventory()
    for n in range(1, 4):
        samples = run_program(lab, "vmp3:1", plate_strip(area, capacity_mAh_cm2=0.3))
        inv = cell.inventory()
        plated, stripped = inv["plated_C"] - prev["plated_C"], inv["stripped_C"] - prev["stripped_C"]
        plate = [s for s in samples if s.step == 0]
        q_plate, q_strip = _measured(samples, 0), _measured(samples, 1)
        assert q_plate == pytest.approx(0.3 * 3.6 * area, rel=1e-9)
        # the Na-free surface charges from the rest potential down to the onset, at least to the lowest sample
        surface_seen = C_SURFACE * area * (plate[0].Ewe - min(s.Ewe for s in plate))
        assert surface_seen <= q_plate - plated == pytest.approx(surface_seen, rel=0.03)
        # the strip gives back less than was measured by the bare-surface charge up to the cutoff, no more
        assert 0 < q_strip - stripped < C_SURFACE * area * 1.5
        accounted = inv["stripped_C"] + inv["sei_C"] + inv["dead_C"] + inv["reversible_C"]
        assert accounted == pytest.approx(inv["plated_C"], rel=1e-9)
        assert inv["reversible_C"] == 0.0          # stripped to 1 V: nothing reversible is left
        assert inv["cycles"] == n
        prev = inv


@pytest.mark.parametrize("electrolyte", ["ecdmc", "dme"])
def test_on_a_na_covered_electrode_the_cell_holds_exactly_the_charge_measured(electrolyte):
    """With Na metal on the electrode throughout there is no surface charging: every cycle's plated and
    stripped charge is the channel's measured charge, to rounding."""
    lab = coin_lab(electrolyte)
    cell, i = lab.world.cell("coin"), 0.5e-3 * 1.767
    run_program(lab, "vmp3:1", [Step("cc", value=-i, duration=7200.0, record_dt=60.0)])   # a 1 mAh/cm^2 seed
    prev = cell.inventory()
    for _ in range(3):
        samples = run_program(lab, "vmp3:1", [Step("cc", value=-i, duration=1800.0, record_dt=60.0),
                                               Step("cc", value=i, duration=240.0, record_dt=60.0)])
        inv = cell.inventory()
        assert inv["plated_C"] - prev["plated_C"] == pytest.approx(_measured(samples, 0), rel=1e-9)
        assert inv["stripped_C"] - prev["stripped_C"] == pytest.approx(_measured(samples, 1), rel=1e-9)
        assert inv["reversible_C"] > 0
        accounted = inv["stripped_C"] + inv["sei_C"] + inv["dead_C"] + inv["reversible_C"]
        assert accounted == pytest.approx(inv["plated_C"], rel=1e-9)
        prev = inv


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
