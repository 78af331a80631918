"""A monitored mass spectrometer whose cycles fail: the stream goes on, and the plan is told."""

from __future__ import annotations

import time
from types import SimpleNamespace

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import pytest

from labctl.devices.clock import LabClock, WallClock
from labctl.devices.errors import InstrumentTimeout
from labctl.devices.mass_spectrometer.analyser import FilamentWentOff
from labctl.devices.mass_spectrometer.device import MonitoringError
from labctl.devices.mass_spectrometer.srs import ElectrometerError
from labctl.factories.srs import build as build_srs_rga


@pytest.fixture
def ms(ms_spec, lab):
    device = build_srs_rga(ms_spec(), SimpleNamespace(clock=lab.clock, simlab=lab))
    device.filament.set("on").wait(timeout=5)
    yield device
    device.safe()
    device.backend.close()


def _wire_silent(lab, between):
    """The RGA stops answering for the lab-time window *between* (seconds from now)."""
    t0, core = lab.clock.now(), lab.cores["ms"]

    def step(now):
        core.inject("silent" if between[0] <= now - t0 < between[1] else None)

    return lab.clock.call_every(0.5, step)


@pytest.fixture
def run_catching(RE, docs):
    """Run a plan on the test's RunEngine; the documents it emitted and what it raised."""

    def go(plan):
        docs.clear()
        failure = None
        try:
            RE(plan)
        except Exception as exc:
            failure = exc
        return list(docs), failure

    return go


def _monitored(ms, clock, seconds, then_read=True):
    @bpp.run_decorator()
    def plan():
        yield from bps.monitor(ms, name="ms")
        yield from bps.mv(clock, seconds)
        yield from bps.unmonitor(ms)
        if then_read:
            yield from bps.trigger_and_read([ms])
    return plan()


def test_a_read_timeout_leaves_a_gap_and_fails_the_next_reading(ms, lab, run_catching):
    t0 = lab.clock.now()
    watch = _wire_silent(lab, (3.2, 3.8))  # the cycle at 4 s times out
    docs, failure = run_catching(_monitored(ms, LabClock(lab.clock), 10))
    watch.cancel()
    times = [round(d["data"]["ms_time"] - t0) for n, d in docs if n == "event"]
    assert times == [1, 2, 3, 5, 6, 7, 8, 9, 10]  # monitoring went on after the failed cycle
    assert isinstance(failure.__cause__ or failure, MonitoringError)
    message = str(failure.__cause__ or failure)
    assert message.startswith("ms: 1 measurement cycle(s) failed while monitored")
    assert "InstrumentTimeout" in message
    assert [d["exit_status"] for n, d in docs if n == "stop"] == ["fail"]
    ms.trigger().wait(timeout=5)  # reported once; the instrument answers again
    assert ms.read()["ms_fraction_Ar"]["value"] > 0.9


def test_failures_in_a_row_stop_monitoring_with_the_error(ms, lab, run_catching):
    t0 = lab.clock.now()
    watch = _wire_silent(lab, (2.2, 6.8))  # cycles 3, 4 and 5 fail; the wire is back for 7 on
    docs, failure = run_catching(_monitored(ms, LabClock(lab.clock), 10))
    watch.cancel()
    times = [round(d["data"]["ms_time"] - t0) for n, d in docs if n == "event"]
    assert times == [1, 2]  # stopped after three failed cycles, not resumed silently
    error = failure.__cause__ or failure
    assert isinstance(error, MonitoringError)
    assert "monitoring stopped: 3 measurement cycles failed in a row" in str(error)
    assert len(error.failures) == 3 and all(isinstance(e, InstrumentTimeout) for e in error.failures)


def test_a_halt_is_reported_until_monitoring_ends(ms, lab):
    got = []
    lab.cores["ms"].fail("DET6")             # every cycle ends in an electrometer alarm
    ms.subscribe(got.append)
    lab.clock.advance(5)
    with pytest.raises(MonitoringError, match="ms: monitoring stopped.*ElectrometerError"):
        ms.read()
    with pytest.raises(MonitoringError, match="monitoring stopped"):
        ms.trigger().wait(timeout=5)         # still monitored, still dead: still an error
    lab.cores["ms"].fail(None)
    ms.clear_sub(got.append)
    ms.trigger().wait(timeout=5)             # unmonitored, and already reported: readings work again
    assert got == []


def test_wall_clock_monitoring_survives_a_failing_cycle(ms_spec, lab):
    device = build_srs_rga(ms_spec(cycle_s=0.05), SimpleNamespace(clock=WallClock(), simlab=lab))
    try:
        device.filament.set("on").wait(timeout=5)
        core, got = lab.cores["ms"], []
        device.subscribe(got.append)
        deadline = time.monotonic() + 5
        while len(got) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        core.fail("DET6")                      # the electrometer alarm fails the next cycle
        time.sleep(0.08)
        core.fail(None)
        before = len(got)
        deadline = time.monotonic() + 5
        while len(got) < before + 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(got) >= before + 3          # the timer thread is alive and measuring
        with pytest.raises(MonitoringError, match=r"ms: \d+ measurement cycle\(s\) failed") as err:
            device.trigger().wait(timeout=5)
        assert isinstance(err.value.failures[0], ElectrometerError)
        device.trigger().wait(timeout=5)
    finally:
        device.safe()
        device.backend.close()


def test_a_filament_that_goes_off_unasked_fails_the_monitoring_by_name(ms, lab, run_catching):
    t0 = lab.clock.now()
    timer = lab.clock.call_every(4.5, lambda now: lab.cores["ms"].power_cycle())  # off at 4.5 s, no error bit
    docs, failure = run_catching(_monitored(ms, LabClock(lab.clock), 10))
    timer.cancel()
    error = failure.__cause__ or failure
    assert isinstance(error, MonitoringError) and error.instrument == "ms"
    assert isinstance(error.failures[0], FilamentWentOff)
    assert "the filament went off while measuring (emission 0 mA, 1 mA set)" in str(error)
    times = [round(d["data"]["ms_time"] - t0) for n, d in docs if n == "event"]
    assert times == [1, 2, 3, 4]   # no row of zero currents recorded as if it were data
    assert [d["exit_status"] for n, d in docs if n == "stop"] == ["fail"]


def test_a_filament_switched_off_on_purpose_is_no_fault(ms, lab):
    ms.filament.set("off").wait(timeout=5)
    ms.trigger().wait(timeout=5)
    assert ms.read()["ms_pressure_Ar"]["value"] < 1e-9   # no ions, no complaint: labctl switched it off
