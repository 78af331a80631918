"""The lab profile: which instruments exist, how to reach them, their limits and safe states.

A profile is checked completely when loaded, without importing a vendor library or opening a port, so a
typo is reported as one line naming the file, the key and the reason instead of a traceback mid-experiment.
"""

from __future__ import annotations

import importlib.resources
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, ValidationError, model_validator

from labctl.devices.options import InstrumentDescription, PositiveFloat, SettingError, Settings, describe_value
from labctl.drivers import DRIVERS, KINDS, check_transport

__all__ = ["InstrumentSpec", "Profile", "ProfileError", "load_profile", "parse_profile"]


class ProfileError(ValueError):
    """A profile that cannot be used; the message is one line: ``FILE: KEY: reason``."""

    def __init__(self, source: str, key: str | None, reason: str):
        self.source, self.key, self.reason = source, key, reason
        super().__init__(f"{source}: {key}: {reason}" if key else f"{source}: {reason}")


@dataclass(frozen=True)
class InstrumentSpec:
    """One instrument of a profile as written there (options, limits and safe state as tables)."""

    name: str
    kind: str
    driver: str
    transport: str | None
    options: dict = field(default_factory=dict)
    limits: dict = field(default_factory=dict)
    safe_state: dict = field(default_factory=dict)
    #: where the instrument was declared: ``FILE: instruments.NAME`` (for error messages)
    source: str = ""


@dataclass
class Profile:
    """A checked lab profile: the lab, the simulated lab's table if any, the instruments."""

    path: str
    lab: dict
    sim: dict | None
    instruments: dict[str, InstrumentSpec]

    @property
    def name(self) -> str:
        """The lab's name (``lab.name``, else the profile file's stem)."""
        return self.lab.get("name") or Path(self.path).stem

    @property
    def simulated(self) -> bool:
        """Whether the profile starts the simulated lab."""
        return self.sim is not None

    def of_kind(self, kind: str) -> list[InstrumentSpec]:
        """The instruments of *kind*, in profile order."""
        return [spec for spec in self.instruments.values() if spec.kind == kind]

    def descriptions(self) -> dict[str, InstrumentDescription]:
        """Every instrument a session of this profile has (the implicit clock and the operator included), as
        its driver describes it from the profile alone: what plan calls are checked against before anything
        connects."""
        out = {s.name: DRIVERS[s.driver].declaration.describe(s.name, s.options, s.limits)
               for s in self.instruments.values()}
        if not self.of_kind("clock"):
            name = implicit_clock_name(self)
            out[name] = InstrumentDescription(name, "clock", "lab.clock")
        out.setdefault("operator", InstrumentDescription("operator", "operator"))
        return out

    def restricted(self, names) -> Profile:
        """The same lab with only the instruments in *names* (in profile order)."""
        names = set(names)
        unknown = names - set(self.instruments)
        if unknown:
            raise ProfileError(self.path, None, f"no instrument named {', '.join(sorted(unknown))}")
        return Profile(self.path, dict(self.lab), None if self.sim is None else dict(self.sim),
                       {n: s for n, s in self.instruments.items() if n in names})


def implicit_clock_name(profile: Profile) -> str:
    """What a session calls the clock it adds to a profile that declares none."""
    return "clock" if "clock" not in profile.instruments else "lab_clock"


def default_profile_path():
    return importlib.resources.files("labctl").joinpath("profiles/default.toml")


def load_profile(path: str | Path | None = None) -> Profile:
    """Read and check a profile; ``None`` means the packaged default (the paper's lab, simulated)."""
    resource = default_profile_path() if path is None else Path(path).expanduser()
    source = str(resource)
    try:
        text = resource.read_text(encoding="utf-8-sig")  # Notepad starts UTF-8 files with a BOM
    except FileNotFoundError:
        raise ProfileError(source, None, "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(source, None, f"cannot read: {exc}") from None
    base = Path(os.path.abspath(resource)).parent if path is not None else None
    return parse_profile(text, source, base_dir=base)


_TOML_POS = re.compile(r"\s*\(at line (\d+), column (\d+)\)")


def parse_profile(text: str, source: str = "<profile>", *, base_dir: str | Path | None = None) -> Profile:
    """Check the TOML *text* of a profile (*source* names it in messages).

    ``lab.data_dir`` gets ``$VARS`` and ``~`` expanded and, if relative, is taken relative to *base_dir*
    (the profile's folder), so a profile means the same place whichever folder labctl is started from.
    """
    try:
        data = tomllib.loads(text.removeprefix("\ufeff"))
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        hint = _WINDOWS_PATH_HINT if ("hex value" in msg or "escape" in msg) else ""
        m = _TOML_POS.search(msg)
        if m:
            raise ProfileError(f"{source}:{m.group(1)}", None,
                               f"TOML syntax: {_TOML_POS.sub('', msg)} (column {m.group(2)}){hint}") from None
        raise ProfileError(source, None, f"TOML syntax: {msg}{hint}") from None
    profile = _Checker(source).profile(data)
    data_dir = profile.lab.get("data_dir")
    if data_dir:
        where = Path(os.path.expanduser(os.path.expandvars(data_dir)))
        if not where.is_absolute() and base_dir is not None:
            where = Path(base_dir) / where
        profile.lab["data_dir"] = str(where)
    if "catalog" in profile.lab:  # a shared PostgreSQL catalog; $VARS keep its password out of the file
        profile.lab["catalog"] = _catalog_url(profile.lab["catalog"], source)
    return profile


def _catalog_url(value: str, source: str) -> str:
    from labctl.storage.location import check_url

    url = os.path.expandvars(value)
    reason = check_url(url)
    if reason:
        raise ProfileError(source, "lab.catalog", reason)
    return url


_WINDOWS_PATH_HINT = ("; in double quotes a backslash starts an escape: write Windows paths in single quotes "
                      "('C:\\lab\\data') or with forward slashes (\"C:/lab/data\")")


# -- checking -----------------------------------------------------------------------------------------------

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RESERVED = {"RE", "devices", "storage", "simlab", "profile", "run", "close", "md", "bps", "bp", "operator"}


class _Lab(Settings):
    name: str
    data_dir: str | None = None
    description: str | None = None
    catalog: str | None = None  # a shared PostgreSQL catalog, checked once $VARS are expanded


def _channel_form(channel: str) -> str:
    if not re.fullmatch(r"[\w.-]+:\d+", channel):
        raise ValueError(f"{channel!r} is not of the form \"unit:channel\"")
    return channel


class _Cell(Settings):
    kind: Literal["coin", "dems", "liquid", "afm"]
    electrolyte: Literal["ecdmc", "ecdmc_vc", "ecdmc_fec", "dme"]
    area_cm2: PositiveFloat
    channel: Annotated[str, AfterValidator(_channel_form)] | None = None


class _Gas(Settings):
    vessel: str | None = None


def _line(source: Any) -> Any:
    """A selector port's line: gas_port, carrier, closed or a cylinder's composition (fractions in Ar)."""
    if isinstance(source, dict):
        from labctl.sim.world.params import SPECIES

        unknown = sorted(set(source) - set(SPECIES))
        if unknown:
            raise ValueError(f"unknown gas {unknown[0]!r} in a line's composition; known: {', '.join(SPECIES)}")
        values = list(source.values())
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and x >= 0 for x in values) \
                or not 0 < sum(values) <= 1:
            raise ValueError("a line's composition gives mole fractions summing to at most 1")
    return source


class _Selector(Settings):
    """How the simulated lab plumbs a stream selector (``[sim.selectors.NAME]``, NAME its instrument)."""

    lines: dict[Annotated[str, Field(pattern=r"^[0-9]+$")],
                Annotated[Literal["gas_port", "carrier", "closed"] | dict[str, float], AfterValidator(_line)]]
    dead_volume_mL: PositiveFloat = 0.1
    position: int = Field(1, ge=1)


class _Sim(Settings):
    seed: int | None = None
    acceleration: float | None = Field(None, ge=0)
    noise: float | None = Field(None, ge=0)
    cells: dict[str, _Cell] = {}
    gas: _Gas = _Gas()
    selectors: dict[str, _Selector] = {}
    start: float | None = None

    @model_validator(mode="after")
    def _vessel(self) -> _Sim:
        vessel = self.gas.vessel
        if vessel is not None and vessel != "titration" and getattr(self.cells.get(vessel), "kind", None) != "dems":
            raise SettingError("gas.vessel", f"{vessel!r} is neither a dems cell in sim.cells nor \"titration\"")
        return self


class _Instrument(Settings):
    kind: str
    driver: str
    transport: Any = None
    options: dict[str, Any] = {}
    limits: dict[str, Any] = {}
    safe_state: dict[str, Any] = {}


_WHAT = {"options": "option", "limits": "limit", "safe_state": "key"}
_TYPES = {"int_type": "an integer", "float_type": "a number", "string_type": "a string", "bool_type": "true/false",
          "dict_type": "a table", "list_type": "a list", "tuple_type": "a list"}


def _first_error(exc: ValidationError, model: type[BaseModel], table: str = "") -> tuple[str, str]:
    """(dotted key, reason) of the first thing pydantic refused, worded as the profile's messages are."""
    errors = exc.errors()
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])  # a typo explains a missing key
    loc = [str(p) for p in err["loc"] if p != "[key]"]
    kind, value, ctx = err["type"], err.get("input"), err.get("ctx") or {}
    if kind == "missing":
        reason = "required but missing"
    elif kind == "extra_forbidden":
        what = _WHAT.get(table, "key")
        known = ", ".join(model.model_fields) or "none"
        reason = f"unknown {what}; known: {known}" if what != "limit" else f"unknown limit; known: {known}"
    elif kind in _TYPES:
        reason = f"expected {_TYPES[kind]}, got {describe_value(value)}"
    elif kind == "literal_error":
        reason = f"{value!r} is not one of {ctx.get('expected')}"
    elif kind in ("greater_than", "greater_than_equal"):
        left, bound = ("(", ctx["gt"]) if kind == "greater_than" else ("[", ctx["ge"])
        reason = f"{value!r} is below the allowed {left}{bound:g}, ...]"
    elif kind in ("less_than", "less_than_equal"):
        reason = f"{value!r} is above the allowed maximum {ctx.get('le', ctx.get('lt')):g}"
    elif kind == "finite_number":
        reason = "not a number"
    elif kind == "value_error" and isinstance(ctx.get("error"), SettingError):
        error = ctx["error"]
        return ".".join([*loc, error.key]), error.reason
    elif kind == "value_error":
        reason = str(ctx.get("error", err["msg"]))
    else:
        reason = err["msg"]
    return ".".join(loc), reason


class _Checker:
    def __init__(self, source: str):
        self.source = source

    def fail(self, key: str | None, reason: str):
        raise ProfileError(self.source, key, reason)

    def table(self, data: Any, key: str) -> dict:
        if not isinstance(data, dict):
            self.fail(key, f"expected a table, got {type(data).__name__} {data!r}")
        return data

    def model(self, model: type[BaseModel], data: dict, key: str, table: str = "") -> BaseModel:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            where, reason = _first_error(exc, model, table)
            self.fail(f"{key}.{where}" if where else key, reason)
        except SettingError as exc:
            self.fail(f"{key}.{exc.key}", exc.reason)

    def profile(self, data: dict) -> Profile:
        for name in data:
            if name not in ("lab", "sim", "instruments"):
                self.fail(name, "unknown table; expected lab, sim, instruments")
        if "lab" not in data:
            self.fail("lab", "required but missing")
        lab = self.table(data["lab"], "lab")
        self.model(_Lab, lab, "lab")
        sim = None
        if "sim" in data:
            sim = self.table(data["sim"], "sim")
            self.model(_Sim, sim, "sim")
        if "instruments" not in data:
            self.fail("instruments", "required but missing")
        raw = self.table(data["instruments"], "instruments")
        instruments = {name: self.instrument(name, spec) for name, spec in raw.items()}
        self.whole(instruments, sim)
        return Profile(self.source, lab, sim, instruments)

    def instrument(self, name: str, spec: Any) -> InstrumentSpec:
        key = f"instruments.{name}"
        spec = self.table(spec, key)
        if not _NAME.match(name):
            self.fail(key, "instrument names must be identifiers (letters, digits, _)")
        if name in _RESERVED:
            self.fail(key, f"{name!r} is reserved; choose another instrument name")
        entry = self.model(_Instrument, spec, key)
        if entry.kind not in KINDS:
            self.fail(f"{key}.kind", f"unknown kind {entry.kind!r}; known: {', '.join(KINDS)}")
        drv = DRIVERS.get(entry.driver)
        if drv is None:
            self.fail(f"{key}.driver", f"unknown driver {entry.driver!r}; known: {', '.join(sorted(DRIVERS))}")
        if drv.kind != entry.kind:
            self.fail(f"{key}.driver", f"driver {entry.driver!r} is a {drv.kind}, not a {entry.kind}")
        reason = check_transport(drv, entry.transport)
        if reason:
            self.fail(f"{key}.transport", reason)
        for table in ("options", "limits", "safe_state"):
            self.model(getattr(drv.declaration, table), dict(getattr(entry, table)), f"{key}.{table}", table)
        try:
            drv.declaration.settings(entry.options, entry.limits, entry.safe_state)
        except SettingError as exc:
            self.fail(f"{key}.{exc.key}", exc.reason)
        return InstrumentSpec(name=name, kind=entry.kind, driver=entry.driver, transport=entry.transport or None,
                              options=dict(entry.options), limits=dict(entry.limits),
                              safe_state=dict(entry.safe_state), source=f"{self.source}: {key}")

    def whole(self, instruments: dict[str, InstrumentSpec], sim: dict | None) -> None:
        clocks = [s.name for s in instruments.values() if s.kind == "clock"]
        if len(clocks) > 1:
            self.fail(f"instruments.{clocks[1]}", f"a lab has one clock; {clocks[0]!r} is already one")
        seen: dict[tuple, str] = {}
        for spec in instruments.values():
            if spec.kind == "potentiostat" and "channel" in spec.options:
                where = (spec.transport, spec.options["channel"])
                if where in seen:
                    self.fail(f"instruments.{spec.name}.options.channel",
                              f"channel {where[1]} of {where[0]} is already {seen[where]!r}")
                seen[where] = spec.name
            if spec.transport and spec.transport.startswith("sim://") and sim is None:
                self.fail(f"instruments.{spec.name}.transport",
                          f"{spec.transport!r} needs a [sim] table (the simulated lab) in the profile")
        self.selectors(instruments, (sim or {}).get("selectors") or {})

    def selectors(self, instruments: dict[str, InstrumentSpec], selectors: dict) -> None:
        """Each plumbed selector is a multiposition instrument of the profile, plumbed on its own ports, and
        the MS inlet is behind one of them at most."""
        if len(selectors) > 1:
            first, second = list(selectors)[:2]
            self.fail(f"sim.selectors.{second}", f"the MS inlet is already behind {first!r}")
        for name, plumbing in selectors.items():
            key = f"sim.selectors.{name}"
            spec = instruments.get(name)
            if spec is None or spec.driver != "vici.multiposition":
                self.fail(key, f"{name!r} is not a vici.multiposition instrument of the profile")
            positions = spec.options.get("positions")
            for port in plumbing.get("lines", {}):
                if not 1 <= int(port) <= positions:
                    self.fail(f"{key}.lines.{port}", f"port {port} is not one of the selector's ports 1-{positions}")
            if plumbing.get("position", 1) > positions:
                self.fail(f"{key}.position", f"port {plumbing['position']} is not one of the selector's ports "
                                             f"1-{positions}")
