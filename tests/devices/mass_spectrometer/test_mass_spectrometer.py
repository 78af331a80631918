"""The ophyd GasAnalyser built by the factory on the simulated lab: readings, monitoring, safety, limits."""

from __future__ import annotations

from types import SimpleNamespace

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import pytest

from labctl.devices.clock import LabClock
from labctl.devices.errors import LimitError
from labctl.devices.mass_spectrometer.analyser import GasAnalyser as GasAnalyserProtocol
from labctl.devices.mass_spectrometer.srs import FilamentError
from labctl.factories.srs import build as build_srs_rga


@pytest.fixture
def ctx(lab):
    return SimpleNamespace(clock=lab.clock, simlab=lab)


@pytest.fixture
def ms(ms_spec, ctx):
    device = build_srs_rga(ms_spec(), ctx)
    yield device
    device.safe()
    device.backend.close()


def test_factory_builds_a_device_named_after_the_profile_entry(ms, lab):
    assert ms.name == "ms"
    assert isinstance(ms.backend, GasAnalyserProtocol)
    assert ms.gases == {"D2": 4, "HD": 3, "CO2": 44, "O2": 32, "Ar": 40}
    assert lab.world.mass_spec("ms").noise_floor == 3
    assert ms.filament.get() == "off"  # building moves nothing


def test_reading_gives_per_gas_pressures_and_fractions_with_units(ms, lab):
    head = lab.world.mass_spec("ms")
    ms.filament.set("on").wait(timeout=5)
    lab.clock.advance(60)
    ms.trigger().wait(timeout=5)
    reading = ms.read()
    desc = ms.describe()
    assert desc["ms_pressure_CO2"]["units"] == "Torr" and desc["ms_fraction_Ar"]["units"] == "1"
    assert desc["ms_time"]["units"] == "s" and desc["ms_current_CO2"]["units"] == "A"
    truth = head.partial_pressures()
    assert reading["ms_pressure_Ar"]["value"] == pytest.approx(truth["Ar"], rel=1e-3)
    # the head's own CO2 sensitivity is not the textbook's the device assumes before any calibration
    assert reading["ms_pressure_CO2"]["value"] == pytest.approx(truth["CO2"], rel=0.5)
    assert reading["ms_current_CO2"]["value"] == pytest.approx(head.ion_current(44), rel=1e-3)
    assert reading["ms_fraction_Ar"]["value"] > 0.999
    assert reading["ms_time"]["value"] == lab.clock.now()
    assert reading["ms_pressure_Ar"]["timestamp"] == lab.clock.now()  # lab time of the cycle
    assert ms.read_configuration()["ms_emission"]["value"] == 1.0


def test_trigger_and_read_with_the_mass_flow_controller(ms, ctx, lab, run):
    from labctl.factories.bronkhorst import build as build_bronkhorst

    mfc = build_bronkhorst(SimpleNamespace(name="mfc", kind="flow_controller", driver="bronkhorst.propar",
                                           transport="sim://mfc", options={"node": 128, "fluid": "Ar"},
                                           limits={"flow_mL_min": [0.0, 5.0]},
                                           safe_state={"setpoint_mL_min": 0.0}), ctx)
    clock = LabClock(lab.clock)
    ms.filament.set("on").wait(timeout=5)

    @bpp.run_decorator()
    def plan():
        yield from bps.mv(mfc, 2.0)
        yield from bps.mv(clock, 30)
        yield from bps.trigger_and_read([clock, ms, mfc])

    docs = run(plan())
    (event,) = [d for n, d in docs if n == "event"]
    assert event["data"]["mfc_flow"] == pytest.approx(2.0, rel=0.01)
    assert event["data"]["ms_fraction_Ar"] > 0.999
    descriptor = next(d for n, d in docs if n == "descriptor")
    assert descriptor["data_keys"]["ms_pressure_D2"]["units"] == "Torr"


def test_monitor_streams_at_the_cycle_rate_in_lab_time(ms, lab, run):
    clock = LabClock(lab.clock)
    ms.filament.set("on").wait(timeout=5)

    @bpp.run_decorator()
    def plan():
        yield from bps.monitor(ms, name="ms")
        yield from bps.mv(clock, 10)
        yield from bps.unmonitor(ms)
        yield from bps.mv(clock, 10)  # no more readings once unmonitored

    t0 = lab.clock.now()
    docs = run(plan())
    events = [d for n, d in docs if n == "event"]
    times = [e["data"]["ms_time"] - t0 for e in events]
    assert times == pytest.approx([float(i) for i in range(1, 11)])
    assert [e["timestamps"]["ms_pressure_CO2"] - t0 for e in events] == pytest.approx(times)


def test_safe_turns_the_filament_off(ms, lab):
    ms.filament.set("on").wait(timeout=5)
    assert lab.world.mass_spec("ms").emission_mA == 1.0
    ms.safe()
    assert lab.world.mass_spec("ms").emission_mA == 0.0
    assert ms.filament.get() == "off"


def test_filament_failure_surfaces_in_a_reading(ms, lab):
    ms.filament.set("on").wait(timeout=5)
    lab.world.inject_fault("ms", "filament_burned")
    with pytest.raises(FilamentError, match="No filament detected"):
        ms.trigger().wait(timeout=5)


def test_profile_limits_are_enforced_before_anything_moves(ms_spec, ctx, lab):
    spec = ms_spec(emission_mA=2.5)
    spec.limits = {"emission_mA": [0.1, 2.0]}
    with pytest.raises(LimitError, match=r"emission current 2.5 mA is outside the profile's limits \[0.1, 2\] mA"):
        build_srs_rga(spec, ctx)
    assert lab.world.mass_spec("ms").emission_mA == 0.0


def test_bad_options_are_refused(ms_spec, ctx):
    with pytest.raises(ValueError, match="options.gases"):
        build_srs_rga(ms_spec(gases={}), ctx)
    with pytest.raises(ValueError, match="m/z 400 for Xe outside 1-200"):
        build_srs_rga(ms_spec(gases={"Xe": 400}), ctx)


def test_multiplier_at_another_voltage_uses_a_measured_gain(ms_spec, ctx, lab):
    device = build_srs_rga(ms_spec(multiplier_V=1200.0, gases={"CO2": 44, "O2": 32}), ctx)
    try:
        device.filament.set("on").wait(timeout=5)
        head = lab.world.mass_spec("ms")
        assert head.multiplier_V == 1200
        device.trigger().wait(timeout=5)
        faraday = head.sensitivity("CO2") / head.gain() * head.partial_pressures()["CO2"]
        assert device.current_CO2.get() == pytest.approx(faraday, rel=0.01)    # the measured gain divided out
    finally:
        device.safe()
        device.backend.close()
