"""``SyringePump``: one ophyd device over either pump driver.

``rate`` is signed by direction (+ infuse, − withdraw) in µL/h; ``bps.mv(pump.rate, 120)`` changes the
programmed rate (at once if the pump is running) and ``bps.mv(pump, "120 uL/h")`` also starts it; 0 stops.
Every rate is checked against the syringe's range (from the diameter and the pump's plunger speeds) and the
profile's ``rate_uL_h`` limits before anything is sent, so a bad request raises :class:`LimitError` with the
allowed range and the pump is left as it was.
"""

from __future__ import annotations

from typing import Protocol

from ophyd import Component as Cpt
from ophyd import Device
from ophyd.status import Status

from labctl.devices.errors import LimitError
from labctl.devices.options import InstrumentDescription
from labctl.devices.signals import DriverSignal
from labctl.devices.status import finished
from labctl.devices.units import magnitude

DIRECTIONS = ("infuse", "withdraw")


class PumpDriver(Protocol):
    """What :class:`SyringePump` needs from a driver (``NewEraPump`` and ``HarvardPump`` both offer it)."""

    name: str

    def rate_limits_uL_h(self, diameter_mm: float) -> tuple[float, float]:
        """The rates (µL/h) a syringe of *diameter_mm* allows on this pump."""
    def rate(self) -> float:
        """The programmed rate, µL/h (unsigned)."""
    def set_rate(self, uL_h: float) -> None:
        """Program the rate of the current direction, µL/h."""
    def direction(self) -> str:
        """``infuse`` or ``withdraw``: the way the next run goes."""
    def set_direction(self, direction: str) -> None:
        """Set the way the next run goes."""
    def diameter(self) -> float:
        """The syringe's inner diameter, mm."""
    def set_diameter(self, mm: float) -> None:
        """Program the syringe's inner diameter, mm."""
    def target_volume(self) -> float:
        """Volume dispensed before the pump stops by itself, µL (0: none)."""
    def set_target_volume(self, uL: float) -> None:
        """Program the target volume, µL (0 clears it)."""
    def run(self) -> None:
        """Start pumping."""
    def stop(self) -> None:
        """Stop pumping; never raises an alarm the pump reports on the way."""
    def status(self) -> str:
        """What the pump says it is doing (``infusing``, ``stopped``...)."""
    def running(self) -> bool:
        """Whether the plunger moves."""
    def dispensed(self) -> tuple[float, float]:
        """(infused, withdrawn) µL since they were last cleared."""
    def close(self) -> None:
        """Release the serial line."""


class SyringePump(Device):
    """A syringe pump: settable ``rate``, ``direction``, ``diameter``, ``target_volume``; readable
    ``running``, ``dispensed`` (net µL since cleared: infused − withdrawn) and ``status``."""

    # -- what the signals read and write (bound below, so a renamed method cannot be missed) --
    def _read_rate(self) -> float:
        rate = self.driver.rate()
        return rate if self.driver.direction() == "infuse" else -rate

    def _write_rate(self, value) -> None:
        rate = self.check_rate(value)
        if rate == 0:
            self.driver.stop()
            return
        self._apply(rate)

    def _read_direction(self) -> str:
        return self.driver.direction()

    def _write_direction(self, value) -> None:
        if value not in DIRECTIONS:
            raise ValueError(f"{self.name}: direction must be one of {DIRECTIONS}, not {value!r}")
        self.driver.set_direction(value)

    def _read_running(self) -> bool:
        return self.driver.running()

    def _read_status(self) -> str:
        return self.driver.status()

    def _read_dispensed(self) -> float:
        infused, withdrawn = self.driver.dispensed()
        return infused - withdrawn

    def _read_diameter(self) -> float:
        self._diameter_mm = self.driver.diameter()
        return self._diameter_mm

    def _write_diameter(self, value) -> None:
        mm = magnitude(value, "mm", name=f"{self.name} diameter")
        self.driver.set_diameter(mm)
        self._diameter_mm = mm

    def _read_target(self) -> float:
        return self.driver.target_volume()

    def _write_target(self, value) -> None:
        uL = magnitude(value, "uL", name=f"{self.name} target_volume")
        if uL < 0 or (self.syringe_volume_uL and uL > self.syringe_volume_uL):
            raise LimitError(f"{self.name}: target volume {uL:g} uL outside 0-{self.syringe_volume_uL:g} uL")
        self.driver.set_target_volume(uL)

    # set in the caller's thread: a refused rate raises in the plan, and the pump rounds to 4 digits
    rate = Cpt(DriverSignal, getter=_read_rate, setter=_write_rate, threaded=False, units="uL/h", kind="hinted")
    dispensed = Cpt(DriverSignal, getter=_read_dispensed, units="uL", kind="hinted")
    direction = Cpt(DriverSignal, getter=_read_direction, setter=_write_direction, threaded=False, kind="normal")
    running = Cpt(DriverSignal, getter=_read_running, kind="normal")
    status = Cpt(DriverSignal, getter=_read_status, kind="normal")
    diameter = Cpt(DriverSignal, getter=_read_diameter, setter=_write_diameter, threaded=False, units="mm",
                   kind="config")
    target_volume = Cpt(DriverSignal, getter=_read_target, setter=_write_target, threaded=False, units="uL",
                        kind="config")

    def __init__(self, driver: PumpDriver, *, name: str, rate_limits_uL_h=None, syringe_volume_uL=None,
                 safe_state: dict | None = None, **kwargs):
        self.driver = driver
        self._profile_limits = tuple(float(v) for v in rate_limits_uL_h) if rate_limits_uL_h else None
        self.syringe_volume_uL = syringe_volume_uL
        self.safe_state = dict(safe_state or {"running": False})
        self._diameter_mm = driver.diameter()
        super().__init__(name=name, **kwargs)

    # -- limits -------------------------------------------------------------------------------------
    def rate_limits(self) -> tuple[float, float]:
        """The magnitude range (µL/h) this syringe on this pump may run at, within the profile's limits."""
        lo, hi = self.driver.rate_limits_uL_h(self._diameter_mm)
        if self._profile_limits:
            lo, hi = max(lo, self._profile_limits[0]), min(hi, self._profile_limits[1])
        return lo, hi

    def instrument_description(self) -> InstrumentDescription:
        """What plans check their parameters against: the rates this syringe allows now."""
        return InstrumentDescription(self.name, "syringe_pump", rate_range_uL_h=self.rate_limits())

    def check_rate(self, value) -> float:
        """*value* (number in µL/h, string or quantity; signed) as µL/h, or :class:`LimitError`. 0 is stop."""
        rate = magnitude(value, "uL/h", name=f"{self.name} rate")
        lo, hi = self.rate_limits()
        if rate != 0 and not lo <= abs(rate) <= hi:
            raise LimitError(f"{self.name}: rate {abs(rate):g} uL/h is outside {lo:.4g}-{hi:.4g} uL/h "
                             f"(syringe {self._diameter_mm:g} mm"
                             + (f", profile limits {self._profile_limits[0]:g}-{self._profile_limits[1]:g} uL/h)"
                                if self._profile_limits else ")"))
        return rate

    # -- signal backends ----------------------------------------------------------------------------

    def _apply(self, rate: float) -> None:
        """Program a checked signed rate; a direction change stops the pump first and restarts it."""
        direction = "infuse" if rate > 0 else "withdraw"
        if self.driver.direction() != direction:
            was_running = self.driver.running()
            if was_running:
                self.driver.stop()
            self.driver.set_direction(direction)
            self.driver.set_rate(abs(rate))
            if was_running:
                self.driver.run()
        else:
            self.driver.set_rate(abs(rate))

    # -- Movable / Stoppable ------------------------------------------------------------------------
    def set(self, value) -> Status:
        """Pump at *value* (signed µL/h or a quantity like ``"240 uL/h"``); 0 stops. Done once it runs."""
        rate = self.check_rate(value)
        if rate == 0:
            self.driver.stop()
        else:
            self._apply(rate)
            if not self.driver.running():
                self.driver.run()
        return finished(self)

    def stop(self, *, success: bool = False) -> None:
        """Stop pumping. The RunEngine calls ``stop(success=True)`` on everything a plan moved when the
        plan ends normally; a flow that was set on purpose keeps going then (plans stop it explicitly)."""
        if not success:
            self.driver.stop()

    def safe(self) -> None:
        """The profile's safe state: the pump stopped."""
        if not self.safe_state.get("running", False):
            self.driver.stop()

    def clear_dispensed(self) -> None:
        """Start counting infused and withdrawn volumes from zero."""
        self.driver.clear_dispensed()

    def close(self) -> None:
        """Release the serial line."""
        self.driver.close()
