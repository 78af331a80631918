"""Run metadata checked against what the simulated lab knows about its cells.

In the simulated lab the profile (and, once the lab runs, its world) says which cell sits on each potentiostat
and what it is filled with, so ``electrolyte=dme`` on a cell filled with EC:DMC is a mistake that would be
stored and reported as a fact; it is refused before the run opens, naming the instrument and the cell. On the
real lab nothing here knows better than the operator: metadata is the operator's word and is not checked.

The check reads what a run's start document says about itself: ``detectors`` and ``plan_args`` (the devices
by name), and the plan's own ``electrolyte`` argument, which wins when given (such plans assemble that cell).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from labctl.profile import InstrumentSpec, Profile

if TYPE_CHECKING:
    from labctl.engine import LabRunEngine

KEY = "electrolyte"


class MetadataContradiction(ValueError):
    """Metadata says something about a simulated cell that the simulated lab knows to be otherwise."""


@dataclass(frozen=True)
class CellFact:
    """What the simulated lab knows about the cell behind an instrument."""

    instrument: str
    cell: str
    electrolyte: str
    source: str  # where it is written, when that is not the running lab itself


def world_channel(spec: InstrumentSpec) -> str:
    """The simulated world's ``unit:channel`` behind a potentiostat instrument of the profile."""
    unit = spec.transport.split("://", 1)[-1].strip("/")
    if spec.driver.startswith("gamry."):
        return f"{unit.split('-')[0].lower()}:1"
    return f"{unit}:{int(spec.options.get('channel', 1))}"


def _simulated(profile: Profile, kind: str) -> list[InstrumentSpec]:
    return [s for s in profile.of_kind(kind) if (s.transport or "").startswith("sim://")]


def profile_cells(profile: Profile) -> dict[str, CellFact]:
    """The cells the profile's ``[sim]`` table puts behind its instruments (a potentiostat's channel, the
    mass spectrometer's gas port), as the lab starts."""
    if profile.sim is None:
        return {}
    cells = profile.sim.get("cells", {})
    by_channel = {c.get("channel"): name for name, c in cells.items() if c.get("channel")}
    facts = {}
    for spec in _simulated(profile, "potentiostat"):
        name = by_channel.get(world_channel(spec))
        if name is not None and cells[name].get(KEY):
            facts[spec.name] = CellFact(spec.name, name, cells[name][KEY], f"profile [sim.cells.{name}]")
    vessel = profile.sim.get("gas", {}).get("vessel")
    if vessel in cells and cells[vessel].get(KEY):
        for spec in _simulated(profile, "mass_spectrometer"):
            facts[spec.name] = CellFact(spec.name, vessel, cells[vessel][KEY], f"profile [sim.cells.{vessel}]")
    return facts


def world_cells(profile: Profile, world) -> dict[str, CellFact]:
    """The cells the running simulated *world* has behind the profile's instruments now (an operator may
    have assembled others since the lab started)."""
    facts = {}
    for spec in _simulated(profile, "potentiostat"):
        cell = world.channel(world_channel(spec)).cell
        if cell is not None:
            facts[spec.name] = CellFact(spec.name, cell.name, cell.electrolyte, "")
    vessel = world.gas.vessel
    if vessel in world.cells():
        cell = world.cell(vessel)
        for spec in _simulated(profile, "mass_spectrometer"):
            facts[spec.name] = CellFact(spec.name, vessel, cell.electrolyte, "")
    return facts


def _same(a, b) -> bool:
    """Electrolyte names compared as people write them: ``EC:DMC`` is ``ecdmc``."""
    def norm(x):
        return re.sub(r"[^a-z0-9]", "", str(x).lower())

    return norm(a) == norm(b)


def _named(md: Mapping) -> list[str]:
    names = list(md.get("detectors") or [])

    def walk(value):
        if isinstance(value, str):
            names.append(value)
        elif isinstance(value, Mapping):
            for v in value.values():
                walk(v)
        elif isinstance(value, Iterable):
            for v in value:
                walk(v)

    walk(md.get("plan_args") or {})
    return list(dict.fromkeys(names))


def check(md: Mapping, cells: Mapping[str, CellFact]) -> None:
    """Refuse *md* (a start document's metadata) whose ``electrolyte`` contradicts the cell behind any
    instrument the run uses; :class:`MetadataContradiction` says which."""
    given = md.get(KEY)
    if given is None or not cells:
        return
    own = (md.get("plan_args") or {}).get(KEY)
    if own is not None:  # the plan prepares its cell with this electrolyte
        if not _same(given, own):
            raise MetadataContradiction(
                f"{KEY}={given!r} contradicts the plan's own {KEY}={own!r}; give one of them")
        return
    for name in _named(md):
        fact = cells.get(name)
        if fact is not None and not _same(given, fact.electrolyte):
            source = f" ({fact.source})" if fact.source else ""
            raise MetadataContradiction(
                f"{KEY}={given!r} contradicts the simulated lab: {name} holds cell {fact.cell!r} filled with "
                f"{fact.electrolyte!r}{source}; give {KEY}={fact.electrolyte!r} or leave it out")


def validator(profile: Profile, simlab, RE: LabRunEngine) -> Callable[[dict], None]:
    """A ``md_validator`` for *RE* that checks the metadata a person gave (with the call or in ``RE.md``)
    against the running simulated lab, after the engine's previous validator; a plan's own metadata (a
    campaign that assembles each cell it tags) is the plan's word. On the real lab: the previous one alone."""
    then = RE.md_validator

    def validate(md: dict) -> None:
        then(md)
        # what the RunEngine was called with wins over the plan's own, which wins over RE.md (bluesky's order)
        personal = KEY in RE.call_metadata or md.get(KEY) == RE.md.get(KEY)
        if simlab is not None and md.get(KEY) is not None and personal:
            check(md, world_cells(profile, simlab.world))

    return validate
