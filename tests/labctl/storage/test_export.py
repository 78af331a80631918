"""Export to CSV (one file per stream) and HDF5 (one group per stream, units as attributes)."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pandas as pd
import pytest

from labctl.storage.export import split_header


def test_csv_round_trip(store, RE, cell, cell_plan, tmp_path):
    store.subscribe(RE)
    (uid,) = RE(cell_plan(cell, n=4, md={"electrolyte": "dme"})).run_start_uids
    (path,) = store.export(uid, tmp_path / "out", "csv")
    assert path.name.endswith("_primary.csv")
    df = pd.read_csv(path)
    cols = dict(split_header(c) for c in df.columns)
    assert cols["cell_ewe"] == "V" and cols["cell_current"] == "A" and cols["time"] == "s"
    original = store.run(uid).table("primary")
    np.testing.assert_allclose(df["cell_ewe [V]"], original["cell_ewe"])
    np.testing.assert_allclose(df["time [s]"], original["time"])
    assert df["seq_num"].tolist() == [1, 2, 3, 4]
    assert df["cell_state"].tolist() == ["rest"] * 4


def test_hdf5_round_trip(store, emit_paged_run, tmp_path):
    uid = emit_paged_run(store, rows=1200, md={"electrolyte": "ecdmc"})
    (path,) = store.export(uid, tmp_path / "out", "hdf5")
    ds = store.run(uid).stream("technique")
    with h5py.File(path, "r") as f:
        assert f.attrs["uid"] == uid
        assert json.loads(f.attrs["start"])["electrolyte"] == "ecdmc"
        g = f["technique"]
        np.testing.assert_allclose(g["ewe"][()], ds["ewe"].values)
        assert g["ewe"].attrs["units"] == "V" and g["current"].attrs["units"] == "A"
        assert g["seq_num"][()].tolist() == list(range(1, 1201))
        assert g["cycle"].dtype == np.int64


def test_unknown_format_is_refused_before_writing(store, tmp_path, emit_paged_run):
    uid = emit_paged_run(store, rows=10)
    with pytest.raises(ValueError, match="'xlsx' is not one of csv, hdf5"):
        store.export(uid, tmp_path / "out", "xlsx")
    assert not (tmp_path / "out").exists()
