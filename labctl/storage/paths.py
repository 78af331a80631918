"""Where recorded data lives: the data directory and the layout beneath it.

Layout under a data directory::

    runs/YYYY/MM/DD/<uid>.jsonl   one append-only file per run (the record of truth)
    runs/.open/<uid>              marker: the catalog may be behind this run's file
    catalog/                      the Tiled catalog (SQLite) and its table/array storage
"""

from __future__ import annotations

import datetime as _dt
import os
from pathlib import Path

ENV_VAR = "LABCTL_DATA"


def data_dir(profile_value: str | None = None) -> Path:
    """Resolve the data directory: ``$LABCTL_DATA``, else the profile's value, else the user data dir."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    if profile_value:
        return Path(profile_value).expanduser()
    import platformdirs

    return platformdirs.user_data_path("labctl")


def run_relpath(uid: str, start_time: float) -> Path:
    """Path of a run's JSON-lines file relative to ``runs/``, dated in UTC so it never depends on the host."""
    day = _dt.datetime.fromtimestamp(start_time, tz=_dt.UTC)
    return Path(f"{day:%Y}", f"{day:%m}", f"{day:%d}", f"{uid}.jsonl")
