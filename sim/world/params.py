"""Physical constants and the electrolyte presets of the simulated lab.

Every number here is documented with its source (the paper's figure or section) or the physical reasoning
behind it in ``docs/simulated-lab.md``; keep the two in step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

FARADAY = 96485.33212          # C/mol
GAS_R = 8.314462618            # J/(mol K)
TEMPERATURE = 298.15           # K
THERMAL_V = GAS_R * TEMPERATURE / FARADAY   # RT/F, V
MOLAR_VOLUME_ML = 24790.0      # mL/mol at 25 degC, 1 bar (the paper's Vm, Methods "Online MS")

# Shared interface constants (area-specific; all electrolytes).
Q_NUC = 5e-3            # C/cm^2: metal needed before the nucleation overpotential has decayed by 1/e
Q_TAIL = 20e-3          # C/cm^2: metal left when the stripping plateau starts to rise (active area shrinks)
C_SURFACE = 2e-3        # F/cm^2: pseudo-capacitance of a Na-free Cu/Pt surface (film charging)
C_DL = 20e-6            # F/cm^2: double layer under a Na deposit
E_BARE_REST = 2.7       # V vs Na+/Na: rest potential of a Na-free Cu or Pt electrode
TAU_REST_METAL = 30.0   # s: overpotential relaxation at open circuit with Na on the electrode
TAU_REST_BARE = 1800.0  # s: slow drift of a Na-free electrode back to its rest potential
E_OXIDATION = 4.3       # V: electrolyte oxidation caps the potential of a Na-free electrode
J_LIMIT = 20e-3         # A/cm^2: mass-transport limited current density
SEI_R_GROWTH = 0.2      # relative R_sei growth per 1.8 C/cm^2 (0.5 mAh/cm^2) of Na lost to SEI
Q_REF_CAPACITY = 1.8    # C/cm^2 = 0.5 mAh/cm^2, the paper's plating capacity


@dataclass(frozen=True)
class Electrolyte:
    """One electrolyte's interface: kinetics, per-cycle Na losses, SEI make-up, gas evolution."""

    key: str
    label: str
    r_el: float            # ohm cm^2, electrolyte in two glass-fibre separators
    r_sei: float           # ohm cm^2, SEI film
    r_ct: float            # ohm cm^2, charge transfer (sets the exchange current j0 = RT/(F r_ct))
    sigma_w: float         # ohm cm^2 s^-1/2, Warburg coefficient
    q_sei: float           # F cm^-2 s^(alpha-1), SEI constant-phase element
    alpha_sei: float
    eta_nuc: float         # V, extra overpotential to nucleate Na on a Na-free electrode
    sei_first: float       # fraction of the charge plated in cycle 1 that forms SEI
    dead_first: float      # fraction of the charge plated in cycle 1 that ends up as dead Na
    sei_steady: float      # the same once the interphase has settled
    dead_steady: float
    n_settle: float        # cycles over which losses relax from first to steady (e-folding)
    nah_share: float       # fraction of the SEI's Na bound as NaH
    organic_share: float   # fraction of the SEI's Na bound in organic carbonates (NaOCO2R, (CH2OCO2Na)2)
    co2_strip: float       # mol CO2 per mol Na removed from the metal while stripping (fresh SEI)
    co2_plate: float       # mol CO2 per mol e- plated
    h2_plate: float        # mol H2 per mol e- plated
    gas_rest: float        # mol/(s cm^2) of CO2 evolved at any time (slow electrolyte decomposition)

    @property
    def j0(self) -> float:
        """Exchange current density, A/cm^2."""
        return THERMAL_V / self.r_ct

    def losses(self, cycle: int) -> tuple[float, float]:
        """(SEI, dead) fractions of the charge plated in *cycle* (1-based)."""
        w = math.exp(-(max(cycle, 1) - 1) / self.n_settle)
        sei = self.sei_steady + (self.sei_first - self.sei_steady) * w
        dead = self.dead_steady + (self.dead_first - self.dead_steady) * w
        return sei, dead


ELECTROLYTES: dict[str, Electrolyte] = {
    "ecdmc": Electrolyte(
        key="ecdmc", label="1 M NaPF6 in EC:DMC (1:1)",
        r_el=30.0, r_sei=200.0, r_ct=80.0, sigma_w=35.0, q_sei=2e-6, alpha_sei=0.8, eta_nuc=0.12,
        sei_first=0.34, dead_first=0.42, sei_steady=0.35, dead_steady=0.43, n_settle=3.0,
        nah_share=0.10, organic_share=0.45,
        co2_strip=0.08, co2_plate=0.005, h2_plate=0.01, gas_rest=2e-12),
    "ecdmc_vc": Electrolyte(
        key="ecdmc_vc", label="1 M NaPF6 in EC:DMC (1:1) + 10 % VC",
        r_el=32.0, r_sei=170.0, r_ct=70.0, sigma_w=30.0, q_sei=2e-6, alpha_sei=0.8, eta_nuc=0.09,
        sei_first=0.21, dead_first=0.09, sei_steady=0.19, dead_steady=0.08, n_settle=3.0,
        nah_share=0.08, organic_share=0.35,
        co2_strip=0.03, co2_plate=0.003, h2_plate=0.006, gas_rest=1e-12),
    "ecdmc_fec": Electrolyte(
        key="ecdmc_fec", label="1 M NaPF6 in EC:DMC (1:1) + 10 % FEC",
        r_el=32.0, r_sei=160.0, r_ct=65.0, sigma_w=30.0, q_sei=2e-6, alpha_sei=0.8, eta_nuc=0.08,
        sei_first=0.19, dead_first=0.07, sei_steady=0.18, dead_steady=0.07, n_settle=3.0,
        nah_share=0.07, organic_share=0.30,
        co2_strip=0.025, co2_plate=0.003, h2_plate=0.005, gas_rest=1e-12),
    "dme": Electrolyte(
        key="dme", label="1 M NaPF6 in DME",
        r_el=22.0, r_sei=28.0, r_ct=12.0, sigma_w=5.0, q_sei=5e-6, alpha_sei=0.9, eta_nuc=0.03,
        sei_first=0.03, dead_first=0.03, sei_steady=0.001, dead_steady=0.0005, n_settle=1.5,
        nah_share=0.05, organic_share=0.10,
        co2_strip=0.002, co2_plate=0.0005, h2_plate=0.002, gas_rest=1e-13),
}


def electrolyte(key: str) -> Electrolyte:
    """The electrolyte called *key*; KeyError listing the known ones."""
    try:
        return ELECTROLYTES[key]
    except KeyError:
        raise ValueError(f"unknown electrolyte {key!r}; choose from {sorted(ELECTROLYTES)}") from None


# Gases the world tracks besides the Ar carrier (which is the balance of every gas volume).
SPECIES = ("H2", "HD", "D2", "CO2", "O2", "N2")
SPECIES_INDEX = {g: i for i, g in enumerate(SPECIES)}
