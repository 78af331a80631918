"""Electrochemistry plans on the Gamry Reference 600, built by its factory, on the simulated liquid cell."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from bluesky import RunEngine
from bluesky.preprocessors import run_wrapper

from labctl.devices.clock import LabClock
from labctl.devices.errors import LimitError
from labctl.devices.potentiostat.techniques import CV, Galvanostatic
from labctl.plans.stubs.electrochem import run_technique
from test_gamry_backend import Lab  # the simulated lab (the real one once labctl.sim.lab exists)

from labctl.factories.gamry import build_gamry  # noqa: E402
from labctl.sim.sdk.gamrycom import FakeGamryCOM  # noqa: E402

AREA = 0.0005   # cm^2, the liquid-cell chip's Pt working electrode


@pytest.fixture
def setup():
    lab = Lab()
    simlab = lab.simlab
    if simlab is None:
        com = FakeGamryCOM(lab.world)
        simlab = SimpleNamespace(gamrycom=lambda: com)
    spec = SimpleNamespace(name="ref600", kind="potentiostat", driver="gamry.ref600",
                           transport="sim://REF600-12345", options={"electrode_area_cm2": AREA},
                           limits={"current_A": [-0.6, 0.6], "voltage_V": [-11.0, 11.0]}, safe_state={"cell": "off"})
    pstat = build_gamry(spec, SimpleNamespace(clock=lab.clock, simlab=simlab))
    clock = LabClock(lab.clock, name="clock")
    docs = []
    RE = RunEngine({}, call_returns_result=True)
    RE.subscribe(lambda name, doc: docs.append((name, doc)))
    yield SimpleNamespace(lab=lab, pstat=pstat, clock=clock, RE=RE, docs=docs)
    pstat.destroy()
    lab.close()


def _events(docs, stream):
    uid = {d["uid"] for n, d in docs if n == "descriptor" and d["name"] == stream}
    rows = []
    for name, doc in docs:
        if name == "event_page" and doc["descriptor"] in uid:
            keys = list(doc["data"])
            rows += [dict(zip(keys, vals)) for vals in zip(*doc["data"].values())]
        elif name == "event" and doc["descriptor"] in uid:
            rows.append(doc["data"])
    return rows


def test_factory_builds_the_shared_device(setup):
    pstat = setup.pstat
    assert pstat.name == "ref600" and pstat.info["serial"] == "12345"
    assert pstat.electrode_area.get() == AREA
    assert pstat.read()["ref600_ewe"]["value"] == pytest.approx(pstat.ewe.get(), abs=1e-3)


def test_galvanostatic_cycles_at_10_mA_per_cm2(setup):
    s = setup
    plate = Galvanostatic.from_density("-10 mA/cm^2", AREA, duration="30 s", record_dt="1 s")
    strip = Galvanostatic.from_density("10 mA/cm^2", AREA, e_max="1 V", duration="60 s", record_dt="1 s")
    summaries = []

    def cycles(n):
        declared = set()
        for _ in range(n):
            summaries.append((yield from run_technique(s.pstat, s.clock, plate, "plate", declared=declared)))
            summaries.append((yield from run_technique(s.pstat, s.clock, strip, "strip", declared=declared)))

    s.RE(run_wrapper(cycles(2), md={"plan_name": "gamry_cycles"}))
    assert [x["ended_by"] for x in summaries[::2]] == ["done", "done"]
    assert all(x["ended_by"] in ("limit", "done") for x in summaries[1::2])
    plated = _events(s.docs, "plate")
    stripped = _events(s.docs, "strip")
    assert len(plated) == 2 * 31
    assert all(r["ref600_I"] == pytest.approx(-5e-6) for r in plated)
    assert all(r["ref600_I"] == pytest.approx(5e-6) for r in stripped)
    assert summaries[0]["last"]["Q"] == pytest.approx(-5e-6 * 30, rel=1e-3)
    desc = [d for n, d in s.docs if n == "descriptor" and d["name"] == "plate"][0]
    assert desc["data_keys"]["ref600_Ewe"]["units"] == "V" and desc["data_keys"]["ref600_time"]["units"] == "s"
    assert s.pstat.read()["ref600_state"]["value"] == "stop"


def test_cv_at_20_mV_per_s(setup):
    s = setup
    cv = CV(e_start="0 V", vertex1="-0.2 V", vertex2="0.4 V", e_end="0 V", scan_rate="20 mV/s", step="1 mV")

    out = {}

    def plan():
        out.update((yield from run_technique(s.pstat, s.clock, cv, "cv", poll=10.0)))

    s.RE(run_wrapper(plan(), md={"plan_name": "gamry_cv"}))
    summary = out
    rows = _events(s.docs, "cv")
    assert summary["ended_by"] == "done" and len(rows) == cv.expected_points()
    assert rows[-1]["ref600_time"] == pytest.approx(cv.duration(), abs=0.1)
    ewe = [r["ref600_Ewe"] for r in rows]
    assert min(ewe) < -0.15 and max(ewe) > 0.35


def test_a_current_beyond_the_profile_is_refused_before_anything_moves(setup):
    s = setup
    too_much = Galvanostatic(current="0.7 A", duration="1 s")
    with pytest.raises(LimitError, match="current_A"):
        s.RE(run_wrapper(run_technique(s.pstat, s.clock, too_much, "cp")))
    com = s.lab.simlab.gamrycom() if s.lab.simlab is not None else None
    if com is not None:
        assert not [c for c in com.calls if c[1] == "Run"]
