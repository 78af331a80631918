"""The SRS RGA driver against its simulator on every front end (sim://, TCP, pseudo-terminal)."""

from __future__ import annotations

import pytest

from labctl.devices.errors import ConnectionLost, InstrumentTimeout, ProtocolError
from labctl.devices.mass_spectrometer.srs import (
    CommunicationError,
    ElectrometerError,
    FilamentError,
    MassFilterError,
    MultiplierError,
    PowerSupplyError,
    SrsRga,
)
from labctl.sim.serial.srs import RGA


@pytest.fixture
def rga(rga_core, serve):
    driver = SrsRga(serve(rga_core), name="rga", timeout=0.2, slow_timeout=0.2)
    yield driver
    driver.close()


def test_identify(rga):
    assert rga.identify().model == "SRSRGA200"
    assert rga.max_mass == 200


def test_filament_multiplier_and_noise_floor_reach_the_world(lab, rga):
    head = lab.world.mass_spec("ms")
    rga.filament_on(1.0)
    assert head.emission_mA == 1.0 and rga.emission_mA() == 1.0
    rga.multiplier_on()
    assert head.multiplier_V == 1400 and rga.multiplier_V() == 1400
    assert rga.stored_multiplier() == (1400, 1000.0)
    rga.set_noise_floor(5)
    assert head.noise_floor == 5 and rga.noise_floor() == 5
    rga.multiplier_off()
    rga.filament_off()
    assert head.emission_mA == 0 and head.multiplier_V == 0


def test_ion_cycle_and_total_pressure_follow_the_world(lab, rga):
    head = lab.world.mass_spec("ms")
    rga.filament_on(1.0)
    lab.clock.advance(60)
    currents = rga.ion_currents([40, 44, 4])
    assert currents[40] == pytest.approx(head.ion_current(40), rel=1e-6)
    assert currents[40] > 1e3 * abs(currents[4])
    assert rga.total_pressure() == pytest.approx(head.total_pressure(), rel=1e-4)


def test_histogram_scan(rga):
    rga.filament_on(1.0)
    rga.set_scan(1, 50)
    masses, currents, total = rga.histogram_scan()
    assert masses == list(range(1, 51)) and len(currents) == 50
    assert masses[currents.index(max(currents))] == 40
    assert total > 0


def test_burnt_filament(lab, rga):
    rga.filament_on(1.0)
    lab.world.inject_fault("ms", "filament_burned")
    with pytest.raises(FilamentError, match="No filament detected"):
        rga.ion_currents([40])
    with pytest.raises(FilamentError, match="No filament detected"):
        rga.filament_on(1.0)


def test_vented_chamber_trips_the_filament(lab, rga, monkeypatch):
    head = lab.world.mass_spec("ms")
    monkeypatch.setattr(type(head), "total_pressure", lambda self: 1e-3)
    with pytest.raises(FilamentError, match="Vacuum chamber pressure too high") as err:
        rga.filament_on(1.0)
    assert err.value.codes == ["FL5"]
    assert head.emission_mA == 0


def test_head_without_multiplier(lab, serve):
    rga = SrsRga(serve(RGA("ms", lab.world, cdem=False)), timeout=0.2, slow_timeout=0.2)
    with pytest.raises(MultiplierError, match="No electron multiplier option installed"):
        rga.multiplier_on()


def test_instrument_refuses_a_parameter(rga):
    with pytest.raises(CommunicationError, match="Bad parameter received"):
        rga.set_parameter("NF9")
    with pytest.raises(CommunicationError, match="Bad command received"):
        rga.set_parameter("QQ1")
    rga.check()  # reading EC? cleared the error


@pytest.mark.parametrize("code, error, words", [
    ("PS7", PowerSupplyError, "24 V supply above 26 V"),
    ("DET6", ElectrometerError, "DETECT fails to read \\+5 nA"),
    ("RF6", MassFilterError, "RF primary current exceeds 2.0 A"),
    ("FL6", FilamentError, "Unable to set the requested emission current"),
])
def test_hardware_errors_become_typed_exceptions(rga_core, rga, code, error, words):
    rga_core.fail(code)
    with pytest.raises(error, match=words) as err:
        rga.filament_on(1.0) if code == "FL6" else rga.check()
    assert err.value.codes == [code]


def test_silent_instrument_times_out(rga_core, rga):
    rga_core.inject("silent")
    with pytest.raises(InstrumentTimeout):
        rga.identify()
    with pytest.raises(InstrumentTimeout):
        rga.ion_current(40)
    rga_core.inject(None)
    assert rga.identify().model == "SRSRGA200"


def test_garbage_is_a_protocol_error(rga_core, rga):
    rga.identify()
    rga_core.inject("garbage")
    with pytest.raises(ProtocolError):
        rga.identify()
    with pytest.raises(ProtocolError):
        rga.ion_currents([40, 44])  # the closing status byte exposes the noise


def test_dropped_connection(front_end, rga_core, rga):
    rga_core.inject("disconnected")
    # A pseudo-terminal cannot signal a pulled cable: the line just goes quiet.
    with pytest.raises(InstrumentTimeout if front_end == "pty" else ConnectionLost):
        rga.identify()


def test_a_silent_in_process_instrument_fails_at_once_even_for_slow_commands(lab):
    """An in-process port knows at once that no reply is coming: the driver gives up after one read
    instead of polling out its 30 s allowance for emission settling."""
    from labctl.sim.serial import install_url_handler, register, unregister

    core = RGA("ms", lab.world)
    install_url_handler()
    register("silent-rga", core)
    try:
        rga = SrsRga("sim://silent-rga")  # default 30 s allowance for emission settling
        assert rga.slow_timeout == 30.0
        core.inject("silent")
        line = rga.port._serial
        reads, writes = [], []
        read, write = line.read, line.write
        line.read = lambda size=1: reads.append(size) or read(size)
        line.write = lambda data: writes.append(bytes(data)) or write(data)
        with pytest.raises(InstrumentTimeout):
            rga.filament_on(1.0)
        assert writes == [b"FL1.00\r"]
        assert len(reads) == 1
        rga.close()
    finally:
        unregister("silent-rga")
