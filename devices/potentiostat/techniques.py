"""Electrochemical techniques as typed, validated values.

A technique is what the user asks a potentiostat channel to do, independent of the vendor: backends translate
it into their SDK's own vocabulary. Parameters accept pint quantities, strings with units ("0.5 mA") or bare
numbers in the SI unit; they are stored as SI floats (A, V, s, C, Hz, V/s). Construction checks that a
technique makes sense on its own; :meth:`validate` checks it against an instrument's limits (the profile's
``current_A`` and ``voltage_V`` ranges) so nothing is sent that the instrument or the lab forbids.

Sign convention: positive current is anodic (oxidation at the working electrode), so plating Na on Cu is a
negative current and stripping a positive one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import ClassVar

import pint

from labctl.devices.errors import LimitError
from labctl.devices.units import magnitude

QuantityLike = float | int | str | pint.Quantity

__all__ = [
    "Reattach",
    "Technique", "OCV", "Galvanostatic", "Potentiostatic", "CV", "PEIS", "GEIS", "QuantityLike",
    "log_frequencies",
]


class _Technique:
    """Shared parsing and limit checks; subclasses declare ``_units`` (field -> unit) and ``name``."""

    name: ClassVar[str] = ""
    _units: ClassVar[dict[str, str]] = {}
    impedance: ClassVar[bool] = False

    def __post_init__(self) -> None:
        for f in fields(self):
            unit = self._units.get(f.name)
            value = getattr(self, f.name)
            if unit is not None and value is not None:
                v = magnitude(value, unit, name=f"{self.name}.{f.name}")
                if not math.isfinite(v):
                    raise ValueError(f"{self.name}.{f.name}={value!r} is not a finite number")
                object.__setattr__(self, f.name, v)
        self._check()

    def _check(self) -> None:  # pragma: no cover - overridden
        pass

    def _positive(self, *names: str) -> None:
        for n in names:
            v = getattr(self, n)
            if v is not None and not v > 0:
                raise ValueError(f"{self.name}.{n} must be positive, got {v:g} {self._units[n]}")

    # -- limits ------------------------------------------------------------------------------------
    def validate(self, limits: Mapping[str, Sequence[float]] | None) -> None:
        """Raise :class:`LimitError` if a parameter is outside the instrument's ``current_A``/``voltage_V``."""
        limits = limits or {}
        for pname, value, kind in self._limited():
            rng = limits.get(kind)
            if rng is None or value is None:
                continue
            lo, hi = float(rng[0]), float(rng[1])
            if not lo <= value <= hi:
                unit = "A" if kind == "current_A" else "V"
                raise LimitError(f"{self.name}: {pname}={value:g} {unit} is outside the allowed range "
                                 f"[{lo:g}, {hi:g}] {unit} ({kind} limit of the instrument profile)")

    def _limited(self) -> list[tuple[str, float | None, str]]:
        """(parameter, value, "current_A"|"voltage_V") pairs that must sit inside the profile limits."""
        return []

    def describe(self) -> dict:
        """Parameters with units, for run metadata."""
        out: dict = {"technique": self.name}
        for f in fields(self):
            value = getattr(self, f.name)
            unit = self._units.get(f.name)
            out[f.name] = value if unit is None or value is None else f"{value:g} {unit}"
        return out


@dataclass(frozen=True)
class OCV(_Technique):
    """Rest at open circuit for ``duration``, recording every ``record_dt`` (or ``record_dE`` of drift)."""

    duration: QuantityLike
    record_dt: QuantityLike = 1.0
    record_dE: QuantityLike | None = None

    name: ClassVar[str] = "OCV"
    _units: ClassVar[dict[str, str]] = {"duration": "s", "record_dt": "s", "record_dE": "V"}

    def _check(self) -> None:
        self._positive("duration", "record_dt", "record_dE")


@dataclass(frozen=True)
class Galvanostatic(_Technique):
    """Constant current until ``duration``, a passed ``charge`` (|Q|) or a potential limit ends it.

    ``e_min``/``e_max`` end the step when Ewe falls below / rises above them (a stripping cutoff is
    ``e_max="1 V"`` with a positive current).
    """

    current: QuantityLike
    duration: QuantityLike | None = None
    charge: QuantityLike | None = None
    e_min: QuantityLike | None = None
    e_max: QuantityLike | None = None
    record_dt: QuantityLike = 1.0
    record_dE: QuantityLike | None = None

    name: ClassVar[str] = "CP"
    _units: ClassVar[dict[str, str]] = {"current": "A", "duration": "s", "charge": "C", "e_min": "V",
                                        "e_max": "V", "record_dt": "s", "record_dE": "V"}

    def _check(self) -> None:
        self._positive("duration", "charge", "record_dt", "record_dE")
        if self.duration is None and self.charge is None and self.e_min is None and self.e_max is None:
            raise ValueError("CP: give a duration, a charge or a potential limit (e_min/e_max) to end the step")
        if self.e_min is not None and self.e_max is not None and not self.e_min < self.e_max:
            raise ValueError(f"CP: e_min={self.e_min:g} V must be below e_max={self.e_max:g} V")

    @classmethod
    def from_density(cls, current_density: QuantityLike, area: QuantityLike, **kwargs) -> Galvanostatic:
        """Current from a density (mA/cm^2) and the electrode area (cm^2)."""
        j = magnitude(current_density, "mA/cm^2", name="current_density")
        a = magnitude(area, "cm^2", name="area")
        if not a > 0:
            raise ValueError(f"CP: electrode area must be positive, got {a:g} cm^2")
        return cls(current=j * a * 1e-3, **kwargs)

    @property
    def limited(self) -> bool:
        """Whether a potential or current limit can end the technique early."""
        return self.e_min is not None or self.e_max is not None

    def _limited(self):
        return [("current", self.current, "current_A"), ("e_min", self.e_min, "voltage_V"),
                ("e_max", self.e_max, "voltage_V")]


@dataclass(frozen=True)
class Potentiostatic(_Technique):
    """Constant potential (vs reference, or vs the OCV at the start) for ``duration``; optional |I| limits."""

    potential: QuantityLike
    duration: QuantityLike
    i_min: QuantityLike | None = None
    i_max: QuantityLike | None = None
    record_dt: QuantityLike = 1.0
    vs_ocv: bool = False

    name: ClassVar[str] = "CA"
    _units: ClassVar[dict[str, str]] = {"potential": "V", "duration": "s", "i_min": "A", "i_max": "A",
                                        "record_dt": "s"}

    def _check(self) -> None:
        self._positive("duration", "record_dt")
        if self.i_min is not None and self.i_max is not None and not self.i_min < self.i_max:
            raise ValueError(f"CA: i_min={self.i_min:g} A must be below i_max={self.i_max:g} A")

    @property
    def limited(self) -> bool:
        """Whether a potential or current limit can end the technique early."""
        return self.i_min is not None or self.i_max is not None

    def _limited(self):
        # Relative to OCV the absolute potential is unknown here; its magnitude must still fit the range.
        return [("potential", self.potential, "voltage_V"), ("i_min", self.i_min, "current_A"),
                ("i_max", self.i_max, "current_A")]


@dataclass(frozen=True)
class CV(_Technique):
    """Cyclic voltammetry e_start -> vertex1 -> vertex2 (-> vertex1 -> vertex2 ... for ``cycles``) -> e_end.

    One point is recorded every ``step`` of potential, so the number of points follows from the path
    length (:meth:`expected_points`).
    """

    e_start: QuantityLike
    vertex1: QuantityLike
    vertex2: QuantityLike
    e_end: QuantityLike
    scan_rate: QuantityLike
    cycles: int = 1
    step: QuantityLike = 1e-3

    name: ClassVar[str] = "CV"
    _units: ClassVar[dict[str, str]] = {"e_start": "V", "vertex1": "V", "vertex2": "V", "e_end": "V",
                                        "scan_rate": "V/s", "step": "V"}

    def _check(self) -> None:
        self._positive("scan_rate", "step")
        if isinstance(self.cycles, bool) or not isinstance(self.cycles, int) or self.cycles < 1:
            raise ValueError(f"CV.cycles must be a positive integer, got {self.cycles!r}")
        if self.vertex1 == self.vertex2:
            raise ValueError(f"CV: vertex1 and vertex2 are both {self.vertex1:g} V")

    def vertices(self) -> list[float]:
        """Every potential the sweep turns at, in order, start and end included."""
        out = [self.e_start, self.vertex1, self.vertex2]
        for _ in range(self.cycles - 1):
            out += [self.vertex1, self.vertex2]
        out.append(self.e_end)
        return out

    def path_length(self) -> float:
        """Volts swept over all cycles."""
        v = self.vertices()
        return sum(abs(b - a) for a, b in zip(v, v[1:], strict=False))

    def duration(self) -> float:
        """Seconds the sweep takes at its scan rate."""
        return self.path_length() / self.scan_rate

    def expected_points(self) -> int:
        """Points recorded: one at the start and one per ``step`` along the path."""
        return int(round(self.path_length() / self.step)) + 1

    def _limited(self):
        return [(n, getattr(self, n), "voltage_V") for n in ("e_start", "vertex1", "vertex2", "e_end")]


def log_frequencies(f_start: float, f_stop: float, points_per_decade: int) -> list[float]:
    """Log-spaced frequencies from ``f_start`` to ``f_stop`` inclusive, ``points_per_decade`` per decade."""
    decades = abs(math.log10(f_stop / f_start))
    n = int(math.floor(decades * points_per_decade + 1e-9)) + 1
    if n < 2:
        return [f_start]
    ratio = math.log10(f_stop / f_start) / (n - 1)
    return [f_start * 10 ** (ratio * i) for i in range(n - 1)] + [f_stop]


@dataclass(frozen=True)
class _Impedance(_Technique):
    impedance: ClassVar[bool] = True

    def _check_sweep(self) -> None:
        self._positive("f_start", "f_stop", "amplitude")
        ppd = self.points_per_decade
        if isinstance(ppd, bool) or not isinstance(ppd, int) or ppd < 1:
            raise ValueError(f"{self.name}.points_per_decade must be a positive integer, got {ppd!r}")
        if self.f_start == self.f_stop:
            raise ValueError(f"{self.name}: f_start and f_stop are both {self.f_start:g} Hz")

    def frequencies(self) -> list[float]:
        return log_frequencies(self.f_start, self.f_stop, self.points_per_decade)


@dataclass(frozen=True)
class PEIS(_Impedance):
    """Potentiostatic impedance: sine of ``amplitude`` (V) around ``dc`` (vs OCV by default)."""

    f_start: QuantityLike
    f_stop: QuantityLike
    points_per_decade: int
    amplitude: QuantityLike
    dc: QuantityLike = 0.0
    vs_ocv: bool = True

    name: ClassVar[str] = "PEIS"
    _units: ClassVar[dict[str, str]] = {"f_start": "Hz", "f_stop": "Hz", "amplitude": "V", "dc": "V"}

    def _check(self) -> None:
        self._check_sweep()

    def _limited(self):
        return [("dc", self.dc, "voltage_V"), ("dc+amplitude", self.dc + self.amplitude, "voltage_V"),
                ("dc-amplitude", self.dc - self.amplitude, "voltage_V")]


@dataclass(frozen=True)
class GEIS(_Impedance):
    """Galvanostatic impedance: sine of ``amplitude`` (A) around a ``dc`` current."""

    f_start: QuantityLike
    f_stop: QuantityLike
    points_per_decade: int
    amplitude: QuantityLike
    dc: QuantityLike = 0.0

    name: ClassVar[str] = "GEIS"
    _units: ClassVar[dict[str, str]] = {"f_start": "Hz", "f_stop": "Hz", "amplitude": "A", "dc": "A"}

    def _check(self) -> None:
        self._check_sweep()

    def _limited(self):
        return [("dc+amplitude", self.dc + self.amplitude, "current_A"),
                ("dc-amplitude", self.dc - self.amplitude, "current_A")]


Technique = OCV | Galvanostatic | Potentiostatic | CV | PEIS | GEIS


@dataclass(frozen=True)
class Reattach:
    """What a plan prepares to take up a technique the instrument may still be running after the computer that
    started it was gone (a crash, a power cut on the PC's side): the channel's technique is adopted, its rows
    collected from where the instrument's memory holds them, if the instrument runs it or holds its unread rows;
    otherwise ``technique`` is loaded and started as usual."""

    technique: _Technique
