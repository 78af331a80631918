"""A Bronkhorst mass-flow controller as an ophyd device: ``setpoint`` and ``flow`` in mL/min.

Setpoints travel as fSetpoint (a float in the instrument's capacity unit) so no resolution is lost to the
0-32000 scale; capacity, capacity unit and fluid are read once at connection and are configuration. A
setpoint beyond the instrument's capacity or the profile's limits is refused before anything is sent.
"""

from __future__ import annotations

from ophyd import Component as Cpt
from ophyd import Device
from ophyd.status import Status

from labctl.devices.errors import LimitError, ProtocolError
from labctl.devices.flow_controller.bronkhorst import CAPACITY, CAPACITY_UNIT, FLUID_NAME, FMEASURE, FSETPOINT, Propar
from labctl.devices.flow_controller.settings import GasStandard
from labctl.devices.options import InstrumentDescription
from labctl.devices.signals import DriverSignal
from labctl.devices.status import finished
from labctl.devices.units import magnitude

# capacity units (as the instrument spells them, lower case) -> mL/min per unit
FLOW_UNITS = {"mln/min": 1.0, "ml/min": 1.0, "mls/min": 1.0, "ln/min": 1000.0, "l/min": 1000.0,
              "ls/min": 1000.0, "mln/h": 1 / 60, "ml/h": 1 / 60, "ln/h": 1000 / 60, "l/h": 1000 / 60}


class MassFlowController(Device):
    """``set``/``bps.mv`` the setpoint (quantities or strings with units accepted); read ``flow``."""

    # -- what the signals read and write (bound below, so a renamed method cannot be missed) --
    def _read_flow(self) -> float:
        return self._driver.read(FMEASURE)[0] * self._scale

    def _read_setpoint(self) -> float:
        return self._driver.read(FSETPOINT)[0] * self._scale

    def _write_setpoint(self, value) -> None:
        flow = self.check_setpoint(value)
        self._driver.write(FSETPOINT, flow / self._scale)

    def _read_capacity(self) -> float:
        return self._capacity

    def _read_fluid(self) -> str:
        return self._fluid

    flow = Cpt(DriverSignal, getter=_read_flow, units="mL/min", kind="hinted")
    setpoint = Cpt(DriverSignal, getter=_read_setpoint, setter=_write_setpoint, units="mL/min",
                   kind="normal")
    capacity = Cpt(DriverSignal, getter=_read_capacity, units="mL/min", kind="config")
    fluid = Cpt(DriverSignal, getter=_read_fluid, kind="config")

    def __init__(self, driver: Propar, *, limits: tuple[float, float] | None = None,
                 safe_setpoint: float | None = None, standard: GasStandard | None = None, name: str, **kwargs):
        self._driver = driver
        #: the certified gas standard on this MFC (from the profile), or None for a carrier
        self.standard = standard
        capacity, unit, fluid = driver.read(CAPACITY, CAPACITY_UNIT, FLUID_NAME)
        try:
            self._scale = FLOW_UNITS[unit.strip().lower()]
        except KeyError:
            raise ProtocolError(name, "capacity unit is not a volume flow labctl knows", unit) from None
        self._capacity = capacity * self._scale
        self._fluid = fluid.strip()
        low, high = (0.0, self._capacity) if limits is None else (float(limits[0]), float(limits[1]))
        if low > high:
            raise ValueError(f"{name}: flow limits {low}..{high} mL/min are empty")
        self._limits = (max(0.0, low), min(high, self._capacity))
        self._safe_setpoint = None if safe_setpoint is None else float(safe_setpoint)
        super().__init__(name=name, **kwargs)

    @property
    def driver(self) -> Propar:
        """The propar driver underneath."""
        return self._driver

    @property
    def limits(self) -> tuple[float, float]:
        """Allowed setpoints in mL/min: the profile's limits within the instrument's capacity."""
        return self._limits

    def instrument_description(self) -> InstrumentDescription:
        """What plans check their parameters against: the setpoints allowed (profile limits within capacity)."""
        options = {"standard": self.standard.model_dump()} if self.standard is not None else {}
        return InstrumentDescription(self.name, "flow_controller", options=options,
                                     setpoint_range_mL_min=self._limits)

    def check_setpoint(self, value) -> float:
        """*value* in mL/min, or :class:`LimitError` if it is outside :attr:`limits`."""
        flow = magnitude(value, "mL/min", name=f"{self.name} setpoint")
        low, high = self._limits
        if not low <= flow <= high:
            raise LimitError(f"{self.name}: setpoint {flow:g} mL/min is outside {low:g}..{high:g} mL/min "
                             f"(capacity {self._capacity:g} mL/min of {self._fluid})")
        return flow

    # -- signals ----------------------------------------------------------------------------------

    # -- Movable ----------------------------------------------------------------------------------
    def set(self, value) -> Status:
        """Send the setpoint; done once the instrument acknowledged it (the flow follows on its own)."""
        flow = self.check_setpoint(value)
        self.setpoint.put(flow)
        return finished(self)

    def safe(self) -> None:
        """Set the profile's safe setpoint (no flow when the profile does not say)."""
        self._driver.write(FSETPOINT, (self._safe_setpoint or 0.0) / self._scale)

    def close(self) -> None:
        """Release the serial line."""
        self._driver.close()
