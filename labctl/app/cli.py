"""The ``labctl`` command: run plans, browse and export stored runs, check profiles, serve simulators.

Every error a user can cause (a bad profile, a bad plan parameter, an instrument refusing) ends in one
line on stderr and a non-zero exit code, never a traceback: 2 for bad input, 1 for a failed run.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import warnings
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Electrochemistry experiments as Bluesky plans, on real or simulated instruments.")
sim_app = typer.Typer(no_args_is_help=True, help="The simulated lab.")
catalog_app = typer.Typer(no_args_is_help=True, help="The catalog of stored runs.")
profile_app = typer.Typer(no_args_is_help=True, help="Lab profiles.")
app.add_typer(sim_app, name="sim")
app.add_typer(catalog_app, name="catalog")
app.add_typer(profile_app, name="profile")

ProfileOpt = Annotated[Optional[Path], typer.Option("--profile", help="lab profile (TOML); default: the "
                                                    "built-in simulated lab, or $LABCTL_PROFILE")]
DataDirOpt = Annotated[Optional[Path], typer.Option("--data-dir", help="where runs are stored "
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


def _plans() -> dict:
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
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _profile(path: Path | None):
    from labctl.profile import ProfileError, load_profile

    if path is None and os.environ.get("LABCTL_PROFILE"):
        path = Path(os.environ["LABCTL_PROFILE"])
    try:
        return load_profile(path)
    except ProfileError as exc:
        raise fail(str(exc)) from None


def _storage(profile_path: Path | None, data_dir: Path | None):
    from labctl import storage

    if data_dir is None:
        data_dir = storage.data_dir(_profile(profile_path).lab.get("data_dir"))
    try:
        return storage.Storage(Path(data_dir).expanduser())
    except OSError as exc:
        raise fail(f"cannot use the data directory {data_dir}: {exc.strerror or exc}", 1) from None


# -- running plans --------------------------------------------------------------------------------------------

@app.command()
def run(plan: Annotated[str, typer.Argument(help="plan name (see `labctl plans`)")],
        param: Annotated[list[str], typer.Option("--param", "-p", help="plan parameter NAME=VALUE")] = [],
        profile: ProfileOpt = None,
        md: Annotated[list[str], typer.Option("--md", help="run metadata NAME=VALUE (operator, sample, "
                                                          "cell_id, electrolyte, notes...)")] = [],
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar or live table")] = False,
        data_dir: DataDirOpt = None) -> None:
    """Run PLAN on the lab; parameters are checked before anything is connected."""
    from labctl.plans.params import ParameterError, check_call

    from labctl.app.params_cli import check_device_arguments, fill_device_defaults, parse_assignments

    plans = _plans()
    func = plans.get(plan)
    if func is None:
        raise fail(f"unknown plan {plan!r}; known: {', '.join(sorted(plans))}")
    prof = _profile(profile)
    kinds = {}
    for spec in prof.instruments.values():
        kinds.setdefault(spec.kind, []).append(spec.name)
    kinds.setdefault("clock", ["clock"])  # the session adds a clock to a profile without one
    kinds["operator"] = ["operator"]  # and always an operator
    try:
        kwargs = fill_device_defaults(func, parse_assignments(param), kinds)
        check_call(func, (), kwargs)
        check_device_arguments(func, kwargs, [n for names in kinds.values() for n in names])
        metadata = {k: (v if isinstance(v, (str, int, float, bool)) else str(v))
                    for k, v in parse_assignments(md, what="--md").items()}
    except ParameterError as exc:
        text = str(exc)
        raise fail(text if text.startswith(f"{func.__name__}:") else f"{plan}: {text}") from None

    with _termination_as_interrupt() as terminated:
        session = terminated.session = _open_session(prof, data_dir, metadata, quiet)
        code = _run_plan(session, plan, func, kwargs, data_dir, terminated)
    if code:
        raise typer.Exit(code)


def _run_plan(session, plan, func, kwargs, data_dir, terminated) -> int:
    """Run the plan and close the session; the exit code (0 only if both went well)."""
    from labctl.plans.params import ParameterError

    from labctl.app.params_cli import resolve_devices

    code = 0
    try:
        if terminated.signum is not None:
            raise KeyboardInterrupt
        args = {k: resolve_devices(v, session.devices) for k, v in kwargs.items()}
        uids = session.run(func(**args))
        for uid in uids:
            typer.echo(f"run {uid}")
        typer.echo(f"data in {session.storage.data_dir if hasattr(session.storage, 'data_dir') else data_dir}")
        if terminated.signum is not None:  # arrived after the plan's last step: it ended normally
            code = 128 + terminated.signum
    except KeyboardInterrupt:
        typer.echo("interrupted; instruments left safe", err=True)
        code = 130
    except Exception as exc:
        from bluesky.utils import RunEngineInterrupted

        from labctl.devices.errors import LimitError
        from labctl.devices.units import UnitError

        if isinstance(exc, RunEngineInterrupted):
            typer.echo("interrupted; instruments left safe", err=True)
            code = 130
        elif isinstance(exc, (ParameterError, UnitError, LimitError)):  # refused by the plan before moving
            typer.echo(f"error: {plan}: {exc}", err=True)
            code = 2
        else:
            typer.echo(f"error: {plan} failed: {exc}", err=True)
            code = 1
        if code == 130 and terminated.signum is not None:
            code = 128 + terminated.signum
    finally:
        terminated.closing = True
        if not _close(session) and not code:
            code = 1
    return code


class _Termination:
    session = None
    signum: int | None = None
    closing = False


class _termination_as_interrupt:
    """SIGTERM/SIGHUP (SIGBREAK on Windows) end a run like Ctrl-C: the run is paused at once and then aborted,
    so the plan's cleanup leaves the instruments safe and the stop document is written. Handlers are only
    installed from the main thread, for the signals this platform has, and restored afterwards."""

    NAMES = ("SIGTERM", "SIGHUP", "SIGBREAK")

    def __enter__(self) -> _Termination:
        import signal

        self.state = _Termination()
        self.previous = {}
        if threading.current_thread() is threading.main_thread():
            for name in self.NAMES:
                signum = getattr(signal, name, None)
                if signum is not None:
                    try:
                        self.previous[signum] = signal.signal(signum, self._handle)
                    except (OSError, ValueError):
                        pass
        return self.state

    def __exit__(self, *exc) -> None:
        import signal

        for signum, handler in self.previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum, frame) -> None:
        state = self.state
        first = state.signum is None
        state.signum = signum
        if state.session is None:  # still bringing the lab up: the session's own cleanup handles this
            if first:
                raise KeyboardInterrupt
            return
        if state.closing or not first:
            return
        RE = state.session.RE
        if RE.state == "running":  # the RunEngine's loop is on another thread; ask it from a third one
            threading.Thread(target=_hard_pause, args=(RE,), daemon=True).start()


def _hard_pause(RE) -> None:
    try:
        RE.request_pause(defer=False)
    except Exception:  # already pausing, or the run just ended
        pass


def _open_session(prof, data_dir, metadata, quiet):
    from labctl.drivers import FactoryMissing
    from labctl.session import Session, SessionError

    try:
        return Session.from_profile(prof, data_dir=data_dir, metadata=metadata, quiet=quiet)
    except (FactoryMissing, SessionError) as exc:
        raise fail(str(exc), 1) from None


def _close(session) -> bool:
    """Close *session*; False (after one line on stderr) if something could not be made safe."""
    from labctl.session import SessionError

    try:
        session.close()
    except SessionError as exc:
        typer.echo(f"error while shutting down: {exc}", err=True)
        return False
    return True


@app.command("plans")
def plans_cmd() -> None:
    """List the plans with their parameters, units and allowed ranges."""
    from labctl.plans.params import describe_parameters

    for name, func in _plans().items():
        doc = (func.__doc__ or "").strip().splitlines()
        typer.echo(f"{name}: {doc[0] if doc else ''}".rstrip())
        for p in describe_parameters(func):
            bits = [p["unit"] and f"[{p['unit']}]", p["allowed"] and f"allowed {p['allowed']}",
                    "required" if p["required"] else f"default {p['default']!r}", p["description"]]
            typer.echo(f"    {p['name']:<20} " + "  ".join(b for b in bits if b))


@app.command()
def demo(profile: ProfileOpt = None, data_dir: DataDirOpt = None,
         out: Annotated[Optional[Path], typer.Option("--out", help="folder for the report")] = None,
         quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False) -> None:
    """The paper's campaign on the simulated lab; prints the runs, where the data is and the report."""
    from labctl.app.demo import run_demo

    prof = _profile(profile)
    session = _open_session(prof, data_dir, {"operator": "demo", "notes": "labctl demo"}, quiet)
    try:
        result = run_demo(session, out)
    except Exception as exc:
        _close(session)
        raise fail(f"demo failed: {exc}", 1) from None
    closed = _close(session)
    for uid in result["uids"]:
        typer.echo(f"run {uid}")
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
        raise fail("IPython is not installed (pip install ipython)", 1)

    session = _open_session(_profile(profile), data_dir, {}, False)
    try:
        start(session)
    finally:
        _close(session)


# -- stored runs -----------------------------------------------------------------------------------------------

@app.command()
def runs(search: Annotated[Optional[str], typer.Option("--search", "-s", help="text to look for")] = None,
         profile: ProfileOpt = None, data_dir: DataDirOpt = None) -> None:
    """List stored runs, newest first."""
    from labctl.app.runs_view import run_lines

    store = _storage(profile, data_dir)
    try:
        for line in run_lines(store.runs(search)):
            typer.echo(line)
    finally:
        store.close()


@app.command()
def show(run_id: Annotated[str, typer.Argument(metavar="RUN", help="run uid (a unique prefix will do)")],
         profile: ProfileOpt = None, data_dir: DataDirOpt = None) -> None:
    """Metadata, streams, row counts and a few values of one run."""
    from labctl.app.runs_view import describe_run

    _check_run_key(run_id)
    store = _storage(profile, data_dir)
    try:
        stored = _find_run(store, run_id)
        typer.echo(describe_run(stored))
    finally:
        store.close()


@app.command()
def export(run_id: Annotated[str, typer.Argument(metavar="RUN")],
           csv: Annotated[bool, typer.Option("--csv", help="CSV files, one per stream")] = False,
           hdf5: Annotated[bool, typer.Option("--hdf5", help="one HDF5 file")] = False,
           out: Annotated[Path, typer.Option("--out", help="directory to write to")] = Path("."),
           profile: ProfileOpt = None, data_dir: DataDirOpt = None) -> None:
    """Export one run as CSV or HDF5."""
    if csv == hdf5:
        raise fail("choose exactly one of --csv and --hdf5")
    if out.exists() and not out.is_dir():
        raise fail(f"--out {out} is a file; give a directory")
    _check_run_key(run_id)
    store = _storage(profile, data_dir)
    try:
        stored = _find_run(store, run_id)
        uid = _uid_of(stored) or run_id
        try:
            out.mkdir(parents=True, exist_ok=True)
            written = store.export(uid, out, "csv" if csv else "hdf5")
        except OSError as exc:
            raise fail(f"cannot write to {out}: {exc.strerror or exc}", 1) from None
        for path in written if isinstance(written, (list, tuple)) else [written]:
            typer.echo(f"wrote {path}")
    finally:
        store.close()


@app.command()
def report(run_ids: Annotated[Optional[list[str]], typer.Argument(metavar="RUN...", help="runs to analyse")] = None,
           search: Annotated[Optional[str], typer.Option("--search", "-s",
                                                         help="analyse every run matching this text")] = None,
           out: Annotated[Path, typer.Option("--out", help="folder for figures and tables")] = Path("report"),
           profile: ProfileOpt = None, data_dir: DataDirOpt = None) -> None:
    """Figures (PNG) and a markdown + CSV table of the paper's numbers beside labctl's, from stored runs."""
    from labctl.report import build_report

    if not run_ids and search is None:
        raise fail("name the runs to analyse, or --search TEXT to pick them")
    for run_id in run_ids or []:
        _check_run_key(run_id)
    store = _storage(profile, data_dir)
    try:
        stored = [_find_run(store, r) for r in run_ids or []]
        if search is not None:
            stored += [store.run(s.uid) for s in reversed(store.runs(search))]
        if not stored:
            raise fail(f"no stored run matches {search!r}", 1)
        path = build_report(stored, out)
    finally:
        store.close()
    typer.echo(f"report of {len(stored)} runs in {path.parent} (open {path})")


def _check_run_key(run_id: str) -> None:
    """Runs are named by scan_id or uid prefix; anything else (empty, wildcards) is refused up front."""
    if not re.fullmatch(r"[0-9A-Fa-f][0-9A-Fa-f-]*", run_id):
        raise fail(f"{run_id!r} is not a run: give its scan_id or (a unique prefix of) its uid")


def _find_run(store, run_id: str):
    """A run by uid prefix or scan_id; an all-digit uid prefix that is no scan_id still finds its run."""
    try:
        return store.run(run_id)
    except KeyError as exc:
        error = exc
    if run_id.isdigit():
        uids = [s.uid for s in store.runs(None) if s.uid.startswith(run_id)]
        if len(uids) == 1:
            return store.run(uids[0])
    raise fail(f"no run {run_id!r} in the catalog ({error.args[0] if error.args else error})", 1)


def _uid_of(stored) -> str | None:
    from labctl.app.runs_view import start_doc

    return start_doc(stored).get("uid")


@catalog_app.command("rebuild")
def catalog_rebuild(profile: ProfileOpt = None, data_dir: DataDirOpt = None) -> None:
    """Rebuild the catalog from the stored run files."""
    store = _storage(profile, data_dir)
    try:
        result = store.rebuild_catalog()
    finally:
        store.close()
    typer.echo(f"catalog rebuilt{'' if result is None else f': {result} runs'}")


# -- profiles ----------------------------------------------------------------------------------------------------

@profile_app.command("check")
def profile_check(file: Annotated[Path, typer.Argument(metavar="FILE")]) -> None:
    """Check a profile without connecting anything."""
    prof = _profile(file)
    kinds: dict[str, int] = {}
    for spec in prof.instruments.values():
        kinds[spec.kind] = kinds.get(spec.kind, 0) + 1
    where = "simulated lab" if prof.sim is not None else "hardware"
    summary = ", ".join(f"{n} {k}" for k, n in kinds.items()) or "no instruments"
    typer.echo(f"OK {prof.path}: {prof.name!r} ({where}): {summary}")


# -- simulators -------------------------------------------------------------------------------------------------

@sim_app.command("serve")
def sim_serve(name: Annotated[str, typer.Argument(help="instrument name in the profile")],
              tcp: Annotated[Optional[int], typer.Option("--tcp", help="TCP port (0 = any free port)")] = None,
              pty: Annotated[bool, typer.Option("--pty", help="serve on a pseudo-terminal (POSIX)")] = False,
              profile: ProfileOpt = None) -> None:
    """Serve the simulator of instrument NAME over TCP or a pty until Ctrl-C."""
    from labctl.app.simserve import SimServeError, serve

    if pty and tcp is not None:
        raise fail("choose one of --tcp PORT and --pty")
    prof = _profile(profile)
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
        raise fail(str(exc)) from None


if __name__ == "__main__":
    app()
