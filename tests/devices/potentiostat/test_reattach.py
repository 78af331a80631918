"""A VMP3 channel goes on with its technique while no computer is connected; a new process takes it up
(``Reattach``) instead of loading and starting it again."""

import pytest

from labctl.devices.potentiostat.biologic import BioLogicBackend
from labctl.devices.potentiostat.device import Potentiostat
from labctl.devices.potentiostat.techniques import Galvanostatic, Reattach

PLATE = Galvanostatic("-1 mA", charge="3.6 C", record_dt="10 s")   # one hour


def _new_pc(eclib, clock) -> Potentiostat:
    """The potentiostat as a freshly started process finds it (a new connection to the same instrument)."""
    return Potentiostat(BioLogicBackend(eclib, "vmp3", 1, name="vmp3_1"), clock=clock, name="vmp3_1",
                        limits={"current_A": [-0.4, 0.4]}, poll_period=5.0)


def _gone(pstat) -> None:
    """The process that drove *pstat* is gone: nothing stops the channel, its rows stay unread."""
    pstat.backend._conn = None


@pytest.mark.parametrize("pc_gone_for", [600.0, 5400.0], ids=["still running", "ended meanwhile"])
def test_a_technique_running_on_the_instrument_is_taken_up_not_restarted(clock, eclib, world, pc_gone_for):
    first = _new_pc(eclib, clock)
    first.prepare(PLATE)
    first.kickoff()
    clock.advance(1200)
    first.poll()                                  # read up to 20 min, then the computer dies
    _gone(first)
    clock.advance(pc_gone_for)

    eclib.calls.clear()
    again = _new_pc(eclib, clock)
    try:
        again.prepare(Reattach(PLATE))
        again.kickoff()
        again.complete().wait(5)
        assert "BL_LoadTechnique" not in eclib.calls and "BL_StartChannel" not in eclib.calls
        assert again.ended_by == "done"
        (page,) = list(again.collect_pages())
        t = page["data"]["vmp3_1_time"]
        # the rows the dead process had not read are in the instrument's memory: from 20 min to the end
        assert t[0] == pytest.approx(1210, abs=1e-3) and t[-1] == pytest.approx(3600, abs=1e-3)
        assert page["data"]["vmp3_1_Q"][-1] == pytest.approx(-3.6, rel=1e-3)   # the charge of the whole step
        stamps = page["timestamps"]["vmp3_1_Ewe"]
        assert stamps[-1] == pytest.approx(clock.start + 3600, abs=1e-3)       # lab time of the instrument's row
        assert world.channel("vmp3:1").state == "stop"
    finally:
        again.destroy()


def test_reattach_on_an_idle_channel_loads_and_starts_the_technique(clock, eclib):
    pstat = _new_pc(eclib, clock)
    try:
        pstat.prepare(Reattach(PLATE))
        pstat.kickoff()
        assert eclib.calls.count("BL_LoadTechnique") == 1 and eclib.calls.count("BL_StartChannel") == 1
        pstat.complete().wait(5)
        (page,) = list(pstat.collect_pages())
        assert page["data"]["vmp3_1_time"][0] == pytest.approx(0.0, abs=1e-3)
    finally:
        pstat.destroy()
