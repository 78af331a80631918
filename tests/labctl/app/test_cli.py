"""The labctl command line: profile checks, plan parameters refused up front, runs listed and shown."""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
from typer.testing import CliRunner

from labctl import drivers
from labctl.app.cli import app
from labctl.app.params_cli import parse_value

CLOCK_ONLY = """
[lab]
name = "bench"

[instruments.clock]
kind = "clock"
driver = "lab.clock"
"""

WITH_VALVE = CLOCK_ONLY + """
[instruments.valve]
kind = "valve"
driver = "vici.two_position"
transport = "socket://127.0.0.1:9"
"""


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def bench(tmp_path, monkeypatch):
    """A clock-only profile and a private data directory."""
    path = tmp_path / "bench.toml"
    path.write_text(CLOCK_ONLY)
    monkeypatch.setenv("LABCTL_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("LABCTL_PROFILE", raising=False)
    return path


@pytest.fixture
def built(monkeypatch):
    """Record every instrument a factory is asked to build (the valve's factory is replaced)."""
    log = []
    module = types.ModuleType("cli_fake_factories")

    def build(spec, ctx):
        log.append(spec.name)
        raise AssertionError("nothing should be built")

    module.build = build
    monkeypatch.setitem(sys.modules, "cli_fake_factories", module)
    monkeypatch.setitem(drivers.DRIVERS, "vici.two_position", dataclasses.replace(
        drivers.DRIVERS["vici.two_position"], factory="cli_fake_factories:build"))
    return log


# -- profile check ------------------------------------------------------------------------------------------

def test_profile_check_ok(runner, bench):
    result = runner.invoke(app, ["profile", "check", str(bench)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("OK ") and "'bench'" in result.stdout and "1 clock" in result.stdout


def test_profile_check_default_profile(runner):
    from labctl.profile import default_profile_path

    result = runner.invoke(app, ["profile", "check", str(default_profile_path())])
    assert result.exit_code == 0, result.output
    assert "simulated lab" in result.stdout and "6 potentiostat" in result.stdout


def test_profile_check_reports_one_line_and_connects_nothing(runner, tmp_path, built):
    path = tmp_path / "bad.toml"
    path.write_text(WITH_VALVE + 'options = { move_timeout_s = -1.0 }\n')
    result = runner.invoke(app, ["profile", "check", str(path)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    assert f"{path}: instruments.valve.options.move_timeout_s:" in lines[0]
    assert built == []


def test_profile_check_toml_syntax(runner, tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('[lab]\nname = "x"\n[instruments.clock\n')
    result = runner.invoke(app, ["profile", "check", str(path)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {path}:3: TOML syntax")


# -- plan parameters -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, value", [
    ("3", 3), ("0.5", 0.5), ("true", True), ('"a b"', "a b"), ("0.5 mA/cm^2", "0.5 mA/cm^2"),
    ("vmp3_1", "vmp3_1"), ("[1, 2.5]", [1, 2.5]), ("[clock, vmp3_1]", ["clock", "vmp3_1"]),
    ("[10 s, 20 s]", ["10 s", "20 s"]), ("[]", []),
])
def test_parameter_values(text, value):
    assert parse_value(text) == value


def test_plans_lists_units_and_ranges(runner):
    result = runner.invoke(app, ["plans"])
    assert result.exit_code == 0, result.output
    assert "readings:" in result.stdout
    line = next(line for line in result.stdout.splitlines() if line.strip().startswith("period"))
    assert "[s]" in line and "allowed [0, +inf] s" in line


@pytest.mark.parametrize("param, words", [
    ("period=5 mA", "period='5 mA': expected units compatible with s, got mA; allowed: [0, +inf] s"),
    ("period=-2 min", "period='-2 min' is out of range; allowed: [0, +inf] s"),
    ("bogus=1", "unexpected keyword argument 'bogus'"),
    ("period", "expected NAME=VALUE"),
    ("clock=clok", "clock='clok' is not a device of this lab; devices: clock, operator, valve"),
    ("detectors=[clock, vmp9]", "detectors='vmp9' is not a device of this lab"),
])
def test_bad_parameter_is_refused_before_anything_is_built(runner, tmp_path, built, monkeypatch, param, words):
    path = tmp_path / "lab.toml"
    path.write_text(WITH_VALVE)
    monkeypatch.setenv("LABCTL_DATA", str(tmp_path / "data"))
    result = runner.invoke(app, ["run", "readings", "--param", param, "--profile", str(path), "--quiet"])
    assert result.exit_code == 2
    assert words in result.stderr and "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if not line.startswith("warning: plans in")]
    assert len(errors) == 1 and errors[0].startswith("error: ")
    assert built == [] and not (tmp_path / "data").exists()


def test_unknown_plan(runner, bench):
    result = runner.invoke(app, ["run", "no_such_plan", "--profile", str(bench)])
    assert result.exit_code == 2 and "unknown plan 'no_such_plan'" in result.stderr


# -- running and browsing ----------------------------------------------------------------------------------------

def test_run_then_runs_show_export(runner, bench, tmp_path):
    result = runner.invoke(app, ["run", "readings", "-p", "num=4", "-p", "period=0 s", "--profile", str(bench),
                                 "--md", "operator=ana", "--md", "sample=NaCu-07", "--quiet"])
    assert result.exit_code == 0, result.output
    uid = next(line.split()[1] for line in result.stdout.splitlines() if line.startswith("run "))

    listed = runner.invoke(app, ["runs", "--profile", str(bench)])
    assert listed.exit_code == 0, listed.output
    assert uid[:8] in listed.stdout and "readings" in listed.stdout

    found = runner.invoke(app, ["runs", "--search", "NaCu-07", "--profile", str(bench)])
    assert uid[:8] in found.stdout
    missing = runner.invoke(app, ["runs", "--search", "nothing-like-this", "--profile", str(bench)])
    assert uid[:8] not in missing.stdout

    shown = runner.invoke(app, ["show", uid, "--profile", str(bench)])
    assert shown.exit_code == 0, shown.output
    assert "readings" in shown.stdout and "ana" in shown.stdout and "NaCu-07" in shown.stdout
    assert "primary" in shown.stdout and "4 rows" in shown.stdout and "clock_time" in shown.stdout

    out = tmp_path / "export"
    exported = runner.invoke(app, ["export", uid, "--csv", "--out", str(out), "--profile", str(bench)])
    assert exported.exit_code == 0, exported.output
    assert any(p.suffix == ".csv" for p in out.rglob("*"))
    both = runner.invoke(app, ["export", uid, "--csv", "--hdf5", "--profile", str(bench)])
    assert both.exit_code == 2 and "exactly one of --csv and --hdf5" in both.stderr

    rebuilt = runner.invoke(app, ["catalog", "rebuild", "--profile", str(bench)])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "catalog rebuilt: 1 runs" in rebuilt.stdout
    assert uid[:8] in runner.invoke(app, ["runs", "--profile", str(bench)]).stdout


def test_show_unknown_run(runner, bench):
    result = runner.invoke(app, ["show", "deadbeef", "--profile", str(bench)])
    assert result.exit_code == 1 and "no run 'deadbeef'" in result.stderr


# -- serving a simulator -------------------------------------------------------------------------------------------

def _interrupt(proc) -> None:
    """Ctrl-C a `labctl sim serve`; a loaded CI machine may take a while to wind it down."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_sim_serve_prints_an_endpoint_that_answers(tmp_path):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "labctl.app.cli", "sim", "serve", "dems_valve", "--tcp", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=Path(__file__).parent)
    try:
        line = proc.stdout.readline()
        assert line.startswith("serving dems_valve on socket://127.0.0.1:"), line + proc.stderr.read()
        port = int(line.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"CP\r")
            reply = sock.recv(64)
        assert reply.startswith(b"CP") and reply.strip() in (b"CPA", b"CPB")
    finally:
        _interrupt(proc)
    assert proc.returncode == 0


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_sim_serve_on_a_pty_prints_a_device_path_that_answers():
    import serial

    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "labctl.app.cli", "sim", "serve", "dems_valve", "--pty"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=Path(__file__).parent)
    try:
        line = proc.stdout.readline()
        assert line.startswith("serving dems_valve on /dev/"), line + proc.stderr.read()
        path = line.split(" on ", 1)[1].strip()
        with serial.Serial(path, 9600, timeout=5) as port:
            port.write(b"CP\r")
            assert port.read_until(b"\r") == b"CPA\r"      # a fresh valve sits in A
            port.write(b"GOB\r")
            assert port.read_until(b"\r") == b"CPB\r"
    finally:
        _interrupt(proc)
    assert proc.returncode == 0 and "stopped" in proc.stderr.read()


def test_live_table_and_progress_unless_quiet(runner, bench):
    args = ["run", "readings", "-p", "num=3", "-p", "period=0 s", "--profile", str(bench)]
    loud = runner.invoke(app, args)
    assert loud.exit_code == 0, loud.output
    assert "clock_time" in loud.stderr and "[s]" in loud.stderr  # table header with units
    assert "3/3" in loud.stderr  # the progress bar reached num_points
    quiet = runner.invoke(app, args + ["--quiet"])
    assert quiet.exit_code == 0 and "clock_time" not in quiet.stderr and "3/3" not in quiet.stderr


def test_device_kind_parameters_default_only_when_unambiguous(runner, tmp_path, monkeypatch):
    """`clock` is filled in (one clock); `pstat` is not when the lab has two potentiostats."""
    from labctl.app.plan_registry import discover_plans
    from labctl.calls import fill_device_defaults

    def plan(pstat, clock, operator, pump=None):
        yield from ()

    kinds = {"potentiostat": ["vmp3_1", "vmp3_2"], "clock": ["clock"], "operator": ["operator"],
             "syringe_pump": ["pump"]}
    assert fill_device_defaults(plan, {}, kinds) == {"clock": "clock", "operator": "operator"}
    assert fill_device_defaults(plan, {}, {**kinds, "potentiostat": ["vmp3_1"]})["pstat"] == "vmp3_1"
    assert "galvanostatic_cycles" in discover_plans()
    monkeypatch.setenv("LABCTL_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("LABCTL_PROFILE", raising=False)
    result = runner.invoke(app, ["run", "galvanostatic_cycles", "-q"])  # default profile: several potentiostats
    assert result.exit_code == 2 and "'pstat'" in result.stderr


def test_demo_on_the_default_profile(runner, tmp_path, monkeypatch):
    monkeypatch.setenv("LABCTL_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("LABCTL_PROFILE", raising=False)
    result = runner.invoke(app, ["demo", "--quiet", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    uids = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("run ")]
    assert f"data in {tmp_path / 'data'}" in result.stdout
    assert all(list((tmp_path / "data" / "runs").rglob(f"{uid}.jsonl")) for uid in uids)
    # the campaign: four electrolytes, a blank, two DEMS cells and a liquid-cell run
    report = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    for electrolyte in ("EC:DMC |", "EC:DMC + 10% VC", "EC:DMC + 10% FEC", "DME |"):
        assert electrolyte in report
    assert "OUTSIDE" not in report and "carbonate far above ether: yes" in report
    figures = {p.name for p in (tmp_path / "out").glob("*.png")}
    assert {"fig1ab_voltage_profiles.png", "fig1c_nyquist.png", "fig1d_na_distribution.png",
            "fig1efg_gas_amounts.png", "fig5_dems_co2.png", "fig3i_cv.png"} <= figures
    # tomorrow: listed by `labctl runs`, and loadable as xarray in a new process
    listed = runner.invoke(app, ["runs"])
    assert listed.exit_code == 0 and all(uid[:8] in listed.stdout for uid in uids)
    code = ("import sys; from labctl.storage import Storage; s = Storage(sys.argv[1]); "
            "ds = s.run(sys.argv[2]).stream('titration'); "
            "print(ds['ms_fraction_D2'].attrs['units'], ds.sizes['time']); "
            "s.close()")
    titration = next(u for u in uids if "online_ms_titration" in listed.stdout.split(u[:8])[1].splitlines()[0])
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "data"), titration], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    units, rows = out.stdout.split()[-2:]
    assert units == "1" and int(rows) > 100


def test_a_plan_refusing_its_arguments_exits_2_without_traceback(runner, bench):
    result = runner.invoke(app, ["run", "readings", "-p", "num=0", "--profile", str(bench), "-q"])
    assert result.exit_code == 2
    assert "num=0 is out of range; allowed: whole number in [1, +inf]" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize("name, words", [("vmp3_1", "biologic.vmp3 is not a serial instrument"),
                                         ("nope", "no instrument named 'nope'; serial instruments: pump")])
def test_sim_serve_refuses_what_it_cannot_serve(runner, name, words):
    result = runner.invoke(app, ["sim", "serve", name, "--tcp", "0"])
    assert result.exit_code == 2 and words in result.stderr


def test_ipython_starts_with_the_lab_loaded_and_runs_a_plan(tmp_path):
    """`labctl ipython` as a scientist uses it: type at the prompt, run a plan, leave."""
    typed = "\n".join([
        "g = globals()",
        "print('LOADED', sorted(k for k in ('RE', 'vmp3_1', 'clock', 'galvanostatic_cycles', 'bps') if k in g))",
        "uids = RE(readings(clock, [mfc], num=2, period=60))",
        "print('RUNS', len(storage.runs()))",
        "exit",
    ]) + "\n"
    env = {**os.environ, "LABCTL_DATA": str(tmp_path / "data")}
    env.pop("LABCTL_PROFILE", None)
    out = subprocess.run([sys.executable, "-m", "labctl.app.cli", "ipython"], input=typed, capture_output=True,
                         text=True, timeout=180, env=env)
    assert out.returncode == 0, out.stderr
    assert "LOADED ['RE', 'bps', 'clock', 'galvanostatic_cycles', 'vmp3_1']" in out.stdout
    assert "RUNS 1" in out.stdout


@pytest.mark.skipif(not hasattr(signal, "SIGTERM") or sys.platform == "win32",
                    reason="sending SIGTERM to a child is POSIX")
def test_sigterm_mid_run_aborts_the_run_and_exits_non_zero(tmp_path, bench):
    data = tmp_path / "data"
    env = dict(os.environ, LABCTL_DATA=str(data), PYTHONWARNINGS="ignore")
    proc = subprocess.Popen([sys.executable, "-m", "labctl.app.cli", "run", "readings", "-p", "num=100000",
                             "-p", "period=0.05 s", "--profile", str(bench), "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        events = 0
        while events < 3:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no events were recorded"
            files = list((data / "runs").glob("*/*/*/*.jsonl")) if (data / "runs").exists() else []
            events = files[0].read_bytes().count(b'"name":"event"') if files else 0
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode not in (0, None) and "Traceback" not in err, err
    assert "instruments left safe" in err
    from labctl.storage import Storage

    with Storage(data) as store:
        (summary,) = store.runs(None)
        assert store.run(summary.uid).stop["exit_status"] == "abort"


def test_run_exits_non_zero_when_an_instrument_cannot_be_made_safe(runner, bench, monkeypatch):
    from labctl import session as session_mod

    def failing_shutdown(devices, storage, simlab):
        storage.close()
        return ["vmp3_1.safe(): cell did not turn off (timeout)"]

    monkeypatch.setattr(session_mod, "_shutdown", failing_shutdown)
    result = runner.invoke(app, ["run", "readings", "-p", "num=2", "-p", "period=0 s", "--profile", str(bench),
                                 "-q"])
    assert result.exit_code == 1
    errors = result.stderr.strip().splitlines()
    assert errors == ["error while shutting down: vmp3_1.safe(): cell did not turn off (timeout)"]


@pytest.mark.parametrize("key", ["", "3*", "*", "ab?", "../x"])
def test_run_names_that_are_no_uid_or_scan_id_are_one_line_errors(runner, bench, key):
    for command in (["show", key], ["export", key, "--csv"]):
        result = runner.invoke(app, [*command, "--profile", str(bench)])
        assert result.exit_code == 2
        assert result.stderr.strip().splitlines() == [
            f"error: {key!r} is not a run: give its scan_id or (a unique prefix of) its uid"]


def test_export_to_an_existing_file_is_a_one_line_error(runner, bench, tmp_path):
    made = runner.invoke(app, ["run", "readings", "-p", "num=2", "-p", "period=0 s", "--profile", str(bench), "-q"])
    uid = next(line.split()[1] for line in made.stdout.splitlines() if line.startswith("run "))
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    result = runner.invoke(app, ["export", uid, "--csv", "--out", str(target), "--profile", str(bench)])
    assert result.exit_code == 2 and "is a file" in result.stderr and "Traceback" not in result.output
    assert target.read_text() == "mine"


def test_an_unusable_data_directory_is_a_one_line_error(runner, bench, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("LABCTL_DATA", str(blocker / "data"))
    for command in (["runs"], ["run", "readings", "-p", "num=1", "-q"]):
        result = runner.invoke(app, [*command, "--profile", str(bench)])
        assert result.exit_code == 1, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: cannot use the data directory"), result.stderr


def test_ipython_without_ipython_installed_connects_nothing(runner, bench, built, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "IPython" else real(name, *a))
    profile = bench.parent / "valve.toml"
    profile.write_text(WITH_VALVE)
    result = runner.invoke(app, ["ipython", "--profile", str(profile)])
    assert result.exit_code == 1 and result.stderr.strip() == "error: IPython is not installed (pip install ipython)"
    assert built == []


@pytest.mark.parametrize("params, words", [
    (["pump=mfc", "clock=clock", "segments=[[240 uL/h, 1 min]]"], "pump='mfc' is a flow_controller"),
    (["pump=pump", "clock=clock", "segments=[[5 mL/h, 1 min]]"], "pump: rate 5000 uL/h is outside 1-3000 uL/h"),
    (["pump=pump", "clock=clock", "segments=[[-240 uL/h, 1 min]]"], "positive"),
])
def test_run_checks_the_call_against_the_profile_before_connecting(runner, tmp_path, monkeypatch, params, words):
    """The default lab's instruments are described by its profile: the wrong kind of device and a rate its
    pump cannot do are refused before the simulated lab even starts."""
    monkeypatch.setenv("LABCTL_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("LABCTL_PROFILE", raising=False)
    args = ["run", "flow_schedule", "--quiet"] + [a for p in params for a in ("-p", p)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert words in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "data").exists()
