"""What plans and the ophyd device need from a gas analyser, whatever the instrument.

An SRS RGA (:mod:`.srs_analyser`), a Pfeiffer QMG (:mod:`.pfeiffer`) and a Thermo Prima BT followed through
its analyser software's export file (:mod:`.thermo`) implement it, so the device and the plans never change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from labctl.devices.errors import InstrumentError


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


class FilamentWentOff(InstrumentError):
    """The filament labctl switched on reads off: the head was power-cycled (it comes back with the filament
    off, and may report no error at all), the filament burned out, or the head's protection switched it off."""


class FilamentWatch:
    """Whether the ion source should be emitting (switched on by labctl, or found on), so that a reading can
    tell zero currents from no gas: a head that lost its power comes back with the filament off and its error
    flags clear, and only the emission read back shows it. Every reading fails until somebody switches the
    filament on or off."""

    def __init__(self, name: str, what: str):
        self.name, self.what = name, what
        self.expected = False

    def switched(self, on: bool) -> None:
        """labctl switched the filament on or off."""
        self.expected = bool(on)

    def seen(self, on: bool) -> None:
        """The filament was read back; found on, it should stay on."""
        self.expected = self.expected or bool(on)

    def check(self, emission_mA: float, set_mA: float, raw: str) -> None:
        """:class:`FilamentWentOff` if the filament should be on and *emission_mA* (read back) says it is not."""
        if self.expected and emission_mA <= 0:
            raise FilamentWentOff(self.name, f"the filament went off while measuring (emission {emission_mA:g} mA, "
                                             f"{set_mA:g} mA set) and nobody switched it off: power interrupted, "
                                             f"the filament burned out or the head's protection tripped; "
                                             f"check the {self.what}", raw)
