"""The syringe pump device's own logic on a fake driver: rates checked against the syringe and the profile
before anything is sent, a direction change stops and restarts the pump, stop and safe leave it stopped."""

from __future__ import annotations

import math

import pytest
from bluesky import plan_stubs as bps
from fakes import FakePumpDriver

from labctl.devices.errors import LimitError
from labctl.devices.syringe_pump.device import SyringePump
from labctl.sim.clock import SimClock


@pytest.fixture
def clock():
    return SimClock(start=1_700_000_000.0)


@pytest.fixture
def driver(clock):
    return FakePumpDriver("pump", clock)


@pytest.fixture
def pump(driver, closing):
    return closing(SyringePump(driver, name="pump", rate_limits_uL_h=[1.0, 3000.0], syringe_volume_uL=1000.0))


def test_rates_are_limited_by_the_syringe_and_the_profile(pump, driver):
    lo, hi = driver.rate_limits_uL_h(4.78)
    assert pump.rate_limits() == (max(lo, 1.0), min(hi, 3000.0))
    with pytest.raises(LimitError, match=r"rate 5000 uL/h is outside 1-3000 uL/h \(syringe 4.78 mm, profile limits"):
        pump.set("5 mL/h")
    assert driver.commands == []
    assert pump.instrument_description().rate_range_uL_h == pump.rate_limits()


def test_set_starts_pumping_and_volumes_follow_lab_time(pump, driver, clock, RE):
    RE(bps.mv(pump, "240 uL/h"))
    assert pump.running.get() and pump.status.get() == "infusing"
    clock.advance(1800)
    assert pump.dispensed.get() == pytest.approx(120)
    RE(bps.mv(pump.rate, 120))  # a rate change while running
    assert pump.rate.get() == 120 and pump.running.get()


def test_reversing_stops_turns_and_restarts(pump, driver, clock):
    pump.set(60)
    driver.commands.clear()
    pump.set(-30)
    assert driver.commands == ["stop", "direction withdraw", "rate 30", "run"] and pump.running.get()
    assert pump.rate.get() == -30 and pump.direction.get() == "withdraw"
    clock.advance(3600)
    assert pump.dispensed.get() == pytest.approx(-30)


def test_stop_on_success_keeps_a_flow_set_on_purpose_and_safe_stops_it(pump):
    pump.set(100)
    pump.stop(success=True)
    assert pump.running.get()
    pump.stop()
    assert not pump.running.get()
    pump.set(100)
    pump.safe()
    assert not pump.running.get()


def test_refused_settings_raise_in_the_caller_before_anything_is_sent(pump, driver):
    with pytest.raises(LimitError, match="target volume 5000 uL outside 0-1000 uL"):
        pump.target_volume.set(5000)
    with pytest.raises(LimitError, match="not a value an instrument can be set to"):
        pump.rate.set(math.nan)
    with pytest.raises(ValueError, match="direction must be one of"):
        pump.direction.set("sideways")
    assert driver.commands == []
