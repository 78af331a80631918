"""The direction of dependence (the import-linter contracts in pyproject.toml), one name per package, and
light imports: plans and devices work under any RunEngine, the simulated lab stays on the far side of the
wire, and importing devices does not pull in storage."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _package_tree():
    spec = importlib.util.spec_from_file_location("package_tree", ROOT / ".ci" / "package_tree.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_import_contracts_are_kept():
    """Plain ``lint-imports`` from the project root, as a developer types it."""
    lint = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout


def test_a_broken_contract_is_reported(tmp_path):
    """The contracts do look at the code: a plan module importing the simulated lab breaks one."""
    package = _package_tree().build(tmp_path / "tree")
    plans = tmp_path / "plans"
    plans.mkdir()
    for entry in (ROOT / "plans").iterdir():
        if entry.name != "__pycache__":
            (plans / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    (plans / "bad.py").write_text('"""A plan module that reaches into the simulated lab."""\n\nimport labctl.sim.lab\n')
    (package / "plans").unlink()
    (package / "plans").symlink_to(plans, target_is_directory=True)
    lint = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run([str(lint), str(ROOT / "pyproject.toml"), "--no-cache"], cwd=tmp_path / "tree",
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 1 and "labctl.plans.bad -> labctl.sim.lab" in out.stdout


@pytest.mark.parametrize("folder", ["devices", "plans", "sim"])
def test_a_folder_imported_as_a_top_level_package_fails_loudly(folder):
    code = f"import sys; sys.path.insert(0, {str(ROOT)!r}); import {folder}"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT.parent)
    assert out.returncode == 1
    assert f"ImportError: '{folder}' is labctl.{folder}: import labctl.{folder}" in out.stderr


def test_importing_devices_and_plans_loads_no_storage():
    code = ("import sys, labctl.devices.potentiostat.device, labctl.devices.syringe_pump.device, "
            "labctl.plans.campaign; "
            "print(sorted(m for m in sys.modules if m.startswith(('labctl.storage', 'tiled', 'labctl.sim'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
