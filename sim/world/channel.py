"""A potentiostat channel: analog front end plus the firmware that runs a program of Steps.

Both vendor fakes (EC-Lab and Gamry) translate their techniques into Steps and read Samples back, so the
behaviour that matters to a measurement (limits checked at a fine internal step, the crossing sample always
recorded, recording by time or potential change, realistic time per impedance frequency) lives here once.
Galvanostatic and open-circuit steps are evaluated on whole time grids with numpy; potential-controlled steps
are stepped one internal step at a time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

MODES = ("ocv", "cc", "cp_e", "sweep", "eis")
INTERNAL_DT = 0.01      # s: the firmware's internal step unless recording asks for finer
HOLD_DT = 0.1           # s: longest internal step of a potential hold
BLOCK = 8192            # grid points evaluated at once
E_NOISE = 1e-4          # V, reading noise of Ewe at noise = 1
I_NOISE_REL, I_NOISE_ABS = 1e-4, 1e-10   # current reading noise
Z_NOISE = 3e-3          # relative impedance noise (x 5 above 10 kHz)


@dataclass(frozen=True)
class Limit:
    """A potential or current limit that ends a step."""

    var: str            # "Ewe" | "I"
    op: str             # "<" | ">"
    value: float
    action: str = "next"   # "next" | "stop"

    def __post_init__(self):
        if self.var not in ("Ewe", "I"):
            raise ValueError(f"limit variable must be 'Ewe' or 'I', got {self.var!r}")
        if self.op not in ("<", ">"):
            raise ValueError(f"limit operator must be '<' or '>', got {self.op!r}")
        if self.action not in ("next", "stop"):
            raise ValueError(f"limit action must be 'next' or 'stop', got {self.action!r}")
        if not math.isfinite(self.value):
            raise ValueError(f"limit value must be finite, got {self.value!r}")

    def hit(self, e, i):
        x = e if self.var == "Ewe" else i
        return x < self.value if self.op == "<" else x > self.value


@dataclass(frozen=True)
class Step:
    """One step a potentiostat channel runs: what it controls, its limits and how it records."""

    mode: str
    value: float = 0.0
    duration: float | None = None
    charge_limit: float | None = None
    limits: tuple = ()
    record_dt: float | None = None
    record_dE: float | None = None
    vs_ocv: bool = False
    vertices: tuple = ()
    scan_rate: float | None = None
    cycles: int = 1
    frequencies: tuple = ()
    amplitude: float = 0.0
    galvanostatic: bool = False
    dc: float = 0.0
    cycle: int = 0          # reported in Sample.cycle (a sweep reports its own cycle count instead)

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"unknown step mode {self.mode!r}; choose from {MODES}")
        object.__setattr__(self, "limits", tuple(l if isinstance(l, Limit) else Limit(*l) for l in self.limits))
        for name in ("duration", "charge_limit", "record_dt", "record_dE"):
            v = getattr(self, name)
            if v is not None and not v >= 0:
                raise ValueError(f"step {name} must be >= 0, got {v!r}")
        if self.record_dt == 0 or self.record_dE == 0:
            raise ValueError("record_dt and record_dE must be positive when given")
        if self.mode == "sweep":
            if len(self.vertices) < 2 or not (self.scan_rate or 0) > 0 or self.cycles < 1:
                raise ValueError("a sweep needs >= 2 vertices, a positive scan_rate and cycles >= 1")
        if self.mode == "eis":
            if not self.frequencies or any(not f > 0 for f in self.frequencies):
                raise ValueError("an eis step needs positive frequencies")
            if not self.amplitude > 0:
                raise ValueError("an eis step needs a positive amplitude")


class Sample(NamedTuple):
    """One recorded time-domain row."""

    t: float        # s since the channel started
    step: int
    Ewe: float      # V
    I: float        # A
    Q: float        # C since the step started
    cycle: int


class EisSample(NamedTuple):
    """One recorded impedance row."""

    t: float
    step: int
    freq: float     # Hz
    Z: complex      # ohm
    Ewe: float
    I: float
    Ewe_amp: float
    I_amp: float


def eis_point_time(freq: float) -> float:
    """Lab seconds one impedance frequency takes: settling plus a few periods (more at low frequency)."""
    return 0.3 + max(4.0 / freq, 0.2)


class PotentiostatChannel:
    """A potentiostat channel of the world: runs steps on the cell connected to it."""

    def __init__(self, world, name: str, rng: np.random.Generator):
        self._world, self.name, self._rng = world, name, rng
        self._cell = None
        self._unplugged = False
        self._steps: list[Step] = []
        self._state, self._step_index, self._ended_by = "stop", 0, None
        self._samples: list = []
        self._t0 = 0.0          # world time of start()
        self._tc = 0.0          # channel time processed
        self._last = (0.0, 0.0)
        self.step_log: list[tuple[int, str, float]] = []   # (step index, why it ended, channel time)

    # -- public ---------------------------------------------------------------------------------------
    @property
    def cell(self):
        """The cell plugged in (its public view), or None."""
        with self._world._lock:
            c = self._active_cell()
            return None if c is None else self._world._views[c.name]

    def _active_cell(self):
        return None if self._unplugged else self._cell

    def load(self, steps) -> None:
        with self._world._lock:
            self._world._sync(self)
            if self._state == "run":
                raise RuntimeError(f"channel {self.name}: stop the running program before loading another")
            steps = list(steps)
            for s in steps:
                if not isinstance(s, Step):
                    raise TypeError(f"channel {self.name}: expected Step objects, got {type(s).__name__}")
            self._steps = steps

    def start(self) -> None:
        with self._world._lock:
            self._world._sync(self)
            if self._state == "run":
                raise RuntimeError(f"channel {self.name}: already running")
            if not self._steps:
                raise RuntimeError(f"channel {self.name}: no program loaded")
            self._t0, self._tc = self._wt, 0.0
            self._samples, self.step_log = [], []
            self._state, self._step_index, self._ended_by = "run", 0, None
            if self._active_cell() is None:
                self._finish("unplugged")
                return
            self._begin_step()

    def stop(self) -> None:
        with self._world._lock:
            self._world._sync(self)
            if self._state == "run":
                self.step_log.append((self._step_index, "stopped", self._tc))
                self._finish("stopped")

    @property
    def state(self) -> str:
        with self._world._lock:
            self._world._sync(self)
            return self._state

    @property
    def step_index(self) -> int:
        with self._world._lock:
            self._world._sync(self)
            return self._step_index

    @property
    def ended_by(self):
        with self._world._lock:
            self._world._sync(self)
            return self._ended_by

    @property
    def since_start(self) -> float:
        """Seconds of world time since start(), whether the program still runs or has ended."""
        with self._world._lock:
            self._world._sync(self)
            return self._wt - self._t0

    @property
    def elapsed(self) -> float:
        """Seconds since start() that the firmware has processed."""
        with self._world._lock:
            self._world._sync(self)
            return self._tc

    def drain(self) -> list:
        with self._world._lock:
            self._world._sync(self)
            out, self._samples = self._samples, []
            return out

    def instant(self) -> tuple[float, float]:
        with self._world._lock:
            self._world._sync(self)
            cell = self._active_cell()
            if cell is None:
                return 0.0, 0.0
            if self._state == "run":
                e, i = self._last
            else:
                e, i = cell.ocv(self._wt), 0.0
            n = self._noise(1)
            return float(e + n[0, 0]), float(i + n[1, 0] * (I_NOISE_REL * abs(i) + I_NOISE_ABS) / E_NOISE)

    # -- wiring ---------------------------------------------------------------------------------------
    def _plug(self, cell) -> None:
        self._cell = cell
        if cell is None and self._state == "run":
            self.step_log.append((self._step_index, "unplugged", self._tc))
            self._finish("unplugged")

    def _set_unplugged(self, flag: bool) -> None:
        self._unplugged = flag
        if flag:
            self._plug(self._cell)
            if self._state == "run":
                self.step_log.append((self._step_index, "unplugged", self._tc))
                self._finish("unplugged")

    # -- firmware -------------------------------------------------------------------------------------
    def _noise(self, n: int) -> np.ndarray:
        scale = self._world.noise * E_NOISE
        if scale == 0:
            return np.zeros((2, n))
        return self._rng.standard_normal((2, n)) * scale

    def _finish(self, reason: str) -> None:
        self._state, self._ended_by = "stop", reason

    def _abs(self, tau: float) -> float:
        return self._t0 + self._step_t0 + tau

    def _begin_step(self) -> None:
        step = self._steps[self._step_index]
        cell = self._active_cell()
        self._step_t0, self._k, self._q = self._tc, 0, 0.0
        now = self._abs(0.0)
        self._e_ref = cell.ocv(now)
        h_max = {"cp_e": HOLD_DT, "sweep": HOLD_DT}.get(step.mode, INTERNAL_DT)
        if step.mode == "sweep":
            h_max = min(h_max, (step.record_dE or 1e-3) / step.scan_rate)
            off = self._e_ref if step.vs_ocv else 0.0
            path = [v + off for v in step.vertices]
            path = path + path[1:] * (step.cycles - 1)
            self._path = np.array(path)
            seg_t = np.abs(np.diff(self._path)) / step.scan_rate
            self._path_t = np.concatenate([[0.0], np.cumsum(seg_t)])
            self._cycle_t = self._path_t[len(step.vertices) - 1]
        if step.record_dt:
            n_sub = max(1, math.ceil(step.record_dt / h_max - 1e-9))
            self._h, self._n_sub = step.record_dt / n_sub, n_sub
        else:
            self._h, self._n_sub = h_max, 0
        end = step.duration if step.duration is not None else math.inf
        if step.mode == "cc" and step.charge_limit is not None and step.value != 0:
            end = min(end, step.charge_limit / abs(step.value))
            self._charge_end = end < (step.duration if step.duration is not None else math.inf)
        else:
            self._charge_end = False
        if step.mode == "sweep":
            end = min(end, float(self._path_t[-1]))
        if step.mode == "eis":
            self._fi = 0
            self._f_end = np.cumsum([eis_point_time(f) for f in step.frequencies])
            end = min(end, float(self._f_end[-1]))
        self._end = end
        self._n_end = math.ceil(end / self._h - 1e-9) if math.isfinite(end) else None
        # first sample: the instant the step begins
        if step.mode == "eis":
            self._last = (self._e_ref, 0.0)
        else:
            if step.mode == "cc":
                e0 = float(cell.cc_profile(step.value, now, np.array([1e-9]))[0])
                i0 = step.value
            elif step.mode == "ocv":
                e0, i0 = self._e_ref, 0.0
            else:
                e0 = self._applied(step, 0.0)
                i0 = 0.0
            self._last = (e0, i0)
            self._rec_e, self._rec_t = e0, 0.0
            self._emit(np.array([0.0]), np.array([e0]), np.array([i0]), np.array([0.0]), step)
        if end <= 0:
            self._end_step("done")

    def _end_step(self, reason: str, action: str = "next") -> None:
        self.step_log.append((self._step_index, reason, self._tc))
        if action == "stop" or self._step_index + 1 >= len(self._steps):
            self._finish(reason)
        else:
            self._step_index += 1
            self._begin_step()

    def _advance(self, t_world: float) -> None:
        while self._state == "run":
            if self._active_cell() is None:
                self.step_log.append((self._step_index, "unplugged", self._tc))
                self._finish("unplugged")
                return
            step = self._steps[self._step_index]
            target = t_world - self._t0 - self._step_t0
            k_max = math.floor(target / self._h + 1e-6)
            if self._n_end is not None:
                k_max = min(k_max, self._n_end)
            if k_max <= self._k:
                return
            if step.mode in ("cc", "ocv"):
                self._run_cc(step, k_max)
            elif step.mode == "eis":
                before = self._step_index
                self._run_eis(step, target)
                if self._state == "run" and self._step_index == before:
                    return
            else:
                self._run_hold(step, k_max)

    def _taus(self, ks: np.ndarray) -> np.ndarray:
        tau = ks * self._h
        if self._n_end is not None and ks[-1] == self._n_end:
            tau[-1] = self._end
        return tau

    def _record_mask(self, step: Step, ks, tau, e, cut: int, final: bool) -> np.ndarray:
        n = cut + 1
        if step.record_dE is None:
            rec = (ks[:n] % self._n_sub == 0) if self._n_sub else np.zeros(n, bool)
        else:
            rec = np.zeros(n, bool)
            dt = step.record_dt or math.inf
            i = 0
            e_last, t_last = self._rec_e, self._rec_t
            while i < n:
                cond = (np.abs(e[i:n] - e_last) >= step.record_dE) | (tau[i:n] - t_last >= dt - 1e-9)
                j = int(np.argmax(cond))
                if not cond[j]:
                    break
                i += j
                rec[i] = True
                e_last, t_last = e[i], tau[i]
                i += 1
        if final:
            rec[cut] = True
        idx = np.flatnonzero(rec)
        if idx.size:
            self._rec_e, self._rec_t = float(e[idx[-1]]), float(tau[idx[-1]])
        return idx

    def _emit(self, tau, e, i, q, step: Step, cycles=None) -> None:
        n = len(tau)
        if n == 0:
            return
        noise = self._noise(n)
        e_m = (e + noise[0]).tolist()
        i_m = (i + noise[1] / E_NOISE * (I_NOISE_REL * np.abs(i) + I_NOISE_ABS)).tolist()
        t = (tau + self._step_t0).tolist()
        if cycles is None:
            cycles = [step.cycle] * n
        si = self._step_index
        self._samples.extend(map(Sample, t, [si] * n, e_m, i_m, q.tolist(), cycles))

    def _run_cc(self, step: Step, k_max: int) -> None:
        cell = self._active_cell()
        current = step.value if step.mode == "cc" else 0.0
        while self._k < k_max and self._state == "run":
            ks = np.arange(self._k + 1, min(k_max, self._k + BLOCK) + 1)
            tau = self._taus(ks)
            tau_prev = self._k * self._h
            e = cell.cc_profile(current, self._abs(tau_prev), tau - tau_prev)
            cut, hit = len(ks) - 1, None
            for lim in step.limits:
                cond = np.broadcast_to(lim.hit(e, current), e.shape)
                j = int(np.argmax(cond))
                if cond[j] and (hit is None or j < cut):
                    cut, hit = j, lim
            at_end = self._n_end is not None and ks[cut] == self._n_end
            q = current * tau
            idx = self._record_mask(step, ks, tau, e, cut, final=hit is not None or at_end)
            self._emit(tau[idx], e[idx], np.full(idx.size, current), q[idx], step)
            cell.cc_commit(current, self._abs(tau_prev), self._abs(tau[cut]), float(e[cut]))
            self._k, self._tc, self._q = int(ks[cut]), self._step_t0 + float(tau[cut]), float(q[cut])
            self._last = (float(e[cut]), current)
            if hit is not None:
                self._end_step("limit", hit.action)
                return
            if at_end:
                self._end_step("charge" if self._charge_end else "done")
                return

    def _applied(self, step: Step, tau: float) -> float:
        if step.mode == "cp_e":
            return step.value + (self._e_ref if step.vs_ocv else 0.0)
        return float(np.interp(tau, self._path_t, self._path))

    def _run_hold(self, step: Step, k_max: int) -> None:
        cell = self._active_cell()
        h = self._h
        sweep = step.mode == "sweep"
        while self._k < k_max and self._state == "run":
            k = self._k + 1
            tau = self._end if (self._n_end is not None and k == self._n_end) else k * h
            dt = tau - self._k * h
            e_app = self._applied(step, tau)
            dedt = (e_app - self._applied(step, self._k * h)) / dt if sweep and dt > 0 else 0.0
            i = cell.hold(e_app, dt, dedt, self._abs(tau))
            self._q += i * dt
            self._k, self._tc = k, self._step_t0 + tau
            self._last = (e_app, i)
            hit = next((l for l in step.limits if l.hit(e_app, i)), None)
            charge = step.charge_limit is not None and abs(self._q) >= step.charge_limit
            at_end = self._n_end is not None and k == self._n_end
            final = hit is not None or charge or at_end
            rec = final
            if not rec and self._n_sub and k % self._n_sub == 0:
                rec = True
            if not rec and step.record_dE is not None and abs(e_app - self._rec_e) >= step.record_dE:
                rec = True
            if not rec and step.record_dt and step.record_dE is not None and tau - self._rec_t >= step.record_dt - 1e-9:
                rec = True
            if rec:
                self._rec_e, self._rec_t = e_app, tau
                cyc = [min(int(tau // self._cycle_t), step.cycles - 1)] if sweep else None
                self._emit(np.array([tau]), np.array([e_app]), np.array([i]), np.array([self._q]), step, cyc)
            if hit is not None:
                self._end_step("limit", hit.action)
                return
            if charge:
                self._end_step("charge")
                return
            if at_end:
                self._end_step("done")
                return

    def _run_eis(self, step: Step, target: float) -> None:
        cell = self._active_cell()
        freqs = step.frequencies
        scale = self._world.noise * Z_NOISE
        while self._fi < len(freqs) and self._f_end[self._fi] <= target + 1e-9:
            f = freqs[self._fi]
            t_a = float(self._f_end[self._fi - 1]) if self._fi else 0.0
            t_b = float(self._f_end[self._fi])
            if step.galvanostatic:
                i_dc = step.dc
                if i_dc:
                    e_dc = float(cell.cc_profile(i_dc, self._abs(t_a), np.array([t_b - t_a]))[0])
                    cell.cc_commit(i_dc, self._abs(t_a), self._abs(t_b), e_dc)
                else:
                    cell.rest(self._abs(t_b))
                    e_dc = cell.ocv(self._abs(t_b))
            else:
                if step.dc:
                    e_dc = self._e_ref + step.dc
                    i_dc = cell.hold(e_dc, t_b - t_a, 0.0, self._abs(t_b))
                else:
                    cell.rest(self._abs(t_b))
                    e_dc, i_dc = cell.ocv(self._abs(t_b)), 0.0
            z = cell._impedance(f)
            if scale:
                n = self._rng.standard_normal(2)
                z = z * (1 + scale * (5 if f > 1e4 else 1) * complex(n[0], n[1]))
            if step.galvanostatic:
                i_amp, e_amp = step.amplitude, step.amplitude * abs(z)
            else:
                e_amp, i_amp = step.amplitude, step.amplitude / abs(z)
            self._samples.append(EisSample(self._step_t0 + t_b, self._step_index, f, z, e_dc, i_dc, e_amp, i_amp))
            self._last = (e_dc, i_dc)
            self._fi += 1
            self._tc = self._step_t0 + t_b
            self._k = self._n_end if self._fi == len(freqs) else math.floor(t_b / self._h + 1e-6)
        if self._fi >= len(freqs):
            self._end_step("done")
        elif step.duration is not None and target >= step.duration:
            self._tc = self._step_t0 + step.duration
            self._end_step("done")
