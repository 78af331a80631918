"""Stored runs from the command line: list, show, export, report, rebuild the catalog."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from labctl.app.cli import common
from labctl.app.cli.common import DataDirOpt, ProfileOpt, app, catalog_app


@app.command()
def runs(search: Annotated[str | None, typer.Option("--search", "-s", help="text to look for")] = None,
         profile: ProfileOpt = None, data_dir: DataDirOpt = None) -> None:
    """List stored runs, newest first."""
    from labctl.app.runs_view import run_lines

    store = common.open_storage(profile, data_dir)
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
    from labctl.app.runs_view import start_doc as start_of

    _check_run_key(run_id)
    store = common.open_storage(profile, data_dir)
    try:
        stored = _find_run(store, run_id)
        typer.echo(describe_run(stored))
        if start_of(stored).get("plan_name") == "ms_calibration":   # what it established, in plain text
            from labctl.analysis.calibration import fit, summary

            typer.echo(summary(fit(stored)))
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
        raise common.fail("choose exactly one of --csv and --hdf5")
    if out.exists() and not out.is_dir():
        raise common.fail(f"--out {out} is a file; give a directory")
    _check_run_key(run_id)
    store = common.open_storage(profile, data_dir)
    try:
        stored = _find_run(store, run_id)
        uid = _uid_of(stored) or run_id
        try:
            out.mkdir(parents=True, exist_ok=True)
            written = store.export(uid, out, "csv" if csv else "hdf5")
        except OSError as exc:
            raise common.fail(f"cannot write to {out}: {exc.strerror or exc}", 1) from None
        for path in written if isinstance(written, (list, tuple)) else [written]:
            typer.echo(f"wrote {path}")
    finally:
        store.close()


@app.command()
def report(run_ids: Annotated[list[str] | None, typer.Argument(metavar="RUN...", help="runs to analyse")] = None,
           search: Annotated[str | None, typer.Option("--search", "-s",
                                                         help="analyse every run matching this text")] = None,
           out: Annotated[Path, typer.Option("--out", help="folder for figures and tables")] = Path("report"),
           calibration: Annotated[str | None, typer.Option(
               "--calibration", help="MS calibration run (uid prefix) to quantify gases with; default: the "
                                     "newest stored one before each gas run")] = None,
           profile: ProfileOpt = None, data_dir: DataDirOpt = None) -> None:
    """Figures (PNG) and a markdown + CSV table of the paper's numbers beside labctl's, from stored runs."""
    from labctl.report import build_report

    if not run_ids and search is None:
        raise common.fail("name the runs to analyse, or --search TEXT to pick them")
    for run_id in run_ids or []:
        _check_run_key(run_id)
    store = common.open_storage(profile, data_dir)
    try:
        stored = [_find_run(store, r) for r in run_ids or []]
        if search is not None:
            stored += [store.run(s.uid) for s in reversed(store.runs(search))]
        if not stored:
            raise common.fail(f"no stored run matches {search!r}", 1)
        # gas amounts need the MS calibrations, whether or not they were named
        given = {r.uid for r in stored}
        stored += [store.run(s.uid) for s in store.runs({"plan_name": "ms_calibration"}) if s.uid not in given]
        path = build_report(stored, out, calibration=calibration)
    finally:
        store.close()
    typer.echo(f"report of {len(stored)} runs in {path.parent} (open {path})")


def _check_run_key(run_id: str) -> None:
    """Runs are named by scan_id or uid prefix; anything else (empty, wildcards) is refused up front."""
    if not re.fullmatch(r"[0-9A-Fa-f][0-9A-Fa-f-]*", run_id):
        raise common.fail(f"{run_id!r} is not a run: give its scan_id or (a unique prefix of) its uid")


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
    raise common.fail(f"no run {run_id!r} in the catalog ({error.args[0] if error.args else error})", 1)


def _uid_of(stored) -> str | None:
    from labctl.app.runs_view import start_doc

    return start_doc(stored).get("uid")


@catalog_app.command("rebuild")
def catalog_rebuild(profile: ProfileOpt = None, data_dir: DataDirOpt = None) -> None:
    """Rebuild the catalog from the stored run files."""
    store = common.open_storage(profile, data_dir)
    try:
        result = store.rebuild_catalog()
    finally:
        store.close()
    typer.echo(f"catalog rebuilt{'' if result is None else f': {result} runs'}")


