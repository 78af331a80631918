"""Watching one experiment at the prompt: its progress, its table and its live plots, from its documents only,
while other experiments run beside it."""

from __future__ import annotations

import io
import queue
import threading
import time

import matplotlib
import numpy as np
import pytest

from labctl.app.experiments_view import watch
from labctl.devices.operator import ConsoleConfirmer
from labctl.plans.electrochem import galvanostatic_cycles
from labctl.plans.stubs.operator import with_checkpoint
from labctl.profile import load_profile
from labctl.session import Session

matplotlib.use("agg")

CYCLING = {"cycles": 1, "plate_time": "20 min", "record_dt": "30 s"}


@pytest.fixture
def lab(tmp_path):
    profile = load_profile(None)
    profile.sim.update({"start": 1_700_000_000.0})
    with Session.from_profile(profile, data_dir=tmp_path) as lab:
        lab.simlab.operator.perform("assemble_cell", name="coin2", kind="coin", electrolyte="dme", area_cm2=1.767,
                                    channel="vmp3:3")
        yield lab


def _until(condition, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_watched_experiment_is_plotted_from_its_own_documents_only_even_when_watched_midway(lab):
    import matplotlib.pyplot as plt

    typed, screen = queue.Queue(), []
    lab.devices["operator"].confirmer = ConsoleConfirmer(readline=typed.get, write=screen.append)
    # "a" opens its run, then waits for its operator; "b" cycles another cell meanwhile, then "a" goes on
    a = lab.start(with_checkpoint(galvanostatic_cycles(lab.vmp3_1, lab.clock, **CYCLING), lab.operator_for("a"),
                                  "connect_vessel", "Connect the cell of a"), name="a")
    shown = io.StringIO()
    others = []

    def meanwhile():
        try:
            _until(lambda: "started" in shown.getvalue())   # the watch is on
            others.append(lab.start(galvanostatic_cycles, lab.vmp3_3, lab.clock, name="b", **CYCLING))
            others[0].wait(120)
        finally:
            typed.put("ana\n")

    _until(lambda: "[a]: Connect the cell of a" in "".join(screen))   # a's run is open: watched midway
    helper = threading.Thread(target=meanwhile, daemon=True)
    helper.start()
    plots = watch(a, file=shown)
    helper.join(60)
    (b,) = others
    assert a.state == b.state == "done"
    assert a.ended_at > b.ended_at                          # b ran and ended while a was watched

    assert plots is not None and "potential" in plots.figures
    assert not {"pump flow", "gas flow", "partial pressures"} & set(plots.figures)
    (axes,) = plots.figures["potential"].axes
    assert axes.get_title() == "potential: a"
    run = lab.storage.run(a.uids[0])
    mine = {s: run.table(s)["vmp3_1_Ewe"].to_numpy() for s in ("plate", "strip")}   # a's streams with a potential
    assert [len(line.get_ydata()) for line in axes.lines] == [len(v) for v in mine.values()]  # nothing of b's
    for line, values in zip(axes.lines, mine.values(), strict=True):  # every row of a's, as recorded
        np.testing.assert_allclose(line.get_ydata(), values)
    assert plt.fignum_exists(plots.figures["potential"].number)   # still there once the watching ends
    assert "galvanostatic_cycles: success" in shown.getvalue()
