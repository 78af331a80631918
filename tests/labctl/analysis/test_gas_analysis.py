import math

import numpy as np
import pytest

from labctl.analysis.gas import baseline_fraction, blank_corrected, integrate_amount, molar_volume_L
from labctl.analysis.inventory import FARADAY, mean_std, sodium_inventory


def test_molar_volume_of_the_paper():
    assert molar_volume_L(298.15, 1e5) == pytest.approx(24.79, abs=0.005)


def test_known_gaussian_pulse_on_a_baseline():
    # x(t) = b + A exp(-(t-t0)^2 / 2 s^2): the pulse carries flow*A*s*sqrt(2 pi)/Vm moles
    t = np.arange(0.0, 3600.0, 1.0)
    b, amp, t0, s = 2e-5, 3e-3, 1500.0, 120.0
    x = b + amp * np.exp(-((t - t0) ** 2) / (2 * s * s))
    flow = 1.0  # mL/min
    vm = molar_volume_L(298.15, 1e5)
    expected = (flow / 60_000.0) * amp * s * math.sqrt(2 * math.pi) / vm
    base = baseline_fraction(t, x, before=900.0, span=600.0)
    assert base == pytest.approx(b, rel=1e-4)  # the pulse's far tail reaches into the window
    assert integrate_amount(t, x, flow, vm, baseline=base) == pytest.approx(expected, rel=1e-5)
    # the flow recorded by the MFC as an array gives the same answer
    assert integrate_amount(t, x, np.full_like(t, flow), vm, baseline=base) == pytest.approx(expected, rel=1e-5)
    # a window around the pulse holds all of it
    assert integrate_amount(t, x, flow, vm, baseline=base, window=(900, 2100)) == pytest.approx(expected, rel=1e-4)


def test_blank_correction_never_goes_negative():
    assert blank_corrected(5e-9, 1e-9) == pytest.approx(4e-9)
    assert blank_corrected(1e-9, 5e-9) == 0.0
    assert blank_corrected(1e-9, None) == 1e-9
    assert blank_corrected(4e-9, -2e-9) == 4e-9  # a blank below zero is noise, not negative gas


def test_sodium_inventory_by_hand():
    plated_C = 0.5e-3 * 3600 * 1.767  # 0.5 mAh/cm^2 on 1.767 cm^2
    plated_mol = plated_C / FARADAY
    inv = sodium_inventory(plated_C, stripped_C=0.94 * plated_C, d2_mol=0.015 * plated_mol,
                           hd_mol=0.01 * plated_mol, co2_mol=0.005 * plated_mol)
    pct = inv.as_percent()
    assert pct["reversible"] == pytest.approx(94.0)
    assert pct["dead"] == pytest.approx(3.0)
    assert pct["sei"] == pytest.approx(3.0)
    assert pct["nah"] == pytest.approx(1.0)
    assert pct["organic"] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        sodium_inventory(0.0, 0.0, 0.0, 0.0, 0.0)


def test_mean_std():
    assert mean_std([1.0, 2.0, 3.0]) == pytest.approx((2.0, 1.0))
    m, s = mean_std([4.0])
    assert m == 4.0 and math.isnan(s)


@pytest.mark.parametrize("window", [(100.0, 100.5), (100.0, 101.0), (5000.0, 6000.0)])
def test_window_with_fewer_than_two_samples_is_not_measured(window):
    # a DEMS run stopped right after the valve opened: one sample (or none) in the window is not 0 mol
    t = np.arange(0.0, 101.0, 1.0)
    x = np.full_like(t, 1e-3)
    vm = molar_volume_L(298.15, 1e5)
    assert math.isnan(integrate_amount(t, x, 1.0, vm, window=window))
    # two samples 1 s apart at 1 mL/min and x = 1e-3 carry 1e-3 / 60000 / Vm mol
    assert integrate_amount(t, x, 1.0, vm, window=(99.0, 100.0)) == pytest.approx(1e-3 / 60_000 / vm)


def test_blank_correction_keeps_not_measured_apart_from_zero():
    assert math.isnan(blank_corrected(math.nan, 1e-9))
    assert math.isnan(blank_corrected(math.nan, None))
    assert math.isnan(blank_corrected(5e-9, math.nan))
