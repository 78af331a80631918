import math

import numpy as np
import pandas as pd
import pytest

from labctl.analysis import runs as analyse
from labctl.report import NOT_MEASURED, Findings, collect, table_rows


class Run:
    """What the analysis reads of a stored run: uid, start metadata, stream names and tables."""

    def __init__(self, start, tables, uid="0123456789abcdef"):
        self.uid, self.start, self._tables = uid, start, tables

    @property
    def streams(self):
        return list(self._tables)

    def table(self, name, timestamps=False):
        return self._tables[name].copy()


def cv_run(**md):
    e = np.linspace(-0.5, 1.0, 31)
    table = pd.DataFrame({"time": np.arange(31.0), "ref600_Ewe": e, "ref600_I": 1e-6 * e})  # 1 uA per V
    return Run({"plan_name": "liquid_cell_operando", "electrolyte": "dme", **md}, {"cv": table})


def test_current_density_over_the_recorded_chip_area():
    e, j = analyse.voltammogram(cv_run(electrode_area_cm2=0.0005))
    # 1 uA at 1 V on 0.0005 cm^2 is 2 mA/cm^2
    assert j[-1] == pytest.approx(2.0) and e[-1] == pytest.approx(1.0)
    # an area given explicitly wins over the recorded one
    assert analyse.voltammogram(cv_run(electrode_area_cm2=0.0005), area_cm2=0.001)[1][-1] == pytest.approx(1.0)


def test_run_without_an_electrode_area_is_refused_not_divided_by_one():
    run = cv_run()
    with pytest.raises(KeyError, match="01234567.*electrode_area_cm2"):
        analyse.voltammogram(run)
    assert analyse.voltammogram(run, area_cm2=0.0005)[1][-1] == pytest.approx(2.0)
    found = collect([run])
    assert not found.cvs
    assert any("01234567" in s and "electrode_area_cm2" in s for s in found.skipped)


def test_report_says_not_measured_rather_than_zero():
    found = Findings()
    found.gases["ecdmc"] = [{"D2": 2e-9, "HD": math.nan, "CO2": 1e-9}, {"D2": 4e-9, "HD": math.nan, "CO2": 3e-9}]
    found.dems_co2["ecdmc"].append([5e-9, math.nan])
    (row,) = table_rows(found)
    assert row["D2 (nmol)"] == "3.0 ± 1.4"
    assert row["HD (nmol)"] == NOT_MEASURED
    assert row["DEMS CO2 per sweep (nmol)"] == f"5.0, {NOT_MEASURED}"
    assert row["DEMS CO2 cumulative (nmol)"] == f"5.0, {NOT_MEASURED}"
    found.gases["ecdmc"].append({"D2": math.nan, "HD": math.nan, "CO2": 2e-9})
    (row,) = table_rows(found)
    assert row["D2 (nmol)"] == f"3.0 ± 1.4 (1 of 3 {NOT_MEASURED})"
