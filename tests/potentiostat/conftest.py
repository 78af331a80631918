"""A simulated lab with one VMP3: world, EClib fake, backends and devices on channels 1 (coin) and 2."""

import pytest

from labctl.devices.potentiostat.biologic import BioLogicBackend
from labctl.devices.potentiostat.device import Potentiostat
from labctl.sim.clock import SimClock
from labctl.sim.sdk.biologic import FakeEClib
from labctl.sim.world import World

LIMITS = {"current_A": [-0.4, 0.4], "voltage_V": [-10.0, 10.0]}
AREA = 1.767


@pytest.fixture
def clock():
    return SimClock(start=1_700_000_000.0)


@pytest.fixture
def world(clock):
    w = World(clock, seed=1, noise=1.0)
    w.add_cell("coin", "coin", "ecdmc", AREA, channel="vmp3:1")
    w.add_cell("coin_dme", "coin", "dme", 1.0, channel="vmp3:2")
    return w


@pytest.fixture
def eclib(world):
    return FakeEClib(world, "vmp3", plugged=(1, 2, 3, 4))


@pytest.fixture
def backend(eclib):
    b = BioLogicBackend(eclib, "vmp3", 1, name="vmp3_1")
    yield b
    b.disconnect()


@pytest.fixture
def pstat(eclib, clock):
    dev = Potentiostat(BioLogicBackend(eclib, "vmp3", 1, name="vmp3_1"), clock=clock, name="vmp3_1",
                       limits=LIMITS, electrode_area_cm2=AREA, poll_period=5.0)
    yield dev
    dev.destroy()


@pytest.fixture
def lab_clock(clock):
    from labctl.devices.clock import LabClock

    return LabClock(clock, name="clock")


@pytest.fixture
def RE():
    from labctl.session import run_engine

    re = run_engine({}, call_returns_result=True)
    docs = []
    re.subscribe(lambda name, doc: docs.append((name, doc)))
    re.docs = docs
    return re
