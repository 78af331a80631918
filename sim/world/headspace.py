"""A well-mixed gas volume at 1 bar: the headspace of a DEMS cell, the titration vial, a gas-line segment."""

from __future__ import annotations

import numpy as np

from labctl.sim.world.params import MOLAR_VOLUME_ML, SPECIES, SPECIES_INDEX


class GasVolume:
    """Moles of each tracked gas in ``volume_mL``; Ar is the balance (pressure stays at 1 bar)."""

    def __init__(self, volume_mL: float):
        if not volume_mL > 0:
            raise ValueError(f"gas volume must be positive, got {volume_mL}")
        self.volume_mL = float(volume_mL)
        self.mol = np.zeros(len(SPECIES))

    def add(self, gas: str, mol: float) -> None:
        self.mol[SPECIES_INDEX[gas]] += mol

    def clear(self) -> None:
        self.mol[:] = 0.0

    def as_dict(self) -> dict[str, float]:
        return {g: float(self.mol[i]) for i, g in enumerate(SPECIES)}

    @property
    def total_mol(self) -> float:
        return self.volume_mL / MOLAR_VOLUME_ML
