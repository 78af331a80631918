"""Fixtures: the simulated lab (serving simulators and expected-protocol ports: tests/conftest.py)."""

from __future__ import annotations

import pytest

from labctl.sim.lab import SimLab

LIQUID_CELL = {"kind": "liquid", "electrolyte": "dme", "area_cm2": 0.0005, "channel": "ref600:1"}


class Lab:
    """The simulated lab: its clock and world, with the liquid cell the pump feeds."""

    def __init__(self):
        self.simlab = SimLab({"seed": 1, "noise": 0.0, "cells": {"liquid": LIQUID_CELL}})
        self.clock, self.world = self.simlab.clock, self.simlab.world

    def close(self):
        self.simlab.close()


@pytest.fixture
def lab():
    lab = Lab()
    yield lab
    lab.close()
