"""Experiments in the background of a session: several at once, each its own run, instruments taken in turn.

``lab.start(plan)`` returns at once with an :class:`~labctl.experiment.Experiment`; ``lab.experiments``
lists them with their state and progress; ``lab.pause_all()`` (what Ctrl-C does at the instrument),
``lab.resume_all()``, ``lab.stop_all()`` act on all of them. Plans run at the prompt meanwhile may use
any instrument no running experiment holds.
"""

from __future__ import annotations

import inspect
import itertools
import logging
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from ophyd import Device

from labctl.experiment import Experiment
from labctl.scheduler import InstrumentBusy, Scheduler, UnknownInstrument

log = logging.getLogger(__name__)

#: commands that act on an instrument; run at the prompt, they are refused on one an experiment holds
_ACTING = frozenset({"set", "trigger", "kickoff", "complete", "stop", "stage", "unstage", "prepare",
                     "configure", "collect", "monitor"})


class ScanIds:
    """Scan ids shared by every RunEngine of a session, counting on from the newest stored run, so runs
    started at the same moment by different experiments never share one."""

    def __init__(self, last: callable):
        self._last, self._next, self._lock = last, None, threading.Lock()

    def __call__(self, md: dict) -> int:
        """The next scan id (bluesky's ``scan_id_source``)."""
        with self._lock:
            if self._next is None:
                try:
                    self._next = itertools.count(int(self._last()) + 1)
                except Exception as exc:  # a catalog problem must not stop an experiment
                    log.warning("could not read the last scan id (%s); counting from 1", exc)
                    self._next = itertools.count(1)
            return next(self._next)


class ParallelLab:
    """The background-experiment side of :class:`~labctl.session.Session` (which provides ``RE``,
    ``devices``, ``storage``, ``profile`` and the lab ``clock``)."""

    def _init_parallel(self, lab_clock, engine_factory) -> None:
        self._lab_clock = lab_clock
        self._engine_factory = engine_factory
        self.scheduler = Scheduler(lab_clock, self._experiment_engine, self._make_safe)
        self.RE.preprocessors.append(self._refuse_held)
        self._names = itertools.count(1)

    # -- starting ---------------------------------------------------------------------------------------
    def start(self, plan, *params: Any, name: str | None = None, instruments: Iterable[str] | None = None,
              after: Iterable[Experiment | str] = (), wait: bool = True, md: Mapping[str, Any] | None = None,
              **kwargs: Any) -> Experiment:
        """Run *plan* in the background as an experiment of its own and return it at once.

        *plan* is a plan call (``galvanostatic_cycles(lab.vmp3_1, lab.clock, cycles=10)``) or a plan
        function with its parameters (``lab.start(galvanostatic_cycles, lab.vmp3_1, lab.clock, cycles=10)``);
        given a function, an ``operator`` the call leaves out is this experiment's own, so checkpoints name
        it, and devices may be given by name (``pstat="vmp3_1"``). The instruments it holds are the devices
        it was given (or *instruments*); it waits for them, and for the experiments named in *after*, unless
        ``wait=False``, which refuses at once with :class:`InstrumentBusy` when one is held.

        A call that cannot run is refused here, in the caller, before anything connects or moves: its
        parameters fail the plan's declared checks (:class:`~labctl.plans.ParameterError`), it names an
        instrument this lab lacks (:class:`UnknownInstrument`), or, with ``wait=False``, an instrument it needs
        is held by another experiment.
        """
        from labctl.plans import check_plan_call, plan_call

        plan_name = getattr(plan, "__name__", None) or _plan_name(plan)
        name = name or f"{plan_name}-{next(self._names)}"
        if callable(plan) and not inspect.isgenerator(plan):
            signature = inspect.signature(plan)
            if "operator" in signature.parameters and "operator" not in kwargs and len(params) <= list(
                    signature.parameters).index("operator"):
                kwargs["operator"] = self.operator_for(name)
            params, kwargs = self._devices_by_name(plan, params, kwargs)
            plan = plan(*params, **kwargs)
        elif params or kwargs:
            raise TypeError("parameters go with a plan function, not with a plan already called")
        try:
            plan_call(plan)
        except KeyError:
            pass   # a plan from elsewhere (bluesky's own): checked by itself when it runs
        else:
            try:
                check_plan_call(plan, self.devices)
            except Exception:
                plan.close()
                raise
        held = list(instruments) if instruments is not None else self._instruments_of(plan)
        unknown = [n for n in held if n not in self.devices]
        if unknown:
            plan.close()
            raise UnknownInstrument(f"{name}: no instrument named {', '.join(map(repr, unknown))} in this lab; "
                                    f"instruments: {', '.join(self.devices)}")
        before = [self.experiment(a) if isinstance(a, str) else a for a in after]
        experiment = Experiment(name, plan, held, after=before, md=dict(md or {}), plan_name=plan_name)
        return self.scheduler.submit(experiment, wait=wait)

    def _devices_by_name(self, func, params: tuple, kwargs: dict) -> tuple[tuple, dict]:
        """The call's device parameters given by name (``pstat="vmp3_1"``) as this lab's devices; a name the
        lab lacks is left for the plan's check to refuse, naming the parameter."""
        from labctl.plans.checks import declarations
        from labctl.plans.params import Instrument

        declaration = getattr(func, "__plan__", None)
        if declaration is None:
            return params, kwargs
        try:
            bound = inspect.signature(declaration.func).bind(*params, **kwargs)
        except TypeError:
            return params, kwargs   # the call itself says what is wrong
        for pname, declared in declarations(declaration.func).items():
            value = bound.arguments.get(pname)
            if not isinstance(declared.converter, Instrument) or value is None:
                continue
            if isinstance(value, str):
                bound.arguments[pname] = self.devices.get(value, value)
            elif isinstance(value, (list, tuple)):
                bound.arguments[pname] = type(value)(self.devices.get(v, v) if isinstance(v, str) else v
                                                     for v in value)
        return (), dict(bound.arguments)

    def operator_for(self, experiment: str):
        """An operator device of the experiment's own: its checkpoints name it and are answered in turn."""
        from labctl.devices.operator import Operator

        shared = self.devices["operator"]
        return Operator(shared.confirmer, shared.clock, name=shared.name, experiment=experiment)

    # -- watching and steering --------------------------------------------------------------------------
    @property
    def experiments(self) -> list[Experiment]:
        """Every experiment of this session: ended, running, waiting."""
        return self.scheduler.experiments

    def experiment(self, name: str) -> Experiment:
        """The newest experiment called *name*."""
        for e in reversed(self.experiments):
            if e.name == name:
                return e
        raise KeyError(f"no experiment named {name!r}; known: {', '.join(e.name for e in self.experiments)}")

    def pause_all(self) -> None:
        """Pause every running experiment at its next checkpoint; nothing new starts."""
        self.scheduler.pause_all()

    def resume_all(self) -> None:
        """Resume every paused experiment; waiting ones may start again."""
        self.scheduler.resume_all()

    def stop_all(self, reason: str = "stopped by the operator") -> None:
        """End every experiment (cleanup runs; runs count as a success)."""
        self.scheduler.stop_all(reason)

    def abort_all(self, reason: str = "aborted by the operator") -> None:
        """End every experiment (cleanup runs; runs are marked aborted)."""
        self.scheduler.stop_all(reason, abort=True)

    def wait_all(self, timeout: float | None = None) -> list[Experiment]:
        """Wait until no experiment waits or runs; every experiment, in the order they ended."""
        return self.scheduler.wait_all(timeout)

    # -- internals --------------------------------------------------------------------------------------
    def _experiment_engine(self, name: str):
        RE = self._engine_factory(name)
        RE.md.update({k: v for k, v in self.RE.md.items() if k != "scan_id"})
        RE.md["experiment"] = name
        self.storage.subscribe(RE)
        return RE

    def _make_safe(self, names: Iterable[str]) -> None:
        from labctl.safety import UnsafeInstruments, make_safe

        reports = make_safe(self.devices, names)
        if reports:
            raise UnsafeInstruments(reports)

    def _instruments_of(self, plan) -> list[str]:
        """The lab's instruments among the devices a plan call was given."""
        from labctl.plans import plan_call

        try:
            given = plan_call(plan).devices
        except KeyError:   # a plan from elsewhere (bluesky's own): the devices among its arguments
            frame = getattr(plan, "gi_frame", None)
            given = [item for value in (frame.f_locals.values() if frame is not None else ())
                     for item in (value if isinstance(value, (list, tuple)) else [value]) if isinstance(item, Device)]
        found = [d.name for d in given if self.devices.get(d.name) is d]
        return [n for n in dict.fromkeys(found) if n not in self._shared_names()]

    def _shared_names(self) -> set[str]:
        return {s.name for s in self.profile.instruments.values() if s.kind == "clock"}

    def _refuse_held(self, plan):
        """Plans at the prompt: refused on an instrument a running experiment holds, naming it."""
        from bluesky.preprocessors import msg_mutator

        def check(msg):
            if msg.command in _ACTING and msg.obj is not None:
                root = msg.obj   # a move of one signal (``%mov mfc.setpoint 1``) is a move of its instrument
                while getattr(root, "parent", None) is not None:
                    root = root.parent
                name = getattr(root, "name", None)
                holder = self.scheduler.holder(name) if name else None
                if holder is not None:
                    raise InstrumentBusy(name, holder.name, "the prompt")
            return msg

        return msg_mutator(plan, check)


def _plan_name(plan) -> str:
    from labctl.plans import plan_call

    try:
        return plan_call(plan).plan_name   # a plan declared with @plan runs inside its decorator's generator
    except Exception:
        return getattr(getattr(plan, "gi_code", None), "co_name", None) or getattr(plan, "__name__", "plan")


__all__ = ["InstrumentBusy", "ParallelLab", "ScanIds", "UnknownInstrument"]
