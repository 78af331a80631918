"""From ion currents at chosen m/z to partial pressures: sensitivities and fragment correction.

Each gas is watched at its parent mass; other gases' fragments can land there too (CO2 gives CO+ at 28,
Ar gives Ar++ at 20, D2O and H2O overlap at 18...). With the fragment pattern of every watched gas the
currents are a linear mix of the partial pressures, ``I(m) = sum_g S_g * f_g(m) * p_g``, and solving that
system removes the overlaps between watched gases.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

#: 70 eV electron-impact fragment patterns relative to the parent peak (NIST-like, typical RGA tuning).
FRAGMENTS: dict[str, dict[int, float]] = {
    "H2": {2: 1.0, 1: 0.021},
    "HD": {3: 1.0, 2: 0.03, 1: 0.03},
    "D2": {4: 1.0, 2: 0.025},
    "He": {4: 1.0},
    "CH4": {16: 1.0, 15: 0.86, 14: 0.16, 13: 0.08},
    "H2O": {18: 1.0, 17: 0.23, 16: 0.011},
    "HDO": {19: 1.0, 18: 0.12, 17: 0.12},
    "D2O": {20: 1.0, 18: 0.24, 16: 0.01},
    "Ne": {20: 1.0, 22: 0.1},
    "N2": {28: 1.0, 14: 0.072, 29: 0.007},
    "CO": {28: 1.0, 12: 0.05, 16: 0.02},
    "O2": {32: 1.0, 16: 0.11},
    "Ar": {40: 1.0, 20: 0.146, 36: 0.0034},
    "CO2": {44: 1.0, 28: 0.114, 16: 0.096, 12: 0.087, 45: 0.012},
}

#: Ionisation sensitivity relative to N2 (ionisation-gauge factors), used when no calibration is stored.
RELATIVE_SENSITIVITY: dict[str, float] = {
    "H2": 0.44, "HD": 0.38, "D2": 0.35, "He": 0.14, "CH4": 1.4, "H2O": 1.0, "HDO": 1.0, "D2O": 1.0,
    "Ne": 0.23, "N2": 1.0, "CO": 1.05, "O2": 0.86, "Ar": 1.2, "CO2": 1.4,
}


class PartialPressureModel:
    """Partial pressures of the watched gases from the currents at their parent masses.

    ``gases`` maps gas -> m/z watched; ``sensitivities`` gas -> A/Torr at that m/z; ``fragments`` gas ->
    {m/z: fraction of the parent peak} (defaults from :data:`FRAGMENTS`; a gas without a pattern is
    assumed to have no fragments at the other watched masses).
    """

    def __init__(self, gases: Mapping[str, int], sensitivities: Mapping[str, float],
                 fragments: Mapping[str, Mapping[int, float]] | None = None):
        if not gases:
            raise ValueError("no gases to watch")
        by_mass: dict[int, str] = {}
        for gas, mz in gases.items():
            if mz in by_mass:
                raise ValueError(f"{by_mass[mz]} and {gas} are both watched at m/z {mz}: watch one of them at "
                                 "another of its fragments")
            by_mass[mz] = gas
        missing = [g for g in gases if not sensitivities.get(g, 0) > 0]
        if missing:
            raise ValueError(f"no positive sensitivity for {', '.join(missing)}")
        patterns = {g: dict(FRAGMENTS.get(g, {})) for g in gases}
        for gas, pattern in (fragments or {}).items():
            patterns.setdefault(gas, {}).update({int(m): float(f) for m, f in pattern.items()})
        self.gases = dict(gases)
        self.masses = [gases[g] for g in gases]
        matrix = np.zeros((len(gases), len(gases)))
        for j, gas in enumerate(gases):
            parent = gases[gas]
            scale = patterns[gas].get(parent, 1.0) or 1.0
            for i, mz in enumerate(self.masses):
                share = 1.0 if mz == parent else patterns[gas].get(mz, 0.0) / scale
                matrix[i, j] = sensitivities[gas] * share
        self.matrix = matrix

    def pressures(self, currents: Mapping[int, float]) -> dict[str, float]:
        """Torr per gas from A per m/z (the multiplier gain already divided out)."""
        vector = np.array([currents[mz] for mz in self.masses], dtype=float)
        solved = np.linalg.solve(self.matrix, vector)
        return {gas: float(p) for gas, p in zip(self.gases, solved, strict=False)}


def fractions(pressures: Mapping[str, float]) -> dict[str, float]:
    """Each gas's share of the watched total (negative noise counts as zero); NaN when nothing is there."""
    clipped = {g: max(p, 0.0) for g, p in pressures.items()}
    total = sum(clipped.values())
    if total <= 0:
        return {g: float("nan") for g in pressures}
    return {g: p / total for g, p in clipped.items()}
