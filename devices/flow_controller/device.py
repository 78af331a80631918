"""A Bronkhorst mass-flow controller as an ophyd device: ``setpoint`` and ``flow`` in mL/min.

Setpoints travel as fSetpoint (a float in the instrument's capacity unit) so no resolution is lost to the
0-32000 scale; capacity, capacity unit and fluid are read once at connection and are configuration. A
setpoint beyond the instrument's capacity or the profile's limits is refused before anything is sent.

The device remembers the setpoint it commanded and checks every reading against it. A controller whose power
was interrupted comes back at its power-up setpoint (zero) and says nothing: a setpoint read back other than
the one commanded raises :class:`SetpointLost`. A blocked line or an empty cylinder leaves the flow short of a
good setpoint: a flow off its setpoint by more than ``deviation`` held for longer than ``settle_s`` of lab time
(both from the profile's options) raises :class:`FlowDeviation`. Either names the instrument, so the run ends
and labctl commands the safe setpoint itself (the propar controllers have no communication watchdog of
their own here).
"""

from __future__ import annotations

from ophyd import Component as Cpt
from ophyd import Device
from ophyd.status import Status

from labctl.devices.clock import Clock
from labctl.devices.errors import InstrumentError, LimitError, ProtocolError
from labctl.devices.flow_controller.bronkhorst import CAPACITY, CAPACITY_UNIT, FLUID_NAME, FMEASURE, FSETPOINT, Propar
from labctl.devices.flow_controller.settings import GasStandard
from labctl.devices.options import InstrumentDescription
from labctl.devices.signals import DriverSignal
from labctl.devices.status import finished
from labctl.devices.units import magnitude

# capacity units (as the instrument spells them, lower case) -> mL/min per unit
FLOW_UNITS = {"mln/min": 1.0, "ml/min": 1.0, "mls/min": 1.0, "ln/min": 1000.0, "l/min": 1000.0,
              "ls/min": 1000.0, "mln/h": 1 / 60, "ml/h": 1 / 60, "ln/h": 1000 / 60, "l/h": 1000 / 60}


class SetpointLost(InstrumentError):
    """The controller's setpoint is not the one labctl commanded (a power cycle resets it to zero)."""


class FlowDeviation(InstrumentError):
    """The flow stayed off its setpoint for longer than the settle time (line blocked, cylinder empty)."""


class MassFlowController(Device):
    """``set``/``bps.mv`` the setpoint (quantities or strings with units accepted); read ``flow``."""

    # -- what the signals read and write (bound below, so a renamed method cannot be missed) --
    def _read_flow(self) -> float:
        flow, setpoint = (v * self._scale for v in self._driver.read(FMEASURE, FSETPOINT))
        self._check_setpoint_kept(setpoint)
        self._check_flow(flow, setpoint)
        return flow

    def _read_setpoint(self) -> float:
        setpoint = self._driver.read(FSETPOINT)[0] * self._scale
        self._check_setpoint_kept(setpoint)
        return setpoint

    def _write_setpoint(self, value) -> None:
        flow = self.check_setpoint(value)
        self._command(flow)

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
                 safe_setpoint: float | None = None, standard: GasStandard | None = None, name: str,
                 clock: Clock | None = None, settle_s: float = 30.0, deviation_rel: float = 0.1,
                 deviation_mL_min: float = 0.02, **kwargs):
        if not (settle_s > 0 and deviation_rel > 0 and deviation_mL_min > 0):
            raise ValueError(f"{name}: settle_s, deviation_rel and deviation_mL_min must be positive")
        self._driver = driver
        self._clock = clock
        self.settle_s, self.deviation_rel, self.deviation_mL_min = float(settle_s), float(deviation_rel), \
            float(deviation_mL_min)
        self._commanded: float | None = None     # the setpoint labctl last sent, mL/min
        self._off_since: float | None = None     # lab time the flow was first seen off that setpoint
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

    # -- what the instrument is told and what it says back -----------------------------------------
    def _command(self, flow: float) -> None:
        self._driver.write(FSETPOINT, flow / self._scale)
        self._commanded, self._off_since = flow, None

    def _check_setpoint_kept(self, setpoint: float) -> None:
        commanded = self._commanded
        if commanded is not None and abs(setpoint - commanded) > 1e-4 * self._capacity + 1e-6 * commanded:
            self._commanded = None   # said once; the safe setpoint is commanded next
            raise SetpointLost(self.name, f"setpoint reads {setpoint:g} mL/min, not the {commanded:g} mL/min "
                                          "commanded: the controller was reset (power interrupted?) or set by "
                                          "somebody else", f"fSetpoint={setpoint:g}")

    def _check_flow(self, flow: float, setpoint: float) -> None:
        if self._clock is None:
            return
        now = self._clock.now()
        if abs(flow - setpoint) <= max(self.deviation_rel * setpoint, self.deviation_mL_min):
            self._off_since = None
            return
        if self._off_since is None:
            self._off_since = now
        elif now - self._off_since > self.settle_s:
            held, self._off_since = now - self._off_since, None
            raise FlowDeviation(self.name, f"flow {flow:g} mL/min is off its setpoint {setpoint:g} mL/min for "
                                           f"{held:g} s (lab time; settle_s {self.settle_s:g} s): line blocked or "
                                           "gas supply empty?", f"fMeasure={flow:g}")

    # -- signals ----------------------------------------------------------------------------------

    # -- Movable ----------------------------------------------------------------------------------
    def set(self, value) -> Status:
        """Send the setpoint; done once the instrument acknowledged it (the flow follows on its own)."""
        flow = self.check_setpoint(value)
        self.setpoint.put(flow)
        return finished(self)

    def stop(self, *, success: bool = False) -> None:
        """Zero flow (the safe setpoint) unless the run that set the flow ended well: the RunEngine calls this
        on every device a plan moved when the run fails or is aborted, and the controller has no watchdog that
        would stop the gas if labctl did not."""
        if not success:
            self.safe()

    def safe(self) -> None:
        """Set the profile's safe setpoint (no flow when the profile does not say)."""
        self._command(self._safe_setpoint or 0.0)

    def close(self) -> None:
        """Release the serial line."""
        self._driver.close()
