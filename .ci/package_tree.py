"""Lay labctl's four folders out as the one package they install as, for tools that read the file system.

labctl/, devices/, plans/ and sim/ install as ``labctl``, ``labctl.devices``, ``labctl.plans`` and
``labctl.sim`` (see pyproject.toml). Python finds them through the install; import-linter walks folders,
so it is given this tree: ``TARGET/labctl`` holds links to labctl/'s entries and to the other three folders.
Usage: ``python .ci/package_tree.py TARGET`` (then run ``lint-imports`` with TARGET as the working folder).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUBPACKAGES = {"devices": "devices", "plans": "plans", "sim": "sim"}


def build(target: Path) -> Path:
    """Make ``target/labctl`` (replacing an old one); return it."""
    package = target / "labctl"
    if package.exists():
        shutil.rmtree(package)
    package.mkdir(parents=True)
    for entry in (ROOT / "labctl").iterdir():
        if entry.name not in SUBPACKAGES and entry.name != "__pycache__":
            (package / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    for name, folder in SUBPACKAGES.items():
        (package / name).symlink_to(ROOT / folder, target_is_directory=True)
    return package


if __name__ == "__main__":
    print(build(Path(sys.argv[1]).resolve()))
