"""The simulated lab saved mid-technique and started again from the saved state goes on as if never stopped:
what a resumed process needs to find the same simulated world after a crash."""

import numpy as np

from labctl.sim.lab import SimLab
from labctl.sim.world.channel import Step

CONFIG = {"seed": 7, "noise": 1.0, "cells": {"coin": {"kind": "coin", "electrolyte": "dme", "area_cm2": 1.767,
                                                        "channel": "vmp3:1"}}}


def _samples(lab, seconds):
    lab.clock.advance(seconds)
    return [(s.t, s.Ewe, s.I, s.Q) for s in lab.world.channel("vmp3:1").drain()]


def test_a_lab_started_from_its_saved_state_goes_on_where_it_was():
    lab = SimLab(CONFIG)
    channel = lab.world.channel("vmp3:1")
    channel.load([Step("cc", value=-1e-3, duration=7200.0, record_dt=60.0)])
    channel.start()
    lab.clock.advance(1800)
    channel.drain()
    lab.eclib("vmp3")                              # an instrument fake holding state of its own
    state = lab.snapshot()
    on = _samples(lab, 3600)

    again = SimLab(CONFIG, state=state)
    assert again.clock.now() == lab.clock.now() - 3600
    assert again.world.cells() == lab.world.cells() and again.eclib("vmp3") is not lab.eclib("vmp3")
    assert again.world.channel("vmp3:1").state == "run"  # the technique goes on in the restored lab
    resumed = _samples(again, 3600)
    assert len(resumed) == len(on) == 60
    np.testing.assert_allclose(resumed, on, rtol=0, atol=1e-9)


def test_a_gamry_technique_ends_with_the_process_a_vmp3_technique_does_not():
    config = {**CONFIG, "cells": {**CONFIG["cells"], "liquid": {"kind": "liquid", "electrolyte": "dme",
                                                                 "area_cm2": 0.1, "channel": "ref600:1"}}}
    lab = SimLab(config)
    lab.eclib("vmp3")
    for name in ("vmp3:1", "ref600:1"):
        lab.world.channel(name).load([Step("cc", value=-1e-5, duration=7200.0, record_dt=60.0)])
        lab.world.channel(name).start()
    lab.clock.advance(600)
    again = SimLab(config, state=lab.snapshot())
    assert again.world.channel("vmp3:1").state == "run"
    assert again.world.channel("ref600:1").state == "stop"
