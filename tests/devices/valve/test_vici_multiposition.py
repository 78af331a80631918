"""The VICI multiposition (stream selector) driver against its simulator on every front end, and the exact bytes
it sends."""

from __future__ import annotations

import pytest

from labctl.devices.errors import InstrumentError, InstrumentTimeout, ProtocolError
from labctl.devices.valve import ValveStuck, ViciActuator, ViciSelectorActuator
from labctl.sim.clock import SimClock
from labctl.sim.serial.vici import ViciSelector, ViciValve

CONNECT = [(b"IFM1\r", b""), (b"LG0\r", b""), (b"IFM\r", b"IFM1\r"), (b"AM\r", b"AM3\r"), (b"NP\r", b"NP4\r")]


@pytest.fixture
def make(lab, serve, closing):
    """A selector simulator (4 ports) served on the front end and a driver connected to it."""

    def build(name="ms_selector", timeout=0.3, positions=4, **options):
        core = ViciSelector(name, lab.world, positions=4, address=options.get("address"))
        driver = closing(ViciSelectorActuator(serve(core), clock=lab.clock, name=name, timeout=timeout,
                                              positions=positions, **options))
        return core, driver

    return build


def test_connection_checks_mode_and_port_count_on_the_wire(expected):
    url, core = expected(CONNECT)
    ViciSelectorActuator(url, clock=SimClock(), name="ms_selector", positions=4).close()
    assert core.written == b"IFM1\rLG0\rIFM\rAM\rNP\r"


def test_move_sends_two_digit_port_and_polls_cp_until_it_reads_back(expected):
    url, core = expected([*CONNECT, (b"GO03\r", b"CP 03\r"), (b"CP\r", b"CP 01\r"), (b"CP\r", b"CP 03\r"),
                          (b"HM\r", b"CP 01\r"), (b"CP\r", b"CP 01\r")])
    clock = SimClock()
    selector = ViciSelectorActuator(url, clock=clock, name="ms_selector", positions=4, poll_s=0.05)
    t0 = clock.now()
    assert selector.move(3) == 3
    assert clock.now() - t0 == pytest.approx(0.05)   # one poll's pause, in lab time
    assert selector.home() == 1
    selector.close()


def test_port_outside_the_valve_is_refused_before_anything_is_sent(expected):
    url, core = expected(CONNECT)
    selector = ViciSelectorActuator(url, clock=SimClock(), name="ms_selector", positions=4)
    for bad in (0, 5, "3", True):
        with pytest.raises(ValueError, match="ms_selector: port must be 1-4"):
            selector.move(bad)
    assert core.written == b"IFM1\rLG0\rIFM\rAM\rNP\r"
    selector.close()


def test_move_is_confirmed_by_reading_back_after_lab_time(lab, make):
    core, selector = make()
    rotor = lab.world.selector("ms_selector")
    assert selector.position() == 1 == rotor.position
    assert selector.position_count() == 4
    t0 = lab.clock.now()
    assert selector.move(3) == 3 == rotor.position
    assert lab.clock.now() - t0 >= 2 * rotor.step_time_s    # two ports passed, waited in lab time
    assert selector.move(4) == 4 and selector.home() == 1 and rotor.position == 1
    assert selector.counter() == 3


def test_stuck_rotor_fails_the_move_with_a_typed_error_naming_the_instrument(lab, make):
    core, selector = make()
    lab.world.inject_fault("ms_selector", "stuck")
    with pytest.raises(ValveStuck) as err:
        selector.move(2)
    assert isinstance(err.value, InstrumentError) and err.value.instrument == "ms_selector"
    assert err.value.code == 3 and "GO02" in err.value.reply
    assert lab.world.selector("ms_selector").position == 1


def test_move_deadline_is_lab_time_when_no_stall_is_reported(lab, make):
    core, selector = make(move_timeout_s=0.5)
    core.stall_time_s = 1e9
    lab.world.inject_fault("ms_selector", "stuck")
    t0 = lab.clock.now()
    with pytest.raises(ValveStuck, match="ms_selector: selector still at port 1"):
        selector.move(4)
    assert 0.5 <= lab.clock.now() - t0 < 0.6


def test_power_cycle_mid_move_leaves_the_rotor_at_the_port_it_left(lab, make):
    core, selector = make()
    selector.start_move(3)
    core.power_cycle()
    lab.clock.advance(1.0)
    assert selector.position() == 1 == lab.world.selector("ms_selector").position
    assert selector.move(3) == 3     # the controller is back: the next move arrives


def test_addressed_selector_answers_only_with_its_id(lab, make):
    core, selector = make(address="5")
    assert selector.move(2) == 2 and lab.world.selector("ms_selector").position == 2


def test_port_count_must_match_the_profile(lab, serve):
    core = ViciSelector("ms_selector", lab.world, positions=4)
    with pytest.raises(InstrumentError, match="set for 4 positions .* the profile says 6"):
        ViciSelectorActuator(serve(core), clock=lab.clock, name="ms_selector", positions=6, timeout=0.3)


def test_a_two_position_actuator_is_not_taken_for_a_selector(lab, serve):
    core = ViciValve("ms_selector", lab.world)
    with pytest.raises(InstrumentError, match=r"mode AM1, not multiposition \(AM3\)"):
        ViciSelectorActuator(serve(core), clock=lab.clock, name="ms_selector", positions=4, timeout=0.3)


def test_two_position_replies_are_unchanged(lab, serve, closing):
    core = ViciValve("dems_valve", lab.world)
    valve = closing(ViciActuator(serve(core), clock=lab.clock, name="dems_valve", timeout=0.3))
    assert valve.query("CP") == "CPA"
    assert valve.move("B") == "B"


def test_firmware_refuses_two_position_commands_in_multiposition_mode(lab, make):
    core, selector = make()
    for command in ("GOA", "TO", "GO5", "GO00", "HM2"):
        with pytest.raises(InstrumentError) as err:
            selector.query(command)
        assert err.value.reply == f"E2 {command} Invalid"


def test_garbled_cp_reply_is_a_protocol_error(expected):
    url, core = expected([*CONNECT, (b"CP\r", b"CPX\r")])
    selector = ViciSelectorActuator(url, clock=SimClock(), name="ms_selector", positions=4)
    with pytest.raises(ProtocolError, match="ms_selector"):
        selector.position()
    selector.close()


def test_silent_line_times_out_naming_the_instrument(lab, make):
    core, selector = make(timeout=0.1)
    core.inject("silent")
    with pytest.raises(InstrumentTimeout) as err:
        selector.position()
    assert err.value.instrument == "ms_selector"
