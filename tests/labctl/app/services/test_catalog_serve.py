"""`labctl catalog serve`: the catalog over HTTP (a real Tiled server process) to holders of the API key
only, with runs readable through it while they are still being written."""

from __future__ import annotations

import numpy as np
import pytest
from real_servers import CatalogServer
from typer.testing import CliRunner

from labctl.app.cli import app
from labctl.plans.readings import readings
from labctl.session import Session

SMALL_LAB = """
[lab]
name = "served lab"

[sim]
seed = 7

[instruments.clock]
kind = "clock"
driver = "lab.clock"

[instruments.mfc]
kind = "flow_controller"
driver = "bronkhorst.propar"
transport = "sim://mfc"
options = { node = 128, fluid = "Ar" }
"""


@pytest.fixture(scope="module")
def lab_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("served")
    (folder / "lab.toml").write_text(SMALL_LAB, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def served(lab_dir):
    """The lab's catalog served with a key the server made up and printed."""
    server = CatalogServer(lab_dir, "--profile", str(lab_dir / "lab.toml"), "--data-dir", str(lab_dir / "data"))
    yield server
    server.stop()


def test_requests_without_the_key_are_refused(served):
    assert served.key and len(served.key) >= 32  # generated and printed
    assert served.get("/api/v1/search/").status_code == 401
    assert served.get("/api/v1/search/", key="0123456789abcdef0123").status_code == 401
    assert served.get("/api/v1/search/", key=served.key).status_code == 200


def test_a_run_is_visible_while_it_is_written_and_reads_back_whole(served, lab_dir):
    seen, started = {}, {}
    with Session.from_profile(lab_dir / "lab.toml", data_dir=lab_dir / "data") as lab:

        def look_through_the_server(name, doc):  # called by the RunEngine in the middle of the run
            if name == "start":
                started["uid"] = doc["uid"]
            elif name in ("event", "event_page") and not seen:
                lab.storage.sync()  # the session has indexed what it emitted so far
                client = served.client()
                node = client[started["uid"]]
                seen.update(uids=list(client), stop=node.metadata.get("stop"), streams=list(node),
                            state=lab.RE.state)

        lab.RE.subscribe(look_through_the_server)
        (uid,) = lab.run(readings(lab.clock, [lab.mfc], num=4, period=30))
        lab.storage.sync()
        stored = lab.storage.run(uid).table("primary")

    assert seen["uids"] == [uid] and seen["state"] == "running"
    assert seen["stop"] is None and seen["streams"] == ["primary"]  # in the catalog, not finished yet

    node = served.client()[uid]
    assert node.metadata["start"]["plan_name"] == "readings"
    assert node.metadata["stop"]["exit_status"] == "success"
    table = node["primary"].base["internal"].read()
    assert list(table["seq_num"]) == [1, 2, 3, 4]
    for key in ("clock_elapsed", "mfc_flow", "mfc_setpoint"):
        np.testing.assert_allclose(table[key], stored[key])
    np.testing.assert_allclose(table["clock_elapsed"], [0, 30, 60, 90])


def test_a_key_the_servers_would_refuse_is_one_line(tmp_path):
    result = CliRunner().invoke(app, ["catalog", "serve", "--data-dir", str(tmp_path)],
                                env={"LABCTL_API_KEY": "my key!"})
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: $LABCTL_API_KEY must be letters and digits only (e.g. from `openssl rand -hex 32`)"]
