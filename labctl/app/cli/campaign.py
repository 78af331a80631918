"""``labctl campaign FILE``: a campaign file checked before anything connects, then run with as much in
parallel as the instruments allow.

Ctrl-C pauses every experiment at its next checkpoint and asks what next (resume, stop, abort); a second
Ctrl-C, SIGTERM or the end of input aborts everything, each plan's cleanup leaving its instruments safe.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path
from typing import Annotated

import typer

from labctl.app.cli import common
from labctl.app.cli.common import DataDirOpt, ProfileOpt, app

_CHOICES = {"r": "resume", "s": "stop", "a": "abort"}


@app.command()
def campaign(file: Annotated[Path, typer.Argument(help="campaign file (TOML)")],
             profile: ProfileOpt = None, data_dir: DataDirOpt = None,
             check: Annotated[bool, typer.Option("--check", help="check the file and the profile; run "
                                                                 "nothing")] = False,
             serial: Annotated[bool, typer.Option("--serial", help="one experiment after another")] = False,
             ) -> None:
    """Run the experiments of a campaign FILE at once where their instruments allow."""
    from labctl.app.campaign import CampaignError, figures, load_campaign

    prof = common.load_lab_profile(profile)
    try:
        plan = load_campaign(file, prof)
    except CampaignError as exc:
        raise common.fail(str(exc)) from None
    if check:
        typer.echo(f"{file}: campaign {plan.name!r}, {len(plan.experiments)} experiments, checked against "
                   f"{prof.path}")
        for spec in plan.experiments:
            after = f" after {', '.join(spec.after)}" if spec.after else ""
            typer.echo(f"  {spec.name}: {spec.plan} on {', '.join(spec.instruments) or '-'}{after}")
        return
    session = common.open_session(prof, data_dir, {}, True)
    code = 0
    try:
        experiments = plan.submit(session, serial=serial)
        code = _follow(session, experiments)
        ran = [e for e in experiments if e.started_at is not None]
        if ran and all(e.ended_at is not None for e in ran):
            for line in figures(ran).lines():
                typer.echo(line)
    finally:
        code = common.closed(session, code)
    common.exit_with(code, getattr(session.storage, "data_dir", data_dir))


def _follow(session, experiments) -> int:
    """Print each experiment as it starts and ends; handle Ctrl-C and SIGTERM; the exit code."""
    interrupted = threading.Event()   # set while a pause asked by Ctrl-C waits for an answer
    signalled: list[int] = []
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK"):
            signum = getattr(signal, name, None)
            if signum is not None:
                try:
                    previous[signum] = signal.signal(
                        signum, lambda n, f: (signalled.append(n), _interrupt(session, interrupted, n)))
                except (OSError, ValueError):
                    pass
    seen: dict[str, str] = {}
    t0 = session.clock.clock.now()
    try:
        while True:
            for e in experiments:
                if seen.get(e.name) != e.state:
                    seen[e.name] = e.state
                    lab_h = (session.clock.clock.now() - t0) / 3600
                    why = f": {e.error or e.reason}" if (e.error or e.reason) and e.finished else ""
                    typer.echo(f"[{lab_h:7.2f} h] {e.name}: {e.state}{why}")
            if all(e.finished for e in experiments):
                break
            if interrupted.is_set() and any(e.state == "paused" for e in experiments) and not any(
                    e.state == "running" for e in experiments):
                interrupted.clear()
                _ask(session)
            time.sleep(0.2)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if all(e.state == "done" for e in experiments):
        return 0
    return 128 + signalled[-1] if signalled else 1


def _interrupt(session, interrupted: threading.Event, signum) -> None:
    if signum == getattr(signal, "SIGINT", None) and not interrupted.is_set() and not session.scheduler.paused:
        typer.echo("\npausing every experiment at its next checkpoint (Ctrl-C again aborts everything)",
                   err=True)
        interrupted.set()
        threading.Thread(target=session.pause_all, daemon=True).start()
        return
    typer.echo("\naborting every experiment; instruments left safe", err=True)
    threading.Thread(target=session.abort_all, args=("interrupted",), daemon=True).start()


def _ask(session) -> None:
    typer.echo("every experiment is paused: [r]esume, [s]top or [a]bort? ", nl=False, err=True)
    answer = (sys.stdin.readline() or "a").strip().lower()[:1]
    action = _CHOICES.get(answer, "abort")
    if action == "resume":
        session.resume_all()
    elif action == "stop":
        session.stop_all("stopped by the operator")
    else:
        session.abort_all("aborted by the operator")
