"""The lab from the command line: the demo, IPython, checking a profile, serving a simulator."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Annotated

import typer

from labctl.app.cli import common
from labctl.app.cli.common import DataDirOpt, ProfileOpt, app, profile_app, sim_app


@app.command()
def demo(profile: ProfileOpt = None, data_dir: DataDirOpt = None,
         out: Annotated[Path | None, typer.Option("--out", help="folder for the report")] = None,
         quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False) -> None:
    """The paper's campaign on the simulated lab; prints the runs, where the data is and the report."""
    from labctl.app.demo import run_demo

    prof = common.load_lab_profile(profile)
    session = common.open_session(prof, data_dir, {"operator": "demo", "notes": "labctl demo"}, quiet)
    try:
        result = run_demo(session, out)
    except Exception as exc:
        common.close_session(session)
        raise common.fail(f"demo failed: {exc}", 1) from None
    closed = common.close_session(session)
    for uid in result["uids"]:
        typer.echo(f"run {uid}")
    if result["figures"] is not None:
        for line in result["figures"].lines():
            typer.echo(line)
    typer.echo(f"data in {getattr(session.storage, 'data_dir', data_dir)}")
    typer.echo(f"report in {result['report'].parent} (open {result['report']})")
    if not closed:
        raise typer.Exit(1)


@app.command()
def ipython(profile: ProfileOpt = None, data_dir: DataDirOpt = None) -> None:
    """IPython with the RunEngine ``RE``, the devices, the plans and ``bps`` loaded."""
    import importlib.util

    from labctl.app.ipython import start

    if importlib.util.find_spec("IPython") is None:  # before any instrument is connected
        raise common.fail("IPython is not installed (pip install ipython)", 1)

    session = common.open_session(common.load_lab_profile(profile), data_dir, {}, False)
    try:
        start(session)
    finally:
        common.close_session(session)





@profile_app.command("check")
def profile_check(file: Annotated[Path, typer.Argument(metavar="FILE")]) -> None:
    """Check a profile without connecting anything."""
    prof = common.load_lab_profile(file)
    kinds: dict[str, int] = {}
    for spec in prof.instruments.values():
        kinds[spec.kind] = kinds.get(spec.kind, 0) + 1
    where = "simulated lab" if prof.sim is not None else "hardware"
    summary = ", ".join(f"{n} {k}" for k, n in kinds.items()) or "no instruments"
    typer.echo(f"OK {prof.path}: {prof.name!r} ({where}): {summary}")


# -- simulators -------------------------------------------------------------------------------------------------


@sim_app.command("serve")
def sim_serve(name: Annotated[str, typer.Argument(help="instrument name in the profile")],
              tcp: Annotated[int | None, typer.Option("--tcp", help="TCP port (0 = any free port)")] = None,
              pty: Annotated[bool, typer.Option("--pty", help="serve on a pseudo-terminal (POSIX)")] = False,
              profile: ProfileOpt = None) -> None:
    """Serve the simulator of instrument NAME over TCP or a pty until Ctrl-C."""
    from labctl.app.simserve import SimServeError, serve

    if pty and tcp is not None:
        raise common.fail("choose one of --tcp PORT and --pty")
    prof = common.load_lab_profile(profile)
    stop = threading.Event()
    try:
        with serve(prof, name, tcp=tcp if not pty else None, pty=pty) as endpoint:
            typer.echo(f"serving {name} on {endpoint}")
            sys.stdout.flush()
            try:
                while not stop.wait(0.5):
                    pass
            except KeyboardInterrupt:
                typer.echo("stopped", err=True)
    except SimServeError as exc:
        raise common.fail(str(exc)) from None
