"""Fixtures every serial-instrument test uses: a noiseless simulated lab, the three ways of serving a
simulator, and an expected-protocol port that checks the bytes on the wire. A folder may define its own
``lab``."""

from __future__ import annotations

import itertools

import pytest

from labctl.sim.lab import SimLab
from labctl.sim.serial import ProtocolCore, install_url_handler, register, unregister
from labctl.sim.serial.serve import PtyServer, TcpServer

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
