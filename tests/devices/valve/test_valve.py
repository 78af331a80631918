"""The valve as plans use it: positions moved by name with bps.mv, unknown names refused before anything
moves, the safe position; device logic on a fake driver, and the factory on the simulated lab."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from bluesky import plan_stubs as bps
from fakes import FakeValveDriver

from labctl.devices.errors import LimitError
from labctl.devices.valve import TwoPositionValve, ValveStuck
from labctl.factories.vici import build as build_vici
from labctl.sim.serial.vici import ViciValve

SPEC = dict(name="dems_valve", kind="valve", driver="vici.two_position",
            options={"positions": {"A": "sealed", "B": "sweep"}, "move_timeout_s": 5.0}, limits={},
            safe_state={"position": "sealed"})


@pytest.fixture
def driver():
    return FakeValveDriver("dems_valve")


@pytest.fixture
def valve(driver, closing):
    return closing(TwoPositionValve(driver, positions={"A": "sealed", "B": "sweep"}, safe_position="sealed",
                                    name="dems_valve"))


def test_mv_by_name_moves_the_valve_and_reads_both_names(driver, valve, RE):
    assert valve.name == "dems_valve" and valve.position == "sealed"
    RE(bps.mv(valve, "sweep"))
    assert driver.position() == "B"
    reading = valve.read()
    assert reading["dems_valve_position_name"]["value"] == "sweep"
    assert reading["dems_valve_actuator_position"]["value"] == "B"
    valve.safe()
    assert driver.position() == "A" and valve.position == "sealed"


def test_unknown_name_is_refused_before_anything_moves(driver, valve, RE):
    with pytest.raises(LimitError, match="'sealed', 'sweep'"):
        RE(bps.mv(valve, "open"))
    assert driver.moves == []


def test_stuck_valve_fails_the_move(driver, valve):
    driver.stuck = True
    with pytest.raises(ValveStuck):
        valve.set("sweep").wait(timeout=5)


def test_the_position_signal_moves_by_name_too(driver, valve, RE):
    RE(bps.mv(valve.position_name, "sweep"))
    assert driver.moves == ["B"] and valve.position_name.get() == "sweep"


def test_positions_must_name_both_ports_differently(driver):
    with pytest.raises(ValueError, match="both A and B"):
        TwoPositionValve(driver, positions={"A": "sealed"}, name="v")
    with pytest.raises(ValueError, match="different names"):
        TwoPositionValve(driver, positions={"A": "x", "B": "x"}, name="v")
    with pytest.raises(ValueError, match="closed"):
        TwoPositionValve(driver, positions={"A": "sealed", "B": "sweep"}, safe_position="closed", name="v")


def test_description_names_the_positions(valve):
    assert valve.instrument_description().position_names == ("sealed", "sweep")


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


@pytest.mark.parametrize("fault", [None, "stuck"])
def test_factory_with_the_simulated_lab(lab, RE, closing, serve, fault):
    """Built from its profile entry, on each front end, the valve moves the world's valve (or fails stuck)."""
    url = serve(ViciValve("dems_valve", lab.world))
    simlab = SimpleNamespace(serial=lambda name, driver, options: url)
    valve = closing(build_vici(SimpleNamespace(transport="sim://dems_valve", **SPEC),
                               SimpleNamespace(clock=lab.clock, simlab=simlab)))
    if fault:
        lab.world.inject_fault("dems_valve", fault)
        with pytest.raises(ValveStuck):
            valve.set("sweep").wait(timeout=5)
        return
    RE(bps.mv(valve, "sweep"))
    assert lab.world.valve("dems_valve").position == "B" and valve.position == "sweep"
