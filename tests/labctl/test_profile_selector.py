"""The MS stream selector's profile entry and its plumbing in the simulated lab, checked before anything
connects."""

from __future__ import annotations

import pytest

from labctl.profile import ProfileError, load_profile, parse_profile

BASE = """
[lab]
name = "t"

[sim]
seed = 1

[sim.selectors.ms_selector]
lines = { 1 = "carrier", 2 = { CO2 = 0.005 }, 3 = "gas_port" }
dead_volume_mL = 0.06
position = 3

[instruments.ms_selector]
kind = "stream_selector"
driver = "vici.multiposition"
transport = "sim://ms_selector"
options = { positions = 4, ports = { carrier = 1, calibration_gas = 2, dems_cell = 3 } }
safe_state = { position = "dems_cell" }
"""


def error(old: str, new: str) -> str:
    assert old in BASE
    with pytest.raises(ProfileError) as info:
        parse_profile(BASE.replace(old, new), "lab.toml")
    message = str(info.value)
    assert "\n" not in message and message.startswith("lab.toml: ")
    return message


def test_the_selector_entry_loads_and_describes_its_ports():
    profile = parse_profile(BASE, "lab.toml")
    assert profile.descriptions()["ms_selector"].position_names == ("carrier", "calibration_gas", "dems_cell")


def test_the_default_lab_has_the_selector_on_the_gas_port_line():
    profile = load_profile(None)
    spec = profile.instruments["ms_selector"]
    assert spec.driver == "vici.multiposition" and spec.transport == "sim://ms_selector"
    ports = spec.options["ports"]
    plumbing = profile.sim["selectors"]["ms_selector"]
    assert plumbing["lines"][str(plumbing["position"])] == "gas_port"
    assert ports[spec.safe_state["position"]] == plumbing["position"]


@pytest.mark.parametrize("old, new, words", [
    ("dems_cell = 3 }", "dems_cell = 2 }", "instruments.ms_selector.options.ports.dems_cell: port 2 is already "
                                           "named 'calibration_gas'"),
    ("dems_cell = 3 }", "dems_cell = 7 }", "instruments.ms_selector.options.ports.dems_cell: port 7 is not one of "
                                           "the valve's ports 1-4"),
    ("dems_cell = 3 }", "dems_cell = 0 }", "ports.dems_cell: port 0 is not one of the valve's ports 1-4"),
    ("dems_cell = 3 }", '"dems cell" = 3 }', "must be an identifier"),
    ("positions = 4,", "positions = 1,", "instruments.ms_selector.options.positions"),
    ('position = "dems_cell"', 'position = "vent"', "instruments.ms_selector.safe_state.position: 'vent' is not a "
                                                    "port of the selector ('carrier', 'calibration_gas', 'dems_cell')"),
    ('3 = "gas_port" }', '5 = "gas_port" }', "sim.selectors.ms_selector.lines.5: port 5 is not one of the "
                                              "selector's ports 1-4"),
    ('3 = "gas_port" }', '3 = "exhaust" }', "sim.selectors.ms_selector.lines"),
    ("{ CO2 = 0.005 }", "{ CO = 0.005 }", "unknown gas 'CO'"),
    ("{ CO2 = 0.005 }", "{ CO2 = 2.0 }", "summing to at most 1"),
    ("position = 3\n", "position = 9\n", "sim.selectors.ms_selector.position: port 9 is not one of the selector's "
                                        "ports 1-4"),
    ("dead_volume_mL = 0.06", "dead_volume_mL = 0.0", "sim.selectors.ms_selector.dead_volume_mL"),
    ("[sim.selectors.ms_selector]", "[sim.selectors.selector]", "sim.selectors.selector: 'selector' is not a "
                                                                "vici.multiposition instrument of the profile"),
])
def test_a_bad_port_map_is_refused_in_one_line_naming_the_key(old, new, words):
    assert words in error(old, new)
