"""Going on with an interrupted experiment, or a whole interrupted campaign, as new runs linked to the old ones.

A run closed as interrupted (see :mod:`labctl.storage.recovery`) is continued by a new run of the same plan whose
start document says ``resumes`` (the old uid) and ``resumed`` (what was carried over). Galvanostatic cycling
goes on from where it was: cycle numbering, the running totals of plated and stripped charge and the CE
history continue, a cycle whose plating was done goes on with its strip, and the technique the potentiostat
may still be running is taken up (``reattach``) rather than started again. Other plans run again from their
start. A campaign (any of its runs names it) goes on with the experiments that did not finish: the ones that
finished are not run again, the interrupted ones resume, the ones not started start.

On the simulated lab the session starts from the simulated lab saved beside the data (:mod:`labctl.simstate`),
and what the old run recorded after that lab time is left out of what is carried over.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from labctl.storage.recovery import INTERRUPTED

CYCLING = "galvanostatic_cycles"
#: start-document fields a plan, the session or the RunEngine writes; the rest is the user's metadata
GENERATED = {"uid", "time", "versions", "scan_id", "plan_type", "plan_name", "plan_args", "detectors", "hints",
             "lab_time", "profile", "profile_path", "simulated", "labctl_version", "instruments", "sim_seed",
             "potentiostat", "techniques", "electrode_area_cm2", "resumes", "resumed"}


class ResumeError(ValueError):
    """A run or campaign that cannot be resumed; the message is one line saying why."""


@dataclass
class Continuation:
    """What to run to go on with one interrupted run: its plan, parameters (devices by name) and metadata."""

    uid: str
    plan: str
    params: dict
    md: dict
    carried: dict = field(default_factory=dict)

    def line(self) -> str:
        """What the command says it is doing."""
        done = self.carried.get("cycles_done")
        what = f", from cycle {self.params['first_cycle']}" if done is not None else " from its start"
        return f"{self.plan} of run {self.uid[:8]} goes on{what}"


def interrupted(run) -> bool:
    """Whether a stored run was cut short by a crash (closed at the next start, or not closed yet)."""
    stop = run.stop
    return stop is None or (stop.get("exit_status") == "fail" and stop.get("reason") == INTERRUPTED)


def continuation(run, cut: float | None = None, *, ended_after_cut: bool = False) -> Continuation:
    """How to go on with interrupted *run* (a StoredRun); *cut*: the lab time up to which its data hold (the
    saved simulated lab's), None for all of them. ``ended_after_cut``: the run ended, but after *cut*, so in
    the simulated lab started from the saved state it is still going on."""
    start = run.start
    if not interrupted(run) and not ended_after_cut:
        status = run.stop.get("exit_status")
        raise ResumeError(f"run {run.uid[:8]} ended ({status}, not interrupted): there is nothing to resume")
    plan = start.get("plan_name")
    params = {k: v for k, v in (start.get("plan_args") or {}).items() if k != "md" and v is not None}
    md = {k: v for k, v in start.items() if k not in GENERATED and isinstance(v, (str, int, float, bool))}
    md["resumes"] = run.uid
    carried: dict = {}
    if plan == CYCLING:
        carried = _cycling_state(run, params, cut)
        params.update(carried.pop("params"))
    md["resumed"] = {"from": run.uid, **carried}
    return Continuation(run.uid, plan, params, md, carried)


def _state_at(run, cut: float | None) -> str:
    """What had become of *run* at lab time *cut*: "not started", "ended" or "interrupted"."""
    if cut is not None and run.start.get("lab_time", float("-inf")) > cut:
        return "not started"
    if interrupted(run):
        return "interrupted"
    stopped = run.stop.get("lab_time")
    return "interrupted" if cut is not None and stopped is not None and stopped > cut else "ended"


def _cycling_state(run, params: dict, cut: float | None) -> dict:
    """Where an interrupted galvanostatic_cycles run was: cycles done (up to *cut*), totals, the cycle in hand."""
    from labctl.analysis.columns import lab_time

    first = int(params.get("first_cycle", 1))
    total = int(params.get("cycles", 10))
    plated_before = _coulombs(params.get("plated_before", 0.0))
    stripped_before = _coulombs(params.get("stripped_before", 0.0))
    since = run.start.get("lab_time", 0.0)
    done, ce = 0, []
    if "cycles" in run.streams:
        table = run.table("cycles")
        if cut is not None:
            table = table[lab_time(table) <= cut]
        if len(table):
            done = len(table)
            ce = [float(x) for x in table["cycles_ce"]]
            last = table.iloc[-1]
            plated_before = float(last.get("cycles_plated_total", plated_before + table["cycles_plated_charge"].sum()))
            stripped_before = float(last.get("cycles_stripped_total",
                                             stripped_before + table["cycles_stripped_charge"].sum()))
            since = float(lab_time(table).iloc[-1])
    in_progress = None
    pstat = params.get("pstat")
    if "plate" in run.streams and pstat:
        plate = run.table("plate", timestamps=True)
        stamps = plate["timestamp"]
        rows = plate[stamps > since]   # the cycle in hand's plating (then later ones), done if ended by the cut
        if len(rows) and f"{pstat}_Q" in rows:
            clock = rows[f"{pstat}_time"].to_numpy()   # the instrument's time: from 0 at each technique's start
            restarts = [i for i in range(1, len(clock)) if clock[i] < clock[i - 1]]
            rows = rows.iloc[:restarts[0]] if restarts else rows
            if cut is None or rows["timestamp"].max() <= cut:
                in_progress = abs(float(rows[f"{pstat}_Q"].iloc[-1]))
    remaining = total - done
    if remaining <= 0:
        raise ResumeError(f"run {run.uid[:8]} had done all its {total} cycles: there is nothing to resume")
    out = {"first_cycle": first + done, "cycles": remaining, "plated_before": f"{plated_before!r} C",
           "stripped_before": f"{stripped_before!r} C", "reattach": True}
    if in_progress is not None:
        out["plated_in_progress"] = f"{in_progress!r} C"
    return {"params": out, "cycles_done": first - 1 + done, "ce_history": ce, "plated_before_C": plated_before,
            "stripped_before_C": stripped_before, "plated_in_progress_C": in_progress, "lab_time_cut": cut}


def _coulombs(value) -> float:
    from labctl.devices.units import magnitude

    return float(magnitude(value, "C", name="charge"))


# -- campaigns ---------------------------------------------------------------------------------------------


@dataclass
class CampaignResume:
    """The experiments of an interrupted campaign still to run: name -> changes for ``Campaign.submit(only=)``,
    and a line for each experiment saying what becomes of it."""

    campaign_id: str
    file: Path
    only: dict
    lines: list[str]


def campaign_resume(storage, run, load, cut: float | None = None) -> CampaignResume:
    """What is left of the campaign execution *run* (a StoredRun) belongs to; *load(path)* loads and checks
    the campaign file (against the profile)."""
    start = run.start
    campaign_id, path = start.get("campaign_id"), start.get("campaign_file")
    if not campaign_id or not path:
        raise ResumeError(f"run {run.uid[:8]} records no campaign file: resume it as a single run")
    campaign = load(Path(path))
    if start.get("campaign_sha256") and campaign.sha256 != start["campaign_sha256"]:
        raise ResumeError(f"{path} has changed since campaign {start.get('campaign')!r} ran; resuming would not "
                          "continue the same campaign")
    latest: dict = {}
    for summary in storage.runs({"campaign_id": campaign_id}):   # newest first
        latest.setdefault(summary.metadata.get("campaign_experiment"), summary)
    only, lines = {}, []
    for spec in campaign.experiments:
        summary = latest.get(spec.name)
        old = None if summary is None else storage.run(summary.uid)
        state = "not started" if old is None else _state_at(old, cut)
        link = {} if old is None else {"resumes": old.uid, "resumed": {"from": old.uid}}
        if state == "not started":
            only[spec.name] = {"params": {}, "md": link, "checkpoint": True}
            lines.append(f"{spec.name}: not started; starts")
        elif state == "ended":
            lines.append(f"{spec.name}: {old.stop.get('exit_status')} in run {old.uid[:8]}; not run again")
        elif spec.plan == CYCLING:
            try:
                cont = continuation(old, cut, ended_after_cut=True)
            except ResumeError:   # every cycle was done by the saved lab time: nothing left of it to do
                lines.append(f"{spec.name}: {old.stop.get('exit_status')} in run {old.uid[:8]}; not run again")
                continue
            params = {k: v for k, v in cont.params.items() if k in _RESUME_PARAMS}
            only[spec.name] = {"params": params, "md": {"resumes": old.uid, "resumed": cont.md["resumed"]},
                               "checkpoint": False}
            lines.append(f"{spec.name}: interrupted in run {old.uid[:8]}; goes on from cycle {params['first_cycle']}")
        else:
            only[spec.name] = {"params": {}, "md": link, "checkpoint": False}
            lines.append(f"{spec.name}: interrupted in run {old.uid[:8]}; runs again from its start")
    return CampaignResume(campaign_id, Path(path), only, lines)


_RESUME_PARAMS = {"first_cycle", "cycles", "plated_before", "stripped_before", "plated_in_progress", "reattach"}
