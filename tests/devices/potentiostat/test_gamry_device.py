"""The potentiostat device on the Gamry Reference 600 when the instrument misbehaves, and its impedance timing.

Whatever fails on the way (a refused stop, a lost end event), the cell must end up switched off with no current
flowing; an impedance sweep must take the time its measurements take, not the time between polls.
"""

from __future__ import annotations

import pytest
from gamry_lab import CHANNEL, J10, SECTION, com, lab  # noqa: F401  (fixtures)

from labctl.devices.errors import InstrumentError
from labctl.devices.potentiostat.device import Potentiostat
from labctl.devices.potentiostat.gamry import GamryBackend
from labctl.devices.potentiostat.techniques import PEIS, Galvanostatic
from labctl.sim.world.channel import eis_point_time

POLL_S = 5.0


@pytest.fixture
def pstat(lab, com):
    dev = Potentiostat(GamryBackend(com, SECTION, lab.clock), clock=lab.clock, name="ref600",
                       limits={"current_A": [-0.6, 0.6], "voltage_V": [-11.0, 11.0]}, poll_period=POLL_S)
    yield dev
    dev.destroy()


def _plating(pstat, lab):
    pstat.prepare(Galvanostatic(current=-J10, duration="600 s", record_dt="1 s"))
    pstat.kickoff()
    lab.clock.sleep(10.0)
    assert pstat.current.get() == pytest.approx(-J10)   # current flows while it runs


def _no_current(lab, com):
    assert not com.cell_on(SECTION)
    assert lab.world.channel(CHANNEL).instant()[1] == 0.0


def test_a_refused_stop_still_switches_the_cell_off_then_reports_the_failure(lab, com, pstat):
    _plating(pstat, lab)
    com.fail("Run", args=(False,))
    with pytest.raises(InstrumentError, match=r"0xA0040130 while stopping the technique"):
        pstat.stop()
    _no_current(lab, com)
    assert pstat.current.get() == 0.0
    pstat.stop()                                    # a second stop completes cleanly
    assert not pstat.running and pstat.ended_by == "stopped"


def test_a_refused_stop_on_disconnect_still_switches_the_cell_off(lab, com):
    backend = GamryBackend(com, SECTION, lab.clock)
    backend.connect()
    backend.load(Galvanostatic(current=-J10, duration="600 s", record_dt="1 s"))
    backend.start()
    lab.clock.sleep(10.0)
    com.fail("Run", args=(False,))
    with pytest.raises(InstrumentError, match="while stopping the technique"):
        backend.disconnect()
    _no_current(lab, com)
    assert com.calls[-1][:2] == ("GamryPC5Pstat", "Close")   # released for the next program all the same
    GamryBackend(com, SECTION, lab.clock).connect()


def test_a_refused_stop_on_destroy_still_switches_the_cell_off(lab, com):
    dev = Potentiostat(GamryBackend(com, SECTION, lab.clock), clock=lab.clock, name="ref600")
    _plating(dev, lab)
    com.fail("Run", args=(False,), times=2)         # refused by the stop and again by the disconnect
    with pytest.raises(InstrumentError, match="while stopping the technique"):
        dev.destroy()
    _no_current(lab, com)


def test_a_start_refused_after_the_cell_switched_on_leaves_it_off(lab, com, pstat):
    pstat.prepare(Galvanostatic(current=-J10, duration="60 s", record_dt="1 s"))
    com.fail("Run", args=(True,))
    with pytest.raises(InstrumentError, match="while starting CP"):
        pstat.kickoff()
    switched = [c[2] for c in com.calls if c[1] == "SetCell"]
    assert (com.CellOn,) in switched and switched[-1] == (com.CellOff,)    # it was on: now it is off again
    _no_current(lab, com)
    assert not pstat.running


def test_a_run_whose_end_is_never_reported_fails_after_its_duration_and_margin(lab, com, pstat):
    com.lose_data_done(SECTION)
    pstat.prepare(Galvanostatic(current=-J10, duration="60 s", record_dt="1 s"))
    t0 = lab.clock.now()
    pstat.kickoff()
    status = pstat.complete()
    with pytest.raises(InstrumentError, match=r"CP should have ended after 60 s but the instrument never "
                                              r"reported its end.*cell was switched off"):
        status.wait(10)
    waited = lab.clock.now() - t0
    assert 60 * 1.05 + 60 < waited <= 60 * 1.05 + 60 + POLL_S     # not forever, and not before the margin
    _no_current(lab, com)
    assert pstat.ended_by == "stopped"
    pages = list(pstat.collect_pages())             # what was recorded is still there
    assert len(pages[0]["data"]["ref600_time"]) == 61 and not pstat.running


def test_impedance_sweep_takes_its_measurement_times_and_times_each_point(lab, com, pstat):
    peis = PEIS(f_start="10 kHz", f_stop="1 Hz", points_per_decade=5, amplitude="10 mV")
    freqs = peis.frequencies()
    pstat.prepare(peis)
    t0 = lab.clock.now()
    pstat.kickoff()
    pstat.complete().wait(10)
    elapsed = lab.clock.now() - t0
    wait = pstat.backend.readz_wait_s
    expected = sum(eis_point_time(f) for f in freqs)           # what the instrument spends measuring
    assert expected <= elapsed <= expected + len(freqs) * wait * 1.01
    assert not com.cell_on(SECTION) and pstat.ended_by == "done"   # off as soon as the last point is in
    page = next(pstat.spectrum.collect_pages())
    times = page["data"]["ref600_eis_time"]
    assert len(times) == len(freqs) and all(b > a for a, b in zip(times, times[1:], strict=False))
    completed = 0.0
    for f, t in zip(freqs, times, strict=False):                   # each row at its own measurement's completion
        completed += eis_point_time(f)
        assert completed <= t + 1e-6 and t - completed <= len(freqs) * wait * 1.01
    assert not any(abs(t / POLL_S - round(t / POLL_S)) < 1e-6 for t in times)


def test_impedance_point_whose_result_never_arrives_fails_with_the_cell_off(lab, com, pstat):
    com.lose_data_done(SECTION)
    pstat.prepare(PEIS(f_start="1 kHz", f_stop="100 Hz", points_per_decade=1, amplitude="10 mV"))
    pstat.kickoff()
    with pytest.raises(InstrumentError, match=r"no impedance result at 1000 Hz after 30.02 s; the cell was "
                                              r"switched off"):
        pstat.complete().wait(10)
    _no_current(lab, com)
    assert pstat.ended_by == "stopped"
