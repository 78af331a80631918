"""The ophyd SyringePump, its factories and the flow plans, on the simulated lab."""

from __future__ import annotations

from types import SimpleNamespace

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import pytest

from labctl.devices.clock import LabClock
from labctl.devices.errors import LimitError
from labctl.devices.syringe_pump.errors import PumpStalled
from labctl.factories.harvard import build as build_harvard
from labctl.factories.newera import build as build_newera
from labctl.plans.fluidics import flow_schedule
from labctl.plans.params import ParameterError
from labctl.plans.stubs.fluidics import flow_segment

LIQUID_CELL = {"kind": "liquid", "electrolyte": "dme", "area_cm2": 0.0005, "channel": "ref600:1"}


@pytest.fixture
def lab(make_lab):
    """The simulated lab with the liquid cell the pump feeds."""
    return make_lab({"liquid": LIQUID_CELL})


@pytest.fixture
def ctx(lab):
    """What the session hands a factory: the lab clock and the running SimLab."""
    return SimpleNamespace(clock=lab.clock, simlab=lab.simlab)


def spec(name="pump", driver="newera.ne1000", **options):
    opts = {"address": 0, "baudrate": 19200, "syringe_diameter_mm": 4.78, "syringe_volume_uL": 1000.0,
            "contents": "DMC", "feeds": "liquid", **options}
    return SimpleNamespace(name=name, kind="syringe_pump", driver=driver, transport=f"sim://{name}", options=opts,
                           limits={"rate_uL_h": [1.0, 3000.0]}, safe_state={"running": False})


@pytest.fixture
def pump(ctx):
    device = build_newera(spec(), ctx)
    yield device
    device.close()


def test_flow_schedule_feeds_the_liquid_cell(lab, ctx, pump, RE):
    clock = LabClock(lab.clock, name="clock")
    docs = []
    RE(flow_schedule(pump, clock, [("240 uL/h", "40 min"), ("120 uL/h", "20 min")], read_every="10 min"),
       lambda name, doc: docs.append((name, doc)))
    world_pump = lab.world.pump("pump")
    assert world_pump.infused_uL == pytest.approx(200.0, abs=1e-6)   # 160 + 40 uL, in lab time
    assert world_pump.contents_uL == pytest.approx(800.0, abs=1e-6)
    assert not world_pump.running                                   # stopped at the end
    assert lab.world.cell("liquid").liquid()["salt_fraction"] < 1e-6  # 200 uL of solvent flushed the chip
    events = [d for n, d in docs if n == "event"]
    descriptor = next(d for n, d in docs if n == "descriptor")
    assert descriptor["data_keys"]["pump_rate"]["units"] == "uL/h"
    assert descriptor["data_keys"]["pump_dispensed"]["units"] == "uL"
    assert descriptor["data_keys"]["clock_time"]["units"] == "s"
    elapsed = [e["data"]["clock_elapsed"] for e in events]
    assert elapsed[0] == 0 and elapsed[-1] == pytest.approx(3600)
    assert events[-1]["data"]["pump_dispensed"] == pytest.approx(200.0, abs=0.01)
    assert {e["data"]["pump_rate"] for e in events} == {240.0, 120.0}
    start = next(d for n, d in docs if n == "start")
    assert start["plan_name"] == "flow_schedule" and start["total_volume_uL"] == pytest.approx(200)


def test_pump_is_stopped_when_the_plan_fails(lab, ctx, pump, RE):
    clock = LabClock(lab.clock, name="clock")
    lab.world.pump("pump").refill("DMC", 50.0)  # runs empty 12.5 min into the first segment
    with pytest.raises(PumpStalled):
        RE(flow_schedule(pump, clock, [("240 uL/h", "40 min")], read_every="5 min"))
    assert not lab.world.pump("pump").running
    assert lab.world.pump("pump").infused_uL == pytest.approx(50.0, abs=1e-6)


def test_bad_schedules_are_refused_before_anything_moves(lab, ctx, pump, RE):
    clock = LabClock(lab.clock, name="clock")
    with pytest.raises(LimitError, match=r"1-3000 uL/h"):
        RE(flow_schedule(pump, clock, [("240 uL/h", "1 min"), ("5 mL/h", "1 min")]))
    with pytest.raises(ParameterError, match="segments"):
        RE(flow_schedule(pump, clock, [("240 uL/h", "-1 min")]))
    with pytest.raises(ParameterError, match="rate"):
        RE(flow_schedule(pump, clock, [("240 mA", "1 min")]))
    with pytest.raises(ParameterError, match="direction"):
        RE(flow_schedule(pump, clock, [("240 uL/h", "1 min")], direction="sideways"))
    assert lab.world.pump("pump").infused_uL == 0 and not lab.world.pump("pump").running


def test_device_moves_reads_and_refuses(lab, ctx, pump, RE):
    RE(bps.mv(pump.rate, 120))
    assert pump.rate.get() == 120 and not pump.running.get()
    RE(bps.mv(pump, "240 uL/h"))
    assert pump.running.get() and pump.status.get() == "infusing"
    with pytest.raises(LimitError, match="outside"):
        RE(bps.mv(pump.rate, 1e4))
    with pytest.raises(LimitError):
        pump.set("0.5 uL/h")
    assert pump.rate.get() == 240 and lab.world.pump("pump").running
    lab.clock.advance(1800)
    assert pump.dispensed.get() == pytest.approx(120, abs=0.01)
    pump.set(-60)            # reverse: stops, turns round, goes on
    assert pump.direction.get() == "withdraw" and pump.rate.get() == -60 and pump.running.get()
    lab.clock.advance(3600)
    assert pump.dispensed.get() == pytest.approx(60, abs=0.01)
    pump.safe()
    assert not lab.world.pump("pump").running
    RE(bps.mv(pump.target_volume, 25, pump.direction, "infuse"))
    assert pump.target_volume.get() == 25 and pump.diameter.get() == 4.78
    with pytest.raises(LimitError):
        pump.target_volume.set(5000)
    reading = pump.read()
    assert set(reading) == {"pump_rate", "pump_dispensed", "pump_direction", "pump_running", "pump_status"}
    assert set(pump.read_configuration()) == {"pump_diameter", "pump_target_volume"}


def test_harvard_pump_feeds_the_titration_vial(lab, ctx, closing, RE):
    d2o = closing(build_harvard(spec("d2o_pump", "harvard.phd_ultra", baudrate=115200, syringe_diameter_mm=3.26,
                             syringe_volume_uL=500.0, contents="D2O", feeds="titration"), ctx))
    clock = LabClock(lab.clock, name="clock")
    docs = []
    RE(bpp.run_wrapper(flow_segment(d2o, clock, "1.2 mL/h", "5 min", read_every="1 min", stream="d2o")),
       lambda name, doc: docs.append((name, doc)))
    assert [d["name"] for n, d in docs if n == "descriptor"] == ["d2o"]
    assert len([d for n, d in docs if n == "event"]) == 6
    assert lab.world.pump("d2o_pump").running  # the segment leaves the flow to whoever comes next
    d2o.stop()
    assert lab.world.pump("d2o_pump").infused_uL == pytest.approx(100, abs=1e-6)
    assert d2o.dispensed.get() == pytest.approx(100, abs=0.01)
    assert d2o.diameter.get() == 3.26
