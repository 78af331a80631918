"""The gas side: isolation valve, mass-flow controllers, the line to the MS and the D2O titration vial.

Topology: Ar from the carrier MFC reaches the valve. Position A sends it straight down the line (the vessel
on the gas port is sealed); position B sends it through the vessel's headspace first. A second MFC metering
a certified gas standard (an MFC whose fluid has a ``composition``) joins at a tee after the valve, so the
standard is diluted in the carrier at the ratio of the two flows. The line is a train of well-mixed
segments (a plug-flow delay with some dispersion) ending in the small mixing volume the MS inlet samples.
Every volume is at 1 bar, so a segment of volume V swept at flow F loses each gas at rate n F / V. With the
carrier alone all rates scale with F, so the transfer over any interval is exact: expm(A * integral of F dt);
with the standard flowing, the two flows are taken as constant in their ratio over each step.
"""

from __future__ import annotations

import math

import numpy as np

from labctl.sim.world.headspace import GasVolume
from labctl.sim.world.params import FARADAY, MOLAR_VOLUME_ML, SPECIES

LINE_SEGMENTS_ML = (0.1, 0.1, 0.1, 0.1)   # 2 m of 0.5 mm i.d. tubing, in four segments
MS_INLET_ML = 0.05                         # mixing volume at the capillary inlet
VALVE_MOVE_S = 0.25                        # two-position electric actuator, 60 degrees
MFC_TAU_S = 0.3                            # MFC control-loop time constant
MFC_NOISE = 5e-4                           # fraction of capacity, flow reading noise at noise = 1
TITRATION_VIAL_ML = 4.0
D2O_MOL_PER_UL = 1.107e-3 / 20.03          # density 1.107 g/mL, M = 20.03 g/mol
K_NA, K_NAH, K_ORGANIC = 1 / 40.0, 1 / 90.0, 1 / 300.0   # s^-1, first-order release after D2O arrives


def _expm(a: np.ndarray) -> np.ndarray:
    norm = np.abs(a).sum(axis=0).max()
    s = max(0, math.ceil(math.log2(norm / 0.25))) if norm > 0.25 else 0
    x = a / 2 ** s
    out = np.eye(len(a))
    term = np.eye(len(a))
    for k in range(1, 14):
        term = term @ x / k
        out = out + term
    for _ in range(s):
        out = out @ out
    return out


class Rotor:
    """What an actuator's firmware reads of its rotor (the isolation valve's, the stream selector's): where it
    is and whether it turns, with the gas side brought up to the clock first."""

    @property
    def position(self):
        with self._world._lock:
            self._world._sync(self._world.gas)
            return self._position

    @property
    def moving(self) -> bool:
        with self._world._lock:
            self._world._sync(self._world.gas)
            return self._target is not None


class Valve(Rotor):
    """The two-position valve on the gas line."""

    def __init__(self, world, name: str, move_time_s: float = VALVE_MOVE_S):
        self._world, self.name, self.move_time_s = world, name, move_time_s
        self._position, self._target, self._arrive = "A", None, None
        self._stuck = False

    def move_to(self, position: str) -> None:
        if position not in ("A", "B"):
            raise ValueError(f"valve {self.name}: position must be 'A' or 'B', got {position!r}")
        with self._world._lock:
            self._world._sync(self._world.gas)
            if self._target is None and position == self._position:
                return
            self._target, self._arrive = position, self._world.gas._wt + self.move_time_s

    def _next_event(self) -> float | None:
        return self._arrive if self._target is not None else None

    def _event(self, t: float) -> None:
        if self._target is not None and t >= self._arrive - 1e-12:
            if not self._stuck:
                self._position = self._target
            self._target = self._arrive = None


class FlowController:
    """A mass-flow controller: the carrier's, or, with a ``composition`` (mole fractions of tracked gases in
    the Ar balance), a certified gas standard's, joining the line after the valve."""

    def __init__(self, world, name: str, capacity_mL_min: float, fluid: str, rng,
                 composition: dict[str, float] | None = None):
        if not capacity_mL_min > 0:
            raise ValueError(f"mfc {name}: capacity must be positive")
        self._world, self.name, self._rng = world, name, rng
        self.capacity_mL_min, self.fluid = float(capacity_mL_min), fluid
        self.composition = None
        if composition:
            unknown = sorted(set(composition) - set(SPECIES))
            if unknown or not 0 < sum(composition.values()) <= 1:
                raise ValueError(f"mfc {name}: a standard's composition must give fractions of "
                                 f"{', '.join(SPECIES)} summing to at most 1, got {composition}")
            self.composition = np.array([float(composition.get(g, 0.0)) for g in SPECIES])
        self._setpoint, self._flow, self._blocked = 0.0, 0.0, False

    @property
    def setpoint_mL_min(self) -> float:
        with self._world._lock:
            self._world._sync(self._world.gas)
            return self._setpoint

    @setpoint_mL_min.setter
    def setpoint_mL_min(self, value: float) -> None:
        if not math.isfinite(value):
            raise ValueError(f"mfc {self.name}: setpoint must be finite")
        with self._world._lock:
            self._world._sync(self._world.gas)
            self._setpoint = min(max(float(value), 0.0), self.capacity_mL_min)

    @property
    def flow_mL_min(self) -> float:
        """Measured flow (with reading noise)."""
        with self._world._lock:
            self._world._sync(self._world.gas)
            noise = self._world.noise * MFC_NOISE * self.capacity_mL_min
            return self._flow + (float(self._rng.standard_normal()) * noise if noise else 0.0)

    def _goal(self) -> float:
        return 0.0 if self._blocked else self._setpoint

    def _volume(self, dt: float) -> float:
        """mL that pass in the next dt (exact for the first-order response); advances the flow."""
        goal = self._goal()
        decay = math.exp(-dt / MFC_TAU_S)
        vol = (goal * dt + (self._flow - goal) * MFC_TAU_S * (1 - decay)) / 60.0
        self._flow = goal + (self._flow - goal) * decay
        if abs(self._flow - goal) < 1e-12 * self.capacity_mL_min:
            self._flow = goal
        return vol

    def _settling(self) -> bool:
        return self._flow != self._goal()


class TitrationVial:
    """The sealed vial the cycled Cu electrode goes into; D2O releases D2, HD and CO2 from it."""

    name = "titration"

    def __init__(self, world):
        self._world = world
        self._headspace = GasVolume(TITRATION_VIAL_ML)
        self.na_mol = self.nah_mol = self.organic_mol = 0.0
        self.d2o_mol = 0.0
        self.source: str | None = None

    def load(self, cell_name: str) -> None:
        with self._world._lock:
            self._world._sync(self._world.gas, *([self._world._cells[cell_name]] if cell_name in self._world._cells
                                                 else []))
            inv = self._world._cells[cell_name]._inventory() if cell_name in self._world._cells else None
            if inv is None:
                raise KeyError(f"no cell named {cell_name!r}")
            self.na_mol = (inv["dead_C"] + inv["reversible_C"]) / FARADAY
            self.nah_mol, self.organic_mol = inv["nah_mol"], inv["organic_sei_mol"]
            self.d2o_mol = 0.0
            self.source = cell_name
            self._headspace.clear()

    def inject_d2o(self, volume_uL: float) -> None:
        if not volume_uL > 0:
            raise ValueError(f"D2O volume must be positive, got {volume_uL}")
        with self._world._lock:
            self._world._sync(self._world.gas)
            self._add_d2o(volume_uL)

    def _add_d2o(self, volume_uL: float) -> None:
        self.d2o_mol += volume_uL * D2O_MOL_PER_UL

    def headspace(self) -> dict[str, float]:
        with self._world._lock:
            self._world._sync(self._world.gas)
            return self._headspace.as_dict()

    def remaining(self) -> dict[str, float]:
        """Unreacted metallic Na, NaH and organic SEI (mol) and D2O left (mol)."""
        with self._world._lock:
            self._world._sync(self._world.gas)
            return {"Na": self.na_mol, "NaH": self.nah_mol, "organic": self.organic_mol, "D2O": self.d2o_mol}

    def _active(self) -> bool:
        return self.d2o_mol > 0 and (self.na_mol + self.nah_mol + self.organic_mol) > 0

    def _advance(self, dt: float) -> None:
        if not self._active() or dt <= 0:
            return
        r_na = self.na_mol * (1 - math.exp(-K_NA * dt))
        r_nah = self.nah_mol * (1 - math.exp(-K_NAH * dt))
        r_org = self.organic_mol * (1 - math.exp(-K_ORGANIC * dt))
        need = r_na + r_nah + r_org / 2
        if need > self.d2o_mol:                       # D2O runs out: everything slows in proportion
            f = self.d2o_mol / need
            r_na, r_nah, r_org = r_na * f, r_nah * f, r_org * f
            need = self.d2o_mol
        self.na_mol -= r_na
        self.nah_mol -= r_nah
        self.organic_mol -= r_org
        self.d2o_mol = max(self.d2o_mol - need, 0.0)
        self._headspace.add("D2", r_na / 2)       # 2 Na + 2 D2O -> 2 NaOD + D2
        self._headspace.add("HD", r_nah)          # NaH + D2O -> NaOD + HD
        self._headspace.add("CO2", r_org / 2)     # 2 NaOCO2R + D2O -> Na2CO3 + 2 ROD + CO2


class GasPort:
    """What sits between the valve and the MS, and the line's contents."""

    def __init__(self, world):
        self._world = world
        self._vessel: str | None = None
        n = 1 + len(LINE_SEGMENTS_ML) + 1
        self._n = np.zeros((len(SPECIES), n))          # column 0 unused (the vessel holds its own gas)
        self._volumes = np.array([1.0, *LINE_SEGMENTS_ML, MS_INLET_ML])
        self._cache: dict = {}
        self.delivered = np.zeros(len(SPECIES))        # mol that have left through the MS inlet
        self.leak_mol_s = 0.0

    @property
    def vessel(self) -> str | None:
        with self._world._lock:
            return self._vessel

    def connect_vessel(self, name: str | None) -> None:
        with self._world._lock:
            self._world._sync(self, *([self._world._cells[name]] if name in self._world._cells else []))
            if name is not None and name != "titration" and name not in self._world._cells:
                raise KeyError(f"nothing named {name!r} can go on the gas port (cells: "
                               f"{sorted(self._world._cells)} or 'titration')")
            self._vessel = name

    def delivered_mol(self) -> dict[str, float]:
        """Moles of each gas that have reached the MS inlet and left through it (exact bookkeeping)."""
        with self._world._lock:
            self._world._sync(self._world.gas)
            return {g: float(self.delivered[i]) for i, g in enumerate(SPECIES)}

    def _vessel_volume(self) -> GasVolume | None:
        if self._vessel is None:
            return None
        if self._vessel == "titration":
            return self._world.titration._headspace
        return self._world._cells[self._vessel]._headspace

    def _transfer(self, vol_ml: float, sweep: bool, v_vessel: float) -> np.ndarray:
        key = (round(vol_ml, 12), sweep, v_vessel)
        p = self._cache.get(key)
        if p is None:
            vols = self._volumes.copy()
            vols[0] = v_vessel
            k = 1 / vols
            if not sweep:
                k[0] = 0.0
            m = len(vols)
            a = np.diag(-k)
            a[np.arange(1, m), np.arange(m - 1)] = k[:-1]
            p = _expm(a * vol_ml)
            if len(self._cache) > 512:
                self._cache.clear()
            self._cache[key] = p
        return p

    def _advance(self, vol_ml: float, sweep: bool, dt: float, std_ml: float = 0.0,
                 std_x: np.ndarray | None = None) -> None:
        hs = self._vessel_volume()
        sweep = sweep and hs is not None
        if self.leak_mol_s:
            self._n[SPECIES.index("O2"), 1] += 0.21 * self.leak_mol_s * dt
            self._n[SPECIES.index("N2"), 1] += 0.78 * self.leak_mol_s * dt
        if std_ml > 0 and std_x is not None:
            self._advance_with_standard(vol_ml, std_ml, std_x, sweep, hs)
            return
        if vol_ml <= 0:
            return
        if hs is not None:
            self._n[:, 0] = hs.mol
        else:
            self._n[:, 0] = 0.0
        before = self._n.sum(axis=1) if sweep else self._n[:, 1:].sum(axis=1)
        p = self._transfer(vol_ml, sweep, hs.volume_mL if hs is not None else 1.0)
        new = self._n @ p.T
        if not sweep:
            new[:, 0] = self._n[:, 0]
        after = new.sum(axis=1) if sweep else new[:, 1:].sum(axis=1)
        self.delivered += np.maximum(before - after, 0.0)
        self._n = new
        if hs is not None:
            hs.mol[:] = new[:, 0]

    def _advance_with_standard(self, carrier_ml: float, std_ml: float, std_x: np.ndarray, sweep: bool,
                               hs: GasVolume | None) -> None:
        """The line swept by carrier and standard together, the vessel (if swept) by the carrier alone: in the
        volume u that passes the line, dn/du = A n + b, solved exactly with the source as an extra state."""
        carrier_ml = max(carrier_ml, 0.0)
        total = carrier_ml + std_ml
        vols = self._volumes.copy()
        vols[0] = hs.volume_mL if hs is not None else 1.0
        m = len(vols)
        k = 1 / vols
        k0 = k[0] * carrier_ml / total if sweep else 0.0
        a = np.zeros((m + 1, m + 1))
        a[np.arange(1, m), np.arange(1, m)] = -k[1:]
        a[0, 0] = -k0
        a[1, 0] = k0
        a[np.arange(2, m), np.arange(1, m - 1)] = k[1:-1]
        a[1, m] = std_ml / total / MOLAR_VOLUME_ML        # mol of standard per mL passing, per unit fraction
        p = _expm(a * total)
        self._n[:, 0] = hs.mol if hs is not None else 0.0
        state = np.hstack([self._n, std_x[:, None]])
        before = self._n.sum(axis=1) if sweep else self._n[:, 1:].sum(axis=1)
        new = state @ p.T
        added = std_x * std_ml / MOLAR_VOLUME_ML
        new = new[:, :m]
        if not sweep:
            new[:, 0] = self._n[:, 0]
        after = new.sum(axis=1) if sweep else new[:, 1:].sum(axis=1)
        self.delivered += np.maximum(before + added - after, 0.0)
        self._n = new
        if hs is not None:
            hs.mol[:] = new[:, 0]

    def _inlet_fractions(self) -> np.ndarray:
        return np.clip(self._n[:, -1] * MOLAR_VOLUME_ML / self._volumes[-1], 0.0, 1.0)
