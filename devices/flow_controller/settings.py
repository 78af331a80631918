"""What an MFC meters when it meters a certified gas standard: the cylinder, its composition, its uncertainty.

The profile says which cylinder is on which MFC, as it says what a syringe holds; a calibration plan reads it
from the device and records it with the run, so every calibration names the standard it was made with.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from labctl.devices.options import Settings


class GasStandard(Settings):
    """A certified mixture in a carrier balance: mole fractions of the calibrated gases."""

    cylinder: str = Field(description="cylinder or certificate id")
    composition: dict[str, float] = Field(description="gas -> certified mole fraction (the rest is the balance)")
    uncertainty_rel: float = Field(0.02, gt=0, lt=1, description="relative expanded uncertainty of each fraction")
    balance: str = "Ar"

    @field_validator("composition")
    @classmethod
    def _fractions(cls, value: dict[str, float]) -> dict[str, float]:
        if not value:
            raise ValueError("name at least one gas and its mole fraction")
        bad = {g: x for g, x in value.items() if not 0 < x < 1}
        if bad:
            raise ValueError(f"mole fractions must be between 0 and 1, got {bad}")
        if sum(value.values()) >= 1:
            raise ValueError(f"fractions sum to {sum(value.values()):g}: nothing left for the balance")
        return value
