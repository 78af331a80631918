"""The ophyd device over any :class:`~.analyser.GasAnalyser`: per-gas partial pressures and fractions.

Readable with ``trigger_and_read`` (trigger runs one measurement cycle) and monitorable with
``bps.monitor(ms)``: while monitored, the device measures every ``cycle_s`` on the lab clock
(``clock.call_every``), so in the simulated lab readings fall at the right lab times during a plan's waits,
and on hardware they follow the wall clock. Signal timestamps are the lab time of the cycle.
"""

from __future__ import annotations

import threading
from typing import Callable, Mapping

from ophyd import Component as Cpt
from ophyd import Device
from ophyd.status import Status

from ..clock import Clock
from ..signals import DriverSignal, SignalRO
from . import analyser as _analyser

_ON = {"on", "1", "true"}
_OFF = {"off", "0", "false"}


class _Measured(SignalRO):
    """A read-only value the device publishes once per measurement cycle."""

    def _publish(self, value: float, timestamp: float) -> None:
        old = self._readback
        self._readback = value
        self._metadata["timestamp"] = timestamp
        self._run_subs(sub_type=self.SUB_VALUE, old_value=old, value=value, timestamp=timestamp)


class GasAnalyser(Device):
    """Mass spectrometer: ``pressure_<gas>`` (Torr), ``fraction_<gas>`` (1) per watched gas, ``total_pressure``
    (Torr), ``time`` (lab time of the cycle, s), ``filament`` ("on"/"off", settable) and ``emission`` (mA).

    Build one with :func:`gas_analyser`, which adds the per-gas components for the backend's gases.
    """

    time = Cpt(_Measured, value=float("nan"), units="s", kind="normal")
    total_pressure = Cpt(_Measured, value=float("nan"), units="Torr", kind="normal")
    filament = Cpt(DriverSignal, getter="_get_filament", setter="_set_filament", kind="config")
    emission = Cpt(DriverSignal, getter="_get_emission", units="mA", kind="config")

    _GASES: tuple[str, ...] = ()

    def __init__(self, backend: _analyser.GasAnalyser, clock: Clock, *, name: str, cycle_s: float = 1.0,
                 safe_state: Mapping | None = None, **kwargs):
        if not cycle_s > 0:
            raise ValueError(f"{name}: cycle_s must be positive, got {cycle_s!r}")
        self.backend = backend
        self.clock = clock
        self.cycle_s = float(cycle_s)
        self.safe_state = dict(safe_state or {"filament": "off"})
        self._monitors: list[Callable] = []
        self._timer = None
        self._cycle_lock = threading.Lock()
        super().__init__(name=name, **kwargs)

    # -- measuring ----------------------------------------------------------------------------------
    def _measure(self) -> _analyser.GasReading:
        with self._cycle_lock:
            reading = self.backend.read()
            ts = reading.time
            for gas in self._GASES:
                getattr(self, f"pressure_{gas}")._publish(reading.pressures[gas], ts)
                getattr(self, f"fraction_{gas}")._publish(reading.fractions[gas], ts)
            self.total_pressure._publish(reading.total_pressure, ts)
            self.time._publish(ts, ts)
            return reading

    def trigger(self) -> Status:
        status = Status(obj=self)

        def run():
            try:
                self._measure()
            except Exception as exc:
                status.set_exception(exc)
            else:
                status.set_finished()

        threading.Thread(target=run, daemon=True, name=f"{self.name}-cycle").start()
        return status

    # -- monitoring (bluesky's Subscribable: callbacks receive read()) --------------------------------
    def subscribe(self, callback, event_type=None, run=True):
        if event_type is not None:
            return super().subscribe(callback, event_type=event_type, run=run)
        self._monitors.append(callback)
        if self._timer is None:
            self._timer = self.clock.call_every(self.cycle_s, self._on_cycle)
        return callback

    def clear_sub(self, cb, event_type=None):
        if cb in self._monitors:
            self._monitors.remove(cb)
            if not self._monitors and self._timer is not None:
                self._timer.cancel()
                self._timer = None
            return
        super().clear_sub(cb, event_type=event_type)

    def _on_cycle(self, now: float) -> None:
        if not self._monitors:
            return
        self._measure()
        readings = self.read()
        for callback in list(self._monitors):
            callback(readings)

    # -- filament -----------------------------------------------------------------------------------
    def _get_filament(self) -> str:
        return "on" if self.backend.filament else "off"

    def _set_filament(self, value) -> None:
        text = str(value).strip().lower()
        if text in _ON or value is True:
            self.backend.filament_on()
        elif text in _OFF or value is False:
            self.backend.filament_off()
        else:
            raise ValueError(f"{self.name}: filament must be 'on' or 'off', got {value!r}")

    def _get_emission(self) -> float:
        return self.backend.emission_mA if self.backend.filament else 0.0

    # -- housekeeping -------------------------------------------------------------------------------
    @property
    def gases(self) -> dict[str, int]:
        return self.backend.gases

    def safe(self) -> None:
        """Stop monitoring and put the head in its safe state (filament off unless the profile says otherwise)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._monitors.clear()
        if str(self.safe_state.get("filament", "off")).lower() in _OFF:
            self.backend.filament_off()
        if str(self.safe_state.get("multiplier", "")).lower() in _OFF and hasattr(self.backend, "multiplier_off"):
            self.backend.multiplier_off()

    def stop(self, *, success: bool = False) -> None:
        pass  # a measurement cycle ends by itself within one cycle; nothing moves


_classes: dict[tuple[str, ...], type] = {}


def analyser_class(gases) -> type:
    """The :class:`GasAnalyser` subclass with ``pressure_<gas>``/``fraction_<gas>`` for these gases."""
    key = tuple(gases)
    for gas in key:
        if not gas.isidentifier():
            raise ValueError(f"gas name {gas!r} cannot name a signal (use letters, digits, underscores)")
    if key not in _classes:
        body = {"_GASES": key}
        for gas in key:
            body[f"pressure_{gas}"] = Cpt(_Measured, value=float("nan"), units="Torr", kind="hinted")
            body[f"fraction_{gas}"] = Cpt(_Measured, value=float("nan"), units="1", kind="normal")
        _classes[key] = type(f"GasAnalyser_{'_'.join(key)}", (GasAnalyser,), body)
    return _classes[key]


def gas_analyser(backend: _analyser.GasAnalyser, clock: Clock, *, name: str, cycle_s: float = 1.0,
                 safe_state: Mapping | None = None) -> GasAnalyser:
    """An ophyd :class:`GasAnalyser` for *backend*'s watched gases."""
    cls = analyser_class(backend.gases)
    return cls(backend, clock, name=name, cycle_s=cycle_s, safe_state=safe_state)
