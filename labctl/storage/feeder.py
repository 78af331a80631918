"""Feed the catalog from a background thread so a slow catalog never stalls the RunEngine.

The RunEngine's callback records each document to its JSON-lines file (synchronously: that is the record
of truth) and hands it to a queue; a worker thread writes queued documents into the catalog. Memory stays
bounded whatever the catalog's speed: once more than ``max_backlog_rows`` rows wait in the queue, a run's
further documents are no longer queued; the worker instead catches up by reading that run's file from
the first document it has not seen, then switches back to the queue.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from typing_extensions import override

from labctl.storage.jsonl import read_from
from labctl.storage.recorder import JsonlRecorder

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _CatchUp:
    uid: str
    path: Path
    offset: int


@dataclass(frozen=True)
class _Sync:
    done: threading.Event


@dataclass(frozen=True)
class _Call:
    func: Callable[[object], None]


_CLOSE = object()


def _rows(name: str, doc: dict) -> int:
    return len(doc.get("seq_num", ())) if name == "event_page" else 1


class CatalogFeeder:
    """Bluesky callback: record to JSON-lines, then index into the catalog on a worker thread.

    *open_catalog* is called on the worker thread and returns an object with ``writer()`` (a fresh
    ``(name, doc)`` callback). ``ready`` is set once it is open (or failed: see ``error``); ``lock`` is held
    while a document is being written, so readers in other threads see whole documents.
    """

    def __init__(
        self,
        recorder: JsonlRecorder,
        open_catalog: Callable[[], object],
        *,
        max_backlog_rows: int = 50_000,
        on_indexed: Callable[[str], None] | None = None,
    ):
        self.recorder = recorder
        self.max_backlog_rows = max_backlog_rows
        self.on_indexed = on_indexed
        self.catalog = None
        self.error: BaseException | None = None
        self.ready = threading.Event()
        self.lock = threading.RLock()  # held while the catalog is being written
        self.peak_backlog_rows = 0
        self.catch_ups = 0
        self._state = threading.Lock()  # guards backlog and spill bookkeeping
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._backlog = 0
        self._spilling: set[str] = set()
        self._failed_runs: set[str] = set()
        self._sink = None
        self._closed = False
        self._worker = threading.Thread(
            target=self._run, args=(open_catalog,), name="labctl-catalog", daemon=True
        )
        self._worker.start()

    # -- RunEngine side ------------------------------------------------------------------------------

    @override
    def __call__(self, name: str, doc: dict) -> None:
        with self._state:
            loc = self.recorder.record(name, doc)
            if loc is None or self.error is not None:
                return
            uid, path, begin, _ = loc
            if uid in self._spilling:
                return  # the worker reads this run from its file until it has caught up
            rows = _rows(name, doc)
            if self._backlog + rows > self.max_backlog_rows and name != "start":
                self._spilling.add(uid)
                self.catch_ups += 1
                self._queue.put(_CatchUp(uid, path, begin))
                return
            self._backlog += rows
            self.peak_backlog_rows = max(self.peak_backlog_rows, self._backlog)
            self._queue.put((name, doc, rows))

    @property
    def backlog_rows(self) -> int:
        """Rows received but not yet indexed."""
        return self._backlog

    # -- worker side ---------------------------------------------------------------------------------

    def _run(self, open_catalog) -> None:
        try:
            self.catalog = open_catalog()
            self._sink = self.catalog.writer()
        except BaseException as exc:  # the files stay complete; only search is lost
            logger.warning("the run catalog could not be opened (%s: %s); runs are still recorded to files "
                           "and listed from them; `labctl catalog rebuild` makes a new catalog",
                           type(exc).__name__, (str(exc).splitlines() or [""])[0])
            logger.debug("opening the run catalog", exc_info=True)
            self.error = exc
        finally:
            self.ready.set()
        while True:
            item = self._queue.get()
            if item is _CLOSE:
                return
            try:  # one bad document or unreadable file must not stop the indexing of everything after it
                self._handle(item)
            except Exception:
                logger.exception("the catalog worker could not process %s; the run files are unaffected",
                                 type(item).__name__)

    def _handle(self, item) -> None:
        if isinstance(item, _CatchUp):
            try:
                self._catch_up(item)
            except Exception:
                self._failed_runs.add(item.uid)  # `labctl catalog rebuild` indexes it from its file
                with self._state:
                    self._spilling.discard(item.uid)
                raise
            return
        if isinstance(item, _Sync):
            item.done.set()
            return
        if isinstance(item, _Call):
            if self.catalog is not None:
                with self.lock:
                    item.func(self.catalog)
            return
        name, doc, rows = item
        try:
            self._index(name, doc)
        finally:
            with self._state:
                self._backlog -= rows

    def _index(self, name: str, doc: dict) -> None:
        if self._sink is None:
            return
        uid = {"start": doc.get("uid"), "stop": doc.get("run_start"), "descriptor": doc.get("run_start")}.get(name)
        if uid is not None and uid in self._failed_runs:
            return
        try:
            with self.lock:
                self._sink(name, doc)
        except Exception:
            logger.exception("indexing a %r document into the catalog failed", name)
            if uid is not None:
                self._failed_runs.add(uid)
            return
        if name == "stop" and self.on_indexed is not None and uid not in self._failed_runs:
            try:
                self.on_indexed(doc["run_start"])
            except Exception:
                logger.exception("after indexing run %s", doc["run_start"])

    def _catch_up(self, job: _CatchUp) -> None:
        offset = job.offset
        while True:
            self.recorder.flush(job.uid)
            closed = self.recorder.offset(job.uid) is None
            for pos, name, doc in read_from(job.path, offset):
                self._index(name, doc)
                offset = pos
            with self._state:
                end = self.recorder.offset(job.uid)
                if closed or end == offset:
                    self._spilling.discard(job.uid)
                    return

    def call(self, func: Callable[[object], None]) -> None:
        """Run ``func(catalog)`` on the worker, after everything queued so far (skipped without a catalog)."""
        self._queue.put(_Call(func))

    def sync(self, timeout: float | None = None) -> bool:
        """Wait until everything queued so far has been written; False on timeout or if the worker has
        stopped (closed, or died), since then nothing queued will be written."""
        if not self._worker.is_alive():
            return self._queue.empty() and self.error is None and self._closed
        job = _Sync(threading.Event())
        self._queue.put(job)
        return job.done.wait(timeout)

    def close(self) -> None:
        """Wait until every queued document is in the catalog, then stop the worker."""
        self._closed = True
        self._queue.put(_CLOSE)
        self._worker.join()
        if self.catalog is not None:
            self.catalog.close()
