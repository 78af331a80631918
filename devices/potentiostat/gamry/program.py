"""How each vendor-neutral technique maps onto GamryCOM objects, decided before any COM call.

A :class:`Program` names the Dtaq, the signal and its arguments, the control mode, the current-range policy
and the stop tests; the backend then only executes it. Keeping the mapping pure makes it checkable without
an instrument and keeps every Gamry-specific choice in one place:

* the Reference 600 has no charge stop, so a charge limit becomes a duration (charge / current);
* potential limits on a constant current need a Dtaq with stop tests (``GamryDtaqCiiv``);
* a CV records one point per potential ``step``, so the sample period is step / scan rate;
* GamryCOM samples on time only, so a ``record_dE`` (record on a change of potential) is refused rather
  than silently recorded on time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from labctl.devices.potentiostat.techniques import CV, GEIS, OCV, PEIS, Galvanostatic, Potentiostatic

#: Longest constant signal a technique may ask for when nothing but a potential limit ends it.
MAX_DURATION_S = 7 * 24 * 3600.0
#: Grace after a run's expected length before a missing end event counts as lost: fixed, plus a fraction.
END_MARGIN_S, END_MARGIN_REL = 60.0, 0.05


def end_deadline(duration: float | None) -> float | None:
    """Lab seconds after the start by which a run of *duration* must have reported its end (None: no bound)."""
    return None if duration is None else duration * (1 + END_MARGIN_REL) + END_MARGIN_S


def readz_time_limit(freq: float) -> float:
    """Longest one ``GamryReadZ.Measure`` may take before its result counts as lost.

    Normal speed integrates a few cycles after settling; 20 cycles plus 30 s bounds that with room for
    range changes inside one measurement.
    """
    return 30.0 + 20.0 / freq


@dataclass(frozen=True)
class Program:
    """A technique translated for GamryCOM: the Dtaq or ReadZ setup and its signal."""

    dtaq: str                          # GamryCOM class name: GamryDtaqChrono, GamryDtaqCiiv, ...
    mode: str                          # "PstatMode" | "GstatMode"
    signal: str | None = None          # "GamrySignalConst" | "GamrySignalRupdn" | None (impedance)
    signal_args: tuple = ()            # Init arguments after the pstat and before the control mode
    chrono_type: str | None = None     # "ChronoPot" | "ChronoAmp" for GamryDtaqChrono
    stops: tuple[tuple[str, float], ...] = ()   # ("SetStopXMin"|"SetStopXMax"|..., value)
    ie_range_for: float | None = None  # fixed current range for this |current|; None = autorange
    cell_on: bool = True
    relative_to_ocv: bool = False      # signal value (const) or dc (impedance) is relative to the OCV
    frequencies: tuple[float, ...] = ()
    ac: float = 0.0
    dc: float = 0.0
    duration: float | None = None      # expected length, s
    notes: dict = field(default_factory=dict)


def program_for(technique, max_duration: float = MAX_DURATION_S) -> Program:
    """The Gamry program for *technique* (raises ``ValueError``/``TypeError`` for what it cannot run)."""
    if getattr(technique, "record_dE", None) is not None:
        raise ValueError(f"{technique.name}: record_dE={technique.record_dE:g} V is not supported on the Gamry "
                         "backend (GamryCOM records on time only); use record_dt instead")
    if isinstance(technique, OCV):
        return Program("GamryDtaqOcv", "PstatMode", "GamrySignalConst",
                       (0.0, technique.duration, technique.record_dt), cell_on=False,
                       duration=technique.duration)
    if isinstance(technique, Galvanostatic):
        return _galvanostatic(technique, max_duration)
    if isinstance(technique, Potentiostatic):
        stops = []
        if technique.i_min is not None:
            stops.append(("SetStopXMin", technique.i_min))
        if technique.i_max is not None:
            stops.append(("SetStopXMax", technique.i_max))
        return Program("GamryDtaqChrono", "PstatMode", "GamrySignalConst",
                       (technique.potential, technique.duration, technique.record_dt), chrono_type="ChronoAmp",
                       stops=tuple(stops), relative_to_ocv=technique.vs_ocv, duration=technique.duration)
    if isinstance(technique, CV):
        rate = technique.scan_rate
        period = technique.step / rate
        return Program("GamryDtaqRcv", "PstatMode", "GamrySignalRupdn",
                       (technique.e_start, technique.vertex1, technique.vertex2, technique.e_end,
                        rate, rate, rate, 0.0, 0.0, 0.0, period, technique.cycles),
                       duration=technique.duration())
    if isinstance(technique, PEIS):
        return Program("GamryReadZ", "PstatMode", frequencies=tuple(technique.frequencies()),
                       ac=technique.amplitude, dc=technique.dc, relative_to_ocv=technique.vs_ocv)
    if isinstance(technique, GEIS):
        peak = abs(technique.dc) + math.sqrt(2) * technique.amplitude
        return Program("GamryReadZ", "GstatMode", frequencies=tuple(technique.frequencies()),
                       ac=technique.amplitude, dc=technique.dc, ie_range_for=peak)
    raise TypeError(f"the Gamry backend cannot run {type(technique).__name__}")


def _galvanostatic(t: Galvanostatic, max_duration: float) -> Program:
    durations = []
    if t.duration is not None:
        durations.append(t.duration)
    if t.charge is not None:
        if t.current == 0:
            raise ValueError("CP: a charge limit needs a non-zero current (the Reference 600 ends a "
                             "constant-current step on time, so charge / current must be finite)")
        durations.append(t.charge / abs(t.current))
    duration = min(durations) if durations else max_duration
    if duration > max_duration:
        raise ValueError(f"CP: {duration:g} s is longer than the {max_duration:g} s a single Gamry signal may "
                         "run; split the step")
    stops = []
    if t.e_min is not None:
        stops.append(("SetStopXMin", t.e_min))
    if t.e_max is not None:
        stops.append(("SetStopXMax", t.e_max))
    ends_on_charge = t.charge is not None and (t.duration is None or t.charge / abs(t.current) <= t.duration)
    if t.limited:
        return Program("GamryDtaqCiiv", "GstatMode", "GamrySignalConst", (t.current, duration, t.record_dt),
                       stops=tuple(stops), ie_range_for=abs(t.current), duration=duration,
                       notes={"ends_on_charge": ends_on_charge})
    return Program("GamryDtaqChrono", "GstatMode", "GamrySignalConst", (t.current, duration, t.record_dt),
                   chrono_type="ChronoPot", ie_range_for=abs(t.current), duration=duration,
                   notes={"ends_on_charge": ends_on_charge})
