"""The lab's gas plans on a Pfeiffer QMG instead of the SRS RGA: same device interface, same analysis."""

from __future__ import annotations

import pytest
from labwatch import FAST_TITRATION

from labctl.analysis import runs as analyse
from labctl.analysis.calibration import fit
from labctl.plans.calibration import ms_calibration
from labctl.plans.titration import online_ms_titration
from labctl.profile import default_profile_path
from labctl.session import Session

QMG = ('driver = "pfeiffer.qmg220"\ntransport = "sim://qms"\n'
       'options = { gases = { D2 = 4, HD = 3, CO2 = 44, O2 = 32, Ar = 40 }, emission_mA = 1.0, cycle_s = 1.0 }')


@pytest.fixture(scope="module")
def qmg_lab(tmp_path_factory):
    text = default_profile_path().read_text(encoding="utf-8")
    head, _, tail = text.partition("[instruments.ms]")
    entry, _, rest = tail.partition("safe_state")
    lines = [line for line in entry.splitlines() if line.startswith("kind")]
    profile = tmp_path_factory.mktemp("qmg") / "qmg-lab.toml"
    profile.write_text(f"{head}[instruments.ms]\n{lines[0]}\n{QMG}\nsafe_state{rest}", encoding="utf-8")
    session = Session.from_profile(profile, data_dir=tmp_path_factory.mktemp("qmg-data"), quiet=True)
    yield session
    session.close()


def test_calibration_and_titration_run_on_the_qmg_and_quantify(qmg_lab):
    lab, d = qmg_lab, qmg_lab.devices
    assert lab.profile.instruments["ms"].driver == "pfeiffer.qmg220"
    (cal_uid,) = lab.run(ms_calibration(d["ms"], d["mfc"], d["std_mfc"], lab.clock, valve=d["dems_valve"]))
    calibration = fit(lab.storage.run(cal_uid))
    world = lab.simlab.world
    head = world.mass_spec("ms")
    for gas in ("D2", "HD", "CO2"):
        truth = head.sensitivity(gas) / head.sensitivity("Ar")
        assert calibration.relative_sensitivity(gas) == pytest.approx(truth, rel=0.02), gas
    (uid,) = lab.run(online_ms_titration(d["ms"], d["mfc"], lab.clock, d["operator"], valve=d["dems_valve"],
                                         d2o_pump=d["d2o_pump"], std_mfc=d["std_mfc"], cell="blank", blank=True,
                                         electrolyte="ecdmc", **FAST_TITRATION))
    result = analyse.titration(lab.storage.run(uid), calibration)
    assert result.calibration_uid == calibration.uid
    assert not result.drift.stale, result.drift.describe()
    assert head.emission_mA > 0          # the filament stays on after a titration, as with the RGA
