"""Plan arguments typed on a command line: ``k=v`` pairs to Python values, device names to devices.

Values read as TOML literals where they are ones (``3``, ``0.5``, ``true``, ``"text"``, ``[1, 2]``);
anything else (``0.5 mA/cm^2``, ``vmp3_1``, ``[clock, vmp3_1]``) is kept as text, so quantities with units
and device names need no quoting. Everything is checked against the plan's declared units and ranges
before the lab is brought up.
"""

from __future__ import annotations

import inspect
import tomllib
from collections.abc import Callable, Mapping
from typing import Any

from labctl.plans import ParameterError
from labctl.plans.checks import declarations
from labctl.plans.params import Instrument

#: Parameter names that mean "the device of this kind" in plans that do not declare their devices' kinds.
KIND_PARAMETER_NAMES = {
    "potentiostat": ("potentiostat", "pstat"),
    "syringe_pump": ("syringe_pump", "pump"),
    "valve": ("valve",),
    "mass_spectrometer": ("mass_spectrometer", "ms", "rga"),
    "flow_controller": ("flow_controller", "mfc"),
    "clock": ("clock",),
    "operator": ("operator",),
}


def parse_value(text: str) -> Any:
    """A command-line value as a number, boolean, string or list (see the module docstring)."""
    text = text.strip()
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        pass
    if len(text) >= 2 and text[0] == "[" and text[-1] == "]":
        inner = text[1:-1].strip()
        return [parse_value(item) for item in _split(inner)] if inner else []
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def _split(text: str) -> list[str]:
    """Split on commas outside brackets and quotes."""
    items, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return [item for item in (i.strip() for i in items) if item]


def parse_assignments(pairs: list[str], *, what: str = "--param") -> dict[str, Any]:
    """``["k=v", ...]`` -> ``{k: value}``; a pair without ``=`` or a repeated key is refused."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ParameterError(f"{what} {pair!r}: expected NAME=VALUE")
        if key in out:
            raise ParameterError(f"{what} {key} given twice")
        out[key] = parse_value(value)
    return out


def fill_device_defaults(func: Callable, kwargs: dict, devices_by_kind: Mapping[str, list[str]]) -> dict:
    """Give each missing required device parameter the lab's only device of its kind (declared, or else told
    by the parameter's name: ``pstat``, ``pump``, ``clock``...), or among several the one named as the
    parameter (``mfc`` beside a ``std_mfc``); leave it missing when that does not settle it."""
    declared = declarations(func)
    out = dict(kwargs)
    for pname, p in inspect.signature(func).parameters.items():
        if pname in out or p.default is not inspect.Parameter.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        converter = declared[pname].converter if pname in declared else None
        if isinstance(converter, Instrument):
            kinds = [converter.kind] if converter.kind and not declared[pname].sequence else []
        else:
            kinds = [kind for kind, names in KIND_PARAMETER_NAMES.items() if pname in names]
        for kind in kinds:
            names = devices_by_kind.get(kind, [])
            if len(names) == 1:
                out[pname] = names[0]
            elif pname in names:
                out[pname] = pname
    return out


def resolve_devices(value: Any, devices: Mapping[str, Any]) -> Any:
    """Replace device names (also inside lists) with the devices themselves."""
    if isinstance(value, str) and value in devices:
        return devices[value]
    if isinstance(value, list):
        return [resolve_devices(v, devices) for v in value]
    return value
