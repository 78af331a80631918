"""The queue server can load labctl's startup module and accepts every plan and device it finds there."""

from bluesky_queueserver.manager import profile_ops

from labctl.app.plan_registry import discover_plans


def test_queue_server_accepts_every_plan_and_device(tmp_path, monkeypatch):
    monkeypatch.setenv("LABCTL_DATA", str(tmp_path))
    monkeypatch.delenv("LABCTL_PROFILE", raising=False)
    nspace = profile_ops.load_startup_module("labctl.app.queueserver")
    try:
        plans, devices, _, _ = profile_ops.existing_plans_and_devices_from_nspace(nspace=nspace,
                                                                                 ignore_invalid_plans=False)
        assert set(discover_plans()) <= set(plans)
        assert {"clock", "operator", "vmp3_1", "vmp3_2", "ref600", "pump", "d2o_pump", "dems_valve", "mfc",
                "ms"} <= set(devices)
        params = {p["name"]: p for p in plans["galvanostatic_cycles"]["parameters"]}
        assert params["current_density"]["default"] == "'0.5 mA/cm^2'"
    finally:
        nspace["session"].close()
