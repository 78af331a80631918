"""The MFC as plans use it: built by the factory, set with bps.mv in mL/min, read with units."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from bluesky import plan_stubs as bps

from labctl.devices.errors import LimitError
from labctl.devices.flow_controller.device import FlowDeviation, SetpointLost
from labctl.factories.bronkhorst import build as build_bronkhorst
from labctl.sim.serial.bronkhorst import ProparInstrument


@pytest.fixture
def core(lab):
    return ProparInstrument("mfc", lab.world, node=128, fluid="Ar")


@pytest.fixture
def mfc(lab, serve, core):
    url = serve(core)
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


def test_a_setpoint_lost_to_a_power_cut_is_an_error_naming_the_mfc(lab, core, mfc, RE):
    RE(bps.mv(mfc, "1 mL/min"))
    lab.clock.advance(30)
    assert mfc.read()["mfc_flow"]["value"] == pytest.approx(1.0, rel=0.02)
    core.power_cycle()          # back at its power-up setpoint, and says nothing
    with pytest.raises(SetpointLost, match=r"^mfc: setpoint reads 0 mL/min, not the 1 mL/min commanded"):
        mfc.read()
    mfc.safe()
    assert mfc.read()["mfc_setpoint"]["value"] == 0.0


def test_a_flow_off_its_setpoint_for_longer_than_the_settle_time_is_a_deviation(lab, mfc, RE):
    RE(bps.mv(mfc, "2 mL/min"))
    mfc.read()                              # at once: the flow has not followed yet, and need not
    lab.clock.advance(20)
    mfc.read()
    lab.world.inject_fault("mfc", "blocked")
    lab.clock.advance(1)
    mfc.read()                              # off the setpoint from here on
    lab.clock.advance(30)
    mfc.read()                              # 30 s: still within settle_s
    lab.clock.advance(1)
    with pytest.raises(FlowDeviation, match=r"^mfc: flow 0 mL/min is off its setpoint 2 mL/min for 31 s "
                                            r"\(lab time; settle_s 30 s\)"):
        mfc.read()
    lab.world.clear_fault("mfc")
    lab.clock.advance(5)
    mfc.read()                              # flowing again: no deviation
    lab.clock.advance(60)
    assert mfc.read()["mfc_flow"]["value"] == pytest.approx(2.0, rel=0.02)
