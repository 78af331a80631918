"""Fitting a calibration run and quantifying with it, on synthetic ion currents whose truth is known."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest

from labctl.analysis.calibration import CalibrationError, fit, newest_before, quantify, summary

AR = 4.8e-10              # A at m/z 40 with the carrier alone
TRUE_K = {"CO2": {44: 1.13, 28: 1.13 * 0.105}, "N2": {28: 0.87}}   # relative to Ar; CO2 gives CO+ at 28
BACKGROUND = {44: 1.5e-4, 28: 2e-5}
MASSES = {"CO2": 44, "N2": 28, "Ar": 40}


@dataclass
class Run:
    """What the analysis reads of a stored run."""

    uid: str
    start: dict
    tables: dict = field(default_factory=dict)

    @property
    def streams(self):
        return list(self.tables)

    def table(self, name):
        return self.tables[name]


def currents(x: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Ion currents of each watched gas's mass for mole fractions *x* (Ar the balance)."""
    x_ar = 1.0 - sum(x.values())
    i = {m: AR * x_ar * b for m, b in BACKGROUND.items()}
    for gas, k in TRUE_K.items():
        for m, kk in k.items():
            i[m] = i[m] + AR * kk * x.get(gas, 0.0)
    return {"ms_current_CO2": i[44], "ms_current_N2": i[28], "ms_current_Ar": AR * x_ar}


def calibration_run(composition=None, uid="c0ffee00", lab_time=1000.0) -> Run:
    composition = composition or {"CO2": 0.01}
    rows = []
    for d in (0.0, 0.1, 0.2, 0.4):
        x = {g: np.full(6, c * d) for g, c in composition.items()}
        rows.append(pd.DataFrame({**currents(x), "mfc_flow": np.full(6, 1 - d), "std_flow": np.full(6, d),
                                  "std_setpoint": np.full(6, d)}))
    start = {"plan_name": "ms_calibration", "time": lab_time, "lab_time": lab_time, "calibration_ms": "ms",
             "carrier": "Ar", "calibration_masses": MASSES,
             "calibration_flows": {"carrier": "mfc", "standard": "std"},
             "calibration_standard": {"cylinder": "T-1", "composition": composition, "uncertainty_rel": 0.01,
                                      "balance": "Ar"}}
    return Run(uid, start, {"calibration": pd.concat(rows, ignore_index=True)})


def test_fit_gives_relative_sensitivity_background_linearity_and_the_fragment_at_a_watched_mass():
    cal = fit(calibration_run())
    assert cal.gases == ["CO2"]
    assert cal.relative_sensitivity("CO2") == pytest.approx(1.13, rel=1e-9)
    assert cal.pattern("CO2")[28] == pytest.approx(0.105, rel=1e-9)      # fitted, not the library's 0.114
    assert cal.background[44] == pytest.approx(1.5e-4, rel=1e-9)
    assert cal.r2[44] == pytest.approx(1.0) and cal.residual_rel[44] < 1e-9
    text = summary(cal)
    assert "T-1" in text and "CO2" in text and "0.105 at 28" in text


def test_a_mass_two_gases_of_one_standard_share_is_said_to_be_split_by_the_library():
    """One mixture at several dilutions cannot tell CO2's CO+ at 28 from N2's own peak: the summary says so."""
    cal = fit(calibration_run({"CO2": 0.01, "N2": 0.01}))
    assert cal.shared == {28: ["CO2", "N2"]}
    assert "m/z 28: shared between CO2, N2 by their library patterns" in summary(cal)
    # the parent peak CO2 alone reaches is still fitted exactly
    assert cal.relative_sensitivity("CO2") == pytest.approx(1.13, rel=1e-9)


def test_fragment_of_a_calibrated_gas_is_subtracted_from_another_gas_at_its_mass():
    """CO2 alone calibrated from its own standard: the 28 signal a CO2 pulse makes is not read as N2."""
    cal = fit(calibration_run())
    cal.K["N2"] = {28: 0.87}            # N2 from a second standard
    x = {"CO2": np.array([3e-3]), "N2": np.array([0.0])}
    got = quantify(cal, pd.DataFrame(currents(x)), ["N2", "CO2"])
    assert abs(got["N2"][0]) < 1e-6
    assert got["CO2"][0] == pytest.approx(3e-3, rel=1e-6)


def test_a_gas_without_calibration_is_refused_by_name():
    cal = fit(calibration_run())
    with pytest.raises(CalibrationError, match=r"no calibration for N2 in calibration run c0ffee00.*calibrated CO2"):
        quantify(cal, pd.DataFrame(currents({"CO2": np.zeros(2)})), ["CO2", "N2"])


def test_the_newest_calibration_before_a_run_is_chosen_unless_one_is_named():
    old, new, later = (fit(calibration_run(uid=u, lab_time=t)) for u, t in (("aa", 100.0), ("bb", 200.0),
                                                                            ("cc", 900.0)))
    assert newest_before([old, new, later], 500.0).uid == "bb"
    assert newest_before([old, new, later], 500.0, uid="a").uid == "aa"
    with pytest.raises(CalibrationError, match="no MS calibration"):
        newest_before([later], 500.0)
