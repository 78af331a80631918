"""Bluesky plans for the lab, hardware-agnostic: they know instruments only through their ophyd interface.

Every plan is declared with :func:`plan`; :func:`check_plan` checks a call before anything connects and
:func:`plan_call` tells which instruments a plan call uses.
"""

from labctl.plans.checks import check_plan, describe_parameters
from labctl.plans.decorator import MsgGenerator, PlanCall, plan, plan_call
from labctl.plans.params import ParameterError

__all__ = ["MsgGenerator", "ParameterError", "PlanCall", "check_plan", "describe_parameters", "plan", "plan_call"]
