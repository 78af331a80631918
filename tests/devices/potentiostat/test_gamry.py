"""The Gamry Reference 600 backend through the GamryCOM fake, on the simulated lab's liquid cell.

The chip's Pt working electrode (0.0005 cm^2, DME electrolyte) sits on channel ``ref600:1`` as in the default
profile; it starts Na-free, resting near 2.7 V vs Na+/Na, so Na has to be plated before anything can strip.
"""

from __future__ import annotations

import math

import pytest
from gamry_lab import CHANNEL, J10, SECTION, com, lab  # noqa: F401  (fixtures)

from labctl.devices.errors import ConnectionLost, InstrumentError
from labctl.devices.potentiostat.gamry import GamryBackend
from labctl.devices.potentiostat.techniques import CV, GEIS, OCV, PEIS, Galvanostatic, Potentiostatic
from labctl.sim.sdk.gamry import IE_RANGES_A


@pytest.fixture
def backend(lab, com):
    b = GamryBackend(com, SECTION, lab.clock)
    b.connect()
    yield b
    b.disconnect()


def run(backend, clock, dt=0.5, limit=100_000):
    """Poll to the end like the device does: sleep on the lab clock between polls."""
    rows = []
    for _ in range(limit):
        new, running = backend.poll()
        rows += new
        if not running:
            return rows
        clock.sleep(dt)
    raise AssertionError("technique never ended")


def calls(com, method=None, cls=None):
    return [c for c in com.calls if (method is None or c[1] == method) and (cls is None or c[0] == cls)]


# -- tests ------------------------------------------------------------------------------------------------------
def test_connect_enumerates_opens_and_leaves_the_cell_off(lab, com):
    b = GamryBackend(com, SECTION, lab.clock)
    info = b.connect()
    assert info["serial"] == "12345" and "600" in info["model"]
    names = [(c[0], c[1]) for c in com.calls]
    assert names[:4] == [("GamryDeviceList", "EnumSections"), ("GamryPC5Pstat", "Init"),
                         ("GamryPC5Pstat", "Open"), ("GamryPC5Pstat", "SetCell")]
    assert com.calls[1][2] == (SECTION,) and com.calls[3][2] == (com.CellOff,)
    b.disconnect()
    assert com.calls[-1][:2] == ("GamryPC5Pstat", "Close")


def test_missing_device_is_a_clear_error_naming_what_was_found(lab, com):
    b = GamryBackend(com, "REF600-99999", lab.clock)
    with pytest.raises(InstrumentError, match=r"REF600-99999 is not in the Gamry device list \(found: REF600-12345\)"):
        b.connect()
    com.unplug(SECTION)
    with pytest.raises(InstrumentError, match=r"found: none.*USB cable"):
        GamryBackend(com, SECTION, lab.clock).connect()


def test_unplugged_during_a_run_raises_connection_lost(lab, com, backend):
    backend.load(Galvanostatic(current="-5 uA", duration="60 s"))
    backend.start()
    lab.clock.sleep(5)
    com.unplug(SECTION)
    with pytest.raises(ConnectionLost, match=r"stopped answering.*0x8007048F.*USB cable"):
        backend.poll()


def test_cell_lead_coming_off_mid_run_is_a_clear_error_and_keeps_the_rows(lab, com, backend):
    backend.load(Galvanostatic(current=-J10, duration="60 s", record_dt="1 s"))
    backend.start()
    lab.clock.sleep(10.5)
    first, running = backend.poll()
    assert running and len(first) == 11
    lab.clock.sleep(10.0)
    lab.world.inject_fault(CHANNEL, "unplugged")        # t = 20.5 s
    lab.clock.sleep(5.0)
    with pytest.raises(InstrumentError, match=r"CP ended at t = 20.5 s: the cell stopped responding.*leads") as err:
        backend.poll()
    assert err.value.reply == "Overload 0x4"
    assert backend.ended_by == "stopped" and calls(com, "SetCell")[-1][2] == (com.CellOff,)
    rows, running = backend.poll()                      # what was recorded before the fault is not lost
    assert not running and [r["time"] for r in rows] == pytest.approx([11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 20.5])
    assert all(r["I"] == pytest.approx(-J10) for r in rows[:-1]) and rows[-1]["I"] == 0.0
    assert backend.poll() == ([], False)
    # still off the cell: the next technique fails the same way instead of reporting made-up data
    backend.load(OCV(duration="10 s", record_dt="1 s"))
    backend.start()
    with pytest.raises(InstrumentError, match=r"OCV ended at t = 0 s: the cell stopped responding"):
        run(backend, lab.clock)
    lab.world.clear_fault(CHANNEL)
    backend.start()
    assert len(run(backend, lab.clock)) == 11 and backend.ended_by == "done"


def test_instrument_in_use_is_a_gamry_error_with_advice(lab, com, backend):
    other = GamryBackend(com, SECTION, lab.clock, name="second")
    with pytest.raises(InstrumentError) as err:
        other.connect()
    assert "Gamry error 0xA0040102" in str(err.value) and "close Gamry Framework" in str(err.value)
    assert err.value.reply == "Potentiostat in use by another application"


def test_current_beyond_the_instrument_is_a_gamry_error(lab, com, backend):
    # the profile would stop this first; here the instrument's own refusal must be readable
    backend.load(Galvanostatic(current="0.8 A", duration="10 s"))
    with pytest.raises(InstrumentError, match=r"Gamry error 0xA0040111 while starting CP.*600 mA") as err:
        backend.start()
    assert "exceeds the instrument" in err.value.reply


def test_galvanostatic_step_ends_within_one_sample_of_the_voltage_limit(lab, com, backend):
    # The chip starts Na-free near 2.7 V, above any stripping cutoff: plate first, then strip to 1 V.
    backend.load(Galvanostatic(current=-J10, duration="60 s", record_dt="1 s"))
    backend.start()
    plated = run(backend, lab.clock, dt=5.0)
    assert backend.ended_by == "done" and plated[-1]["Q"] == pytest.approx(-J10 * 60, rel=1e-9)

    strip = Galvanostatic(current=J10, e_max="1 V", record_dt="0.1 s", duration="600 s")
    backend.load(strip)
    assert calls(com, "SetCtrlMode")[-1][2] == (com.GstatMode,)
    assert calls(com, "SetIERangeMode")[-1][2] == (False,)
    assert IE_RANGES_A[calls(com, "SetIERange")[-1][2][0]] == pytest.approx(6e-6)  # smallest range >= 5 uA
    assert calls(com, "Init", "GamryDtaqCiiv") and calls(com, "SetStopXMax", "GamryDtaqCiiv")[-1][2] == (True, 1.0)
    backend.start()
    sig = calls(com, "Init", "GamrySignalConst")[-1][2]
    assert sig[1:4] == pytest.approx((J10, 600.0, 0.1)) and sig[4] == com.GstatMode
    order = [c[1] for c in com.calls if c[1] in ("SetSignal", "SetCell", "Run")]
    assert order[-3:] == ["SetSignal", "SetCell", "Run"] and calls(com, "SetCell")[-1][2] == (com.CellOn,)
    rows = run(backend, lab.clock)
    assert backend.ended_by == "limit"
    dv = max(b["Ewe"] - a["Ewe"] for a, b in zip(rows, rows[1:], strict=False))
    assert rows[-2]["Ewe"] < 1.0 <= rows[-1]["Ewe"] and rows[-1]["Ewe"] - 1.0 <= dv
    assert all(r["I"] == pytest.approx(J10, rel=1e-9) for r in rows)
    times = [r["time"] for r in rows]
    assert times == sorted(times) and times[-1] < 60.0      # less comes back than was plated
    # the instrument's record agrees with the cell: the firmware ended the step on the limit at that point,
    # and the charge the rows add up to is what left the electrode
    step, why, t_end = lab.world.channel(CHANNEL).step_log[-1]
    assert why == "limit" and t_end == pytest.approx(times[-1])
    assert rows[-1]["Q"] == pytest.approx(lab.world.cell("liquid").inventory()["stripped_C"], rel=1e-9)
    assert calls(com, "SetCell")[-1][2] == (com.CellOff,)


def test_charge_limit_becomes_a_duration(lab, com, backend):
    backend.load(Galvanostatic(current="-5 uA", charge="50 uC", record_dt="1 s"))
    backend.start()
    assert calls(com, "Init", "GamrySignalConst")[-1][2][2] == pytest.approx(10.0)
    assert calls(com, "Init", "GamryDtaqChrono")[-1][2][1] == com.ChronoPot
    rows = run(backend, lab.clock)
    assert backend.ended_by == "done"
    assert rows[-1]["time"] == pytest.approx(10.0) and rows[-1]["Q"] == pytest.approx(-50e-6, rel=1e-3)


def test_cv_at_20_mV_per_s_has_the_points_its_range_and_step_imply(lab, com, backend):
    cv = CV(e_start="0 V", vertex1="-0.3 V", vertex2="0.5 V", e_end="0 V", scan_rate="20 mV/s", step="2 mV",
            cycles=2)
    backend.load(cv)
    backend.start()
    init = calls(com, "Init", "GamrySignalRupdn")[-1][2]
    assert init[1:5] == (0.0, -0.3, 0.5, 0.0) and init[5:8] == (0.02, 0.02, 0.02)
    assert init[11] == pytest.approx(0.1) and init[12] == 2 and init[13] == com.PstatMode
    assert calls(com, "SetIERangeMode")[-1][2] == (True,)
    rows = run(backend, lab.clock, dt=5.0)
    assert backend.ended_by == "done"
    assert len(rows) == cv.expected_points()
    assert rows[-1]["time"] == pytest.approx(cv.duration(), abs=1e-9)
    # every point sits on the programmed triangle at its own time
    path = cv.vertices()
    for r in rows:
        left = r["time"] * 0.02
        for a, b in zip(path, path[1:], strict=False):
            if left <= abs(b - a) + 1e-12:
                assert r["Ewe"] == pytest.approx(a + math.copysign(left, b - a), abs=1e-9)
                break
            left -= abs(b - a)
    assert {r["cycle"] for r in rows} == {0, 1}
    lowest = min(rows, key=lambda r: r["Ewe"])
    assert lowest["Ewe"] == pytest.approx(-0.3) and lowest["I"] < 0     # Na plates below 0 V


def test_peis_1MHz_to_100mHz_at_10_points_per_decade(lab, com, backend):
    peis = PEIS(f_start="1 MHz", f_stop="0.1 Hz", points_per_decade=10, amplitude="10 mV")
    backend.load(peis)
    backend.start()
    rows = run(backend, lab.clock, dt=1.0)
    assert backend.ended_by == "done"
    assert len(rows) == 71
    measured = [c[2][0] for c in calls(com, "Measure")]
    assert measured == pytest.approx(peis.frequencies()) and all(c[2][1] == 0.01 for c in calls(com, "Measure"))
    freqs = [r["freq"] for r in rows]
    assert freqs[0] == pytest.approx(1e6) and freqs[-1] == pytest.approx(0.1)
    assert all(b < a for a, b in zip(freqs, freqs[1:], strict=False))
    for r in rows:
        assert r["Zmod"] == pytest.approx(math.hypot(r["Zre"], r["Zim"]), rel=1e-9)
        assert r["Zphase"] == pytest.approx(math.degrees(math.atan2(r["Zim"], r["Zre"])), abs=1e-9)
    assert rows[0]["Zre"] < rows[-1]["Zre"]   # high-frequency intercept below the low-frequency one
    cell = lab.world.cell("liquid")             # noiseless lab: exactly the cell's equivalent circuit
    for r in rows:
        assert complex(r["Zre"], r["Zim"]) == pytest.approx(cell.impedance(r["freq"]), rel=1e-9)
    assert [r["time"] for r in rows] == sorted(r["time"] for r in rows)


def test_readz_retry_measures_the_same_frequency_again(lab, com, backend):
    com.inject_readz_retries(SECTION, 2)
    backend.load(GEIS(f_start="10 kHz", f_stop="1 kHz", points_per_decade=2, amplitude="1 uA", dc="2 uA"))
    backend.start()
    rows = run(backend, lab.clock, dt=0.1)
    measured = [c[2][0] for c in calls(com, "Measure")]
    assert measured[:3] == pytest.approx([1e4, 1e4, 1e4]) and len(measured) == 5 and len(rows) == 3
    assert calls(com, "SetCtrlMode")[-1][2] == (com.GstatMode,) and calls(com, "SetIdc")[-1][2] == (2e-6,)


def test_readz_that_never_settles_is_a_clear_error(lab, com, closing):
    b = closing(GamryBackend(com, SECTION, lab.clock, readz_retries=1), "disconnect")
    b.connect()
    com.inject_readz_retries(SECTION, 5)
    b.load(PEIS(f_start="1 kHz", f_stop="100 Hz", points_per_decade=1, amplitude="10 mV"))
    b.start()
    with pytest.raises(InstrumentError, match=r"1000 Hz still unsettled after 1 retries"):
        run(b, lab.clock, dt=0.1)
    assert calls(com, "SetCell")[-1][2] == (com.CellOff,)


def test_stopped_early_keeps_every_row_recorded_until_the_stop(lab, com, backend):
    backend.load(Potentiostatic(potential="0.3 V", duration="100 s", record_dt="1 s"))
    backend.start()
    first, running = backend.poll()
    assert running
    lab.clock.sleep(20.0)      # data accumulates in the instrument, nobody polls
    backend.stop()
    assert calls(com, "Run")[-1][2] == (False,) and calls(com, "SetCell")[-1][2] == (com.CellOff,)
    rows, running = backend.poll()
    rows = first + rows
    assert not running and backend.ended_by == "stopped"
    assert len(rows) == 21 and rows[-1]["time"] == pytest.approx(20.0)
    assert backend.poll() == ([], False)


def test_data_after_the_end_is_drained_before_reporting_not_running(lab, com, backend):
    backend.load(OCV(duration="30 s", record_dt="0.5 s"))
    backend.start()
    assert all(c[2] != (com.CellOn,) for c in calls(com, "SetCell"))   # OCV runs with the cell switch open
    lab.clock.sleep(100.0)
    rows, running = backend.poll()
    assert not running and backend.ended_by == "done"
    assert len(rows) == 61 and rows[-1]["time"] == pytest.approx(30.0)
    assert all(r["I"] == 0.0 for r in rows)


def _raw_ocv(com, seconds, period):
    pstat = com.GamryPC5Pstat()
    pstat.Init(SECTION)
    pstat.Open()
    signal = com.GamrySignalConst()
    signal.Init(pstat, 0.0, seconds, period, com.PstatMode)
    pstat.SetSignal(signal)
    dtaq = com.GamryDtaqOcv()
    dtaq.Init(pstat)
    return pstat, dtaq


def test_events_only_reach_a_sink_while_its_connection_lives(lab, com):
    class Sink:
        seen = 0

        def _IGamryDtaqEvents_OnDataAvailable(self, this):
            self.seen += 1

    pstat, dtaq = _raw_ocv(com, 5.0, 0.5)
    sink = Sink()
    conn = com.GetEvents(dtaq, sink)
    dtaq.Run(True)
    lab.clock.sleep(2.0)
    assert sink.seen == 0            # nothing arrives until somebody pumps
    com.PumpEvents(0.0)
    assert sink.seen == 1
    del conn
    lab.clock.sleep(1.0)
    com.PumpEvents(0.0)
    assert sink.seen == 1
    pstat.Close()


def test_cook_returns_column_major_chunks_until_zero(lab, com):
    pstat, dtaq = _raw_ocv(com, 10.0, 0.1)
    dtaq.Run(True)
    lab.clock.sleep(10.0)
    count, cols = dtaq.Cook(40)
    assert count == 40 and len(cols) == 10 and all(len(c) == 40 for c in cols)
    total = count
    while count:
        count, cols = dtaq.Cook(40)
        total += count
    assert total == 101
    assert cols == ((),) * 10
    pstat.Close()


def test_no_row_is_lost_when_lab_time_moves_between_reads(lab, com, backend, monkeypatch):
    # In a plan another thread (the lab clock, a second device) can move lab time while the backend reads the
    # instrument; the run may end in between, and the rows recorded until then must still arrive.
    channel = lab.world.channel(CHANNEL)
    drain = channel.drain

    def drain_then_time_passes():
        out = drain()
        monkeypatch.setattr(channel, "drain", drain)
        lab.clock.sleep(30.0)
        return out

    backend.load(OCV(duration="10 s", record_dt="1 s"))
    backend.start()
    lab.clock.sleep(2.5)
    monkeypatch.setattr(channel, "drain", drain_then_time_passes)
    rows = run(backend, lab.clock)
    assert backend.ended_by == "done" and [r["time"] for r in rows] == pytest.approx(range(11))


@pytest.mark.parametrize("technique", [Galvanostatic(current="-5 uA", duration="60 s", record_dE="5 mV"),
                                       OCV(duration="60 s", record_dE="1 mV")])
def test_record_on_a_potential_change_is_refused_before_any_com_call(lab, com, backend, technique):
    before = len(com.calls)
    with pytest.raises(ValueError, match=r"record_dE=0\.00\d+ V is not supported on the Gamry backend.*record_dt"):
        backend.load(technique)
    assert com.calls[before:] == []
    assert lab.world.channel(CHANNEL).state == "stop"
