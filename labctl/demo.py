"""``labctl demo``: a short experiment on the simulated lab, stored and exported, to show the whole chain.

:func:`run_demo` is the one place that decides what the demo runs: three plating/stripping cycles of the
lab's first potentiostat (the coin cell in the default profile), or, in a lab without one, a run reading
every instrument at intervals of lab time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Sequence

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
from bluesky.protocols import Movable, Readable

from labctl.plans.params import ParameterError, QuantityLike, Unit, check_call
from labctl.plans.stubs.time import wait


def readings(clock: Movable, detectors: Sequence[Readable] = (), num: int = 5,
             period: Annotated[QuantityLike, Unit("s", min=0, description="lab time between readings")] = 60,
             md: dict | None = None):
    """Read the lab clock and *detectors* *num* times, *period* of lab time apart, in one run."""
    period_s = check_call(readings, (clock, detectors, num, period))["period"]
    if isinstance(num, bool) or not isinstance(num, int) or num < 1:
        raise ParameterError(f"num={num!r}: expected an integer >= 1")
    readers = [clock, *(d for d in detectors if d is not clock)]
    run_md = {"plan_name": "readings", "num_points": num, "plan_args": {"num": num, "period_s": period_s},
              "detectors": [d.name for d in readers], **(md or {})}

    @bpp.run_decorator(md=run_md)
    def inner():
        for i in range(num):
            yield from bps.trigger_and_read(readers)
            if i + 1 < num:
                yield from wait(clock, period_s)

    return (yield from inner())


def demo_plan(session):
    """What the demo runs in *session* (see the module docstring)."""
    pstats = session.of_kind("potentiostat")
    try:
        from labctl.plans.electrochem import galvanostatic_cycles
    except ImportError:
        galvanostatic_cycles = None
    if pstats and galvanostatic_cycles is not None:
        return galvanostatic_cycles(pstats[0], session.clock, cycles=3, record_dt="10 s")
    detectors = [d for d in session.devices.values() if d is not session.clock and hasattr(d, "read")]
    return readings(session.clock, detectors, num=5, period="60 s")


def run_demo(session, out_dir: str | Path | None = None) -> dict:
    """Run the demo in *session*; export its data as CSV to *out_dir* when given.

    Returns ``{"uids": (...), "exported": [paths]}``.
    """
    uids = session.run(demo_plan(session), md={"purpose": "labctl demo"})
    exported = []
    if out_dir is not None:
        out = Path(out_dir).expanduser()
        out.mkdir(parents=True, exist_ok=True)
        for uid in uids:
            result = session.storage.export(uid, out, "csv")
            exported.extend(result if isinstance(result, (list, tuple)) else [result])
    return {"uids": uids, "exported": exported}
