"""One simulated lab (the default profile) shared by the experiment tests, and what they need to watch it.

Bringing the lab up costs seconds, so the tests of a module share one lab: each one assembles the fresh
cells it needs through the simulated operator and compares what was recorded with what the simulated world
says happened around its own runs. The lab is closed at the end of each module: its instruments' lines
(``sim://ms``...) are process-wide, as a COM port is, so a later test's lab must find them free.
"""

from __future__ import annotations

import pytest
from labwatch import FAST_TITRATION

from labctl.analysis.calibration import fit
from labctl.plans.calibration import ms_calibration
from labctl.plans.campaign import coin_cell_campaign
from labctl.session import Session


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    session = Session.from_profile(None, data_dir=tmp_path_factory.mktemp("lab-data"), quiet=True)
    yield session
    session.close()


@pytest.fixture(scope="module")
def world(lab):
    return lab.simlab.world


@pytest.fixture(scope="module")
def campaign(lab):
    """A small coin-cell campaign (EC:DMC and DME, two CE cycles, a blank): its stored runs."""
    d = lab.devices
    uids = lab.run(coin_cell_campaign(d["vmp3_1"], d["ms"], d["mfc"], lab.clock, d["operator"],
                                      valve=d["dems_valve"], d2o_pump=d["d2o_pump"], std_mfc=d["std_mfc"],
                                      electrolytes=("ecdmc", "dme"),
                                      ce_cycles=2, eis_f_stop="10 Hz", titration=FAST_TITRATION))
    return [lab.storage.run(uid) for uid in uids]


@pytest.fixture(scope="module")
def calibration(lab):
    """The MS calibrated with the profile's gas standard (``std_mfc``), fitted from its stored run."""
    d = lab.devices
    (uid,) = lab.run(ms_calibration(d["ms"], d["mfc"], d["std_mfc"], lab.clock, valve=d["dems_valve"]))
    return fit(lab.storage.run(uid))
