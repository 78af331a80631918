"""A two-position valve as an ophyd device whose positions have the lab's names.

The profile names the actuator's positions (``A = "sealed"``, ``B = "sweep"`` for the DEMS isolation valve)
so plans say what they mean: ``yield from bps.mv(valve, "sweep")``. A name the valve does not have is
refused before anything moves; the move's status finishes once the position has been read back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from ophyd import Component as Cpt
from ophyd import Device
from ophyd.status import Status
from typing_extensions import override

from labctl.devices.clock import Clock
from labctl.devices.errors import LimitError
from labctl.devices.options import InstrumentDescription
from labctl.devices.signals import DriverSignal
from labctl.devices.status import run_in_thread
from labctl.devices.valve.settings import POSITIONS


class ValveDriver(Protocol):
    """What :class:`TwoPositionValve` needs from a driver (``ViciActuator`` offers it)."""

    name: str
    clock: Clock

    def position(self) -> str:
        """``"A"`` or ``"B"``: where the valve is now."""

    def move(self, target: str) -> str:
        """Move to port *target* and return once the valve is there (raise if it never gets there)."""

    def close(self) -> None:
        """Release the line."""


class NamedPositions(Device):
    """A valve actuator whose positions the profile names: ``position_name`` reads and sets the named position
    (``position`` is a reserved ophyd attribute: here it returns the same name). Subclasses say how names map to
    the actuator's positions (``_to_port``, ``_to_name``) and what kind of instrument they are."""

    kind_name = "valve"
    what = "position"   # what a position is called in a refusal

    # -- what the signals read and write (bound below, so a renamed method cannot be missed) --
    def _read_position(self) -> str:
        return self.name_of(self._driver.position())

    def _write_position(self, position: str) -> None:
        self._driver.move(self.port_for(position))

    # an initial value of the right type, so that a descriptor made before the first read types it right
    position_name = Cpt(DriverSignal, getter=_read_position, setter=_write_position, value="", kind="hinted")

    def __init__(self, driver, *, to_port: Mapping[str, object], safe_position: str | None, name: str, **kwargs):
        if safe_position is not None and safe_position not in to_port:
            raise ValueError(f"{name}: safe position {safe_position!r} is not one of {list(to_port)}")
        self._driver = driver
        self._to_port = dict(to_port)
        self._to_name = {p: n for n, p in to_port.items()}
        self._safe_position = safe_position
        super().__init__(name=name, **kwargs)

    @property
    def driver(self):
        """The actuator driver underneath."""
        return self._driver

    @property
    def position_names(self) -> tuple[str, ...]:
        """The positions' names, in the actuator's order."""
        return tuple(self._to_name[p] for p in sorted(self._to_name))

    def instrument_description(self) -> InstrumentDescription:
        """What plans check their parameters against: the positions' names."""
        return InstrumentDescription(self.name, self.kind_name, position_names=self.position_names)

    def port_for(self, position: str):
        """The actuator position behind a position name; :class:`LimitError` naming the allowed ones if unknown."""
        if position not in self._to_port:
            raise LimitError(f"{self.name}: no {self.what} {position!r}; choose one of "
                             f"{', '.join(map(repr, self.position_names))}")
        return self._to_port[position]

    def name_of(self, port) -> str:
        """The name of actuator position *port*."""
        return self._to_name[port]

    @property
    def position(self) -> str:
        """The current position's name (read from the actuator)."""
        return self._read_position()

    # -- Movable ----------------------------------------------------------------------------------
    @override
    def set(self, position: str) -> Status:
        port = self.port_for(position)  # refuse before anything moves

        def run():
            self._driver.move(port)
            self._moved(position, port)

        return run_in_thread(run, obj=self, clock=self._driver.clock, name=f"{self.name}-move")

    def _moved(self, position: str, port) -> None:
        """Keep the read-backs of a confirmed move."""
        self.position_name._readback = position

    def safe(self) -> None:
        """Send the actuator to its safe position (if the profile names one) and wait until it is there."""
        if self._safe_position is not None:
            self._driver.move(self._to_port[self._safe_position])

    def close(self) -> None:
        """Release the serial line."""
        self._driver.close()


class TwoPositionValve(NamedPositions):
    """A two-position valve; ``actuator_position`` is the raw ``A``/``B``."""

    def _read_actuator_position(self) -> str:
        return self._driver.position()

    actuator_position = Cpt(DriverSignal, getter=_read_actuator_position, kind="normal")

    def __init__(self, driver: ValveDriver, *, positions: Mapping[str, str] | None = None,
                 safe_position: str | None = None, name: str, **kwargs):
        positions = dict(positions or {p: p for p in POSITIONS})
        if sorted(positions) != list(POSITIONS):
            raise ValueError(f"{name}: positions must name both A and B, got {positions!r}")
        names = [str(v) for v in positions.values()]
        if len(set(names)) != 2:
            raise ValueError(f"{name}: the two positions need different names, got {positions!r}")
        super().__init__(driver, to_port={v: k for k, v in positions.items()}, safe_position=safe_position,
                         name=name, **kwargs)
