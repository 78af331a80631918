"""One Ctrl-C in every plan of the registry: the run pauses within one reading period of lab time, and once
resumed it is the same run going on, as if nothing had happened.

Each plan runs with short parameters on the shared simulated lab. Once it is in its long phase (its first
reading in its main stream, or its first technique started) a deferred pause (``RE.request_pause(defer=True)``,
what one Ctrl-C does) is asked for 0.45 of a reading period later, from a lab-clock timer: the request lands
between two readings, where a plan without a checkpoint in its long phase would run on to the end of it.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
from bluesky.utils import RunEngineInterrupted
from labwatch import FAST_TITRATION, assemble, message_hook

from labctl.analysis.columns import lab_time
from labctl.app.plan_registry import discover_plans

PLANS = discover_plans()

#: lab time between the checkpoint that takes the pause and the request, beyond one reading period: none.
#: Every wait is a whole number of lab-clock steps, so the only slack is floating-point rounding of the sums.
TOLERANCE_S = 1e-6


@dataclass(frozen=True)
class Case:
    """A short call of a plan, the stream it records its long phase in, and that stream's reading period."""

    call: Callable   # (lab) -> plan generator
    stream: str
    period_s: float
    cell: tuple | None = None   # assemble(lab, *cell) first


def _d(lab):
    return lab.devices


PUMPS = ("pump", "d2o_pump")
COIN = ("coin", "coin", "ecdmc", 1.767, "vmp3:1")

CASES = {
    "readings": Case(lambda lab: PLANS["readings"](lab.clock, [_d(lab)["mfc"]], num=6, period="1 min"),
                     "primary", 60.0),
    "count": Case(lambda lab: PLANS["count"]([lab.clock, _d(lab)["mfc"]], num=6), "primary", 0.0),
    "ocv": Case(lambda lab: PLANS["ocv"](_d(lab)["vmp3_1"], lab.clock, duration="10 min", record_dt="10 s"),
                "ocv", 10.0, COIN),
    "galvanostatic_cycles": Case(
        lambda lab: PLANS["galvanostatic_cycles"](_d(lab)["vmp3_1"], lab.clock, cycles=2, plate_time="20 min",
                                                  record_dt="30 s"), "plate", 30.0, COIN),
    "rate_test": Case(
        lambda lab: PLANS["rate_test"](_d(lab)["vmp3_1"], lab.clock, current_densities=["1 mA/cm^2", "2 mA/cm^2"],
                                       plate_capacity="0.1 mAh/cm^2", cycles_per_rate=1, record_dt="20 s"),
        "plate", 20.0, COIN),
    "cv": Case(lambda lab: PLANS["cv"](_d(lab)["vmp3_1"], lab.clock, e_start="2 V", vertex1="2.5 V",
                                       vertex2="1.5 V", scan_rate="1 mV/s", step="5 mV"), "cv", 5.0, COIN),
    "eis": Case(lambda lab: PLANS["eis"](_d(lab)["vmp3_1"], lab.clock, f_start="10 Hz", f_stop="0.1 Hz",
                                         points_per_decade=4), "eis", 1.0, COIN),
    "flow_schedule": Case(lambda lab: PLANS["flow_schedule"](_d(lab)["pump"], lab.clock,
                                                             [("240 uL/h", "10 min"), ("120 uL/h", "10 min")],
                                                             read_every="2 min"), "primary", 120.0),
    "ms_monitor": Case(lambda lab: PLANS["ms_monitor"](_d(lab)["ms"], lab.clock, duration="2 min", period="10 s",
                                                       extra=[_d(lab)["mfc"]]), "primary", 10.0),
    "wait_for_baseline": Case(lambda lab: PLANS["wait_for_baseline"](_d(lab)["ms"], lab.clock, hold="2 min",
                                                                     timeout="30 min", period="10 s"),
                              "primary", 10.0),
    "ms_calibration": Case(lambda lab: PLANS["ms_calibration"](
        _d(lab)["ms"], _d(lab)["mfc"], _d(lab)["std_mfc"], lab.clock, valve=_d(lab)["dems_valve"],
        dilutions=[0, 0.2, 0.4], hold="1 min", duration="1 min", period="10 s"), "calibration", 10.0),
    "online_ms_titration": Case(lambda lab: PLANS["online_ms_titration"](
        _d(lab)["ms"], _d(lab)["mfc"], lab.clock, _d(lab)["operator"], valve=_d(lab)["dems_valve"],
        d2o_pump=_d(lab)["d2o_pump"], blank=True, electrolyte="dme", **FAST_TITRATION), "baseline", 10.0),
    "dems": Case(lambda lab: PLANS["dems"](
        _d(lab)["vmp3_2"], _d(lab)["dems_valve"], _d(lab)["ms"], _d(lab)["mfc"], lab.clock, _d(lab)["operator"],
        electrolyte="ecdmc", cycle_targets=[1], plate_time="5 min", record_dt="10 s", sweep_min="5 min",
        sweep_hold="2 min", period="10 s"), "gas", 10.0),
    "liquid_cell_operando": Case(lambda lab: PLANS["liquid_cell_operando"](
        _d(lab)["ref600"], _d(lab)["pump"], lab.clock, _d(lab)["operator"], flush_time="12 min",
        replenish_time="6 min", cycles=1, plate_time="20 s", strip_time_limit="1 min", record_dt="0.5 s"),
        "fluidics", 300.0, ("liquid", "liquid", "dme", 0.0005, "ref600:1")),
    "afm_plating": Case(lambda lab: PLANS["afm_plating"](_d(lab)["vmp3_1"], lab.clock, _d(lab)["operator"],
                                                         capture_times=[120, 240], strip_time_limit="10 min",
                                                         record_dt="5 s"),
                        "plate", 5.0, ("afm", "afm", "dme", 1.767, "vmp3:1")),
    "coin_cell_campaign": Case(lambda lab: PLANS["coin_cell_campaign"](
        _d(lab)["vmp3_1"], _d(lab)["ms"], _d(lab)["mfc"], lab.clock, _d(lab)["operator"],
        valve=_d(lab)["dems_valve"], d2o_pump=_d(lab)["d2o_pump"], electrolytes=["dme"], ce_cycles=1, blank=False,
        record_dt="30 s", eis_f_stop="10 Hz", titration=FAST_TITRATION), "plate", 30.0),
}

#: what each plan paused in, measured by the last run of this module: {plan: (latency lab s, period lab s)}
MEASURED: dict[str, tuple[float, float]] = {}


def test_every_plan_of_the_registry_has_a_case():
    assert sorted(CASES) == sorted(PLANS)


class CtrlC:
    """One deferred pause, asked for from a lab-clock timer half a reading period into the plan's long phase;
    records the lab times of the request and of the pause, and every message the engine processes."""

    def __init__(self, lab, case: Case):
        self.lab, self.case = lab, case
        self.clock = lab.simlab.clock
        self.requested_at: float | None = None
        self.paused_at: float | None = None
        self.messages: list = []
        self.kickoffs: list = []
        self.streams: dict[str, str] = {}
        self.armed = False
        self.run_uid: str | None = None
        self.last_start: str | None = None

    def hook(self, msg) -> None:
        """The engine's message hook: every message, and the first technique start arms the pause."""
        self.messages.append(msg)
        if msg.command == "kickoff":
            self.kickoffs.append(msg)
            self.arm()

    def document(self, name: str, doc: dict) -> None:
        if name == "start":
            self.last_start = doc["uid"]
        elif name == "descriptor":
            self.streams[doc["uid"]] = doc["name"]
        elif name in ("event", "event_page") and self.streams.get(doc["descriptor"]) == self.case.stream:
            self.arm()

    def arm(self) -> None:
        if self.armed:
            return
        self.armed = True
        self.run_uid = self.last_start
        delay = 0.45 * self.case.period_s   # between two readings, off the grid of the plan's looks
        if delay <= 0:
            self.request()
            return
        timer = self.clock.call_every(delay, lambda now: (timer.cancel(), self.request()))

    def request(self) -> None:
        """Ctrl-C at this lab time: lab time stands still until the engine has taken the request."""
        self.requested_at = self.clock.now()
        hold = self.clock.hold("ctrl-c")

        def press():
            try:
                self.lab.RE.request_pause(defer=True)
            finally:
                hold.release()

        threading.Thread(target=press, name="ctrl-c").start()

    def state(self, new: str, old: str) -> None:
        if new == "paused" and self.paused_at is None:
            self.paused_at = self.clock.now()


def _seq_nums(run) -> dict[str, list[int]]:
    names = {doc["uid"]: doc["name"] for name, doc in run.documents() if name == "descriptor"}
    seqs: dict[str, list[int]] = {}
    for name, doc in run.documents():
        if name == "event":
            seqs.setdefault(names[doc["descriptor"]], []).append(doc["seq_num"])
        elif name == "event_page":
            seqs.setdefault(names[doc["descriptor"]], []).extend(doc["seq_num"])
    return seqs


@pytest.mark.parametrize("name", sorted(CASES))
def test_one_ctrl_c_pauses_within_one_reading_period_and_the_run_goes_on(name, lab, world):
    case = CASES[name]
    if case.cell is not None:
        assemble(lab, *case.cell)
    watch = CtrlC(lab, case)
    token = lab.RE.subscribe(watch.document)
    previous_state_hook = lab.RE._user_state_hook
    lab.RE.state_hook = watch.state
    try:
        with message_hook(lab, watch.hook):
            with pytest.raises(RunEngineInterrupted):
                lab.run(case.call(lab), keep_paused=True)
            assert lab.RE.state == "paused"
            before_resume = len(watch.messages)
            uids = lab.resume()
    finally:
        lab.RE.unsubscribe(token)
        lab.RE.state_hook = previous_state_hook
    latency = watch.paused_at - watch.requested_at
    MEASURED[name] = (latency, case.period_s)
    print(f"\nCTRL-C {name}: paused {latency:g} lab s after the request; reading period {case.period_s:g} s")
    assert 0 <= latency <= case.period_s + TOLERANCE_S, (name, latency, case.period_s)

    assert watch.run_uid in uids
    run = lab.storage.run(watch.run_uid)
    assert run.stop["exit_status"] == "success"
    assert [n for n, _ in run.documents()].count("start") == 1
    descriptors = [doc["name"] for n, doc in run.documents() if n == "descriptor"]
    assert len(descriptors) == len(set(descriptors)), descriptors          # no stream declared twice
    for stream, seq in _seq_nums(run).items():
        assert seq == list(range(1, len(seq) + 1)), (stream, seq[:20])      # no restart, no duplicate, no gap
    for stream in run.streams:
        table = run.table(stream, timestamps=True)
        assert np.all(np.diff(lab_time(table).to_numpy(dtype=float)) >= 0), stream   # rows in lab-time order
        rows = table.drop(columns=[c for c in ("time", "seq_num") if c in table.columns])
        assert not rows.duplicated().any(), stream                                   # no row recorded twice
    assert len(run.table(case.stream)) > 1

    # nothing replayed but the wait for the running technique: no technique was started twice
    seen = {id(m) for m in watch.messages[:before_resume]}
    replayed = [m.command for m in watch.messages[before_resume:] if id(m) in seen]
    assert set(replayed) <= {"complete", "wait"}, replayed[:5]
    loaded = Counter(id(m) for m in watch.messages if m.command in ("prepare", "kickoff"))
    assert all(n == 1 for n in loaded.values())                              # no technique loaded twice
    pumped = [m for m in watch.messages if m.command == "set" and getattr(m.obj, "name", None) in PUMPS]
    assert len({id(m) for m in pumped}) == len(pumped)                        # no pump set going twice
