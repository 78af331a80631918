"""Checking a plan call completely before anything connects: ``check_plan(plan, params, instruments)``.

A plan's parameters are checked from its declaration (:mod:`labctl.plans.params`): values, units, ranges,
list items, device kinds; then the plan's own ``check`` (relations between parameters, what the instruments
allow) runs on the normalised values and the *instrument descriptions*. A description is what the lab
profile says about an instrument (:meth:`labctl.devices.options.DriverDeclaration.describe`) or what a
connected device reports (``device.instrument_description()``): the same facts either way, so the CLI checks
a call before the session connects and the plan checks it again, against the devices, before it moves.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from labctl.devices.errors import LimitError
from labctl.devices.options import InstrumentDescription
from labctl.plans.params import Increasing, Instrument, ParameterError, ParameterLimitError

__all__ = ["PlanValues", "check_call", "check_plan", "declarations", "describe", "describe_parameters"]


@dataclass(frozen=True)
class Declared:
    """What one parameter declares: its converter (Unit, Count...), list checks, and whether it is a list."""

    converter: Any = None
    checks: tuple = ()
    sequence: bool = False


def _is_sequence(hint: Any) -> bool:
    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    for option in typing.get_args(hint) if union else (hint,):  # X | None
        origin = typing.get_origin(option) or option
        if origin in (list, tuple, Sequence) or (isinstance(origin, type) and issubclass(origin, Sequence)
                                                  and origin is not str):
            return True
    return False


def declarations(func: Callable) -> dict[str, Declared]:
    """The declaration of each annotated parameter of the plan *func*."""
    declaration = getattr(func, "__plan__", None)
    func = declaration.func if declaration is not None else func
    hints = typing.get_type_hints(func, include_extras=True)
    out = {}
    for pname, hint in hints.items():
        if typing.get_origin(hint) in (typing.Union, types.UnionType):  # Valve | None: the Annotated inside
            hint = next((a for a in typing.get_args(hint) if typing.get_origin(a) is Annotated), hint)
        if typing.get_origin(hint) is not Annotated:
            continue
        converter, checks = None, []
        for meta in hint.__metadata__:
            if isinstance(meta, Increasing):
                checks.append(meta)
            elif hasattr(meta, "allowed"):
                converter = meta
        out[pname] = Declared(converter, tuple(checks), _is_sequence(hint.__origin__))
    return out


def describe(device: Any) -> InstrumentDescription:
    """The description of a device or description (kind unknown for devices that do not describe themselves)."""
    method = getattr(device, "instrument_description", None)
    if callable(method):
        return method()
    return InstrumentDescription(getattr(device, "name", str(device)), "")


class PlanValues:
    """A plan call's arguments after checking: ``v.duration`` is a float in the declared unit, ``v.pstat`` the
    device (or name) given; ``v.instrument("pstat")`` its description, ``v.given("hold")`` what the caller
    wrote, ``v.explicit("hold")`` whether the caller gave it at all; ``v.instruments`` the lab's instruments by
    name (for checking the plans a plan calls)."""

    def __init__(self, plan_name: str, values: dict, given: dict, explicit: set, descriptions: dict,
                 instruments: Mapping[str, Any] | None = None):
        self.plan_name, self.instruments = plan_name, instruments
        self.values, self._given, self._explicit, self._descriptions = values, given, explicit, descriptions

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None

    def instrument(self, name: str) -> InstrumentDescription | None:
        """The description of the device given for parameter *name* (None when none was given)."""
        return self._descriptions.get(name)

    def given(self, name: str) -> Any:
        """The value the caller gave for *name* (before conversion; the default if none)."""
        return self._given.get(name)

    def explicit(self, name: str) -> bool:
        """Whether the caller gave *name* at all."""
        return name in self._explicit

    def only_with(self, name: str, needs: str, present: bool) -> None:
        """Refuse parameter *name* given explicitly when *present* is false: it would be ignored."""
        if self.explicit(name) and not present:
            raise ParameterError(f"{name}={self.given(name)!r} is only used with {needs}; leave it out")


def _resolve(name: str, value: Any, decl: Instrument, instruments: Mapping[str, Any] | None) -> InstrumentDescription:
    if isinstance(value, str):
        known = dict(instruments or {})
        if value not in known:
            raise ParameterError(f"{name}={value!r} is not a device of this lab; devices: {', '.join(sorted(known))}")
        value = known[value]
    elif value is None or isinstance(value, (int, float, bool, Mapping)) or not hasattr(value, "name"):
        what = f"a device ({decl.allowed()})" if decl.kind else "a readable device"
        raise ParameterError(f"{name}: {value!r} is not {what}")
    description = describe(value)
    if decl.kind is None:
        if description.kind == "" and not (hasattr(value, "read") and hasattr(value, "describe")):
            raise ParameterError(f"{name}: {value!r} is not a readable device")
    elif description.kind and description.kind != decl.kind:
        raise ParameterError(f"{name}={description.name!r} is a {description.kind}; allowed: {decl.allowed()}")
    return description


def _convert(pname: str, value: Any, decl: Declared, instruments, descriptions: dict) -> Any:
    converter = decl.converter
    if decl.sequence and not getattr(converter, "whole", False):
        if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
            raise ParameterError(f"{pname}={value!r}: give a list of {converter.allowed()}")
        if not value and not isinstance(converter, Instrument):
            raise ParameterError(f"{pname} is empty; allowed: a list of {converter.allowed()}")
        if isinstance(converter, Instrument):
            descriptions[pname] = [_resolve(pname, v, converter, instruments) for v in value]
            return list(value)
        out = [converter.convert(f"{pname}[{i}]", v) for i, v in enumerate(value)]
        for check in decl.checks:
            check.check(pname, value, out)
        return type(value)(out) if isinstance(value, (list, tuple)) else out
    if isinstance(converter, Instrument):
        descriptions[pname] = _resolve(pname, value, converter, instruments)
        return value
    return converter.convert(pname, value)


def check_plan(plan: Callable, params: Mapping[str, Any], instruments: Mapping[str, Any] | None = None,
               *, args: Sequence = ()) -> PlanValues:
    """Check a call of *plan* completely; the normalised arguments, or :class:`ParameterError` (one line).

    *params* are keyword arguments (devices as objects or descriptions, or, as typed on a command line, as
    instrument names looked up in *instruments*: name -> description or device). Nothing is connected or
    moved. Limits an instrument sets are :class:`~labctl.plans.params.ParameterLimitError`\\ s, which are
    also :class:`~labctl.devices.errors.LimitError`\\ s.
    """
    declaration = getattr(plan, "__plan__", None)
    if declaration is None:
        return check_call(plan, None, params, instruments, args=args)
    return check_call(declaration.func, declaration.check, params, instruments, args=args)


def check_call(func: Callable, check: Callable[[PlanValues], None] | None, params: Mapping[str, Any],
               instruments: Mapping[str, Any] | None = None, *, args: Sequence = ()) -> PlanValues:
    """:func:`check_plan` for a plan function and its ``check``, as the plan decorator holds them."""
    try:
        bound = inspect.signature(func).bind(*args, **params)
    except TypeError as exc:
        raise ParameterError(f"{func.__name__}: {exc}") from None
    explicit = set(bound.arguments)
    bound.apply_defaults()
    given = dict(bound.arguments)
    values, descriptions = dict(given), {}
    for pname, decl in declarations(func).items():
        value = values.get(pname)
        if value is None or decl.converter is None:
            continue
        values[pname] = _convert(pname, value, decl, instruments, descriptions)
    checked = PlanValues(func.__name__, values, given, explicit, descriptions, instruments)
    if check is not None:
        try:
            check(checked)
        except ParameterError:
            raise
        except LimitError as exc:
            raise ParameterLimitError(str(exc)) from None
    return checked


def describe_parameters(func: Callable) -> list[dict]:
    """Name, default, unit and what is allowed of each parameter, for listings (``labctl plans``)."""
    declared = declarations(func)
    out = []
    for pname, p in inspect.signature(func).parameters.items():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        converter = declared[pname].converter if pname in declared else None
        out.append({
            "name": pname,
            "default": None if p.default is inspect.Parameter.empty else p.default,
            "required": p.default is inspect.Parameter.empty,
            "unit": getattr(converter, "unit", None),
            "allowed": converter.allowed() if converter is not None else None,
            "kind": converter.kind if isinstance(converter, Instrument) else None,
            "description": getattr(converter, "description", "") if converter is not None else "",
        })
    return out
