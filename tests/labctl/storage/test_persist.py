"""A run is recorded to JSON-lines as it happens and reads back with its values, units and seq_nums."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import orjson
import pytest

from labctl.storage import Storage, data_dir


def test_run_reloads_with_values_units_and_seq_nums(store, RE, cell, cell_plan):
    store.subscribe(RE)
    (uid,) = RE(cell_plan(cell, n=5, md={"electrolyte": "dme", "sample": {"id": "Na-07"}})).run_start_uids

    run = store.run(uid)
    assert run.start["electrolyte"] == "dme"
    assert run.stop["exit_status"] == "success"
    assert run.streams == ["primary"]
    ds = run.stream("primary")
    np.testing.assert_allclose(ds["cell_ewe"].values, 3.0 - 0.1 * np.arange(5))
    np.testing.assert_allclose(ds["cell_current"].values, 1e-3 * np.arange(5))
    assert list(ds["seq_num"].values) == [1, 2, 3, 4, 5]
    assert ds["cell_ewe"].attrs["units"] == "V"
    assert ds["cell_current"].attrs["units"] == "A"
    assert list(ds["cell_state"].values) == ["rest"] * 5
    assert np.all(np.diff(ds["time"].values) >= 0)
    df = run.table("primary")
    assert list(df["seq_num"]) == [1, 2, 3, 4, 5]
    assert df.attrs["units"]["cell_ewe"] == "V"
    names = [name for name, _ in run.documents()]
    assert names[0] == "start" and names[-1] == "stop" and names.count("event") == 5


def test_every_line_is_one_json_document(store, RE, cell, cell_plan):
    store.subscribe(RE)
    (uid,) = RE(cell_plan(cell, n=2)).run_start_uids
    lines = store.run(uid).path.read_bytes().splitlines()
    items = [orjson.loads(line) for line in lines]
    assert [i["name"] for i in items] == ["start", "descriptor", "event", "event", "stop"]
    assert all(set(i) == {"name", "doc"} for i in items)


def test_event_pages_are_recorded_row_by_row(store, emit_paged_run):
    uid = emit_paged_run(store, rows=2500, page=1000, md={"electrolyte": "ecdmc"})
    run = store.run(uid)
    ds = run.stream("technique")
    assert ds.sizes["time"] == 2500
    assert list(ds["seq_num"].values[:3]) == [1, 2, 3] and ds["seq_num"].values[-1] == 2500
    np.testing.assert_allclose(ds["ewe"].values, 3.0 - 1e-4 * np.arange(2500))
    assert ds["cycle"].dtype == np.int64 and ds["cycle"].values[-1] == 2
    assert ds["ewe"].attrs["units"] == "V"


def test_nan_is_strict_json_and_reads_back_as_nan(store):
    from event_model import compose_run

    run = compose_run()
    store("start", run.start_doc)
    desc = run.compose_descriptor(name="primary", data_keys={"x": {"dtype": "number", "shape": [], "source": "s"}})
    store("descriptor", desc.descriptor_doc)
    store("event", desc.compose_event(data={"x": np.float64("nan")}, timestamps={"x": 0.0}, seq_num=1))
    store("event", desc.compose_event(data={"x": np.float32(2.5)}, timestamps={"x": 0.0}, seq_num=2))
    store("stop", run.compose_stop())
    path = store.run(run.start_doc["uid"]).path
    for line in path.read_bytes().splitlines():
        json.loads(line)  # no NaN tokens: strict JSON
    x = store.run(run.start_doc["uid"]).stream()["x"].values
    assert np.isnan(x[0]) and x[1] == 2.5


def test_resource_and_datum_documents_are_recorded(store):
    from event_model import compose_run

    run = compose_run()
    store("start", run.start_doc)
    res = run.compose_resource(spec="AD_HDF5", root="/data", resource_path="img.h5", resource_kwargs={})
    store("resource", res.resource_doc)
    datum = res.compose_datum(datum_kwargs={"point_number": 0})
    store("datum", datum)
    desc = run.compose_descriptor(name="primary", data_keys={
        "img": {"dtype": "array", "shape": [4, 4], "source": "cam", "external": "FILESTORE:"}})
    store("descriptor", desc.descriptor_doc)
    store("event", desc.compose_event(data={"img": datum["datum_id"]}, timestamps={"img": 0.0},
                                      seq_num=1, filled={"img": False}))
    store("stop", run.compose_stop())
    names = [n for n, _ in store.run(run.start_doc["uid"]).documents()]
    assert names == ["start", "resource", "datum", "descriptor", "event", "stop"]


def test_half_written_last_line_is_ignored(store, RE, cell, cell_plan):
    store.subscribe(RE)
    (uid,) = RE(cell_plan(cell, n=3)).run_start_uids
    path = store.run(uid).path
    with open(path, "ab") as f:
        f.write(b'{"name": "event", "doc": {"uid": "abc", "da')
    run = store.run(uid)
    assert run.stream("primary").sizes["time"] == 3
    assert run.stop["exit_status"] == "success"


def test_lookup_by_prefix_and_scan_id(store, RE, cell, cell_plan):
    store.subscribe(RE)
    (a,) = RE(cell_plan(cell, n=1)).run_start_uids
    (b,) = RE(cell_plan(cell, n=2)).run_start_uids
    assert store.run(b[:8]).start["uid"] == b
    assert store.run(1).start["uid"] == a
    assert store.run("2").start["uid"] == b
    with pytest.raises(KeyError, match="no run"):
        store.run("ffffffffff")
    with pytest.raises(KeyError, match="scan_id 99"):
        store.run(99)
    with pytest.raises(KeyError, match="no stream 'baseline'"):
        store.run(a).stream("baseline")


def test_reloaded_in_a_fresh_process_as_xarray(tmp_path, RE, cell, cell_plan):
    with Storage(tmp_path / "data") as store:
        store.subscribe(RE)
        (uid,) = RE(cell_plan(cell, n=4, md={"electrolyte": "dme"})).run_start_uids
    code = textwrap.dedent("""
        import json, sys
        from labctl.storage import Storage
        store = Storage(sys.argv[1])
        found = store.runs({"electrolyte": "dme"})
        ds = store.run(found[0].uid).stream("primary")
        print(json.dumps({"uid": found[0].uid, "ewe": ds["cell_ewe"].values.tolist(),
                          "units": ds["cell_ewe"].attrs["units"], "seq": ds["seq_num"].values.tolist(),
                          "type": type(ds).__name__}))
        store.close()
    """)
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "data")],
                         capture_output=True, text=True, timeout=60, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["uid"] == uid and got["type"] == "Dataset"
    np.testing.assert_allclose(got["ewe"], [3.0, 2.9, 2.8, 2.7])
    assert got["units"] == "V" and got["seq"] == [1, 2, 3, 4]


def test_data_dir_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("LABCTL_DATA", str(tmp_path / "env"))
    assert data_dir("~/from-profile") == tmp_path / "env"
    monkeypatch.delenv("LABCTL_DATA")
    assert data_dir(str(tmp_path / "profile")) == tmp_path / "profile"
    default = data_dir(None)
    assert default.name == "labctl" and default.is_absolute()
