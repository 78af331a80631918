"""The one decorator every labctl plan uses: checks from the declaration, metadata, the run, a safe exit.

``@plan(check=..., metadata=..., cleanup=..., opens_run=True)`` on a generator function whose parameters
are declared (:mod:`labctl.plans.params`) makes calling it return a generator that, before its first
message:

- checks the call completely with :func:`~labctl.plans.checks.check_plan` (against the devices given);
- calls the plan body with the normalised arguments (floats in the declared units);
- opens one run whose start document holds ``plan_name``, ``plan_args`` (every argument, quantities with their
  units, devices by name), ``detectors`` (the devices given) and what ``metadata(values)`` adds, then the
  caller's ``md``;
- whatever happens, stops every potentiostat and syringe pump it was given (a cell left on or a pump left
  running changes the sample), and, when the run fails or is aborted, every flow controller (zero flow: the
  controllers keep their setpoint when nobody talks to them), then runs ``cleanup(values)``.

:func:`plan_call` tells, for any generator such a plan returned, which plan it is, its arguments and the
devices it was given, so an orchestrator can reserve those instruments before running it.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
from bluesky.utils import (
    FailedStatus,
    MsgGenerator,  # what a plan returns: bluesky's generator of messages
)

from labctl.plans.checks import PlanValues, check_call, declarations
from labctl.plans.params import Instrument, ParameterError, Unit

__all__ = ["MsgGenerator", "PlanCall", "attempt", "check_plan_call", "finalize_keeping_fault", "instrument_errors",
           "plan", "plan_call", "status_error"]

log = logging.getLogger(__name__)


#: device kinds a plan stops on any exit: left alone, they go on acting on the sample
STOPPED_ON_EXIT = ("potentiostat", "syringe_pump")
#: device kinds a plan stops when its run fails or is aborted: a flow a plan that ended well set is kept for
#: what comes next (a carrier gas the next measurement needs)
STOPPED_ON_FAULT = ("flow_controller",)


@dataclass(frozen=True)
class PlanCall:
    """One call of a plan: its name, its arguments (defaults included) and the devices among them."""

    plan_name: str
    arguments: dict[str, Any]
    devices: tuple[Any, ...]


def plan_call(gen: Any) -> PlanCall:
    """What a generator made by a labctl plan is a call of (until it has finished); ``KeyError`` otherwise.

    Read from the generator itself, so nothing outside it keeps its devices alive.
    """
    frame = getattr(gen, "gi_frame", None)
    if frame is None or getattr(gen, "gi_code", None) is not Declaration.execute.__code__:
        raise KeyError(f"{gen!r} is not a labctl plan call (or it has finished)")
    declaration, given = frame.f_locals["self"], frame.f_locals["given"]
    bound = inspect.signature(declaration.func).bind(**given)
    bound.apply_defaults()
    return PlanCall(declaration.name, dict(bound.arguments), tuple(_devices(bound.arguments)))


def check_plan_call(gen: Any, instruments: Mapping[str, Any] | None = None) -> PlanValues:
    """Check a plan call (a generator a labctl plan returned, not yet started) now, as its first message would;
    ``KeyError`` if *gen* is no labctl plan call. For whoever runs the call elsewhere (an experiment's thread):
    a bad call is refused in the caller, before anything connects. *instruments* (name -> device or
    description) resolves devices given by name."""
    frame = getattr(gen, "gi_frame", None)
    if frame is None or getattr(gen, "gi_code", None) is not Declaration.execute.__code__:
        raise KeyError(f"{gen!r} is not a labctl plan call (or it has finished)")
    declaration, given = frame.f_locals["self"], frame.f_locals["given"]
    return check_call(declaration.func, declaration.check, given, instruments)


@dataclass(frozen=True)
class Declaration:
    """A plan function and what the decorator does around it."""

    func: Callable
    check: Callable[[PlanValues], None] | None
    metadata: Callable[[PlanValues], dict] | None
    cleanup: Callable[[PlanValues], Any] | None
    opens_run: bool

    @property
    def name(self) -> str:
        return self.func.__name__

    def start_metadata(self, v: PlanValues) -> dict:
        declared = declarations(self.func)
        args = {k: _shown(value, declared.get(k)) for k, value in v.values.items() if k != "md"}
        md = {"plan_name": self.name, "plan_args": args, "detectors": [d.name for d in _devices(v.values)]}
        extra = dict(self.metadata(v)) if self.metadata is not None else {}
        args.update(extra.pop("plan_args", {}))
        md.update(extra)
        md.update(v.values.get("md") or {})
        return md

    def final(self, v: PlanValues, failed: bool) -> Generator:
        """Every step of the safe exit is tried, whatever the ones before it did; returns their errors."""
        errors: list = []
        stopped = STOPPED_ON_EXIT + (STOPPED_ON_FAULT if failed else ())
        for pname, decl in declarations(self.func).items():
            device = v.values.get(pname)
            if isinstance(decl.converter, Instrument) and decl.converter.kind in stopped and device:
                yield from attempt(bps.stop(device), f"stopping {device.name}", errors)
        if self.cleanup is not None:
            yield from attempt(self.cleanup(v) or (), f"{self.name}'s cleanup", errors)
        return errors

    def execute(self, given: dict) -> Generator:
        v = check_call(self.func, self.check, given)
        body = self.func(**v.values)
        if not self.opens_run:
            return (yield from body)
        result = {}

        def keep_result():
            result["value"] = yield from instrument_errors(body)

        ended = {"failed": False}

        def noting_failure(run):
            try:
                return (yield from run)
            except GeneratorExit:
                raise
            except BaseException:   # a fault, or an abort or stop thrown in by the RunEngine
                ended["failed"] = True
                raise

        run = noting_failure(bpp.run_wrapper(keep_result(), md=self.start_metadata(v)))
        yield from finalize_keeping_fault(run, lambda: self.final(v, ended["failed"]))
        return result.get("value")


def instrument_errors(plan: Generator) -> Generator:
    """Re-raise the instrument's own error (a typed labctl error naming it) rather than bluesky's wrapper
    around the failed status, whose text is only the status's repr."""
    try:
        return (yield from plan)
    except FailedStatus as exc:
        cause = status_error(exc)
        if cause is None:
            raise
        raise cause from None


def status_error(exc: BaseException) -> BaseException | None:
    """The error behind a failed status, if there is one."""
    if not isinstance(exc, FailedStatus):
        return None
    if isinstance(exc.__cause__, Exception):
        return exc.__cause__
    status = exc.args[0] if exc.args else None
    try:
        cause = status.exception() if callable(getattr(status, "exception", None)) else None
    except Exception:
        return None
    return cause if isinstance(cause, Exception) else None


def attempt(messages, what: str, errors: list) -> Generator:
    """Run the cleanup step *messages*; an error is logged and appended to *errors*, not raised, so the steps
    after it still run."""
    try:
        yield from instrument_errors(messages)
    except Exception as exc:
        log.error("%s failed: %s", what, exc)
        errors.append(exc)


def finalize_keeping_fault(plan: Generator, final: Callable[[], Generator]) -> Generator:
    """``bluesky.preprocessors.finalize_wrapper`` that never lets a cleanup error hide the fault that ended
    *plan*. *final()* runs its steps with :func:`attempt` and returns the errors: after a fault they are only
    logged and the fault is raised; after a clean end the first of them is raised."""
    try:
        ret = yield from plan
    except GeneratorExit:  # closed, not failed: nothing may be yielded any more
        raise
    except BaseException:
        yield from final()
        raise
    errors = yield from final()
    if errors:
        raise errors[0]
    return ret


def plan(func: Callable | None = None, *, check: Callable[[PlanValues], None] | None = None,
         metadata: Callable[[PlanValues], dict] | None = None, cleanup: Callable[[PlanValues], Any] | None = None,
         opens_run: bool = True):
    """Declare a plan (see the module docstring); usable bare (``@plan``) or with arguments."""

    def decorate(f: Callable) -> Callable:
        declaration = Declaration(f, check, metadata, cleanup, opens_run)
        signature = inspect.signature(f)

        @functools.wraps(f)
        def call(*args, **kwargs):
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError as exc:
                raise ParameterError(f"{f.__name__}: {exc}") from None
            return declaration.execute(dict(bound.arguments))  # what the caller gave, defaults left out

        call.__plan__ = declaration
        call._is_plan_ = True  # how bluesky (and so the queue server) tells a plan that is no generator function
        return call

    return decorate(func) if func is not None else decorate


def _devices(arguments: Mapping[str, Any]) -> list:
    """The devices among *arguments*, in order, inside lists too."""
    out = []
    for value in arguments.values():
        for item in value if isinstance(value, (list, tuple)) else (value,):
            if _is_device(item) and all(item is not d for d in out):
                out.append(item)
    return out


def _is_device(obj: Any) -> bool:
    return (not isinstance(obj, (str, bytes, int, float, Mapping)) and hasattr(obj, "name")
            and any(hasattr(obj, m) for m in ("read", "set", "kickoff")))


def _shown(value: Any, declared) -> Any:
    """An argument as run metadata records it: quantities with units, devices by name, JSON-friendly."""
    converter = getattr(declared, "converter", None)
    if isinstance(value, (list, tuple)):
        return [_shown(v, declared) for v in value]
    if isinstance(converter, Unit) and isinstance(value, float):
        return converter.show(value)
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, Mapping):
        return {str(k): _shown(v, None) for k, v in value.items()}
    if _is_device(value):
        return value.name
    return getattr(value, "__name__", str(value))
