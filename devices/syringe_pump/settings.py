"""Profile settings every syringe pump shares, and the rates a syringe allows on a given pump."""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import AfterValidator, Field

from labctl.devices.options import PositiveFloat, SerialOptions, Settings


def syringe_rates(diameter_mm: float, min_speed_mm_h: float, max_speed_mm_h: float) -> tuple[float, float]:
    """The rates (µL/h) a syringe of *diameter_mm* allows between the pump's plunger speeds."""
    area = math.pi * diameter_mm ** 2 / 4  # mm^2 = µL/mm
    return min_speed_mm_h * area, max_speed_mm_h * area


class SyringeOptions(SerialOptions):
    """The syringe and the pump's place on its RS-232 network."""

    address: int = Field(0, ge=0, le=99, description="pump address on the RS-232 network")
    syringe_diameter_mm: float = Field(gt=0, le=50.0)
    syringe_volume_uL: PositiveFloat
    contents: str | None = Field(None, description="what the syringe holds")
    feeds: str | None = Field(None, description="what the pump feeds in the simulated lab (a cell or 'titration')")


def _stopped(running: bool) -> bool:
    if running is not False:
        raise ValueError(f"{running!r} is not one of False")
    return running


class PumpSafeState(Settings):
    """A pump is safe stopped."""

    running: Annotated[bool, AfterValidator(_stopped)] = False


def pump_describer(min_speed_mm_h: float, max_speed_mm_h: float):
    """What a pump's profile entry says: the rates its syringe allows, within the profile's limits."""

    def describe(options: SyringeOptions, limits) -> dict:
        lo, hi = syringe_rates(options.syringe_diameter_mm, min_speed_mm_h, max_speed_mm_h)
        if limits.rate_uL_h is not None:
            lo, hi = max(lo, limits.rate_uL_h[0]), min(hi, limits.rate_uL_h[1])
        return {"rate_range_uL_h": (lo, hi)}

    return describe
