"""The Gamry Reference 600 backend through the GamryCOM fake, on the simulated world's potentiostat channel."""

from __future__ import annotations

import math
import sys
import types
from collections import namedtuple
from dataclasses import dataclass

import pytest

from labctl.sim.clock import SimClock

# -- the simulated world (a small stand-in channel until labctl.sim.world exists) ---------------------------
try:
    from labctl.sim.lab import SimLab
    from labctl.sim.world import Step  # noqa: F401
except ImportError:
    SimLab = None

    @dataclass(frozen=True)
    class Limit:
        var: str
        op: str
        value: float
        action: str = "stop"

    @dataclass(frozen=True)
    class Step:
        mode: str
        value: float = 0.0
        duration: float | None = None
        charge_limit: float | None = None
        limits: tuple = ()
        record_dt: float | None = None
        record_dE: float | None = None
        vs_ocv: bool = False
        vertices: tuple = ()
        scan_rate: float | None = None
        cycles: int = 1
        frequencies: tuple = ()
        amplitude: float = 0.0
        galvanostatic: bool = False
        dc: float = 0.0

    _mod = types.ModuleType("labctl.sim.world")
    _mod.Step, _mod.Limit = Step, Limit
    sys.modules.setdefault("labctl.sim.world", _mod)

Sample = namedtuple("Sample", "t step Ewe I Q cycle")
EisSample = namedtuple("EisSample", "t step freq Z Ewe I Ewe_amp I_amp")

RS, RCT, CDL, E0 = 50.0, 1.0e4, 2e-4, 0.1  # stand-in cell: Rs + (Rct || Cdl), rest potential E0


class _StandInChannel:
    """Rs + (Rct || C) cell under the Step semantics of docs/world-api.md (time-stepped, lazily)."""

    def __init__(self, clock):
        self.clock = clock
        self.cell = "liquid"
        self.state, self.ended_by, self.step_index = "stop", None, 0
        self._steps, self._samples, self._vc = [], [], 0.0
        self._t0 = self._t = self._step_t0 = 0.0
        self._q = 0.0

    def load(self, steps):
        self._steps = list(steps)

    def start(self):
        self.state, self.ended_by, self.step_index = "run", None, 0
        self._t0 = self.clock.now()
        self._t = self._step_t0 = 0.0
        self._q, self._last_rec = 0.0, -1e9
        self._begin_step()

    def stop(self):
        self._advance()
        if self.state == "run":
            self.state, self.ended_by = "stop", "stopped"

    def drain(self):
        self._advance()
        out, self._samples = self._samples, []
        return out

    def instant(self):
        self._advance()
        if self.state == "stop":
            return E0 + self._vc, 0.0
        return self._e, self._i

    # -- physics ------------------------------------------------------------------------------------------
    def _begin_step(self):
        s = self._steps[self.step_index]
        self._step_t0, self._q = self._t, 0.0
        if s.mode == "eis":
            self._eis_end = self._t + max(3.0 / s.frequencies[0], 0.01)
        self._solve(s, 0.0)
        self._record(force=True)

    def _target_e(self, s, tau):
        if s.mode == "sweep":
            left = tau * s.scan_rate
            for a, b in zip(s.vertices, s.vertices[1:]):
                if left <= abs(b - a):
                    return a + math.copysign(left, b - a)
                left -= abs(b - a)
            return s.vertices[-1]
        return s.value

    def _solve(self, s, tau):
        if s.mode == "cc":
            self._i = s.value
        elif s.mode in ("cp_e", "sweep"):
            self._i = (self._target_e(s, tau) - E0 - self._vc) / RS
        else:
            self._i = 0.0
        self._e = E0 + self._vc + self._i * RS

    def _duration(self, s):
        if s.mode == "sweep":
            return sum(abs(b - a) for a, b in zip(s.vertices, s.vertices[1:])) / s.scan_rate
        if s.mode == "eis":
            return self._eis_end - self._step_t0
        return s.duration

    def _record(self, force=False):
        s = self._steps[self.step_index]
        if s.mode == "eis":
            return
        if force or self._t - self._last_rec >= s.record_dt - 1e-9:
            self._samples.append(Sample(self._t, self.step_index, self._e, self._i, self._q, 0))
            self._last_rec = self._t

    def _advance(self):
        if self.state != "run":
            return
        target = self.clock.now() - self._t0
        while self.state == "run" and self._t < target - 1e-12:
            s = self._steps[self.step_index]
            dur = self._duration(s)
            end = self._step_t0 + dur if dur is not None else math.inf
            dt = min((s.record_dt or 0.01) / 4, target - self._t, end - self._t)
            if s.mode == "sweep":
                dt = min(dt, (s.record_dt or 0.01) / 4)
            dt = max(dt, 0.0)
            self._t += dt
            tau = self._t - self._step_t0
            if s.mode in ("cc", "ocv"):
                i = s.value if s.mode == "cc" else 0.0
                vinf, rc = i * RCT, RCT * CDL
            elif s.mode != "eis":
                vinf = (self._target_e(s, tau) - E0) * RCT / (RS + RCT)
                rc = RS * RCT * CDL / (RS + RCT)
            if s.mode != "eis":
                self._vc = vinf + (self._vc - vinf) * math.exp(-dt / rc)
                self._solve(s, tau)
                self._q += self._i * dt
            hit = any((getattr(self, "_e" if lim.var == "Ewe" else "_i") < lim.value) if lim.op == "<" else
                      (getattr(self, "_e" if lim.var == "Ewe" else "_i") > lim.value) for lim in s.limits)
            if hit:
                self._record(force=True)
                self.state, self.ended_by = "stop", "limit"
                return
            if self._t >= end - 1e-12:
                if s.mode == "eis":
                    f = s.frequencies[0]
                    z = RS + RCT / (1 + 2j * math.pi * f * RCT * CDL)
                    i_amp = s.amplitude if s.galvanostatic else s.amplitude / abs(z)
                    self._samples.append(EisSample(self._t, self.step_index, f, z, E0, 0.0,
                                                   i_amp * abs(z), i_amp))
                else:
                    self._record(force=True)
                self.step_index += 1
                if self.step_index >= len(self._steps):
                    self.state, self.ended_by = "stop", "done"
                    return
                self._begin_step()
            else:
                self._record()


class _StandInWorld:
    def __init__(self):
        self.clock = SimClock(start=1_700_000_000.0)
        self._channels = {}

    def now(self):
        return self.clock.now()

    def channel(self, name):
        return self._channels.setdefault(name, _StandInChannel(self.clock))


class Lab:
    def __init__(self):
        if SimLab is not None:
            self.simlab = SimLab({"seed": 1, "noise": 0.0, "cells": {
                "liquid": {"kind": "liquid", "electrolyte": "dme", "area_cm2": 0.0005, "channel": "ref600:1"}}})
            self.clock, self.world = self.simlab.clock, self.simlab.world
        else:
            self.simlab = None
            self.world = _StandInWorld()
            self.clock = self.world.clock

    def close(self):
        if self.simlab is not None:
            self.simlab.close()


# -- fixtures -------------------------------------------------------------------------------------------------
from labctl.devices.errors import ConnectionLost, InstrumentError  # noqa: E402
from labctl.devices.potentiostat.gamry import GamryBackend  # noqa: E402
from labctl.devices.potentiostat.techniques import CV, GEIS, OCV, PEIS, Galvanostatic, Potentiostatic  # noqa: E402
from labctl.sim.sdk.gamrycom import IE_RANGES_A, FakeGamryCOM  # noqa: E402

SECTION = "REF600-12345"


@pytest.fixture
def lab():
    lab = Lab()
    yield lab
    lab.close()


@pytest.fixture
def com(lab):
    return FakeGamryCOM(lab.world)


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
    cp = Galvanostatic(current="50 uA", e_max="0.3 V", record_dt="0.1 s", duration="600 s")
    backend.load(cp)
    assert calls(com, "SetCtrlMode")[-1][2] == (com.GstatMode,)
    assert calls(com, "SetIERangeMode")[-1][2] == (False,)
    assert IE_RANGES_A[calls(com, "SetIERange")[-1][2][0]] == pytest.approx(60e-6)  # smallest range >= 50 uA
    assert calls(com, "SetStopXMax", "GamryDtaqCiiv")[-1][2] == (True, 0.3)
    backend.start()
    sig = calls(com, "Init", "GamrySignalConst")[-1][2]
    assert sig[1:4] == pytest.approx((50e-6, 600.0, 0.1)) and sig[4] == com.GstatMode
    order = [c[1] for c in com.calls if c[1] in ("SetSignal", "SetCell", "Run")]
    assert order[-3:] == ["SetSignal", "SetCell", "Run"] and calls(com, "SetCell")[-1][2] == (com.CellOn,)
    rows = run(backend, lab.clock)
    assert backend.ended_by == "limit"
    assert rows[-1]["Ewe"] >= 0.3
    dv = max(b["Ewe"] - a["Ewe"] for a, b in zip(rows, rows[1:]))
    assert rows[-2]["Ewe"] < 0.3 and rows[-1]["Ewe"] - 0.3 <= dv
    assert rows[-1]["time"] < 600.0
    assert all(abs(r["I"] - 50e-6) < 1e-9 for r in rows)
    times = [r["time"] for r in rows]
    assert times == sorted(times) and rows[-1]["Q"] == pytest.approx(50e-6 * times[-1], rel=0.02)
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
    assert rows[-1]["time"] == pytest.approx(cv.duration(), abs=0.2)
    e = [r["Ewe"] - r["I"] * 0 for r in rows]
    assert min(e) < -0.25 and max(e) > 0.45
    assert {r["cycle"] for r in rows} == {0, 1}


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
    assert all(b < a for a, b in zip(freqs, freqs[1:]))
    for r in rows:
        assert r["Zmod"] == pytest.approx(math.hypot(r["Zre"], r["Zim"]), rel=1e-9)
        assert r["Zphase"] == pytest.approx(math.degrees(math.atan2(r["Zim"], r["Zre"])), abs=1e-9)
    assert rows[0]["Zre"] < rows[-1]["Zre"]   # high-frequency intercept below the low-frequency one
    assert [r["time"] for r in rows] == sorted(r["time"] for r in rows)


def test_readz_retry_measures_the_same_frequency_again(lab, com, backend):
    com.inject_readz_retries(SECTION, 2)
    backend.load(GEIS(f_start="10 kHz", f_stop="1 kHz", points_per_decade=2, amplitude="1 uA", dc="2 uA"))
    backend.start()
    rows = run(backend, lab.clock, dt=0.1)
    measured = [c[2][0] for c in calls(com, "Measure")]
    assert measured[:3] == pytest.approx([1e4, 1e4, 1e4]) and len(measured) == 5 and len(rows) == 3
    assert calls(com, "SetCtrlMode")[-1][2] == (com.GstatMode,) and calls(com, "SetIdc")[-1][2] == (2e-6,)


def test_readz_that_never_settles_is_a_clear_error(lab, com):
    b = GamryBackend(com, SECTION, lab.clock, readz_retries=1)
    b.connect()
    com.inject_readz_retries(SECTION, 5)
    b.load(PEIS(f_start="1 kHz", f_stop="100 Hz", points_per_decade=1, amplitude="10 mV"))
    b.start()
    with pytest.raises(InstrumentError, match=r"1000 Hz still unsettled after 1 retries"):
        run(b, lab.clock, dt=0.1)
    assert calls(com, "SetCell")[-1][2] == (com.CellOff,)
    b.disconnect()


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
