"""Profile settings every syringe pump shares, and the rates a syringe allows on a given pump."""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import AfterValidator, Field, create_model

from labctl.devices.options import DriverDeclaration, PositiveFloat, SerialOptions, Settings, limit_range


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


def pump_driver(name: str, description: str, options: type[SyringeOptions], max_rate_uL_h: float,
                speeds_mm_h: tuple[float, float]) -> DriverDeclaration:
    """The declaration of a syringe pump driver: its options, the rates its profile limits may span (up to
    *max_rate_uL_h*), the pump's safe state, and the rates its syringe allows between its plunger speeds."""
    limits = create_model(f"{options.__name__.removesuffix('Options')}Limits", __base__=Settings,
                          __doc__="Profile limits of the pump: the rates allowed.",
                          rate_uL_h=(limit_range("uL/h", 0.0, max_rate_uL_h), None))
    return DriverDeclaration(name, "syringe_pump", "serial", options=options, limits=limits,
                             safe_state=PumpSafeState, describer=pump_describer(*speeds_mm_h),
                             description=description)


def pump_describer(min_speed_mm_h: float, max_speed_mm_h: float):
    """What a pump's profile entry says: the rates its syringe allows, within the profile's limits."""

    def describe(options: SyringeOptions, limits) -> dict:
        lo, hi = syringe_rates(options.syringe_diameter_mm, min_speed_mm_h, max_speed_mm_h)
        if limits.rate_uL_h is not None:
            lo, hi = max(lo, limits.rate_uL_h[0]), min(hi, limits.rate_uL_h[1])
        return {"rate_range_uL_h": (lo, hi)}

    return describe
