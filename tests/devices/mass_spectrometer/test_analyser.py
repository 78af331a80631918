"""Partial pressures from ion currents: sensitivities and fragment correction between watched gases."""

from __future__ import annotations

import math

import pytest

from labctl.devices.mass_spectrometer.cracking import FRAGMENTS, PartialPressureModel, fractions

S = {"N2": 2e-4, "CO2": 2.8e-4, "Ar": 2.4e-4, "D2O": 2e-4, "O2": 1.7e-4}


def currents_for(pressures, watched):
    """What the detector sees at each watched m/z from every gas present (parents and fragments)."""
    return {mz: sum(S[g] * p * FRAGMENTS[g].get(mz, 0.0) for g, p in pressures.items()) for mz in watched.values()}


def test_co2_fragment_at_28_is_removed_from_n2():
    watched = {"N2": 28, "CO2": 44}
    truth = {"N2": 1e-9, "CO2": 5e-8}
    model = PartialPressureModel(watched, S)
    assert model.pressures(currents_for(truth, watched)) == {g: pytest.approx(p, rel=1e-9) for g, p in truth.items()}
    naive = currents_for(truth, watched)[28] / S["N2"]
    assert naive > 3 * truth["N2"]  # without the correction N2 would read high


def test_doubly_charged_argon_at_20_is_removed_from_d2o():
    watched = {"D2O": 20, "Ar": 40}
    truth = {"D2O": 2e-10, "Ar": 2e-6}
    pressures = PartialPressureModel(watched, S).pressures(currents_for(truth, watched))
    assert pressures["D2O"] == pytest.approx(2e-10, rel=1e-6)


def test_fragment_patterns_can_be_overridden():
    watched = {"N2": 28, "CO2": 44}
    model = PartialPressureModel(watched, S, fragments={"CO2": {28: 0.2}})
    currents = {28: S["CO2"] * 1e-8 * 0.2, 44: S["CO2"] * 1e-8}
    assert model.pressures(currents)["N2"] == pytest.approx(0.0, abs=1e-20)


def test_two_gases_on_one_mass_are_refused():
    with pytest.raises(ValueError, match="N2 and CO are both watched at m/z 28"):
        PartialPressureModel({"N2": 28, "CO": 28}, {"N2": 1e-4, "CO": 1e-4})


def test_missing_sensitivity_is_refused():
    with pytest.raises(ValueError, match="no positive sensitivity for O2"):
        PartialPressureModel({"O2": 32}, {})


def test_fractions_of_the_watched_total():
    f = fractions({"Ar": 0.99e-6, "CO2": 1e-8, "D2": -1e-12})
    assert f["Ar"] == pytest.approx(0.99) and f["CO2"] == pytest.approx(0.01) and f["D2"] == 0.0
    assert all(math.isnan(v) for v in fractions({"Ar": 0.0}).values())
