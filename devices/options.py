"""What a lab profile may say about an instrument, declared by its driver beside the driver's code.

Each driver module declares a :class:`DriverDeclaration`: the instrument kind, how it is reached, and its
options, limits and safe state as pydantic models. labctl assembles the table of drivers a profile may name
from these declarations, so a driver's baud rates, address range or watchdog range are written once, next to
the code that uses them, and a profile is checked completely without importing a vendor library or opening a
port. :meth:`DriverDeclaration.describe` turns a profile entry into an :class:`InstrumentDescription`, the same
facts a connected device reports, which is what plan parameters are checked against before anything connects.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

#: the kinds of instrument a profile may declare
KINDS = ("potentiostat", "syringe_pump", "valve", "stream_selector", "mass_spectrometer", "flow_controller", "clock")
#: the package under ``labctl.devices`` that holds a kind's drivers, where it is not named for the kind: a stream
#: selector is a multiposition valve actuator
KIND_PACKAGES = {"stream_selector": "valve"}

PositiveFloat = Annotated[float, Field(gt=0)]


class Settings(BaseModel):
    """Base of every options, limits and safe-state model: unknown keys refused, no silent type coercion
    (``channel = "1"`` is an error, not channel 1), finite numbers only."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


class SerialOptions(Settings):
    """Options every serial instrument has: the wall-time read timeout (either spelling)."""

    timeout: PositiveFloat | None = Field(None, description="wire read timeout in s")
    timeout_s: PositiveFloat | None = Field(None, description="wire read timeout in s")

    def wire_timeout(self, default: float = 1.0) -> float:
        """The read timeout in s: ``timeout``, else ``timeout_s``, else *default*."""
        for value in (self.timeout, self.timeout_s):
            if value is not None:
                return float(value)
        return default


def limit_range(unit: str, lo: float | None = None, hi: float | None = None) -> Any:
    """A profile limit written ``[min, max]`` in *unit*, which must lie within what the driver can do."""

    def check(value: Any) -> tuple[float, float]:
        if (not isinstance(value, (list, tuple)) or len(value) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
            raise ValueError(f"expected [min, max] in {unit}, got {describe_value(value)}")
        low, high = (float(v) for v in value)
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ValueError("not a number")
        if not low < high:
            raise ValueError(f"min {low:g} must be below max {high:g} {unit}")
        if lo is not None and low < lo:
            raise ValueError(f"min {low:g} {unit} is beyond what the driver allows ({lo:g} to {_bound(hi)} {unit})")
        if hi is not None and high > hi:
            raise ValueError(f"max {high:g} {unit} is beyond what the driver allows ({_bound(lo)} to {hi:g} {unit})")
        return low, high

    return Annotated[tuple[float, float] | None, BeforeValidator(lambda v: None if v is None else check(v)),
                     Field(None, description=f"[min, max] in {unit}")]


def _bound(value: float | None) -> str:
    return "unbounded" if value is None else f"{value:g}"


def describe_value(value: Any) -> str:
    """``integer 3``, ``string '1'``: a value as a one-line error message names it."""
    kinds = {bool: "boolean", int: "integer", float: "number", str: "string", dict: "table", list: "list"}
    return f"{kinds.get(type(value), type(value).__name__)} {value!r}"


class SettingError(ValueError):
    """A profile entry whose settings contradict each other; ``key`` is where (``safe_state.position``)."""

    def __init__(self, key: str, reason: str):
        self.key, self.reason = key, reason
        super().__init__(f"{key}: {reason}")


@dataclass(frozen=True)
class InstrumentDescription:
    """What plans check their parameters against: one instrument as the profile declares it or as the
    connected device reports it. ``None`` means "not known before connecting" (that check then happens when
    the device is used)."""

    name: str
    kind: str
    driver: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    limits: Mapping[str, Any] = field(default_factory=dict)
    electrode_area_cm2: float | None = None
    rate_range_uL_h: tuple[float, float] | None = None
    position_names: tuple[str, ...] | None = None
    gases: tuple[str, ...] | None = None
    setpoint_range_mL_min: tuple[float, float] | None = None

    def instrument_description(self) -> InstrumentDescription:
        """A description describes itself, so checks take descriptions and devices alike."""
        return self


#: what a driver can tell about its instrument from the profile alone: (options, limits) -> description fields
Describer = Callable[[Any, Any], dict]
#: a driver's checks across options, limits and safe state; raises :class:`SettingError`
CrossCheck = Callable[[Any, Any, Any], None]


@dataclass(frozen=True)
class DriverDeclaration:
    """One driver a profile may name (``newera.ne1000``): its kind, transport and settings models.

    ``transport`` is ``"serial"`` (any pyserial URL), ``"sdk"`` (``sim://NAME``, an IP address or one of
    ``sdk_addresses``, (regular expression, label) pairs of the vendor's own address forms) or ``"none"``. The factory
    that builds the device is ``labctl.factories.<vendor>:build``, the vendor being the part of the name
    before the dot.
    """

    name: str
    kind: Literal["potentiostat", "syringe_pump", "valve", "mass_spectrometer", "flow_controller", "clock"]
    transport: Literal["serial", "sdk", "none"]
    options: type[Settings] = Settings
    limits: type[Settings] = Settings
    safe_state: type[Settings] = Settings
    sdk_addresses: tuple[tuple[str, str], ...] = ()
    description: str = ""
    cross_check: CrossCheck | None = None
    describer: Describer | None = None

    @property
    def vendor(self) -> str:
        """The part of the driver's name before the dot: the module name of everything about it."""
        return self.name.partition(".")[0]

    def settings(self, options: Mapping | None = None, limits: Mapping | None = None,
                 safe_state: Mapping | None = None) -> tuple[Settings, Settings, Settings]:
        """The profile entry's settings as models (``pydantic.ValidationError`` or :class:`SettingError`)."""
        parsed = (self.options.model_validate(dict(options or {})), self.limits.model_validate(dict(limits or {})),
                  self.safe_state.model_validate(dict(safe_state or {})))
        if self.cross_check is not None:
            self.cross_check(*parsed)
        return parsed

    def describe(self, name: str, options: Mapping | None = None,
                 limits: Mapping | None = None) -> InstrumentDescription:
        """The instrument as its profile entry describes it, without connecting anything."""
        opts = self.options.model_validate(dict(options or {}))
        lims = self.limits.model_validate(dict(limits or {}))
        facts = {"options": dict(options or {}), "limits": dict(limits or {})}
        if self.describer is not None:
            facts.update(self.describer(opts, lims))
        return InstrumentDescription(name, self.kind, self.name, **facts)
