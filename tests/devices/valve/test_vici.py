"""The VICI actuator driver against its simulator on every front end, and the exact bytes it sends."""

from __future__ import annotations

import pytest

from labctl.devices.errors import ConnectionLost, InstrumentTimeout, ProtocolError
from labctl.devices.valve import ValveStuck, ViciActuator, ViciError
from labctl.sim.serial.vici import ViciValve


@pytest.fixture
def make(lab, serve, closing):
    """Build a simulator served on the front end and a driver connected to it (closed at teardown)."""

    def build(name="dems_valve", timeout=0.3, **options):
        core = ViciValve(name, lab.world, address=options.get("address"))
        driver = closing(ViciActuator(serve(core), clock=lab.clock, name=name, timeout=timeout, **options))
        return core, driver

    return build


def test_move_is_confirmed_by_reading_back_after_lab_time(lab, serve, make):
    core, valve = make()
    world_valve = lab.world.valve("dems_valve")
    assert valve.position() == "A" == world_valve.position
    t0 = lab.clock.now()
    assert valve.move("B") == "B"
    assert world_valve.position == "B" and not world_valve.moving   # returned once the rotor arrived
    assert lab.clock.now() - t0 >= world_valve.move_time_s  # it waited in lab time for the move
    assert valve.position() == "B"
    assert valve.move("a") == "A" and world_valve.position == "A"
    assert valve.counter() == 2


def test_addressed_actuator_answers_only_with_its_id(lab, serve, make):
    core, valve = make(address="3")
    assert valve.move("B") == "B"
    assert lab.world.valve("dems_valve").position == "B"


def test_actuator_with_another_id_stays_quiet(lab, serve):
    core = ViciValve("dems_valve", lab.world, address="3")
    with pytest.raises(InstrumentTimeout):
        ViciActuator(serve(core), clock=lab.clock, name="v", address="4", timeout=0.1)


@pytest.mark.parametrize("mode", [0, 1, 2])
def test_every_response_level_moves_the_valve(lab, serve, mode, make):
    core, valve = make(interface_mode=mode)
    assert core.interface_mode == mode
    assert valve.move("B") == "B" and lab.world.valve("dems_valve").position == "B"


def test_stuck_valve_raises_with_the_actuators_words(lab, serve, make):
    core, valve = make()
    lab.world.inject_fault("dems_valve", "stuck")
    with pytest.raises(ValveStuck) as err:
        valve.move("B")
    assert err.value.code == 3 and "stalled" in str(err.value) and "GOB" in err.value.reply
    assert lab.world.valve("dems_valve").position == "A"


def test_deadline_when_the_actuator_never_reports_a_stall(lab, serve, make):
    core, valve = make(move_timeout_s=0.5)
    core.stall_time_s = 1e9
    lab.world.inject_fault("dems_valve", "stuck")
    t0 = lab.clock.now()
    with pytest.raises(ValveStuck, match="still at A"):
        valve.move("B")
    assert 0.5 <= lab.clock.now() - t0 < 0.6  # the deadline is lab time


def test_error_replies_carry_the_actuators_words(lab, serve, make):
    core, valve = make()
    with pytest.raises(ViciError) as err:
        valve.query("XY")
    assert err.value.code == 1 and err.value.reply == "E1 XY Unknown command"
    with pytest.raises(ViciError) as err:
        valve.query("NP")  # no port count with hard stops (mode 1)
    assert err.value.code == 2 and err.value.reply == "E2 NP Invalid"
    with pytest.raises(ViciError) as err:
        valve.query("GOC")
    assert err.value.code == 2
    assert valve.version().endswith("UA_MAIN_CT")


def test_unknown_position_is_refused_before_anything_is_sent(expected):
    url, core = expected([(b"IFM1\r", b""), (b"LG0\r", b""), (b"IFM\r", b"IFM1\r")])
    from labctl.sim.clock import SimClock

    valve = ViciActuator(url, clock=SimClock(), name="v")
    with pytest.raises(ValueError, match="'A' or 'B'"):
        valve.move("C")
    assert core.written == b"IFM1\rLG0\rIFM\r"


def test_silent_actuator_times_out(lab, serve, make):
    core, valve = make(timeout=0.1)
    core.inject("silent")
    with pytest.raises(InstrumentTimeout):
        valve.position()


def test_garbage_is_a_protocol_error(lab, serve, make):
    core, valve = make(timeout=0.1)
    core.inject("garbage")
    with pytest.raises(ProtocolError):
        valve.position()


def test_dropped_connection(lab, serve, make):
    core, valve = make(timeout=0.1)
    core.inject("disconnected")
    # A pty has no way to tell a pulled cable from a quiet instrument: silence there.
    with pytest.raises(InstrumentTimeout if serve.kind == "pty" else ConnectionLost):
        valve.position()


def test_bytes_on_the_wire(expected):
    from labctl.sim.clock import SimClock

    url, core = expected([
        (b"5IFM0\r", b""), (b"5LG0\r", b""), (b"5IFM\r", b"5IFM0\r"),
        (b"5CP\r", b"5CPA\r"),
        (b"5GOB\r", b""), (b"5CP\r", b"5CPA\r"), (b"5CP\r", b"5CPB\r"),
        (b"5VR\r", b"5Dec 15 2011\r515:02:20\r5UA_MAIN_CT\r"),
    ])
    clock = SimClock(start=0.0)
    valve = ViciActuator(url, clock=clock, name="v", address=5, interface_mode=0, poll_s=0.1)
    assert valve.position() == "A"
    assert valve.move("B") == "B"
    assert clock.now() == pytest.approx(0.1)  # one lab-time poll interval between the two CP
    assert valve.version() == "Dec 15 2011 15:02:20 UA_MAIN_CT"


def test_acknowledged_move_must_name_the_target(expected):
    from labctl.sim.clock import SimClock

    url, core = expected([(b"IFM1\r", b""), (b"LG0\r", b""), (b"IFM\r", b"IFM1\r"), (b"GOB\r", b"CPA\r")])
    valve = ViciActuator(url, clock=SimClock(), name="v")
    with pytest.raises(ProtocolError, match="acknowledged A"):
        valve.move("B")


def test_reply_from_the_wrong_actuator_is_refused(expected):
    from labctl.sim.clock import SimClock

    url, core = expected([(b"2IFM1\r", b""), (b"2LG0\r", b""), (b"2IFM\r", b"3IFM1\r")])
    with pytest.raises(ProtocolError, match="actuator ID 2"):
        ViciActuator(url, clock=SimClock(), name="v", address="2")
