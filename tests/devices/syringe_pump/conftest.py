"""Fixtures: the simulated lab (serving simulators and expected-protocol ports: tests/conftest.py)."""

from __future__ import annotations

import pytest

LIQUID_CELL = {"kind": "liquid", "electrolyte": "dme", "area_cm2": 0.0005, "channel": "ref600:1"}


@pytest.fixture
def lab(make_lab):
    """The simulated lab with the liquid cell the pump feeds."""
    return make_lab({"liquid": LIQUID_CELL})
