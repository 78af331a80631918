"""Bad input is refused before anything connects: a corpus of bad plan calls through the command line
(``labctl run``), campaign files (``labctl campaign``) and Python (``labctl.calls.check`` before a session;
the plan call itself inside one). Every refusal is one line naming the parameter, its value and what is
allowed; the command exits 2; no run is opened; and the simulators' transcripts show that not one command
or SDK call reached any instrument."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from labctl.app.cli import app
from labctl.app.params_cli import parse_assignments, resolve_devices
from labctl.app.plan_registry import discover_plans
from labctl.calls import check, devices_by_kind, fill_device_defaults
from labctl.plans import ParameterError
from labctl.sim import transcript

PLANS = discover_plans()

# (plan, its parameters as typed on the command line, words the one-line refusal must contain)
CORPUS = [
    # values, units and ranges
    ("ocv", ["pstat=vmp3_1", "duration=-5 min"], ["duration", "-5 min"]),
    ("ocv", ["pstat=vmp3_1", "duration=0 s"], ["duration", "0 s"]),
    ("ocv", ["pstat=vmp3_1", "duration=inf s"], ["duration", "inf"]),
    ("ocv", ["pstat=vmp3_1", "duration=nan s"], ["duration", "nan"]),
    ("ocv", ["pstat=vmp3_1", "duration=10 V"], ["duration", "10 V"]),
    ("ocv", ["pstat=vmp3_1", "duration=ten minutes"], ["duration", "ten minutes"]),
    ("ocv", ["pstat=vmp3_1", "record_dt=0 s"], ["record_dt", "0 s"]),
    ("ocv", ["pstat=vmp3_9"], ["pstat", "vmp3_9"]),
    ("ocv", ["pstat=pump"], ["pstat", "pump", "potentiostat"]),
    ("ocv", ["pstat=ms"], ["pstat", "ms", "potentiostat"]),
    ("ocv", ["pstat=vmp3_1", "clock=vmp3_2"], ["clock", "vmp3_2"]),
    ("ocv", ["pstat=vmp3_1", "speed=3"], ["speed"]),
    ("ocv", [], ["pstat"]),
    ("galvanostatic_cycles", ["pstat=vmp3_1", "cycles=-1"], ["cycles", "-1"]),
    ("galvanostatic_cycles", ["pstat=vmp3_1", "cycles=0"], ["cycles", "0"]),
    ("galvanostatic_cycles", ["pstat=vmp3_1", "cycles=2.5"], ["cycles", "2.5"]),
    ("galvanostatic_cycles", ["pstat=vmp3_1", "cycles=many"], ["cycles", "many"]),
    ("galvanostatic_cycles", ["pstat=vmp3_1", "current_density=-0.5 mA/cm^2"], ["current_density", "-0.5"]),
    ("galvanostatic_cycles", ["pstat=vmp3_1", "current_density=inf mA/cm^2"], ["current_density", "inf"]),
    ("galvanostatic_cycles", ["pstat=vmp3_1", "current_density=0.5 mA"], ["current_density", "0.5 mA"]),
    ("galvanostatic_cycles", ["pstat=vmp3_1", "current_density=500 mA/cm^2"], ["current"]),
    ("galvanostatic_cycles", ["pstat=vmp3_1", "plate_capacity=-1 mAh/cm^2"], ["plate_capacity", "-1"]),
    ("galvanostatic_cycles", ["pstat=vmp3_1", "plate_e_min=2 V", "strip_cutoff=1 V"], ["plate_e_min", "strip_cutoff"]),
    ("galvanostatic_cycles", ["pstat=vmp3_1", "strip_cutoff=20 V"], ["strip_cutoff", "20 V"]),
    ("galvanostatic_cycles", ["pstat=vmp3_1", "plate_time=10 min", "plate_capacity=1 mAh/cm^2"],
     ["plate_time", "plate_capacity"]),
    ("galvanostatic_cycles", ["pstat=vmp3_1", "rest=-1 s"], ["rest", "-1 s"]),
    ("galvanostatic_cycles", ["pstat=vmp3_1", "strip_time_limit=0 s"], ["strip_time_limit", "0 s"]),
    ("galvanostatic_cycles", ["pstat=mfc"], ["pstat", "mfc", "potentiostat"]),
    ("rate_test", ["pstat=vmp3_1", "current_densities=[]"], ["current_densities"]),
    ("rate_test", ["pstat=vmp3_1", "current_densities=[1 mA/cm^2, -2 mA/cm^2]"], ["current_densities", "-2"]),
    ("rate_test", ["pstat=vmp3_1", "current_densities=1 mA/cm^2"], ["current_densities"]),
    ("rate_test", ["pstat=vmp3_1", "cycles_per_rate=0"], ["cycles_per_rate", "0"]),
    ("cv", ["pstat=vmp3_1", "e_start=0 V", "vertex1=12 V", "vertex2=0 V"], ["vertex1", "12 V"]),
    ("cv", ["pstat=vmp3_1", "e_start=0 V", "vertex1=1 V", "vertex2=-1 V", "scan_rate=0 mV/s"], ["scan_rate", "0 mV/s"]),
    ("cv", ["pstat=vmp3_1", "e_start=0 V", "vertex1=1 V", "vertex2=-1 V", "scan_rate=-20 mV/s"], ["scan_rate", "-20"]),
    ("cv", ["pstat=vmp3_1", "e_start=0 V", "vertex1=1 V"], ["vertex2"]),
    ("cv", ["pstat=vmp3_1", "e_start=0 V", "vertex1=1 V", "vertex2=-1 V", "step=0 mV"], ["step", "0 mV"]),
    ("cv", ["pstat=vmp3_1", "e_start=0 V", "vertex1=1 V", "vertex2=-1 V", "cycles=-2"], ["cycles", "-2"]),
    ("cv", ["pstat=vmp3_1", "e_start=0 V", "vertex1=1 V", "vertex2=1 V"], ["vertex1", "vertex2"]),
    ("eis", ["pstat=vmp3_1", "amplitude=0.01"], ["amplitude", "0.01"]),
    ("eis", ["pstat=vmp3_1", "f_start=0.1 Hz", "f_stop=0.1 Hz"], ["f_start", "f_stop"]),
    ("eis", ["pstat=vmp3_1", "f_start=-1 MHz"], ["f_start", "-1 MHz"]),
    ("eis", ["pstat=vmp3_1", "points_per_decade=1000"], ["points_per_decade", "1000"]),
    ("eis", ["pstat=vmp3_1", "mode=pulsed"], ["mode", "pulsed"]),
    ("eis", ["pstat=vmp3_1", "amplitude=10 mV", "mode=galvanostatic"], ["amplitude", "10 mV", "mode='galvanostatic'"]),
    ("eis", ["pstat=vmp3_1", "amplitude=-10 mV"], ["amplitude", "-10 mV"]),
    ("flow_schedule", ["pump=mfc", "segments=[[240 uL/h, 1 min]]"], ["pump", "mfc", "syringe_pump"]),
    ("flow_schedule", ["pump=pump", "segments=[[-240 uL/h, 1 min]]"], ["segments[0]", "positive"]),
    ("flow_schedule", ["pump=pump", "segments=[[240 uL/h, -1 min]]"], ["segments[0]"]),
    ("flow_schedule", ["pump=pump", "segments=[240, 60]"], ["segments[0]", "240"]),
    ("flow_schedule", ["pump=pump", "segments=[[5000 uL/h, 1 min]]"], ["5000 uL/h", "1-3000"]),
    ("flow_schedule", ["pump=pump", "segments=[]"], ["segments"]),
    ("flow_schedule", ["pump=pump", "segments=[[240 uL/h, 1 min]]", "direction=sideways"], ["direction", "sideways"]),
    ("flow_schedule", ["pump=pump", "segments=[[240 uL/h, 1 min]]", "read_every=0 s"], ["read_every", "0 s"]),
    ("flow_schedule", ["pump=pump", "segments=[[240 mL/min, 1 min]]"], ["pump", "outside 1-3000 uL/h"]),
    ("count", ["detectors=[clock]", "num=-3"], ["num", "-3"]),
    ("count", ["detectors=[clock]", "delay=-1 s"], ["delay", "-1 s"]),
    ("count", ["detectors=[nothing]"], ["detectors", "nothing"]),
    ("readings", ["detectors=ms"], ["detectors", "ms"]),
    ("readings", ["period=-60 s"], ["period", "-60 s"]),
    ("readings", ["num=0"], ["num", "0"]),
    ("ms_monitor", ["duration=-1 h"], ["duration", "-1 h"]),
    ("ms_monitor", ["duration=1 h", "period=0 s"], ["period", "0 s"]),
    ("ms_monitor", ["ms=mfc", "duration=1 h"], ["ms", "mfc", "mass_spectrometer"]),
    ("wait_for_baseline", ["thresholds={Xe = 1e-4}"], ["Xe"]),
    ("wait_for_baseline", ["thresholds={D2 = 2.0}"], ["thresholds", "D2"]),
    ("wait_for_baseline", ["thresholds=[D2]"], ["thresholds"]),
    ("wait_for_baseline", ["carrier_min=1.5"], ["carrier_min", "1.5"]),
    ("wait_for_baseline", ["carrier=Xe"], ["carrier='Xe'", "does not watch"]),
    ("online_ms_titration", ["injection_rate=1000 uL/h"], ["injection_rate", "d2o_pump"]),
    ("online_ms_titration", ["carrier_flow=9 mL/min"], ["mfc", "9 mL/min"]),
    ("online_ms_titration", ["carrier_flow=0 mL/min"], ["carrier_flow", "0 mL/min"]),
    ("online_ms_titration", ["d2o_pump=d2o_pump", "d2o_volume=-5 uL"], ["d2o_volume", "-5 uL"]),
    ("online_ms_titration", ["d2o_pump=d2o_pump", "injection_rate=1e6 uL/h"], ["d2o_pump", "rate"]),
    ("online_ms_titration", ["d2o_pump=dems_valve"], ["d2o_pump", "dems_valve", "syringe_pump"]),
    ("online_ms_titration", ["temperature=-10 K"], ["temperature", "-10 K"]),
    ("ms_calibration", ["dilutions=[0.1]"], ["dilutions", "at least two"]),
    ("ms_calibration", ["dilutions=[0, 1.5]"], ["dilutions", "1.5"]),
    ("ms_calibration", ["total_flow=0 mL/min"], ["total_flow", "0 mL/min"]),
    ("ms_calibration", ["total_flow=50 mL/min"], ["mfc", "50 mL/min"]),
    ("ms_calibration", ["hold=-1 min"], ["hold", "-1 min"]),
    ("ms_calibration", ["period=0 s"], ["period", "0 s"]),
    ("ms_calibration", ["std_mfc=ms"], ["std_mfc", "ms", "flow_controller"]),
    ("ms_calibration", ["carrier=Xe"], ["carrier", "Xe"]),
    ("online_ms_titration", ["blank=maybe"], ["blank", "maybe"]),
    ("dems", ["pstat=vmp3_2", "cycle_targets=[2, 1]"], ["cycle_targets"]),
    ("dems", ["pstat=vmp3_2", "cycle_targets=[0, 1]"], ["cycle_targets"]),
    ("dems", ["pstat=vmp3_2", "current_density=-0.5 mA/cm^2"], ["current_density", "-0.5"]),
    ("dems", ["pstat=vmp3_2", "carrier_flow=9 mL/min"], ["mfc", "9 mL/min"]),
    ("dems", ["pstat=vmp3_2", "valve=mfc"], ["valve", "mfc"]),
    ("dems", ["pstat=vmp3_2", "strip_cutoff=12 V"], ["12 V"]),
    ("liquid_cell_operando", ["pstat=ref600", "pump=pump", "mode=eis"], ["mode", "eis"]),
    ("liquid_cell_operando", ["pstat=ref600", "pump=pump", "imaging_rate=5000 uL/h"], ["pump", "5000"]),
    ("liquid_cell_operando", ["pstat=ref600", "pump=pump", "cycles=0"], ["cycles", "0"]),
    ("liquid_cell_operando", ["pstat=ref600", "pump=pump", "mode=cv", "plate_time=20 s"],
     ["plate_time", "mode='galvanostatic'"]),
    ("liquid_cell_operando", ["pstat=ref600", "pump=pump", "mode=cv", "vertex2=15 V"], ["vertex2", "15 V"]),
    ("afm_plating", ["pstat=vmp3_1", "capture_times=[1200, 600]"], ["capture_times"]),
    ("afm_plating", ["pstat=vmp3_1", "current_density=-1 mA/cm^2"], ["current_density", "-1"]),
    ("afm_plating", ["pstat=vmp3_1", "strip_cutoff=-20 V"], ["-20 V"]),
    ("coin_cell_campaign", ["pstat=vmp3_1", "ce_cycles=0"], ["ce_cycles", "0"]),
    ("coin_cell_campaign", ["pstat=vmp3_1", "electrolytes=[]"], ["electrolytes"]),
]


IDS = [f"{i:02d}-{plan}-{' '.join(a)}"[:90] for i, (plan, a, _) in enumerate(CORPUS)]


def test_the_corpus_is_large_and_covers_every_plan():
    assert len(CORPUS) >= 60
    assert {plan for plan, _, _ in CORPUS} == set(PLANS)


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("LABCTL_PROFILE", raising=False)
    path = tmp_path / "data"
    monkeypatch.setenv("LABCTL_DATA", str(path))
    return path


def _runs(data_dir: Path) -> list[Path]:
    return sorted(data_dir.glob("runs/**/*.jsonl"))


def _refused(result, words) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


@pytest.mark.parametrize("plan, assignments, words", CORPUS, ids=IDS)
def test_the_command_line_refuses_before_anything_connects(plan, assignments, words, data_dir):
    before = transcript.counts()
    args = ["run", plan, "--quiet"]
    for a in assignments:
        args += ["-p", a]
    _refused(CliRunner().invoke(app, args), words)
    assert transcript.received_since(before) == {}
    assert _runs(data_dir) == []


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


@pytest.mark.parametrize("plan, assignments, words", CORPUS, ids=IDS)
def test_a_campaign_file_refuses_before_anything_connects(plan, assignments, words, data_dir, tmp_path):
    params = parse_assignments(assignments)
    path = tmp_path / "campaign.toml"
    path.write_text(f'[campaign]\nname = "corpus"\n\n[[experiment]]\nname = "bad"\nplan = "{plan}"\n'
                    f"params = {_toml(params)}\n\n"
                    '[[experiment]]\nname = "fine"\nplan = "ocv"\nparams = { pstat = "vmp3_3", duration = "1 min" }\n')
    before = transcript.counts()
    line = _refused(CliRunner().invoke(app, ["campaign", str(path)]), words)
    assert "experiment 'bad'" in line
    assert transcript.received_since(before) == {}
    assert _runs(data_dir) == []


@pytest.mark.parametrize("plan, assignments, words", CORPUS, ids=IDS)
def test_python_checks_a_call_against_the_profile_without_connecting(plan, assignments, words):
    before = transcript.counts()
    with pytest.raises(ParameterError) as refused:
        check(PLANS[plan], **parse_assignments(assignments))
    message = str(refused.value)
    assert "\n" not in message
    for word in words:
        assert word in message, (word, message)
    assert transcript.received_since(before) == {}


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    from labctl.session import Session

    with Session.from_profile(data_dir=tmp_path_factory.mktemp("corpus-data")) as lab:
        yield lab


@pytest.mark.parametrize("plan, assignments, words", CORPUS, ids=IDS)
def test_a_plan_call_in_a_session_is_refused_before_it_sends_anything(plan, assignments, words, session):
    kinds = devices_by_kind({name: d.instrument_description() for name, d in session.devices.items()
                             if hasattr(d, "instrument_description")})
    func = PLANS[plan]
    params = fill_device_defaults(func, parse_assignments(assignments), kinds)
    params = {k: resolve_devices(v, session.devices) for k, v in params.items()}
    runs = len(_runs(session.storage.data_dir))
    before = transcript.counts()
    with pytest.raises(ParameterError) as refused:
        session.run(func(**params))
    message = str(refused.value)
    assert "\n" not in message
    for word in words:
        assert word in message, (word, message)
    assert transcript.received_since(before) == {}
    assert len(_runs(session.storage.data_dir)) == runs


def test_the_transcripts_do_record_what_reaches_an_instrument(data_dir):
    """The control: the same command with good parameters brings the lab up, talks to the instruments and
    stores a run, so the assertions above could fail."""
    before = transcript.counts()
    result = CliRunner().invoke(app, ["run", "ocv", "--quiet", "-p", "pstat=vmp3_1", "-p", "duration=10 s"])
    assert result.exit_code == 0, result.output
    heard = transcript.received_since(before)
    assert heard.get("vmp3", 0) > 0 and heard.get("pump", 0) > 0
    assert len(_runs(data_dir)) == 1
