"""PHD ULTRA driver against its simulator on every front end, and the exact bytes on the wire."""

from __future__ import annotations

import pytest

from labctl.devices.errors import ConnectionLost, InstrumentTimeout, LimitError, ProtocolError
from labctl.devices.syringe_pump.errors import (
    ArgumentError,
    NotApplicable,
    OutOfRange,
    PumpReset,
    PumpStalled,
    UnknownCommand,
)
from labctl.devices.syringe_pump.harvard import HarvardPump
from labctl.sim.serial.harvard import PhdUltra


@pytest.fixture
def make(lab, serve, closing):
    """Build a simulator served on the front end and a driver connected to it (closed at teardown)."""

    def build(*, timeout=0.3, address=0, **options):
        options = {"syringe_diameter_mm": 3.26, "syringe_volume_uL": 500.0, "contents": "D2O", "feeds": "titration",
                   **options}
        core = PhdUltra("d2o_pump", lab.world, address=address, **options)
        pump = closing(HarvardPump(serve(core), address=address, clock=lab.clock, name="d2o_pump", timeout=timeout))
        return core, pump

    return build


@pytest.mark.parametrize("address", [0, 12])
def test_infuse_to_target_then_withdraw(lab, serve, address, make):
    core, pump = make(address=address)
    assert pump.model == "PHD ULTRA 3.0.4" and pump.diameter() == 3.26
    pump.set_rate(1200)
    pump.set_target_volume(50)
    assert pump.rate() == 1200 and pump.target_volume() == 50
    pump.run()
    assert pump.status() == "infusing"
    lab.clock.advance(3600)
    assert pump.status() == "target reached" and not pump.running()
    assert pump.dispensed() == (pytest.approx(50), 0)
    assert core.pump.infused_uL == pytest.approx(50)
    pump.set_target_volume(0)
    pump.set_direction("withdraw")
    pump.set_rate(0.5)
    assert pump.rate() == 0.5
    pump.run()
    assert pump.status() == "withdrawing" and pump.direction() == "withdraw"
    lab.clock.advance(7200)
    pump.stop()
    assert pump.dispensed() == (pytest.approx(50), pytest.approx(1.0))
    pump.clear_dispensed()
    assert pump.dispensed() == (0, 0)


def test_error_lines_carry_the_pumps_words(lab, serve, make):
    _, pump = make()
    with pytest.raises(UnknownCommand, match="Unknown command"):
        pump.command("frobnicate")
    with pytest.raises(ArgumentError, match="Argument error"):
        pump.command("irate fast")
    with pytest.raises(OutOfRange, match="Out of range"):
        pump.set_rate(1e9)
    pump.set_rate(100)
    pump.run()
    with pytest.raises(NotApplicable, match="Command error"):
        pump.set_diameter(10)
    pump.stop()


def test_stall_is_an_alarm_until_stopped(lab, serve, make):
    core, pump = make(syringe_volume_uL=10.0)
    pump.set_rate(600)
    pump.run()
    lab.clock.advance(3600)
    with pytest.raises(PumpStalled, match=r"'\*'"):
        pump.status()
    assert core.pump.infused_uL == pytest.approx(10)
    pump.stop()  # acknowledges the stall
    assert pump.status() == "idle"
    lab.world.inject_fault("d2o_pump", "stall")
    with pytest.raises(PumpStalled):
        pump.run()
        lab.clock.advance(5)
        pump.status()


def test_a_pump_that_comes_back_idle_from_a_power_cut_is_a_reset_not_a_stop(lab, serve, make):
    core, pump = make()
    pump.set_rate(600)
    pump.set_target_volume(300)
    pump.run()
    lab.clock.advance(300)
    pump.stop()
    assert pump.status() == "idle"          # a stop labctl asked for is no fault
    pump.run()
    lab.clock.advance(300)
    assert pump.running()
    core.power_cycle()                      # no alarm: the prompt only says idle
    with pytest.raises(PumpReset, match=r"^d2o_pump: stopped infusing after 100 uL of its 300 uL target and came "
                                        r"back with its rate at 0 uL/h, not the 600 uL/h set: the power was "
                                        r"interrupted"):
        pump.status()
    assert pump.status() == "idle"          # said once; labctl stops it and sets it up again
    assert pump.rate() == 0 and pump.target_volume() == 0
    pump.set_rate(600)
    pump.set_target_volume(300)
    pump.run()
    lab.clock.advance(3600)
    assert pump.status() == "target reached" and not pump.running()   # a target reached is no fault either
    assert pump.dispensed()[0] == pytest.approx(300)


def test_silent_pump_times_out(lab, serve, make):
    core, pump = make(timeout=0.1)
    core.inject("silent")
    with pytest.raises(InstrumentTimeout):
        pump.status()


def test_garbage_is_a_protocol_error(lab, serve, make):
    core, pump = make(timeout=0.1)
    core.inject("garbage")
    with pytest.raises(ProtocolError):
        pump.rate()
    core.inject(None)
    assert pump.status() == "idle"


def test_dropped_connection(lab, serve, make):
    core, pump = make(timeout=0.1)
    core.inject("disconnected")
    with pytest.raises(InstrumentTimeout if serve.kind == "pty" else ConnectionLost):
        pump.status()


def test_bytes_on_the_wire(expected, closing):
    url, _ = expected([
        (b"7:ver\r", b"\r\nPHD ULTRA 3.0.4\r\n07:"),
        (b"7:diameter 3.26\r", b"\r\n07:"),
        (b"7:irate 120 ul/h\r", b"\r\n07:"),
        (b"7:irate 500 nl/h\r", b"\r\n07:"),
        (b"7:irate\r", b"\r\n0.5 ul/min\r\n07:"),
        (b"7:tvolume 100 ul\r", b"\r\n07:"),
        (b"7:tvolume\r", b"\r\nTarget volume not set\r\n07:"),
        (b"7:irun\r", b"\r\n07>"),
        (b"7:\r", b"\r\n07T*"),
        (b"7:ivolume\r", b"\r\n1.5 ml\r\n07T*"), (b"7:wvolume\r", b"\r\n0 ul\r\n07T*"),
        (b"7:stp\r", b"\r\n07*"),
        (b"7:ctvolume\r", b"\r\nOut of range\r\n07:"),
        (b"7:\r", b"\r\n07*"),
        (b"7:\r", b"\x15\r\n07:"),
    ])
    pump = closing(HarvardPump(url, address=7, name="pump", timeout=0.1))
    pump.set_diameter(3.26)
    pump.set_rate(120)
    pump.set_rate(0.5)
    assert pump.rate() == pytest.approx(30.0)
    pump.set_target_volume(100)
    assert pump.target_volume() == 0
    pump.run()
    assert pump.status() == "target reached"
    assert pump.dispensed() == (1500.0, 0.0)
    pump.stop()  # a stall prompt after stp is the acknowledgement, not an error
    with pytest.raises(OutOfRange) as err:
        pump.set_target_volume(0)
    assert err.value.reply == "Out of range"
    with pytest.raises(PumpStalled):
        pump.status()
    with pytest.raises(ProtocolError):
        pump.status()


def test_simulator_prompts_and_abbreviations(lab):
    core = PhdUltra("d2o_pump", lab.world, address=3, syringe_diameter_mm=3.26)
    assert core.feed(b"3:irat 2 ul/min\r") == b"\r\n03:"
    assert core.feed(b"3:irate\r\n") == b"\r\n2 ul/min\r\n03:"
    assert core.feed(b"4:irate\r") == b""  # another pump on the chain
    assert core.feed(b"3:diam\r") == b"\r\n3.2600 mm\r\n03:"
    assert core.feed(b"3:irun\r") == b"\r\n03>"
    assert core.feed(b"3:stp\r3:ver 2\r") == b"\r\n03:\r\nArgument error\r\n03:"


def test_bad_settings_are_refused_before_the_wire():
    with pytest.raises(LimitError):
        HarvardPump("sim://nowhere", address=100)
    with pytest.raises(LimitError):
        HarvardPump("sim://nowhere", baudrate=1234)


def test_pyserial_client_over_a_pty(lab):
    """A plain pyserial client sends the Ultra command set, as in the pump's manual, over a pty; the world
    syringe moves rate x time."""
    import serial

    from labctl.sim.serial.serve import PtyServer

    core = PhdUltra("d2o_pump", lab.world, syringe_diameter_mm=4.78, syringe_volume_uL=1000.0)
    with PtyServer(core) as pty:
        with serial.Serial(pty.path, 115200, bytesize=8, parity="N", stopbits=2, timeout=1) as port:
            def ask(command: str, prompt: bytes) -> bytes:
                port.write(command.encode("ascii") + b"\r")
                reply = port.read_until(prompt)
                assert reply.startswith(b"\r\n") and reply.endswith(prompt), reply
                return reply

            assert ask("ver", b":") == b"\r\nPHD ULTRA 3.0.4\r\n:"
            ask("diameter 4.78", b":")
            ask("irate 120 ul/h", b":")
            ask("tvolume 0.5 ml", b":")
            assert ask("irat", b":") == b"\r\n120 ul/h\r\n:"        # four letters are enough
            ask("irun", b">")
            lab.clock.advance(1800)                                  # half an hour at 120 uL/h
            assert ask("ivolume", b">") == b"\r\n60 ul\r\n>"
            ask("stp", b":")
            lab.clock.advance(600)                                   # stopped: nothing more moves
            assert ask("ivolume", b":") == b"\r\n60 ul\r\n:"
    assert lab.world.pump("d2o_pump").infused_uL == pytest.approx(120 * 1800 / 3600)
