"""Fixtures the tests share: the RunEngine and the documents it emits, closing what a test opened, a noiseless
simulated lab, the three ways of serving a simulator, an expected-protocol port that checks the bytes on the
wire, and a VMP3 bench (world, EClib fake, channel devices). A folder may define its own ``lab``."""

from __future__ import annotations

import itertools

import pytest

from labctl.devices.clock import LabClock
from labctl.devices.potentiostat.biologic import BioLogicBackend
from labctl.devices.potentiostat.device import Potentiostat
from labctl.session import run_engine
from labctl.sim.clock import SimClock
from labctl.sim.lab import SimLab
from labctl.sim.sdk.biologic import FakeEClib
from labctl.sim.serial import ProtocolCore, install_url_handler, register, unregister
from labctl.sim.serial.serve import PtyServer, TcpServer
from labctl.sim.world import World

_ids = itertools.count()


class Lab:
    """The simulated lab (noiseless, so flows and positions can be compared exactly), with *cells*."""

    def __init__(self, cells: dict | None = None):
        self.simlab = SimLab({"seed": 1, "noise": 0.0, **({"cells": cells} if cells else {})})
        self.clock, self.world = self.simlab.clock, self.simlab.world

    def close(self):
        self.simlab.close()


@pytest.fixture
def make_lab():
    """Build simulated labs (with the cells given), closed at the end of the test."""
    labs = []

    def make(cells: dict | None = None) -> Lab:
        labs.append(Lab(cells))
        return labs[-1]

    yield make
    for lab in labs:
        lab.close()


@pytest.fixture
def lab(make_lab):
    return make_lab()


@pytest.fixture(params=["sim", "tcp", "pty"])
def serve(request):
    """``serve(core) -> url`` on the front end named by the parameter (``serve.kind``)."""
    cleanup = []

    def _serve(core: ProtocolCore) -> str:
        if request.param == "sim":
            install_url_handler()
            name = f"{core.name}-{next(_ids)}"
            register(name, core)
            cleanup.append(lambda: unregister(name))
            return f"sim://{name}"
        server = (TcpServer if request.param == "tcp" else PtyServer)(core).start()
        cleanup.append(server.stop)
        return server.url if request.param == "tcp" else server.path

    _serve.kind = request.param
    yield _serve
    for fn in reversed(cleanup):
        fn()


class ExpectedProtocol(ProtocolCore):
    """A port that checks every byte the driver writes against a script and plays the scripted replies
    (in the style of pymeasure's ``expected_protocol``)."""

    def __init__(self, pairs):
        super().__init__("expected")
        self.pairs = [(bytes(a), bytes(b or b"")) for a, b in pairs]
        self.written = b""
        self._pending = b""

    def receive(self, data: bytes) -> bytes:
        self.written += data
        self._pending += data
        out = b""
        while self.pairs and self._pending.startswith(self.pairs[0][0]):
            sent, reply = self.pairs.pop(0)
            self._pending = self._pending[len(sent):]
            out += reply
        if self._pending and not any(p[0].startswith(self._pending) for p in self.pairs[:1]):
            raise AssertionError(f"unexpected bytes on the wire: {self._pending!r}; "
                                 f"next expected {self.pairs[0][0] if self.pairs else 'nothing'!r}")
        return out


@pytest.fixture
def expected():
    """``expected(pairs) -> (url, core)``; the test fails if the driver writes anything else."""
    install_url_handler()
    names = []

    def _make(pairs):
        core = ExpectedProtocol(pairs)
        name = f"expected-{next(_ids)}"
        register(name, core)
        names.append((name, core))
        return f"sim://{name}", core

    yield _make
    for name, core in names:
        unregister(name)
        assert not core.pairs, f"expected exchanges never happened: {core.pairs!r}"


@pytest.fixture
def closing():
    """``x = closing(driver_or_device)``: closed at teardown (``close``, or the method named), last opened
    first, whether the test passed or not."""
    opened = []

    def keep(obj, method: str = "close"):
        opened.append((obj, method))
        return obj

    yield keep
    for obj, method in reversed(opened):
        getattr(obj, method)()


@pytest.fixture
def docs():
    """Every document the test's RunEngine emitted, as (name, document), in order."""
    return []


@pytest.fixture
def RE(docs):
    """labctl's RunEngine for a test (``run_engine()``): it returns a RunEngineResult, leaves Ctrl-C to the
    test, keeps every document in ``docs``, and aborts a run left paused at teardown."""
    engine = run_engine({}, call_returns_result=True, context_managers=[])
    engine.subscribe(lambda name, doc: docs.append((name, doc)))
    yield engine
    if engine.state != "idle":
        engine.abort()


@pytest.fixture
def run(RE, docs):
    """``run(plan)``: run a plan on the test's RunEngine; the documents it emitted."""

    def go(plan):
        docs.clear()
        RE(plan)
        return list(docs)

    return go


# -- a VMP3 bench: one simulated instrument, channels 1 (coin cell, EC:DMC) and 2 (DME) -----------------------

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
    return LabClock(clock, name="clock")
