"""Runs left open by a process that is gone are closed at the next start; runs being recorded are not."""

from __future__ import annotations

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp

from labctl.engine import run_engine
from labctl.storage import Storage


def _open_run(RE, cell, n=3):
    """A run that records *n* readings, then pauses (left open, as a crash leaves it)."""

    @bpp.run_decorator(md={"purpose": "recovery"})
    def plan():
        for i in range(n):
            yield from bps.mv(cell.ewe, 0.1 * i)
            yield from bps.trigger_and_read([cell])
        yield from bps.checkpoint()
        yield from bps.pause()

    try:
        RE(plan())
    except Exception:
        pass
    assert RE.state == "paused"


def test_a_run_recorded_by_a_live_process_is_not_closed(tmp_path, cell):
    data = tmp_path / "data"
    recording = Storage(data)
    RE = run_engine({})
    recording.subscribe(RE)
    _open_run(RE, cell)
    recording.flush()
    assert recording.sync(60)   # its catalog created, its lines on disk
    try:
        with Storage(data) as other:   # a second session on the same data directory, at the same time
            assert other.interrupted == []
            (summary,) = other.runs({"purpose": "recovery"})
            assert summary.exit_status is None
        RE.resume()
        (summary,) = recording.runs({"purpose": "recovery"})
        assert summary.exit_status == "success"
    finally:
        recording.close()


def test_an_open_run_of_a_gone_process_is_closed_once_and_indexed(tmp_path, cell):
    data = tmp_path / "data"
    recording = Storage(data)
    RE = run_engine({})
    recording.subscribe(RE)
    _open_run(RE, cell)
    recording.close()   # the run stays open in its file: what a killed process leaves (minus the lock)
    with Storage(data) as store:
        (closed,) = store.interrupted
        assert closed.events == 3 and closed.plan_name == "plan"
        run = store.run(closed.uid)
        assert (run.stop["exit_status"], run.stop["reason"]) == ("fail", "interrupted")
        assert store.sync(60)
        assert store.catalog.metadata(closed.uid)["stop"]["reason"] == "interrupted"
        assert len(store.catalog.read_table(closed.uid, "primary")) == 3
        (listed,) = store.runs({"purpose": "recovery"})
        assert listed.exit_status == "fail"
    with Storage(data) as again:
        assert again.interrupted == []
        assert sum(1 for name, _ in again.run(closed.uid).documents() if name == "stop") == 1
    RE.halt()   # the paused engine of the "gone" process (its documents go nowhere now)
