"""Techniques: units in, SI floats stored, nonsense refused, profile limits enforced with clear messages."""

import dataclasses
import math

import pytest

from labctl.devices.errors import LimitError
from labctl.devices.potentiostat.techniques import CV, GEIS, OCV, PEIS, Galvanostatic, Potentiostatic
from labctl.devices.units import Q_, UnitError

LIMITS = {"current_A": [-0.4, 0.4], "voltage_V": [-10.0, 10.0]}


def test_quantities_strings_and_numbers_are_stored_in_si():
    ocv = OCV("10 min", Q_(500, "ms"), record_dE="5 mV")
    assert (ocv.duration, ocv.record_dt, ocv.record_dE) == (600.0, 0.5, pytest.approx(0.005))
    cp = Galvanostatic("-0.8835 mA", charge="0.5 mAh", record_dt=2)
    assert cp.current == pytest.approx(-8.835e-4) and cp.charge == pytest.approx(1.8)


def test_from_density_multiplies_by_area():
    cp = Galvanostatic.from_density("0.5 mA/cm^2", "1.767 cm^2", e_max="1 V")
    assert cp.current == pytest.approx(0.5e-3 * 1.767)
    assert cp.e_max == 1.0 and cp.limited
    with pytest.raises(ValueError, match="area"):
        Galvanostatic.from_density("0.5 mA/cm^2", 0, duration=10)


def test_wrong_units_and_impossible_values_name_the_parameter():
    with pytest.raises(UnitError, match="current"):
        Galvanostatic("1 V", duration=10)
    with pytest.raises(ValueError, match="duration"):
        OCV("-5 s")
    with pytest.raises(ValueError, match="duration, a charge or a potential limit"):
        Galvanostatic("1 mA")
    with pytest.raises(ValueError, match="e_min"):
        Galvanostatic("1 mA", e_min="2 V", e_max="1 V")
    with pytest.raises(ValueError, match="cycles"):
        CV(0, 1, -1, 0, "20 mV/s", cycles=0)
    with pytest.raises(ValueError, match="points_per_decade"):
        PEIS("1 MHz", "1 Hz", 0, "10 mV")


@pytest.mark.parametrize("technique, message", [
    (Galvanostatic("0.5 A", duration=10), r"current=0\.5 A is outside the allowed range \[-0\.4, 0\.4\] A"),
    (Galvanostatic("1 mA", e_max="12 V"), r"e_max=12 V .*\[-10, 10\] V"),
    (Potentiostatic("11 V", "1 s"), r"potential=11 V"),
    (CV(0, "10.5 V", -1, 0, "20 mV/s"), r"vertex1=10\.5 V"),
    (PEIS("1 kHz", "1 Hz", 5, "0.5 V", dc="9.8 V"), r"dc\+amplitude=10\.3 V"),
    (GEIS("1 kHz", "1 Hz", 5, "0.1 A", dc="0.35 A"), r"dc\+amplitude=0\.45 A"),
])
def test_limits_are_refused_with_the_allowed_range(technique, message):
    with pytest.raises(LimitError, match=message):
        technique.validate(LIMITS)


def test_within_limits_passes_and_no_limits_means_no_check():
    Galvanostatic("0.4 A", duration=1).validate(LIMITS)
    Galvanostatic("5 A", duration=1).validate({})


def test_cv_points_follow_range_and_step():
    cv = CV("0 V", "1 V", "-0.5 V", "0 V", "20 mV/s", step="1 mV")
    assert cv.path_length() == pytest.approx(3.0)
    assert cv.expected_points() == 3001
    assert cv.duration() == pytest.approx(150.0)
    two = CV(0, 1, -0.5, 0, "20 mV/s", cycles=2, step="2 mV")
    assert two.vertices() == [0, 1, -0.5, 1, -0.5, 0]
    assert two.expected_points() == int(round(6.0 / 0.002)) + 1


def test_eis_frequencies_are_log_spaced_per_decade_and_end_exactly():
    f = PEIS("1 MHz", "0.1 Hz", 10, "10 mV").frequencies()
    assert len(f) == 71
    assert f[0] == 1e6 and f[-1] == pytest.approx(0.1, rel=1e-12)
    ratios = {round(math.log10(a / b), 9) for a, b in zip(f, f[1:], strict=False)}
    assert ratios == {0.1}
    assert GEIS("1 Hz", "100 Hz", 5, "1 uA").frequencies()[-1] == pytest.approx(100.0)


def test_techniques_are_frozen_and_describe_themselves_with_units():
    cp = Galvanostatic("1 mA", duration="1 h")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cp.current = 2.0
    assert cp.describe()["duration"] == "3600 s"
