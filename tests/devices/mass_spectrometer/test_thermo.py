"""An MS without a public protocol (Thermo Prima BT under GasWorks), followed through its export file."""

from __future__ import annotations

import pytest

from labctl.devices.errors import InstrumentError
from labctl.devices.mass_spectrometer.device import gas_analyser
from labctl.devices.mass_spectrometer.thermo import DRIVER, ExportFileAnalyser

COLUMNS = {"Ar": "Mass 40", "CO2": "Mass 44", "D2": "Mass 4"}
GASES = {"Ar": 40, "CO2": 44, "D2": 4}


class _Clock:
    def __init__(self):
        self.t = 1000.0

    def now(self):
        return self.t

    def sleep(self, s):
        self.t += s


def _export(path, *rows, header=True):
    with open(path, "a", encoding="utf-8") as fh:
        if header:
            fh.write("Time;Mass 4;Mass 40;Mass 44\n")
        for row in rows:
            fh.write(";".join(str(v) for v in row) + "\n")


def _backend(path, clock):
    return ExportFileAnalyser(path, clock, GASES, COLUMNS, name="prima", delimiter=";", stale_after_s=30.0)


def test_the_newest_complete_row_is_read_and_appended_rows_are_followed(tmp_path):
    path, clock = tmp_path / "export.csv", _Clock()
    _export(path, ("12:00:00", 1.0e-12, 4.8e-10, 2.0e-13), ("12:00:01", 1.1e-12, 4.7e-10, 2.1e-13))
    backend = _backend(path, clock)
    reading = backend.read()
    assert reading.currents == {40: 4.7e-10, 44: 2.1e-13, 4: 1.1e-12}
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("12:00:02;1.3e-12;4.6e-10;2.2e-13\n12:00:03;1.4e-12")     # the last row is still being written
    assert backend.read().currents[4] == 1.3e-12
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(";4.5e-10;2.3e-13\n")
    assert backend.read().currents == {40: 4.5e-10, 44: 2.3e-13, 4: 1.4e-12}


def test_the_device_publishes_the_exported_signals_as_currents(tmp_path, lab):
    path = tmp_path / "export.csv"
    _export(path, ("12:00:00", 1.0e-12, 4.8e-10, 2.0e-13))
    ms = gas_analyser(_backend(path, lab.clock), lab.clock, name="prima")
    ms.trigger().wait(5)
    values = {k: v["value"] for k, v in ms.read().items()}
    assert values["prima_current_D2"] == 1.0e-12 and values["prima_current_Ar"] == 4.8e-10
    assert values["prima_time"] == lab.clock.now()


def test_a_stopped_export_is_reported_instead_of_switching_a_filament(tmp_path):
    path, clock = tmp_path / "export.csv", _Clock()
    _export(path, ("12:00:00", 1.0e-12, 4.8e-10, 2.0e-13))
    backend = _backend(path, clock)
    backend.filament_on()                       # rows are coming: nothing to do
    clock.sleep(60.0)
    assert not backend.filament
    with pytest.raises(InstrumentError, match="not being written: start the acquisition"):
        backend.filament_on()


def test_an_unmapped_gas_or_a_missing_column_is_refused_by_name(tmp_path):
    path, clock = tmp_path / "export.csv", _Clock()
    with pytest.raises(ValueError, match="no export column mapped for O2"):
        ExportFileAnalyser(path, clock, {**GASES, "O2": 32}, COLUMNS)
    _export(path, ("12:00:00", 1.0, 2.0, 3.0))
    backend = ExportFileAnalyser(path, clock, GASES, {**COLUMNS, "D2": "Mass 4.0"}, delimiter=";")
    with pytest.raises(InstrumentError, match="no column Mass 4.0"):
        backend.read()


def test_the_profile_entry_is_checked_by_the_driver_declaration():
    options, _, _ = DRIVER.settings({"path": "C:/GasWorks/export.csv", "gases": GASES, "columns": COLUMNS,
                                     "delimiter": ";"})
    assert options.columns == COLUMNS
    with pytest.raises(ValueError, match="delimiter"):
        DRIVER.settings({"path": "x.csv", "gases": GASES, "columns": COLUMNS, "delimiter": "|"})
