"""The simulated lab's state as bytes, so a process killed mid-experiment can be followed by one that finds the
same simulated world: cells (what was plated, the SEI, the electrolyte), channels mid-technique, the VMP3
fakes' memory of unread rows, pumps, the gas line, the random generators' states.

A real lab outlives the computer that drives it; the simulated lab lives in that computer's process. Its state
is therefore saved beside the data (by labctl, which knows when the data are flushed) and a resumed session
starts the simulated lab from it: the techniques the simulated instruments were running go on running there.

The state is a header (lab time, seed) and the pickled world. The clock is not part of it (the new lab has its
own, started at the saved lab time) and locks are made afresh.
"""

from __future__ import annotations

import io
import pickle
import threading

VERSION = 1
_RLOCK, _LOCK = type(threading.RLock()), type(threading.Lock())


class _Pickler(pickle.Pickler):
    def __init__(self, file, clock):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._clock = clock

    def persistent_id(self, obj):
        if obj is self._clock:
            return "clock"
        if isinstance(obj, _RLOCK):
            return "rlock"
        if isinstance(obj, _LOCK):
            return "lock"
        return None


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, clock):
        super().__init__(file)
        self._clock = clock

    def persistent_load(self, pid):
        if pid == "clock":
            return self._clock
        if pid == "rlock":
            return threading.RLock()
        if pid == "lock":
            return threading.Lock()
        raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")


def dump(lab) -> bytes:
    """The state of *lab* (a :class:`~labctl.sim.lab.SimLab`) now. Take it while nobody works at the current
    lab time (a clock timer's callback), so that the world is between two steps."""
    header = {"version": VERSION, "lab_time": lab.clock.now(), "seed": lab.world.seed}
    out = io.BytesIO()
    pickle.dump(header, out, protocol=pickle.HIGHEST_PROTOCOL)
    with lab.world._lock:
        _Pickler(out, lab.clock).dump({"world": lab.world, "eclibs": lab._eclibs})
    return out.getvalue()


def header(data: bytes) -> dict:
    """The header of a saved state: ``version``, ``lab_time`` (s since the epoch), ``seed``."""
    head = pickle.load(io.BytesIO(data))
    if head.get("version") != VERSION:
        raise ValueError(f"simulated lab state version {head.get('version')}, expected {VERSION}")
    return head


def load(data: bytes, clock) -> dict:
    """``{"world", "eclibs"}`` of a saved state, bound to *clock* (started at the header's lab time)."""
    stream = io.BytesIO(data)
    pickle.load(stream)
    return _Unpickler(stream, clock).load()
