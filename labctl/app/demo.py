"""``labctl demo``: the paper's experiments on the simulated lab, stored, analysed and reported.

:func:`demo_plan` is the one place that decides what the demo runs.
"""

from __future__ import annotations

import time
from pathlib import Path

from labctl.plans.readings import readings


def demo_plan(session):
    """The paper's campaign on the simulated lab: four electrolytes on the coin-cell channel (a cycle then a
    titration, ten cycles, impedance) and a blank, DEMS for the carbonate and the ether cell, and one
    operando liquid-cell run. A lab without those instruments gets a run reading what it has."""
    d = session.devices
    needed = ("vmp3_1", "vmp3_2", "ref600", "ms", "mfc", "dems_valve", "pump", "operator")
    if not all(n in d for n in needed):
        detectors = [x for x in d.values() if x is not session.clock and hasattr(x, "read")]
        return readings(session.clock, detectors, num=5, period="60 s")
    from labctl.plans.campaign import coin_cell_campaign
    from labctl.plans.dems import dems
    from labctl.plans.liquid_cell import liquid_cell_operando

    def campaign():
        yield from coin_cell_campaign(d["vmp3_1"], d["ms"], d["mfc"], session.clock, d["operator"],
                                      valve=d["dems_valve"], d2o_pump=d.get("d2o_pump"))
        for electrolyte in ("ecdmc", "dme"):
            yield from dems(d["vmp3_2"], d["dems_valve"], d["ms"], d["mfc"], session.clock, d["operator"],
                            electrolyte=electrolyte, md={"campaign": "dems"})
        yield from liquid_cell_operando(d["ref600"], d["pump"], session.clock, d["operator"], mode="cv",
                                        cycles=2, md={"campaign": "liquid_cell"})

    return campaign()


def run_demo(session, out_dir: str | Path | None = None) -> dict:
    """Run the demo in *session* and write its report (figures, table) into *out_dir*.

    Returns ``{"uids": (...), "report": path of report.md}``.
    """
    from labctl.report import build_report

    uids = session.run(demo_plan(session), md={"labctl_demo": True})
    out = Path(out_dir or Path.cwd() / "demo-output" / time.strftime("%Y%m%d-%H%M%S")).expanduser()
    report = build_report([session.storage.run(uid) for uid in uids], out)
    return {"uids": uids, "report": report}
