"""Every instrument x every fault: no reply, a garbled reply, the line dropped, the instrument's own error
reply, a stuck actuator (stall) and a power cycle, each in the middle of a run.

Each cell asserts what a user relies on: the run ends in a typed labctl error naming the instrument (never a
bare Status), its stop document says "fail" and why, every document emitted is stored, and the instrument is
in its safe state as the simulated world (not the faulty line) shows it, or, where nothing can make it safe
(a valve stuck open), the error says so by name and last known state. A line fault lasts until the run has
failed (a connector reseated, an instrument back up), so labctl's retries bring the instrument to its safe
state; the line that stays dead and the fault that passes within a few exchanges have tests of their own.
Rows are the default lab's instruments, plus ``ms_qmg``: its MS on a Pfeiffer QMG instead of the SRS RGA.
"""

from __future__ import annotations

import time

import bluesky.plan_stubs as bps
import pytest

from labctl.devices.errors import InstrumentError
from labctl.plans import plan
from labctl.plans.electrochem import galvanostatic_cycles
from labctl.plans.fluidics import flow_schedule
from labctl.plans.gas import ms_monitor
from labctl.plans.params import Clock, FlowController, StreamSelector, Valve
from labctl.plans.stubs.time import wait
from labctl.plans.stubs.valve import select_stream
from labctl.profile import default_profile_path
from labctl.session import Session


def _seal(v):
    yield from bps.mv(v.valve, "sealed")


@plan(cleanup=_seal)
def valve_sweeps(valve: Valve, clock: Clock, sweeps: int = 10):
    """Open the DEMS line to the sweep gas and seal it again, a minute each, recording the valve."""
    for _ in range(sweeps):
        for position in ("sweep", "sealed"):
            yield from bps.mv(valve, position)
            yield from bps.trigger_and_read([clock, valve])
            yield from wait(clock, 60)


def _to_the_cell(v):
    yield from bps.mv(v.selector, "dems_cell")


@plan(cleanup=_to_the_cell)
def stream_sweeps(selector: StreamSelector, clock: Clock, sweeps: int = 10):
    """Give the MS the carrier, then the DEMS cell's line again, a minute each, recording the selector."""
    for _ in range(sweeps):
        for port in ("carrier", "dems_cell"):
            yield from select_stream(selector, port, clock)
            yield from wait(clock, 60)


def _no_flow(v):
    yield from bps.mv(v.mfc, 0.0)


@plan(cleanup=_no_flow)
def carrier_flow(mfc: FlowController, clock: Clock, minutes: int = 30):
    """Carrier gas at 1 mL/min, the flow recorded every minute."""
    yield from bps.mv(mfc, 1.0)
    for _ in range(minutes):
        yield from bps.trigger_and_read([clock, mfc])
        yield from wait(clock, 60)


def _cycle(pstat):
    return lambda lab: galvanostatic_cycles(lab.devices[pstat], lab.clock, cycles=1, plate_time="30 min",
                                            record_dt="10 s", poll="1 min")


#: row -> (its plan, where its line faults are injected, its world stuck fault, is it safe in the world)
INSTRUMENTS = {
    "pump": (lambda lab: flow_schedule(lab.pump, lab.clock, [("240 uL/h", "30 min")], read_every="1 min"),
             "core", ("pump", "stall"), lambda w: not w.pump("pump").running),
    "d2o_pump": (lambda lab: flow_schedule(lab.d2o_pump, lab.clock, [("600 uL/h", "30 min")], read_every="1 min"),
                 "core", ("d2o_pump", "stall"), lambda w: not w.pump("d2o_pump").running),
    "dems_valve": (lambda lab: valve_sweeps(lab.dems_valve, lab.clock), "core", ("dems_valve", "stuck"),
                   lambda w: w.valve("dems_valve").position == "A" and not w.valve("dems_valve").moving),
    "ms_selector": (lambda lab: stream_sweeps(lab.ms_selector, lab.clock), "core", ("ms_selector", "stuck"),
                    lambda w: w.selector("ms_selector").position == 3 and not w.selector("ms_selector").moving),
    "ms": (lambda lab: ms_monitor(lab.ms, lab.clock, duration="30 min", period="10 s"), "core",
           ("ms", "filament_burned"), lambda w: w.mass_spec("ms").emission_mA == 0),
    "ms_qmg": (lambda lab: ms_monitor(lab.ms, lab.clock, duration="30 min", period="10 s"), "core",
               ("ms", "filament_burned"), lambda w: w.mass_spec("ms").emission_mA == 0),
    "mfc": (lambda lab: carrier_flow(lab.mfc, lab.clock), "core", ("mfc", "blocked"),
            lambda w: w.mfc("mfc").setpoint_mL_min == 0),
    "vmp3_1": (_cycle("vmp3_1"), "eclib", ("vmp3:1", "unplugged"), lambda w: w.channel("vmp3:1").state != "run"),
    "ref600": (_cycle("ref600"), "gamrycom", ("ref600:1", "unplugged"),
               lambda w: w.channel("ref600:1").state != "run"),
}
#: rows run on a variant of the default lab: row -> (the instrument's name there, the profile's text)
QMG = ('driver = "pfeiffer.qmg220"\ntransport = "sim://qms"\n'
       'options = { gases = { D2 = 4, HD = 3, CO2 = 44, O2 = 32, Ar = 40 }, emission_mA = 1.0, cycle_s = 1.0 }')


def _qmg_lab() -> str:
    """The default lab with a Pfeiffer QMG as its MS instead of the SRS RGA."""
    text = default_profile_path().read_text(encoding="utf-8")
    head, _, tail = text.partition("[instruments.ms]")
    entry, _, rest = tail.partition("safe_state")
    kind = next(line for line in entry.splitlines() if line.startswith("kind"))
    return f"{head}[instruments.ms]\n{kind}\n{QMG}\nsafe_state{rest}"


VARIANTS = {"ms_qmg": ("ms", _qmg_lab)}
FAULTS = ("no_reply", "garbage", "disconnect", "error_reply", "stuck", "reset")
LINE = {"no_reply": "silent", "garbage": "garbage", "disconnect": "disconnected", "error_reply": "error"}


def instrument(row: str) -> str:
    """The instrument a row of the matrix faults (its name in the row's lab)."""
    return VARIANTS[row][0] if row in VARIANTS else row


def _session(row: str, tmp_path) -> Session:
    if row not in VARIANTS:
        return Session.from_profile(data_dir=tmp_path)
    profile = tmp_path / f"{row}-lab.toml"
    profile.write_text(VARIANTS[row][1](), encoding="utf-8")
    return Session.from_profile(profile, data_dir=tmp_path / "data")


def _line(lab, name: str, where: str):
    if where == "core":
        return lab.simlab.cores[instrument(name)]
    if where == "eclib":
        return lab.simlab.eclib("vmp3")
    return lab.simlab.gamrycom()


def _inject(lab, name: str, fault: str) -> None:
    _, where, stuck, _ = INSTRUMENTS[name]
    line = _line(lab, name, where)
    if fault in LINE:
        if name == "ms" and fault == "error_reply":
            line.fail("RF4")  # the RGA's own error: a fault bit in its status byte, which it reports
        else:
            line.inject(LINE[fault])
    elif fault == "stuck":
        lab.simlab.world.inject_fault(*stuck)
    else:
        line.power_cycle()


def _heal(lab, name: str, fault: str) -> None:
    _, where, _, _ = INSTRUMENTS[name]
    line = _line(lab, name, where)
    if name == "ms" and fault == "error_reply":
        line.fail(None)
    elif fault in LINE:
        line.inject(None)


#: cells where the fault takes nothing from the run, which goes on: a VICI controller keeps its rotor where it
#: is through a power cycle
RIDDEN_THROUGH = {("dems_valve", "reset"), ("ms_selector", "reset")}
#: cells where nothing can make the instrument safe: row -> (what the report says, the world's state, healed by)
STUCK_UNSAFE = {
    ("dems_valve", "stuck"): ("position sweep", lambda w: w.valve("dems_valve").position == "B"),
    ("ms_selector", "stuck"): ("position carrier", lambda w: w.selector("ms_selector").position == 1),
}
#: cells where labctl does not yet notice the fault, so the run ends "success": marked, not hidden
UNDETECTED: dict[tuple[str, str], str] = {}
RESULTS: list[dict] = []


CELLS = [pytest.param(n, f, id=f"{n}-{f}", marks=[pytest.mark.xfail(reason=UNDETECTED[n, f], strict=True)]
                      if (n, f) in UNDETECTED else []) for n in INSTRUMENTS for f in FAULTS]


@pytest.mark.parametrize("name, fault", CELLS)
def test_a_fault_ends_the_run_typed_named_stored_and_safe(name, fault, tmp_path):
    make_plan, _, stuck, is_safe = INSTRUMENTS[name]
    row, name = name, instrument(name)
    with _session(row, tmp_path) as lab:
        docs: list = []
        events = {"n": 0, "injected_at": None}

        def inject_mid_run(kind, doc):
            docs.append((kind, doc))
            if kind in ("event", "event_page"):
                events["n"] += 1
                if events["n"] == 3:  # the valve is then open to the sweep gas
                    events["injected_at"] = (time.perf_counter(), lab.clock.time.get())
                    _inject(lab, row, fault)
            if kind == "stop":
                _heal(lab, row, fault)

        lab.RE.subscribe(inject_mid_run)
        if (row, fault) in RIDDEN_THROUGH:
            lab.run(make_plan(lab))
            (stop,) = [d for k, d in docs if k == "stop"]
            assert stop["exit_status"] == "success" and is_safe(lab.simlab.world)
            return
        with pytest.raises(Exception) as ended:
            lab.run(make_plan(lab))
        detected = (time.perf_counter(), lab.clock.time.get())
        exc = ended.value
        text = str(exc)
        assert isinstance(exc, InstrumentError), (type(exc), text)
        assert exc.instrument == name and text.startswith(f"{name}: ") and "Status(" not in text
        (stop,) = [d for k, d in docs if k == "stop"]
        assert stop["exit_status"] == "fail" and name in stop["reason"]
        stored = lab.storage.run(stop["run_start"])
        assert len(list(stored.documents())) == len(docs)
        world = lab.simlab.world
        unsafe = getattr(exc, "unsafe", None) or []
        if (row, fault) in STUCK_UNSAFE:  # nothing can move a stuck rotor: said by name and state
            said, where = STUCK_UNSAFE[row, fault]
            assert any(r.startswith(f"{name}: ") and said in r for r in unsafe), unsafe
            assert where(world)
            world.clear_fault(stuck[0])  # freed by hand, so the session closes cleanly
        else:
            assert unsafe == [] and is_safe(world), unsafe
        start = events["injected_at"]
        RESULTS.append({"instrument": row, "fault": fault, "error": type(exc).__name__,
                        "wall_s": detected[0] - start[0], "lab_s": detected[1] - start[1]})
