"""The simulated RGA firmware, byte for byte, over the real simulated world."""

from __future__ import annotations

import struct

import pytest

from labctl.sim.serial.srs import RGA


def ints(data: bytes) -> list[int]:
    return list(struct.unpack(f"<{len(data) // 4}i", data))


def test_identification_and_text_terminator(rga_core):
    assert rga_core.feed(b"ID?\r") == b"SRSRGA200VER0.24SN19164\n\r"
    assert rga_core.feed(b"id?\n") == b"SRSRGA200VER0.24SN19164\n\r"  # case-insensitive, LF accepted


def test_commands_split_across_writes_and_several_per_write(rga_core):
    assert rga_core.feed(b"I") == b""
    assert rga_core.feed(b"D?\rER?\r") == b"SRSRGA200VER0.24SN19164\n\r0\n\r"


def test_filament_drives_the_world_head_and_replies_status(lab, rga_core):
    head = lab.world.mass_spec("ms")
    assert rga_core.feed(b"FL1.5\r") == b"0\n\r"
    assert head.emission_mA == 1.5
    assert rga_core.feed(b"FL?\r") == b"1.50\n\r"
    assert rga_core.feed(b"FL0\r") == b"0\n\r"
    assert head.emission_mA == 0


def test_single_mass_reading_is_the_world_ion_current(lab, rga_core):
    head = lab.world.mass_spec("ms")
    rga_core.feed(b"FL1\r")
    lab.clock.advance(30)
    (counts,) = ints(rga_core.feed(b"MR40\r"))
    assert counts * 1e-16 == pytest.approx(head.ion_current(40), rel=1e-6, abs=1e-16)
    assert counts > 1000


def test_multiplier_and_noise_floor(lab, rga_core):
    head = lab.world.mass_spec("ms")
    assert rga_core.feed(b"HV*\r") == b"0\n\r"
    assert head.multiplier_V == 1400
    assert rga_core.feed(b"HV?\r") == b"1400\n\r"
    assert rga_core.feed(b"MV?\rMG?\r") == b"1400\n\r1.0000\n\r"
    assert rga_core.feed(b"NF6\r") == b""
    assert head.noise_floor == 6
    assert rga_core.feed(b"HV0\r") == b"0\n\r"
    assert head.multiplier_V == 0


def test_bad_command_gets_no_reply_but_sets_the_rs232_bits(rga_core):
    assert rga_core.feed(b"XY12\r") == b""
    assert rga_core.feed(b"ER?\r") == b"1\n\r"
    assert rga_core.feed(b"EC?\r") == b"1\n\r"       # CM0: bad command
    assert rga_core.feed(b"EC?\rER?\r") == b"0\n\r0\n\r"  # reading EC? cleared it


@pytest.mark.parametrize("command, bit", [(b"NF9\r", 2), (b"FL9\r", 2), (b"MR999\r", 2),
                                          (b"HV5\r", 2), (b"A" * 40 + b"\r", 4)])
def test_refused_parameters(rga_core, command, bit):
    assert rga_core.feed(command) == b""
    assert rga_core.feed(b"EC?\r") == f"{bit}\n\r".encode()


def test_scan_with_initial_above_final_is_a_parameter_conflict(rga_core):
    assert rga_core.feed(b"MI50\rMF10\rHS1\r") == b""
    assert rga_core.feed(b"EC?\r") == b"64\n\r"


def test_histogram_and_analog_scans_stream_points_then_total(lab, rga_core):
    rga_core.feed(b"FL1\rMI38\rMF42\rSA10\r")
    lab.clock.advance(10)
    assert rga_core.feed(b"HP?\rAP?\r") == b"5\n\r41\n\r"
    hist = ints(rga_core.feed(b"HS1\r"))
    assert len(hist) == 5 + 1
    assert max(hist[:5]) == hist[2]  # m/z 40 (Ar) dominates
    analog = ints(rga_core.feed(b"SC1\r"))
    assert len(analog) == 41 + 1
    assert max(analog[:41]) == analog[20]  # the peak centre sits on m/z 40


def test_burnt_filament_is_reported_by_the_status_and_filament_bytes(lab, rga_core):
    assert rga_core.feed(b"FL1\r") == b"0\n\r"
    lab.world.inject_fault("ms", "filament_burned")
    assert rga_core.feed(b"ER?\r") == b"2\n\r"
    assert rga_core.feed(b"EF?\r") == b"128\n\r"
    assert rga_core.feed(b"FL1\r") == b"2\n\r"


def test_head_without_multiplier_option(lab):
    core = RGA("ms", lab.world, cdem=False)
    assert core.feed(b"HV1400\r") == b"8\n\r"
    assert core.feed(b"EM?\r") == b"128\n\r"
    assert lab.world.mass_spec("ms").multiplier_V == 0


@pytest.mark.parametrize("code, query, value", [("PS7", b"EP?\r", 128), ("DET6", b"ED?\r", 64),
                                                ("RF4", b"EQ?\r", 16)])
def test_hardware_faults_raise_their_status_bits(rga_core, code, query, value):
    rga_core.fail(code)
    status = int(rga_core.feed(b"ER?\r"))
    assert status & {"EP": 0x40, "ED": 0x20, "EQ": 0x10}[query[:2].decode()]
    assert rga_core.feed(query) == f"{value}\n\r".encode()
