"""An electrochemical cell: a Cu (or Pt) working electrode against Na, with an SEI and a headspace.

The Na inventory is tracked as charge. Plating a charge dq puts ``(1 - s) dq`` on the electrode as metal and
``s dq`` into the SEI; stripping removes metal at ``(1 + r)`` times the stripping charge, the extra ``r`` being
metal that detaches and is isolated (dead Na), with ``r = d / (1 - s - d)`` so a full strip returns ``1 - s - d``
of the plated charge. (s, d) depend on the electrolyte and the cycle number. Potentials are closed-form in the
charge passed at constant current, so a galvanostatic step is evaluated on a whole time grid at once.
"""

from __future__ import annotations

import math

import numpy as np

from labctl.sim.world.headspace import GasVolume
from labctl.sim.world.params import (
    C_DL,
    C_SURFACE,
    E_BARE_REST,
    E_OXIDATION,
    FARADAY,
    J_LIMIT,
    Q_NUC,
    Q_REF_CAPACITY,
    Q_TAIL,
    SEI_R_GROWTH,
    TAU_REST_BARE,
    TAU_REST_METAL,
    THERMAL_V,
    Electrolyte,
    electrolyte,
)

KINDS = ("coin", "dems", "liquid", "afm")
HEADSPACE_ML = {"coin": 0.5, "dems": 3.0, "liquid": 0.01, "afm": 5.0}
LIQUID_CELL_UL = 2.0      # electrolyte volume of the liquid-cell chip's flow path


class Cell:
    """A cell of the simulated world: its electrodes, electrolyte and interphase."""

    def __init__(self, name: str, kind: str, electrolyte_key: str, area_cm2: float, t: float):
        if kind not in KINDS:
            raise ValueError(f"unknown cell kind {kind!r}; choose from {KINDS}")
        if not area_cm2 > 0:
            raise ValueError(f"cell {name!r}: area must be positive, got {area_cm2}")
        self.name, self.kind, self.area_cm2 = name, kind, float(area_cm2)
        self.electrolyte = electrolyte_key
        self.el: Electrolyte = electrolyte(electrolyte_key)
        self._headspace = GasVolume(HEADSPACE_ML[kind])
        self._world = None
        # Na inventory (C) and SEI make-up (mol)
        self.metal = 0.0
        self.plated = self.stripped = self.sei = self.dead = 0.0
        self.nah_mol = self.organic_mol = 0.0
        self.cycles = 0
        self._plated_in_cycle = self._stripped_in_cycle = False
        # potential memory for open circuit and the Na-free surface
        self.u, self.t_u = E_BARE_REST, t
        # liquid cell: electrolyte exchange
        self.fresh_fraction = 1.0
        self.salt_fraction = 1.0

    # -- public read-outs (the world wraps these with its lock) -------------------------------------
    def _inventory(self) -> dict:
        return {"plated_C": self.plated, "stripped_C": self.stripped, "sei_C": self.sei, "dead_C": self.dead,
                "reversible_C": self.metal, "nah_mol": self.nah_mol, "organic_sei_mol": self.organic_mol,
                "cycles": self.cycles}

    def _impedance(self, freq: float) -> complex:
        if not freq > 0:
            raise ValueError(f"frequency must be positive, got {freq}")
        el, a = self.el, self.area_cm2
        w = 2 * math.pi * freq
        jw = 1j * w
        r_sei = self._r_sei()
        z_sei = r_sei / (1 + r_sei * el.q_sei * jw ** el.alpha_sei)
        z_w = el.sigma_w * (1 - 1j) / math.sqrt(w)
        z_ct = 1 / (jw * C_DL + 1 / (el.r_ct + z_w))
        return complex((self._r_el() + z_sei + z_ct) / a)

    # -- model pieces ------------------------------------------------------------------------------
    def _r_el(self) -> float:
        return self.el.r_el / max(self.salt_fraction, 0.01)

    def _r_sei(self) -> float:
        return self.el.r_sei * (1 + SEI_R_GROWTH * self.sei / (self.area_cm2 * Q_REF_CAPACITY))

    def _losses(self) -> tuple[float, float]:
        return self.el.losses(self.cycles + 1)

    def _complete_cycle(self) -> None:
        self.cycles += 1
        self._plated_in_cycle = self._stripped_in_cycle = False

    def ocv(self, t: float) -> float:
        rest, tau = (0.0, TAU_REST_METAL) if self.metal > 0 else (E_BARE_REST, TAU_REST_BARE)
        return rest + (self.u - rest) * math.exp(-max(t - self.t_u, 0.0) / tau)

    def rest(self, t: float) -> None:
        """Open circuit until *t*."""
        self.u, self.t_u = self.ocv(t), t

    def _plating_e(self, j: float) -> float:
        """Plateau potential (metal present, no nucleation term) at plating current density j > 0."""
        el = self.el
        return -(j * (self._r_el() + self._r_sei()) + 2 * THERMAL_V * math.asinh(j / (2 * el.j0)))

    def _strip_terms(self, j: float) -> tuple[float, float]:
        el = self.el
        return j * self._r_el(), j * self._r_sei() + 2 * THERMAL_V * math.asinh(j / (2 * el.j0))

    # -- galvanostatic: closed form on a time grid --------------------------------------------------
    def cc_profile(self, current: float, t0: float, dt: np.ndarray) -> np.ndarray:
        """Potential at times ``t0 + dt`` (dt > 0) under constant *current* (A), without changing state."""
        a = self.area_cm2
        if current == 0:
            rest, tau = (0.0, TAU_REST_METAL) if self.metal > 0 else (E_BARE_REST, TAU_REST_BARE)
            return rest + (self.ocv(t0) - rest) * np.exp(-dt / tau)
        j = abs(current) / a
        u0 = self.ocv(t0)
        if current < 0:
            s, _ = self._losses()
            e_plat = self._plating_e(j)
            eta_n = self.el.eta_nuc
            t_a = 0.0
            if self.metal <= 0:
                e_onset = e_plat - eta_n
                t_a = max(u0 - e_onset, 0.0) * C_SURFACE * a / abs(current)
            m = self.metal + (1 - s) * abs(current) * np.maximum(dt - t_a, 0.0)
            e = e_plat - eta_n * np.exp(-m / (Q_NUC * a))
            if t_a > 0:
                pre = dt < t_a
                e = np.where(pre, u0 - abs(current) * dt / (C_SURFACE * a), e)
            return e
        s, d = self._losses()
        r = d / (1 - s - d)
        ohm, inter = self._strip_terms(j)
        qf = Q_TAIL * a
        if self.metal > 0:
            t_star = self.metal / ((1 + r) * current)
            m = np.maximum(self.metal - (1 + r) * current * dt, 0.0)
            theta = (m + qf) / (m + 3 * qf)
            e = ohm + inter / theta
            u_star = ohm + 3 * inter
        else:
            t_star, u_star = 0.0, u0
            e = np.empty_like(dt)
        span = E_OXIDATION - u_star
        after = dt > t_star
        if span > 0:
            rise = current * np.maximum(dt - t_star, 0.0) / (C_SURFACE * a)
            e_bare = E_OXIDATION - span * np.exp(-rise / span)
        else:
            e_bare = np.full_like(dt, u_star)
        return np.where(after, e_bare, e)

    def cc_commit(self, current: float, t0: float, t1: float, e_end: float) -> None:
        """Pass *current* from t0 to t1 (the state the profile assumed) and remember the end potential."""
        dt = t1 - t0
        if dt <= 0:
            return
        a = self.area_cm2
        if current == 0:
            self.rest(t1)
            return
        q = abs(current) * dt
        if current < 0:
            s, _ = self._losses()
            if self.metal <= 0:
                e_onset = self._plating_e(abs(current) / a) - self.el.eta_nuc
                u0 = self.ocv(t0)
                q_surface = min(max(u0 - e_onset, 0.0) * C_SURFACE * a, q)
                q -= q_surface
            self._plate(q, s)
        else:
            self._strip(q)
        self.u, self.t_u = e_end, t1

    def _plate(self, q: float, s: float) -> None:
        if q <= 0:
            return
        if self._stripped_in_cycle:
            self._complete_cycle()
            s, _ = self._losses()
        el = self.el
        sei = s * q
        self.plated += q
        self.sei += sei
        self.metal += q - sei
        self.nah_mol += el.nah_share * sei / FARADAY
        self.organic_mol += el.organic_share * sei / FARADAY
        self._plated_in_cycle = True
        self._emit("CO2", el.co2_plate * q / FARADAY)
        self._emit("H2", el.h2_plate * q / FARADAY)

    def _strip(self, q: float) -> float:
        """Strip up to charge q; returns the Faradaic charge actually taken from the metal."""
        if q <= 0 or self.metal <= 0:
            return 0.0
        s, d = self._losses()
        r = d / (1 - s - d)
        limit = self.metal / (1 + r)
        exhausted = q >= limit
        q_f = limit if exhausted else q
        removed = self.metal if exhausted else q_f * (1 + r)
        self.stripped += q_f
        self.dead += removed - q_f
        self.metal = 0.0 if exhausted else self.metal - removed
        self._stripped_in_cycle = True
        boost = 1 + self.sei / (self.area_cm2 * 0.5)   # a thicker rigid SEI exposes more carbonate
        self._emit("CO2", self.el.co2_strip * boost * removed / FARADAY)
        if exhausted and self._plated_in_cycle:
            self._complete_cycle()
        return q_f

    # -- potentiostatic: one internal step ------------------------------------------------------------
    def hold(self, e_app: float, dt: float, dedt: float, t1: float) -> float:
        """Hold the electrode at *e_app* (V vs Na+/Na) for *dt*; return the current (A)."""
        a, el = self.area_cm2, self.el
        r_el, r_sei, j0 = self._r_el(), self._r_sei(), el.j0
        j = 0.0
        if e_app < 0:
            eta = -e_app - el.eta_nuc * math.exp(-self.metal / (Q_NUC * a))
            if eta > 0:
                j = -_solve_j(eta, r_el, r_sei, j0, 1.0)
        elif self.metal > 0:
            qf = Q_TAIL * a
            theta = (self.metal + qf) / (self.metal + 3 * qf)
            j = _solve_j(e_app, r_el, r_sei, j0, theta)
        j = j / (1 + abs(j) / J_LIMIT)
        i_far = j * a
        if i_far < 0:
            s, _ = self._losses()
            self._plate(-i_far * dt, s)
        elif i_far > 0:
            i_far = self._strip(i_far * dt) / dt
        cap = (C_DL if self.metal > 0 else C_SURFACE) * a * dedt
        self.u, self.t_u = e_app, t1
        return i_far + cap

    # -- gas ------------------------------------------------------------------------------------------
    def _emit(self, gas: str, mol: float) -> None:
        if mol > 0:
            self._headspace.add(gas, mol)

    def _exchange(self, contents: str, volume_uL: float) -> None:
        """Fresh liquid pushed through the liquid cell displaces what was there (perfect mixing)."""
        f = 1 - math.exp(-volume_uL / LIQUID_CELL_UL)
        salt_in = 1.0 if contents in ("electrolyte", self.electrolyte) else 0.0
        fresh_in = 1.0 if salt_in else 0.0
        self.fresh_fraction += (fresh_in - self.fresh_fraction) * f
        self.salt_fraction += (salt_in - self.salt_fraction) * f


def _solve_j(eta: float, r_el: float, r_sei: float, j0: float, theta: float) -> float:
    """Current density j >= 0 with j r_el + (j r_sei + 2 (RT/F) asinh(j / 2 j0)) / theta = eta."""
    if eta <= 0:
        return 0.0
    b = THERMAL_V
    j = eta / (r_el + (r_sei + b / j0) / theta)
    for _ in range(30):
        g = j * r_el + (j * r_sei + 2 * b * math.asinh(j / (2 * j0))) / theta - eta
        dg = r_el + (r_sei + b / math.sqrt(j0 * j0 + j * j / 4)) / theta
        step = g / dg
        j -= step
        if abs(step) <= 1e-12 * max(j, 1e-12):
            break
    return max(j, 0.0)
