"""Export a recorded run to CSV (one file per stream) or HDF5 (one group per stream, units as attributes).

Every stream starts with ``lab_time`` (s since the epoch on the lab clock: the lab clock's reading in the row,
else the instrument's own stamp of it, see :func:`labctl.analysis.columns.lab_time`), because ``time`` (when
the RunEngine emitted the row) is wall time, which in the simulated lab says nothing about the experiment.
HDF5 dimensions are named (``lab_time``, and ``<key>_dim_<n>`` for arrays), so netCDF readers (xarray,
h5netcdf) see the same names; a field has one dtype whatever reads it (a boolean stays a boolean).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from labctl.analysis.columns import lab_time
from labctl.storage.runs import StoredRun

LAB_TIME = "lab_time"
DESCRIPTIONS = {LAB_TIME: "lab clock (s since the epoch): when the instrument took the row",
                "time": "wall clock (s since the epoch): when the RunEngine emitted the row",
                "seq_num": "row number in the stream"}

FORMATS = ("csv", "hdf5")


def csv_header(key: str, units: str) -> str:
    """Column header carrying the unit, e.g. ``ewe [V]``; read back with :func:`split_header`."""
    return f"{key} [{units}]" if units else key


def split_header(header: str) -> tuple[str, str]:
    """(name, unit) of a CSV column header ``name [unit]``."""
    if header.endswith("]") and " [" in header:
        key, units = header[:-1].rsplit(" [", 1)
        return key, units
    return header, ""


def _lab_time(run: StoredRun, stream: str) -> np.ndarray:
    return np.asarray(lab_time(run.table(stream, timestamps=True)), dtype=float)


def export_csv(run: StoredRun, dest: Path) -> list[Path]:
    """One CSV file per stream of *run* into *dest*, ``lab_time`` first."""
    out = []
    for stream in run.streams:
        df = run.table(stream)
        df.insert(0, LAB_TIME, _lab_time(run, stream))
        units = {LAB_TIME: "s", "time": "s", **df.attrs["units"]}
        df = df.rename(columns={k: csv_header(k, u) for k, u in units.items()})
        path = dest / f"{run.uid[:8]}_{stream}.csv"
        df.to_csv(path, index=False)
        out.append(path)
    return out


def export_hdf5(run: StoredRun, dest: Path) -> list[Path]:
    """One HDF5 file of *run* (a group per stream, units as attributes, ``lab_time`` the rows' dimension)
    into *dest*."""
    import h5py

    path = dest / f"{run.uid[:8]}.h5"
    with h5py.File(path, "w") as f:
        f.attrs["uid"] = run.uid
        f.attrs["start"] = json.dumps(run.start, default=str)
        if run.stop is not None:
            f.attrs["stop"] = json.dumps(run.stop, default=str)
        for stream in run.streams:
            ds = run.stream(stream)
            g = f.create_group(stream)
            rows = g.create_dataset(LAB_TIME, data=_lab_time(run, stream))
            rows.make_scale(LAB_TIME)
            rows.attrs["units"] = "s"
            columns = {"time": (ds["time"].values, "s", ""), "seq_num": (ds["seq_num"].values, "", "")}
            columns.update((key, (var.values, var.attrs.get("units", ""), var.attrs.get("source", "")))
                           for key, var in ds.data_vars.items())
            for key, (values, units, source) in columns.items():
                if values.dtype == object:
                    values = np.asarray([str(v) for v in values.ravel()], dtype=h5py.string_dtype()).reshape(
                        values.shape)
                d = g.create_dataset(key, data=values)
                d.attrs["units"] = units
                if source:
                    d.attrs["source"] = source
                d.dims[0].attach_scale(rows)
                for axis in range(1, values.ndim):  # an array per row: its axes are named too
                    name = f"{key}_dim_{axis}"
                    scale = g.create_dataset(name, data=np.arange(values.shape[axis]))
                    scale.make_scale(name)
                    d.dims[axis].attach_scale(scale)
            for key, text in DESCRIPTIONS.items():
                g[key].attrs["description"] = text
    return [path]


def export(run: StoredRun, dest: Path, fmt: str) -> list[Path]:
    """Export *run* as *fmt* (``csv`` or ``hdf5``) into *dest*; the files written."""
    if fmt not in FORMATS:
        raise ValueError(f"export format {fmt!r} is not one of {', '.join(FORMATS)}")
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    return export_csv(run, dest) if fmt == "csv" else export_hdf5(run, dest)
