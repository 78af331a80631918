"""DEMS: cycle a sealed cell to each target, sweep its headspace to the MS, seal it again whatever happens."""

from __future__ import annotations

import pytest
from labwatch import message_hook

from labctl.analysis import runs as analyse
from labctl.plans.dems import dems

SHORT = dict(sweep_min="10 min", sweep_hold="3 min", period="10 s")


def _dems(lab, **kwargs):
    d = lab.devices
    return dems(d["vmp3_2"], d["dems_valve"], d["ms"], d["mfc"], lab.clock, d["operator"], electrolyte="ecdmc",
                **{**SHORT, **kwargs})


@pytest.fixture(scope="module")
def swept(lab, world):
    """A fresh sealed EC:DMC cell (assembled by the plan's checkpoint) cycled to 1 then 2 cycles."""
    co2_before = world.gas.delivered_mol()["CO2"]
    (uid,) = lab.run(_dems(lab, cycle_targets=(1, 2)))
    return {"run": lab.storage.run(uid), "co2": world.gas.delivered_mol()["CO2"] - co2_before,
            "cell": world.cell("dems").inventory()}


def test_one_run_with_a_stream_per_phase(swept):
    run = swept["run"]
    assert set(run.streams) == {"checkpoints", "valve", "plate", "strip", "cycles", "gas"}
    assert run.table("checkpoints")["operator_action"].tolist() == ["assemble_cell", "connect_vessel"]
    assert run.table("cycles")["cycles_cycle"].tolist() == [1, 2]
    assert swept["cell"]["cycles"] == 2


def test_valve_sealed_then_swept_once_per_target(swept):
    positions = swept["run"].table("valve")["dems_valve_position_name"].tolist()
    assert positions == ["sealed", "sealed", "sweep", "sealed", "sealed", "sweep", "sealed"]


def test_co2_per_sweep_grows_and_adds_up_to_what_reached_the_ms(swept, calibration):
    result = analyse.dems(swept["run"], calibration)
    assert result.cycle_targets == [1, 2]
    assert len(result.co2_mol) == 2
    first, second = result.co2_mol
    assert 0 < first < second
    assert sum(result.co2_mol) == pytest.approx(swept["co2"], rel=0.05)
    assert result.cumulative_mol[-1] == pytest.approx(first + second)


def test_valve_is_left_sealed_after_the_run(swept, world):
    assert world.valve("dems_valve").position == "A"
    assert world.channel("vmp3:2").state == "stop"


def test_burned_filament_mid_sweep_still_seals_the_valve_and_stops_the_cell(lab, world):
    """The MS fails while the valve is open to the cell: the run ends with the instrument's error, the cell
    is off and the valve is back on the bypass."""
    seen, stops = [], []

    def burn_when_swept(msg):
        if msg.command == "set" and msg.obj is lab.devices["dems_valve"] and msg.args[0] == "sweep" and not seen:
            seen.append(world.valve("dems_valve").position)
            world.inject_fault("ms:filament_burned")

    token = lab.RE.subscribe(lambda name, doc: stops.append(doc), "stop")
    try:
        with message_hook(lab, burn_when_swept), pytest.raises(Exception) as failure:
            lab.run(_dems(lab, cycle_targets=(1,), plate_time="2 min"))
    finally:
        lab.RE.unsubscribe(token)
        world.clear_fault("ms")
    assert seen == ["A"]  # the fault came while the run was under way, before the valve opened
    assert world.valve("dems_valve").position == "A"
    assert not world.valve("dems_valve").moving
    assert world.channel("vmp3:2").state == "stop"
    assert [s["exit_status"] for s in stops] == ["fail"]
    opened = lab.storage.run(stops[0]["run_start"]).table("valve")["dems_valve_position_name"].tolist()
    assert opened[-1] == "sweep"  # the valve was open to the cell when the MS failed
    cause = failure.value.__cause__ or failure.value
    assert "instrument said" in str(cause) and "filament" in str(cause).lower()  # the RGA's own words
