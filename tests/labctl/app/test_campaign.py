"""``labctl campaign FILE``: a campaign checked before anything connects, then run in parallel; Ctrl-C
pauses everything and asks what next."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from labctl.app.campaign import CampaignError, load_campaign, parse_campaign
from labctl.app.demo import paper_campaign_path
from labctl.profile import load_profile
from labctl.storage.jsonl import read_documents

SMALL = """
[campaign]
name = "small"
md = { operator = "ana" }

[[experiment]]
name = "first"
plan = "readings"
params = { detectors = ["vmp3_1"], num = 4, period = "10 min" }

[[experiment]]
name = "beside"
plan = "readings"
params = { detectors = ["vmp3_3"], num = 3, period = "10 min" }

[[experiment]]
name = "then"
plan = "readings"
params = { detectors = ["vmp3_4"], num = 2, period = "5 min" }
after = ["beside"]
"""


def _labctl(*args, **kw):
    return subprocess.run([sys.executable, "-m", "labctl.app.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=300, **kw)


def _stops(data: Path) -> dict[str, dict]:
    """Experiment name -> (start, stop) of every run stored under *data*."""
    out = {}
    for path in data.glob("runs/*/*/*/*.jsonl"):
        docs = list(read_documents(path))
        start = next(d for n, d in docs if n == "start")
        stop = next((d for n, d in docs if n == "stop"), None)
        out[start.get("experiment")] = (start, stop)
    return out


def test_a_campaign_runs_its_experiments_at_once_where_instruments_allow(tmp_path):
    path = tmp_path / "small.toml"
    path.write_text(SMALL)
    out = _labctl("campaign", path, "--data-dir", tmp_path / "data")
    assert out.returncode == 0, out.stderr
    runs = _stops(tmp_path / "data")
    assert {n: s["exit_status"] for n, (_, s) in runs.items()} == {"first": "success", "beside": "success",
                                                                  "then": "success"}
    first, beside, then = (runs[n][0] for n in ("first", "beside", "then"))
    assert first["lab_time"] == beside["lab_time"]                  # side by side from the start
    assert then["lab_time"] == runs["beside"][1]["lab_time"]        # after the one it waits for
    assert all(s["operator"] == "ana" and s["campaign"] == "small" for s in (first, beside, then))
    assert "makespan 0.50 h" in out.stdout and "serial sum 0.92 h" in out.stdout


def test_the_paper_campaign_checks_against_the_built_in_lab():
    campaign = load_campaign(paper_campaign_path(), load_profile(None))
    assert len(campaign.experiments) == 21
    first = campaign.experiments[0]
    assert first.plan == "ms_calibration"   # every MS experiment comes after the calibration
    assert set(first.instruments) == {"ms", "mfc", "std_mfc", "dems_valve"}
    titration = next(e for e in campaign.experiments if e.name == "dme-titration")
    assert titration.after == ["dme-cycle", "ms-calibration"]
    assert set(titration.instruments) == {"ms", "mfc", "dems_valve", "d2o_pump", "std_mfc"}
    assert all("ms-calibration" in e.after for e in campaign.experiments
               if "ms" in e.instruments and e is not first and e.name != "dems-dme")


@pytest.mark.parametrize(("text", "says"), [
    ("[campaign]\nname='x'\n", "experiment: required"),
    (SMALL.replace('plan = "readings"\nparams = { detectors = ["vmp3_3"]', 'plan = "reading"\n'
                   'params = { detectors = ["vmp3_3"]'), "unknown plan 'reading'"),
    (SMALL.replace('num = 3', 'num = -3'), "experiment 'beside': num"),
    (SMALL.replace('"vmp3_3"', '"vmp3_9"'), "vmp3_9"),
    (SMALL.replace('after = ["beside"]', 'after = ["besides"]'), "after 'besides'"),
    (SMALL.replace('name = "first"', 'name = "then"'), "used twice"),
    (SMALL.replace('after = ["beside"]', 'after = ["then"]'), "cannot come after itself"),
    (SMALL + '\n[[experiment]]\nname = "x"\nplan = "readings"\nafter = ["y"]\n'
             '[[experiment]]\nname = "y"\nplan = "readings"\nafter = ["x"]\n', "circle: x -> y -> x"),
    (SMALL.replace('md = { operator = "ana" }', 'mdd = {}'), "campaign.mdd: unknown key"),
    ("this is = not toml", "not valid TOML"),
])
def test_a_bad_campaign_is_one_line_naming_what_is_wrong(text, says):
    with pytest.raises(CampaignError) as refused:
        parse_campaign(text, load_profile(None), source="c.toml")
    assert says in str(refused.value) and "\n" not in str(refused.value)


class _Listener:
    """A serial-over-TCP port that counts who connects to it."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()


def test_a_bad_campaign_is_refused_before_any_instrument_is_touched(tmp_path):
    port = _Listener()
    profile = tmp_path / "lab.toml"
    profile.write_text(f"""
[lab]
name = "bench"
[instruments.pump]
kind = "syringe_pump"
driver = "newera.ne1000"
transport = "socket://127.0.0.1:{port.port}"
options = {{ syringe_diameter_mm = 4.78, syringe_volume_uL = 1000.0 }}
""")
    good, bad = tmp_path / "good.toml", tmp_path / "bad.toml"
    good.write_text('[campaign]\nname = "feed"\n[[experiment]]\nname = "feed"\nplan = "flow_schedule"\n'
                    'params = { segments = [["240 uL/h", "1 h"]] }\n')
    bad.write_text(good.read_text().replace("240 uL/h", "-240 uL/h"))
    refused = _labctl("campaign", bad, "--profile", profile, "--data-dir", tmp_path / "data")
    assert refused.returncode == 2
    assert refused.stderr.strip().startswith("error: ") and len(refused.stderr.strip().splitlines()) == 1
    assert port.connections == 0 and not (tmp_path / "data" / "runs").exists()
    tried = _labctl("campaign", good, "--profile", profile, "--data-dir", tmp_path / "data")
    assert tried.returncode == 1 and port.connections >= 1   # the same lab, a good file: it does connect


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process")
def test_ctrl_c_pauses_everything_and_abort_leaves_every_run_closed(tmp_path):
    path = tmp_path / "long.toml"
    path.write_text(SMALL.replace("num = 4", "num = 200000").replace("num = 3", "num = 200000"))
    proc = subprocess.Popen([sys.executable, "-m", "labctl.app.cli", "campaign", str(path), "--data-dir",
                             str(tmp_path / "data")], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        for line in proc.stdout:
            if "beside: running" in line:
                break
        proc.send_signal(signal.SIGINT)
        proc.stdin.write("a\n")   # asked once everything is paused: abort
        proc.stdin.flush()
        out, err = proc.communicate(timeout=240)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "pausing every experiment" in err and "[r]esume, [s]top or [a]bort?" in err
    runs = _stops(tmp_path / "data")
    assert {n: s["exit_status"] for n, (_, s) in runs.items()} == {"first": "abort", "beside": "abort"}
    assert "then: cancelled" in out
