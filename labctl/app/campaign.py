"""Campaign files: experiments, their instruments and their order, run with as much in parallel as the
instruments allow.

A campaign is TOML::

    [campaign]
    name = "electrolytes"
    md = { operator = "ana" }               # metadata of every run

    [[experiment]]
    name = "dme-cycle"
    plan = "galvanostatic_cycles"
    params = { pstat = "vmp3_1", cycles = 1, record_dt = "10 s" }
    md = { electrolyte = "dme" }
    checkpoint = { action = "assemble_cell", prompt = "Assemble a Na||Cu coin cell", params = { ... } }

    [[experiment]]
    name = "dme-titration"
    plan = "online_ms_titration"
    params = { cell = "coin_dme", electrolyte = "dme", valve = "dems_valve", d2o_pump = "d2o_pump" }
    after = ["dme-cycle"]

Everything is checked (plan names, every parameter against the plan's declaration and the lab profile,
instrument names, order constraints, no cycles) before anything connects; an error is one line naming the
file, the experiment and the reason. Experiments start in file order as their instruments and their
``after`` experiments allow; an operator ``checkpoint`` runs first, inside the experiment's run.
"""

from __future__ import annotations

import hashlib
import tomllib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from labctl.plans import ParameterError
from labctl.profile import Profile

NAME = r"^[A-Za-z0-9][\w.-]*$"


class CampaignError(ValueError):
    """A campaign that cannot run; the message is one line: ``FILE: WHERE: reason``."""


class _Checkpoint(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: str
    prompt: str
    params: dict[str, Any] = {}


class _Experiment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=NAME)
    plan: str
    params: dict[str, Any] = {}
    md: dict[str, str | int | float | bool] = {}
    after: list[str] = []
    checkpoint: _Checkpoint | None = None


class _Header(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    description: str = ""
    md: dict[str, str | int | float | bool] = {}


class _Campaign(BaseModel):
    model_config = ConfigDict(extra="forbid")
    campaign: _Header
    experiment: list[_Experiment] = Field(min_length=1)


@dataclass
class ExperimentSpec:
    """One experiment of a campaign, checked: its plan function and its parameters (device names as
    names: they are resolved once the lab is up)."""

    name: str
    plan: str
    func: Any
    params: dict
    md: dict
    after: list[str]
    checkpoint: dict | None
    instruments: list[str] = field(default_factory=list)


@dataclass
class Campaign:
    """A checked campaign: its experiments in file order and the metadata every run gets."""
    name: str
    source: str
    experiments: list[ExperimentSpec]
    md: dict
    description: str = ""
    sha256: str = ""   # of the file's text: a resumed campaign is checked to be the same

    def submit(self, lab, *, serial: bool = False, campaign_id: str | None = None,
               only: Mapping[str, dict] | None = None) -> list:
        """Submit every experiment to *lab* (a running session) and return them at once. ``serial``: each
        after the one before it in the file (what the campaign would take without parallelism).

        Every run records the campaign, its experiment, the file and its hash, and ``campaign_id`` (new unless
        given), which the runs of one execution of the campaign share. With *only* (experiment name ->
        ``{"params": ..., "md": ..., "checkpoint": bool}``, used to resume), just those experiments are
        submitted, their parameters and metadata updated; the others count as done.
        """
        from labctl.app.params_cli import resolve_devices
        from labctl.plans.stubs.operator import with_checkpoint

        campaign_id = campaign_id or str(uuid.uuid4())
        started: dict[str, Any] = {}
        previous = None
        for spec in self.experiments:
            change = {"params": {}, "md": {}, "checkpoint": True} if only is None else only.get(spec.name)
            if change is None:
                continue
            params = {**spec.params, **change.get("params", {})}
            kwargs = {k: resolve_devices(v, lab.devices) for k, v in params.items()}
            operator = lab.operator_for(spec.name)
            if "operator" in _parameters(spec.func) and "operator" not in kwargs:
                kwargs["operator"] = operator
            plan = spec.func(**kwargs)
            if spec.checkpoint is not None and change.get("checkpoint", True):
                cp = spec.checkpoint
                plan = with_checkpoint(plan, operator, cp["action"], cp["prompt"], **cp.get("params", {}))
            after = [started[a] for a in spec.after if a in started]
            after += [previous] if serial and previous is not None else []
            md = {"campaign": self.name, "campaign_experiment": spec.name, "campaign_id": campaign_id,
                  "campaign_file": str(Path(self.source).resolve()), "campaign_sha256": self.sha256,
                  **self.md, **spec.md, **change.get("md", {})}
            started[spec.name] = previous = lab.start(plan, name=spec.name, instruments=spec.instruments,
                                                      after=after, md=md)
        return list(started.values())


def load_campaign(path: str | Path, profile: Profile) -> Campaign:
    """Read and check a campaign file against *profile*; nothing is connected."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CampaignError(f"{source}: cannot read: {exc.strerror or exc}") from None
    return parse_campaign(text, profile, source=source)


def parse_campaign(text: str, profile: Profile, *, source: str = "<campaign>") -> Campaign:
    """Check campaign *text* against *profile* (see :func:`load_campaign`); *source* names it in errors."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CampaignError(f"{source}: not valid TOML: {exc}") from None
    try:
        model = _Campaign.model_validate(raw)
    except ValidationError as exc:
        raise CampaignError(f"{source}: {_where(exc, raw)}") from None
    from labctl.app.plan_registry import discover_plans

    plans = discover_plans()
    names = [e.name for e in model.experiment]
    specs = []
    for e in model.experiment:
        where = f"{source}: experiment {e.name!r}"
        if names.count(e.name) > 1:
            raise CampaignError(f"{where}: the name is used twice")
        func = plans.get(e.plan)
        if func is None:
            raise CampaignError(f"{where}: unknown plan {e.plan!r}; known: {', '.join(sorted(plans))}")
        for a in e.after:
            if a not in names:
                raise CampaignError(f"{where}: after {a!r}, which is not an experiment of this campaign")
            if a == e.name:
                raise CampaignError(f"{where}: cannot come after itself")
        try:
            params, instruments = _check_params(func, dict(e.params), profile)
        except ParameterError as exc:
            raise CampaignError(f"{where}: {exc}") from None
        specs.append(ExperimentSpec(e.name, e.plan, func, params, dict(e.md), list(e.after),
                                    None if e.checkpoint is None else e.checkpoint.model_dump(), instruments))
    _refuse_cycles(specs, source)
    return Campaign(model.campaign.name, source, specs, dict(model.campaign.md), model.campaign.description,
                    hashlib.sha256(text.encode("utf-8")).hexdigest())


def _check_params(func, params: dict, profile: Profile) -> tuple[dict, list[str]]:
    """The parameters checked against the plan's declaration and the profile's instruments (nothing is
    connected); the instruments they name, which the experiment will hold."""
    from labctl.calls import fill_device_defaults
    from labctl.plans import check_plan

    instruments = profile.descriptions()
    kinds: dict[str, list[str]] = {}
    for name, description in instruments.items():
        kinds.setdefault(description.kind, []).append(name)
    params = fill_device_defaults(func, params, kinds)
    check_plan(func, params, instruments)
    shared = {name for name, d in instruments.items() if d.kind in ("clock", "operator")}
    named = []
    for value in params.values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and item in instruments and item not in shared:
                named.append(item)
    return params, list(dict.fromkeys(named))


def _refuse_cycles(specs: list[ExperimentSpec], source: str) -> None:
    after = {s.name: s.after for s in specs}
    state: dict[str, int] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            loop = path[path.index(name):] + [name]
            raise CampaignError(f"{source}: experiments wait for each other in a circle: {' -> '.join(loop)}")
        state[name] = 1
        for a in after[name]:
            visit(a, path + [name])
        state[name] = 2

    for s in specs:
        visit(s.name, [])


def _where(exc: ValidationError, raw: dict) -> str:
    """The first validation error as ``experiment 'name': params: reason``."""
    err = exc.errors()[0]
    loc = list(err["loc"])
    if len(loc) >= 2 and loc[0] == "experiment" and isinstance(loc[1], int):
        items = raw.get("experiment") or []
        name = items[loc[1]].get("name") if loc[1] < len(items) and isinstance(items[loc[1]], dict) else None
        head = f"experiment {name!r}" if name else f"experiment #{loc[1] + 1}"
        loc = [head, *loc[2:]]
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    elif err["type"] == "missing":
        msg = "required"
    return f"{'.'.join(str(x) for x in loc)}: {msg}"


def _parameters(func) -> list[str]:
    import inspect

    return list(inspect.signature(func).parameters)


@dataclass(frozen=True)
class Figures:
    """How a campaign used lab time (seconds of lab time)."""

    makespan: float          # first start to last end
    serial_sum: float        # the experiments one after another
    bound: float             # no schedule can be shorter: the longest chain of ``after``, or the busiest
    chain: float             # instrument's total work, whichever is longer
    busiest: tuple[str, float]

    def lines(self) -> list[str]:
        """The figures as sentences, in hours of lab time."""
        h = 3600.0
        if not self.makespan > 0:   # everything ended at the lab time it started (stopped at once)
            return ["makespan 0 h of lab time: every experiment ended as it started"]
        return [f"makespan {self.makespan / h:.2f} h of lab time (serial sum {self.serial_sum / h:.2f} h, "
                f"{self.serial_sum / self.makespan:.2f}x shorter)",
                f"critical-path bound {self.bound / h:.2f} h (longest chain {self.chain / h:.2f} h, busiest "
                f"instrument {self.busiest[0]} {self.busiest[1] / h:.2f} h): makespan / bound "
                f"{self.makespan / self.bound:.3f}"]


def figures(experiments) -> Figures:
    """Makespan, serial sum and the critical-path bound of experiments that have ended."""
    ran = [e for e in experiments if e.started_at is not None and e.ended_at is not None]
    if not ran:
        raise ValueError("no experiment ran")
    took = {e.name: e.ended_at - e.started_at for e in ran}
    longest: dict[str, float] = {}

    def chain(e) -> float:
        if e.name not in longest:
            longest[e.name] = took.get(e.name, 0.0) + max((chain(a) for a in e.after), default=0.0)
        return longest[e.name]

    load: dict[str, float] = {}
    for e in ran:
        for name in e.instruments:
            load[name] = load.get(name, 0.0) + took[e.name]
    busiest = max(load.items(), key=lambda kv: kv[1]) if load else ("", 0.0)
    longest_chain = max(chain(e) for e in ran)
    return Figures(makespan=max(e.ended_at for e in ran) - min(e.started_at for e in ran),
                   serial_sum=sum(took.values()), bound=max(longest_chain, busiest[1]), chain=longest_chain,
                   busiest=busiest)
