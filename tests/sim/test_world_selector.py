"""The stream selector in the simulated world: which line the MS sees, and when, after a switch."""

from __future__ import annotations

import pytest

from labctl.sim.lab import SimLab

DEAD_VOLUME_ML = 0.06
FLOW_ML_MIN = 1.0
CAL = {"CO2": 0.01, "D2": 0.004}
LINES = {"1": "carrier", "2": CAL, "3": "gas_port", "4": "closed"}


def make(selector: bool = True, position: int = 3, seed: int = 7, noise: float = 0.0) -> SimLab:
    config = {"seed": seed, "noise": noise, "cells": {"dems": {"kind": "dems", "electrolyte": "ecdmc",
                                                               "area_cm2": 1.0, "channel": "vmp3:2"}},
              "gas": {"vessel": "dems"}}
    if selector:
        config["selectors"] = {"ms_selector": {"lines": LINES, "dead_volume_mL": DEAD_VOLUME_ML,
                                               "position": position}}
    return SimLab(config)


def _switch(lab: SimLab, port: int) -> float:
    """Turn the rotor and wait until it is there; returns the lab time it arrived."""
    rotor = lab.world.selector("ms_selector")
    rotor.move_to(port)
    lab.clock.advance(rotor.move_time_s(port) if rotor.moving else 0.0)
    lab.clock.advance(1e-9)
    assert rotor.position == port
    return lab.clock.now()


def test_the_ms_sees_the_new_lines_gas_only_after_dead_volume_over_flow():
    lab = make(position=1)
    mfc, ms = lab.world.mfc("mfc"), lab.world.mass_spec("ms")
    mfc.setpoint_mL_min = FLOW_ML_MIN
    lab.clock.advance(30)                                  # the carrier flow has settled (tau 0.3 s)
    assert ms.fraction("CO2") == 0.0
    arrived = _switch(lab, 2)
    delay = DEAD_VOLUME_ML / (FLOW_ML_MIN / 60.0)          # 3.6 s
    lab.clock.advance(arrived + 0.98 * delay - lab.clock.now())
    assert ms.fraction("CO2") == 0.0 and ms.fraction("D2") == 0.0      # still the carrier in the outlet
    lab.clock.advance(0.04 * delay)
    assert ms.fraction("CO2") == pytest.approx(CAL["CO2"]) and ms.fraction("D2") == pytest.approx(CAL["D2"])
    assert ms.fraction("Ar") == pytest.approx(1 - 0.014)

    arrived = _switch(lab, 1)                              # and back: the standard lingers for the same time
    lab.clock.advance(arrived + 0.98 * delay - lab.clock.now())
    assert ms.fraction("CO2") == pytest.approx(CAL["CO2"])
    lab.clock.advance(0.04 * delay)
    assert ms.fraction("CO2") == 0.0


def test_the_delay_scales_with_the_flow():
    lab = make(position=1)
    mfc, ms = lab.world.mfc("mfc"), lab.world.mass_spec("ms")
    mfc.setpoint_mL_min = 2 * FLOW_ML_MIN
    lab.clock.advance(30)
    arrived = _switch(lab, 2)
    delay = DEAD_VOLUME_ML / (2 * FLOW_ML_MIN / 60.0)      # 1.8 s
    lab.clock.advance(arrived + 0.98 * delay - lab.clock.now())
    assert ms.fraction("CO2") == 0.0
    lab.clock.advance(0.04 * delay)
    assert ms.fraction("CO2") == pytest.approx(CAL["CO2"])


def test_without_flow_nothing_reaches_the_ms_and_a_closed_port_stops_the_outlet():
    lab = make(position=1)
    ms = lab.world.mass_spec("ms")
    _switch(lab, 2)
    lab.clock.advance(600)                                 # no carrier flowing: the outlet stands still
    assert ms.fraction("CO2") == 0.0
    mfc = lab.world.mfc("mfc")
    mfc.setpoint_mL_min = FLOW_ML_MIN
    lab.clock.advance(30)
    assert ms.fraction("CO2") == pytest.approx(CAL["CO2"])
    _switch(lab, 4)
    lab.clock.advance(60)
    assert ms.fraction("CO2") == pytest.approx(CAL["CO2"])    # a dead end sends nothing new down the outlet


def test_stuck_rotor_stays_on_its_line():
    lab = make(position=1)
    lab.world.mfc("mfc").setpoint_mL_min = FLOW_ML_MIN
    lab.world.inject_fault("ms_selector", "stuck")
    rotor = lab.world.selector("ms_selector")
    rotor.move_to(2)
    lab.clock.advance(60)
    assert rotor.position == 1 and lab.world.mass_spec("ms").fraction("CO2") == 0.0


def _dems_sweep(lab: SimLab) -> list[float]:
    """Gas made on plating in the DEMS cell, swept to the MS; the ion currents at m/z 44 and 2 every 5 s."""
    w = lab.world
    valve, mfc, ms = w.valve("dems_valve"), w.mfc("mfc"), w.mass_spec("ms")
    ms.filament_on(1.0)
    from labctl.sim.world import Step

    ch = w.channel("vmp3:2")
    ch.load([Step("cc", value=-0.5e-3, duration=1800, record_dt=60)])
    ch.start()
    lab.clock.advance(1800)
    mfc.setpoint_mL_min = FLOW_ML_MIN
    valve.move_to("B")
    out = []
    for _ in range(120):
        lab.clock.advance(5)
        out += [ms.ion_current(44), ms.ion_current(2)]
    return out


def test_on_the_gas_port_line_the_ms_reads_exactly_as_without_a_selector():
    with_selector, without = make(selector=True, noise=1.0), make(selector=False, noise=1.0)
    seen = _dems_sweep(with_selector)
    assert seen == _dems_sweep(without)
    carrier_only = _dems_sweep(make(selector=True, position=1, noise=1.0))
    assert max(seen[::2]) > 2 * max(carrier_only[::2])     # the cell's CO2 did reach the MS through the selector
