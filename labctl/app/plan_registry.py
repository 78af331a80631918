"""Which plans labctl offers by name: every plan declared in the modules of ``labctl.plans``.

The CLI, the IPython namespace and the queue server all take plans from here, so a plan added to a module's
``__all__`` shows up everywhere at once. A plan module that fails to import is skipped with a warning.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable

#: the plan modules, in the order ``labctl plans`` lists them: the simple plans first, then the experiments
PLAN_MODULES = ("readings", "electrochem", "fluidics", "gas", "calibration", "titration", "dems", "liquid_cell", "afm",
                "campaign")


def plan_modules() -> list[str]:
    """The plan modules' import names, in listing order."""
    return [f"labctl.plans.{name}" for name in PLAN_MODULES]


def discover_plans() -> dict[str, Callable]:
    """Plan name -> plan, for every declared plan in a module's ``__all__``.

    A module that fails to import is skipped with a warning that carries the error, so one broken module
    does not take every other plan down with it.
    """
    plans = {}
    for module_name in plan_modules():
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:  # a plan module with a bug: report it, keep the others
            warnings.warn(f"plans in {module_name} unavailable: {type(exc).__name__}: {exc}", RuntimeWarning,
                          stacklevel=2)
            continue
        for name in getattr(module, "__all__", ()):
            func = getattr(module, name)
            if hasattr(func, "__plan__"):  # not the exceptions and helpers a module may also export
                plans[name] = func
    return plans
