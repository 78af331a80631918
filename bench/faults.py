"""The fault matrix, timed: for every instrument and fault of ``tests/labctl/test_fault_matrix.py``, the outcome
and how long after the fault labctl reported it, in wall seconds and lab seconds. Run:
``.venv/bin/python bench/faults.py [ROW ...]`` (rows: the matrix's instruments, e.g. ``ms_selector ms_qmg``;
default every row); prints one row per cell (markdown) for bench/README.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/ holds concurrent.py: off the import path, or it would stand in for the standard library's
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import importlib.util  # noqa: E402
import logging  # noqa: E402
import tempfile  # noqa: E402
import warnings  # noqa: E402


def _matrix():
    path = _HERE.parent / "tests" / "labctl" / "test_fault_matrix.py"
    spec = importlib.util.spec_from_file_location("fault_matrix", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")
    m = _matrix()
    rows = sys.argv[1:] or list(m.INSTRUMENTS)
    unknown = [r for r in rows if r not in m.INSTRUMENTS]
    if unknown:
        sys.exit(f"no row {unknown[0]!r} in the fault matrix; rows: {', '.join(m.INSTRUMENTS)}")
    print("| instrument | fault | outcome | error | detected after (wall s) | (lab s) |")
    print("|---|---|---|---|---|---|")
    for name in rows:
        for fault in m.FAULTS:
            before = len(m.RESULTS)
            with tempfile.TemporaryDirectory() as tmp:
                try:
                    m.test_a_fault_ends_the_run_typed_named_stored_and_safe(name, fault, Path(tmp))
                    outcome = "failed, typed, safe" if len(m.RESULTS) > before else "ridden through, safe"
                except BaseException as exc:  # an undetected fault: the test's own assertion
                    outcome = f"not detected ({type(exc).__name__})"
            if len(m.RESULTS) > before:
                r = m.RESULTS[-1]
                if (name, fault) in m.STUCK_UNSAFE:
                    outcome = f"failed, typed; reported not safe (stuck at {m.STUCK_UNSAFE[name, fault][0]})"
                print(f"| {name} | {fault} | {outcome} | {r['error']} | {r['wall_s']:.3f} | {r['lab_s']:.1f} |")
            else:
                print(f"| {name} | {fault} | {outcome} | - | - | - |")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
