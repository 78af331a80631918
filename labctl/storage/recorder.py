"""Append every document of every run to its JSON-lines file as it is emitted.

This is the record of truth, so it is written synchronously in the RunEngine's callback: cheap (one
buffered append per document), flushed by a background flusher at least every ``flush_period`` seconds
of wall time (a write-through policy, not a lab-time wait) and flushed and fsynced at each stop document.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from labctl.storage.jsonl import encode
from labctl.storage.paths import run_relpath
from labctl.storage.recovery import forget_lock, live_lock

logger = logging.getLogger(__name__)

_BUFFER = 1 << 20


@dataclass
class _OpenRun:
    uid: str
    path: Path
    file: object
    lock: object = None
    offset: int = 0
    dirty: bool = False
    descriptors: set = field(default_factory=set)
    resources: set = field(default_factory=set)


class JsonlRecorder:
    """Bluesky callback writing ``runs/YYYY/MM/DD/<uid>.jsonl`` under *runs_dir*.

    ``record(name, doc)`` returns ``(uid, path, start_offset, end_offset)`` of the document's line
    (``None`` if it belongs to no open run), so a consumer can later re-read the file from it on.
    """

    def __init__(self, runs_dir: Path, *, flush_period: float = 0.5):
        self.runs_dir = Path(runs_dir)
        self.open_dir = self.runs_dir / ".open"
        self.open_dir.mkdir(parents=True, exist_ok=True)
        self._runs: dict[str, _OpenRun] = {}
        self._by_descriptor: dict[str, _OpenRun] = {}
        self._by_resource: dict[str, _OpenRun] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._flusher = threading.Thread(
            target=self._flush_loop, args=(flush_period,), name="labctl-jsonl-flush", daemon=True
        )
        self._flusher.start()

    # -- routing -------------------------------------------------------------------------------------

    def _route(self, name: str, doc: dict) -> _OpenRun | None:
        if name == "start":
            return None
        key = None
        if name in ("descriptor", "stop", "resource", "stream_resource"):
            run = self._runs.get(doc.get("run_start"))
            if run is not None:
                return run
        elif name in ("event", "event_page", "stream_datum"):
            key = doc.get("descriptor")
            if key in self._by_descriptor:
                return self._by_descriptor[key]
        elif name in ("datum", "datum_page"):
            key = doc.get("resource")
            if key in self._by_resource:
                return self._by_resource[key]
        if len(self._runs) == 1:  # legacy documents without a run_start link
            return next(iter(self._runs.values()))
        return None

    def record(self, name: str, doc: dict) -> tuple[str, Path, int, int] | None:
        """Append one document to its run's file; (uid, path, rows, bytes) when a run's file was written."""
        line = encode(name, doc)
        with self._lock:
            if name == "start":
                run = self._open(doc)
            else:
                run = self._route(name, doc)
                if run is None:
                    logger.warning("no open run for a %r document; not recorded", name)
                    return None
            begin = run.offset
            run.file.write(line)
            run.offset += len(line)
            run.dirty = True
            if name == "descriptor":
                run.descriptors.add(doc["uid"])
                self._by_descriptor[doc["uid"]] = run
            elif name in ("resource", "stream_resource"):
                run.resources.add(doc["uid"])
                self._by_resource[doc["uid"]] = run
            elif name == "stop":
                self._close(run)
            return run.uid, run.path, begin, run.offset

    __call__ = record

    def _open(self, start: dict) -> _OpenRun:
        uid = start["uid"]
        path = self.runs_dir / run_relpath(uid, start.get("time", time.time()))
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = live_lock(self.runs_dir, uid)  # held while this process records the run: see recovery
        lock.acquire()
        (self.open_dir / uid).write_text(path.relative_to(self.runs_dir).as_posix(), encoding="utf-8")
        run = _OpenRun(uid, path, open(path, "ab", buffering=_BUFFER), lock)
        run.offset = run.file.tell()
        self._runs[uid] = run
        return run

    def _close(self, run: _OpenRun) -> None:
        run.file.flush()
        os.fsync(run.file.fileno())
        run.file.close()
        self._unlock(run)
        del self._runs[run.uid]
        for d in run.descriptors:
            self._by_descriptor.pop(d, None)
        for r in run.resources:
            self._by_resource.pop(r, None)

    def _unlock(self, run: _OpenRun) -> None:
        run.lock.release()
        forget_lock(self.runs_dir, run.uid)

    # -- flushing ------------------------------------------------------------------------------------

    def flush(self, uid: str | None = None) -> None:
        """Push buffered lines of one run (or all) to the operating system."""
        with self._lock:
            runs = [self._runs[uid]] if uid in self._runs else ([] if uid else list(self._runs.values()))
            for run in runs:
                if run.dirty:
                    run.file.flush()
                    run.dirty = False

    def has_open_runs(self) -> bool:
        """Whether a run has started and not stopped."""
        with self._lock:
            return bool(self._runs)

    def open_uids(self) -> list[str]:
        """The runs started and not stopped."""
        with self._lock:
            return list(self._runs)

    def offset(self, uid: str) -> int | None:
        """Bytes written so far to an open run's file; ``None`` once the run is closed."""
        with self._lock:
            run = self._runs.get(uid)
            return None if run is None else run.offset

    def _flush_loop(self, period: float) -> None:
        while not self._closed.wait(period):
            try:
                self.flush()
            except Exception:  # a full disk must not kill the flusher silently
                logger.exception("flushing run files failed")

    def close(self) -> None:
        """Flush and fsync runs still open (they stay incomplete: no stop document was emitted)."""
        self._closed.set()
        self._flusher.join()
        with self._lock:
            for run in list(self._runs.values()):
                run.file.flush()
                os.fsync(run.file.fileno())
                run.file.close()
                self._unlock(run)
            self._runs.clear()
            self._by_descriptor.clear()
            self._by_resource.clear()
