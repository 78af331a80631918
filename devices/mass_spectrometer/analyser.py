"""What plans and the ophyd device need from a gas analyser, whatever the instrument.

An SRS RGA (:mod:`.srs_analyser`), a Pfeiffer QMG (:mod:`.pfeiffer`) and a Thermo Prima BT followed through
its analyser software's export file (:mod:`.thermo`) implement it, so the device and the plans never change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class GasReading:
    """One measurement cycle over the watched gases."""

    time: float                          # lab time of the cycle, s
    pressures: dict[str, float]          # partial pressure per gas, Torr (fragment-corrected)
    fractions: dict[str, float]          # share of the watched total per gas, 1
    currents: dict[int, float] = field(default_factory=dict)   # A per m/z as measured (gain removed)
    total_pressure: float = float("nan")  # Torr, the instrument's total-pressure reading


@runtime_checkable
class GasAnalyser(Protocol):
    """A mass spectrometer reduced to what an experiment asks of it."""

    name: str

    @property
    def gases(self) -> dict[str, int]:
        """Watched gas -> m/z it is measured at."""

    def watch(self, gases: Mapping[str, int]) -> None:
        """Measure these gases from the next cycle on; raises ``ValueError`` for an impossible set."""

    def read(self) -> GasReading:
        """Run one measurement cycle now and return it."""

    @property
    def filament(self) -> bool:
        """True while the ion source is emitting."""

    @property
    def emission_mA(self) -> float:
        """Emission current the ion source runs at when on."""

    def filament_on(self) -> None:
        """Switch the ion source on at its configured emission (raises the instrument's error if it fails)."""

    def filament_off(self) -> None:
        """Switch the ion source off (the safe state)."""

    def close(self) -> None:
        """Release the connection."""


def checked_masses(name: str, gases: Mapping[str, int], max_mass: int) -> dict[str, int]:
    """The gases to watch with their m/z, refused unless each m/z is a whole number the head can reach."""
    gases = {str(g): m for g, m in gases.items()}
    for gas, mz in gases.items():
        if isinstance(mz, bool) or not isinstance(mz, int) or not 1 <= mz <= max_mass:
            raise ValueError(f"{name}: m/z {mz!r} for {gas} outside 1-{max_mass}")
    return gases
