"""Runs cut short by a crash (SIGKILL, power loss) are found and closed the next time the data is opened.

While a run is recorded its process holds an operating-system lock on ``runs/.live/<uid>.lock`` (released by
the system when the process dies, however it dies) and a marker ``runs/.open/<uid>`` says the catalog may be
behind its file. A marker whose lock nobody holds belongs to a process that is gone: if its file has no stop
document, one is appended (``exit_status`` "fail", ``reason`` "interrupted", the time of the last document
recorded), and the run is indexed into the catalog afresh from its file. A run another live process is
recording is left alone, so two sessions on one data directory never close each other's runs.
"""

from __future__ import annotations

import logging
import os
import time
import uuid as _uuid
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from labctl.storage.jsonl import encode, read_documents

logger = logging.getLogger(__name__)

LIVE_DIR = ".live"
INTERRUPTED = "interrupted"


def live_lock(runs_dir: Path, uid: str) -> FileLock:
    """The lock a recording process holds for run *uid* (acquire with ``timeout=0``)."""
    directory = Path(runs_dir) / LIVE_DIR
    directory.mkdir(parents=True, exist_ok=True)
    return FileLock(directory / f"{uid}.lock", timeout=0, thread_local=False)


def forget_lock(runs_dir: Path, uid: str) -> None:
    """Remove a released run lock's file (a lock file that cannot be removed yet is harmless)."""
    try:
        (Path(runs_dir) / LIVE_DIR / f"{uid}.lock").unlink(missing_ok=True)
    except OSError:
        pass


@dataclass(frozen=True)
class Interrupted:
    """A run found without a stop document and no process recording it, now closed."""

    uid: str
    path: Path
    scan_id: int | None
    plan_name: str | None
    events: int
    last_time: float
    campaign: str | None = None
    experiment: str | None = None

    def line(self) -> str:
        """What a user reads at start-up: one line per run."""
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.last_time))
        what = self.plan_name or "run"
        if self.campaign:
            what += f" of campaign {self.campaign}" + (f" ({self.experiment})" if self.experiment else "")
        return (f"run {self.uid[:8]} (scan {self.scan_id}, {what}) was interrupted: {self.events} events up to "
                f"{when} kept, closed as failed; continue it with `labctl resume {self.uid[:8]}`")


def _orphaned(runs_dir: Path, uid: str) -> bool:
    """Whether no live process records run *uid* (its lock can be taken)."""
    lock = live_lock(runs_dir, uid)
    try:
        lock.acquire()
    except Timeout:
        return False
    lock.release()
    return True


def close_interrupted(runs_dir: Path, open_dir: Path) -> tuple[list[Interrupted], list[Path]]:
    """Close every run left open by a process that is gone.

    Returns the runs closed and the files of every run whose recording process is gone (closed now or
    closed before the catalog caught up): those the caller re-indexes.
    """
    closed, reindex = [], []
    for marker in sorted(Path(open_dir).iterdir()):
        uid = marker.name
        try:
            rel = marker.read_text(encoding="utf-8").strip()
        except OSError:
            continue
        if not rel or not _orphaned(runs_dir, uid):
            continue
        path = Path(runs_dir) / rel
        if not path.exists():
            marker.unlink(missing_ok=True)
            continue
        try:
            found = _close(path)
        except OSError as exc:
            logger.error("%s: cannot close the interrupted run: %s", path, exc)
            continue
        if found is not None:
            closed.append(found)
        reindex.append(path)
        forget_lock(runs_dir, uid)
    return closed, reindex


def _close(path: Path) -> Interrupted | None:
    """Append the stop document of an interrupted run; None if the run had stopped (or is no run)."""
    start = None
    last_time = None
    events: dict[str, int] = {}
    streams: dict[str, str] = {}
    for name, doc in read_documents(path):
        if name == "start":
            start = doc
        elif name == "stop":
            return None
        elif name == "descriptor":
            streams[doc["uid"]] = doc.get("name", "primary")
        elif name in ("event", "event_page"):
            stream = streams.get(doc.get("descriptor"), "primary")
            events[stream] = events.get(stream, 0) + (len(doc["seq_num"]) if name == "event_page" else 1)
        t = doc.get("time")
        t = max(t) if isinstance(t, list) and t else t
        if isinstance(t, (int, float)):
            last_time = t if last_time is None else max(last_time, t)
    if start is None:
        return None
    last_time = last_time if last_time is not None else start["time"]
    stop = {"uid": str(_uuid.uuid4()), "run_start": start["uid"], "time": last_time, "exit_status": "fail",
            "reason": INTERRUPTED, "num_events": events, "closed_at": time.time()}
    with open(path, "rb+") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        if size:  # a line cut short by the crash is ended, so the stop is a line of its own
            f.seek(size - 1)
            if f.read(1) != b"\n":
                f.write(b"\n")
        f.write(encode("stop", stop))
        f.flush()
        os.fsync(f.fileno())
    return Interrupted(start["uid"], path, start.get("scan_id"), start.get("plan_name"), sum(events.values()),
                       last_time, start.get("campaign"), start.get("campaign_experiment"))
