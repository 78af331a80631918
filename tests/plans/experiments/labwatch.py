"""Watching the simulated lab around a run: fresh cells, message hooks, and the state of everything a plan
could move."""

from __future__ import annotations

import contextlib

#: titration timings short enough for a test, long enough for every gas to come back to its baseline
FAST_TITRATION = {"hold": "2 min", "min_record": "10 min", "return_hold": "3 min", "period": "10 s"}


def assemble(lab, name: str, kind: str, electrolyte: str, area_cm2: float, channel: str | None = None):
    """A fresh cell, put together and plugged in by the simulated operator."""
    return lab.simlab.operator.perform("assemble_cell", name=name, kind=kind, electrolyte=electrolyte,
                                       area_cm2=area_cm2, channel=channel)


@contextlib.contextmanager
def message_hook(lab, hook):
    """Call *hook(msg)* for every message the session's RunEngine processes inside the block."""
    previous = lab.RE.msg_hook
    lab.RE.msg_hook = hook
    try:
        yield
    finally:
        lab.RE.msg_hook = previous


def world_state(lab) -> dict:
    """Everything an experiment plan could move, as the simulated world sees it."""
    w = lab.simlab.world
    return {
        "valve": w.valve("dems_valve").position,
        "pumps": {n: (w.pump(n).running, w.pump(n).infused_uL, w.pump(n).withdrawn_uL) for n in ("pump", "d2o_pump")},
        "channels": {n: w.channel(n).state for n in ("vmp3:1", "vmp3:2", "ref600:1")},
        "mfc_setpoint": w.mfc("mfc").setpoint_mL_min,
        "filament": w.mass_spec("ms").emission_mA,
        "vessel": w.gas.vessel,
        "titration_D2O_mol": w.titration.remaining()["D2O"],
        "runs": len(list(lab.storage.runs_dir.glob("*/*/*/*.jsonl"))),
    }


def lab_stamps(run, stream: str):
    """The lab-time stamps a flyer gave each row of *stream* (the event pages' ``timestamps``), read from the
    stored documents."""
    import numpy as np

    descriptors = {doc["uid"] for name, doc in run.documents()
                   if name == "descriptor" and doc.get("name", "primary") == stream}
    stamps: list[float] = []
    for name, doc in run.documents():
        if name == "event_page" and doc["descriptor"] in descriptors:
            stamps.extend(next(iter(doc["timestamps"].values())))
        elif name == "event" and doc["descriptor"] in descriptors:
            stamps.append(next(iter(doc["timestamps"].values())))
    return np.asarray(stamps, float)
