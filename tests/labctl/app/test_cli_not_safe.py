"""``labctl run`` when a fault leaves an instrument that cannot be made safe: the command says which, in what
state labctl last knew it, and exits non-zero."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from labctl.app.cli import app, common


@pytest.fixture
def lab_data(tmp_path, monkeypatch):
    """The default (simulated) lab with a private data directory."""
    monkeypatch.setenv("LABCTL_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("LABCTL_PROFILE", raising=False)
    return tmp_path / "data"


def test_a_pump_whose_line_dies_mid_run_is_named_not_safe_with_its_last_known_state(lab_data, monkeypatch):
    opened = common.open_session

    def open_with_fault(*args, **kwargs):
        """The session the command brings up, with the pump's line cut at the run's second reading."""
        session = opened(*args, **kwargs)
        core = session.simlab.cores["pump"]
        seen = {"events": 0}

        def cut(name, doc):
            if name in ("event", "event_page"):
                seen["events"] += 1
                if seen["events"] == 2:
                    core.inject("disconnected")

        session.RE.subscribe(cut)
        return session

    monkeypatch.setattr(common, "open_session", open_with_fault)
    result = CliRunner().invoke(app, ["run", "flow_schedule", "-q", "-p", "pump=pump",
                                      "-p", "segments=[[240 uL/h, 30 min]]", "-p", "read_every=1 min"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.stderr
    not_safe = [line for line in result.stderr.splitlines() if line.startswith("not safe: ")]
    assert len(not_safe) == 1, result.stderr
    assert not_safe[0].startswith("not safe: pump: line lost (")
    assert not_safe[0].endswith("last known running True, rate 240.0 uL/h"), not_safe[0]
