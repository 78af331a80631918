"""One call from a lab profile to a working lab: RunEngine, connected devices, storage and run metadata.

The CLI, the IPython entry point, the queue-server startup and the tests all start here, so every run is
stored the same way and every exit leaves the instruments in their safe state.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from bluesky import RunEngine
from bluesky.utils import RunEngineInterrupted

import labctl
from labctl.devices.clock import WallClock
from labctl.devices.errors import LimitError
from labctl.drivers import BuildContext, FactoryMissing, driver
from labctl.engine import run_engine
from labctl.metadata import validator, world_channel
from labctl.parallel import ParallelLab, ScanIds
from labctl.plans.params import ParameterError
from labctl.profile import InstrumentSpec, Profile, implicit_clock_name, load_profile
from labctl.safety import make_safe

log = logging.getLogger(__name__)


class SessionError(RuntimeError):
    """The lab could not be brought up or shut down cleanly; the message names the instrument."""


class Session(ParallelLab):
    """A running lab. Build it with :meth:`from_profile`; use it as a context manager. Plans run in the
    foreground with :meth:`run` (or ``RE``) and in the background, several at once, with :meth:`start`."""

    def __init__(self, *, profile: Profile, RE: RunEngine, devices: dict, clock, storage, simlab,
                 quiet: bool = True, display=None, engine_factory=None):
        self.profile = profile
        self.RE = RE
        self.devices = devices
        self.clock = clock
        self.storage = storage
        self.simlab = simlab
        self.quiet = quiet
        #: what shows a run while it goes (``display(clock)`` -> a document callback with ``close()``); the
        #: applications pass their live display, so a session by itself prints nothing
        self.display = display
        self.sim_checkpoints = None   # the simulated lab saved beside the data (labctl.simstate)
        self._closed = False
        self._init_parallel(clock.clock, engine_factory or (lambda name: run_engine(
            clock=clock.clock, name=name, context_managers=[])))

    # -- building -----------------------------------------------------------------------------------------
    @classmethod
    def from_profile(cls, profile: Profile | str | Path | None = None, *, data_dir: str | Path | None = None,
                     metadata: Mapping[str, Any] | None = None, quiet: bool = True, display=None,
                     sim_state: bytes | None = None) -> Session:
        """Bring up the lab described by *profile* (a :class:`Profile`, a path, or None for the default).

        With a ``[sim]`` table the simulated lab starts in-process and every device talks to it (from
        *sim_state*, a state it saved beside the data, when given: see :mod:`labctl.simstate`); without
        one the devices open the real ports and time is the wall clock.
        """
        if not isinstance(profile, Profile):
            profile = load_profile(profile)
        simlab = None
        devices: dict[str, Any] = {}
        storage = None
        try:
            storage = _open_storage(profile, data_dir)  # a bad data directory is reported before any connection
            if profile.sim is not None:
                from labctl.sim.lab import SimLab

                simlab = SimLab(dict(profile.sim), state=sim_state)
                ctx = BuildContext(clock=simlab.clock, simlab=simlab)
            else:
                ctx = BuildContext(clock=WallClock(), simlab=None)
            order = _build_order(profile)
            for spec in order:
                devices[spec.name] = _build(spec, ctx)
            clock = devices[order[0].name]
            if "operator" not in devices:
                devices["operator"] = _operator(simlab, ctx.clock, profile)
            scan_ids = ScanIds(lambda: _last_scan_id(storage))
            RE = run_engine(scan_id_source=scan_ids, clock=ctx.clock, name="prompt")
            RE.md_validator = validator(profile, simlab, RE)
            storage.subscribe(RE)
            RE.md.update(_run_metadata(profile, simlab, metadata or {}))

            def engine(name: str):
                engine = run_engine(scan_id_source=scan_ids, clock=ctx.clock, name=name, context_managers=[])
                engine.md_validator = validator(profile, simlab, engine)
                return engine

        except BaseException:
            _shutdown(devices, storage, simlab)
            raise
        session = cls(profile=profile, RE=RE, devices=devices, clock=clock, storage=storage, simlab=simlab,
                      quiet=quiet, display=display, engine_factory=engine)
        if simlab is not None:
            from labctl.simstate import SimCheckpoints

            session.sim_checkpoints = SimCheckpoints(simlab, storage)
        return session

    # -- using ----------------------------------------------------------------------------------------------
    def __getattr__(self, name: str):
        devices = self.__dict__.get("devices") or {}
        if name in devices:
            return devices[name]
        raise AttributeError(f"{type(self).__name__} has no attribute or device {name!r}")

    def __dir__(self) -> Iterable[str]:
        return [*super().__dir__(), *self.devices]

    def of_kind(self, kind: str) -> list:
        """The devices of *kind* (``potentiostat``, ``syringe_pump``...), in profile order."""
        return [self.devices[s.name] for s in self.profile.instruments.values()
                if s.kind == kind and s.name in self.devices]

    def run(self, plan, *, md: Mapping[str, Any] | None = None, live: bool | None = None,
            keep_paused: bool = False) -> tuple[str, ...]:
        """Run *plan*; return the uids of the runs it opened. Shows progress unless the session is quiet.

        An interrupted plan (Ctrl-C) is aborted, so the plan's cleanup leaves the hardware safe, and
        :class:`~bluesky.utils.RunEngineInterrupted` propagates. With ``keep_paused`` (interactive use) the
        run stays paused instead, to be continued with :meth:`resume` (from its last checkpoint, e.g. the
        operator step it was waiting at) or ended with ``RE.abort()``/``RE.stop()``.
        """
        if self._closed:
            raise SessionError("this session is closed")
        held = self._instruments_of(plan) if inspect.isgenerator(plan) else list(self.devices)
        try:
            return self._drive(lambda: self.RE(plan, **dict(md or {})), live, keep_paused)
        except (RunEngineInterrupted, ParameterError, LimitError):
            raise
        except Exception as exc:  # a fault: the plan's instruments safe, retried; what is not, said by name
            exc.unsafe = make_safe(self.devices, held)
            raise

    def resume(self, *, live: bool | None = None, keep_paused: bool = False) -> tuple[str, ...]:
        """Continue a run left paused by :meth:`run` with ``keep_paused``."""
        if self.RE.state != "paused":
            raise SessionError(f"nothing to resume: the RunEngine is {self.RE.state}")
        return self._drive(self.RE.resume, live, keep_paused)

    def _drive(self, go, live: bool | None, keep_paused: bool) -> tuple[str, ...]:
        show = (not self.quiet) if live is None else live
        display = token = None
        if show and self.display is not None:
            display = self.display(getattr(self.clock, "clock", None))
            token = self.RE.subscribe(display)
        try:
            return tuple(go())
        except RunEngineInterrupted:
            if self.RE.state == "paused" and not keep_paused:
                self.RE.abort("interrupted by the operator")
            raise
        finally:
            if token is not None:
                self.RE.unsubscribe(token)
                display.close()

    # -- closing --------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Abort a paused run (so its cleanup runs and its stop is recorded), put every instrument in its
        safe state, drain storage, stop the simulated lab. Idempotent.

        Raises :class:`SessionError` listing what failed, after trying everything.
        """
        if self._closed:
            return
        self._closed = True
        problems = []
        if any(not e.finished for e in self.experiments):  # each one's cleanup runs and its stop is recorded
            try:
                self.scheduler.stop_all("session closed", abort=True)
                self.scheduler.wait_all(timeout=600)
            except Exception as exc:
                problems.append(f"ending the experiments: {exc}")
                log.error("ending the experiments failed: %s", exc)
        self.scheduler.close()
        if self.RE.state != "idle":  # a paused run: aborting it runs the plan's cleanup and records its stop
            try:
                self.RE.abort("session closed")
            except Exception as exc:
                problems.append(f"aborting the paused run: {exc}")
                log.error("aborting the paused run failed: %s", exc)
        if self.sim_checkpoints is not None:
            self.sim_checkpoints.close()
        problems += _shutdown(self.devices, self.storage, self.simlab)
        if problems:
            raise SessionError("; ".join(problems))

    def __enter__(self) -> Session:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:  # do not hide the error that ended the block
            try:
                self.close()
            except SessionError as err:
                log.error("while closing after %s: %s", exc_type.__name__, err)

    def __repr__(self) -> str:
        where = "simulated" if self.simlab is not None else "hardware"
        return f"<Session {self.profile.name!r} ({where}): {', '.join(self.devices)}>"


def _implicit_clock(profile: Profile) -> InstrumentSpec:
    return InstrumentSpec(name=implicit_clock_name(profile), kind="clock", driver="lab.clock", transport=None,
                          source=f"{profile.path}: (implicit clock)")


def _build_order(profile: Profile) -> list[InstrumentSpec]:
    """The clock first (a profile without one gets one), then the instruments in profile order."""
    clocks = profile.of_kind("clock") or [_implicit_clock(profile)]
    return clocks + [s for s in profile.instruments.values() if s.kind != "clock"]


def _operator(simlab, clock, profile: Profile):
    """The person at the bench as a device: checkpoints confirmed at the console, or, in the simulated lab,
    performed on the simulated world by its operator."""
    from labctl.devices.operator import Operator, console_confirmer

    if simlab is None:
        return Operator(console_confirmer, clock, name="operator")

    def perform(checkpoint) -> str:
        params = dict(checkpoint.params)
        pstat = params.pop("potentiostat", None)
        if pstat is not None:  # the plan names an instrument; the simulated world wires cells to channels
            params.setdefault("channel", world_channel(profile.instruments[pstat]))
        simlab.operator.perform(checkpoint.action, **params)
        return "simulated operator"

    perform.immediate = True
    return Operator(perform, clock, name="operator")


def _build(spec: InstrumentSpec, ctx: BuildContext):
    try:
        factory = driver(spec.driver).load_factory()
    except FactoryMissing as exc:
        raise FactoryMissing(f"{spec.source}: {exc}") from None
    try:
        device = factory(spec, ctx)
    except Exception as exc:
        raise SessionError(f"{spec.source}: cannot bring up {spec.driver}: {exc}") from exc
    if getattr(device, "name", None) != spec.name:
        raise SessionError(f"{spec.source}: factory returned a device named {device.name!r}, not {spec.name!r}")
    return device


def _open_storage(profile: Profile, data_dir):
    try:
        from labctl import storage as storage_mod
    except ModuleNotFoundError as exc:
        raise SessionError(f"run storage is not available ({exc})") from None
    directory = Path(data_dir).expanduser() if data_dir is not None else storage_mod.data_dir(
        profile.lab.get("data_dir"))
    try:
        return storage_mod.Storage(directory, catalog=profile.lab.get("catalog"))
    except OSError as exc:
        raise SessionError(f"cannot use the data directory {directory}: {exc.strerror or exc}") from None
    except storage_mod.CatalogError as exc:  # a shared catalog out of reach: said before any instrument connects
        raise SessionError(str(exc)) from None


def _last_scan_id(storage) -> int:
    """The scan id of the most recently written run file (its first line), without waiting for the catalog
    to open; the catalog's answer when the files cannot be read."""
    runs_dir = getattr(storage, "runs_dir", None)
    if runs_dir is not None:
        from labctl.storage.jsonl import read_documents

        files = sorted(Path(runs_dir).glob("*/*/*/*.jsonl"), key=lambda p: p.stat().st_mtime)
        for path in reversed(files):
            for name, doc in read_documents(path):
                if name == "start" and doc.get("scan_id") is not None:
                    return int(doc["scan_id"])
                break
        return 0
    newest = storage.runs(None, limit=1)
    return (newest[0].scan_id or 0) if newest else 0


def _run_metadata(profile: Profile, simlab, metadata: Mapping[str, Any]) -> dict:
    md = {"profile": profile.name, "profile_path": str(profile.path), "simulated": simlab is not None,
          "labctl_version": labctl.__version__,
          "instruments": {s.name: s.driver for s in profile.instruments.values()}}
    if profile.sim is not None and "seed" in profile.sim:
        md["sim_seed"] = profile.sim["seed"]
    md.update({k: v for k, v in metadata.items() if v is not None})
    return md


def _shutdown(devices: dict, storage, simlab) -> list[str]:
    """Safe state for every device (last built first), then storage, then the simulated lab."""
    problems = make_safe(devices, reversed(list(devices)))
    for name, device in reversed(list(devices.items())):
        func = getattr(device, "close", None)
        if callable(func):
            try:
                func()
            except Exception as exc:
                problems.append(f"{name}.close(): {exc}")
                log.error("%s.close() failed: %s", name, exc)
    for what, obj in (("storage", storage), ("simulated lab", simlab)):
        if obj is not None:
            try:
                obj.close()
            except Exception as exc:
                problems.append(f"{what}: {exc}")
                log.error("closing %s failed: %s", what, exc)
    return problems
