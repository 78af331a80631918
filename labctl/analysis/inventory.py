"""Where the plated sodium went after a cycle (the paper's Fig. 1d).

Titration with D2O: 2 Na + 2 D2O -> D2 (dead, metallic Na), NaH + D2O -> HD, organic SEI (NaOCO2R,
(CH2OCO2Na)2) + D2O -> CO2 with two Na per CO2. Reversible Na comes from the CE; the SEI is what is neither
reversible nor dead.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

FARADAY = 96485.33212  # C/mol


@dataclass(frozen=True)
class SodiumInventory:
    """Where the plated sodium went: stripped, left as metal, lost to the SEI."""

    plated_mol: float
    reversible: float      # fractions of plated Na
    dead: float
    sei: float
    nah: float             # SEI components measured by titration (part of sei)
    organic: float

    def as_percent(self) -> dict[str, float]:
        """Each share in percent of the sodium plated."""
        return {k: 100.0 * v for k, v in asdict(self).items() if k != "plated_mol"}


def sodium_inventory(plated_C: float, stripped_C: float, d2_mol: float, hd_mol: float,
                     co2_mol: float) -> SodiumInventory:
    """Shares of the plated sodium: stripped, metallic (titrated D2) and in the SEI."""
    if plated_C <= 0:
        raise ValueError(f"plated charge must be positive, got {plated_C} C")
    plated = plated_C / FARADAY
    reversible = stripped_C / plated_C
    dead = 2.0 * d2_mol / plated
    return SodiumInventory(
        plated_mol=plated,
        reversible=reversible,
        dead=dead,
        sei=1.0 - reversible - dead,
        nah=hd_mol / plated,
        organic=2.0 * co2_mol / plated,
    )


def mean_std(values) -> tuple[float, float]:
    """Mean and sample standard deviation (nan with fewer than two values)."""
    v = np.asarray(list(values), float)
    if v.size == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else float("nan")
