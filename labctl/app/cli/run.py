"""``labctl run`` and ``labctl plans``: a plan checked completely before the lab is brought up, then run;
SIGTERM/SIGHUP end a run like Ctrl-C."""

from __future__ import annotations

import threading
from typing import Annotated

import typer

from labctl.app.cli import common
from labctl.app.cli.common import DataDirOpt, ProfileOpt, app


@app.command()
def run(plan: Annotated[str, typer.Argument(help="plan name (see `labctl plans`)")],
        param: Annotated[list[str], typer.Option("--param", "-p", help="plan parameter NAME=VALUE")] = [],  # noqa: B006 (typer reads the default)
        profile: ProfileOpt = None,
        md: Annotated[list[str], typer.Option("--md", help="run metadata NAME=VALUE (operator, sample, "
                                                          "cell_id, electrolyte, notes...)")] = [],  # noqa: B006
        quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar or live table")] = False,
        data_dir: DataDirOpt = None) -> None:
    """Run PLAN on the lab; parameters are checked before anything is connected."""
    from labctl.app.params_cli import parse_assignments
    from labctl.calls import fill_device_defaults
    from labctl.plans import ParameterError, check_plan

    plans = common.plan_table()
    func = plans.get(plan)
    if func is None:
        raise common.fail(f"unknown plan {plan!r}; known: {', '.join(sorted(plans))}")
    prof = common.load_lab_profile(profile)
    instruments = prof.descriptions()
    kinds: dict[str, list[str]] = {}
    for name, description in instruments.items():
        kinds.setdefault(description.kind, []).append(name)
    try:
        kwargs = fill_device_defaults(func, parse_assignments(param), kinds)
        values = check_plan(func, kwargs, instruments)
        metadata = {k: (v if isinstance(v, (str, int, float, bool)) else str(v))
                    for k, v in parse_assignments(md, what="--md").items()}
    except ParameterError as exc:
        text = str(exc)
        raise common.fail(text if text.startswith(f"{func.__name__}:") else f"{plan}: {text}") from None
    _check_metadata(prof, metadata, {name: values.given(name) for name in values.values})

    with _TerminationAsInterrupt() as terminated:
        session = terminated.session = common.open_session(prof, data_dir, metadata, quiet)
        code = _run_plan(session, plan, func, kwargs, data_dir, terminated)
    if code:
        raise typer.Exit(code)


def _check_metadata(prof, metadata: dict, plan_args: dict) -> None:
    """Metadata that contradicts the simulated lab is refused before the lab is brought up."""
    from labctl.metadata import MetadataContradiction, check, profile_cells

    try:
        check({**metadata, "plan_args": plan_args}, profile_cells(prof))
    except MetadataContradiction as exc:
        raise common.fail(f"--md {exc}") from None


def _run_plan(session, plan, func, kwargs, data_dir, terminated) -> int:
    """Run the plan and close the session; the exit code (0 only if both went well)."""
    from labctl.app.params_cli import resolve_devices
    from labctl.plans.params import ParameterError

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
            for report in getattr(exc, "unsafe", None) or ():
                typer.echo(f"not safe: {report}", err=True)
            code = 1
        if code == 130 and terminated.signum is not None:
            code = 128 + terminated.signum
    finally:
        terminated.closing = True
        code = common.closed(session, code)
    return code


class _Termination:
    session = None
    signum: int | None = None
    closing = False


class _TerminationAsInterrupt:
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



@app.command("plans")
def plans_cmd() -> None:
    """List the plans with their parameters, units and allowed ranges."""
    from labctl.plans import describe_parameters

    for name, func in common.plan_table().items():
        doc = (func.__doc__ or "").strip().splitlines()
        typer.echo(f"{name}: {doc[0] if doc else ''}".rstrip())
        for p in describe_parameters(func):
            bits = [p["unit"] and f"[{p['unit']}]", p["allowed"] and f"allowed {p['allowed']}",
                    "required" if p["required"] else f"default {p['default']!r}", p["description"]]
            typer.echo(f"    {p['name']:<20} " + "  ".join(b for b in bits if b))

