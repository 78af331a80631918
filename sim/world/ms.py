"""A quadrupole mass spectrometer sampling the gas-port line through a capillary.

The capillary draws a fixed throughput from the line at 1 bar, so the chamber pressure is constant and each
gas's partial pressure is its mole fraction at the inlet times that pressure. Ion currents follow
per-gas sensitivities (proportional to emission current, times the electron-multiplier gain) and fragment
patterns, on top of the residual-gas background, with noise that falls with the noise-floor setting.

Each head is an individual: its true sensitivities and fragment patterns depart from the textbook values by a
few percent to some tens of percent (drawn once from the seed), and they drift slowly, the light masses
against the heavy ones (mass discrimination of an ageing ion source), as well as all together. labctl never
asks for them: it learns them from calibration runs with gas standards, as a lab does.
"""

from __future__ import annotations

import numpy as np

from labctl.sim.world.params import SPECIES

P_INLET_TORR = 2e-6           # chamber pressure with the capillary open
S_BASE = 2e-4                 # A/Torr for N2 at 1 mA emission, Faraday cup
# Relative ionisation sensitivities (N2 = 1), typical quadrupole values.
RSF = {"Ar": 1.2, "CO2": 1.4, "D2": 0.35, "HD": 0.38, "H2": 0.44, "O2": 0.86, "N2": 1.0, "H2O": 1.0}
# Fragment patterns normalised to the base peak (electron impact, 70 eV).
PATTERNS = {
    "Ar": {40: 1.0, 20: 0.146, 36: 0.0034},
    "CO2": {44: 1.0, 28: 0.114, 16: 0.096, 12: 0.087, 45: 0.012},
    "D2": {4: 1.0, 2: 0.025},
    "HD": {3: 1.0, 2: 0.03, 1: 0.03},
    "H2": {2: 1.0, 1: 0.021},
    "O2": {32: 1.0, 16: 0.114},
    "N2": {28: 1.0, 14: 0.072, 29: 0.007},
    "H2O": {18: 1.0, 17: 0.23, 16: 0.011},
}
BACKGROUND_TORR = {"H2": 5e-9, "H2O": 2e-8, "N2": 4e-9, "CO2": 3e-10, "Ar": 0.0}
NOISE_FLOOR_A = 1e-13         # electrometer noise at NF 0; falls a decade every 3 NF steps
SHOT_NOISE_REL = 2e-3
TRUE_SPREAD = 0.15            # lognormal sigma of a head's true sensitivity about the textbook value
PATTERN_SPREAD = 0.10         # lognormal sigma of its fragment ratios
COMMON_DRIFT_PER_DAY = -0.02  # every sensitivity (filament ageing): cancels in ratios to the carrier
MASS_DRIFT_PER_DAY = 0.015    # mass discrimination: m/z 4 moves about this much a day against m/z 40
DAY_S = 86400.0


class MassSpec:
    """The mass spectrometer's head: ion currents from the gas that reaches it."""

    def __init__(self, world, name: str, rng: np.random.Generator):
        self._world, self.name, self._rng = world, name, rng
        self._emission, self._burned, self._hv, self._nf = 0.0, False, 0.0, 2
        self._rsf = {g: v * float(np.exp(TRUE_SPREAD * rng.standard_normal())) for g, v in RSF.items()}
        self._rsf["Ar"] = RSF["Ar"]  # the scale is set by the carrier; only ratios to it are observable
        self._patterns = {g: {m: f if f == 1.0 else f * float(np.exp(PATTERN_SPREAD * rng.standard_normal()))
                              for m, f in pattern.items()} for g, pattern in PATTERNS.items()}
        self._mass_drift = MASS_DRIFT_PER_DAY * float(rng.choice((-1.0, 1.0))) * float(rng.uniform(0.8, 1.2))
        self._t0 = world.clock.now()

    # -- public ---------------------------------------------------------------------------------------
    def filament_on(self, emission_mA: float = 1.0) -> None:
        if not 0 < emission_mA <= 3.5:
            raise ValueError(f"{self.name}: emission must be in (0, 3.5] mA, got {emission_mA}")
        with self._world._lock:
            self._world._sync(self._world.gas)
            self._emission = 0.0 if self._burned else float(emission_mA)

    def filament_off(self) -> None:
        with self._world._lock:
            self._world._sync(self._world.gas)
            self._emission = 0.0

    @property
    def emission_mA(self) -> float:
        with self._world._lock:
            return self._emission

    @property
    def filament_ok(self) -> bool:
        with self._world._lock:
            return not self._burned

    def set_multiplier(self, volts: float) -> None:
        if not 0 <= volts <= 2490:
            raise ValueError(f"{self.name}: multiplier voltage must be 0-2490 V, got {volts}")
        with self._world._lock:
            self._hv = float(volts)

    @property
    def multiplier_V(self) -> float:
        with self._world._lock:
            return self._hv

    @property
    def noise_floor(self) -> int:
        with self._world._lock:
            return self._nf

    @noise_floor.setter
    def noise_floor(self, value: int) -> None:
        if int(value) != value or not 0 <= value <= 7:
            raise ValueError(f"{self.name}: noise floor must be an integer 0-7, got {value}")
        with self._world._lock:
            self._nf = int(value)

    def gain(self) -> float:
        """Electron-multiplier gain (1 with the Faraday cup)."""
        return 1.0 if self._hv <= 0 else max(1.0, 10 ** ((self._hv - 800.0) / 200.0))

    def sensitivity(self, gas: str) -> float:
        """The true A/Torr at the gas's base peak now, with the present emission and multiplier (ground truth
        for tests; nothing in labctl can ask for it)."""
        if gas not in RSF:
            raise ValueError(f"{self.name}: no sensitivity for {gas!r}; known: {sorted(RSF)}")
        with self._world._lock:
            self._world._sync(self._world.gas)
            return S_BASE * self._true_rsf(gas, self._world.gas._wt) * self._emission * self.gain()

    def pattern(self, gas: str) -> dict[int, float]:
        """The true fragment pattern of *gas* (ground truth for tests)."""
        return dict(self._patterns[gas])

    def _true_rsf(self, gas: str, t: float) -> float:
        days = (t - self._t0) / DAY_S
        parent = max(self._patterns[gas], key=self._patterns[gas].get)
        drift = 1.0 + COMMON_DRIFT_PER_DAY * days + self._mass_drift * days * (40 - parent) / 36
        return self._rsf[gas] * max(drift, 0.05)

    def fraction(self, gas: str) -> float:
        """True mole fraction of *gas* arriving at the inlet (Ar is the balance)."""
        with self._world._lock:
            self._world._sync(self._world.gas)
            x = self._world._ms_inlet_fractions()
            if gas == "Ar":
                return float(max(1.0 - x.sum(), 0.0))
            if gas not in SPECIES:
                raise ValueError(f"{self.name}: unknown gas {gas!r}; known: Ar, {', '.join(SPECIES)}")
            return float(x[SPECIES.index(gas)])

    def total_pressure(self) -> float:
        with self._world._lock:
            self._world._sync(self._world.gas)
            return P_INLET_TORR + sum(BACKGROUND_TORR.values())

    def partial_pressures(self) -> dict[str, float]:
        """Torr of every gas in the chamber: inlet gas plus residual background."""
        with self._world._lock:
            self._world._sync(self._world.gas)
            x = self._world._ms_inlet_fractions()
            p = {g: float(x[i]) * P_INLET_TORR for i, g in enumerate(SPECIES)}
            p["Ar"] = max(1.0 - float(x.sum()), 0.0) * P_INLET_TORR
            for g, bg in BACKGROUND_TORR.items():
                p[g] = p.get(g, 0.0) + bg
            return p

    def ion_current(self, mz: int) -> float:
        """Ion current (A) at *mz*: fragments of every gas present, background and noise."""
        mz = int(mz)
        if not 1 <= mz <= 300:
            raise ValueError(f"{self.name}: m/z must be 1-300, got {mz}")
        with self._world._lock:
            self._world._sync(self._world.gas)
            signal = 0.0
            if self._emission > 0:
                scale = S_BASE * self._emission * self.gain()
                t = self._world.gas._wt
                for gas, p in self.partial_pressures().items():
                    frac = self._patterns.get(gas, {}).get(mz)
                    if frac and p > 0:
                        signal += p * self._true_rsf(gas, t) * frac * scale
            noise = self._world.noise
            if noise:
                sigma = NOISE_FLOOR_A * 10 ** (-self._nf / 3) + SHOT_NOISE_REL * signal
                signal += noise * sigma * float(self._rng.standard_normal())
            return signal

    def _burn(self, flag: bool) -> None:
        self._burned = flag
        if flag:
            self._emission = 0.0
