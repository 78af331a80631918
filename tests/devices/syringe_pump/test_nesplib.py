"""nesp-lib, unchanged, drives the NE-1000 simulator through a pseudo-terminal (its SAF0 handshake too)."""

from __future__ import annotations

import sys

import nesp_lib
import pytest

from labctl.sim.serial.newera import NE1000
from labctl.sim.serial.serve import PtyServer

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")


def test_nesp_lib_infuses_into_the_liquid_cell(lab):
    core = NE1000("pump", lab.world, syringe_diameter_mm=4.78, syringe_volume_uL=1000.0, contents="electrolyte",
                  feeds="liquid")
    with PtyServer(core) as server:
        port = nesp_lib.Port(server.path, baud_rate=19200)
        pump = nesp_lib.Pump(port)  # framed SAF0 (meets the power-on alarm, sends again), then VER
        assert pump.model_number == 1000 and pump.firmware_version == (3, 928)
        pump.syringe_diameter_mm = 4.78
        pump.pumping_direction = nesp_lib.PumpingDirection.INFUSE
        pump.pumping_volume_ml = 0.1
        pump.pumping_rate_ml_per_min = 0.004  # 240 uL/h
        assert pump.syringe_diameter_mm == 4.78
        assert pump.pumping_rate_ml_per_min == pytest.approx(0.004)
        assert pump.pumping_volume_ml == pytest.approx(0.1)
        pump.run(wait_while_running=False)
        assert pump.running and pump.status == nesp_lib.Status.INFUSING
        lab.clock.advance(3600)  # 240 uL/h for an hour, but the target is 100 uL
        assert not pump.running
        assert pump.volume_infused_ml == pytest.approx(0.1)
        assert core.pump.infused_uL == pytest.approx(100.0)
        assert core.pump.contents_uL == pytest.approx(900.0)
        pump.volume_infused_clear()
        assert pump.volume_infused_ml == 0
        pump.safe_mode_timeout_s = 20  # nesp-lib switches to CRC framing and starts its heartbeat
        assert pump.safe_mode_timeout_s == 20 and core.safe_timeout_s == 20
        pump.safe_mode_timeout_s = 0
        port.close()
