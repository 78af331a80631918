"""``labctl demo``: the paper's campaign on the simulated lab, run in parallel, stored, analysed and reported.

The campaign itself is ``labctl/campaigns/paper.toml``; a lab without its instruments gets a run reading
what it has.
"""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path

from labctl.plans.readings import readings

PAPER_CAMPAIGN = "paper.toml"


def paper_campaign_path() -> Path:
    """Where the paper's campaign file is installed."""
    return Path(str(resources.files("labctl") / "campaigns" / PAPER_CAMPAIGN))


def run_demo(session, out_dir: str | Path | None = None, *, serial: bool = False) -> dict:
    """Run the paper's campaign in *session* (``serial``: one experiment after another) and write its
    report (figures, table, the campaign's use of lab time) into *out_dir*.

    Returns ``{"uids": (...), "report": path of report.md, "figures": Figures | None}``.
    """
    from labctl.app.campaign import CampaignError, figures, load_campaign
    from labctl.report import build_report

    try:
        campaign = load_campaign(paper_campaign_path(), session.profile)
    except CampaignError:
        detectors = [x for x in session.devices.values() if x is not session.clock and hasattr(x, "read")]
        uids = session.run(readings(session.clock, detectors, num=5, period="60 s"), md={"labctl_demo": True})
        out = _out(out_dir)
        return {"uids": uids, "report": build_report([session.storage.run(u) for u in uids], out),
                "figures": None}
    campaign.md["labctl_demo"] = True
    experiments = campaign.submit(session, serial=serial)
    session.wait_all()
    failed = [e for e in experiments if e.state != "done"]
    if failed:
        raise RuntimeError("; ".join(f"{e.name} {e.state}" + (f": {e.error}" if e.error else "") for e in failed))
    ran = sorted(experiments, key=lambda e: (e.started_at, e.name))
    uids = tuple(uid for e in ran for uid in e.uids)
    use = figures(ran)
    schedule = [f"| {e.name} | {', '.join(e.instruments)} | {(e.started_at - ran[0].started_at) / 3600:.2f} | "
                f"{(e.ended_at - ran[0].started_at) / 3600:.2f} |" for e in ran]
    extra = ["## The campaign", "", *[f"- {line}" for line in use.lines()], "",
             "| experiment | instruments | start (h) | end (h) |", "|---|---|---|---|", *schedule, ""]
    report = build_report([session.storage.run(uid) for uid in uids], _out(out_dir), extra=extra)
    return {"uids": uids, "report": report, "figures": use}


def _out(out_dir) -> Path:
    return Path(out_dir or Path.cwd() / "demo-output" / time.strftime("%Y%m%d-%H%M%S")).expanduser()
