"""Pfeiffer QMG 220/422: the ASCII protocol on the wire, the simulator against a public client's exchanges,
the gas-analyser backend, and the lab's gas plans on a QMG instead of the SRS RGA."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labctl.devices.errors import ProtocolError
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
