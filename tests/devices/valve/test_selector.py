"""The stream selector device, built by its factory from a profile entry, over the simulated actuator."""

from __future__ import annotations

import bluesky.plan_stubs as bps
import pytest

from labctl.devices.clock import LabClock
from labctl.devices.errors import InstrumentError, LimitError
from labctl.devices.valve import StreamSelector, ValveStuck
from labctl.drivers import BuildContext, driver
from labctl.plans.params import ParameterError
from labctl.plans.stubs.valve import select_stream
from labctl.profile import parse_profile
from labctl.sim.lab import SimLab

PROFILE = """
[lab]
name = "selector bench"

[sim]
seed = 1
noise = 0.0

[sim.selectors.ms_selector]
lines = { 1 = "carrier", 2 = { CO2 = 0.01 }, 3 = "gas_port" }
dead_volume_mL = 0.06
position = 3

[instruments.ms_selector]
kind = "stream_selector"
driver = "vici.multiposition"
transport = "sim://ms_selector"
options = { positions = 4, ports = { carrier = 1, calibration_gas = 2, dems_cell = 3 }, move_timeout_s = 5.0 }
safe_state = { position = "dems_cell" }
"""


@pytest.fixture
def bench():
    profile = parse_profile(PROFILE, "bench.toml")
    lab = SimLab(profile.sim)
    spec = profile.instruments["ms_selector"]
    selector = driver(spec.driver).load_factory()(spec, BuildContext(clock=lab.clock, simlab=lab))
    yield lab, selector
    selector.close()
    lab.close()


def test_set_completes_once_the_actuator_reads_the_port_back(bench):
    lab, selector = bench
    assert isinstance(selector, StreamSelector) and selector.name == "ms_selector"
    t0 = lab.clock.now()
    status = selector.set("calibration_gas")
    status.wait(10)
    assert status.success
    assert lab.world.selector("ms_selector").position == 2       # the rotor is there, not just commanded
    assert lab.clock.now() - t0 >= lab.world.selector("ms_selector").step_time_s - 1e-6   # waited in lab time
    reading = selector.read()
    assert reading["ms_selector_position_name"]["value"] == "calibration_gas"
    assert reading["ms_selector_port"]["value"] == 2


def test_signals_report_name_and_number_with_metadata(bench):
    lab, selector = bench
    desc = selector.describe()
    assert desc["ms_selector_port"]["units"] == "1" and desc["ms_selector_port"]["dtype"] == "integer"
    assert desc["ms_selector_position_name"]["dtype"] == "string"
    assert selector.position == "dems_cell"
    assert selector.instrument_description().position_names == ("carrier", "calibration_gas", "dems_cell")


def test_a_port_the_profile_leaves_unnamed_reads_as_its_number(bench):
    lab, selector = bench
    selector.driver.move(4)
    assert selector.position == "port 4" and selector.port.get() == 4


def test_unknown_port_is_refused_at_once_naming_the_allowed_ports(bench):
    lab, selector = bench
    with pytest.raises(LimitError) as err:
        selector.set("dems")
    message = str(err.value)
    assert "\n" not in message and "'dems'" in message
    assert "'carrier', 'calibration_gas', 'dems_cell'" in message
    assert lab.world.selector("ms_selector").position == 3 and not lab.world.selector("ms_selector").moving


def test_stuck_rotor_fails_the_status_with_a_typed_error_naming_the_instrument(bench):
    lab, selector = bench
    lab.world.inject_fault("ms_selector", "stuck")
    status = selector.set("carrier")
    with pytest.raises(ValveStuck) as err:
        status.wait(30)
    assert isinstance(err.value, InstrumentError) and err.value.instrument == "ms_selector"
    assert not status.success
    assert selector.position == "dems_cell"


def test_safe_turns_to_the_profiles_safe_port(bench):
    lab, selector = bench
    selector.set("carrier").wait(10)
    selector.safe()
    assert lab.world.selector("ms_selector").position == 3


def test_select_stream_turns_and_records_in_a_run(bench, RE, docs):
    lab, selector = bench
    clock = LabClock(lab.clock, name="clock")

    def run():
        yield from bps.open_run()
        yield from select_stream(selector, "calibration_gas", clock)
        yield from bps.close_run()

    RE(run())
    events = [d for name, d in docs if name == "event"]
    assert events[-1]["data"]["ms_selector_position_name"] == "calibration_gas"
    assert events[-1]["data"]["ms_selector_port"] == 2 and "clock_time" in events[-1]["data"]
    assert lab.world.selector("ms_selector").position == 2
    with pytest.raises(ParameterError, match="ms_selector has no position 'vent'"):
        list(select_stream(selector, "vent"))
