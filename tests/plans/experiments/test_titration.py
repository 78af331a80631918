"""Online-MS D2O titration of a cycled coin cell: the analysed amounts are the gas that reached the MS."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from labwatch import assemble

from labctl.analysis import runs as analyse
from labctl.plans.electrochem import galvanostatic_cycles
from labctl.plans.titration import online_ms_titration


@pytest.fixture(scope="module")
def titrated(lab, world, calibration):
    """A fresh EC:DMC coin cell cycled once, then titrated with the default parameters; what the world saw."""
    d = lab.devices
    assemble(lab, "coin", "coin", "ecdmc", 1.767, "vmp3:1")
    lab.run(galvanostatic_cycles(d["vmp3_1"], lab.clock, cycles=1, record_dt="10 s"))
    pump = world.pump("d2o_pump")
    gas0, infused0, d2o0 = world.gas.delivered_mol(), pump.infused_uL, pump.contents_uL
    (uid,) = lab.run(online_ms_titration(d["ms"], d["mfc"], lab.clock, d["operator"], valve=d["dems_valve"],
                                         d2o_pump=d["d2o_pump"]))
    gas1 = world.gas.delivered_mol()
    return {
        "uid": uid,
        "run": lab.storage.run(uid),
        "delivered": {g: gas1[g] - gas0.get(g, 0.0) for g in gas1},
        "infused_uL": pump.infused_uL - infused0,
        "syringe_used_uL": d2o0 - pump.contents_uL,
    }


@pytest.mark.parametrize("gas", ["D2", "HD", "CO2"])
def test_titrated_amount_is_what_reached_the_ms(titrated, calibration, gas):
    mol = analyse.titration(titrated["run"], calibration).mol[gas]
    truth = titrated["delivered"][gas]
    assert truth > 0
    assert mol == pytest.approx(truth, rel=0.03)


def test_run_records_the_operator_steps_and_its_streams(titrated):
    run = titrated["run"]
    assert {"checkpoints", "baseline", "titration"} <= set(run.streams)
    steps = run.table("checkpoints")
    assert steps["operator_action"].tolist() == ["transfer_to_titration"]
    assert steps["operator_confirmed_by"].tolist() == ["simulated operator"]
    baseline_start = run.table("baseline")["clock_time"].iloc[0]
    assert steps["operator_confirmed_at"].iloc[0] <= baseline_start
    assert run.start["plan_name"] == "online_ms_titration" and run.start["blank"] is False


def test_d2o_pump_dispensed_the_requested_volume_and_stopped(titrated, world):
    assert titrated["infused_uL"] == pytest.approx(50.0, rel=1e-3)
    assert titrated["syringe_used_uL"] == pytest.approx(50.0, rel=1e-3)
    assert not world.pump("d2o_pump").running
    assert world.titration.remaining()["D2O"] > 0  # the D2O went into the vial


def test_valve_is_sealed_after_the_titration(titrated, world):
    assert world.valve("dems_valve").position == "A"


def test_blank_titration_releases_almost_no_hydrogen(campaign, titrated, calibration):
    """The campaign's blank is ``online_ms_titration(..., blank=True)`` on an uncycled cell."""
    blanks = [r for r in campaign if r.start.get("plan_name") == "online_ms_titration" and r.start.get("blank")]
    assert len(blanks) == 1
    blank = analyse.titration(blanks[0], calibration)
    cycled = analyse.titration(titrated["run"], calibration)
    assert blank.blank and blanks[0].start["cell"] == "blank"
    for gas in ("D2", "HD"):
        assert abs(blank.mol[gas]) < 0.02 * cycled.mol[gas], gas


FRESH = textwrap.dedent("""
    import json, pathlib, sys
    from labctl.analysis import calibration, runs
    from labctl.storage import StoredRun
    data, uid, cal = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    (path,) = sorted(data.glob(f"runs/*/*/*/{uid}*.jsonl"))
    (cal_path,) = sorted(data.glob(f"runs/*/*/*/{cal}*.jsonl"))
    result = runs.titration(StoredRun(path), calibration.fit(StoredRun(cal_path)))
    print(json.dumps({"mol": result.mol, "baseline": result.baseline, "vm": result.molar_volume_L}))
""")


def test_a_fresh_process_analyses_the_stored_run_to_the_same_numbers(lab, titrated, calibration):
    here = analyse.titration(lab.storage.run(titrated["uid"]), calibration)
    out = subprocess.run([sys.executable, "-c", FRESH, str(lab.storage.data_dir), titrated["uid"], calibration.uid],
                         capture_output=True, text=True, timeout=60, check=True)
    there = json.loads(out.stdout.strip().splitlines()[-1])
    assert there["mol"] == here.mol  # json round-trips floats exactly
    assert there["baseline"] == here.baseline
    assert there["vm"] == here.molar_volume_L
