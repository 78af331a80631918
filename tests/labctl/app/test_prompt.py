"""The lab at an IPython prompt: runs shown and plotted, the catalog by index, scan id and uid prefix, bluesky's
magics on the instruments, refusals in one line, and plain lines where output is no terminal."""

from __future__ import annotations

import io
import os
import threading
import time

import matplotlib
import pytest

from labctl.app.live import LiveDisplay
from labctl.plans.fluidics import flow_schedule
from labctl.plans.readings import readings
from labctl.profile import load_profile
from labctl.session import Session

matplotlib.use("agg")


@pytest.fixture(scope="module")
def shell(tmp_path_factory):
    """An IPython shell with the default simulated lab loaded through the extension."""
    from IPython.testing.globalipapp import start_ipython

    data = tmp_path_factory.mktemp("prompt")
    ip = start_ipython()
    lab = Session.from_profile(load_profile(None).restricted(["clock", "vmp3_1", "mfc", "dems_valve", "pump"]),
                               data_dir=data)
    from labctl.app.ipython import namespace

    ip.push(namespace(lab))
    ip.run_line_magic("load_ext", "labctl.app.ipython")
    yield ip
    ip.user_ns["experiment_news"].close()
    lab.close()


def test_any_run_shows_a_table_and_plots_and_is_catalog_minus_one(shell, capsys):
    shell.run_cell("uids = RE(galvanostatic_cycles(vmp3_1, clock, cycles=2, plate_capacity='0.05 mAh/cm^2'))")
    shown = capsys.readouterr().err
    assert "galvanostatic_cycles: started" in shown and "galvanostatic_cycles: success" in shown
    assert "cycles_ce" in shown and "[%]" in shown          # the live table's header, with units
    ns = shell.user_ns
    run = ns["catalog"][-1]
    assert run.metadata["start"]["uid"] == ns["uids"][0]
    scan_id = run.metadata["start"]["scan_id"]
    assert ns["catalog"][scan_id].metadata["start"]["uid"] == ns["uids"][0]
    assert ns["db"][ns["uids"][0][:8]].metadata["start"]["scan_id"] == scan_id
    figures = ns["plots"].figures
    (potential,) = figures["potential"].axes
    assert len(potential.lines[-1].get_xdata()) > 100       # every row of the plating and stripping pages
    hours = potential.lines[-1].get_xdata()
    assert 0 <= hours[0] < hours[-1] < 1                    # lab time since the run started, in hours
    (ce,) = figures["coulombic efficiency"].axes
    assert list(ce.lines[-1].get_xdata()) == [1, 2] and all(0 < y <= 100 for y in ce.lines[-1].get_ydata())


def test_catalog_search(shell):
    from tiled.queries import Key

    shell.run_cell("RE(readings(clock, [mfc], num=2, period=60), sample='NaCu-07')")
    found = shell.user_ns["catalog"].search(Key("start.sample") == "NaCu-07")
    assert len(found) == 1


def test_magics_move_and_show_the_instruments(shell, capsys):
    shell.run_cell("%mov mfc 1.5 dems_valve 'sweep'")
    shell.run_cell("%wa flow_controllers valves")
    out = capsys.readouterr().out
    assert "mfc" in out and "setpoint=1.5 mL/min" in out
    assert "position_name=sweep" in out
    shell.run_cell("%ct flow_controllers")
    assert "mfc_setpoint" in capsys.readouterr().out
    shell.run_cell("%mov dems_valve 'sealed' mfc 0")


def test_a_move_of_an_instrument_an_experiment_holds_is_refused_in_one_line(shell, capsys):
    lab = shell.user_ns["lab"]
    when = lab.simlab.clock.now() + 600

    def pause_at(now):  # Ctrl-C ten minutes of lab time in, from a thread as the console's handler does
        if now >= when and not timer.cancelled:
            timer.cancel()
            threading.Thread(target=lab.pause_all, daemon=True).start()

    timer = lab.simlab.clock.call_every(60.0, pause_at)
    experiment = lab.start(flow_schedule, lab.pump, lab.clock, [("240 uL/h", "3 h")])
    deadline = time.monotonic() + 60
    while experiment.state != "paused" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lab.scheduler.holder("pump") is experiment   # paused, it keeps its instruments
    shell.run_cell("%mov pump.rate 100")
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == f"InstrumentBusy: the prompt: pump is held by experiment {experiment.name!r}"
    assert "Traceback" not in err
    assert lab.pump.rate.get() != 100
    experiment.abort()
    experiment.wait(60)


def test_a_refused_metadata_is_one_line(shell, capsys):
    shell.run_cell("RE(ocv(vmp3_1, clock, duration='10 s'), electrolyte='dme')")
    err = capsys.readouterr().err
    assert "MetadataContradiction: electrolyte='dme' contradicts the simulated lab" in err
    assert "Traceback" not in err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("terminal", [False, True])
def test_a_bar_on_a_terminal_plain_lines_elsewhere(tmp_path, terminal):
    out = _Terminal() if terminal else io.StringIO()
    with Session.from_profile(load_profile(None).restricted(["clock", "mfc"]), data_dir=tmp_path) as lab:
        lab.RE.subscribe(LiveDisplay(out, clock=lab.clock.clock))
        lab.RE(readings(lab.clock, [lab.mfc], num=3, period=60))
    text = out.getvalue()
    assert ("\r" in text) is terminal                    # a bar redraws its line; a log never does
    if not terminal:
        lines = text.splitlines()
        assert lines[0].startswith("readings: started (scan 1")
        assert lines[-1] == "readings: success, 3/3 events, lab time +00:02:00"


@pytest.mark.skipif(os.name == "nt", reason="headless check is POSIX's DISPLAY")
def test_plots_are_usable_headless():
    from labctl.app.plots import usable

    assert usable() == (True, "")
