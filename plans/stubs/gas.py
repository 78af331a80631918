"""Mass-spectrometer building blocks: sample the gas stream, record until a condition, wait for a baseline.

They open no run. The MS is any device with ``fraction_<gas>``/``pressure_<gas>`` readings and a settable
``filament`` (see ``labctl.devices.mass_spectrometer.device``); ``clock`` is the lab clock device. Every event
carries the
lab clock, the MS and any *extra* readables (an MFC, say), so flow, gas and time line up.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import bluesky.plan_stubs as bps
from bluesky.protocols import Movable, Readable

from labctl.devices.errors import LimitError
from labctl.plans.checks import describe
from labctl.plans.params import ParameterError
from labctl.plans.stubs.time import wait


class BaselineTimeout(RuntimeError):
    """The gas stream did not settle in time; ``above`` names each gas over its threshold (or the carrier
    under its minimum) with its last fraction."""

    def __init__(self, message: str, above: Mapping[str, float]):
        self.above = dict(above)
        super().__init__(message)


def fraction_key(ms: Readable, gas: str) -> str:
    """The data key of *gas*'s fraction on *ms*; ValueError naming the watched gases if it has none."""
    key = f"{ms.name}_fraction_{gas}"
    keys = ms.describe()
    if key not in keys:
        prefix = f"{ms.name}_fraction_"
        watched = sorted(k[len(prefix):] for k in keys if k.startswith(prefix))
        raise ValueError(f"{ms.name} does not watch {gas!r}; it watches {', '.join(watched) or 'nothing'}")
    return key


def check_watched(ms, gas: str) -> None:
    """ParameterError unless *ms* (a device or its description) watches *gas*; says which gases it watches."""
    gases = describe(ms).gases
    if gases is None:
        try:
            fraction_key(ms, gas)
        except ValueError as exc:
            raise ParameterError(str(exc)) from None
    elif gas not in gases:
        raise ParameterError(f"{ms.name} does not watch {gas!r}; it watches {', '.join(sorted(gases)) or 'nothing'}")


def sample(ms: Readable, clock: Readable, extra: Iterable[Readable] = (), *, stream: str = "primary"):
    """One event of clock, MS and *extra*; returns ``{data key: value}``."""
    readings = yield from bps.trigger_and_read([clock, ms, *extra], name=stream)
    return {key: reading["value"] for key, reading in (readings or {}).items()}


def lab_time(clock: Readable):
    """Lab time now, from the clock device."""
    now = yield from bps.rd(clock)
    return float(now or 0.0)


def _now(clock: Readable, reading: dict) -> float:
    """Lab time of a sample: the clock was read with it (no extra message to the RunEngine)."""
    return float(reading[f"{clock.name}_time"])


@dataclass(frozen=True)
class Level:
    """Where each reading sits over a quiet period: its mean and the scatter of single readings."""

    mean: dict
    std: dict
    count: int


def level(ms: Readable, clock: Movable, *, duration: float, period: float = 1.0, extra: Iterable[Readable] = (),
          stream: str = "primary"):
    """Record for *duration* lab s and return the :class:`Level` of every numeric reading (a baseline to
    measure a later peak against, with the noise that decides how close to it is "back")."""
    readings: list[dict] = []
    yield from record(ms, clock, duration=duration, period=period, extra=extra, stream=stream,
                      until=lambda r: readings.append(r) and False)
    numeric = [k for k, v in readings[-1].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    mean = {k: sum(r[k] for r in readings) / len(readings) for k in numeric}
    spread = {k: (sum((r[k] - mean[k]) ** 2 for r in readings) / max(len(readings) - 1, 1)) ** 0.5
              for k in numeric}
    return Level(mean, spread, len(readings))


def filament_on(ms):
    """Make sure the ion source emits; returns whether it already did (to restore it afterwards)."""
    filament = getattr(ms, "filament", None)
    if filament is None:
        return True
    state = yield from bps.rd(filament, default_value="on")
    if state != "on":
        yield from bps.mv(filament, "on")
        return False
    return True


def record(ms: Readable, clock: Movable, *, duration: float | None = None,
           until: Callable[[dict], bool] | None = None, period: float = 1.0, extra: Iterable[Readable] = (),
           stream: str = "primary"):
    """Sample every *period* lab s until *duration* s have passed or ``until(last reading)`` is true.

    ``until`` receives the flat ``{data key: value}`` of the last event. Returns that last reading.
    """
    if duration is None and until is None:
        raise ValueError("give a duration, a condition (until) or both")
    if not period > 0:
        raise ValueError(f"period={period!r} must be positive")
    extra = list(extra)
    start = None
    while True:
        last = yield from sample(ms, clock, extra, stream=stream)
        now = _now(clock, last)
        start = now if start is None else start
        if until is not None and until(last):
            return last
        if duration is not None and now - start >= duration - 1e-9:
            return last
        step = period if duration is None else min(period, start + duration - now)
        yield from bps.checkpoint()   # a pause (Ctrl-C) takes effect within one reading period
        yield from wait(clock, step)


def settle(ms: Readable, clock: Movable, *, thresholds: Mapping[str, float], carrier: str | None = "Ar",
           carrier_min: float = 0.99, hold: float = 300.0, timeout: float = 7200.0, period: float = 10.0,
           extra: Iterable[Readable] = (), stream: str = "primary", average: int = 1):
    """Sample every *period* until every gas in *thresholds* (fractions of the watched total) stays below
    its threshold and *carrier* at or above *carrier_min* for *hold* lab s. Raises :class:`BaselineTimeout`
    after *timeout* lab s. Returns the last reading (with ``average=n``, the mean of the last *n*).

    With ``average=n`` each test uses the mean of the last *n* readings, so a noisy mass channel (m/z 3
    and 4 sit near an RGA's noise floor) does not reset the hold on single spikes.
    """
    if isinstance(average, bool) or not isinstance(average, int) or average < 1:
        raise ValueError(f"average={average!r} must be a whole number of readings >= 1")
    keys = {gas: fraction_key(ms, gas) for gas in thresholds}
    carrier_key = fraction_key(ms, carrier) if carrier else None
    extra = list(extra)
    start = None
    since = None
    recent: deque = deque(maxlen=average)
    while True:
        last = yield from sample(ms, clock, extra, stream=stream)
        now = _now(clock, last)
        start = now if start is None else start
        recent.append(last)

        def level(key):
            return sum(r[key] for r in recent) / len(recent)

        above = {gas: level(key) for gas, key in keys.items() if not level(key) < thresholds[gas]}
        if carrier_key is not None and not level(carrier_key) >= carrier_min:
            above[carrier] = level(carrier_key)
        if above:
            since = None
        elif since is None:
            since = now
        if since is not None and now - since >= hold - 1e-9:
            return last if average == 1 else {
                k: (level(k) if isinstance(v, (int, float)) and not isinstance(v, bool) else v)
                for k, v in last.items()}
        if now - start >= timeout - 1e-9:
            words = []
            for gas, value in above.items():
                if gas == carrier and gas not in thresholds:
                    words.append(f"{gas} at {value:.6g} (needs >= {carrier_min:g})")
                else:
                    words.append(f"{gas} at {value:.6g} (threshold {thresholds[gas]:g})")
            detail = ", ".join(words) if words else f"clean for only {now - since:g} s of the {hold:g} s hold"
            raise BaselineTimeout(f"{ms.name}: no stable baseline after {timeout:g} s: {detail}", above)
        yield from bps.checkpoint()   # a pause (Ctrl-C) takes effect within one reading period
        yield from wait(clock, min(period, start + timeout - now) if since is None else period)


#: readings averaged by each baseline test of a titration or DEMS release (1 min at the default 5 s period)
AVERAGE = 12
#: how far above its baseline a gas may stay for a release to count as finished, at the least
RETURN_MARGIN = 2e-5
#: a gas is back at its baseline when the averaged reading is within this many standard errors of it
NOISE_SIGMAS = 4.0


def back_at(base: Level, gases, key: Callable[[str], str]) -> dict[str, float]:
    """Thresholds for "back at baseline": the baseline level plus the larger of a fixed margin and the noise
    of an averaged reading (a quiet m/z 3 or 4 on an RGA scatters by ~5e-5 of the carrier)."""
    out = {}
    for gas in gases:
        k = key(gas)
        noise = NOISE_SIGMAS * base.std[k] / AVERAGE ** 0.5
        out[gas] = min(1.0, base.mean[k] + max(RETURN_MARGIN, noise))
    return out


def gas_conditions(temperature_K: float, pressure_Pa: float, carrier_flow_mL_min: float) -> dict:
    """What the analysis needs to turn fractions into moles, recorded with the run."""
    return {"gas_temperature_K": temperature_K, "gas_pressure_Pa": pressure_Pa,
            "carrier_flow_mL_min": carrier_flow_mL_min}


def check_setpoint(mfc, flow_mL_min: float) -> None:
    """LimitError if *flow_mL_min* is outside what *mfc* (a device or its description) allows."""
    known = describe(mfc).setpoint_range_mL_min
    if known is not None and not known[0] <= flow_mL_min <= known[1]:
        raise LimitError(f"{mfc.name}: setpoint {flow_mL_min:g} mL/min is outside {known[0]:g}..{known[1]:g} mL/min")
