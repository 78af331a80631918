"""Finding a quantity's column in a stream table whatever device recorded it."""

from __future__ import annotations

import pandas as pd


def column(table: pd.DataFrame, quantity: str, *, required: bool = True) -> str | None:
    """The column holding *quantity*: named exactly so, or ``<device>_<quantity>``.

    Several matches (two potentiostats in one stream) are ambiguous and refused rather than guessed.
    """
    if quantity in table.columns:
        return quantity
    matches = [c for c in table.columns if str(c).endswith("_" + quantity)]
    if len(matches) == 1:
        return matches[0]
    if not required and not matches:
        return None
    found = ", ".join(map(str, table.columns))
    if matches:
        raise KeyError(f"several columns hold {quantity!r}: {matches}; select one device's columns first")
    raise KeyError(f"no column for {quantity!r} among: {found}")


def lab_time(table: pd.DataFrame) -> pd.Series:
    """Lab time of each row: the lab clock's reading where the stream has one (``<clock>_time`` beside
    ``<clock>_elapsed``), else the device's own timestamps (``timestamp``, from
    ``StoredRun.table(name, timestamps=True)``: a potentiostat stamps its rows with lab time), else the
    event time (wall time of emission, which in a simulated lab is not lab time).
    """
    for c in table.columns:
        name = str(c)
        if name.endswith("_elapsed") and name[: -len("_elapsed")] + "_time" in table.columns:
            return table[name[: -len("_elapsed")] + "_time"]
    if "timestamp" in table.columns:
        return table["timestamp"]
    return table[column(table, "time")]
