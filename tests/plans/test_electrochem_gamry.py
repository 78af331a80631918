"""The electrochemistry plans on the Gamry Reference 600, built by its factory, on the simulated liquid cell.

The lab is the default profile's: the liquid-cell chip (Pt, 0.0005 cm^2, DME) on ``ref600:1``, the instrument
built by ``build_gamry`` from the profile's ``ref600`` entry. Outcomes are checked against the world: the
charge the plans report is the charge the cell's Na inventory received and gave back.
"""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest
from bluesky.utils import RunEngineInterrupted

from labctl.devices.clock import LabClock
from labctl.devices.errors import InstrumentError, LimitError
from labctl.factories.gamry import build as build_gamry
from labctl.plans.electrochem import cv, galvanostatic_cycles
from labctl.sim.lab import SimLab
from labctl.sim.world.params import C_SURFACE

AREA = 0.0005          # cm^2, the chip's Pt working electrode
CHANNEL = "ref600:1"
SIM = {"seed": 20230105, "acceleration": 0, "noise": 1.0,
       "cells": {"liquid": {"kind": "liquid", "electrolyte": "dme", "area_cm2": AREA, "channel": CHANNEL}}}
REF600 = {"name": "ref600", "kind": "potentiostat", "driver": "gamry.ref600", "transport": "sim://REF600-12345",
          "options": {"electrode_area_cm2": AREA}, "limits": {"current_A": [-0.6, 0.6], "voltage_V": [-11.0, 11.0]},
          "safe_state": {"cell": "off"}}


@pytest.fixture
def lab(RE, docs):
    simlab = SimLab(SIM)
    pstat = build_gamry(SimpleNamespace(**REF600), SimpleNamespace(clock=simlab.clock, simlab=simlab))
    yield SimpleNamespace(sim=simlab, world=simlab.world, pstat=pstat, com=pstat.backend.com,
                          clock=LabClock(simlab.clock, name="clock"), RE=RE, docs=docs)
    pstat.destroy()
    simlab.close()


def _rows(docs, stream):
    uids = {d["uid"] for n, d in docs if n == "descriptor" and d["name"] == stream}
    rows = []
    for name, doc in docs:
        if name == "event_page" and doc["descriptor"] in uids:
            rows += [dict(zip(doc["data"], values, strict=True))
                     for values in zip(*doc["data"].values(), strict=True)]
        elif name == "event" and doc["descriptor"] in uids:
            rows.append(doc["data"])
    return rows


def _split(rows):
    """Rows of consecutive techniques in one stream, split where the instrument time starts again."""
    out = []
    for r in rows:
        if not out or r["ref600_time"] < out[-1][-1]["ref600_time"]:
            out.append([])
        out[-1].append(r)
    return out


def _cell_is_off(lab):
    """Nothing flows any more: switch open, channel stopped, and the Na inventory no longer changes."""
    set_cell = [c for c in lab.com.calls if c[1] == "SetCell"]
    assert set_cell[-1][2] == (lab.com.CellOff,)
    channel = lab.world.channel(CHANNEL)
    assert channel.state == "stop"
    before = lab.world.cell("liquid").inventory()
    lab.sim.clock.sleep(600)
    assert lab.world.cell("liquid").inventory() == before
    assert lab.pstat.read()["ref600_state"]["value"] == "stop"
    assert abs(lab.pstat.current.get()) < 1e-9


def test_factory_builds_the_shared_device_on_the_profile_section(lab):
    pstat = lab.pstat
    assert pstat.name == "ref600" and pstat.info["serial"] == "12345" and pstat.source == "gamry:REF600-12345"
    assert pstat.electrode_area.get() == AREA and pstat.limits["current_A"] == [-0.6, 0.6]
    assert pstat.read()["ref600_ewe"]["value"] == pytest.approx(lab.world.cell("liquid").ocv(), abs=1e-3)


@pytest.mark.skipif(sys.platform == "win32", reason="GamryCOM is real on Windows")
def test_a_real_instrument_off_windows_is_refused_clearly(lab):
    spec = SimpleNamespace(**{**REF600, "transport": "REF600-12345"})
    with pytest.raises(InstrumentError, match=r"ref600.*GamryCOM needs Windows.*use a sim:// transport"):
        build_gamry(spec, SimpleNamespace(clock=lab.sim.clock, simlab=lab.sim))
    with pytest.raises(ValueError, match="no transport given"):
        build_gamry(SimpleNamespace(**{**REF600, "transport": ""}), SimpleNamespace(clock=lab.sim.clock, simlab=None))


def test_galvanostatic_cycles_at_10_mA_per_cm2_plate_and_strip_what_the_cell_holds(lab):
    result = lab.RE(galvanostatic_cycles(lab.pstat, lab.clock, current_density="10 mA/cm^2",
                                         plate_capacity="0.5 mAh/cm^2", strip_cutoff="1 V", cycles=2,
                                         record_dt="1 s")).plan_result
    current = 10e-3 * AREA
    plates, strips = _split(_rows(lab.docs, "plate")), _split(_rows(lab.docs, "strip"))
    assert len(plates) == len(strips) == 2
    assert all(r["ref600_I"] == pytest.approx(-current, rel=1e-3) for p in plates for r in p)
    assert all(r["ref600_I"] == pytest.approx(current, rel=1e-3) for s in strips for r in s)
    # 0.5 mAh/cm^2 is 0.9 mC on the chip: 180 s at 5 uA
    assert [p[-1]["ref600_time"] for p in plates] == pytest.approx([180.0, 180.0])
    # plating stops at plate_e_min too, so it runs under a stop-test Dtaq: its charge is the measured current
    # integrated over the rows, good to a few ppm (1e-4 current noise over 180 rows: 7.5 ppm, so 4 sigma)
    assert [c["plated_C"] for c in result] == pytest.approx([0.5 * 3.6 * AREA] * 2, rel=3e-5)

    # Each strip ends on the 1 V cutoff, within one sample of it, before giving back all it plated.
    for cycle, strip in zip(result, strips, strict=False):
        e = [r["ref600_Ewe"] for r in strip]
        step = max(b - a for a, b in zip(e, e[1:], strict=False))
        assert cycle["strip_ended_by"] == "limit"
        # the cutoff is tested on the potential, the sample read with 100 uV of noise: 5 sigma below is the crossing
        assert e[-2] < 1.0 - 5e-4 <= e[-1] <= 1.0 + step and cycle["strip_last_Ewe"] == e[-1]
        assert cycle["stripped_C"] < cycle["plated_C"]

    # The charges the plan reports are the cell's: every coulomb stripped left its Na inventory, and all that
    # was plated reached it but the charge that first took the Na-free surface down to the plating onset.
    inv = lab.world.cell("liquid").inventory()
    assert sum(c["stripped_C"] for c in result) == pytest.approx(inv["stripped_C"], rel=1e-4)
    first = [r["ref600_Ewe"] for r in plates[0]]
    surface = C_SURFACE * AREA * (first[0] - min(first))
    assert sum(c["plated_C"] for c in result) - inv["plated_C"] == pytest.approx(surface, rel=0.01)
    assert inv["plated_C"] == pytest.approx(inv["stripped_C"] + inv["sei_C"] + inv["dead_C"] + inv["reversible_C"])

    ce = [d["data"]["cycles_ce"] for n, d in lab.docs if n == "event" and "cycles_ce" in d["data"]]
    assert ce == pytest.approx([100 * c["stripped_C"] / c["plated_C"] for c in result])
    assert 85 < ce[0] < ce[1] < 100      # DME: most Na comes back, more after the first cycle
    _cell_is_off(lab)


def test_cv_at_20_mV_per_s_has_its_points_and_plates_what_it_strips(lab):
    lab.RE(cv(lab.pstat, lab.clock, e_start="0.5 V", vertex1="-0.2 V", vertex2="0.8 V", scan_rate="20 mV/s",
              step="1 mV"))
    rows = _rows(lab.docs, "cv")
    start = next(d for n, d in lab.docs if n == "start")
    # 0.5 -> -0.2 -> 0.8 -> 0.5 V is 2.0 V of path: one point per mV plus the first, 100 s at 20 mV/s
    assert len(rows) == start["expected_points"] == 2001
    assert rows[-1]["ref600_time"] == pytest.approx(100.0)
    t = [r["ref600_time"] for r in rows]
    e = [r["ref600_Ewe"] for r in rows]
    i = [r["ref600_I"] for r in rows]
    assert min(e) == pytest.approx(-0.2, abs=1e-3) and max(e) == pytest.approx(0.8, abs=1e-3)
    # the Pt chip: a plating wave below 0 V, a stripping peak on the way back, and between them the charge
    # under each wave is what the cell's inventory received and gave back (to within the capacitive charge)
    peak = max(range(len(rows)), key=i.__getitem__)
    assert 0.0 < e[peak] < 0.8 and t[peak] > 35.0 and i[peak] > 0
    assert i[e.index(min(e))] < 0
    cathodic = anodic = 0.0
    for k in range(1, len(rows)):
        q = 0.5 * (i[k] + i[k - 1]) * (t[k] - t[k - 1])
        cathodic, anodic = (cathodic - q, anodic) if q < 0 else (cathodic, anodic + q)
    inv = lab.world.cell("liquid").inventory()
    capacitive = C_SURFACE * AREA * 1.0     # each direction sweeps 1 V; the Na-free surface charges most
    assert inv["plated_C"] > 10 * capacitive
    assert cathodic == pytest.approx(inv["plated_C"], abs=capacitive)
    assert anodic == pytest.approx(inv["stripped_C"], abs=capacitive)
    assert inv["reversible_C"] == 0.0     # all Na plated on the way down was stripped or lost by 0.8 V
    _cell_is_off(lab)


def test_a_current_beyond_the_profile_is_refused_before_anything_moves(lab):
    with pytest.raises(LimitError, match="current_A"):
        lab.RE(galvanostatic_cycles(lab.pstat, lab.clock, current_density="2000 A/cm^2", cycles=1))
    assert not [c for c in lab.com.calls if c[1] in ("Run", "SetSignal")]
    assert not [c for c in lab.com.calls if c[1] == "SetCell" and c[2] == (lab.com.CellOn,)]
    assert not [n for n, _ in lab.docs if n == "start"]


def test_a_lead_coming_off_mid_plate_fails_the_plan_clearly_and_leaves_the_cell_off(lab):
    def lead_off(now):
        timer.cancel()
        lab.world.inject_fault(CHANNEL, "unplugged")

    timer = lab.sim.clock.call_every(100.0, lead_off)     # 100 s into the first 180 s plate
    with pytest.raises(InstrumentError, match=r"CP ended at t = .* s: the cell stopped responding.*leads"):
        lab.RE(galvanostatic_cycles(lab.pstat, lab.clock, current_density="10 mA/cm^2", cycles=2))
    stop = next(d for n, d in lab.docs if n == "stop")
    assert stop["exit_status"] == "fail" and "cell stopped responding" in stop["reason"]
    plate = _rows(lab.docs, "plate")          # the rows recorded until the lead came off were kept
    assert 95 < plate[-1]["ref600_time"] <= 101 and len(plate) > 95
    assert not _rows(lab.docs, "strip")
    assert lab.world.channel(CHANNEL).ended_by == "unplugged"
    _cell_is_off(lab)


def test_pause_mid_strip_then_abort_leaves_the_cell_off_and_keeps_the_rows(lab):
    def pause(now):                       # the operator hits Ctrl-C 70 s into the first strip
        timer.cancel()
        lab.RE.request_pause(defer=False)

    timer = lab.sim.clock.call_every(250.0, pause)
    with pytest.raises(RunEngineInterrupted):
        lab.RE(galvanostatic_cycles(lab.pstat, lab.clock, current_density="10 mA/cm^2", cycles=3))
    assert lab.RE.state == "paused"
    lab.RE.abort("operator abort")
    stop = next(d for n, d in lab.docs if n == "stop")
    assert stop["exit_status"] == "abort"
    assert len(_rows(lab.docs, "plate")) == 181          # the whole first plate, and no second one
    strip = _rows(lab.docs, "strip")
    assert strip and all(r["ref600_I"] > 0 for r in strip) and strip[-1]["ref600_time"] >= 70.0
    started = [c for c in lab.com.calls if c[1] == "Run" and c[2] == (True,)]
    assert len(started) == 2                             # plate and strip: nothing started after the pause
    _cell_is_off(lab)
