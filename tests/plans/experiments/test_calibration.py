"""MS calibration with the profile's gas standard: the head's hidden sensitivities learned, amounts recovered,
a calibration days old caught by the standard re-measured after a titration."""

from __future__ import annotations

import dataclasses

import pytest
from labwatch import FAST_TITRATION

from labctl.analysis import runs as analyse
from labctl.analysis.calibration import CalibrationError, fit, summary
from labctl.plans.calibration import ms_calibration
from labctl.plans.params import ParameterError
from labctl.plans.titration import online_ms_titration
from labctl.report import collect

GASES = ("D2", "HD", "CO2", "O2")


def _blank_titration(lab, **kwargs):
    d = lab.devices
    return online_ms_titration(d["ms"], d["mfc"], lab.clock, d["operator"], valve=d["dems_valve"],
                               d2o_pump=d["d2o_pump"], cell="blank", blank=True, electrolyte="ecdmc",
                               **{**FAST_TITRATION, "std_mfc": d["std_mfc"], **kwargs})


def test_calibration_is_its_own_run_with_its_stream_standard_and_fit(lab, calibration):
    run = lab.storage.run(calibration.uid)
    assert run.streams == ["calibration"]
    assert run.start["calibration_standard"]["cylinder"] == "CAL-5417"
    assert run.start["calibration_masses"] == {"D2": 4, "HD": 3, "CO2": 44, "O2": 32, "Ar": 40}
    assert sorted(calibration.gases) == sorted(GASES)
    assert calibration.dilutions == pytest.approx([0.0, 0.05, 0.1, 0.2, 0.4], abs=2e-3)
    for gas in GASES:
        assert calibration.r2[calibration.masses[gas]] > 0.999, gas
    text = summary(calibration)
    assert "CAL-5417" in text and all(f"\n{gas:<5}" in text for gas in GASES)


@pytest.mark.parametrize("gas", GASES)
def test_fit_finds_the_heads_true_sensitivity_relative_to_the_carrier(lab, world, calibration, gas):
    """The simulated head's sensitivities differ from the textbook values labctl knows; the fit finds them."""
    ms = world.mass_spec("ms")
    truth = ms.sensitivity(gas) / ms.sensitivity("Ar")
    assert calibration.relative_sensitivity(gas) == pytest.approx(truth, rel=0.02)


def test_a_fresh_calibration_holds_and_recovers_the_standard(lab, calibration):
    (uid,) = lab.run(_blank_titration(lab))
    result = analyse.titration(lab.storage.run(uid), calibration)
    assert result.calibration_uid == calibration.uid
    assert not result.drift.stale, result.drift.describe()
    assert all(abs(d) < 0.03 for d in result.drift.deviation.values()), result.drift.describe()


def test_a_calibration_days_old_is_flagged_stale_by_the_standard_after_a_titration(lab, calibration):
    lab.simlab.clock.sleep(5 * 86400.0)       # five days of slow drift in the ion source
    (uid,) = lab.run(_blank_titration(lab))
    run = lab.storage.run(uid)
    result = analyse.titration(run, calibration)
    assert result.drift.stale, result.drift.describe()
    assert "calibration stale: recalibrate" in result.drift.describe()
    found = collect([lab.storage.run(calibration.uid), run])
    assert any("is stale" in note for note in found.notes)
    # a new calibration reads the same standard right again
    d = lab.devices
    (new,) = lab.run(ms_calibration(d["ms"], d["mfc"], d["std_mfc"], lab.clock, valve=d["dems_valve"]))
    (uid,) = lab.run(_blank_titration(lab))
    assert not analyse.titration(lab.storage.run(uid), fit(lab.storage.run(new))).drift.stale


def test_a_titration_without_a_calibration_before_it_is_not_quantified(lab, calibration):
    (uid,) = lab.run(_blank_titration(lab, std_mfc=None))
    found = collect([lab.storage.run(uid)])
    assert found.skipped and "no MS calibration of ms before this run: run ms_calibration first" in found.skipped[0]


def test_a_gas_the_calibration_lacks_is_refused_with_its_name(lab, calibration):
    (uid,) = lab.run(_blank_titration(lab, std_mfc=None))
    without_hd = dataclasses.replace(calibration, K={g: k for g, k in calibration.K.items() if g != "HD"})
    with pytest.raises(CalibrationError, match="no calibration for HD"):
        analyse.titration(lab.storage.run(uid), without_hd)


@pytest.mark.parametrize(("kwargs", "says"), [
    ({"std_mfc": "mfc"}, "mfc meters no gas standard"),
    ({"dilutions": [0, 0.1]}, "at least two dilutions above 0"),
    ({"dilutions": [0, 0.5, 0.95]}, "dilutions"),
    ({"total_flow": "3 mL/min", "dilutions": [0, 0.5, 0.8]}, "std_mfc: setpoint 1.5 mL/min is outside"),
])
def test_bad_calibration_calls_are_refused_before_anything_moves(lab, kwargs, says):
    d = lab.devices
    args = {"std_mfc": d["std_mfc"], **kwargs}
    if args["std_mfc"] == "mfc":
        args["std_mfc"] = d["mfc"]
    with pytest.raises((ParameterError, ValueError), match=says):
        next(ms_calibration(d["ms"], d["mfc"], clock=lab.clock, **args))
