"""The report of a small coin-cell campaign: files written, table equal to the analysis, close to the paper."""

from __future__ import annotations

import csv

import pytest

from labctl.analysis.inventory import mean_std
from labctl.report import build_report, collect, paper

ELECTROLYTES = ("ecdmc", "dme")


@pytest.fixture(scope="module")
def report(campaign, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    path = build_report(campaign, out)
    with open(out / "table.csv", newline="", encoding="utf-8") as fh:
        rows = {row["electrolyte"]: row for row in csv.DictReader(fh)}
    return {"dir": out, "md": path, "rows": rows, "found": collect(campaign)}


def test_campaign_records_one_tagged_run_per_measurement(campaign):
    kinds = [(r.start["plan_name"], r.start.get("electrolyte"), r.start.get("purpose")) for r in campaign]
    assert kinds == [
        ("ms_calibration", None, None),
        ("galvanostatic_cycles", "ecdmc", "titration_cycle"), ("online_ms_titration", "ecdmc", None),
        ("eis", "ecdmc", "impedance"), ("galvanostatic_cycles", "ecdmc", "coulombic_efficiency"),
        ("galvanostatic_cycles", "dme", "titration_cycle"), ("online_ms_titration", "dme", None),
        ("eis", "dme", "impedance"), ("galvanostatic_cycles", "dme", "coulombic_efficiency"),
        ("online_ms_titration", "ecdmc", None),
    ]
    assert all(r.start["campaign"] == "coin_cell_campaign" for r in campaign)
    assert campaign[-1].start["blank"] is True
    assert campaign[0].start["calibration_standard"]["cylinder"] == "CAL-5417"
    # each fresh cell's assembly is confirmed inside the run that uses it
    for r in campaign:
        if r.start["plan_name"] in ("eis",) or r.start.get("purpose") == "titration_cycle":
            assert r.table("checkpoints")["operator_action"].tolist() == ["assemble_cell"]


def test_report_writes_markdown_table_and_figures(report):
    out = report["dir"]
    assert report["md"] == out / "report.md"
    for name in ("fig1ab_voltage_profiles.png", "fig1c_nyquist.png", "fig1d_na_distribution.png",
                 "fig1efg_gas_amounts.png"):
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000, name
        assert f"]({name})" in report["md"].read_text(encoding="utf-8")
    text = report["md"].read_text(encoding="utf-8")
    assert "10 runs analysed." in text and "Runs not analysed" not in text
    assert set(report["rows"]) == {paper.ELECTROLYTES[e] for e in ELECTROLYTES}


@pytest.mark.parametrize("electrolyte", ELECTROLYTES)
def test_table_numbers_are_the_collected_ones(report, electrolyte):
    row, found = report["rows"][paper.ELECTROLYTES[electrolyte]], report["found"]
    ce = mean_std(found.ce_first[electrolyte])[0]
    sei = mean_std([i["sei"] for i in found.inventory[electrolyte]])[0]
    assert row["CE cycle 1 (%)"] == f"{ce:.1f}"
    assert row["SEI (%)"] == f"{sei:.1f}"
    assert float(row["paper CE 1"]) == paper.CE_FIRST[electrolyte]
    assert float(row["paper SEI"]) == paper.SEI_FIRST[electrolyte]


@pytest.mark.parametrize("electrolyte", ELECTROLYTES)
def test_first_cycle_ce_and_sei_match_the_paper(report, electrolyte):
    found = report["found"]
    assert mean_std(found.ce_first[electrolyte])[0] == pytest.approx(paper.CE_FIRST[electrolyte], abs=2.0)
    assert mean_std([i["sei"] for i in found.inventory[electrolyte]])[0] == pytest.approx(
        paper.SEI_FIRST[electrolyte], abs=2.0)
    assert f"within ±{paper.TOLERANCE_PP:g} pp" in report["md"].read_text(encoding="utf-8")


def test_carbonate_loses_far_more_sodium_and_releases_more_gas_than_ether(report):
    found = report["found"]
    carb, ether = found.gases["ecdmc"][0], found.gases["dme"][0]
    assert carb["D2"] > 5 * ether["D2"] and carb["CO2"] > 5 * ether["CO2"]
    assert mean_std(found.r_interfacial["ecdmc"])[0] > 3 * mean_std(found.r_interfacial["dme"])[0]
