"""A plan call checked against a lab profile before anything connects: the same check for the command line,
campaign files and Python.

``check(galvanostatic_cycles, "mylab.toml", pstat="vmp3_1", cycles=10)`` checks every parameter against the
plan's declaration and the profile's instrument descriptions, with devices given by name (a device parameter
left out gets the lab's only device of its kind, as on the command line). Nothing is built or connected, so a
script can check all its plan calls before it opens a :class:`~labctl.session.Session`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from labctl.plans.checks import PlanValues, check_plan, declarations
from labctl.plans.params import Instrument
from labctl.profile import Profile, load_profile

__all__ = ["KIND_PARAMETER_NAMES", "check", "devices_by_kind", "fill_device_defaults"]

#: Parameter names that mean "the device of this kind" in plans that do not declare their devices' kinds.
KIND_PARAMETER_NAMES = {
    "potentiostat": ("potentiostat", "pstat"),
    "syringe_pump": ("syringe_pump", "pump"),
    "valve": ("valve",),
    "stream_selector": ("selector", "stream_selector"),
    "mass_spectrometer": ("mass_spectrometer", "ms", "rga"),
    "flow_controller": ("flow_controller", "mfc"),
    "clock": ("clock",),
    "operator": ("operator",),
}


def check(plan: Callable, profile: Profile | str | Path | None = None, /, **params: Any) -> PlanValues:
    """Check the call ``plan(**params)`` against *profile* (a :class:`Profile`, a path, or None for the
    default lab) without connecting anything; raises a one-line :class:`~labctl.plans.ParameterError`."""
    if not isinstance(profile, Profile):
        profile = load_profile(profile)
    instruments = profile.descriptions()
    return check_plan(plan, fill_device_defaults(plan, params, devices_by_kind(instruments)), instruments)


def devices_by_kind(instruments: Mapping[str, Any]) -> dict[str, list[str]]:
    """Instrument names per kind, in profile order, from instrument descriptions."""
    kinds: dict[str, list[str]] = {}
    for name, description in instruments.items():
        kinds.setdefault(description.kind, []).append(name)
    return kinds


def fill_device_defaults(func: Callable, kwargs: dict, devices_by_kind: Mapping[str, list[str]]) -> dict:
    """Give each missing required device parameter the lab's only device of its kind (declared, or else told
    by the parameter's name: ``pstat``, ``pump``, ``clock``...), or among several the one named as the
    parameter (``mfc`` beside a ``std_mfc``); leave it missing when that does not settle it."""
    declared = declarations(func)
    out = dict(kwargs)
    declaration = getattr(func, "__plan__", None)
    signature = inspect.signature(declaration.func if declaration is not None else func)
    for pname, p in signature.parameters.items():
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
