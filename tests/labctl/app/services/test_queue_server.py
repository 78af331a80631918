"""The queue server for real: `labctl queue manager` runs bluesky-queueserver's RE Manager (on a real Redis)
with labctl's startup module; plans submitted through bluesky-queueserver-api run on the simulated lab and
land in the catalog. `labctl queue http` puts bluesky-httpserver in front of it, for holders of the key."""

from __future__ import annotations

import re

import pytest
from bluesky_queueserver_api import BPlan
from real_servers import HOST, Process, free_port, labctl, wait_for

from labctl.storage import StoredRun
from labctl.storage.catalog import TiledCatalog

KEY = "0123456789abcdef0123456789abcdef"
RUN_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def manager(tmp_path_factory, redis_server):
    """`labctl queue manager` on the built-in simulated lab, storing into its own data directory."""
    from bluesky_queueserver_api.zmq import REManagerAPI

    folder = tmp_path_factory.mktemp("queue")
    control, info = free_port(), free_port()
    process = Process(labctl("queue", "manager", "--redis", redis_server.address, "--control-port", str(control),
                             "--info-port", str(info), "--data-dir", str(folder / "data")),
                      folder / "manager.log", env={"LABCTL_PROFILE": "", "PYTHONUNBUFFERED": "1"})
    api = REManagerAPI(zmq_control_addr=f"tcp://{HOST}:{control}", zmq_info_addr=f"tcp://{HOST}:{info}",
                       timeout_recv=10, timeout_send=10)
    api.folder, api.control_port, api.info_port, api.process = folder, control, info, process
    try:
        wait_for(lambda: api.status()["manager_state"] == "idle", "labctl queue manager", alive=process.died)
        api.environment_open()
        wait_for(lambda: api.status()["worker_environment_exists"], "the queue server's environment",
                 alive=process.died)
        api.wait_for_idle(timeout=RUN_TIMEOUT_S)
        yield api
    finally:
        try:
            if process.died() is None and api.status()["worker_environment_exists"]:
                api.environment_close()  # the worker's session leaves the instruments safe and closes storage
                api.wait_for_idle(timeout=RUN_TIMEOUT_S)
        finally:
            api.close()
            process.stop()


def landed(data_dir, uids: list[str]) -> dict[str, dict]:
    """The catalog entries of *uids*, once the worker has indexed all of them (with their stop)."""
    catalog = TiledCatalog(data_dir)
    try:
        def indexed():
            found = {uid: catalog.metadata(uid) for uid in uids if uid in catalog.client}
            return found if len(found) == len(uids) and all(md.get("stop") for md in found.values()) else None

        return wait_for(indexed, "runs indexed into the catalog")
    finally:
        catalog.close()


def run_queue(api, *plans: BPlan) -> list[dict]:
    """Queue *plans*, start the queue, wait for it; the history items of these plans, in order."""
    before = len(api.history_get()["items"])
    for plan in plans:
        api.item_add(plan)
    api.queue_start()
    api.wait_for_idle(timeout=RUN_TIMEOUT_S)
    return api.history_get()["items"][before:]


def test_plans_submitted_through_the_api_run_on_the_lab_and_land_in_the_catalog(manager):
    allowed = manager.plans_allowed()["plans_allowed"]
    assert {"readings", "ocv", "galvanostatic_cycles", "online_ms_titration"} <= set(allowed)
    assert "vmp3_1" in manager.devices_allowed()["devices_allowed"]
    with pytest.raises(manager.RequestFailedError, match="num"):  # typed parameters checked when queued
        manager.item_add(BPlan("readings", "clock", num="five"))

    items = run_queue(manager,
                      BPlan("readings", "clock", ["ms", "mfc"], num=4, period="30 s", md={"operator": "queue"}),
                      BPlan("ocv", "vmp3_1", "clock", duration="2 min", record_dt="5 s"))
    assert [(i["name"], i["result"]["exit_status"]) for i in items] == [("readings", "completed"),
                                                                        ("ocv", "completed")], items
    uids = [uid for item in items for uid in item["result"]["run_uids"]]
    assert len(uids) == 2

    data = manager.folder / "data"
    catalog = landed(data, uids)
    readings_md, ocv_md = catalog[uids[0]], catalog[uids[1]]
    assert readings_md["start"]["plan_name"] == "readings" and readings_md["start"]["operator"] == "queue"
    assert readings_md["start"]["simulated"] is True and readings_md["stop"]["exit_status"] == "success"
    assert ocv_md["start"]["plan_name"] == "ocv" and ocv_md["stop"]["num_events"]["ocv"] == 25
    files = {p.stem: StoredRun(p) for p in (data / "runs").glob("*/*/*/*.jsonl")}
    assert set(uids) <= set(files)  # and the record of truth beside it
    assert len(files[uids[0]].table("primary")) == 4


def test_remote_control_over_http_needs_the_api_key(manager, tmp_path):
    import httpx
    from bluesky_queueserver_api.http import REManagerAPI

    port = free_port()
    http = Process(labctl("queue", "http", "--port", str(port), "--control-port", str(manager.control_port),
                          "--info-port", str(manager.info_port)),
                   tmp_path / "http.log", env={"LABCTL_API_KEY": KEY, "PYTHONUNBUFFERED": "1"})
    url = f"http://{HOST}:{port}"
    try:
        wait_for(lambda: httpx.get(f"{url}/api/status", timeout=10).status_code == 401, "labctl queue http",
                 alive=http.died)
        assert re.search(rf"queue server HTTP API at http://127\.0\.0\.1:{port}/api \(API key from \$LABCTL_API_KEY\)",
                         http.output())
        assert httpx.get(f"{url}/api/status", headers={"Authorization": "ApiKey " + "f" * 32}).status_code == 401

        anonymous = REManagerAPI(http_server_uri=url)
        with pytest.raises(anonymous.HTTPClientError, match="401"):
            anonymous.item_add(BPlan("readings", "clock", num=2))
        anonymous.close()

        remote = REManagerAPI(http_server_uri=url)
        remote.set_authorization_key(api_key=KEY)
        assert remote.status()["worker_environment_exists"] is True
        items = run_queue(remote, BPlan("readings", "clock", ["mfc"], num=3, period="10 s", md={"operator": "far"}))
        remote.close()
    finally:
        http.stop()
    assert [(i["name"], i["result"]["exit_status"]) for i in items] == [("readings", "completed")], items
    (uid,) = items[0]["result"]["run_uids"]
    assert landed(manager.folder / "data", [uid])[uid]["start"]["operator"] == "far"


def test_a_redis_that_does_not_answer_is_one_line_before_anything_starts(tmp_path):
    from typer.testing import CliRunner

    from labctl.app.cli import app

    address = f"{HOST}:{free_port()}"  # nothing listens there
    result = CliRunner().invoke(app, ["queue", "manager", "--redis", address, "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert line.startswith(f"error: cannot reach Redis at {address}: ")
    assert not (tmp_path / "queueserver").exists()  # nothing was started or written
