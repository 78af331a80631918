"""The valve as plans use it: built by the factory from the profile entry, moved by name with bps.mv."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from bluesky import plan_stubs as bps

from labctl.devices.errors import LimitError
from labctl.devices.valve import ValveStuck
from labctl.factories.vici import build as build_vici
from labctl.session import run_engine
from labctl.sim.serial.vici import ViciValve

SPEC = dict(name="dems_valve", kind="valve", driver="vici.two_position",
            options={"positions": {"A": "sealed", "B": "sweep"}, "move_timeout_s": 5.0}, limits={},
            safe_state={"position": "sealed"})


@pytest.fixture
def valve(lab, serve):
    core = ViciValve("dems_valve", lab.world)
    url = serve(core)
    simlab = SimpleNamespace(serial=lambda name, driver, options: url)
    dev = build_vici(SimpleNamespace(transport="sim://dems_valve", **SPEC),
                     SimpleNamespace(clock=lab.clock, simlab=simlab))
    yield dev
    dev.close()


def test_mv_by_name_moves_the_world_valve(lab, valve):
    RE = run_engine({})
    assert valve.name == "dems_valve" and valve.position == "sealed"
    RE(bps.mv(valve, "sweep"))
    assert lab.world.valve("dems_valve").position == "B"
    reading = valve.read()
    assert reading["dems_valve_position_name"]["value"] == "sweep"
    assert reading["dems_valve_actuator_position"]["value"] == "B"
    valve.safe()
    assert lab.world.valve("dems_valve").position == "A" and valve.position == "sealed"


def test_unknown_name_is_refused_before_anything_moves(lab, valve):
    RE = run_engine({})
    with pytest.raises(LimitError, match="'sealed', 'sweep'"):
        RE(bps.mv(valve, "open"))
    assert lab.world.valve("dems_valve").position == "A"


def test_stuck_valve_fails_the_move(lab, valve):
    lab.world.inject_fault("dems_valve", "stuck")
    with pytest.raises(ValveStuck):
        valve.set("sweep").wait(timeout=5)


def test_factory_refuses_a_safe_position_the_valve_does_not_have(lab):
    spec = SimpleNamespace(transport="sim://dems_valve", **{**SPEC, "safe_state": {"position": "closed"}})
    with pytest.raises(ValueError, match="closed"):
        build_vici(spec, SimpleNamespace(clock=lab.clock, simlab=None))


def test_pyserial_client_over_a_pty(lab):
    """A plain pyserial client, as in the vendor's manual, drives the simulated actuator on a pty."""
    import serial

    from labctl.sim.serial.serve import PtyServer

    with PtyServer(ViciValve("dems_valve", lab.world)) as pty:
        with serial.Serial(pty.path, 9600, timeout=1) as port:
            port.write(b"GOB\r")
            assert port.read_until(b"\r") == b"CPB\r"
            lab.clock.advance(5)
            port.write(b"CP\r")
            assert port.read_until(b"\r") == b"CPB\r"
    assert lab.world.valve("dems_valve").position == "B"


def test_factory_with_the_simulated_lab(lab):
    spec = SimpleNamespace(transport="sim://dems_valve", **SPEC)
    valve = build_vici(spec, SimpleNamespace(clock=lab.clock, simlab=lab.simlab))
    run_engine({})(bps.mv(valve, "sweep"))
    assert lab.world.valve("dems_valve").position == "B" and valve.position == "sweep"
