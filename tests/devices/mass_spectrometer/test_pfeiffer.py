"""Pfeiffer QMG 220/422: the ASCII protocol on the wire, the simulator against a public client's exchanges,
the gas-analyser backend, and the lab's gas plans on a QMG instead of the SRS RGA."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labctl.devices.errors import ProtocolError
from labctl.devices.mass_spectrometer.analyser import FilamentWentOff
from labctl.devices.mass_spectrometer.pfeiffer import Qmg, QmgAnalyser, QmgError
from labctl.sim.serial.pfeiffer import Qmg as QmgSim

TRANSCRIPT = Path(__file__).parent / "data" / "qmg422_client_transcript.json"
ACK, ENQ = b"\x06\r\n", b"\x05"


class _Clock:
    def __init__(self):
        self.t = 1000.0

    def now(self):
        return self.t

    def sleep(self, s):
        self.t += s


def test_a_public_clients_exchanges_replay_on_the_simulator(lab):
    """Recorded from PyExpLabSys' qmg_422 client: every ACK/NAK and answer comes back the same (ion currents
    are whatever the world gives, as long as they are currents)."""
    core = QmgSim("qms", lab.world)
    exchanges = json.loads(TRANSCRIPT.read_text(encoding="utf-8"))["exchanges"]
    assert len(exchanges) > 80
    previous = ""
    for sent, reply in exchanges:
        got = core.receive(sent.encode("latin-1")).decode("latin-1")
        if previous.startswith("MDB") and sent == "\x05":
            assert float(got) > 0 and got.endswith("\r\n"), (previous, got)
        elif previous.startswith("ESQ") and sent == "\x05":
            assert got.split(",")[0].isdigit()
        else:
            assert got == reply, (sent, previous)
        previous = sent


def test_command_then_enq_on_the_wire(expected):
    url, _ = expected([(b"CMO ,1\r", ACK), (ENQ, b"1\r\n"), (b"FIE\r", ACK), (ENQ, b"0\r\n")])
    qmg = Qmg(url, name="qms")
    try:
        assert qmg.set("CMO", 1) == "1"
        assert qmg.comm("FIE") == "0"
    finally:
        qmg.close()


def test_a_refused_command_is_an_error_naming_the_instrument(expected):
    url, _ = expected([(b"XYZ ,1\r", b"\x15\r\n")])
    qmg = Qmg(url, name="qms")
    try:
        with pytest.raises(QmgError, match=r"qms.*refused 'XYZ ,1' \(NAK\)"):
            qmg.set("XYZ", 1)
    finally:
        qmg.close()


def test_a_reply_without_ack_is_a_protocol_error(expected):
    url, _ = expected([(b"FIE\r", b"1\r\n")])
    qmg = Qmg(url, name="qms")
    try:
        with pytest.raises(ProtocolError, match="no ACK to 'FIE'"):
            qmg.comm("FIE")
    finally:
        qmg.close()


def test_analyser_reads_each_watched_mass_on_its_own_channel(lab, serve, closing):
    world = lab.world
    core = QmgSim("qms", world)
    clock = _Clock()
    backend = closing(QmgAnalyser(Qmg(serve(core), name="qms"), clock, {"Ar": 40, "CO2": 44, "D2": 4}))
    assert core.channels[1]["MFM"] == "40" and core.channels[3]["MFM"] == "4"
    assert core.settings["CEN"] == "3" and core.settings["CYM"] == "1"
    assert not backend.filament
    backend.filament_on()
    assert backend.filament and world.mass_spec("qms").emission_mA == pytest.approx(1.0)
    reading = backend.read()
    truth = world.mass_spec("qms")
    assert reading.currents[40] == pytest.approx(truth.ion_current(40), rel=1e-3)
    assert reading.currents[44] == pytest.approx(truth.ion_current(44), rel=1e-3)
    assert reading.fractions["Ar"] > 0.99
    backend.filament_off()
    assert not backend.filament


def test_a_broken_filament_is_refused_by_the_controller(lab, serve, closing):
    core = QmgSim("qms", lab.world)
    backend = closing(QmgAnalyser(Qmg(serve(core), name="qms"), _Clock(), {"Ar": 40}))
    lab.world.inject_fault("qms", "filament_burned")
    with pytest.raises(QmgError, match="FIE ,1"):
        backend.filament_on()


def _ask(core, command: bytes) -> tuple[bytes, bytes]:
    """One exchange on the wire: the controller's ACK/NAK to *command*, then its answer to ENQ."""
    return core.feed(command), core.feed(ENQ)


def test_a_power_cycle_brings_the_controller_back_in_console_mode_with_filament_and_sem_off(lab):
    core = QmgSim("qms", lab.world)
    for command in (b"CMO ,1\r", b"SPC ,1\r", b"MFM ,40\r", b"AST ,0\r", b"FIE ,1\r", b"SEM ,1\r"):
        assert core.feed(command) == ACK, command
    head = lab.world.mass_spec("qms")
    assert head.emission_mA > 0 and head.multiplier_V > 0
    core.power_cycle()
    assert head.emission_mA == 0 and head.multiplier_V == 0
    assert _ask(core, b"FIE\r") == (ACK, b"0\r\n") and _ask(core, b"SEM\r") == (ACK, b"0\r\n")
    assert _ask(core, b"CMO\r") == (ACK, b"0\r\n")
    assert core.feed(b"FIE ,1\r") == b"\x15\r\n"        # console mode: settings refused until CMO ,1
    assert head.emission_mA == 0
    assert _ask(core, b"CMO ,1\r") == (ACK, b"1\r\n")
    assert _ask(core, b"MFM\r") == (ACK, b"0\r\n")     # channel 1 back at its default mass


def test_the_controllers_own_refusal_is_a_nak_and_changes_nothing(lab):
    core = QmgSim("qms", lab.world)
    assert core.feed(b"CMO ,1\r") == ACK
    core.inject("error")
    assert _ask(core, b"FIE ,1\r") == (b"\x15\r\n", b"\r\n")
    assert _ask(core, b"FIE\r") == (b"\x15\r\n", b"\r\n")
    core.inject(None)
    assert lab.world.mass_spec("qms").emission_mA == 0
    assert _ask(core, b"FIE\r") == (ACK, b"0\r\n")


def test_a_refused_reading_is_an_error_naming_the_instrument(lab, serve, closing):
    core = QmgSim("qms", lab.world)
    backend = closing(QmgAnalyser(Qmg(serve(core), name="qms"), _Clock(), {"Ar": 40}))
    core.inject("error")
    with pytest.raises(QmgError, match=r"^qms: refused .*\(NAK\)"):
        backend.read()


def test_a_filament_that_went_off_unasked_fails_the_reading_until_switched_again(lab, serve, closing):
    core = QmgSim("qms", lab.world)
    backend = closing(QmgAnalyser(Qmg(serve(core), name="qms"), _Clock(), {"Ar": 40, "CO2": 44}))
    backend.filament_on()
    assert backend.read().currents[40] > 0
    core.power_cycle()
    for _ in range(2):   # every reading, not only the first: zero currents are not data
        with pytest.raises(FilamentWentOff, match=r"^qms: the filament went off while measuring \(emission 0 mA, "
                                                   r"1 mA set\) and nobody switched it off"):
            backend.read()
    backend.filament_off()                   # the safe state: control taken back, filament off on purpose
    assert core.settings["CMO"] == "1" and not backend.filament
    assert backend.read().currents[40] < 1e-12       # no ions, no complaint
    backend.filament_on()                    # the channels were set up again: the next run measures
    reading = backend.read()
    assert reading.currents[40] == pytest.approx(lab.world.mass_spec("qms").ion_current(40), rel=1e-3)


def test_a_filament_switched_off_on_purpose_is_no_fault(lab, serve, closing):
    core = QmgSim("qms", lab.world)
    backend = closing(QmgAnalyser(Qmg(serve(core), name="qms"), _Clock(), {"Ar": 40}))
    backend.filament_on()
    backend.filament_off()
    assert backend.read().currents[40] < 1e-12
