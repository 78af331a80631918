"""`labctl ipython` driven in a terminal (tmux) as a scientist uses it: moves and where-all magics, a plan with its
live table, the catalog, an experiment in the background listed, and a move of the instrument it holds refused."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from labctl.profile import default_profile_path

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None or sys.platform == "win32", reason="needs tmux")


class Terminal:
    """A tmux window running a command; ``type`` a line, ``wait_for`` text on the screen."""

    def __init__(self, command: str, env: dict):
        self.name = f"labctl-{uuid.uuid4().hex[:8]}"
        subprocess.run(["tmux", "new-session", "-d", "-s", self.name, "-x", "200", "-y", "50", command],
                       check=True, env=env)

    def screen(self) -> str:
        return subprocess.run(["tmux", "capture-pane", "-p", "-S", "-2000", "-t", self.name], capture_output=True,
                              text=True).stdout

    def type(self, line: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, "-l", line], check=True)
        subprocess.run(["tmux", "send-keys", "-t", self.name, "Enter"], check=True)

    def wait_for(self, text: str, timeout: float = 120.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared; the screen:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


@pytest.fixture
def terminal(tmp_path):
    profile = tmp_path / "lab.toml"   # the default lab at 600 x real time: a 3 h flow takes 18 s
    profile.write_text(Path(default_profile_path()).read_text().replace("acceleration = 0", "acceleration = 600"))
    env = {**os.environ, "LABCTL_DATA": str(tmp_path / "data"), "LABCTL_PROFILE": str(profile), "MPLBACKEND": "agg"}
    env.pop("DISPLAY", None)
    term = Terminal(f"{sys.executable} -m labctl.app.cli ipython; sleep 600", env)
    yield term
    term.close()


def test_labctl_ipython_in_a_terminal(terminal):
    terminal.wait_for("In [1]:", timeout=180)
    terminal.type("%mov mfc 1.5 dems_valve 'sweep'")
    terminal.wait_for("In [2]:")
    terminal.type("%wa flow_controllers valves")
    screen = terminal.wait_for("In [3]:")
    assert "setpoint=1.5 mL/min" in screen and "position_name=sweep" in screen

    terminal.type("RE(readings(clock, [mfc], num=3, period=60))")
    screen = terminal.wait_for("Out[3]:")
    assert "clock_time" in screen and "[mL/min]" in screen     # the live table, with units
    assert "readings" in screen and "3/3" in screen              # the progress bar, completed

    terminal.type("catalog[-1]")
    terminal.wait_for("Out[4]:")
    screen = terminal.wait_for("<BlueskyRun")   # the value is drawn after the prompt's Out line
    assert "scan_id=1" in screen

    terminal.type("e = lab.start(flow_schedule, d2o_pump, clock, [('100 uL/h', '3 h')])")
    terminal.wait_for("In [6]:")
    terminal.type("experiments()")
    terminal.wait_for("Out[6]:")
    screen = terminal.wait_for("flow_schedule-1")   # the table is drawn after the prompt's Out line
    assert "running" in screen
    terminal.type("%mov d2o_pump.rate 100")
    screen = terminal.wait_for("In [8]:")
    assert "InstrumentBusy: the prompt: d2o_pump is held by experiment 'flow_schedule-1'" in screen
    terminal.wait_for("[experiment flow_schedule-1: running -> done]", timeout=120)
    terminal.type("exit")
