"""Instruments reached through VISA (pyvisa-py here; NI-VISA on an instrument PC) work like any serial port."""

import sys

import pytest

from labctl.devices.errors import ConnectionLost, InstrumentTimeout
from labctl.devices.transport import Port
from labctl.devices.valve import ViciActuator
from labctl.sim.serial.serve import PtyServer
from labctl.sim.serial.vici import ViciValve

needs_pty = pytest.mark.skipif(sys.platform == "win32", reason="the simulator's pseudo-terminal is POSIX only")


@needs_pty
def test_valve_moves_through_a_visa_serial_resource(lab):
    core = ViciValve("dems_valve", lab.world)
    with PtyServer(core) as server:
        driver = ViciActuator(f"ASRL{server.path}::INSTR", clock=lab.clock, name="dems_valve")
        try:
            assert driver.position() == "A"
            driver.move("B")
            assert lab.world.valve("dems_valve").position == "B"
        finally:
            driver.close()


@needs_pty
def test_a_silent_visa_instrument_times_out(lab):
    core = ViciValve("dems_valve", lab.world)
    with PtyServer(core) as server:
        core.inject("silent")
        with Port(f"ASRL{server.path}::INSTR", name="v", timeout=0.2, baudrate=9600) as port:
            port.write(b"CP\r")
            with pytest.raises(InstrumentTimeout):
                port.read_until(b"\r")


def test_a_visa_resource_that_is_not_there_is_a_clear_error():
    with pytest.raises(ConnectionLost, match="cannot open ASRL/dev/nonexistent-port::INSTR"):
        Port("ASRL/dev/nonexistent-port::INSTR", name="pump")
