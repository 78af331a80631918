"""Export a recorded run to CSV (one file per stream) or HDF5 (one group per stream, units as attributes)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from labctl.storage.runs import StoredRun

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


def export_csv(run: StoredRun, dest: Path) -> list[Path]:
    """One CSV file per stream of *run* into *dest*."""
    out = []
    for stream in run.streams:
        df = run.table(stream)
        units = df.attrs["units"]
        df = df.rename(columns={k: csv_header(k, u) for k, u in units.items()})
        df = df.rename(columns={"time": csv_header("time", "s")})
        path = dest / f"{run.uid[:8]}_{stream}.csv"
        df.to_csv(path, index=False)
        out.append(path)
    return out


def export_hdf5(run: StoredRun, dest: Path) -> list[Path]:
    """One HDF5 file of *run* (a group per stream, units as attributes) into *dest*."""
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
            g.create_dataset("time", data=ds["time"].values).attrs["units"] = "s"
            g.create_dataset("seq_num", data=ds["seq_num"].values)
            for key, var in ds.data_vars.items():
                values = var.values
                if values.dtype == object:
                    values = np.asarray([str(v) for v in values.ravel()], dtype=h5py.string_dtype()).reshape(
                        values.shape
                    )
                d = g.create_dataset(key, data=values)
                d.attrs["units"] = var.attrs.get("units", "")
                d.attrs["source"] = var.attrs.get("source", "")
    return [path]


def export(run: StoredRun, dest: Path, fmt: str) -> list[Path]:
    """Export *run* as *fmt* (``csv`` or ``hdf5``) into *dest*; the files written."""
    if fmt not in FORMATS:
        raise ValueError(f"export format {fmt!r} is not one of {', '.join(FORMATS)}")
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    return export_csv(run, dest) if fmt == "csv" else export_hdf5(run, dest)
