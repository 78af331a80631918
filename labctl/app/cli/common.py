"""What every ``labctl`` command shares: the command groups, the common options, one-line errors, opening
the profile, storage and the session.

Every error a user can cause (a bad profile, a bad plan parameter, an instrument refusing) ends in one
line on stderr and a non-zero exit code, never a traceback: 2 for bad input, 1 for a failed run.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Electrochemistry experiments as Bluesky plans, on real or simulated instruments.")
sim_app = typer.Typer(no_args_is_help=True, help="The simulated lab.")
catalog_app = typer.Typer(no_args_is_help=True, help="The catalog of stored runs.")
profile_app = typer.Typer(no_args_is_help=True, help="Lab profiles.")
app.add_typer(sim_app, name="sim")
app.add_typer(catalog_app, name="catalog")
app.add_typer(profile_app, name="profile")

ProfileOpt = Annotated[Path | None, typer.Option("--profile", help="lab profile (TOML); default: the "
                                                    "built-in simulated lab, or $LABCTL_PROFILE")]
DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", help="where runs are stored "
                                                    "(default: profile lab.data_dir, $LABCTL_DATA)")]


@app.callback()
def _quiet_libraries() -> None:
    """Electrochemistry experiments as Bluesky plans, on real or simulated instruments."""
    import logging

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", message=".*starlette.testclient")  # how the catalog is served in-process
    # The in-process catalog server announces itself at INFO level on its own handler; keep the terminal for
    # what the user asked for (a filter survives the level tiled sets when it is imported).
    logging.getLogger("tiled.server.app").addFilter(lambda record: record.levelno >= logging.WARNING)
    # The RunEngine logs a failed plan's traceback; the command reports the error itself in one line.
    logging.getLogger("bluesky").addHandler(logging.NullHandler())
    # Runs a crash left open are reported by the command that opened the data (report_interrupted).
    logging.getLogger("labctl.storage.recovery").addHandler(logging.NullHandler())


def plan_table() -> dict:
    """The plan registry; a plan module that fails to import is reported in one line, not a traceback."""
    from labctl.app.plan_registry import discover_plans

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        plans = discover_plans()
    for w in caught:
        if issubclass(w.category, RuntimeWarning):
            typer.echo(f"warning: {w.message}", err=True)
    return plans


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print *message* as one error line and return the exit to raise (code 2: bad input)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def load_lab_profile(path: Path | None):
    """The profile at *path* (or $LABCTL_PROFILE, or the default); a bad one exits with one line."""
    from labctl.profile import ProfileError, load_profile

    if path is None and os.environ.get("LABCTL_PROFILE"):
        path = Path(os.environ["LABCTL_PROFILE"])
    try:
        return load_profile(path)
    except ProfileError as exc:
        raise fail(str(exc)) from None


def open_storage(profile_path: Path | None, data_dir: Path | None):
    """The run storage of the profile's (or the given) data directory."""
    from labctl import storage

    lab = load_lab_profile(profile_path).lab
    if data_dir is None:
        data_dir = storage.data_dir(lab.get("data_dir"))
    try:
        return report_interrupted(storage.Storage(Path(data_dir).expanduser(), catalog=lab.get("catalog")))
    except OSError as exc:
        raise fail(f"cannot use the data directory {data_dir}: {exc.strerror or exc}", 1) from None
    except storage.CatalogError as exc:
        raise fail(str(exc), 1) from None


# -- running plans --------------------------------------------------------------------------------------------


def open_session(prof, data_dir, metadata, quiet, sim_state=None):
    """Bring the lab up; a failure exits with one line naming the instrument."""
    from labctl.app.live import LiveDisplay
    from labctl.drivers import FactoryMissing
    from labctl.session import Session, SessionError

    try:
        session = Session.from_profile(prof, data_dir=data_dir, metadata=metadata, quiet=quiet,
                                       display=lambda clock: LiveDisplay(clock=clock), sim_state=sim_state)
    except (FactoryMissing, SessionError) as exc:
        raise fail(str(exc), 1) from None
    report_interrupted(session.storage)
    return session


def report_interrupted(store):
    """Say on stderr, one line each, which runs a crash had left open and were closed on opening *store*."""
    for run in getattr(store, "interrupted", ()):
        typer.echo(run.line(), err=True)
    return store


def closed(session, code: int) -> int:
    """Close *session*; the exit code, made 1 from 0 if something could not be made safe."""
    return code if close_session(session) or code else 1


def exit_with(code: int, data_dir) -> None:
    """Say where the data are, then end the command with *code*."""
    typer.echo(f"data in {data_dir}")
    if code:
        raise typer.Exit(code)


def close_session(session) -> bool:
    """Close *session*; False (after one line on stderr) if something could not be made safe."""
    from labctl.session import SessionError

    try:
        session.close()
    except SessionError as exc:
        typer.echo(f"error while shutting down: {exc}", err=True)
        return False
    return True

