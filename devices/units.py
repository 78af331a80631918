"""One pint registry for the whole project, and parsing of user-facing quantities.

Plans and profiles accept quantities as pint objects, strings ("0.5 mA/cm^2", "240 uL/h") or bare numbers
in the expected unit; everything is converted once at the boundary so the rest of the code works in SI-ish
floats with the unit named in the variable.
"""

from __future__ import annotations

from numbers import Real

import pint

ureg = pint.UnitRegistry()
ureg.define("mAh = milliampere * hour")
Q_ = ureg.Quantity
ureg.formatter.default_format = "~P"


class UnitError(ValueError):
    """A value could not be read as a quantity of the expected dimension."""


def quantity(value, unit: str, *, name: str = "value") -> pint.Quantity:
    """Parse *value* as a quantity compatible with *unit*; a bare number is taken to be in *unit*."""
    if isinstance(value, pint.Quantity):
        q = value
    elif isinstance(value, bool):
        raise UnitError(f"{name}={value!r}: expected a quantity in {unit}")
    elif isinstance(value, Real):
        q = Q_(float(value), unit)
    elif isinstance(value, str):
        try:
            q = Q_(value.strip().replace("µ", "u").replace("μ", "u"))
        except Exception as exc:  # pint raises several unrelated types
            raise UnitError(f"{name}={value!r}: not a quantity ({exc})") from None
        if not isinstance(q, pint.Quantity):  # a bare number in a string
            q = Q_(float(q), unit)
    else:
        raise UnitError(f"{name}={value!r}: expected a quantity in {unit}")
    if not q.is_compatible_with(unit):
        raise UnitError(f"{name}={value!r}: expected units compatible with {unit}, got {q.units:~}")
    return q.to(unit)


def magnitude(value, unit: str, *, name: str = "value") -> float:
    """The magnitude of *value* expressed in *unit* (see :func:`quantity`)."""
    return float(quantity(value, unit, name=name).magnitude)
