"""DEMS: CO2 accumulates in the sealed cell's headspace; opening the valve carries it to the MS."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from labctl.factories.ms import build_srs_rga


def test_co2_released_from_the_sealed_cell_arrives_at_the_ms(lab, ms_spec):
    ms = build_srs_rga(ms_spec(), SimpleNamespace(clock=lab.clock, simlab=lab))
    try:
        ms.filament.set("on").wait(timeout=5)
        lab.clock.advance(3600)                      # sealed: Ar bypasses the cell, CO2 builds up inside
        assert lab.world.cell("dems").headspace()["CO2"] > 0

        def co2():
            ms.trigger().wait(timeout=5)
            return ms.fraction_CO2.get()

        baseline = co2()
        lab.world.valve("dems_valve").move_to("B")   # sweep the headspace into the line
        trace = []
        for _ in range(60):
            lab.clock.advance(2)
            trace.append((lab.clock.now(), co2(), lab.world.mass_spec("ms").fraction("CO2")))
        peak_t, peak, _ = max(trace, key=lambda row: row[1])
        assert peak > baseline + 2e-5                  # a clear peak over the residual-gas background
        assert trace[-1][1] < peak                      # and it washes out again
        # The driver's peak lines up with the true CO2 at the inlet.
        true_peak_t = max(trace, key=lambda row: row[2])[0]
        assert abs(peak_t - true_peak_t) <= 4
    finally:
        ms.safe()
        ms.backend.close()
