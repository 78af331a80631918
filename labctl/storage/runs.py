"""Reading a recorded run back from its JSON-lines file: summaries, documents, streams as xarray/pandas."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from labctl.storage.jsonl import read_documents

INCOMPLETE = "incomplete"


@dataclass(frozen=True)
class RunSummary:
    """One line of a run listing. ``exit_status`` is ``None`` while a run's file has no stop document and
    "incomplete" once the catalog has indexed such a run as cut short."""

    uid: str
    scan_id: int | None
    plan_name: str | None
    start_time: float
    stop_time: float | None
    exit_status: str | None
    metadata: dict = field(repr=False)
    path: Path

    @classmethod
    def from_docs(cls, start: dict, stop: dict | None, path: Path) -> RunSummary:
        """The summary of a run from its start and stop documents."""
        stop = stop or {}
        status = stop.get("exit_status")
        return cls(
            uid=start["uid"],
            scan_id=start.get("scan_id"),
            plan_name=start.get("plan_name"),
            start_time=start.get("time"),
            stop_time=None if status in (None, INCOMPLETE) else stop.get("time"),
            exit_status=status,
            metadata=start,
            path=path,
        )


def _column(values: list, data_key: dict) -> np.ndarray:
    """A column in the dtype its data key declares; JSON nulls in numbers become NaN."""
    dtype = data_key.get("dtype")
    if dtype == "number":
        return np.asarray(values, dtype=float)
    if dtype == "integer":
        if values and all(isinstance(v, bool) for v in values):  # ophyd describes a bool as an integer
            return np.asarray(values, dtype=bool)
        if any(v is None for v in values):
            return np.asarray(values, dtype=float)
        return np.asarray(values, dtype=np.int64)
    if dtype == "boolean":
        return np.asarray(values, dtype=bool)
    if dtype == "string":
        return np.asarray(values, dtype=object)
    try:  # arrays (or undeclared types): numeric where possible, nulls as NaN
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        pass
    try:
        return np.asarray(values)
    except ValueError:  # ragged arrays
        arr = np.empty(len(values), dtype=object)
        arr[:] = values
        return arr


class StoredRun:
    """A run read from its JSON-lines file, the record of truth (complete or not)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.start: dict | None = None
        self.stop: dict | None = None
        self.descriptors: list[dict] = []
        for name, doc in read_documents(self.path):
            if name == "start":
                self.start = doc
            elif name == "stop":
                self.stop = doc
            elif name == "descriptor":
                self.descriptors.append(doc)
        if self.start is None:
            raise ValueError(f"{self.path}: no start document; not a run file")

    @property
    def uid(self) -> str:
        """The run's uid."""
        return self.start["uid"]

    @property
    def summary(self) -> RunSummary:
        """The run's one-line summary."""
        return RunSummary.from_docs(self.start, self.stop, self.path)

    @property
    def streams(self) -> list[str]:
        """The names of the run's streams, in the order they were declared."""
        return list(dict.fromkeys(d.get("name", "primary") for d in self.descriptors))

    def documents(self) -> Iterator[tuple[str, dict]]:
        """Every recorded document, in emission order."""
        return read_documents(self.path)

    def data_keys(self, stream: str) -> dict[str, dict]:
        """The data keys of *stream* (units, dtype, source)."""
        keys: dict[str, dict] = {}
        for d in self.descriptors:
            if d.get("name", "primary") == stream:
                keys.update(d["data_keys"])
        return keys

    def _columns(self, stream: str) -> tuple[dict[str, dict], dict[str, list]]:
        if stream not in self.streams:
            raise KeyError(f"run {self.uid[:8]} has no stream {stream!r}; it has {self.streams}")
        descs = {d["uid"] for d in self.descriptors if d.get("name", "primary") == stream}
        keys = self.data_keys(stream)
        first = next(iter(keys), None)
        cols: dict[str, list] = {"time": [], "seq_num": [], "timestamp": [], **{k: [] for k in keys}}
        for name, doc in read_documents(self.path):
            if name == "event_page" and doc["descriptor"] in descs:
                n = len(doc["seq_num"])
                cols["time"].extend(doc["time"])
                cols["seq_num"].extend(doc["seq_num"])
                cols["timestamp"].extend(doc.get("timestamps", {}).get(first) or [None] * n)
                for k in keys:
                    cols[k].extend(doc["data"].get(k, [None] * n))
            elif name == "event" and doc["descriptor"] in descs:
                cols["time"].append(doc["time"])
                cols["seq_num"].append(doc["seq_num"])
                cols["timestamp"].append(doc.get("timestamps", {}).get(first))
                for k in keys:
                    cols[k].append(doc["data"].get(k))
        return keys, cols

    def stream(self, name: str = "primary"):
        """The stream as an ``xarray.Dataset``: one variable per data key (units in ``attrs``), dimension
        ``time`` with ``time`` and ``seq_num`` coordinates, in recorded order."""
        import xarray as xr

        keys, cols = self._columns(name)
        cols.pop("timestamp")
        time = np.asarray(cols.pop("time"), dtype=float)
        seq = np.asarray(cols.pop("seq_num"), dtype=np.int64)
        variables = {}
        for k, values in cols.items():
            arr = _column(values, keys[k])
            dims = ("time",) + tuple(f"{k}_dim_{i}" for i in range(1, arr.ndim))
            attrs = {"units": keys[k].get("units") or "", "source": keys[k].get("source", "")}
            variables[k] = xr.Variable(dims, arr, attrs=attrs)
        ds = xr.Dataset(variables, coords={"time": ("time", time), "seq_num": ("time", seq)})
        ds.attrs.update(uid=self.uid, stream=name)
        return ds

    def table(self, name: str = "primary", *, timestamps: bool = False):
        """The stream as a ``pandas.DataFrame`` (columns ``time``, ``seq_num``, data keys; units in
        ``df.attrs["units"]``). With ``timestamps``, a ``timestamp`` column holds the device's own stamp
        of each row (its first data key's), which for instrument rows collected by a flyer is when the
        instrument took them, not when they were emitted (``time``)."""
        import pandas as pd

        keys, cols = self._columns(name)
        stamps = cols.pop("timestamp")
        frame = {"time": np.asarray(cols.pop("time"), dtype=float),
                 "seq_num": np.asarray(cols.pop("seq_num"), dtype=np.int64)}
        if timestamps:
            frame["timestamp"] = np.asarray([np.nan if v is None else v for v in stamps], dtype=float)
        for k, values in cols.items():
            arr = _column(values, keys[k])
            frame[k] = list(arr) if arr.ndim > 1 else arr
        df = pd.DataFrame(frame)
        df.attrs["units"] = {k: keys[k].get("units") or "" for k in keys}
        return df

    def __repr__(self) -> str:
        s = self.summary
        return f"<StoredRun {s.uid[:8]} scan_id={s.scan_id} plan={s.plan_name} status={s.exit_status}>"

