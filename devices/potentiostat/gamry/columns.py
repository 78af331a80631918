"""What ``Dtaq.Cook`` returns, per Dtaq class, and how it becomes backend rows.

Public sources disagree on the layout after ``Im`` (the Chrono ``Q`` column, the Rcv ``Cycle`` position), so
every layout lives in this one table and decoding goes by name, never by a hard-coded index elsewhere.
"""

from __future__ import annotations

COOK_COLUMNS: dict[str, tuple[str, ...]] = {
    "GamryDtaqChrono": ("Time", "Vf", "Vu", "Im", "Q", "Vsig", "Ach", "IERange", "Overload", "StopTest"),
    "GamryDtaqCiiv": ("Time", "Vf", "Vu", "Im", "Vsig", "Ach", "IERange", "Overload", "StopTest"),
    "GamryDtaqRcv": ("Time", "Vf", "Vu", "Im", "Vsig", "Ach", "IERange", "Overload", "StopTest", "Cycle",
                     "Reserved"),
    "GamryDtaqOcv": ("Time", "Vf", "Vm", "Vsig", "Ach", "Overload", "StopTest", "Reserved1", "Reserved2",
                     "Reserved3"),
}


def points(dtaq_class: str, count: int, cols) -> list[dict]:
    """Named points from one ``Cook`` result (``cols`` is column-major, as GamryCOM returns it)."""
    names = COOK_COLUMNS[dtaq_class]
    if count and len(cols) < len(names):
        raise ValueError(f"{dtaq_class}.Cook returned {len(cols)} columns, expected {len(names)} ({names})")
    return [{name: cols[i][k] for i, name in enumerate(names)} for k in range(count)]


class RowDecoder:
    """Turns named points into time-domain rows, integrating charge when the Dtaq does not report it."""

    def __init__(self, dtaq_class: str):
        self.dtaq_class = dtaq_class
        self._has_q = "Q" in COOK_COLUMNS[dtaq_class]
        self._has_i = "Im" in COOK_COLUMNS[dtaq_class]
        self._last: tuple[float, float] | None = None
        self._q = 0.0
        self.stop_test = False
        self.overload = False
        self.last_overload = 0      # Overload flags of the newest point (non-zero: the cell stopped responding)
        self.last_time = 0.0

    def rows(self, count: int, cols) -> list[dict]:
        out = []
        for p in points(self.dtaq_class, count, cols):
            t = float(p["Time"])
            current = float(p["Im"]) if self._has_i else 0.0
            if self._has_q:
                q = float(p["Q"])
            else:
                if self._last is not None:
                    t0, i0 = self._last
                    self._q += 0.5 * (i0 + current) * (t - t0)
                q = self._q
            self._last = (t, current)
            if p.get("StopTest"):
                self.stop_test = True
            self.last_overload = int(p.get("Overload") or 0)
            self.overload = self.overload or bool(self.last_overload)
            self.last_time = t
            out.append({"time": t, "Ewe": float(p["Vf"]), "I": current, "Q": q,
                        "cycle": int(p.get("Cycle", 0)), "step": 0})
        return out
