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
from typing import Any

from labctl.drivers import DRIVERS, KINDS, Opt, check_transport

__all__ = ["InstrumentSpec", "Profile", "ProfileError", "load_profile", "parse_profile"]


class ProfileError(ValueError):
    """A profile that cannot be used; the message is one line: ``FILE: KEY: reason``."""

    def __init__(self, source: str, key: str | None, reason: str):
        self.source, self.key, self.reason = source, key, reason
        super().__init__(f"{source}: {key}: {reason}" if key else f"{source}: {reason}")


@dataclass(frozen=True)
class InstrumentSpec:
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
    path: str
    lab: dict
    sim: dict | None
    instruments: dict[str, InstrumentSpec]

    @property
    def name(self) -> str:
        return self.lab.get("name") or Path(self.path).stem

    @property
    def simulated(self) -> bool:
        return self.sim is not None

    def of_kind(self, kind: str) -> list[InstrumentSpec]:
        return [spec for spec in self.instruments.values() if spec.kind == kind]

    def restricted(self, names) -> "Profile":
        """The same lab with only the instruments in *names* (in profile order)."""
        names = set(names)
        unknown = names - set(self.instruments)
        if unknown:
            raise ProfileError(self.path, None, f"no instrument named {', '.join(sorted(unknown))}")
        return Profile(self.path, dict(self.lab), None if self.sim is None else dict(self.sim),
                       {n: s for n, s in self.instruments.items() if n in names})


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
    return profile


_WINDOWS_PATH_HINT = ("; in double quotes a backslash starts an escape: write Windows paths in single quotes "
                      "('C:\\lab\\data') or with forward slashes (\"C:/lab/data\")")


# -- checking -----------------------------------------------------------------------------------------------

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RESERVED = {"RE", "devices", "storage", "simlab", "profile", "run", "close", "md", "bps", "bp", "operator"}
_LAB = {"name": Opt(str, required=True), "data_dir": Opt(str), "description": Opt(str)}
_SIM = {"seed": Opt(int), "acceleration": Opt(float, min=0), "noise": Opt(float, min=0),
        "cells": Opt(dict), "gas": Opt(dict), "start": Opt(float)}
_CELL = {"kind": Opt(str, required=True, choices=("coin", "dems", "liquid", "afm")),
         "electrolyte": Opt(str, required=True, choices=("ecdmc", "ecdmc_vc", "ecdmc_fec", "dme")),
         "area_cm2": Opt(float, required=True, min=0, min_exclusive=True),
         "channel": Opt(str)}
_INSTRUMENT_KEYS = ("kind", "driver", "transport", "options", "limits", "safe_state")


class _Checker:
    def __init__(self, source: str):
        self.source = source

    def fail(self, key: str | None, reason: str):
        raise ProfileError(self.source, key, reason)

    def table(self, data: Any, key: str) -> dict:
        if not isinstance(data, dict):
            self.fail(key, f"expected a table, got {type(data).__name__} {data!r}")
        return data

    def fields(self, data: dict, schema: dict[str, Opt], key: str, *, what: str = "key") -> None:
        for name in data:
            if name not in schema:
                known = ", ".join(schema) or "none"
                self.fail(f"{key}.{name}", f"unknown {what}; known: {known}")
        for name, opt in schema.items():
            if name not in data:
                if opt.required:
                    self.fail(f"{key}.{name}", "required but missing")
                continue
            reason = opt.check(data[name])
            if reason:
                self.fail(f"{key}.{name}", reason)

    def profile(self, data: dict) -> Profile:
        for name in data:
            if name not in ("lab", "sim", "instruments"):
                self.fail(name, "unknown table; expected lab, sim, instruments")
        if "lab" not in data:
            self.fail("lab", "required but missing")
        lab = self.table(data["lab"], "lab")
        self.fields(lab, _LAB, "lab")
        sim = None
        if "sim" in data:
            sim = self.sim(self.table(data["sim"], "sim"))
        if "instruments" not in data:
            self.fail("instruments", "required but missing")
        raw = self.table(data["instruments"], "instruments")
        instruments = {name: self.instrument(name, spec) for name, spec in raw.items()}
        self.whole(instruments, sim)
        return Profile(self.source, lab, sim, instruments)

    def sim(self, sim: dict) -> dict:
        self.fields(sim, _SIM, "sim")
        cells = self.table(sim.get("cells", {}), "sim.cells")
        for name, cell in cells.items():
            self.fields(self.table(cell, f"sim.cells.{name}"), _CELL, f"sim.cells.{name}")
            channel = cell.get("channel")
            if channel is not None and not re.fullmatch(r"[\w.-]+:\d+", channel):
                self.fail(f"sim.cells.{name}.channel", f"{channel!r} is not of the form \"unit:channel\"")
        gas = self.table(sim.get("gas", {}), "sim.gas")
        self.fields(gas, {"vessel": Opt(str)}, "sim.gas")
        vessel = gas.get("vessel")
        if vessel is not None and vessel != "titration":
            if cells.get(vessel, {}).get("kind") != "dems":
                self.fail("sim.gas.vessel", f"{vessel!r} is neither a dems cell in sim.cells nor \"titration\"")
        return sim

    def instrument(self, name: str, spec: Any) -> InstrumentSpec:
        key = f"instruments.{name}"
        spec = self.table(spec, key)
        if not _NAME.match(name):
            self.fail(key, "instrument names must be identifiers (letters, digits, _)")
        if name in _RESERVED:
            self.fail(key, f"{name!r} is reserved; choose another instrument name")
        for k in spec:
            if k not in _INSTRUMENT_KEYS:
                self.fail(f"{key}.{k}", f"unknown key; known: {', '.join(_INSTRUMENT_KEYS)}")
        for k in ("kind", "driver"):
            if k not in spec:
                self.fail(f"{key}.{k}", "required but missing")
            if not isinstance(spec[k], str):
                self.fail(f"{key}.{k}", f"expected a string, got {spec[k]!r}")
        kind, driver_name = spec["kind"], spec["driver"]
        if kind not in KINDS:
            self.fail(f"{key}.kind", f"unknown kind {kind!r}; known: {', '.join(KINDS)}")
        drv = DRIVERS.get(driver_name)
        if drv is None:
            self.fail(f"{key}.driver", f"unknown driver {driver_name!r}; known: {', '.join(sorted(DRIVERS))}")
        if drv.kind != kind:
            self.fail(f"{key}.driver", f"driver {driver_name!r} is a {drv.kind}, not a {kind}")
        transport = spec.get("transport")
        reason = check_transport(drv, transport)
        if reason:
            self.fail(f"{key}.transport", reason)
        options = self.table(spec.get("options", {}), f"{key}.options")
        self.fields(options, drv.options, f"{key}.options", what="option")
        limits = self.table(spec.get("limits", {}), f"{key}.limits")
        for lname in limits:
            if lname not in drv.limits:
                known = ", ".join(drv.limits) or "none"
                self.fail(f"{key}.limits.{lname}", f"unknown limit for {driver_name}; known: {known}")
            reason = drv.limits[lname].check(limits[lname])
            if reason:
                self.fail(f"{key}.limits.{lname}", reason)
        safe = self.table(spec.get("safe_state", {}), f"{key}.safe_state")
        self.fields(safe, drv.safe_state, f"{key}.safe_state")
        self.cross_check(key, drv.kind, options, limits, safe)
        return InstrumentSpec(name=name, kind=kind, driver=driver_name, transport=transport or None,
                              options=options, limits=limits, safe_state=safe, source=f"{self.source}: {key}")

    def cross_check(self, key, kind, options, limits, safe):
        if kind == "valve":
            positions = options.get("positions", {})
            for port in positions:
                if port not in ("A", "B"):
                    self.fail(f"{key}.options.positions.{port}", "a two-position valve has ports A and B")
            names = list(positions.values()) if positions else ["A", "B"]
            pos = safe.get("position")
            if pos is not None and pos not in names:
                allowed = ", ".join(repr(p) for p in names)
                self.fail(f"{key}.safe_state.position", f"{pos!r} is not a position of the valve ({allowed})")
        if kind == "flow_controller":
            cap = options.get("capacity_mL_min")
            flow = limits.get("flow_mL_min")
            if cap is not None and flow is not None and flow[1] > cap:
                self.fail(f"{key}.limits.flow_mL_min", f"max {flow[1]:g} mL/min exceeds the capacity {cap:g}")
            setpoint = safe.get("setpoint_mL_min")
            if setpoint is not None and flow is not None and not flow[0] <= setpoint <= flow[1]:
                self.fail(f"{key}.safe_state.setpoint_mL_min", f"{setpoint:g} is outside the flow limits {flow}")

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
