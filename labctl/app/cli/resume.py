"""``labctl resume RUN``: go on with an interrupted experiment, or the interrupted campaign RUN belongs to, as
new runs linked to the old ones (see :mod:`labctl.app.resume`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from labctl.app.cli import common
from labctl.app.cli.common import DataDirOpt, ProfileOpt, app


@app.command()
def resume(run: Annotated[str, typer.Argument(help="uid prefix or scan id of an interrupted run")],
           profile: ProfileOpt = None, data_dir: DataDirOpt = None,
           quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no live display")] = False) -> None:
    """Continue an interrupted RUN (cycling goes on from its cycle) or its whole campaign."""
    from labctl import storage as storage_mod
    from labctl.simstate import read_saved

    prof = common.load_lab_profile(profile)
    directory = Path(data_dir).expanduser() if data_dir is not None else storage_mod.data_dir(
        prof.lab.get("data_dir"))
    saved = read_saved(directory) if prof.sim is not None else None
    if prof.sim is not None and saved is None:
        raise common.fail(f"no simulated lab was saved in {directory}: a resumed run would find a fresh "
                          "simulated world, not the one it was interrupted in")
    session = common.open_session(prof, directory, {}, quiet, sim_state=None if saved is None else saved.state)
    code = 0
    try:
        code = _resume(session, prof, run, saved)
    except typer.Exit:
        raise
    finally:
        code = common.closed(session, code)
    common.exit_with(code, directory)


def _resume(session, prof, key: str, saved) -> int:
    from labctl.app.resume import ResumeError, continuation

    try:
        old = session.storage.run(key)
    except (KeyError, TypeError) as exc:
        raise common.fail(str(exc).strip("'\"")) from None
    cut = None if saved is None else saved.lab_time
    try:
        if old.start.get("campaign_id"):
            return _resume_campaign(session, prof, old, saved, cut)
        successors = session.storage.runs({"resumes": old.uid})
        if successors:
            raise ResumeError(f"run {old.uid[:8]} was resumed already, by run {successors[0].uid[:8]}")
        if saved is not None and old.uid not in saved.open_runs:
            raise ResumeError(f"the simulated lab saved in {session.storage.data_dir} is not the one run "
                              f"{old.uid[:8]} ran on (a later session replaced it)")
        cont = continuation(old, cut)
    except ResumeError as exc:
        raise common.fail(str(exc)) from None
    typer.echo(cont.line())
    return _run_one(session, prof, cont)


def _run_one(session, prof, cont) -> int:
    from labctl.app.params_cli import resolve_devices
    from labctl.plans import ParameterError, check_plan

    func = common.plan_table().get(cont.plan)
    if func is None:
        raise common.fail(f"run {cont.uid[:8]} ran plan {cont.plan!r}, which this labctl does not have")
    try:
        check_plan(func, cont.params, prof.descriptions())
    except ParameterError as exc:
        raise common.fail(f"run {cont.uid[:8]}: {exc}") from None
    kwargs = {k: resolve_devices(v, session.devices) for k, v in cont.params.items()}
    try:
        uids = session.run(func(**kwargs), md=cont.md)
    except Exception as exc:
        typer.echo(f"error: {exc}", err=True)
        return 1
    for uid in uids:
        typer.echo(f"run {uid[:8]} continues run {cont.uid[:8]}")
    return 0


def _resume_campaign(session, prof, old, saved, cut) -> int:
    from labctl.app.campaign import figures, load_campaign
    from labctl.app.cli.campaign import _follow
    from labctl.app.resume import ResumeError, campaign_resume

    plan = campaign_resume(session.storage, old, lambda path: load_campaign(path, prof), cut)
    if saved is not None and not set(saved.open_runs) & {c["md"]["resumes"] for c in plan.only.values()
                                                          if "resumes" in c["md"]}:
        raise ResumeError(f"the simulated lab saved in {session.storage.data_dir} is not the one campaign "
                          f"{old.start.get('campaign')!r} ran on (a later session replaced it)")
    for line in plan.lines:
        typer.echo(line)
    if not plan.only:
        typer.echo("every experiment of the campaign has ended: nothing to resume")
        return 0
    campaign = load_campaign(plan.file, prof)
    experiments = campaign.submit(session, campaign_id=plan.campaign_id, only=plan.only)
    code = _follow(session, experiments)
    ran = [e for e in experiments if e.started_at is not None]
    if ran and all(e.ended_at is not None for e in ran):
        for line in figures(ran).lines():
            typer.echo(line)
    return code
