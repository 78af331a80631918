"""DEMS: CO2 accumulates in the sealed cell's headspace; opening the valve carries it to the MS after the
line's delay and mixing."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from labctl.factories.srs import build as build_srs_rga
from labctl.sim.world.cell import HEADSPACE_ML
from labctl.sim.world.gas import LINE_SEGMENTS_ML, MS_INLET_ML, VALVE_MOVE_S


def expected_peak_s(flow_mL_min: float) -> float:
    """When CO2 at the MS inlet peaks after the valve is told to open: the valve's travel, then the headspace
    emptying through the line's well-mixed segments and the inlet's mixing volume (integrated here)."""
    volumes = np.array([HEADSPACE_ML["dems"], *LINE_SEGMENTS_ML, MS_INLET_ML])
    rate = flow_mL_min / 60.0 / volumes          # s^-1 out of each volume
    n = np.zeros(len(volumes))
    n[0] = 1.0
    dt, t, peak = 0.005, 0.0, (0.0, 0.0)
    while t < 120.0:
        out = n * rate * dt
        n -= out
        n[1:] += out[:-1]
        t += dt
        if n[-1] > peak[1]:
            peak = (t, n[-1])
    return VALVE_MOVE_S + peak[0]


def test_co2_released_from_the_sealed_cell_arrives_at_the_ms(lab, ms_spec):
    ms = build_srs_rga(ms_spec(), SimpleNamespace(clock=lab.clock, simlab=lab))
    try:
        ms.filament.set("on").wait(timeout=5)
        lab.clock.advance(3600)                      # sealed: Ar bypasses the cell, CO2 builds up inside
        assert lab.world.cell("dems").headspace()["CO2"] > 0

        def co2():
            ms.trigger().wait(timeout=5)
            reading = ms.read()
            return reading["ms_time"]["value"], reading["ms_fraction_CO2"]["value"]

        _, baseline = co2()
        opened = lab.clock.now()
        lab.world.valve("dems_valve").move_to("B")   # sweep the headspace into the line
        trace = []
        for _ in range(60):
            lab.clock.advance(1)
            t, x = co2()
            trace.append((t - opened, x, lab.world.mass_spec("ms").fraction("CO2")))
        peak_t, peak, _ = max(trace, key=lambda row: row[1])
        assert peak > baseline + 2e-5                  # a clear peak over the residual-gas background
        assert trace[-1][1] < peak                      # and it washes out again
        assert all(x < baseline + 1e-6 for t, x, _ in trace if t <= 2)   # nothing before the line delay
        # The peak arrives when the line's delay and mixing say, within a sample or two (1 s sampling).
        expected = expected_peak_s(lab.world.mfc("mfc").setpoint_mL_min)
        assert 20 < expected < 35
        assert abs(peak_t - expected) <= 2
        true_peak_t = max(trace, key=lambda row: row[2])[0]
        assert abs(true_peak_t - expected) <= 1
    finally:
        ms.safe()
        ms.backend.close()
