"""Switching the ion source off, or making the head safe, takes the electron multiplier's high voltage down too."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from labctl.devices.mass_spectrometer.device import gas_analyser
from labctl.devices.mass_spectrometer.srs import MultiplierError, SrsRga
from labctl.devices.mass_spectrometer.srs_analyser import RgaAnalyser
from labctl.factories.srs import build as build_srs_rga

ID = (b"ID?\r", b"SRSRGA200VER0.24SN19164\n\r")
HV_OFF = (b"HV0\r", b"0\n\r")
FL_OFF = (b"FL0\r", b"0\n\r")


class _Clock:
    def now(self):
        return 0.0


def _analyser(url, multiplier_V=None):
    # stored sensitivities: building sends nothing but the identification query
    return RgaAnalyser(SrsRga(url), _Clock(), {"Ar": 40}, sensitivities={"Ar": 1e-4}, multiplier_V=multiplier_V)


def test_filament_off_with_a_cdem_sends_hv0_then_fl0(expected):
    url, core = expected([ID, HV_OFF, FL_OFF])
    _analyser(url, multiplier_V=1200).filament_off()
    assert core.log == [b"ID?\r", b"HV0\r", b"FL0\r"]


def test_filament_off_on_the_faraday_cup_leaves_the_multiplier_alone(expected):
    url, core = expected([ID, FL_OFF])  # a head without the CDEM option would refuse HV0
    _analyser(url).filament_off()
    assert core.log == [b"ID?\r", b"FL0\r"]


def test_the_filament_goes_off_even_if_the_multiplier_refuses(expected):
    url, core = expected([ID, (b"HV0\r", b"8\n\r"), (b"EM?\r", b"128\n\r"), FL_OFF])
    with pytest.raises(MultiplierError):
        _analyser(url, multiplier_V=1200).filament_off()
    assert core.log[-1] == b"FL0\r"


@pytest.mark.parametrize("safe_state, wire", [
    (None, [HV_OFF, FL_OFF]),                                  # default: filament off, CDEM with it
    ({"filament": "off"}, [HV_OFF, FL_OFF]),
    ({"filament": "on"}, [HV_OFF]),                            # a hot filament, but no high voltage
    ({"filament": "on", "multiplier": "on"}, []),              # the profile keeps both
])
def test_the_safe_state_switches_the_cdem_off(expected, safe_state, wire):
    url, core = expected([ID, *wire])
    ms = gas_analyser(_analyser(url, multiplier_V=1200), _Clock(), name="ms", safe_state=safe_state)
    ms.safe()
    assert core.log == [b"ID?\r", *[request for request, _ in wire]]


def test_setting_the_filament_off_switches_the_multiplier_off_in_the_simulated_lab(ms_spec, lab):
    ms = build_srs_rga(ms_spec(multiplier_V=1200.0, gases={"CO2": 44, "Ar": 40}),
                       SimpleNamespace(clock=lab.clock, simlab=lab))
    head = lab.world.mass_spec("ms")
    try:
        ms.filament.set("on").wait(timeout=5)
        assert head.multiplier_V == 1200 and head.emission_mA == 1.0
        ms.filament.set("off").wait(timeout=5)
        assert head.multiplier_V == 0 and head.emission_mA == 0.0
        ms.filament.set("on").wait(timeout=5)
        ms.safe()
        assert head.multiplier_V == 0 and head.emission_mA == 0.0
    finally:
        ms.backend.close()
