"""NE-1000 driver against its simulator on every front end, and the exact bytes on the wire."""

from __future__ import annotations

import pytest

from labctl.devices.errors import ConnectionLost, InstrumentTimeout, LimitError, ProtocolError
from labctl.devices.syringe_pump.device import SyringePump
from labctl.devices.syringe_pump.errors import (
    CommandIgnored,
    CommunicationError,
    NotApplicable,
    OutOfRange,
    PhaseOutOfRange,
    ProgramError,
    PumpReset,
    PumpStalled,
    SafeModeTimeout,
    UnknownCommand,
)
from labctl.devices.syringe_pump.newera import NewEraPump, best_units, format_number, frame_safe
from labctl.sim.serial.newera import NE1000

OK = b"\x0200S\x03"


@pytest.fixture
def make(lab, serve, closing):
    """Build a simulator served on the front end and a driver connected to it (closed at teardown)."""

    def build(*, timeout=0.3, safe_mode_timeout_s=0, address=0, **options):
        options = {"syringe_diameter_mm": 4.78, "syringe_volume_uL": 1000.0, "contents": "electrolyte",
                   "feeds": "liquid", **options}
        core = NE1000("pump", lab.world, address=address, **options)
        url = serve(core)
        pump = closing(NewEraPump(url, address=address, clock=lab.clock, name="pump", timeout=timeout,
                          safe_mode_timeout_s=safe_mode_timeout_s))
        return core, pump, url

    return build


def test_paper_rates_dispense_into_the_world(lab, serve, make):
    core, pump, _ = make()
    assert (pump.model, pump.firmware) == ("NE-1000", "3.928")
    assert pump.diameter() == 4.78
    pump.set_rate(240)
    assert pump.rate() == 240 and pump.direction() == "infuse" and pump.status() == "stopped"
    pump.run()
    assert pump.running() and pump.status() == "infusing"
    lab.clock.advance(40 * 60)
    pump.set_rate(120)  # a rate change takes effect while running
    lab.clock.advance(20 * 60)
    infused, withdrawn = pump.dispensed()
    assert infused == pytest.approx(200.0, abs=0.01) and withdrawn == 0
    assert core.pump.infused_uL == pytest.approx(200.0, abs=1e-6)
    pump.stop()
    assert pump.status() == "stopped" and not core.pump.running


def test_target_volume_direction_and_clear(lab, serve, make):
    core, pump, _ = make()
    pump.set_rate(600)
    pump.set_target_volume(25)
    assert pump.target_volume() == 25
    pump.run()
    lab.clock.advance(3600)
    assert pump.status() == "stopped" and pump.dispensed()[0] == pytest.approx(25, abs=0.01)
    pump.set_direction("withdraw")
    assert pump.direction() == "withdraw"
    pump.set_target_volume(0)
    pump.run()
    assert pump.status() == "withdrawing"
    lab.clock.advance(60)
    pump.stop()
    assert pump.dispensed() == (pytest.approx(25, abs=0.01), pytest.approx(10, abs=0.01))
    pump.clear_dispensed()
    assert pump.dispensed() == (0, 0)


def test_small_rates_keep_their_precision(lab, serve, make):
    _, pump, _ = make()
    for rate in (0.731, 1.5, 120, 7654.3, 45000):
        pump.set_rate(rate)
        assert pump.rate() == pytest.approx(rate, rel=2e-4)


def test_error_replies_carry_the_pumps_words(lab, serve, make):
    _, pump, _ = make()
    with pytest.raises(UnknownCommand) as err:
        pump.command("XYZ")
    assert err.value.reply == "00S?"
    with pytest.raises(OutOfRange, match=r"\?OOR"):
        pump.set_rate(1e6)  # beyond what a 4.78 mm syringe can do
    pump.set_rate(100)
    pump.run()
    with pytest.raises(NotApplicable, match=r"\?NA"):
        pump.set_diameter(10)
    with pytest.raises(CommandIgnored, match=r"\?IGN"):
        pump.run()
    pump.stop()


def test_alarms(lab, serve, make):
    core, pump, _ = make()
    with pytest.raises(ProgramError, match=r"A\?E"):
        pump.run()  # nothing programmed
    pump.set_rate(100)
    with pytest.raises(PhaseOutOfRange, match=r"A\?O"):
        pump.command("RUN2")
    core.power_cycle()
    with pytest.raises(PumpReset, match=r"A\?R"):
        pump.status()
    assert pump.status() == "stopped"  # reported once
    pump.run()
    lab.world.inject_fault("pump", "stall")
    lab.clock.advance(10)
    with pytest.raises(PumpStalled, match=r"A\?S"):
        pump.status()
    assert not core.pump.running


def test_stall_when_the_syringe_runs_empty(lab, serve, make):
    core, pump, _ = make(syringe_volume_uL=100.0)
    pump.set_rate(1000)
    pump.run()
    lab.clock.advance(3600)
    with pytest.raises(PumpStalled):
        pump.running()
    assert pump.dispensed()[0] == pytest.approx(100, abs=0.01)


def test_safe_mode_watchdog(lab, serve, closing, make):
    core, pump, url = make(safe_mode_timeout_s=4)
    assert pump.safe_mode_timeout() == 4 and core.safe_timeout_s == 4
    pump.set_rate(360)
    pump.run()
    lab.clock.advance(120)  # the driver's heartbeat on the lab clock keeps the pump going
    assert pump.status() == "infusing"
    pump.close()            # the host goes away while the pump runs
    lab.clock.advance(30)
    assert not core.pump.running
    assert core.pump.infused_uL == pytest.approx(360 * 124 / 3600, abs=0.11)
    with pytest.raises(SafeModeTimeout, match=r"A\?T"):
        NewEraPump(url, clock=lab.clock, name="pump", timeout=0.3, safe_mode_timeout_s=4)
    again = closing(NewEraPump(url, clock=lab.clock, name="pump", timeout=0.3))
    assert again.status() == "stopped" and core.safe_timeout_s == 0


@pytest.mark.parametrize("cause", ["runs empty", "stall"])
def test_safe_mode_keeps_the_alarm_its_keep_alive_poll_meets(lab, serve, cause, make):
    """The pump reports an alarm once; when the watchdog poll is the command that meets it, the next
    command (and the device's readback) must still raise it."""
    core, driver, _ = make(safe_mode_timeout_s=4, syringe_volume_uL=100.0)
    pump = SyringePump(driver, name="pump")

    def pump_until_it_stalls():
        lab.world.clear_fault("pump")
        core.pump.refill("electrolyte", 100.0)
        pump.set(1000)
        if cause == "stall":
            lab.world.inject_fault("pump", "stall")
        lab.clock.advance(3600)  # hundreds of polls after the pump stopped
        assert not core.pump.running and core.alarm is None  # a poll took the pump's one report

    pump_until_it_stalls()
    assert isinstance(driver.alarm, PumpStalled)
    with pytest.raises(PumpStalled, match=r"keep-alive poll; '' not sent.*A\?S"):
        driver.running()
    assert driver.status() == "stopped"  # raised once

    pump_until_it_stalls()
    with pytest.raises(PumpStalled):
        pump.read()
    assert pump.running.get() is False


@pytest.mark.parametrize("safe_mode_timeout_s", [0, 4])
def test_stop_after_a_stall_stops_and_keeps_the_alarm(lab, serve, safe_mode_timeout_s, caplog, make):
    """A plan's cleanup (stop the pump, then seal the valve) must not be cut short by the alarm."""
    core, driver, _ = make(safe_mode_timeout_s=safe_mode_timeout_s, syringe_volume_uL=100.0)
    pump = SyringePump(driver, name="pump")
    pump.set(1000)
    lab.clock.advance(3600)
    pump.stop()   # meets the alarm (basic mode) or finds it kept by the poll (safe mode): either way, returns
    pump.safe()
    assert core.state == "stopped" and not core.pump.running
    assert "PumpStalled" in caplog.text
    with pytest.raises(PumpStalled):  # the plan still learns, once
        pump.status.get()
    assert pump.status.get() == "stopped"


def test_bytes_of_a_stop_that_meets_an_alarm(expected, closing):
    url, _ = expected([
        (frame_safe("0SAF0"), OK), (b"0VER\r", b"\x0200SNE1000V3.928\x03"),
        (b"0STP\r", b"\x0200A?S\x03"),   # the alarm replaced the reply: STP was not executed
        (b"0STP\r", OK),                   # so it goes out again
        (b"0\r", OK),
    ])
    pump = closing(NewEraPump(url, name="pump", timeout=0.1))
    pump.stop()
    with pytest.raises(PumpStalled, match=r"reported to STP; '' not sent"):
        pump.status()   # raised without sending anything
    assert pump.status() == "stopped"


def test_other_addresses_are_other_pumps(lab, serve, make):
    core, pump, url = make(address=7)
    assert pump.status() == "stopped"
    with pytest.raises(InstrumentTimeout):
        NewEraPump(url, address=8, clock=lab.clock, name="pump", timeout=0.1)


def test_silent_pump_times_out(lab, serve, make):
    core, pump, _ = make(timeout=0.1)
    core.inject("silent")
    with pytest.raises(InstrumentTimeout):
        pump.status()


def test_garbage_is_a_protocol_error(lab, serve, make):
    core, pump, _ = make(timeout=0.1)
    core.inject("garbage")
    with pytest.raises(ProtocolError):
        pump.rate()
    core.inject(None)
    assert pump.status() == "stopped"


def test_dropped_connection(lab, serve, make):
    core, pump, _ = make(timeout=0.1)
    core.inject("disconnected")
    with pytest.raises(InstrumentTimeout if serve.kind == "pty" else ConnectionLost):
        pump.status()


# -- bytes on the wire -----------------------------------------------------------------------------
def test_bytes_of_the_opening_and_commands(expected, closing):
    url, _ = expected([
        (b"\x02\x09" + b"0SAF0" + b"\x59\xad\x03", b"\x0200A?R\x03"),   # power-on alarm: sent again
        (frame_safe("0SAF0"), OK),
        (b"0VER\r", b"\x0200SNE1000V3.928\x03"),
        (b"0DIA4.78\r", OK),
        (b"0RAT120UH\r", OK),
        (b"0RAT205.8UM\r", OK),
        (b"0RAT", None), (b"\r", b"\x0200S205.8UM\x03"),
        (b"0VOLUL\r", OK), (b"0VOL500\r", OK),
        (b"0DIRWDR\r", OK),
        (b"0RUN\r", b"\x0200W\x03"),
        (b"0\r", b"\x0200W\x03"),
        (b"0DIS\r", b"\x0200WI0.000W12.50UL\x03"),
        (b"0STP\r", b"\x0200P\x03"), (b"0STP\r", OK),
        (b"0CLDINF\r", OK), (b"0CLDWDR\r", OK),
    ])
    pump = closing(NewEraPump(url, name="pump", timeout=0.1))
    pump.set_diameter(4.78)
    pump.set_rate(120)
    pump.set_rate(12345)
    assert pump.rate() == pytest.approx(12348)
    pump.set_target_volume(500)
    pump.set_direction("withdraw")
    pump.run()
    assert pump.running()
    assert pump.dispensed() == (0.0, 12.5)
    pump.stop()
    pump.clear_dispensed()


def test_safe_mode_frames_both_ways(expected):
    def reply(text):
        return frame_safe(text)

    url, _ = expected([
        (frame_safe("3SAF10"), reply("03S")),
        (frame_safe("3VER"), reply("03SNE1000V3.928")),
        (frame_safe("3"), reply("03I")),
    ])
    from labctl.sim.clock import SimClock

    pump = NewEraPump(url, address=3, clock=SimClock(start=0.0), name="pump", timeout=0.1, safe_mode_timeout_s=10)
    assert pump.status() == "infusing"
    pump.close()
    assert frame_safe("SAF0")[-3:-1] == b"\x55\x43"  # the CRC the manual quotes


@pytest.mark.parametrize("reply, error", [
    (b"\x0200S?\x03", UnknownCommand), (b"\x0200S?NA\x03", NotApplicable), (b"\x0200S?OOR\x03", OutOfRange),
    (b"\x0200S?COM\x03", CommunicationError), (b"\x0200S?IGN\x03", CommandIgnored),
    (b"\x0200A?R\x03", PumpReset), (b"\x0200A?S\x03", PumpStalled), (b"\x0200A?T\x03", SafeModeTimeout),
    (b"\x0200A?E\x03", ProgramError), (b"\x0200A?O\x03", PhaseOutOfRange),
    (b"\x0200Q\x03", ProtocolError), (b"\x0201S\x03", ProtocolError), (b"\x0200S?XYZ\x03", ProtocolError),
])
def test_every_error_and_alarm_is_typed(expected, reply, error, closing):
    url, _ = expected([(frame_safe("0SAF0"), OK), (b"0VER\r", b"\x0200SNE1000V3.928\x03"), (b"0\r", reply)])
    pump = closing(NewEraPump(url, name="pump", timeout=0.1))
    with pytest.raises(error) as err:
        pump.status()
    assert err.value.reply


def test_simulator_bytes_for_a_corrupted_packet(lab):
    core = NE1000("pump", lab.world, syringe_diameter_mm=4.78, power_on_alarm=False)
    bad = bytearray(frame_safe("0RAT10UH"))
    bad[-2] ^= 0xFF
    assert core.feed(bytes(bad)) == b"\x0200S?COM\x03"
    assert core.feed(b"0RAT10UH\r0RAT\r") == OK + b"\x0200S10.00UH\x03"
    assert core.feed(b"0RAT12345UH\r") == b"\x0200S?OOR\x03"   # five digits
    assert core.feed(b"0DIA15\r0VOL\r") == OK + b"\x0200S0.000ML\x03"   # volume units follow the diameter


def test_number_rules():
    assert format_number(120) == "120" and format_number(0.5) == "0.5" and format_number(1234.5) == "1234"
    assert best_units(120, {"UH": 1, "UM": 60}) == ("120", "UH")
    assert best_units(45000, {"UH": 1.0, "UM": 60.0, "MH": 1000.0, "MM": 60000.0}) == ("750", "UM")
    with pytest.raises(LimitError):
        format_number(12345)
    with pytest.raises(LimitError):
        NewEraPump("sim://nowhere", address=100)
