"""Plan arguments typed on a command line: ``k=v`` pairs to Python values, device names to devices.

Values read as TOML literals where they are ones (``3``, ``0.5``, ``true``, ``"text"``, ``[1, 2]``);
anything else (``0.5 mA/cm^2``, ``vmp3_1``, ``[clock, vmp3_1]``) is kept as text, so quantities with units
and device names need no quoting. Everything is checked against the plan's declared units and ranges
before the lab is brought up.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from typing import Any

from labctl.plans import ParameterError


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


def resolve_devices(value: Any, devices: Mapping[str, Any]) -> Any:
    """Replace device names (also inside lists) with the devices themselves."""
    if isinstance(value, str) and value in devices:
        return devices[value]
    if isinstance(value, list):
        return [resolve_devices(v, devices) for v in value]
    return value
