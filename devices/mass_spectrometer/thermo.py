"""An MS without a public protocol, followed through the continuous export file of its own software.

The paper's Thermo Prima BT runs under GasWorks, which can append every measurement cycle to a text file
(one row per cycle, one column per measured mass). This backend follows such a file: the profile maps each
watched gas to its column (``columns``) and names the delimiter, and every ``read`` takes the
newest complete row. The values are whatever the software exports for each mass (ion current or partial
pressure): quantification relates them to the carrier's through a calibration run, so their unit cancels.
labctl cannot switch this instrument's ion source: ``filament_on`` only checks that the export is alive (rows
newer than ``stale_after_s``), and the filament stays under the analyser software's control.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import Field

from labctl.devices.clock import Clock
from labctl.devices.errors import InstrumentError
from labctl.devices.mass_spectrometer.analyser import GasReading
from labctl.devices.mass_spectrometer.cracking import RELATIVE_SENSITIVITY, PartialPressureModel, fractions
from labctl.devices.options import DriverDeclaration, Settings

log = logging.getLogger(__name__)


class ExportOptions(Settings):
    """Profile options of an MS followed through its software's export file."""

    path: str = Field(description="the export file the analyser software appends to")
    gases: dict[str, int] = Field(description="gas name -> m/z")
    columns: dict[str, str] = Field(description="gas name -> the export's column holding it")
    delimiter: Literal[",", ";", "\t"] = ","
    cycle_s: float = Field(1.0, gt=0, description="monitor period, lab s")
    stale_after_s: float = Field(60.0, gt=0, description="the export counts as stopped without a newer row")


class ExportSafeState(Settings):
    """Nothing labctl can switch: the analyser software keeps the ion source."""

    filament: Literal["unchanged"] = "unchanged"


DRIVER = DriverDeclaration(
    "thermo.prima_bt", "mass_spectrometer", "none", options=ExportOptions, safe_state=ExportSafeState,
    describer=lambda o, _l: {"gases": tuple(o.gases)},
    description="Thermo Prima BT (or any MS) followed through its software's continuous export file")


class ExportFileAnalyser:
    """A :class:`~.analyser.GasAnalyser` reading the newest row of a continuously appended export file."""

    def __init__(self, path: str | Path, clock: Clock, gases: Mapping[str, int], columns: Mapping[str, str], *,
                 name: str = "ms", delimiter: str = ",",
                 stale_after_s: float = 60.0):
        self.name, self.clock, self.path = name, clock, Path(path)
        self._columns, self._delimiter = dict(columns), delimiter
        self._stale_after = float(stale_after_s)
        self._lock = threading.RLock()
        self._header: list[str] | None = None
        self._offset = 0
        self._last: dict[str, str] | None = None
        self._last_seen = float("-inf")
        self.watch(gases)

    @property
    def gases(self) -> dict[str, int]:
        return dict(self._model.gases)

    @property
    def emission_mA(self) -> float:
        return float("nan")   # not known through the export

    def watch(self, gases: Mapping[str, int]) -> None:
        missing = [g for g in gases if g not in self._columns]
        if missing:
            raise ValueError(f"{self.name}: no export column mapped for {', '.join(missing)} (options.columns)")
        self._model = PartialPressureModel(dict(gases), {g: RELATIVE_SENSITIVITY.get(g, 1.0) for g in gases})

    def _follow(self) -> None:
        """Take the rows appended since the last look; keep the newest complete one."""
        try:
            with open(self.path, encoding="utf-8-sig", newline="") as fh:
                fh.seek(self._offset)
                chunk = fh.read()
        except FileNotFoundError:
            raise InstrumentError(self.name, f"export file {self.path} does not exist (is the analyser software "
                                  "exporting?)") from None
        end = chunk.rfind("\n")
        if end < 0:
            return
        self._offset += len(chunk[: end + 1].encode("utf-8"))
        for line in chunk[:end].splitlines():
            cells = [c.strip() for c in line.split(self._delimiter)]
            if not any(cells):
                continue
            if self._header is None:
                self._header = cells
                absent = sorted(set(self._columns.values()) - set(cells))
                if absent:
                    raise InstrumentError(self.name, f"export file {self.path} has no column {', '.join(absent)} "
                                          f"(it has {', '.join(cells)})")
                continue
            if len(cells) == len(self._header):
                self._last = dict(zip(self._header, cells, strict=True))
                self._last_seen = self.clock.now()

    def read(self) -> GasReading:
        with self._lock:
            self._follow()
            if self._last is None:
                raise InstrumentError(self.name, f"no measurement in export file {self.path} yet")
            row, now = self._last, self.clock.now()
        model = self._model
        try:
            currents = {model.gases[g]: float(row[self._columns[g]]) for g in model.gases}
        except ValueError as exc:
            raise InstrumentError(self.name, f"unreadable value in export file {self.path}: {exc}") from None
        pressures = model.pressures(currents)
        return GasReading(time=now, pressures=pressures, fractions=fractions(pressures), currents=currents)

    @property
    def filament(self) -> bool:
        """Whether the export is alive: a row newer than ``stale_after_s``."""
        with self._lock:
            try:
                self._follow()
            except InstrumentError:
                return False
            return self.clock.now() - self._last_seen <= self._stale_after

    def filament_on(self) -> None:
        if not self.filament:
            raise InstrumentError(self.name, f"the export file {self.path} is not being written: start the "
                                  "acquisition in the analyser software")

    def filament_off(self) -> None:
        log.info("%s: the ion source stays under the analyser software's control", self.name)

    def close(self) -> None:
        pass
