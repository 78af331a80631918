"""Ports opened on one URL share one open serial object (a COM port opens exclusively on Windows) and its lock."""

from __future__ import annotations

import gc
import sys
import time

import pytest

from labctl.devices.errors import ConnectionLost, InstrumentTimeout
from labctl.devices.transport import Port, open_lines, port_lock
from labctl.devices.valve import ViciActuator
from labctl.sim.serial import install_url_handler, register, unregister
from labctl.sim.serial.serve import PtyServer, TcpServer
from labctl.sim.serial.vici import ViciValve


@pytest.fixture
def valve_url(lab):
    install_url_handler()
    register("shared-valve", ViciValve("dems_valve", lab.world))
    yield "sim://shared-valve"
    unregister("shared-valve")


def test_one_serial_object_per_url_closed_with_its_last_port(valve_url):
    first = Port(valve_url, name="a", baudrate=9600)
    second = Port(valve_url, name="b", timeout=0.5, baudrate=9600)
    assert first._serial is second._serial and first.lock is second.lock
    assert open_lines()[valve_url] == 2
    line = first._serial
    first.close()
    first.close()  # harmless
    assert open_lines()[valve_url] == 1 and line.is_open
    second.write(b"CP\r")
    assert second.read_until(b"\r") == b"CPA\r"
    second.close()
    assert valve_url not in open_lines() and not line.is_open
    with pytest.raises(ConnectionLost, match="closed"):
        second.write(b"CP\r")
    with Port(valve_url, baudrate=9600) as again:  # opens afresh
        assert again._serial is not line and open_lines()[valve_url] == 1


def test_one_line_has_one_set_of_serial_settings(valve_url):
    with Port(valve_url, name="a", baudrate=9600):
        with pytest.raises(ConnectionLost, match="already open"):
            Port(valve_url, name="b", baudrate=19200)
        assert open_lines()[valve_url] == 1


def test_a_port_that_cannot_open_leaves_nothing_behind():
    with pytest.raises(ConnectionLost, match="cannot open"):
        Port("sim://nobody-here", name="x")
    assert "sim://nobody-here" not in open_lines()


def test_windows_spellings_of_one_com_port_share_a_lock():
    assert port_lock("COM3") is port_lock("com3") is port_lock("\\\\.\\COM3")
    assert port_lock("COM3") is not port_lock("COM13")


@pytest.mark.skipif(sys.platform == "win32", reason="the simulator's pseudo-terminal is POSIX only")
def test_each_port_waits_its_own_timeout_on_a_shared_line(lab):
    core = ViciValve("dems_valve", lab.world)
    with PtyServer(core) as server:
        patient = Port(server.path, name="patient", timeout=5.0, baudrate=9600)
        hasty = Port(server.path, name="hasty", timeout=0.2, baudrate=9600)
        try:
            core.inject("silent")
            hasty.write(b"CP\r")
            began = time.monotonic()
            with pytest.raises(InstrumentTimeout):
                hasty.read_until(b"\r")
            assert time.monotonic() - began < 2.0
        finally:
            hasty.close()
            patient.close()


def test_a_port_dropped_without_close_lets_go_of_its_line(lab):
    """A driver left in a reference cycle must not keep later drivers on the instrument it was opened to."""
    install_url_handler()
    register("dropped-valve", ViciValve("dems_valve", lab.world))
    try:
        holder = {"port": Port("sim://dropped-valve", baudrate=9600)}
        holder["self"] = holder  # a cycle: only the collector frees it
        old = holder["port"]._serial
        del holder
        gc.collect()  # whenever the collector runs; the line is let go at the next open, not inside it
        register("dropped-valve", ViciValve("dems_valve", lab.world))  # the simulator restarted
        with Port("sim://dropped-valve", baudrate=9600) as port:
            assert port._serial is not old and open_lines()["sim://dropped-valve"] == 1
    finally:
        unregister("dropped-valve")


@pytest.mark.parametrize("front_end", ["tcp", "sim"])
def test_a_line_dropped_once_is_opened_again_with_the_same_url_and_settings(lab, front_end):
    core = ViciValve("dems_valve", lab.world)
    if front_end == "tcp":
        server = TcpServer(core).start()
        url, stop = server.url, server.stop
    else:
        install_url_handler()
        register("reopened_valve", core)
        url, stop = "sim://reopened_valve", lambda: unregister("reopened_valve")
    try:
        valve = ViciActuator(url, clock=lab.clock, name="dems_valve", timeout=0.5)
        first = valve.port.line.serial
        core.inject("disconnected", times=1)          # the server drops the connection once
        with pytest.raises(ConnectionLost, match=r"^dems_valve: (\S+ closed the connection|write failed)"):
            valve.position()
        assert valve.port.line.broken
        assert valve.move("B") == "B"                  # the next exchange opened the port again and works
        line = valve.port.line
        assert line.serial is not first and not first.is_open and line.reopened == 1
        assert line.serial.port == first.port and line.settings["baudrate"] == 9600
        assert open_lines()[url] == 1
        valve.close()
    finally:
        stop()


def test_a_port_that_cannot_be_opened_again_yet_is_tried_at_the_next_exchange(lab):
    core = ViciValve("dems_valve", lab.world)
    install_url_handler()
    register("flaky_valve", core)
    valve = ViciActuator("sim://flaky_valve", clock=lab.clock, name="dems_valve", timeout=0.5)
    try:
        core.inject("disconnected")
        with pytest.raises(ConnectionLost):
            valve.position()
        unregister("flaky_valve")                      # the adapter is gone for now
        with pytest.raises(ConnectionLost, match="cannot open sim://flaky_valve"):
            valve.position()
        core.inject(None)
        register("flaky_valve", core)                  # and back
        assert valve.position() == "A"
    finally:
        valve.close()
        unregister("flaky_valve")
