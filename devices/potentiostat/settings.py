"""Profile settings every potentiostat shares: the electrode area, limits and the safe state."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from labctl.devices.options import PositiveFloat, SerialOptions, Settings


class PotentiostatOptions(SerialOptions):
    """What every potentiostat channel's profile entry may say (``timeout``: connect timeout, s)."""

    electrode_area_cm2: PositiveFloat | None = Field(None, description="electrode area in cm^2 (current densities)")


class PotentiostatSafeState(Settings):
    """A potentiostat is safe with its cell off."""

    cell: Literal["off"] | None = None


def describe_potentiostat(options: PotentiostatOptions, limits: Settings) -> dict:
    """The electrode area the device will have (1 cm^2 unless the profile says) and its limits."""
    area = options.electrode_area_cm2
    return {"electrode_area_cm2": 1.0 if area is None else float(area),
            "limits": {k: list(v) for k, v in limits.model_dump().items() if v is not None}}
