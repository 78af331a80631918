"""The potentiostat channel as an ophyd v1 device; techniques run as a flyer.

``prepare(technique)`` checks the technique against the instrument's limits and loads it (nothing is
switched on), ``kickoff()`` switches the cell on and starts it, ``complete()`` finishes when the instrument
ends the technique, and ``collect_pages()`` hands over the rows decoded so far as event pages whose data keys
carry units, with the instrument's own time as a column (pages only: bluesky prefers them, and a device
offering both ``collect`` and ``collect_pages`` draws a warning on every collect). A plan can also loop "wait in lab
time, collect"
while the technique runs to stream long experiments.

Time-domain rows are collected from the device itself; impedance spectra (PEIS/GEIS) from
``device.spectrum``, a view of the same channel with the impedance columns, so a run can hold both kinds of
stream (bluesky describes a collectable once per run).

The completion watcher polls with the injected clock's ``sleep``: in the simulated lab the clock only
advances when somebody waits on it, so the watcher is what moves lab time while a plan waits for the end.
Channels whose backend answers a poll at once are polled by the clock's alarms (:mod:`labctl.devices.alarms`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from ophyd import Component as Cpt
from ophyd import Device
from ophyd.status import Status
from typing_extensions import override

from labctl.devices.alarms import alarms
from labctl.devices.clock import Clock
from labctl.devices.errors import InstrumentError
from labctl.devices.options import InstrumentDescription
from labctl.devices.potentiostat.backend import (
    IMPEDANCE_COLUMNS,
    INTEGER_COLUMNS,
    ROW_UNITS,
    TIME_COLUMNS,
    PotentiostatBackend,
)
from labctl.devices.potentiostat.techniques import Reattach
from labctl.devices.signals import DriverSignal, Signal
from labctl.devices.status import finished, run_in_thread

DEFAULT_POLL_S = 5.0   # lab seconds between polls while waiting for the end (the instrument buffers)


class _Rows:
    """Rows of one kind waiting to be collected, and their data keys."""

    def __init__(self, owner: Potentiostat, prefix: str, columns: tuple[str, ...]):
        self.owner, self.prefix, self.columns = owner, prefix, columns
        self.rows: list[tuple[dict, float]] = []   # (row, lab timestamp)

    def describe(self) -> dict:
        source = f"{self.owner.source}:{self.owner.name}"
        out = {}
        for col in self.columns:
            key = {"source": source, "dtype": "integer" if col in INTEGER_COLUMNS else "number", "shape": []}
            if ROW_UNITS.get(col):
                key["units"] = ROW_UNITS[col]
            out[f"{self.prefix}_{col}"] = key
        return out

    def take(self) -> list[tuple[dict, float]]:
        rows, self.rows = self.rows, []
        return rows

    def page(self, rows: list[tuple[dict, float]]) -> dict:
        data = {f"{self.prefix}_{c}": [r[c] for r, _ in rows] for c in self.columns}
        stamps = [ts for _, ts in rows]
        return {"data": data, "timestamps": {k: stamps for k in data}}



class Potentiostat(Device):
    """One potentiostat channel behind a :class:`PotentiostatBackend`."""

    # -- what the signals read and write (bound below, so a renamed method cannot be missed) --
    def _read_ewe(self) -> float:
        return float(self._instant()["Ewe"])

    def _read_current(self) -> float:
        return float(self._instant()["I"])

    def _read_state(self) -> str:
        return str(self._instant()["state"])

    def _acquiring(self) -> bool:
        return self._running

    def _technique_name(self) -> str:
        return self._technique.name if self._technique is not None else ""

    ewe = Cpt(DriverSignal, getter=_read_ewe, units="V", kind="hinted")
    current = Cpt(DriverSignal, getter=_read_current, units="A", kind="hinted")
    state = Cpt(DriverSignal, getter=_read_state, kind="normal")
    technique = Cpt(DriverSignal, getter=_technique_name, kind="config")
    electrode_area = Cpt(Signal, value=1.0, units="cm^2", kind="config")
    acquiring = Cpt(DriverSignal, getter=_acquiring, kind="omitted")   # a technique runs (as of the last poll)

    def __init__(self, backend: PotentiostatBackend, *, clock: Clock, name: str, limits: dict | None = None,
                 electrode_area_cm2: float = 1.0, poll_period: float = DEFAULT_POLL_S, source: str = "potentiostat",
                 **kwargs):
        if not poll_period > 0:
            raise ValueError(f"{name}: poll_period must be positive, got {poll_period}")
        self.backend = backend
        self.clock = clock
        self.limits = dict(limits or {})
        self.poll_period = float(poll_period)
        self.source = source
        self._lock = threading.RLock()
        self._technique = None
        self._running = False
        self._attached = False   # the prepared technique was found running on the instrument: kickoff starts nothing
        self._t0 = 0.0
        super().__init__(name=name, **kwargs)
        self.electrode_area.put(float(electrode_area_cm2))
        self.info = backend.connect()
        self._time_rows = _Rows(self, name, TIME_COLUMNS)
        self._eis_rows = _Rows(self, f"{name}_eis", IMPEDANCE_COLUMNS)
        self.spectrum = SpectrumView(self)

    def instrument_description(self) -> InstrumentDescription:
        """What plans check their parameters against: limits and the electrode area as they are now."""
        return InstrumentDescription(self.name, "potentiostat", limits=dict(self.limits),
                                     electrode_area_cm2=float(self.electrode_area.get()))

    # -- instantaneous readings ---------------------------------------------------------------------
    def _instant(self) -> dict:
        with self._lock:
            return self.backend.read_instant()

    # -- flyer --------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """Whether a technique runs (as of the last poll)."""
        return self._running

    @property
    def ended_by(self):
        """Why the last technique ended (``done``, ``limit``, ``stopped``); None while it runs."""
        return self.backend.ended_by

    @property
    def loaded(self):
        """The technique last prepared (None before any)."""
        return self._technique

    def prepare(self, technique) -> Status:
        """Check ``technique`` against the instrument limits and load it; the cell stays off.

        A :class:`~labctl.devices.potentiostat.techniques.Reattach` adopts the technique the instrument still
        runs (or holds unread rows of) instead, where the backend can tell (``backend.attach``); kickoff then
        starts nothing and the rows are collected as for a technique started here.
        """
        reattach = isinstance(technique, Reattach)
        technique = technique.technique if reattach else technique
        technique.validate(self.limits)
        with self._lock:
            if self._running:
                raise InstrumentError(self.name, f"cannot load {technique.name}: {self._technique_name()} is "
                                                 f"still running; stop it first")
            attach = getattr(self.backend, "attach", None) if reattach else None
            elapsed = attach(technique) if attach is not None else None
            if elapsed is None:
                self.backend.load(technique)
            else:
                self._t0 = self.clock.now() - elapsed
            self._attached = elapsed is not None
            self._technique = technique
        return finished(self)

    def kickoff(self) -> Status:
        """Switch the cell on and start the prepared technique."""
        with self._lock:
            if self._technique is None:
                raise InstrumentError(self.name, "kickoff without a technique: prepare one first")
            if self._attached:   # it runs already (see prepare)
                self._attached, self._running = False, True
                return finished(self)
            self._t0 = self.clock.now()
            try:
                self.backend.start()
            except Exception:
                self.backend.cell_off()   # a start refused half-way may have switched the cell on
                raise
            self._running = True
        return finished(self)

    def poll(self, *, unless_busy: bool = False) -> bool:
        """Fetch the rows the instrument has decoded; True while the technique runs.

        ``unless_busy``: if another thread works on the channel (a stop, which may wait on the lab clock
        holding the channel), skip this poll and report the technique as running; waiting for the channel
        while holding lab time would stop that wait from ever ending.
        """
        if not self._lock.acquire(blocking=not unless_busy):
            return self._running
        try:
            if not self._running:
                return False
            rows, running = self.backend.poll()
            t0 = self._t0
            for row in rows:
                (self._eis_rows if "freq" in row else self._time_rows).rows.append((row, t0 + row["time"]))
            self._running = running
            return running
        finally:
            self._lock.release()

    def complete(self) -> Status:
        """A status that finishes when the instrument ends the technique."""

        if getattr(self.backend, "poll_never_waits", False):
            return alarms(self.clock).every(self.poll_period, lambda: self.poll(unless_busy=True), obj=self)

        def watch():
            while self.poll(unless_busy=True):
                self.clock.sleep(self.poll_period)

        return run_in_thread(watch, obj=self, clock=self.clock, name=f"{self.name}-complete")

    @override
    def describe_collect(self) -> dict:
        return self._time_rows.describe()

    @override
    def collect_pages(self) -> Iterator[dict]:
        return self._pages(self._time_rows)

    def _pages(self, rows: _Rows) -> Iterator[dict]:
        self.poll()
        taken = rows.take()
        if taken:
            yield rows.page(taken)

    def stop(self, *, success: bool = False) -> None:
        """Stop the technique and leave the cell at open circuit; recorded rows stay collectable.

        The cell is switched off even when stopping fails; the failure is raised afterwards.
        """
        interrupt = getattr(self.backend, "interrupt", None)
        if interrupt is not None:
            interrupt()   # a poll waiting on the instrument holds the lock; let it go now
        with self._lock:
            try:
                if self._running:
                    self.backend.stop()
            finally:
                self.backend.cell_off()
        self.poll()  # drain what the instrument recorded up to the stop

    def safe(self) -> None:
        """The safe state: no technique running, cell at open circuit."""
        self.stop()

    def reconnect(self) -> None:
        """Connect to the instrument again after a fault (what labctl does before it retries ``safe()``)."""
        reconnect = getattr(self.backend, "reconnect", None)
        if reconnect is not None:
            with self._lock:
                reconnect()

    @override
    def destroy(self) -> None:
        try:
            self.safe()
        finally:
            try:
                self.backend.disconnect()
            finally:
                super().destroy()


class SpectrumView:
    """The impedance rows of a potentiostat as their own flyer (same channel, impedance data keys)."""

    def __init__(self, parent: Potentiostat):
        self.parent = parent

    @property
    def name(self) -> str:
        """The stream-facing name: the channel's name with ``_eis``."""
        return f"{self.parent.name}_eis"

    @override
    def prepare(self, technique) -> Status:
        return self.parent.prepare(technique)

    @override
    def kickoff(self) -> Status:
        return self.parent.kickoff()

    @override
    def complete(self) -> Status:
        return self.parent.complete()

    @override
    def stop(self, *, success: bool = False) -> None:
        self.parent.stop(success=success)

    @override
    def describe_collect(self) -> dict:
        return self.parent._eis_rows.describe()

    @override
    def collect_pages(self) -> Iterator[dict]:
        return self.parent._pages(self.parent._eis_rows)

    @override
    def read_configuration(self) -> dict:
        return self.parent.read_configuration()

    @override
    def describe_configuration(self) -> dict:
        return self.parent.describe_configuration()
