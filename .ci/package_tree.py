"""Lay labctl's four folders out as the one package they install as, for tools that read the file system.

labctl/, devices/, plans/ and sim/ install as ``labctl``, ``labctl.devices``, ``labctl.plans`` and
``labctl.sim`` (see pyproject.toml). Python finds them through the install; pyright and import-linter walk
folders, so they are given this tree: ``TARGET/labctl`` holds links to labctl/'s entries and to the other
three folders (copies where the file system refuses links).

Usage: ``python .ci/package_tree.py TARGET [--hook]``. With ``--hook`` it also writes a ``.pth`` file into
the running interpreter's site-packages so that a plain ``lint-imports`` (which puts the working folder, and
with it the incomplete labctl/ folder, first on the path) finds ``labctl`` in the tree instead.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import shutil
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUBPACKAGES = {"devices": "devices", "plans": "plans", "sim": "sim"}
DEFAULT_TARGET = ROOT / "build" / "package-tree"
HOOK_FILE = "labctl-package-tree.pth"


def _link(link: Path, to: Path) -> None:
    try:
        link.symlink_to(to, target_is_directory=to.is_dir())
    except OSError:  # Windows without Developer Mode
        if to.is_dir():
            shutil.copytree(to, link, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(to, link)


def build(target: Path) -> Path:
    """Make ``target/labctl`` (replacing an old one); return it."""
    package = target / "labctl"
    if package.exists():
        shutil.rmtree(package)
    package.mkdir(parents=True)
    for entry in (ROOT / "labctl").iterdir():
        if entry.name not in SUBPACKAGES and entry.name != "__pycache__":
            _link(package / entry.name, entry)
    for name, folder in SUBPACKAGES.items():
        _link(package / name, ROOT / folder)
    return package


def _whole(spec: importlib.machinery.ModuleSpec | None) -> bool:
    if spec is None or not spec.origin:
        return False
    folder = Path(spec.origin).parent
    return all((folder / name / "__init__.py").is_file() for name in SUBPACKAGES)


class TreeFinder(importlib.abc.MetaPathFinder):
    """Finds ``labctl`` in the tree when the one first on the path is a bare labctl/ folder."""

    def __init__(self, tree: Path):
        self.tree = tree

    def find_spec(self, fullname, path=None, target=None):
        """The tree's ``labctl`` unless the path already leads to a whole one; nothing for other names."""
        if fullname != "labctl":
            return None
        found = importlib.machinery.PathFinder.find_spec(fullname, sys.path)
        if _whole(found):
            return found
        return importlib.machinery.PathFinder.find_spec(fullname, [str(self.tree)])


def hook() -> None:
    """Run by the ``.pth`` line in a ``lint-imports`` process: lay out the tree afresh and find labctl there."""
    tree = build(DEFAULT_TARGET).parent
    sys.meta_path.insert(0, TreeFinder(tree))


def write_hook() -> Path:
    """Write the ``.pth`` file that calls :func:`hook` in ``lint-imports`` processes only."""
    line = ("import os, sys; os.path.basename(sys.argv[0]).lower().startswith('lint-imports') and "
            f"__import__('runpy').run_path({str(Path(__file__).resolve())!r})['hook']()\n")
    pth = Path(sysconfig.get_paths()["purelib"]) / HOOK_FILE
    pth.write_text(line, encoding="utf-8")
    return pth


if __name__ == "__main__":
    print(build(Path(sys.argv[1]).resolve()))
    if "--hook" in sys.argv[2:]:
        print(write_hook())
