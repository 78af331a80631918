"""The simulated lab the Gamry tests share: the chip's Pt working electrode (0.0005 cm^2, DME) on channel
``ref600:1`` as in the default profile, starting Na-free near 2.7 V vs Na+/Na."""

from __future__ import annotations

import pytest

from labctl.sim.lab import SimLab

SECTION = "REF600-12345"
CHANNEL = "ref600:1"
AREA = 0.0005                       # cm^2
J10 = 10e-3 * AREA                  # A: 10 mA/cm^2 on the chip
SIM = {"seed": 1, "noise": 0.0,
       "cells": {"liquid": {"kind": "liquid", "electrolyte": "dme", "area_cm2": AREA, "channel": CHANNEL}}}


@pytest.fixture
def lab():
    lab = SimLab(SIM)
    yield lab
    lab.close()


@pytest.fixture
def com(lab):
    return lab.gamrycom()
