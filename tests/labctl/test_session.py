"""The session: one call brings up the lab, runs are stored and reload, every exit leaves devices safe."""

from __future__ import annotations

import dataclasses
import importlib
import sys
import types

import pytest
from ophyd import Component as Cpt
from ophyd import Device

from labctl import drivers
from labctl.devices.clock import LabClock, WallClock
from labctl.devices.signals import Signal
from labctl.drivers import FactoryMissing
from labctl.plans.readings import readings
from labctl.profile import load_profile, parse_profile
from labctl.session import Session, SessionError

CLOCK_ONLY = """
[lab]
name = "bench"

[instruments.clock]
kind = "clock"
driver = "lab.clock"
"""

WITH_VALVE = CLOCK_ONLY + """
[instruments.valve]
kind = "valve"
driver = "vici.two_position"
transport = "socket://127.0.0.1:9"
safe_state = { position = "A" }

[instruments.mfc]
kind = "flow_controller"
driver = "bronkhorst.propar"
transport = "socket://127.0.0.1:9"
"""


class FakeActuator(Device):
    port = Cpt(Signal, value="B", kind="hinted")

    def __init__(self, *args, log, fail_safe=False, **kwargs):
        self.calls, self.fail_safe = log, fail_safe
        super().__init__(*args, **kwargs)

    def safe(self):
        self.calls.append(("safe", self.name))
        if self.fail_safe:
            raise RuntimeError("actuator said 'E2 stalled'")
        self.port.put("A")


@pytest.fixture
def fake_factories(monkeypatch):
    """Point two drivers at in-memory factories; return the log of what they did."""
    log: list = []
    module = types.ModuleType("fake_factories")

    def build_ok(spec, ctx):
        log.append(("build", spec.name))
        return FakeActuator(name=spec.name, log=log, fail_safe=spec.options.get("fail_safe", False))

    def build_broken(spec, ctx):
        raise ConnectionError("no reply from node 128")

    module.build_ok, module.build_broken = build_ok, build_broken
    monkeypatch.setitem(sys.modules, "fake_factories", module)
    for name, func in (("vici.two_position", "build_ok"), ("bronkhorst.propar", "build_ok")):
        monkeypatch.setitem(drivers.DRIVERS, name, dataclasses.replace(drivers.DRIVERS[name],
                                                                      factory=f"fake_factories:{func}"))
    return log


def test_clock_only_session_runs_a_plan_and_the_run_reloads(tmp_path):
    profile = parse_profile(CLOCK_ONLY, "bench.toml")
    md = {"operator": "ana", "sample": "NaCu-07", "cell_id": "C7", "electrolyte": "dme", "notes": "first try"}
    with Session.from_profile(profile, data_dir=tmp_path, metadata=md) as session:
        assert isinstance(session.clock, LabClock) and isinstance(session.clock.clock, WallClock)
        assert list(session.devices) == ["clock", "operator"] and session.clock is session.devices["clock"]
        assert session.simlab is None
        for key, value in md.items():
            assert session.RE.md[key] == value
        assert session.RE.md["profile"] == "bench"
        (uid,) = session.run(readings(session.clock, num=3, period=0))
        stored = session.storage.run(uid)
    # reopened from disk after the session has closed
    from labctl.storage import Storage

    store = Storage(tmp_path)
    try:
        stored = store.run(uid)
        table = stored.table("primary")
        assert len(table) == 3
        assert "clock_time" in table.columns
        assert uid in [r["uid"] if isinstance(r, dict) else getattr(r, "uid", None) for r in store.runs(None)]
    finally:
        store.close()


def test_profile_without_clock_gets_one(tmp_path):
    profile = parse_profile('[lab]\nname = "x"\n[instruments]\n', "x.toml")
    with Session.from_profile(profile, data_dir=tmp_path) as session:
        assert list(session.devices) == ["clock", "operator"]
        assert isinstance(session.clock, LabClock)


def test_devices_are_attributes_and_safe_on_close(tmp_path, fake_factories):
    profile = parse_profile(WITH_VALVE, "lab.toml")
    session = Session.from_profile(profile, data_dir=tmp_path)
    assert session.valve is session.devices["valve"] and session.mfc.name == "mfc"
    assert [d.name for d in session.of_kind("valve")] == ["valve"]
    session.valve.port.put("B")
    session.close()
    assert session.valve.port.get() == "A"
    assert ("safe", "valve") in fake_factories and ("safe", "mfc") in fake_factories
    session.close()  # idempotent
    with pytest.raises(SessionError, match="closed"):
        session.run(readings(session.clock, num=1, period=0))


def test_a_failing_factory_names_the_instrument_and_leaves_built_devices_safe(tmp_path, fake_factories,
                                                                              monkeypatch):
    monkeypatch.setitem(drivers.DRIVERS, "bronkhorst.propar", dataclasses.replace(
        drivers.DRIVERS["bronkhorst.propar"], factory="fake_factories:build_broken"))
    with pytest.raises(SessionError) as info:
        Session.from_profile(parse_profile(WITH_VALVE, "lab.toml"), data_dir=tmp_path)
    assert "instruments.mfc" in str(info.value) and "no reply from node 128" in str(info.value)
    assert ("safe", "valve") in fake_factories


def test_a_missing_factory_module_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(drivers.DRIVERS, "vici.two_position", dataclasses.replace(
        drivers.DRIVERS["vici.two_position"], factory="labctl.factories.not_written_yet:build_vici"))
    with pytest.raises(FactoryMissing) as info:
        Session.from_profile(parse_profile(WITH_VALVE, "lab.toml"), data_dir=tmp_path)
    message = str(info.value)
    assert "instruments.valve" in message and "labctl.factories.not_written_yet" in message


def test_safe_failures_are_reported_after_everything_was_tried(tmp_path, fake_factories):
    profile = parse_profile(WITH_VALVE, "lab.toml")
    session = Session.from_profile(profile, data_dir=tmp_path)
    session.valve.fail_safe = True
    with pytest.raises(SessionError, match="E2 stalled"):
        session.close()
    assert ("safe", "mfc") in fake_factories  # the other device was still made safe


def test_queueserver_startup_exposes_re_devices_and_plans(tmp_path, monkeypatch):
    path = tmp_path / "bench.toml"
    path.write_text(CLOCK_ONLY)
    monkeypatch.setenv("LABCTL_PROFILE", str(path))
    monkeypatch.setenv("LABCTL_DATA", str(tmp_path / "data"))
    monkeypatch.delitem(sys.modules, "labctl.app.queueserver", raising=False)
    qs = importlib.import_module("labctl.app.queueserver")
    try:
        assert qs.RE is qs.session.RE
        assert qs.clock is qs.session.clock
        assert callable(qs.readings) and callable(qs.count)
        assert qs.bps.mv
        (uid,) = qs.RE(qs.readings(qs.clock, num=2, period=0))
        assert len(qs.session.storage.run(uid).table("primary")) == 2
    finally:
        qs.session.close()
        sys.modules.pop("labctl.app.queueserver", None)


def test_the_default_profile_builds_every_instrument_and_runs_on_the_simulated_clock(tmp_path):
    profile = load_profile(None)
    with Session.from_profile(profile, data_dir=tmp_path) as session:
        assert set(profile.instruments) | {"operator"} == set(session.devices)
        assert session.simlab is not None and session.clock.clock is session.simlab.clock
        t0 = session.clock.time.get()
        (uid,) = session.run(readings(session.clock, [d for d in session.devices.values()
                                                      if d is not session.clock], num=3, period="1 h"))
        assert session.clock.time.get() - t0 == pytest.approx(7200)
        assert len(session.storage.run(uid).table("primary")) == 3


def test_simulated_operator_performs_checkpoints_on_the_world(tmp_path):
    from labctl.devices.operator import Checkpoint

    profile = load_profile(None).restricted(["clock"])
    with Session.from_profile(profile, data_dir=tmp_path) as session:
        status = session.operator.set(Checkpoint("assemble_cell", "assemble a fresh coin cell",
                                                 {"name": "fresh", "kind": "coin", "electrolyte": "dme",
                                                  "area_cm2": 1.767, "channel": "vmp3:1"}))
        status.wait(5)
        assert session.simlab.world.cell("fresh").electrolyte == "dme"
        assert session.operator.confirmed_by.get() == "simulated operator"


def test_ipython_namespace_has_re_devices_plans_and_bps(tmp_path):
    from labctl.app.ipython import namespace

    with Session.from_profile(parse_profile(CLOCK_ONLY, "bench.toml"), data_dir=tmp_path) as session:
        ns = namespace(session)
        assert ns["RE"] is session.RE and ns["clock"] is session.clock and ns["operator"] is session.operator
        assert callable(ns["readings"]) and callable(ns["bps"].mv) and ns["session"] is session


def test_closing_with_a_paused_run_aborts_it_so_its_cleanup_runs_and_its_stop_is_recorded(tmp_path,
                                                                                         fake_factories):
    import bluesky.plan_stubs as bps
    import bluesky.preprocessors as bpp
    from bluesky.utils import RunEngineInterrupted

    from labctl.storage import Storage

    session = Session.from_profile(parse_profile(WITH_VALVE, "lab.toml"), data_dir=tmp_path)
    cleaned = []

    def plan():
        yield from bps.mv(session.valve.port, "B")
        yield from bps.checkpoint()
        yield from bps.pause()
        yield from bps.null()

    def cleanup():
        cleaned.append(True)
        yield from bps.null()

    with pytest.raises(RunEngineInterrupted):
        session.run(bpp.finalize_wrapper(bpp.run_wrapper(plan()), cleanup()), keep_paused=True)
    assert session.RE.state == "paused"
    session.close()
    assert cleaned and session.valve.port.get() == "A"
    store = Storage(tmp_path)
    try:
        (summary,) = store.runs(None)
        assert store.run(summary.uid).stop["exit_status"] == "abort"
    finally:
        store.close()
