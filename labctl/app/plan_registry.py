"""Which plans labctl offers by name: the public plans of the plan modules, plus bluesky's ``count``.

The CLI, the IPython namespace and the queue server all take plans from here, so a plan added to a module's
``__all__`` shows up everywhere at once. Modules not present in this installation are skipped.
"""

from __future__ import annotations

import importlib
import inspect
import warnings
from typing import Callable

import bluesky.plans as bp

PLAN_MODULES = ("labctl.plans.readings", "labctl.plans.electrochem", "labctl.plans.fluidics",
                "labctl.plans.gas", "labctl.plans.experiments")

#: bluesky's own generic plan, for reading devices without a dedicated plan.
BUILTIN = {"count": bp.count}


def discover_plans() -> dict[str, Callable]:
    """Plan name -> plan function, in module order.

    A module that is absent is skipped quietly; one that fails to import is skipped with a warning that
    carries the error, so one broken module does not take every other plan down with it.
    """
    plans = dict(BUILTIN)
    for module_name in PLAN_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue
            warnings.warn(f"plans in {module_name} unavailable: {exc}", RuntimeWarning, stacklevel=2)
            continue
        except Exception as exc:  # a plan module with a bug: report it, keep the others
            warnings.warn(f"plans in {module_name} unavailable: {type(exc).__name__}: {exc}", RuntimeWarning,
                          stacklevel=2)
            continue
        for name in getattr(module, "__all__", ()):
            func = getattr(module, name)
            if inspect.isfunction(func):  # not the exceptions and helpers a module may also export
                plans[name] = func
    return plans
