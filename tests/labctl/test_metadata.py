"""Metadata that contradicts the simulated lab's cells is refused before the run opens; on the real lab it is the
operator's word."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from labctl.app.cli import app
from labctl.devices.operator import Checkpoint
from labctl.metadata import MetadataContradiction, check, profile_cells
from labctl.plans.electrochem import ocv
from labctl.profile import load_profile, parse_profile
from labctl.session import Session


@pytest.fixture
def coin_lab(tmp_path):
    """The default simulated lab cut down to its clock and the coin cell's channel (EC:DMC on vmp3:1)."""
    with Session.from_profile(load_profile(None).restricted(["clock", "vmp3_1"]), data_dir=tmp_path) as lab:
        yield lab


def test_run_with_an_electrolyte_the_simulated_cell_does_not_hold_is_refused_before_connecting(tmp_path,
                                                                                                monkeypatch):
    monkeypatch.setenv("LABCTL_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("LABCTL_PROFILE", raising=False)
    result = CliRunner().invoke(app, ["run", "ocv", "-p", "pstat=vmp3_1", "-p", "duration=1 s", "-q",
                                      "--md", "electrolyte=dme"])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: --md electrolyte='dme' contradicts the simulated lab: vmp3_1 holds cell 'coin' filled with "
        "'ecdmc' (profile [sim.cells.coin]); give electrolyte='ecdmc' or leave it out")
    assert not (tmp_path / "data").exists()    # storage was never opened, so nothing was connected either


def test_a_prompt_run_contradicting_the_cell_opens_no_run_and_moves_nothing(coin_lab):
    t0 = coin_lab.clock.time.get()
    with pytest.raises(MetadataContradiction, match="vmp3_1 holds cell 'coin' filled with 'ecdmc'"):
        coin_lab.RE(ocv(coin_lab.vmp3_1, coin_lab.clock, duration="1 min"), electrolyte="dme")
    assert coin_lab.storage.runs() == []
    assert coin_lab.clock.time.get() == t0      # no technique ran: lab time never moved


def test_the_electrolyte_written_as_people_write_it_is_accepted_and_stored(coin_lab):
    (uid,) = coin_lab.RE(ocv(coin_lab.vmp3_1, coin_lab.clock, duration="1 min"), electrolyte="EC:DMC")
    assert coin_lab.storage.run(uid).start["electrolyte"] == "EC:DMC"


def test_a_cell_assembled_since_the_lab_started_is_what_counts(coin_lab):
    coin_lab.operator.set(Checkpoint("assemble_cell", "a fresh cell", {
        "name": "fresh", "kind": "coin", "electrolyte": "dme", "area_cm2": 1.767, "channel": "vmp3:1"})).wait(5)
    (uid,) = coin_lab.RE(ocv(coin_lab.vmp3_1, coin_lab.clock, duration="1 min"), electrolyte="dme")
    assert coin_lab.storage.run(uid).start["electrolyte"] == "dme"
    with pytest.raises(MetadataContradiction, match="holds cell 'fresh' filled with 'dme'"):
        coin_lab.RE(ocv(coin_lab.vmp3_1, coin_lab.clock, duration="1 min"), electrolyte="ecdmc")


def test_a_plan_that_prepares_its_own_cell_is_checked_against_its_own_electrolyte():
    cells = profile_cells(load_profile(None))
    check({"electrolyte": "dme", "plan_args": {"pstat": "vmp3_2", "electrolyte": "dme"}}, cells)
    with pytest.raises(MetadataContradiction, match="the plan's own electrolyte='dme'"):
        check({"electrolyte": "ecdmc", "plan_args": {"pstat": "vmp3_2", "electrolyte": "dme"}}, cells)


def test_the_mass_spectrometer_answers_for_the_cell_on_the_gas_port():
    with pytest.raises(MetadataContradiction, match="ms holds cell 'dems' filled with 'ecdmc'"):
        check({"electrolyte": "dme", "detectors": ["ms", "mfc"]}, profile_cells(load_profile(None)))


def test_on_the_real_lab_metadata_is_the_operators_word():
    real = parse_profile("""
[lab]
name = "bench"
[instruments.clock]
kind = "clock"
driver = "lab.clock"
[instruments.vmp3_1]
kind = "potentiostat"
driver = "biologic.vmp3"
transport = "USB0"
options = { channel = 1 }
""", "real.toml")
    assert profile_cells(real) == {}
    check({"electrolyte": "anything the operator says", "detectors": ["vmp3_1"]}, profile_cells(real))


def test_what_a_person_says_is_checked_and_what_a_plan_says_of_its_own_cell_is_the_plans_word(coin_lab):
    import bluesky.preprocessors as bpp

    def tagged():  # a plan that tags its run itself (as a campaign tags each cell it assembles)
        return bpp.run_wrapper(iter(()), md={"electrolyte": "dme", "detectors": ["vmp3_1"]})

    (uid,) = coin_lab.RE(tagged())
    assert coin_lab.storage.run(uid).start["electrolyte"] == "dme"
    with pytest.raises(MetadataContradiction, match="vmp3_1 holds cell 'coin'"):
        coin_lab.RE(tagged(), electrolyte="dme")       # said with the call: the person's word, checked
    (uid,) = coin_lab.RE(tagged())                      # the next call says nothing: the plan's word again
    assert coin_lab.storage.run(uid).start["electrolyte"] == "dme"
    coin_lab.RE.md["electrolyte"] = "dme"               # said in RE.md and not overridden by the plan
    try:
        with pytest.raises(MetadataContradiction, match="vmp3_1 holds cell 'coin'"):
            coin_lab.RE(bpp.run_wrapper(iter(()), md={"detectors": ["vmp3_1"]}))
    finally:
        del coin_lab.RE.md["electrolyte"]
