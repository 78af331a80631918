"""Nothing flushed is lost when the recording process is killed mid-run, and the next start closes the run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from labctl.storage import Storage

CHILD = textwrap.dedent("""
    import sys
    import bluesky.plan_stubs as bps
    import bluesky.preprocessors as bpp
    from labctl.session import run_engine
    from ophyd import Component as Cpt, Device
    from labctl.devices.signals import Signal
    from labctl.storage import Storage

    class Cell(Device):
        ewe = Cpt(Signal, value=0.0, units="V", kind="hinted")

    cell = Cell(name="cell")
    store = Storage(sys.argv[1])
    RE = run_engine({})
    store.subscribe(RE)

    @bpp.run_decorator(md={"electrolyte": "dme", "purpose": "crash"})
    def endless():
        i = 0
        while True:  # a run that only a kill ends
            yield from bps.mv(cell.ewe, 0.5 * i)
            yield from bps.trigger_and_read([cell])
            yield from bps.sleep(0.05)
            i += 1

    RE(endless())
""")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_mid_run_keeps_every_flushed_document(tmp_path):
    data = tmp_path / "data"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(data)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        events = 0
        while events < 5:
            assert child.poll() is None, "the recording process died on its own"
            assert time.monotonic() < deadline, "no events were flushed"
            files = list((data / "runs").glob("*/*/*/*.jsonl")) if (data / "runs").exists() else []
            events = files[0].read_bytes().count(b'"name":"event"') if files else 0
            time.sleep(0.05)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    flushed = files[0].read_bytes().count(b'"name":"event"')

    # the scientist's view the next day: `labctl runs` says the run was interrupted, closes it and lists it
    from typer.testing import CliRunner

    from labctl.app.cli import app

    listed = CliRunner().invoke(app, ["runs", "--data-dir", str(data)])
    assert listed.exit_code == 0, listed.output
    run_uid = files[0].stem
    assert run_uid[:8] in listed.stdout
    (line,) = [x for x in listed.stderr.splitlines() if "interrupted" in x]
    assert line.startswith(f"run {run_uid[:8]} (scan 1, endless) was interrupted") and "labctl resume" in line

    with Storage(data) as store:
        assert store.interrupted == []   # closed once, by the first start after the crash
        (summary,) = store.runs({"electrolyte": "dme"})
        assert summary.uid == run_uid and summary.exit_status == "fail" and summary.stop_time is not None
        run = store.run(summary.uid)
        assert run.stop["exit_status"] == "fail" and run.stop["reason"] == "interrupted"
        ds = run.stream("primary")
        assert run.stop["num_events"] == {"primary": ds.sizes["time"]}
        assert ds.sizes["time"] >= flushed >= 5
        assert list(ds["seq_num"].values) == list(range(1, ds.sizes["time"] + 1))
        np.testing.assert_allclose(ds["cell_ewe"].values, 0.5 * np.arange(ds.sizes["time"]))
        assert ds["cell_ewe"].attrs["units"] == "V"
        assert run.stop["time"] == max(doc["time"] for name, doc in run.documents() if name == "event")

        # the catalog holds the whole run, closed the same way
        assert store.sync(60)
        assert store.catalog.metadata(run_uid)["stop"]["exit_status"] == "fail"
        assert len(store.catalog.read_table(run_uid, "primary")) == ds.sizes["time"]
        (found,) = store.runs({"exit_status": "fail"})
        assert found.uid == run_uid
