"""Fixtures: the simulated lab with a DEMS cell on the gas port, the RGA served three ways, and an
expected-protocol port that checks every byte the driver writes."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest

from labctl.sim.lab import SimLab
from labctl.sim.serial import ProtocolCore, install_url_handler, register, unregister
from labctl.sim.serial.serve import PtyServer, TcpServer
from labctl.sim.serial.srs import RGA

_ids = itertools.count()

GASES = {"D2": 4, "HD": 3, "CO2": 44, "O2": 32, "Ar": 40}


def make_lab(noise: float = 0.0) -> SimLab:
    return SimLab({"seed": 7, "noise": noise, "acceleration": 0,
                   "cells": {"dems": {"kind": "dems", "electrolyte": "ecdmc", "area_cm2": 1.0}},
                   "gas": {"vessel": "dems"}})


@pytest.fixture
def lab():
    lab = make_lab()
    lab.world.mfc("mfc").setpoint_mL_min = 2.0
    yield lab
    lab.close()


@pytest.fixture(params=["sim", "tcp", "pty"])
def front_end(request):
    return request.param


@pytest.fixture
def serve(front_end):
    """``serve(core) -> url`` on the parametrized front end; everything is torn down after the test."""
    stops = []

    def _serve(core: ProtocolCore) -> str:
        if front_end == "sim":
            name = f"{core.name}-{next(_ids)}"
            install_url_handler()
            register(name, core)
            stops.append(lambda: unregister(name))
            return f"sim://{name}"
        server = (TcpServer if front_end == "tcp" else PtyServer)(core).start()
        stops.append(server.stop)
        return server.url if front_end == "tcp" else server.path

    yield _serve
    for stop in reversed(stops):
        stop()


@pytest.fixture
def rga_core(lab):
    return RGA("ms", lab.world)


@pytest.fixture
def ms_spec():
    def _spec(**options):
        opts = {"gases": dict(GASES), "emission_mA": 1.0, "noise_floor": 3, "cycle_s": 1.0, **options}
        return SimpleNamespace(name="ms", kind="mass_spectrometer", driver="srs.rga", transport="sim://rga",
                               options=opts, limits={}, safe_state={"filament": "off"})
    return _spec


class ExpectedProtocol(ProtocolCore):
    """Replays a conversation: each write must equal the next expected request; its reply is returned."""

    def __init__(self, pairs):
        super().__init__("expected")
        self.pairs = list(pairs)
        self.log: list[bytes] = []

    def receive(self, data: bytes) -> bytes:
        self.log.append(data)
        assert self.pairs, f"unexpected write {data!r}: the conversation is over"
        request, reply = self.pairs.pop(0)
        assert data == request, f"driver wrote {data!r}, expected {request!r}"
        return reply


@pytest.fixture
def expected():
    """``expected(pairs) -> (url, core)``; asserts at teardown that the whole conversation happened."""
    made = []

    def _make(pairs):
        core = ExpectedProtocol(pairs)
        name = f"expected-{next(_ids)}"
        install_url_handler()
        register(name, core)
        made.append((name, core))
        return f"sim://{name}", core

    yield _make
    for name, core in made:
        unregister(name)
        assert not core.pairs, f"the driver never sent {[p[0] for p in core.pairs]}"
