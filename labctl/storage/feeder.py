"""Feed the catalog from a background thread so a slow catalog never stalls the RunEngine.

The RunEngine's callback records each document to its JSON-lines file (synchronously: that is the record
of truth) and hands it to a queue; a worker thread writes queued documents into the catalog. Memory stays
bounded whatever the catalog's speed: once more than ``max_backlog_rows`` rows wait in the queue, a run's
further documents are no longer queued; the worker instead catches up by reading that run's file from
the first document it has not seen, then switches back to the queue.

A run whose catalog write fails is re-fed whole from its file (see :meth:`CatalogFeeder._refeed`), so the
catalog ends up with every document of every run even when several PCs write one shared catalog at once.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tenacity import Retrying, stop_after_attempt, stop_after_delay, wait_random_exponential
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

#: how many times, and for how long at most (wall seconds), a run whose catalog write failed is re-fed from
#: its file before it is left to ``labctl catalog rebuild``; the longest pause between two attempts
REFEED_ATTEMPTS = 5
REFEED_FOR_S = 60.0
REFEED_PAUSE_S = 5.0


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
        self._paths: dict[str, Path] = {}  # file of each run being fed
        self._fed_to: dict[str, int] = {}  # a re-fed run: the catalog has its file up to this offset
        self._run_sinks: dict[str, Callable[[str, dict], None]] = {}  # a re-fed run's own writer
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
            if name == "start":
                self._paths[uid] = path
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
            self._queue.put((name, doc, rows, uid, begin))

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
        name, doc, rows, uid, begin = item
        try:
            if begin >= self._fed_to.get(uid, 0):  # not already indexed by a re-feed from the file
                self._index(name, doc, uid)
        finally:
            with self._state:
                self._backlog -= rows

    def _index(self, name: str, doc: dict, uid: str) -> bool:
        """Write one document of run *uid*; False if the run had to be re-fed from its file instead (then
        the catalog has the file up to ``_fed_to[uid]``) or is given up."""
        if self._sink is None or uid in self._failed_runs:
            return False
        try:
            self._write(name, doc, uid)
        except Exception as exc:
            self._refeed(uid, exc)
            return False
        return True

    def _write(self, name: str, doc: dict, uid: str) -> None:
        with self.lock:
            self._run_sinks.get(uid, self._sink)(name, doc)
        if name == "stop":
            self._run_sinks.pop(uid, None)
            self._paths.pop(uid, None)
            if self.on_indexed is not None:
                try:
                    self.on_indexed(uid)
                except Exception:
                    logger.exception("after indexing run %s", uid)

    def _refeed(self, uid: str, exc: Exception) -> None:
        """Replace run *uid*'s entry in the catalog by its whole file, trying again a while, after a failed write.

        Several PCs writing one PostgreSQL catalog race when they first create an event table: Tiled creates it,
        its index and its id sequence with ``CREATE ... IF NOT EXISTS``, which PostgreSQL does not make atomic,
        so the writer that loses gets a unique violation (SQLSTATE 23505) and its transaction is rolled back.
        That happens inside Tiled's server code, on any new table layout, not only on a new database, so
        serialising it from here would mean taking a database lock around every write. Trying again is sound
        instead: the losing transaction is rolled back whole, and a second attempt finds the winner's table,
        index and sequence and goes through. It is the whole run that is written again, from its file (the
        record), with a writer of its own, because after a failure the catalog writer's state for that run is
        unknown; whatever was indexed of it is deleted first, so no document is written twice. Any other passing
        failure (the server restarting, the network) is mended the same way.
        """
        path = self._paths.get(uid)
        if path is None or self.catalog is None:
            logger.error("indexing run %s into the catalog failed (%s); `labctl catalog rebuild` indexes it "
                         "from its file", uid, _line(exc))
            self._failed_runs.add(uid)
            return
        logger.warning("indexing run %s into the catalog failed (%s); writing it again from its file",
                       uid, _line(exc))
        with self._state:
            self._spilling.add(uid)  # its next documents are read from the file, not queued
        try:
            for attempt in Retrying(stop=stop_after_attempt(REFEED_ATTEMPTS) | stop_after_delay(REFEED_FOR_S),
                                    reraise=True,
                                    wait=wait_random_exponential(multiplier=0.2, max=REFEED_PAUSE_S)):
                with attempt:
                    self._replay(uid, path)
        except Exception as last:
            logger.error("run %s could not be written into the catalog (%s); its file is complete and "
                         "`labctl catalog rebuild` indexes it", uid, _line(last))
            logger.debug("re-feeding run %s", uid, exc_info=True)
            self._failed_runs.add(uid)
            self._run_sinks.pop(uid, None)
            with self._state:
                self._spilling.discard(uid)

    def _replay(self, uid: str, path: Path) -> None:
        """One attempt of :meth:`_refeed`: delete what the catalog has of run *uid*, then write its file
        until the file has nothing more (and hand the run back to the queue)."""
        with self.lock:
            self.catalog.delete([uid])
        self._run_sinks[uid] = self.catalog.writer()
        offset = 0
        while True:
            self.recorder.flush(uid)
            closed = self.recorder.offset(uid) is None
            for pos, name, doc in read_from(path, offset):
                self._write(name, doc, uid)
                offset = pos
            with self._state:
                end = self.recorder.offset(uid)
                if closed or end == offset:
                    self._fed_to[uid] = offset  # what is still queued of this run is written already
                    self._spilling.discard(uid)
                    return

    def _catch_up(self, job: _CatchUp) -> None:
        if job.offset < self._fed_to.get(job.uid, 0):
            return  # the run was re-fed from its file meanwhile, past this point
        offset = job.offset
        while True:
            self.recorder.flush(job.uid)
            closed = self.recorder.offset(job.uid) is None
            for pos, name, doc in read_from(job.path, offset):
                if not self._index(name, doc, job.uid):  # re-fed whole from the file, or given up
                    with self._state:
                        self._spilling.discard(job.uid)
                    return
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


def _line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"
