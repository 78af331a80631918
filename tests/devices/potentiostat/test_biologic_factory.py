"""Building VMP3 channels from profile entries on the simulated lab."""

import sys
from types import SimpleNamespace

import pytest

from labctl.factories.biologic import build as build_biologic
from labctl.sim.lab import SimLab

CONFIG = {"seed": 3, "cells": {"coin": {"kind": "coin", "electrolyte": "dme", "area_cm2": 1.767,
                                        "channel": "vmp3:1"}}}


def _spec(name, channel, transport="sim://vmp3", **options):
    return SimpleNamespace(name=name, kind="potentiostat", driver="biologic.vmp3", transport=transport,
                           options={"channel": channel, "electrode_area_cm2": 1.767, **options},
                           limits={"current_A": [-0.4, 0.4], "voltage_V": [-10.0, 10.0]},
                           safe_state={"cell": "off"})


@pytest.fixture
def ctx():
    lab = SimLab(CONFIG)
    yield SimpleNamespace(clock=lab.clock, simlab=lab)
    lab.close()


def test_channels_of_one_vmp3_share_one_connection(ctx):
    one = build_biologic(_spec("vmp3_1", 1), ctx)
    two = build_biologic(_spec("vmp3_2", 2), ctx)
    try:
        assert (one.name, two.name) == ("vmp3_1", "vmp3_2")
        assert one.backend.lib is two.backend.lib and one.backend.lib.calls.count("BL_Connect") == 1
        assert one.info["model"] == "VMP3" and one.info["channel"] == 1
        assert one.electrode_area.get() == 1.767 and one.limits["current_A"] == [-0.4, 0.4]
        reading = one.read()
        assert reading["vmp3_1_ewe"]["value"] == pytest.approx(ctx.simlab.world.cell("coin").ocv(), abs=0.01)
        assert one.describe()["vmp3_1_ewe"]["units"] == "V"
    finally:
        one.destroy()
        two.destroy()
    assert one.backend.lib.calls.count("BL_Disconnect") == 1


def test_profile_mistakes_are_explained(ctx):
    with pytest.raises(ValueError, match="needs the simulated lab"):
        build_biologic(_spec("vmp3_1", 1), SimpleNamespace(clock=ctx.clock, simlab=None))
    with pytest.raises(ValueError, match="options.channel is required"):
        spec = _spec("vmp3_1", 1)
        del spec.options["channel"]
        build_biologic(spec, ctx)
    with pytest.raises(ValueError, match="names no simulated instrument"):
        build_biologic(_spec("vmp3_1", 1, transport="sim://"), ctx)


@pytest.mark.skipif(sys.platform == "win32", reason="EClib is real on Windows")
def test_real_library_off_windows_says_so(ctx):
    with pytest.raises(OSError, match="only runs on Windows"):
        build_biologic(_spec("vmp3_1", 1, transport="192.168.0.20"), ctx)
