"""The ophyd device over any :class:`~.analyser.GasAnalyser`: per-gas partial pressures and fractions.

Readable with ``trigger_and_read`` (trigger runs one measurement cycle) and monitorable with
``bps.monitor(ms)``: while monitored, the device measures every ``cycle_s`` on the lab clock
(``clock.call_every``), so in the simulated lab readings fall at the right lab times during a plan's waits,
and on hardware they follow the wall clock. Signal timestamps are the lab time of the cycle.

A monitored cycle that fails (a read timeout, an instrument alarm) is logged and the monitoring goes on; the
failure is raised, as a :class:`MonitoringError` naming the instrument, by the next ``trigger``/``read``, so the
plan learns that its stream has a gap. ``max_failed_cycles`` failures in a row stop the monitoring.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from time import localtime, strftime

from ophyd import Component as Cpt
from ophyd import Device
from ophyd.status import Status
from typing_extensions import override

from labctl.devices.clock import Clock
from labctl.devices.errors import InstrumentError
from labctl.devices.mass_spectrometer import analyser as _analyser
from labctl.devices.options import InstrumentDescription
from labctl.devices.signals import DriverSignal, SignalRO
from labctl.devices.status import run_in_thread

log = logging.getLogger(__name__)

_ON = {"on", "1", "true"}
_OFF = {"off", "0", "false"}


class MonitoringError(InstrumentError):
    """Measurement cycles failed while the device was monitored; ``failures`` holds their exceptions."""

    def __init__(self, instrument: str, message: str, failures: list[BaseException]):
        self.failures = failures
        super().__init__(instrument, message)


class _Measured(SignalRO):
    """A read-only value the device publishes once per measurement cycle."""

    def _publish(self, value: float, timestamp: float) -> None:
        old = self._readback
        self._readback = value
        self._metadata["timestamp"] = timestamp
        self._run_subs(sub_type=self.SUB_VALUE, old_value=old, value=value, timestamp=timestamp)


class GasAnalyser(Device):
    """Mass spectrometer: ``pressure_<gas>`` (Torr), ``fraction_<gas>`` (1) and ``current_<gas>`` (A, the ion
    current at the m/z the gas is watched at, multiplier gain divided out: what a calibration relates to
    amounts) per watched gas, ``total_pressure``
    (Torr), ``time`` (lab time of the cycle, s), ``filament`` ("on"/"off", settable) and ``emission`` (mA).

    Build one with :func:`gas_analyser`, which adds the per-gas components for the backend's gases.
    """

    # -- what the signals read and write (bound below, so a renamed method cannot be missed) --
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

    time = Cpt(_Measured, value=float("nan"), units="s", kind="normal")
    total_pressure = Cpt(_Measured, value=float("nan"), units="Torr", kind="normal")
    filament = Cpt(DriverSignal, getter=_get_filament, setter=_set_filament, kind="config")
    emission = Cpt(DriverSignal, getter=_get_emission, units="mA", kind="config")

    _GASES: tuple[str, ...] = ()

    def __init__(self, backend: _analyser.GasAnalyser, clock: Clock, *, name: str, cycle_s: float = 1.0,
                 safe_state: Mapping | None = None, max_failed_cycles: int = 3, **kwargs):
        if not cycle_s > 0:
            raise ValueError(f"{name}: cycle_s must be positive, got {cycle_s!r}")
        if int(max_failed_cycles) < 1:
            raise ValueError(f"{name}: max_failed_cycles must be at least 1, got {max_failed_cycles!r}")
        self.backend = backend
        self.clock = clock
        self.cycle_s = float(cycle_s)
        self.safe_state = dict(safe_state or {"filament": "off"})
        self._monitors: list[Callable] = []
        self._timer = None
        self._cycle_lock = threading.Lock()
        self.max_failed_cycles = int(max_failed_cycles)
        self._monitor_lock = threading.RLock()  # monitors, timer and the record of failed cycles
        self._failed: list[tuple[float, BaseException]] = []   # failed cycles not reported yet
        self._in_a_row = 0
        self._halted = False
        self._halt_reported = False
        super().__init__(name=name, **kwargs)

    def instrument_description(self) -> InstrumentDescription:
        """What plans check their parameters against: the gases watched."""
        return InstrumentDescription(self.name, "mass_spectrometer", gases=tuple(self._GASES))

    # -- measuring ----------------------------------------------------------------------------------
    def _measure(self) -> _analyser.GasReading:
        with self._cycle_lock:
            reading = self.backend.read()
            ts = reading.time
            for gas in self._GASES:
                getattr(self, f"pressure_{gas}")._publish(reading.pressures[gas], ts)
                getattr(self, f"fraction_{gas}")._publish(reading.fractions[gas], ts)
                getattr(self, f"current_{gas}")._publish(reading.currents[self.backend.gases[gas]], ts)
            self.total_pressure._publish(reading.total_pressure, ts)
            self.time._publish(ts, ts)
            return reading

    @override
    def trigger(self) -> Status:
        failure = self._take_failure()
        if failure is not None:
            status = Status(obj=self)
            status.set_exception(failure)
            return status
        return run_in_thread(self._measure, obj=self, clock=self.clock, name=f"{self.name}-cycle")

    @override
    def read(self):
        failure = self._take_failure()
        if failure is not None:
            raise failure
        return super().read()

    # -- monitoring (bluesky's Subscribable: callbacks receive read()) --------------------------------
    @override
    def subscribe(self, callback, event_type=None, run=True):
        if event_type is not None:
            return super().subscribe(callback, event_type=event_type, run=run)
        with self._monitor_lock:
            self._monitors.append(callback)
            if self._timer is None:
                self._halted, self._halt_reported, self._in_a_row = False, False, 0
                self._timer = self.clock.call_every(self.cycle_s, self._on_cycle)
        return callback

    @override
    def clear_sub(self, cb, event_type=None):
        with self._monitor_lock:
            if cb in self._monitors:
                self._monitors.remove(cb)
                if not self._monitors:
                    self._stop_timer()
                    if self._halted and self._halt_reported:
                        self._failed.clear()
                        self._halted = False
                    # otherwise what failed stays, to be reported by the next trigger/read
                return
        super().clear_sub(cb, event_type=event_type)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_cycle(self, now: float) -> None:
        if not self._monitors:
            return
        try:
            self._measure()
            readings = super().read()
        except Exception as exc:
            self._cycle_failed(now, exc)
            return
        with self._monitor_lock:
            self._in_a_row = 0
        for callback in list(self._monitors):
            callback(readings)

    def _cycle_failed(self, now: float, exc: Exception) -> None:
        with self._monitor_lock:
            self._failed.append((now, exc))
            del self._failed[:-100]  # a long run of sporadic failures keeps its latest ones
            self._in_a_row += 1
            halt = self._in_a_row >= self.max_failed_cycles and self._timer is not None
            if halt:
                self._stop_timer()
                self._halted = True
        if halt:
            log.error("%s: monitoring stopped after %d measurement cycles failed in a row; last: %s",
                      self.name, self._in_a_row, exc)
        else:
            log.warning("%s: measurement cycle at %s lab time failed (monitoring goes on): %s", self.name,
                        strftime("%H:%M:%S", localtime(now)), exc)

    def _take_failure(self) -> MonitoringError | None:
        """The failed cycles not reported yet, as one error; a halt is reported until monitoring ends."""
        with self._monitor_lock:
            if not self._failed:
                return None
            failed, halted = list(self._failed), self._halted
            if halted and self._monitors:
                self._halt_reported = True
            else:
                self._failed.clear()
                self._halted = False
        last = failed[-1][1]
        times = ", ".join(strftime("%H:%M:%S", localtime(t)) for t, _ in failed[-5:])
        if halted:
            what = f"monitoring stopped: {self.max_failed_cycles} measurement cycles failed in a row"
        else:
            what = f"{len(failed)} measurement cycle(s) failed while monitored, so the stream has gaps"
        error = MonitoringError(self.name, f"{what} (at {times} lab time); last: {type(last).__name__}: {last}",
                                [e for _, e in failed])
        error.__cause__ = last
        return error

    # -- filament -----------------------------------------------------------------------------------

    # -- housekeeping -------------------------------------------------------------------------------
    @property
    def gases(self) -> dict[str, int]:
        """Watched gas -> m/z it is measured at."""
        return self.backend.gases

    def safe(self) -> None:
        """Stop monitoring and put the head in its safe state: filament and electron multiplier off unless the
        profile says otherwise (switching the filament off switches a configured multiplier off too)."""
        with self._monitor_lock:
            self._stop_timer()
            self._monitors.clear()
            self._failed.clear()
            self._halted = False
        filament_off = str(self.safe_state.get("filament", "off")).lower() in _OFF
        multiplier = str(self.safe_state.get("multiplier", "")).lower()
        in_use = bool(getattr(self.backend, "multiplier_in_use", False))
        if filament_off:
            self.backend.filament_off()
        # A filament the profile keeps hot does not keep the CDEM at high voltage unless it says so too.
        if (multiplier in _OFF or (in_use and multiplier not in _ON)) and not (filament_off and in_use) \
                and hasattr(self.backend, "multiplier_off"):
            self.backend.multiplier_off()

    @override
    def stop(self, *, success: bool = False) -> None:
        pass  # a measurement cycle ends by itself within one cycle; nothing moves

    def close(self) -> None:
        """Stop monitoring and release the instrument's line."""
        with self._monitor_lock:
            self._stop_timer()
            self._monitors.clear()
        self.backend.close()


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
            body[f"current_{gas}"] = Cpt(_Measured, value=float("nan"), units="A", kind="normal")
        _classes[key] = type(f"GasAnalyser_{'_'.join(key)}", (GasAnalyser,), body)
    return _classes[key]


def gas_analyser(backend: _analyser.GasAnalyser, clock: Clock, *, name: str, cycle_s: float = 1.0,
                 safe_state: Mapping | None = None, max_failed_cycles: int = 3) -> GasAnalyser:
    """An ophyd :class:`GasAnalyser` for *backend*'s watched gases."""
    cls = analyser_class(backend.gases)
    return cls(backend, clock, name=name, cycle_s=cycle_s, safe_state=safe_state,
               max_failed_cycles=max_failed_cycles)
