import numpy as np
import pytest

from labctl.analysis.dems import co2_per_sweep, sweep_windows
from labctl.analysis.eis import resistances
from labctl.analysis.gas import molar_volume_L


def randles(f, r_el, r_ct, c_dl, sigma):
    w = 2 * np.pi * f
    zw = sigma / np.sqrt(w) * (1 - 1j)
    return r_el + 1 / (1 / (r_ct + zw) + 1j * w * c_dl)


def test_interfacial_resistance_of_a_randles_circuit():
    f = np.logspace(6, -1, 71)
    z = randles(f, r_el=5.0, r_ct=700.0, c_dl=2e-6, sigma=20.0)
    r = resistances(f, z.real, z.imag)
    assert r.electrolyte_ohm == pytest.approx(5.0, abs=0.5)
    # the arc's end sits a little beyond R_ct, where the Warburg tail lifts off
    assert r.interfacial_ohm == pytest.approx(700.0, rel=0.1)


def test_seven_fold_resistance_is_seen_as_seven_fold():
    f = np.logspace(6, -1, 71)
    ether = resistances(f, *(lambda z: (z.real, z.imag))(randles(f, 4.0, 100.0, 5e-6, 5.0)))
    carbonate = resistances(f, *(lambda z: (z.real, z.imag))(randles(f, 6.0, 700.0, 5e-6, 5.0)))
    assert carbonate.interfacial_ohm / ether.interfacial_ohm == pytest.approx(7.0, rel=0.15)


def test_co2_per_sweep_from_valve_windows():
    t = np.arange(0.0, 3000.0, 1.0)
    vm = molar_volume_L(298.15, 1e5)
    x = np.full_like(t, 1e-5)
    # two rectangular pulses of CO2 after the valve opens at 1000 s and 2000 s
    x[(t >= 1010) & (t < 1110)] += 1e-3
    x[(t >= 2010) & (t < 2310)] += 1e-3
    windows = sweep_windows([0, 1000, 1500, 2000], ["sealed", "sweep", "sealed", "sweep"], end=3000)
    assert windows == [(1000.0, 1500.0), (2000.0, 3000.0)]
    n1, n2 = co2_per_sweep(t, x, 1.0, vm, windows)
    per_second = 1e-3 / 60_000 / vm
    assert n1 == pytest.approx(100 * per_second, rel=0.02)
    assert n2 == pytest.approx(300 * per_second, rel=0.02)
