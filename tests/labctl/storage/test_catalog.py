"""The Tiled catalog: search by metadata, rebuild from the files, never stalling the RunEngine."""

from __future__ import annotations

import shutil
import threading
import time

import numpy as np
import pandas as pd
import pytest

from labctl.storage import Storage
from labctl.storage.catalog import TiledCatalog


def _record_three(store, RE, cell, cell_plan, emit_paged_run):
    store.subscribe(RE)
    md = {"electrolyte": "dme", "operator": "ana", "cell": {"kind": "coin"}}
    (a,) = RE(cell_plan(cell, n=3, md=md)).run_start_uids
    (b,) = RE(cell_plan(cell, n=2, md={"electrolyte": "ecdmc", "note": "fresh sodium foil"})).run_start_uids
    c = emit_paged_run(store, rows=1500, md={"electrolyte": "ecdmc_fec"})
    return a, b, c


def test_search_by_metadata_and_text(store, RE, cell, cell_plan, emit_paged_run):
    a, b, c = _record_three(store, RE, cell, cell_plan, emit_paged_run)
    store.sync()
    assert [s.uid for s in store.runs()] == [c, b, a]  # newest first
    assert [s.uid for s in store.runs({"electrolyte": "dme"})] == [a]
    assert [s.uid for s in store.runs({"cell.kind": "coin"})] == [a]
    assert [s.uid for s in store.runs({"electrolyte": "ecdmc", "exit_status": "success"})] == [b]
    assert [s.uid for s in store.runs("sodium foil")] == [b]
    assert store.runs({"electrolyte": "pc"}) == []
    assert [s.uid for s in store.runs(limit=1)] == [c]
    summary = store.runs({"electrolyte": "dme"})[0]
    assert summary.plan_name is None or isinstance(summary.plan_name, str)
    assert summary.exit_status == "success" and summary.stop_time >= summary.start_time
    assert summary.metadata["operator"] == "ana" and summary.path.exists()
    with pytest.raises(TypeError, match="search"):
        store.runs(42)


def test_runs_still_in_the_queue_are_listed_from_their_files(store, RE, cell, cell_plan):
    store.subscribe(RE)
    (uid,) = RE(cell_plan(cell, n=2, md={"electrolyte": "dme"})).run_start_uids
    # No sync: whether or not the catalog has caught up, the run is listed with its status.
    (found,) = store.runs({"electrolyte": "dme"})
    assert found.uid == uid and found.exit_status == "success"


def _catalog_snapshot(store):
    cat = store.catalog
    out = {}
    for uid in cat.uids():
        md = cat.metadata(uid)
        tables = {s: cat.read_table(uid, s).drop(columns=[c for c in cat.read_table(uid, s) if c.startswith("ts_")])
                  for s in cat.streams(uid)}
        out[uid] = (md["start"], md["stop"], tables)
    return out


def test_rebuilt_catalog_equals_the_original(store, RE, cell, cell_plan, emit_paged_run):
    _record_three(store, RE, cell, cell_plan, emit_paged_run)
    store.sync()
    before = _catalog_snapshot(store)
    listing = store.runs()
    assert store.rebuild_catalog() == 3
    after = _catalog_snapshot(store)
    assert before.keys() == after.keys()
    for uid in before:
        assert before[uid][0] == after[uid][0] and before[uid][1] == after[uid][1]
        assert before[uid][2].keys() == after[uid][2].keys()
        for stream in before[uid][2]:
            pd.testing.assert_frame_equal(before[uid][2][stream], after[uid][2][stream])
    assert store.runs() == listing


def test_rebuild_recovers_a_corrupt_catalog(tmp_path, RE, cell, cell_plan, emit_paged_run):
    with Storage(tmp_path / "data") as store:
        a, b, c = _record_three(store, RE, cell, cell_plan, emit_paged_run)
    (tmp_path / "data" / "catalog.db").write_bytes(b"not a database")
    with Storage(tmp_path / "data") as store:
        assert {s.uid for s in store.runs()} == {a, b, c}  # listed from the files meanwhile
        assert store.rebuild_catalog() == 3
        assert [s.uid for s in store.runs({"electrolyte": "dme"})] == [a]
        assert len(store.catalog.read_table(c, "technique")) == 1500


def test_rebuild_recovers_a_catalog_of_a_copied_data_directory(tmp_path, RE, cell, cell_plan, emit_paged_run):
    with Storage(tmp_path / "lab-pc") as store:
        a, b, c = _record_three(store, RE, cell, cell_plan, emit_paged_run)
    shutil.copytree(tmp_path / "lab-pc", tmp_path / "laptop")
    shutil.rmtree(tmp_path / "lab-pc")  # the catalog's tables were written under the old path
    with Storage(tmp_path / "laptop") as store:
        assert store.rebuild_catalog() == 3
        assert len(store.catalog.read_table(c, "technique")) == 1500
        assert len(store.run(a).table("primary")) == 3


def test_an_interrupted_rebuild_hides_no_run(tmp_path, RE, cell, cell_plan, emit_paged_run, monkeypatch):
    with Storage(tmp_path / "data") as store:
        a, b, c = _record_three(store, RE, cell, cell_plan, emit_paged_run)
    import labctl.storage.store as store_mod

    indexed = []
    real = store_mod.index_file

    def interrupted_after_one(path, sink):
        if indexed:
            raise KeyboardInterrupt
        indexed.append(path)
        return real(path, sink)

    monkeypatch.setattr(store_mod, "index_file", interrupted_after_one)
    with Storage(tmp_path / "data") as store:
        with pytest.raises(KeyboardInterrupt):
            store.rebuild_catalog()
    monkeypatch.undo()
    with Storage(tmp_path / "data") as store:
        assert {s.uid for s in store.runs()} == {a, b, c}
        assert store.run(a).stop["exit_status"] == "success"
        assert store.rebuild_catalog() == 3
        assert {s.uid for s in store.runs()} == {a, b, c}


def test_a_subscribed_store_keeps_recording_after_a_rebuild(store, RE, cell, cell_plan):
    store.subscribe(RE)
    RE(cell_plan(cell, n=2))
    assert store.rebuild_catalog() == 1
    (uid,) = RE(cell_plan(cell, n=4, md={"electrolyte": "dme"})).run_start_uids
    store.sync()
    assert [s.uid for s in store.runs({"electrolyte": "dme"})] == [uid]
    assert len(store.catalog.read_table(uid, "primary")) == 4


def test_catalog_stream_matches_the_file(store, emit_paged_run):
    uid = emit_paged_run(store, rows=2000)
    store.sync()
    table = store.catalog.read_table(uid, "technique")
    ds = store.run(uid).stream("technique")
    np.testing.assert_array_equal(table["seq_num"].to_numpy(), ds["seq_num"].values)
    np.testing.assert_allclose(table["ewe"].to_numpy(), ds["ewe"].values)


class SlowCatalog(TiledCatalog):
    """A catalog whose every document write takes ``delay`` seconds (a busy disk, a slow database)."""

    delay = 0.1

    def writer(self):
        inner = super().writer()

        def slow(name, doc):
            time.sleep(self.delay)
            inner(name, doc)

        return slow


def test_a_blocked_catalog_does_not_stall_the_run_engine(tmp_path, RE, cell, cell_plan):
    """The run finishes and its file is complete while the catalog's first write is still held; the catalog
    catches up once it is released."""
    entered, gate, held_too_long = threading.Event(), threading.Event(), []

    class GatedCatalog(TiledCatalog):
        def writer(self):
            inner = super().writer()

            def gated(name, doc):
                entered.set()
                if not gate.wait(timeout=60):   # only if the RunEngine waited for the catalog
                    held_too_long.append(name)
                inner(name, doc)

            return gated

    store = Storage(tmp_path / "data", catalog_factory=GatedCatalog)
    try:
        _ = store.catalog  # opened
        store.subscribe(RE)
        (uid,) = RE(cell_plan(cell, n=8)).run_start_uids
        assert not gate.is_set() and held_too_long == [], "the RunEngine waited for the catalog"
        assert entered.wait(timeout=10)                       # the catalog is busy with this run...
        assert store.catalog.search({"uid": uid}) == []       # ...and has none of it yet
        assert store.run(uid).stop["exit_status"] == "success"  # the file is complete already
        assert len(store.run(uid).stream("primary")["seq_num"]) == 8
        gate.set()
        assert store.sync(timeout=30)
        assert store.catalog.metadata(uid)["stop"]["exit_status"] == "success"
        assert len(store.catalog.read_table(uid, "primary")) == 8
    finally:
        gate.set()
        store.close()


def test_backlog_spills_to_the_file_and_loses_nothing(tmp_path, emit_paged_run):
    SlowCatalog.delay = 0.02
    try:
        store = Storage(tmp_path / "data", catalog_factory=SlowCatalog, max_backlog_rows=2000)
        uids = [emit_paged_run(store, rows=6000, page=500) for _ in range(2)]
        assert store.stats["peak_backlog_rows"] <= 2000 and store.stats["catch_ups"] >= 1
        store.close()  # drains: reads the spilled part back from the files
    finally:
        SlowCatalog.delay = 0.1
    with Storage(tmp_path / "data") as store:
        for uid in uids:
            table = store.catalog.read_table(uid, "technique")
            assert table["seq_num"].tolist() == list(range(1, 6001))
            assert store.catalog.metadata(uid)["stop"]["exit_status"] == "success"
        assert len(store.runs()) == 2


def test_close_drains_the_queue(tmp_path, RE, cell, cell_plan):
    store = Storage(tmp_path / "data")
    store.subscribe(RE)
    (uid,) = RE(cell_plan(cell, n=3)).run_start_uids
    store.close()
    with Storage(tmp_path / "data") as again:
        assert again.catalog.metadata(uid)["stop"]["exit_status"] == "success"
        assert len(again.catalog.read_table(uid, "primary")) == 3
        assert not any((tmp_path / "data" / "runs" / ".open").iterdir())


def test_catalog_unavailable_falls_back_to_files(tmp_path, RE, cell, cell_plan):
    def broken(_):
        raise OSError("disk quota exceeded")

    store = Storage(tmp_path / "data", catalog_factory=broken)
    try:
        store.subscribe(RE)
        (uid,) = RE(cell_plan(cell, n=2, md={"electrolyte": "dme"})).run_start_uids
        assert [s.uid for s in store.runs({"electrolyte": "dme"})] == [uid]
        assert store.run(uid).stream().sizes["time"] == 2
        with pytest.raises(RuntimeError, match="disk quota exceeded"):
            _ = store.catalog
    finally:
        store.close()


def test_a_marker_that_cannot_be_removed_does_not_stop_the_catalog(tmp_path, emit_paged_run):
    """On Windows a virus scanner can hold a marker open; the catalog goes on indexing later runs."""
    from event_model import compose_run

    store = Storage(tmp_path / "data")
    try:
        run = compose_run(metadata={"plan_name": "first"})
        store("start", run.start_doc)
        marker = tmp_path / "data" / "runs" / ".open" / run.start_doc["uid"]
        marker.unlink()
        marker.mkdir()  # unlinking it now fails with an OSError, as a locked file does
        (marker / "held").write_text("x")
        store("stop", run.compose_stop())
        assert store.sync(timeout=30)
        second = emit_paged_run(store, rows=10, page=10, md={"purpose": "after"})
        assert store.sync(timeout=30)
        assert store.catalog.metadata(second)["stop"]["exit_status"] == "success"
        uids = {s.uid for s in store.runs(None)}
        assert {run.start_doc["uid"], second} <= uids
    finally:
        store.close()


class FlakyCatalog(TiledCatalog):
    """A catalog whose server drops one write: the ``fail_at``-th document written fails, once."""

    fail_at = 3
    written = 0

    def writer(self):
        inner = super().writer()

        def flaky(name, doc):
            cls = type(self)
            cls.written += 1
            if cls.written == cls.fail_at:
                raise ConnectionError("the catalog server closed the connection")
            inner(name, doc)

        return flaky


def test_a_run_whose_catalog_write_fails_is_written_again_whole_from_its_file(tmp_path, RE, cell, cell_plan,
                                                                               emit_paged_run, caplog):
    FlakyCatalog.written = 0
    store = Storage(tmp_path / "data", catalog_factory=FlakyCatalog)
    try:
        _ = store.catalog
        paged = emit_paged_run(store, rows=6000, page=500)   # its first page fails; the rest wait in the queue
        store.subscribe(RE)
        (rows,) = RE(cell_plan(cell, n=5)).run_start_uids
        assert store.sync(timeout=60)
        assert store.catalog.read_table(paged, "technique")["seq_num"].tolist() == list(range(1, 6001))  # once each
        assert store.catalog.read_table(rows, "primary")["seq_num"].tolist() == [1, 2, 3, 4, 5]
        for uid in (paged, rows):
            assert store.catalog.metadata(uid)["stop"]["exit_status"] == "success"
        assert not any((tmp_path / "data" / "runs" / ".open").iterdir())   # both known whole in the catalog
        assert any("writing it again from its file" in r.getMessage() for r in caplog.records)
    finally:
        store.close()
