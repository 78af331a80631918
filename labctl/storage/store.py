"""``Storage``: record every run to JSON-lines, index it into the Tiled catalog, find and read runs back."""

from __future__ import annotations

import glob
import json
import logging
import threading
import uuid as _uuid
from pathlib import Path

from labctl.storage.catalog import TiledCatalog, remove_catalog
from labctl.storage.export import export as _export
from labctl.storage.feeder import CatalogFeeder
from labctl.storage.jsonl import decode, read_documents
from labctl.storage.location import CatalogLocation
from labctl.storage.paths import run_relpath
from labctl.storage.recorder import JsonlRecorder
from labctl.storage.recovery import Interrupted, close_interrupted
from labctl.storage.recovery import logger as recovery_log
from labctl.storage.runs import INCOMPLETE, RunSummary, StoredRun

logger = logging.getLogger(__name__)

RUN_FILES = "*/*/*/*.jsonl"


class Storage:
    """Everything recorded under *data_dir*: ``runs/`` (JSON-lines files) and ``catalog.db`` (Tiled).

    The catalog opens on a background thread (it takes seconds); calls that need it wait for it. If it
    cannot be opened at all, listing falls back to scanning the files, so nothing recorded is ever lost
    from view. With *catalog* (a PostgreSQL URL) runs are indexed into that catalog, shared with other
    PCs; its server is reached once here (:class:`~labctl.storage.location.CatalogError` if it cannot be),
    and this store lists and rebuilds only the runs whose files it holds.
    """

    def __init__(self, data_dir: Path, *, max_backlog_rows: int = 50_000, flush_period: float = 0.5,
                 catalog_factory=TiledCatalog, catalog: str | None = None):
        self.data_dir = Path(data_dir).expanduser()
        self.location = CatalogLocation.of(self.data_dir, catalog)
        self.location.check_reachable()
        self._catalog_options = {"url": catalog} if catalog else {}
        self.runs_dir = self.data_dir / "runs"
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self._recorder = JsonlRecorder(self.runs_dir, flush_period=flush_period)
        self._catalog_factory = catalog_factory
        self._max_backlog_rows = max_backlog_rows
        self._feeder = self._new_feeder()
        self._subscriptions: list[tuple[object, int]] = []
        self._closed = False
        #: runs a crashed process left open, closed when this store opened (see :mod:`labctl.storage.recovery`)
        self.interrupted: list[Interrupted] = self.recover()

    def recover(self) -> list[Interrupted]:
        """Close the runs of processes that are gone (a stop with exit_status "fail", reason "interrupted"),
        re-index them from their files on the catalog's thread, and log one line per run closed."""
        closed, reindex = close_interrupted(self.runs_dir, self._recorder.open_dir)
        for run in closed:
            recovery_log.warning(run.line())
        for path in reindex:
            self._feeder.call(lambda catalog, path=path: self._reindex(catalog, path))
        return closed

    def _reindex(self, catalog, path: Path) -> None:
        catalog.delete([path.stem])   # what the crashed process had indexed is replaced by the whole file
        uid = index_file(path, catalog.writer())
        if uid is not None:
            self._forget_marker(uid)

    # -- recording -----------------------------------------------------------------------------------

    def subscribe(self, RE) -> int:
        """Record and index every document *RE* emits from now on; returns the RunEngine token."""
        token = RE.subscribe(self)  # through this store, which may swap its feeder in a rebuild
        self._subscriptions.append((RE, token))
        return token

    def __call__(self, name: str, doc: dict) -> None:
        """The same callback ``subscribe`` installs, for document sources other than a RunEngine."""
        self._feeder(name, doc)

    def flush(self) -> None:
        """Push every document recorded so far to the operating system (as the periodic flush does)."""
        self._recorder.flush()

    def open_runs(self) -> list[str]:
        """The uids of the runs this store is recording (started, not stopped)."""
        return self._recorder.open_uids()

    def sync(self, timeout: float | None = None) -> bool:
        """Wait until every document emitted so far is in the catalog."""
        return self._feeder.sync(timeout)

    def close(self) -> None:
        """Unsubscribe, index everything still queued, flush and fsync the files."""
        if self._closed:
            return
        self._closed = True
        for RE, token in self._subscriptions:
            try:
                RE.unsubscribe(token)
            except Exception:  # the RunEngine may already be gone
                pass
        self._feeder.close()
        self._recorder.close()

    def __enter__(self) -> Storage:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _new_feeder(self) -> CatalogFeeder:
        return CatalogFeeder(self._recorder, lambda: self._catalog_factory(self.data_dir, **self._catalog_options),
                             max_backlog_rows=self._max_backlog_rows, on_indexed=self._forget_marker)

    def _forget_marker(self, uid: str) -> None:
        """Drop a run's "catalog may be behind" marker. A marker that cannot be removed yet (on Windows a
        scanner may hold it open) only makes listings read that run from its file: harmless."""
        try:
            (self._recorder.open_dir / uid).unlink(missing_ok=True)
        except OSError as exc:
            logger.warning("could not remove the catalog marker of run %s: %s", uid, exc)

    @property
    def stats(self) -> dict[str, int]:
        """Catalog feeding figures: rows waiting now, the most that ever waited, and how many times a run
        was read back from its file because the queue was full."""
        f = self._feeder
        return {"backlog_rows": f.backlog_rows, "peak_backlog_rows": f.peak_backlog_rows, "catch_ups": f.catch_ups}

    # -- the catalog ---------------------------------------------------------------------------------

    @property
    def catalog(self) -> TiledCatalog:
        """The open Tiled catalog (waits for it); hold ``catalog_lock`` while this store records."""
        self._feeder.ready.wait()
        if self._feeder.error is not None:
            raise RuntimeError(f"the run catalog is unavailable: {self._feeder.error}") from self._feeder.error
        return self._feeder.catalog

    @property
    def catalog_lock(self) -> threading.RLock:
        """The lock held while the catalog is written or rebuilt."""
        return self._feeder.lock

    # -- finding runs --------------------------------------------------------------------------------

    def runs(self, search: str | dict | None = None, limit: int | None = None) -> list[RunSummary]:
        """Runs matching *search*, newest first.

        *search* is a dict of metadata values (``{"electrolyte": "dme"}``; keys are start-document fields,
        dotted for nested ones, ``stop.``-prefixed or ``exit_status`` for the stop document) or a text
        phrase matched anywhere in the metadata. Runs still being recorded (or cut short by a crash) are
        listed from their files with ``exit_status`` ``None``.
        """
        if search is not None and not isinstance(search, (str, dict)):
            raise TypeError(f"search must be a str, a dict or None, not {type(search).__name__}")
        # Runs the catalog may be behind on. A marker is removed only after its run is fully indexed, so
        # taking this snapshot before searching the catalog never loses a run.
        pending = {p.name: rel for p in self._recorder.open_dir.iterdir() if (rel := _read_marker(p))}
        self._feeder.ready.wait()
        if self._feeder.error is None:
            shared = self.location.shared  # other PCs' runs are there too: keep the ones recorded here
            with self._feeder.lock:
                found = self._feeder.catalog.search(search, None if limit is None or shared else limit + len(pending))
            out = [self._summary(md) for md in found]
            out = [s for s in out if s.uid not in pending and (not shared or s.path.exists())]
            paths = [self.runs_dir / rel for rel in pending.values()]
        else:
            out = []
            paths = list(self.runs_dir.glob(RUN_FILES))
        for path in paths:
            summary = _peek(path)
            if summary is not None and _matches(summary, search):
                out.append(summary)
        out.sort(key=lambda s: s.start_time or 0.0, reverse=True)
        return out if limit is None else out[:limit]

    def _summary(self, md: dict) -> RunSummary:
        start = md["start"]
        return RunSummary.from_docs(start, md.get("stop"), self.runs_dir / run_relpath(start["uid"], start["time"]))

    def run(self, key: str | int) -> StoredRun:
        """A run by uid, unique uid prefix or scan_id (the newest run with that scan_id).

        A string of digits is a scan_id if some run has it, else a uid prefix (uids can start with digits).
        """
        if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
            found = self.runs({"scan_id": int(key)}, limit=1)
            if found:
                return StoredRun(found[0].path)
            if isinstance(key, int) or not list(self.runs_dir.glob(f"*/*/*/{glob.escape(key)}*.jsonl")):
                raise KeyError(f"no run with scan_id {key}")
        if not isinstance(key, str) or len(key) < 1:
            raise TypeError(f"a run is named by a uid, a uid prefix or a scan_id, not {key!r}")
        matches = sorted(self.runs_dir.glob(f"*/*/*/{glob.escape(key)}*.jsonl"))
        if not matches:
            raise KeyError(f"no run whose uid starts with {key!r}")
        if len(matches) > 1:
            raise KeyError(f"uid prefix {key!r} is ambiguous: {', '.join(p.stem[:12] for p in matches)}")
        return StoredRun(matches[0])

    def export(self, uid: str, dest: Path, fmt: str = "csv") -> list[Path]:
        """Write a run's streams to *dest*: ``csv`` (one file per stream) or ``hdf5`` (one group per
        stream, units as attributes). Returns the files written."""
        if fmt not in ("csv", "hdf5"):
            raise ValueError(f"export format {fmt!r} is not one of csv, hdf5")
        return _export(self.run(uid), Path(dest), fmt)

    # -- rebuilding ----------------------------------------------------------------------------------

    def rebuild_catalog(self) -> int:
        """Build the catalog afresh from the JSON-lines files; returns the number of runs indexed.

        The catalog is derived data, so it is deleted and rebuilt; that also recovers one that is corrupt or
        was written under another path (a data directory copied elsewhere). Every run is first marked as
        perhaps missing from the catalog and unmarked once indexed, so an interrupted rebuild leaves every
        run listed (from its file). Runs without a stop document are indexed with ``exit_status``
        "incomplete". Not while this store is recording a run.
        """
        if self._recorder.has_open_runs():
            raise RuntimeError("cannot rebuild the catalog while a run is being recorded")
        files = sorted(self.runs_dir.glob(RUN_FILES))
        for path in files:
            marker = self._recorder.open_dir / path.stem
            if not marker.exists():
                marker.write_text(path.relative_to(self.runs_dir).as_posix(), encoding="utf-8")
        self._feeder.close()
        remove_catalog(self.data_dir)
        self._feeder = self._new_feeder()
        catalog = self.catalog
        if self.location.shared:  # only this PC's runs are rebuilt; other PCs' stay as they are
            catalog.delete([path.stem for path in files])
        count = 0
        with self._feeder.lock:
            for path in files:
                try:
                    uid = index_file(path, catalog.writer())
                except Exception:
                    logger.exception("%s could not be indexed", path)
                    continue
                if uid is not None:
                    self._forget_marker(uid)
                    count += 1
        return count


def index_file(path: Path, sink) -> str | None:
    """Feed a run file into a catalog writer; a run cut short gets an "incomplete" stop for the catalog
    only (the file is never modified). Returns the run's uid, or None for a file with no start."""
    start = stop = None
    last_time = None
    for name, doc in read_documents(path):
        if name == "start":
            start = doc
        elif start is None:
            continue
        elif name == "stop":
            stop = doc
        t = doc.get("time")
        last_time = max(t) if isinstance(t, list) and t else (t if isinstance(t, (int, float)) else last_time)
        sink(name, doc)
    if start is None:
        return None
    if stop is None:
        sink("stop", {
            "uid": str(_uuid.uuid4()), "run_start": start["uid"], "time": last_time or start["time"],
            "exit_status": INCOMPLETE, "reason": "no stop document was recorded: the recording process ended",
            "num_events": {},
        })
    return start["uid"]


def _read_marker(marker: Path) -> str:
    try:
        return marker.read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def _peek(path: Path, tail: int = 1 << 16) -> RunSummary | None:
    """Summary of a run file from its first line and, if the run finished, its last line; no full read."""
    try:
        with open(path, "rb") as f:
            first = f.readline()
            if not first.endswith(b"\n"):
                return None
            name, start = decode(first)
            if name != "start":
                return None
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - tail))
            lines = f.read().split(b"\n")
    except (OSError, ValueError, KeyError):
        return None
    stop = None
    for line in reversed(lines[:-1]):  # the part after the last newline is unfinished
        try:
            name, doc = decode(line)
        except Exception:
            continue
        stop = doc if name == "stop" else None
        break
    return RunSummary.from_docs(start, stop, path)


def _lookup(metadata: dict, dotted: str):
    node = metadata
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


_MISSING = object()


def _matches(summary: RunSummary, search: str | dict | None) -> bool:
    """The catalog's search semantics, applied to a run known only from its file."""
    if search is None:
        return True
    if isinstance(search, str):
        return search.strip().lower() in json.dumps(summary.metadata, default=str).lower()
    stop = {"exit_status": summary.exit_status}
    for key, value in search.items():
        if key == "exit_status" or key.startswith("stop."):
            got = _lookup(stop, key.removeprefix("stop."))
        else:
            got = _lookup(summary.metadata, key.removeprefix("start."))
        if got is _MISSING or got != value:
            return False
    return True
