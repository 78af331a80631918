"""The simulated lab saved beside the data it produced, so ``labctl resume`` after a crash finds the same
simulated world (see :mod:`labctl.sim.state` for why a simulated lab needs this and a real one does not).

While a session of a simulated lab records, the lab's state is written to ``<data_dir>/simlab.state`` at lab-time
intervals, at most every ``min_wall_s`` of wall time, from a clock timer: the timer fires while nobody works at
the current lab time, so every document describing the world up to then has been emitted; they are flushed to
their files before the state is written (atomically). A resumed session starts the simulated lab from the last
state written; documents recorded after it (the last fraction of a second before the crash) describe lab
time the restored lab has not reached, and resuming goes on from the state's lab time.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

STATE_FILE = "simlab.state"
PERIOD_S = 60.0      # lab seconds between chances to save
MIN_WALL_S = 0.5     # wall seconds between saves: the lab time a resume goes back is what runs in this


@dataclass(frozen=True)
class SavedLab:
    """A saved simulated lab: when (lab and wall time), which runs were open, and the lab's bytes."""

    lab_time: float
    wall_time: float
    open_runs: list[str]
    state: bytes


def state_path(data_dir: Path) -> Path:
    """Where the simulated lab of *data_dir* is saved."""
    return Path(data_dir) / STATE_FILE


def read_saved(data_dir: Path) -> SavedLab | None:
    """The simulated lab last saved in *data_dir*, or None."""
    path = state_path(data_dir)
    if not path.exists():
        return None
    data = path.read_bytes()
    (n,) = struct.unpack("<I", data[:4])
    head = json.loads(data[4:4 + n])
    return SavedLab(head["lab_time"], head["wall_time"], head["open_runs"], data[4 + n:])


class SimCheckpoints:
    """Saves *simlab* beside *storage*'s data while a session runs (see the module docstring)."""

    def __init__(self, simlab, storage, *, period: float = PERIOD_S, min_wall_s: float = MIN_WALL_S):
        self.simlab, self.storage = simlab, storage
        self.path = state_path(storage.data_dir)
        self.min_wall_s = min_wall_s
        self.saves = 0
        self.failures = 0
        self._last = time.monotonic()
        self._timer = simlab.clock.call_every(period, self._tick)

    def _tick(self, now: float) -> None:
        if time.monotonic() - self._last >= self.min_wall_s and self.storage.open_runs():
            try:
                self.save()
            except Exception as exc:   # in real-time mode the world may be changing meanwhile: next time
                self._last = time.monotonic()
                self.failures += 1
                log.log(logging.WARNING if self.failures == 1 else logging.DEBUG,
                        "saving the simulated lab failed (%s: %s); the last state saved stays", type(exc).__name__, exc)

    def save(self) -> None:
        """Write the lab's state now, after flushing every document emitted up to now."""
        state = self.simlab.snapshot()       # the world as the documents emitted so far describe it
        open_runs = self.storage.open_runs()
        self.storage.flush()
        head = json.dumps({"lab_time": self.simlab.clock.now(), "wall_time": time.time(),
                           "open_runs": open_runs}).encode()
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(struct.pack("<I", len(head)) + head + state)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        self._last = time.monotonic()
        self.saves += 1

    def close(self) -> None:
        """Save no more (the last state written stays, for a resume after a later crash)."""
        self._timer.cancel()
