"""Stored runs as text for a terminal: a one-line listing and a short description of one run."""

from __future__ import annotations

import io
import time
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.table import Table

#: start-document keys shown first by ``labctl show`` (the run's who/what/why)
SHOWN_METADATA = ("plan_name", "operator", "sample", "cell_id", "electrolyte", "notes", "profile", "purpose",
                  "scan_id", "simulated")


def start_doc(run: Any) -> dict:
    """The start document of a stored run, a run summary, or a catalog entry."""
    for attr in ("start", "metadata"):
        value = getattr(run, attr, None)
        if isinstance(value, dict):
            return value.get("start", value) if attr == "metadata" and "start" in value else value
    if isinstance(run, dict):
        return run.get("start", run)
    return {}


def _stop_status(run: Any) -> str:
    status = getattr(run, "exit_status", None)
    if status is None:
        stop = getattr(run, "stop", None)
        if stop is None and isinstance(run, dict):
            stop = run.get("stop")
        status = (stop or {}).get("exit_status")
    return status or "incomplete"


def _when(t) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) if isinstance(t, (int, float)) else "?"


def run_lines(runs: Iterable[Any]) -> list[str]:
    """A table of runs, one a line: uid (first 8), scan id, start time, plan, status, sample/operator."""
    table = Table("uid", "scan", "started", "plan", "status", "sample / operator", box=None, pad_edge=False,
                  header_style="bold")
    for run in runs:
        start = start_doc(run)
        who = " ".join(f"{k}={start[k]}" for k in ("sample", "cell_id", "operator") if start.get(k))
        table.add_row(start.get("uid", "?")[:8], f"#{start.get('scan_id', '?')}", _when(start.get("time")),
                      str(start.get("plan_name", "?")), _stop_status(run), who)
    if not table.row_count:
        return ["no runs"]
    console = Console(file=io.StringIO(), width=10_000, color_system=None, soft_wrap=True)
    with console.capture() as captured:
        console.print(table)
    return [line.rstrip() for line in captured.get().splitlines()]


def describe_run(run: Any, *, values: int = 3) -> str:
    """Metadata, then each stream with its row count, columns with units, and the first few values."""
    start = start_doc(run)
    out = [f"run {start.get('uid', '?')}", f"  started   {_when(start.get('time'))}",
           f"  status    {_stop_status(run)}"]
    stop = getattr(run, "stop", None) or {}
    if stop.get("reason"):
        out.append(f"  reason    {stop['reason']}")
    for key in SHOWN_METADATA:
        if key in start:
            out.append(f"  {key:<9} {start[key]}")
    if start.get("plan_args"):
        out.append(f"  plan_args {start['plan_args']}")
    for name in getattr(run, "streams", []):
        table = run.table(name)
        units = table.attrs.get("units", {})
        out.append(f"stream {name}: {len(table)} rows")
        for column in table.columns:
            if column in ("time", "seq_num"):
                continue
            head = ", ".join(_value(v) for v in table[column].iloc[:values])
            more = ", ..." if len(table) > values else ""
            unit = f" [{units[column]}]" if units.get(column) else ""
            out.append(f"  {column}{unit}: {head}{more}")
    return "\n".join(out)


def _value(v) -> str:
    try:
        return f"{float(v):.6g}"
    except (TypeError, ValueError):
        return str(v)
