"""What reached the simulated instruments: every command a protocol simulator received and every SDK call a
vendor-library fake took, counted per instrument for the whole process.

Simulated instruments come and go with their labs; this tally outlives them, so a check that something was
refused *before anything connected* can ask it whether any instrument heard a word, including instruments of
a lab that was built and closed in between. Each simulator also keeps its own recent commands
(``core.transcript``, ``eclib.calls``, ``gamrycom.calls``) for tests that look at what was said.
"""

from __future__ import annotations

import threading
from collections import Counter

_lock = threading.Lock()
_counts: Counter = Counter()


def record(instrument: str, count: int = 1) -> None:
    """Count *count* commands received by *instrument* (a simulator's or SDK fake's name)."""
    with _lock:
        _counts[instrument] += count


def counts() -> dict[str, int]:
    """Commands received so far, per instrument, since the process started."""
    with _lock:
        return dict(_counts)


def received_since(before: dict[str, int]) -> dict[str, int]:
    """The instruments that received anything since *before* (a :func:`counts` snapshot), with how much."""
    now = counts()
    return {name: n - before.get(name, 0) for name, n in now.items() if n != before.get(name, 0)}
