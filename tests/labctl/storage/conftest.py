"""Shared fixtures: a small cell device with units, runs that emit events and event pages."""

from __future__ import annotations

import time

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import numpy as np
import pytest
from event_model import compose_run
from ophyd import Component as Cpt
from ophyd import Device

from labctl.devices.signals import Signal
from labctl.storage import Storage


class Cell(Device):
    ewe = Cpt(Signal, value=0.0, units="V", kind="hinted")
    current = Cpt(Signal, value=0.0, units="A", kind="hinted")
    state = Cpt(Signal, value="rest", kind="normal")


@pytest.fixture
def cell():
    return Cell(name="cell")


@pytest.fixture
def store(tmp_path):
    s = Storage(tmp_path / "data")
    yield s
    s.close()


def _cell_plan(cell, n=5, md=None):
    """``n`` readings of the cell: ewe = 3 - 0.1 i V, current = 1e-3 i A."""

    @bpp.run_decorator(md=md or {})
    def inner():
        for i in range(n):
            yield from bps.mv(cell.ewe, 3.0 - 0.1 * i, cell.current, 1e-3 * i)
            yield from bps.trigger_and_read([cell])

    return inner()


def _emit_paged_run(sink, rows=3000, page=1000, md=None):
    """Emit a run whose data arrive as event pages (as a potentiostat technique does); returns its uid."""
    run = compose_run(metadata={"plan_name": "technique", **(md or {})})
    sink("start", run.start_doc)
    keys = {
        "ewe": {"dtype": "number", "shape": [], "source": "sim", "units": "V"},
        "current": {"dtype": "number", "shape": [], "source": "sim", "units": "A"},
        "cycle": {"dtype": "integer", "shape": [], "source": "sim"},
    }
    desc = run.compose_descriptor(name="technique", data_keys=keys)
    sink("descriptor", desc.descriptor_doc)
    t0 = time.time()
    for first in range(0, rows, page):
        idx = np.arange(first, min(first + page, rows))
        data = {"ewe": 3.0 - 1e-4 * idx, "current": 1e-6 * idx, "cycle": idx // 1000}
        sink("event_page", desc.compose_event_page(
            data=data, timestamps={k: np.full(len(idx), t0) for k in keys},
            seq_num=list(map(int, idx + 1)), time=list(t0 + 0.01 * idx), validate=False))
    sink("stop", run.compose_stop())
    return run.start_doc["uid"]


@pytest.fixture
def cell_plan():
    return _cell_plan


@pytest.fixture
def emit_paged_run():
    return _emit_paged_run
