"""Export to CSV (one file per stream) and HDF5 (one group per stream, units as attributes)."""

from __future__ import annotations

import json

import bluesky.plans as bp
import h5py
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from ophyd import Signal

from labctl.plans.electrochem import ocv
from labctl.plans.readings import readings
from labctl.profile import load_profile
from labctl.session import Session
from labctl.storage.export import split_header


def test_csv_round_trip(store, RE, cell, cell_plan, tmp_path):
    store.subscribe(RE)
    (uid,) = RE(cell_plan(cell, n=4, md={"electrolyte": "dme"})).run_start_uids
    (path,) = store.export(uid, tmp_path / "out", "csv")
    assert path.name.endswith("_primary.csv")
    df = pd.read_csv(path)
    cols = dict(split_header(c) for c in df.columns)
    assert cols["cell_ewe"] == "V" and cols["cell_current"] == "A" and cols["time"] == "s"
    assert list(cols)[:3] == ["lab_time", "time", "seq_num"]
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
        assert g["ewe"].dims[0][0].name == "/technique/lab_time"        # the rows are along lab time


def test_unknown_format_is_refused_before_writing(store, tmp_path, emit_paged_run):
    uid = emit_paged_run(store, rows=10)
    with pytest.raises(ValueError, match="'xlsx' is not one of csv, hdf5"):
        store.export(uid, tmp_path / "out", "xlsx")
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """Runs on the simulated clock, where lab time and wall time part: hourly readings of the MFC, a rest at
    open circuit (rows stamped by the potentiostat), and a count of a boolean signal; exported both ways."""
    out = tmp_path_factory.mktemp("export")
    flag = Signal(name="flag", value=True)
    with Session.from_profile(load_profile(None).restricted(["clock", "vmp3_1", "mfc"]), data_dir=out / "data") as lab:
        runs = {"hourly": lab.run(readings(lab.clock, [lab.mfc], num=3, period="1 h"))[0],
                "ocv": lab.run(ocv(lab.vmp3_1, lab.clock, duration="5 s", record_dt="1 s"))[0],
                "flag": lab.run(bp.count([flag, lab.clock], num=2))[0]}
        lab.storage.sync()
        files = {name: {fmt: lab.storage.export(uid, out / fmt, fmt) for fmt in ("csv", "hdf5")}
                 for name, uid in runs.items()}
        tiled_flag = lab.storage.catalog.read_stream(runs["flag"], "primary")["flag"].dtype
        yield {"runs": runs, "files": files, "tiled_flag": tiled_flag,
               "start": {name: lab.storage.run(uid).start["lab_time"] for name, uid in runs.items()}}


def test_csv_starts_with_lab_time_from_the_lab_clock_not_the_wall(simulated):
    (path,) = simulated["files"]["hourly"]["csv"]
    df = pd.read_csv(path)
    assert df.columns[0] == "lab_time [s]"
    assert np.diff(df["lab_time [s]"]).tolist() == [3600.0, 3600.0]     # an hour apart in the lab
    assert df["lab_time [s]"].iloc[0] == pytest.approx(simulated["start"]["hourly"], abs=1)
    assert np.ptp(df["time [s]"]) < 600                                   # seconds apart on the wall


def test_instrument_rows_get_the_instruments_own_lab_time(simulated):
    (path,) = simulated["files"]["ocv"]["csv"]
    df = pd.read_csv(path)
    assert df.columns[0] == "lab_time [s]"
    assert np.diff(df["lab_time [s]"]) == pytest.approx([1.0] * (len(df) - 1))


def test_hdf5_dimensions_are_named_for_every_reader(simulated):
    (path,) = simulated["files"]["hourly"]["hdf5"]
    ds = xr.open_dataset(path, group="primary", engine="h5netcdf")
    assert set(ds.dims) == {"lab_time"}
    assert not [d for d in ds.dims if str(d).startswith("phony_dim")]
    assert np.diff(ds["lab_time"].values).tolist() == [3600.0, 3600.0]
    assert ds["mfc_flow"].dims == ("lab_time",) and ds["mfc_flow"].attrs["units"] == "mL/min"


def test_a_boolean_is_a_boolean_whatever_reads_it(simulated):
    (csv,) = simulated["files"]["flag"]["csv"]
    (h5,) = simulated["files"]["flag"]["hdf5"]
    with h5py.File(h5) as f:
        from_h5py = f["primary/flag"].dtype
    from_xarray = xr.open_dataset(h5, group="primary", engine="h5netcdf")["flag"].dtype
    from_pandas = pd.read_csv(csv)["flag"].dtype
    assert {from_h5py, from_xarray, from_pandas, simulated["tiled_flag"]} == {np.dtype(bool)}
