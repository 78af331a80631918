"""The propar driver and MFC device against the simulator on every front end; the bytes on the wire;
the vendor's own client (bronkhorst-propar) over a pseudo-terminal."""

from __future__ import annotations

import pytest

from labctl.devices.errors import ConnectionLost, InstrumentTimeout, LimitError, ProtocolError
from labctl.devices.flow_controller import MassFlowController, Propar, ProparError
from labctl.devices.flow_controller.bronkhorst import (
    CAPACITY,
    FLUID_NAME,
    FMEASURE,
    FSETPOINT,
    MEASURE,
    SETPOINT,
    Parameter,
)
from labctl.sim.serial.bronkhorst import ProparInstrument


@pytest.fixture
def make(lab, serve, closing):
    """Build a simulated MFC served on the front end and a driver connected to it (closed at teardown)."""

    def build(timeout=0.3, **options):
        core = ProparInstrument("mfc", lab.world, node=128, fluid="Ar", **options)
        return core, closing(Propar(serve(core), node=128, name="mfc", timeout=timeout))

    return build


def test_setpoint_drives_the_world_flow(lab, serve, make):
    core, drv = make()
    mfc = lab.world.mfc("mfc")
    assert drv.read(CAPACITY, FLUID_NAME) == [pytest.approx(5.0), "Ar"]
    drv.write(FSETPOINT, 2.5)
    assert mfc.setpoint_mL_min == pytest.approx(2.5)
    lab.clock.advance(30)
    flow, raw = drv.read(FMEASURE, MEASURE)
    assert flow == pytest.approx(2.5, rel=0.02) and raw == pytest.approx(16000, rel=0.02)
    drv.write(SETPOINT, 32000)  # the integer setpoint: 32000 = 100 % of capacity
    assert mfc.setpoint_mL_min == pytest.approx(5.0)


@pytest.mark.parametrize("param, value, status", [
    (Parameter(33, 3, 0x41), 7.5, 6),      # beyond capacity
    (Parameter(1, 1, 0x20), 40000, 6),     # beyond 100 %
    (Parameter(1, 13, 0x41), 10.0, 13),    # capacity is read-only
    (Parameter(2, 0, 0x20), 1, 3),         # no process 2
    (Parameter(1, 29, 0x20), 1, 4),        # no parameter 1/29
    (Parameter(1, 1, 0x41), 1.0, 5),       # setpoint is int16, not float
])
def test_error_statuses_carry_the_instruments_status(lab, serve, param, value, status, make):
    core, drv = make()
    with pytest.raises(ProparError) as err:
        drv.write(param, value)
    assert err.value.status == status and f"status {status}" in str(err.value)
    assert lab.world.mfc("mfc").setpoint_mL_min == 0.0  # nothing moved


def test_error_message_for_a_node_not_on_the_bus(lab, serve, closing):
    core = ProparInstrument("mfc", lab.world, node=128)
    drv = closing(Propar(serve(core), node=7, name="mfc", timeout=0.3))
    with pytest.raises(ProparError) as err:
        drv.read(FMEASURE)
    assert err.value.error == 9 and "no answer from the node" in str(err.value)


def test_unknown_command_status(lab, serve, make):
    core, drv = make()
    with pytest.raises(ProparError) as err:
        drv._check_status(drv.exchange(bytes([7, 1, 1])), bytes([7, 1, 1]))
    assert err.value.status == 2


def test_silent_instrument_times_out(lab, serve, make):
    core, drv = make(timeout=0.1)
    core.inject("silent")
    with pytest.raises(InstrumentTimeout):
        drv.read(FMEASURE)


def test_garbage_is_a_protocol_error(lab, serve, make):
    core, drv = make(timeout=0.1)
    core.inject("garbage")
    with pytest.raises(ProtocolError):
        drv.read(FMEASURE)


def test_dropped_connection(lab, serve, make):
    core, drv = make(timeout=0.1)
    core.inject("disconnected")
    with pytest.raises(InstrumentTimeout if serve.kind == "pty" else ConnectionLost):
        drv.read(FMEASURE)


def test_bytes_on_the_wire(expected):
    # fSetpoint 1.0 = 3F 80 00 00; a DLE (0x10) in the data is doubled.
    url, core = expected([
        (bytes.fromhex("10 02 01 80 07 01 21 43 3f 80 00 00 10 03"), bytes.fromhex("10 02 01 03 03 00 00 07 10 03")),
        # one chained request for 33/0, 33/3 (floats) and 1/1 (int16); the reply's length byte (16) is a DLE
        (bytes.fromhex("10 02 02 80 0c 04 a1 c0 21 40 43 21 43 01 21 01 21 10 03"),
         bytes.fromhex("10 02 02 03 10 10 02 a1 c0 40 20 00 00 43 3f 80 00 00 01 21 10 10 10 10 10 03")),
        (bytes.fromhex("10 02 03 80 05 04 01 20 01 20 10 03"), bytes.fromhex("10 02 03 03 01 09 10 03")),
    ])
    drv = Propar(url, node=128, name="mfc")
    drv.write(FSETPOINT, 1.0)
    assert drv.read(FMEASURE, FSETPOINT, Parameter(1, 1, 0x20)) == [2.5, 1.0, 0x1010]
    with pytest.raises(ProparError, match="error message 9"):
        drv.read(MEASURE)


def test_device_refuses_beyond_capacity_or_limits_before_sending(lab, serve, make):
    core, drv = make()
    dev = MassFlowController(drv, limits=(0.0, 4.0), name="mfc")
    written = []
    core_receive = core.receive
    core.receive = lambda data: (written.append(data), core_receive(data))[1]
    with pytest.raises(LimitError, match="outside 0..4 mL/min"):
        dev.set("4.5 mL/min")
    with pytest.raises(LimitError):
        dev.set(-1)
    with pytest.raises(ValueError):
        dev.set("3 V")
    assert written == [] and lab.world.mfc("mfc").setpoint_mL_min == 0.0
    wide = MassFlowController(drv, limits=(0.0, 50.0), name="mfc2")
    assert wide.limits == (0.0, 5.0)  # the capacity caps the profile's limit


def test_vendor_client_over_a_pty(lab):
    import propar

    from labctl.sim.serial.serve import PtyServer

    core = ProparInstrument("mfc", lab.world, node=128, fluid="Ar")
    with PtyServer(core) as pty:
        instrument = propar.instrument(pty.path, address=0x80)
        try:
            assert instrument.readParameter(25) == "Ar"            # fluid name
            assert instrument.readParameter(21) == pytest.approx(5.0)  # capacity
            assert instrument.writeParameter(206, 3.0) is True      # fSetpoint
            assert lab.world.mfc("mfc").setpoint_mL_min == pytest.approx(3.0)
            instrument.setpoint = 16000                              # 50 % on the integer scale
            assert lab.world.mfc("mfc").setpoint_mL_min == pytest.approx(2.5)
            lab.clock.advance(30)
            assert instrument.readParameter(205) == pytest.approx(2.5, rel=0.02)
            assert instrument.measure == pytest.approx(16000, rel=0.02)
            assert instrument.writeParameter(21, 10.0) is False     # read-only capacity refused
            nodes = instrument.master.get_nodes()
            assert nodes[0]["type"] == "DMFC" and nodes[0]["channels"] == 1
        finally:
            instrument.master.stop()
            propar._PROPAR_MASTERS.pop(pty.path, None)
