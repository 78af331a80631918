"""The exact bytes the SRS RGA driver puts on the wire, and how it reads the replies."""

from __future__ import annotations

import struct

import pytest

from labctl.devices.errors import LimitError, ProtocolError
from labctl.devices.mass_spectrometer.srs import CommunicationError, FilamentError, MultiplierError, SrsRga

ID = (b"ID?\r", b"SRSRGA200VER0.24SN19164\n\r")


def test_identify_parses_model_and_mass_range(expected):
    url, _ = expected([ID])
    rga = SrsRga(url)
    ident = rga.identify()
    assert (ident.model, ident.max_mass, ident.firmware, ident.serial_number) == ("SRSRGA200", 200, "0.24", "19164")


def test_filament_on_sends_emission_and_reads_status_byte(expected):
    url, _ = expected([(b"FL1.00\r", b"0\n\r")])
    SrsRga(url).filament_on(1.0)


def test_failed_filament_expands_the_status_byte(expected):
    url, _ = expected([(b"FL1.00\r", b"2\n\r"), (b"EF?\r", b"128\n\r")])
    with pytest.raises(FilamentError, match="No filament detected") as err:
        SrsRga(url).filament_on(1.0)
    assert err.value.codes == ["FL7"]
    assert "EF?=128" in str(err.value)


def test_single_mass_read_is_little_endian_int32_in_units_of_1e_16_A(expected):
    url, _ = expected([ID, (b"MR44\r", struct.pack("<i", 12345)), (b"MR4\r", struct.pack("<i", -7))])
    rga = SrsRga(url)
    rga.identify()
    assert rga.ion_current(44) == pytest.approx(12345e-16)
    assert rga.ion_current_raw(4) == -7


def test_ion_cycle_reads_each_mass_then_the_status_byte(expected):
    url, core = expected([ID, (b"MR40\r", struct.pack("<i", 1000)), (b"MR44\r", struct.pack("<i", 2)),
                          (b"ER?\r", b"0\n\r")])
    rga = SrsRga(url)
    rga.identify()
    assert rga.ion_currents([40, 44]) == {40: pytest.approx(1e-13), 44: pytest.approx(2e-16)}


def test_parameter_commands_are_confirmed_through_the_status_byte(expected):
    url, _ = expected([(b"NF3\r", b""), (b"ER?\r", b"0\n\r")])
    SrsRga(url).set_noise_floor(3)


def test_a_refused_parameter_raises_with_the_rs232_error_byte(expected):
    url, _ = expected([(b"NF3\r", b""), (b"ER?\r", b"1\n\r"), (b"EC?\r", b"2\n\r")])
    with pytest.raises(CommunicationError, match="Bad parameter received"):
        SrsRga(url).set_noise_floor(3)


def test_multiplier_on_at_stored_voltage_and_missing_option(expected):
    url, _ = expected([(b"HV*\r", b"8\n\r"), (b"EM?\r", b"128\n\r")])
    with pytest.raises(MultiplierError, match="No electron multiplier option"):
        SrsRga(url).multiplier_on()


def test_total_pressure_uses_the_stored_total_sensitivity(expected):
    url, _ = expected([(b"ST?\r", b"0.0100\n\r"), (b"TP?\r", struct.pack("<i", 20000))])
    # 20000e-16 A / (0.01 mA/Torr) = 2e-7 Torr
    assert SrsRga(url).total_pressure() == pytest.approx(2e-7)


def test_malformed_reply_is_a_protocol_error(expected):
    url, _ = expected([(b"NF?\r", b"4x\n\r")])
    with pytest.raises(ProtocolError, match="expected an integer"):
        SrsRga(url).noise_floor()


def test_not_an_rga_is_a_protocol_error(expected):
    url, _ = expected([(b"ID?\r", b"NE1000V3.928\n\r")])
    with pytest.raises(ProtocolError, match="not an SRS RGA"):
        SrsRga(url).identify()


def test_bad_requests_are_refused_before_anything_is_sent(expected):
    url, core = expected([ID])
    rga = SrsRga(url)
    with pytest.raises(LimitError, match="m/z 201 outside 1-200"):
        rga.ion_current(201)
    with pytest.raises(LimitError, match="emission current 5"):
        rga.filament_on(5)
    with pytest.raises(ValueError, match="noise floor"):
        rga.set_noise_floor(9)
    assert core.log == [b"ID?\r"]
