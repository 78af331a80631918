"""The direction of dependence: plans and devices work under any RunEngine, the simulated lab stays on the far
side of the wire, and importing devices does not pull in storage."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: folder -> import prefixes its modules must never use
FORBIDDEN = {
    "devices": ("labctl.plans", "labctl.sim", "labctl.storage", "labctl.session", "labctl.app.cli", "labctl.report",
                "labctl.analysis", "labctl.factories"),
    "plans": ("labctl.sim", "labctl.storage", "labctl.session", "labctl.app.cli", "labctl.factories",
              # vendor specifics: plans see instruments only through their ophyd devices
              "labctl.devices.potentiostat.biologic", "labctl.devices.potentiostat.gamry",
              "labctl.devices.syringe_pump.newera", "labctl.devices.syringe_pump.harvard", "labctl.devices.valve.vici",
              "labctl.devices.mass_spectrometer.srs", "labctl.devices.flow_controller.bronkhorst", "labctl.devices.transport"),
    "sim": ("ophyd", "bluesky", "labctl.devices", "labctl.plans", "labctl.storage", "labctl.session",
            "labctl.factories"),
}


def imports(path: Path, package: str):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                yield ".".join(parts + ([node.module] if node.module else []))
            elif node.module:
                yield node.module


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_no_layer_crossing(folder):
    crossings = []
    for path in (ROOT / folder).rglob("*.py"):
        rel = path.relative_to(ROOT / folder).with_suffix("")
        package = ".".join(["labctl", folder, *rel.parts[:-1]])
        for name in imports(path, package):
            if name.startswith(FORBIDDEN[folder]):
                crossings.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not crossings, "\n".join(crossings)


def test_importing_devices_and_plans_loads_no_storage():
    code = ("import sys, labctl.devices.potentiostat.device, labctl.devices.syringe_pump.device, labctl.plans.experiments; "
            "print(sorted(m for m in sys.modules if m.startswith(('labctl.storage', 'tiled', 'labctl.sim'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
