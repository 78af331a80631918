"""Declared plan parameters: units and ranges that the CLI, the queue server and the plans all check.

A plan annotates a parameter with ``Annotated[QuantityLike, Unit("mA/cm^2", min=0)]``. ``check_call``
converts every annotated argument to a float in that unit and refuses, before the plan yields anything, a
value of the wrong type, unit or range with a message naming the parameter, the value and what is allowed.
"""

from __future__ import annotations

import inspect
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Callable, Union

import pint

from labctl.devices.units import UnitError, quantity

QuantityLike = Union[float, int, str, pint.Quantity]


class ParameterError(ValueError):
    """A plan argument outside what the plan accepts."""


@dataclass(frozen=True)
class Unit:
    unit: str
    min: float | None = None
    max: float | None = None
    min_inclusive: bool = True
    description: str = ""

    def allowed(self) -> str:
        lo = "-inf" if self.min is None else f"{self.min:g}"
        hi = "+inf" if self.max is None else f"{self.max:g}"
        left = "[" if self.min_inclusive else "("
        return f"{left}{lo}, {hi}] {self.unit}"

    def convert(self, name: str, value) -> float:
        try:
            v = float(quantity(value, self.unit, name=name).magnitude)
        except UnitError as exc:
            raise ParameterError(f"{exc}; allowed: {self.allowed()}") from None
        low_bad = self.min is not None and (v < self.min if self.min_inclusive else v <= self.min)
        if low_bad or (self.max is not None and v > self.max) or v != v:
            raise ParameterError(f"{name}={value!r} is out of range; allowed: {self.allowed()}")
        return v


@dataclass(frozen=True)
class Count:
    """A whole number within a range (cycles, points per decade), declared like a :class:`Unit`."""

    min: int | None = None
    max: int | None = None
    description: str = ""
    unit = None

    def allowed(self) -> str:
        lo = "-inf" if self.min is None else str(self.min)
        hi = "+inf" if self.max is None else str(self.max)
        return f"whole number in [{lo}, {hi}]"

    def convert(self, name: str, value) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParameterError(f"{name}={value!r} is not a whole number; allowed: {self.allowed()}")
        if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            raise ParameterError(f"{name}={value!r} is out of range; allowed: {self.allowed()}")
        return value


def declared_units(func: Callable) -> dict[str, Unit | Count]:
    """The ``Unit`` or ``Count`` annotation of each parameter of *func* that has one."""
    hints = typing.get_type_hints(func, include_extras=True)
    out = {}
    for pname, hint in hints.items():
        if typing.get_origin(hint) is Annotated:
            for meta in hint.__metadata__:
                if isinstance(meta, (Unit, Count)):
                    out[pname] = meta
    return out


def check_call(func: Callable, args: tuple = (), kwargs: dict | None = None) -> dict[str, Any]:
    """Bind *args*/*kwargs* to *func*; return all arguments with annotated quantities as floats in their unit."""
    kwargs = kwargs or {}
    sig = inspect.signature(func)
    try:
        bound = sig.bind(*args, **kwargs)
    except TypeError as exc:
        raise ParameterError(f"{func.__name__}: {exc}") from None
    bound.apply_defaults()
    units = declared_units(func)
    values = dict(bound.arguments)
    for pname, unit in units.items():
        value = values.get(pname)
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            if not value:
                raise ParameterError(f"{pname} is empty; allowed: a list of {unit.allowed()}")
            values[pname] = type(value)(unit.convert(f"{pname}[{i}]", v) for i, v in enumerate(value))
        else:
            values[pname] = unit.convert(pname, value)
    return values


def describe_parameters(func: Callable) -> list[dict]:
    """Name, default, unit and allowed range of each parameter, for listings (``labctl plans``)."""
    units = declared_units(func)
    out = []
    for pname, p in inspect.signature(func).parameters.items():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        unit = units.get(pname)
        out.append({
            "name": pname,
            "default": None if p.default is inspect.Parameter.empty else p.default,
            "required": p.default is inspect.Parameter.empty,
            "unit": unit.unit if unit else None,
            "allowed": unit.allowed() if unit else None,
            "description": unit.description if unit else "",
        })
    return out
