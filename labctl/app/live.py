"""What a person watching a long run sees: a progress bar and a compact table of the key readings.

Both are ordinary document callbacks, so they work for any plan. The table shows the hinted fields of each
stream (what the devices say matters), at most a handful, with their units; rows are printed through tqdm so
they do not tear the bar. Progress counts events against ``num_points`` when the plan declares it, and
shows how much lab time has passed on the session's clock, which is what a long run is measured in.

Output that is not a terminal (a log file, a pipe, a service's journal) gets plain lines: one when a run
starts, the table's rows, and one when it ends with its event count and lab time; no bar, whose redraws
would tear the rows apart there.
"""

from __future__ import annotations

import sys
import time

from bluesky.callbacks.core import CallbackBase
from tqdm import tqdm
from typing_extensions import override

MAX_COLUMNS = 6
NAME_WIDTH = 12  # stream names: "checkpoints", "technique", "fluidics"


def hinted_fields(descriptor: dict) -> list[str]:
    """Data keys the devices of *descriptor* hint at, in device order; all keys if none are hinted."""
    fields: list[str] = []
    for hints in descriptor.get("hints", {}).values():
        fields.extend(f for f in hints.get("fields", []) if f in descriptor["data_keys"])
    if not fields:
        fields = [k for k, v in descriptor["data_keys"].items() if v.get("dtype") in ("number", "integer")]
    return fields[:MAX_COLUMNS]


def _format(value, units: str = "") -> str:
    if isinstance(value, bool):
        return str(value)
    if units == "s" and isinstance(value, (int, float)) and value > 1e8:  # a time stamp: time of day
        return time.strftime("%H:%M:%S", time.localtime(value))
    if isinstance(value, (int, float)):
        return f"{value:.6g}"
    text = str(value)
    return text if len(text) <= 12 else text[:11] + "…"


class LiveDisplay(CallbackBase):
    """A progress bar and a live table for every run it sees; ``file`` defaults to stderr.

    ``clock`` (a :class:`labctl.devices.clock.Clock`) gives the lab time shown next to the bar.
    """

    def __init__(self, file=None, *, clock=None, min_interval: float = 0.2):
        super().__init__()
        self.clock = clock
        self._file = file
        self.min_interval = min_interval
        self._bar: tqdm | None = None
        self._streams: dict[str, tuple[str, list[tuple[str, str]]]] = {}
        self._last_row: dict[str, float] = {}
        self._lab_t0: float | None = None
        self._count = 0
        self._total: int | None = None
        self._plan = "run"

    @property
    def file(self):
        """Where it writes: the file given, else stderr as it is now (a shell may have replaced it)."""
        return self._file or sys.stderr

    @property
    def plain(self) -> bool:
        """Plain lines, no bar: the output is not a terminal."""
        isatty = getattr(self.file, "isatty", None)
        return not (callable(isatty) and isatty())

    @override
    def start(self, doc):
        self.close()   # a bar left open by a run that never stopped (interrupted at the prompt)
        self._streams.clear()
        self._last_row.clear()
        self._lab_t0 = self.clock.now() if self.clock is not None else None
        total = doc.get("num_points")
        self._total = total if isinstance(total, int) and total > 0 else None
        self._count = 0
        self._plan = str(doc.get("plan_name", "run"))
        if self.plain:
            self._write(f"{self._plan}: started (scan {doc.get('scan_id', '?')}, uid {doc.get('uid', '?')[:8]})")
            return
        self._bar = tqdm(total=self._total, file=self.file, desc=self._plan, unit="event", leave=True,
                         dynamic_ncols=True)

    @override
    def descriptor(self, doc):
        fields = hinted_fields(doc)
        units = [doc["data_keys"][f].get("units") or "" for f in fields]
        name = doc.get("name", "primary")
        self._streams[doc["uid"]] = (name, list(zip(fields, units, strict=False)))
        if fields:
            header = "  ".join(f"{f:>14}" for f in fields)
            unit_row = "  ".join(f"{'[' + u + ']' if u else '':>14}" for u in units)
            self._write(f"{'':<{NAME_WIDTH}}{header}\n{'':<{NAME_WIDTH}}{unit_row}")

    @override
    def event(self, doc):
        self._show(doc["descriptor"], 1, doc["data"].get)

    def event_page(self, doc):
        """A page (a technique's rows) advances the bar by its length and shows its last row."""
        n = len(doc.get("seq_num", ()))
        if n:
            self._show(doc["descriptor"], n, lambda f: _last(doc["data"].get(f)))

    def _show(self, descriptor: str, n: int, value) -> None:
        name, fields = self._streams.get(descriptor, ("?", []))
        self._count += n
        if self._bar is not None:
            if self._lab_t0 is not None:
                self._bar.set_postfix_str(f"lab time +{_duration(self.clock.now() - self._lab_t0)}",
                                          refresh=False)
            self._bar.update(n)
        now = time.monotonic()
        if fields and now - self._last_row.get(name, -1e9) >= self.min_interval:
            self._last_row[name] = now
            self._write(f"{name[:NAME_WIDTH - 1]:<{NAME_WIDTH}}"
                        + "  ".join(f"{_format(value(f), u):>14}" for f, u in fields))

    @override
    def stop(self, doc):
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        status = doc.get("exit_status", "?")
        if self.plain:
            count = f"{self._count}/{self._total}" if self._total else f"{self._count}"
            span = f", lab time +{_duration(self.clock.now() - self._lab_t0)}" if self._lab_t0 is not None else ""
            self._write(f"{self._plan}: {status}, {count} events{span} {doc.get('reason', '')}".rstrip())
        elif status != "success":
            self._write(f"run ended: {status} {doc.get('reason', '')}".rstrip())

    def close(self):
        """Close the progress bar (a run that never stopped leaves it open)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def _write(self, text: str) -> None:
        tqdm.write(text, file=self.file)


def _duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    days, rest = divmod(seconds, 86400)
    text = time.strftime("%H:%M:%S", time.gmtime(rest))
    return f"{days}d {text}" if days else text


def _last(column):
    return None if column is None or len(column) == 0 else column[-1]
