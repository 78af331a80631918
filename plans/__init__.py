"""Bluesky plans for the lab, hardware-agnostic: they know instruments only through their ophyd interface.

Every plan is declared with :func:`plan`; :func:`check_plan` checks a call before anything connects and
:func:`plan_call` tells which instruments a plan call uses.
"""

if __name__ != "labctl.plans":  # imported as a top-level package from a checkout: a second copy of every class
    raise ImportError(f"{__name__!r} is labctl.plans: import labctl.plans (pip install -e . in the checkout), "
                      f"not {__name__}")

from labctl.plans.checks import check_plan, describe_parameters  # noqa: E402
from labctl.plans.decorator import MsgGenerator, PlanCall, check_plan_call, plan, plan_call  # noqa: E402
from labctl.plans.params import ParameterError  # noqa: E402

__all__ = ["MsgGenerator", "ParameterError", "PlanCall", "check_plan", "check_plan_call", "describe_parameters", "plan",
           "plan_call"]
