"""Declared plan parameters: what each parameter accepts, checked by the CLI, the queue server and the plans.

A plan annotates a parameter with what it accepts, e.g. ``Annotated[QuantityLike, Unit("mA/cm^2", min=0)]``,
``Annotated[int, Count(min=1)]``, ``Annotated[str, Choice("cv", "galvanostatic")]`` or a device of a kind,
``Potentiostat`` (``Annotated[Flyable, Instrument("potentiostat")]``). Each declaration converts the value
given (a number, a string with a unit, a pint quantity...) to what the plan works with (a float in the
declared unit) or refuses it with a :class:`ParameterError` naming the parameter, the value and what is
allowed. A declaration on a list parameter applies to every item.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import pint
from bluesky.protocols import Flyable, Movable, Readable
from typing_extensions import override

from labctl.devices.errors import LimitError
from labctl.devices.units import UnitError, magnitude, quantity

QuantityLike = float | int | str | pint.Quantity


class ParameterError(ValueError):
    """A plan argument outside what the plan accepts; one line naming the parameter, value and what is allowed."""


class ParameterLimitError(ParameterError, LimitError):
    """A plan argument beyond what an instrument (or its profile limits) allows."""


@dataclass(frozen=True)
class Unit:
    """A finite quantity in ``unit`` within ``[min, max]`` (``(min, ...`` with ``min_inclusive=False``)."""

    unit: str
    min: float | None = None
    max: float | None = None
    min_inclusive: bool = True
    description: str = ""

    @override
    def allowed(self) -> str:
        lo = "-inf" if self.min is None else f"{self.min:g}"
        hi = "+inf" if self.max is None else f"{self.max:g}"
        left = "[" if self.min_inclusive else "("
        return f"{left}{lo}, {hi}] {self.unit}"

    @override
    def convert(self, name: str, value: Any) -> float:
        try:
            v = float(quantity(value, self.unit, name=name).magnitude)
        except UnitError as exc:
            raise ParameterError(f"{exc}; allowed: {self.allowed()}") from None
        low_bad = self.min is not None and (v < self.min if self.min_inclusive else v <= self.min)
        if not math.isfinite(v) or low_bad or (self.max is not None and v > self.max):
            raise ParameterError(f"{name}={value!r} is out of range; allowed: {self.allowed()}")
        return v

    def show(self, value: float) -> str:
        """*value* with its unit, as run metadata records it."""
        return f"{value:g}" if self.unit == "dimensionless" else f"{value:g} {self.unit}"


@dataclass(frozen=True)
class Count:
    """A whole number within a range (cycles, points per decade)."""

    min: int | None = None
    max: int | None = None
    description: str = ""
    unit = None

    @override
    def allowed(self) -> str:
        lo = "-inf" if self.min is None else str(self.min)
        hi = "+inf" if self.max is None else str(self.max)
        return f"whole number in [{lo}, {hi}]"

    @override
    def convert(self, name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ParameterError(f"{name}={value!r} is not a whole number; allowed: {self.allowed()}")
        if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            raise ParameterError(f"{name}={value!r} is out of range; allowed: {self.allowed()}")
        return value


@dataclass(frozen=True)
class Choice:
    """One of a few words (``mode="cv"``)."""

    choices: tuple[str, ...]
    description: str = ""
    unit = None

    def __init__(self, *choices: str, description: str = ""):
        object.__setattr__(self, "choices", tuple(choices))
        object.__setattr__(self, "description", description)

    @override
    def allowed(self) -> str:
        return " or ".join(repr(c) for c in self.choices)

    @override
    def convert(self, name: str, value: Any) -> str:
        if value not in self.choices:
            raise ParameterError(f"{name}={value!r}: choose {self.allowed()}")
        return value


@dataclass(frozen=True)
class Increasing:
    """A list whose items strictly increase (capture times, cumulative cycle targets)."""

    example: str = ""
    description: str = ""
    unit = None

    @override
    def allowed(self) -> str:
        return "increasing values" + (f", e.g. {self.example}" if self.example else "")

    @override
    def check(self, name: str, given: Any, values: Sequence) -> None:
        if list(values) != sorted(set(values)):
            raise ParameterError(f"{name}={given!r}: give {self.allowed()}")


@dataclass(frozen=True)
class Flag:
    """Yes or no: ``True``/``False`` only, so that ``blank="maybe"`` or ``1`` is not read as a choice."""

    description: str = ""
    unit = None

    @override
    def allowed(self) -> str:
        return "true or false"

    @override
    def convert(self, name: str, value: Any) -> bool:
        if not isinstance(value, bool):
            raise ParameterError(f"{name}={value!r}: give {self.allowed()}")
        return value


@dataclass(frozen=True)
class Text:
    """A non-empty word or phrase (an electrolyte's name)."""

    description: str = ""
    unit = None

    @override
    def allowed(self) -> str:
        return "a name"

    @override
    def convert(self, name: str, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ParameterError(f"{name}={value!r}: give {self.allowed()}")
        return value


@dataclass(frozen=True)
class Fractions:
    """``{name: fraction}`` with every fraction in (0, 1] (``{"D2": 1e-4, "O2": "100 ppm"}``)."""

    description: str = ""
    unit = None
    whole = True

    @override
    def allowed(self) -> str:
        return "{gas: fraction in (0, 1]}, e.g. {'D2': 1e-4}"

    @override
    def convert(self, name: str, value: Any) -> dict[str, float]:
        if not isinstance(value, Mapping) or not value:
            raise ParameterError(f"{name}={value!r}: give {self.allowed()}")
        out = {}
        for key, item in value.items():
            try:
                fraction = magnitude(item, "dimensionless", name=f"{name}[{key!r}]")
            except UnitError as exc:
                raise ParameterError(str(exc)) from None
            if not 0 < fraction <= 1:
                raise ParameterError(f"{name}[{key!r}]={item!r} must be a fraction in (0, 1]")
            out[str(key)] = fraction
        return out


@dataclass(frozen=True)
class Instrument:
    """A device of ``kind`` (any readable device when ``kind`` is None); on the command line, its name."""

    kind: str | None = None
    description: str = ""
    unit = None

    @override
    def allowed(self) -> str:
        if not self.kind:
            return "a readable device"
        return f"{'an' if self.kind[0] in 'aeiou' else 'a'} {self.kind}"


#: parameter declarations that are devices of a kind
Potentiostat = Annotated[Flyable, Instrument("potentiostat")]
SyringePump = Annotated[Movable, Instrument("syringe_pump")]
Valve = Annotated[Movable, Instrument("valve")]
StreamSelector = Annotated[Movable, Instrument("stream_selector")]
MassSpectrometer = Annotated[Readable, Instrument("mass_spectrometer")]
FlowController = Annotated[Movable, Instrument("flow_controller")]
Clock = Annotated[Movable, Instrument("clock")]
Operator = Annotated[Movable, Instrument("operator")]
Detectors = Annotated[Sequence[Readable], Instrument()]

_POSITIVE = {"min": 0.0, "min_inclusive": False}
Seconds = Annotated[QuantityLike, Unit("s", **_POSITIVE)]
OptionalSeconds = Annotated[QuantityLike | None, Unit("s", **_POSITIVE)]
Volts = Annotated[QuantityLike, Unit("V")]
CurrentDensity = Annotated[QuantityLike, Unit("mA/cm^2", **_POSITIVE)]
Fraction = Annotated[QuantityLike, Unit("dimensionless", min=0, max=1)]
#: lab times after a start, each later than the one before
LaterTimes = Annotated[Sequence[QuantityLike], Unit("s", **_POSITIVE), Increasing("[600, 1200, 1800]")]
