"""The ophyd potentiostat as a flyer, driven directly (as the RunEngine would)."""

import pytest

from labctl.devices.errors import InstrumentError, LimitError
from labctl.devices.potentiostat.techniques import OCV, PEIS, Galvanostatic


def test_out_of_limit_technique_is_refused_before_it_reaches_the_instrument(eclib, pstat):
    with pytest.raises(LimitError, match=r"current=0\.5 A"):
        pstat.prepare(Galvanostatic("0.5 A", duration=10))
    assert "BL_LoadTechnique" not in eclib.calls
    assert pstat.technique.get() == ""


def test_flyer_rows_carry_units_instrument_time_and_lab_timestamps(clock, pstat):
    t0 = clock.now()
    assert pstat.prepare(OCV("60 s", record_dt="10 s")).done
    assert pstat.technique.get() == "OCV"
    assert pstat.kickoff().done
    status = pstat.complete()
    status.wait(5)
    assert status.success and pstat.ended_by == "done"
    keys = pstat.describe_collect()
    assert keys["vmp3_1_time"]["units"] == "s" and keys["vmp3_1_Ewe"]["units"] == "V"
    assert keys["vmp3_1_cycle"]["dtype"] == "integer"
    (page,) = list(pstat.collect_pages())
    assert page["data"]["vmp3_1_time"] == pytest.approx([0, 10, 20, 30, 40, 50, 60], abs=1e-4)
    assert page["timestamps"]["vmp3_1_Ewe"] == pytest.approx([t0 + 10 * k for k in range(7)], abs=1e-3)
    assert list(pstat.collect_pages()) == []      # each row is handed over once


def test_spectrum_view_collects_impedance_rows(clock, pstat):
    pstat.spectrum.prepare(PEIS("10 kHz", "10 Hz", 3, "10 mV"))
    pstat.spectrum.kickoff()
    pstat.spectrum.complete().wait(5)
    assert set(pstat.spectrum.describe_collect()) >= {"vmp3_1_eis_freq", "vmp3_1_eis_Zre", "vmp3_1_eis_Zim"}
    (page,) = list(pstat.spectrum.collect_pages())
    assert len(page["data"]["vmp3_1_eis_freq"]) == 10
    assert list(pstat.collect_pages()) == []      # nothing leaks into the time-domain stream


def test_safe_stops_a_running_technique_and_keeps_its_rows(clock, world, pstat):
    pstat.prepare(Galvanostatic("-1 mA", duration="1 h", record_dt="1 s"))
    pstat.kickoff()
    with pytest.raises(InstrumentError, match="still running"):
        pstat.prepare(OCV(10))
    clock.advance(30)
    assert pstat.state.get() == "run" and pstat.current.get() == pytest.approx(-1e-3, rel=1e-2)
    pstat.safe()
    assert world.channel("vmp3:1").state == "stop" and abs(pstat.current.get()) < 1e-9
    assert pstat.ended_by == "stopped" and not pstat.running
    (page,) = list(pstat.collect_pages())
    assert len(page["data"]["vmp3_1_time"]) == 31


def test_electrode_area_is_settable_configuration(pstat):
    pstat.electrode_area.put(0.5)
    conf = pstat.read_configuration()
    assert conf["vmp3_1_electrode_area"]["value"] == 0.5
    assert pstat.describe_configuration()["vmp3_1_electrode_area"]["units"] == "cm^2"
