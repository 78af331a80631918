"""A crash is recoverable: a campaign killed with SIGKILL is closed at the next start and ``labctl resume``
finishes it with the same result as a campaign that was never interrupted."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from labctl.analysis.columns import lab_time
from labctl.simstate import read_saved
from labctl.storage import Storage
from labctl.storage.jsonl import read_documents

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")

CAMPAIGN = """
[campaign]
name = "crash"
md = { operator = "ana" }

[[experiment]]
name = "dme-ce"
plan = "galvanostatic_cycles"
params = { pstat = "vmp3_3", cycles = 6, record_dt = "10 s" }
md = { electrolyte = "dme" }
[experiment.checkpoint]
action = "assemble_cell"
prompt = "Assemble a DME coin cell on vmp3_3"
params = { name = "coin_dme", kind = "coin", electrolyte = "dme", area_cm2 = 1.767, potentiostat = "vmp3_3" }

[[experiment]]
name = "ecdmc-ce"
plan = "galvanostatic_cycles"
params = { pstat = "vmp3_4", cycles = 4, record_dt = "10 s" }
md = { electrolyte = "ecdmc" }
[experiment.checkpoint]
action = "assemble_cell"
prompt = "Assemble an EC:DMC coin cell on vmp3_4"
params = { name = "coin_ecdmc", kind = "coin", electrolyte = "ecdmc", area_cm2 = 1.767, potentiostat = "vmp3_4" }

[[experiment]]
name = "ecdmc-eis"
plan = "eis"
params = { pstat = "vmp3_4", f_stop = "1 Hz" }
after = ["ecdmc-ce"]

[[experiment]]
name = "dme-eis"
plan = "eis"
params = { pstat = "vmp3_3", f_stop = "1 Hz" }
after = ["dme-ce"]
"""

# The campaign as `labctl campaign` runs it, with a witness: every document handed to storage is noted, with
# the wall time, in a file written unbuffered, so the test knows what was emitted before the kill.
CHILD = textwrap.dedent("""
    import os, sys, time
    from labctl.storage import Storage

    witness = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    record = Storage.__call__

    def noted(self, name, doc):
        record(self, name, doc)
        key = doc["uid"][0] if name == "event_page" else doc.get("uid")
        os.write(witness, f"{time.time()!r} {name} {key}\\n".encode())

    Storage.__call__ = noted
    from labctl.app.cli import app
    app(sys.argv[2:])
""")


def _labctl(*args):
    return subprocess.run([sys.executable, "-m", "labctl.app.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=600)


def _cycles(data: Path) -> dict[str, list[dict]]:
    """Experiment -> its cycles in order (lab time from the campaign's start), the resumed runs' taking over
    from the lab time they resumed at."""
    out: dict[str, list[dict]] = {}
    with Storage(data) as store:
        runs = sorted(store.runs({"campaign": "crash"}), key=lambda r: r.start_time)
        t0 = min(r.metadata["lab_time"] for r in runs)
        for summary in runs:
            run = store.run(summary.uid)
            if "cycles" not in run.streams:
                continue
            table = run.table("cycles")
            rows = [{"cycle": int(c), "ce": float(ce), "at": float(t) - t0} for c, ce, t in
                    zip(table["cycles_cycle"], table["cycles_ce"], lab_time(table), strict=True)]
            kept = out.setdefault(run.start["campaign_experiment"], [])
            cut = (run.start.get("resumed") or {}).get("lab_time_cut")
            if cut is not None:
                kept[:] = [r for r in kept if r["at"] <= cut - t0]
            kept += rows
    return out


def _in_files(data: Path) -> set[tuple[str, str]]:
    found = set()
    for path in data.glob("runs/*/*/*/*.jsonl"):
        for name, doc in read_documents(path):
            found.add((name, doc["uid"][0] if name == "event_page" else doc["uid"]))
    return found


def test_a_campaign_killed_mid_run_resumes_to_the_same_result(tmp_path):
    campaign = tmp_path / "crash.toml"
    campaign.write_text(CAMPAIGN)

    baseline = _labctl("campaign", campaign, "--data-dir", tmp_path / "baseline")
    assert baseline.returncode == 0, baseline.stderr
    expected = _cycles(tmp_path / "baseline")
    assert [len(expected["dme-ce"]), len(expected["ecdmc-ce"])] == [6, 4]

    data, witness = tmp_path / "crashed", tmp_path / "witness"
    child = subprocess.Popen([sys.executable, "-c", CHILD, witness, "campaign", campaign, "--data-dir", data],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done_cycles = re.compile(rb'"cycles_ce":[-0-9]')
    try:
        deadline = time.monotonic() + 300
        while True:   # killed once three cycles are on disk and the simulated lab was saved
            assert child.poll() is None, "the campaign ended before it could be killed"
            assert time.monotonic() < deadline
            files = list(data.glob("runs/*/*/*/*.jsonl"))
            if sum(len(done_cycles.findall(p.read_bytes())) for p in files) >= 3 and (data / "simlab.state").exists():
                break
            time.sleep(0.01)
    finally:
        killed_at = time.time()
        os.kill(child.pid, signal.SIGKILL)
        child.wait()

    # nothing emitted a flush period (and a margin: at most 1 s) before the kill is lost
    in_files = _in_files(data)
    emitted = [line.split() for line in witness.read_text().splitlines()]
    lost = [(name, uid) for t, name, uid in emitted if float(t) < killed_at - 1.0 and (name, uid) not in in_files]
    assert emitted and not lost
    saved = read_saved(data)
    assert saved is not None and saved.open_runs

    resumed = _labctl("resume", files[0].stem[:8], "--data-dir", data, "--quiet")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    closed = [line for line in resumed.stderr.splitlines() if "was interrupted" in line]
    assert closed, resumed.stderr
    assert "dme-ce: interrupted" in resumed.stdout

    with Storage(data) as store:
        runs = {r.uid: store.run(r.uid) for r in store.runs({"campaign": "crash"})}
    interrupted = [r for r in runs.values() if r.stop.get("reason") == "interrupted"]
    assert len(interrupted) == len(closed) and all(r.stop["exit_status"] == "fail" for r in interrupted)
    # every experiment ends in one run that nothing continues, and ends well; each interrupted run is continued
    # by a run of the same campaign and experiment that names it
    continued = {r.start.get("resumes") for r in runs.values()}
    last = {}
    for run in runs.values():
        if run.uid not in continued:
            name = run.start["campaign_experiment"]
            assert name not in last, f"{name} has two runs that nothing continues"
            last[name] = run
    assert set(last) == {"dme-ce", "ecdmc-ce", "ecdmc-eis", "dme-eis"}
    assert all(run.stop["exit_status"] == "success" for run in last.values())
    for run in interrupted:
        (successor,) = [r for r in runs.values() if r.start.get("resumes") == run.uid]
        assert successor.start["campaign_id"] == run.start["campaign_id"]
        assert successor.start["campaign_experiment"] == run.start["campaign_experiment"]

    # the same cycles and coulombic efficiencies as the campaign that was never interrupted
    got = _cycles(data)
    for name in ("dme-ce", "ecdmc-ce"):
        assert [r["cycle"] for r in got[name]] == [r["cycle"] for r in expected[name]]
        np.testing.assert_allclose([r["ce"] for r in got[name]], [r["ce"] for r in expected[name]], atol=0.05)
        np.testing.assert_allclose([r["at"] for r in got[name]], [r["at"] for r in expected[name]], rtol=0,
                                   atol=60.0)


CYCLING = textwrap.dedent("""
    import sys
    from labctl.session import Session
    from labctl.plans.electrochem import galvanostatic_cycles

    with Session.from_profile(data_dir=sys.argv[1]) as lab:
        lab.run(galvanostatic_cycles(lab.vmp3_1, lab.clock, cycles=5, record_dt="10 s"), md={"sample": "NaCu-07"})
""")


def test_an_interrupted_cycling_run_goes_on_with_its_numbering_totals_and_ce_history(tmp_path):
    subprocess.run([sys.executable, "-c", CYCLING, tmp_path / "baseline"], check=True, capture_output=True,
                   timeout=600)
    with Storage(tmp_path / "baseline") as store:
        (summary,) = store.runs()
        expected = store.run(summary.uid).table("cycles")

    data = tmp_path / "crashed"
    child = subprocess.Popen([sys.executable, "-c", CYCLING, data], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while True:   # killed once two cycles are on disk
            assert child.poll() is None and time.monotonic() < deadline
            files = list(data.glob("runs/*/*/*/*.jsonl"))
            if files and len(re.findall(rb'"cycles_ce":[-0-9]', files[0].read_bytes())) >= 2 and (
                    data / "simlab.state").exists():
                break
            time.sleep(0.01)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()

    resumed = _labctl("resume", "1", "--data-dir", data, "--quiet")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    old_uid = files[0].stem
    assert f"run {old_uid[:8]} (scan 1, galvanostatic_cycles) was interrupted" in resumed.stderr
    again = _labctl("resume", "1", "--data-dir", data, "--quiet")
    assert again.returncode == 2 and again.stderr.strip().startswith(f"error: run {old_uid[:8]} was resumed already")

    with Storage(data) as store:
        old = store.run(old_uid)
        (new,) = [store.run(r.uid) for r in store.runs({"resumes": old_uid})]
    assert (old.stop["exit_status"], old.stop["reason"]) == ("fail", "interrupted")
    assert new.stop["exit_status"] == "success" and new.start["sample"] == "NaCu-07"
    carried = new.start["resumed"]
    done = carried["cycles_done"]
    assert 0 <= done < 5 and new.start["plan_args"]["first_cycle"] == done + 1
    assert carried["ce_history"] == pytest.approx(list(expected["cycles_ce"][:done]), abs=0.05)
    table = new.table("cycles")
    assert list(table["cycles_cycle"]) == list(range(done + 1, 6))        # the numbering goes on
    # totals and CE over every cycle of the cell, those before the crash included, as if never interrupted
    for column in ("cycles_ce", "cycles_plated_total", "cycles_stripped_total", "cycles_ce_cumulative"):
        np.testing.assert_allclose(table[column], expected[column][done:], rtol=1e-3)


@pytest.fixture(scope="module")
def three_cycles(tmp_path_factory):
    """A finished galvanostatic_cycles run of three cycles on the simulated lab, read back from storage."""
    from labctl.plans.electrochem import galvanostatic_cycles
    from labctl.session import Session

    with Session.from_profile(data_dir=tmp_path_factory.mktemp("data")) as lab:
        (uid,) = lab.run(galvanostatic_cycles(lab.vmp3_1, lab.clock, cycles=3, record_dt="10 s"))
        return lab.storage.run(uid)


@pytest.mark.parametrize("where, done, plated", [
    ("start", 0, False), ("plate 1", 0, False), ("strip 1", 0, True), ("after cycle 1", 1, False),
    ("plate 2", 1, False), ("strip 2", 1, True), ("after cycle 2", 2, False), ("strip 3", 2, True)])
def test_a_resume_goes_on_from_what_the_run_had_done_by_the_saved_lab_time(three_cycles, where, done, plated):
    from labctl.app.resume import continuation

    cycles = three_cycles.table("cycles")
    ends = list(lab_time(cycles))
    plate = three_cycles.table("plate", timestamps=True)
    plate_ends = [float(plate["timestamp"][plate["timestamp"] < end].max()) for end in ends]
    start = three_cycles.start["lab_time"]
    cut = {"start": start + 1, "plate 1": plate_ends[0] - 100, "strip 1": plate_ends[0] + 100,
           "after cycle 1": ends[0] + 1, "plate 2": plate_ends[1] - 100, "strip 2": plate_ends[1] + 100,
           "after cycle 2": ends[1] + 1, "strip 3": plate_ends[2] + 100}[where]
    cont = continuation(three_cycles, cut, ended_after_cut=True)
    assert cont.params["first_cycle"] == done + 1 and cont.params["cycles"] == 3 - done
    assert cont.params["reattach"] is True
    assert cont.carried["ce_history"] == pytest.approx(list(cycles["cycles_ce"][:done]))
    plated_total = float(cycles["cycles_plated_total"][done - 1]) if done else 0.0
    assert cont.carried["plated_before_C"] == pytest.approx(plated_total)
    if plated:   # the cycle in hand had plated: the resumed run goes on with its strip
        expected = float(cycles["cycles_plated_charge"][done])
        assert cont.carried["plated_in_progress_C"] == pytest.approx(expected, rel=1e-6)
        assert cont.params["plated_in_progress"] == f"{cont.carried['plated_in_progress_C']!r} C"
    else:
        assert cont.carried["plated_in_progress_C"] is None and "plated_in_progress" not in cont.params
    assert cont.md["resumes"] == three_cycles.uid


def test_resume_on_the_simulated_lab_without_its_saved_state_is_refused(tmp_path):
    out = _labctl("resume", "1", "--data-dir", tmp_path / "empty")
    assert out.returncode == 2
    assert out.stderr.strip().startswith(f"error: no simulated lab was saved in {tmp_path / 'empty'}")
