"""The MFC as plans use it: built by the factory, set with bps.mv in mL/min, read with units."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from bluesky import plan_stubs as bps

from labctl.devices.errors import LimitError
from labctl.factories.bronkhorst import build as build_bronkhorst
from labctl.sim.serial.bronkhorst import ProparInstrument


@pytest.fixture
def mfc(lab, serve):
    url = serve(ProparInstrument("mfc", lab.world, node=128, fluid="Ar"))
    spec = SimpleNamespace(name="mfc", kind="flow_controller", driver="bronkhorst.propar", transport="sim://mfc",
                           options={"node": 128, "fluid": "Ar"}, limits={"flow_mL_min": [0.0, 4.0]},
                           safe_state={"setpoint_mL_min": 0.0})
    dev = build_bronkhorst(spec, SimpleNamespace(clock=lab.clock, simlab=SimpleNamespace(
        serial=lambda name, driver, options: url)))
    yield dev
    dev.close()


def test_mv_sets_the_flow_and_readings_carry_units(lab, mfc, RE):
    RE(bps.mv(mfc, "1.5 mL/min"))
    assert lab.world.mfc("mfc").setpoint_mL_min == pytest.approx(1.5)
    lab.clock.advance(30)
    reading = mfc.read()
    assert reading["mfc_flow"]["value"] == pytest.approx(1.5, rel=0.02)
    assert reading["mfc_setpoint"]["value"] == pytest.approx(1.5)
    assert mfc.describe()["mfc_flow"]["units"] == "mL/min"
    config = mfc.read_configuration()
    assert config["mfc_capacity"]["value"] == pytest.approx(5.0) and config["mfc_fluid"]["value"] == "Ar"
    mfc.safe()
    assert lab.world.mfc("mfc").setpoint_mL_min == 0.0


def test_beyond_the_profile_limit_is_refused_before_anything_moves(lab, mfc, RE):
    with pytest.raises(LimitError, match="outside 0..4 mL/min"):
        RE(bps.mv(mfc, "0.3 L/min"))
    assert lab.world.mfc("mfc").setpoint_mL_min == 0.0


def test_factory_with_the_simulated_lab(lab, RE):
    spec = SimpleNamespace(name="mfc", kind="flow_controller", driver="bronkhorst.propar", transport="sim://mfc",
                           options={"node": 128, "fluid": "Ar"}, limits={"flow_mL_min": [0.0, 5.0]},
                           safe_state={"setpoint_mL_min": 0.0})
    mfc = build_bronkhorst(spec, SimpleNamespace(clock=lab.clock, simlab=lab.simlab))
    try:
        RE(bps.mv(mfc, 2.0))
        assert lab.world.mfc("mfc").setpoint_mL_min == pytest.approx(2.0)
    finally:
        mfc.close()
