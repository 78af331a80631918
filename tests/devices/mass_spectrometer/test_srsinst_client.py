"""The vendor's Python client (srsinst-rga) runs unchanged against the simulator on a pseudo-terminal."""

from __future__ import annotations

import pytest
import srsinst.rga as srsinst_rga

from labctl.sim.serial.serve import PtyServer


@pytest.fixture
def client(lab, rga_core):
    with PtyServer(rga_core) as server:
        rga = srsinst_rga.RGA100("serial", server.path, 28800)  # its connect drains the line with bare CRs
        yield rga
        rga.disconnect()


def test_connection_handshake_and_identification(client):
    assert client.check_id() == ("SRSRGA200", "19164", "0.24")
    assert client.get_max_mass() == 200


def test_filament_multiplier_and_reading_act_on_the_world(lab, client):
    head = lab.world.mass_spec("ms")
    client.filament.turn_on(1.0)
    assert client.ionizer.last_set_status == 0  # the status byte the FL command answered with
    assert head.emission_mA == 1.0
    client.cem.turn_on()
    assert head.multiplier_V == 1400
    lab.clock.advance(30)
    counts = client.scan.get_single_mass_scan(44)  # CO2 background, amplified by the CDEM
    assert counts * 1e-16 == pytest.approx(head.ion_current(44), rel=1e-3)
    assert client.scan.get_single_mass_scan(40) == 2 ** 31 - 1  # the Ar carrier saturates the electrometer
    assert client.status.error_status == 0
    client.cem.turn_off()
    client.filament.turn_off()
    assert head.emission_mA == 0 and head.multiplier_V == 0


def test_histogram_scan_and_noise_floor(lab, client):
    client.filament.turn_on()
    client.scan.initial_mass = 1
    client.scan.final_mass = 50
    client.scan.speed = 3
    assert client.scan.speed == 3  # NF? answered after NF3 was taken
    assert lab.world.mass_spec("ms").noise_floor == 3
    spectrum = client.scan.get_histogram_scan()
    assert len(spectrum) == 50
    assert int(spectrum.argmax()) + 1 == 40  # Ar carrier


def test_errors_through_the_client(lab, client):
    client.filament.turn_on()
    lab.world.inject_fault("ms", "filament_burned")
    client.filament.turn_on()
    assert client.ionizer.last_set_status == 2  # FIL_ERR in the status byte
    assert client.status.get_errors() == "FL7"
    assert "No filament detected" in client.status.get_error_text()
