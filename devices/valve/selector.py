"""A stream selector (multiposition valve) as an ophyd device whose ports have the lab's names.

The profile names the ports by the gas line plumbed to each (``carrier = 1``, ``calibration_gas = 2``,
``dems_cell = 3``...), so plans say which gas the MS gets: ``yield from bps.mv(ms_selector, "dems_cell")``.
A name the selector does not have is refused before anything turns; a move's status finishes once the
actuator reads the port back, and fails with the driver's error when it never gets there.
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


class SelectorDriver(Protocol):
    """What :class:`StreamSelector` needs from a driver (``ViciSelectorActuator`` offers it)."""

    name: str
    clock: Clock
    positions: int

    def position(self) -> int:
        """The port number the rotor is at now."""

    def move(self, target: int) -> int:
        """Turn to port *target* and return once it is there (raise if it never gets there)."""

    def close(self) -> None:
        """Release the line."""


class StreamSelector(Device):
    """``position_name`` reads and sets the named port (a port the profile leaves unnamed reads as
    ``"port <n>"``); ``port`` is the port number the actuator reads back."""

    # -- what the signals read and write (bound below, so a renamed method cannot be missed) --
    def _read_port(self) -> int:
        return self._driver.position()

    def _read_position(self) -> str:
        return self.name_of(self._driver.position())

    def _write_position(self, position: str) -> None:
        self._driver.move(self.port_for(position))

    # initial values of the right type, so that a descriptor made before the first read types them right
    position_name = Cpt(DriverSignal, getter=_read_position, setter=_write_position, value="", kind="hinted")
    port = Cpt(DriverSignal, getter=_read_port, value=0, units="1", kind="normal")

    def __init__(self, driver: SelectorDriver, *, ports: Mapping[str, int], safe_position: str | None = None,
                 name: str, **kwargs):
        ports = dict(ports)
        if not ports:
            raise ValueError(f"{name}: name at least one port")
        numbers = list(ports.values())
        bad = [p for p in numbers if isinstance(p, bool) or not isinstance(p, int) or not 1 <= p <= driver.positions]
        if bad:
            raise ValueError(f"{name}: port {bad[0]!r} is not one of the selector's ports 1-{driver.positions}")
        if len(set(numbers)) != len(numbers):
            raise ValueError(f"{name}: each port takes one name, got {ports!r}")
        if safe_position is not None and safe_position not in ports:
            raise ValueError(f"{name}: safe position {safe_position!r} is not one of {sorted(ports)}")
        self._driver = driver
        self._to_port = ports
        self._to_name = {p: n for n, p in ports.items()}
        self._safe_position = safe_position
        super().__init__(name=name, **kwargs)

    @property
    def driver(self) -> SelectorDriver:
        """The actuator driver underneath."""
        return self._driver

    @property
    def position_names(self) -> tuple[str, ...]:
        """The port names, in port order."""
        return tuple(self._to_name[p] for p in sorted(self._to_name))

    def instrument_description(self) -> InstrumentDescription:
        """What plans check their parameters against: the ports' names."""
        return InstrumentDescription(self.name, "stream_selector", position_names=self.position_names)

    def port_for(self, position: str) -> int:
        """The port number behind a port name; :class:`LimitError` naming the allowed ports if unknown."""
        if position not in self._to_port:
            raise LimitError(f"{self.name}: no port {position!r}; choose one of "
                             f"{', '.join(map(repr, self.position_names))}")
        return self._to_port[position]

    def name_of(self, port: int) -> str:
        """The name of port number *port* (``"port <n>"`` for a port the profile leaves unnamed)."""
        return self._to_name.get(port, f"port {port}")

    @property
    def position(self) -> str:
        """The current port's name (read from the actuator)."""
        return self._read_position()

    # -- Movable ----------------------------------------------------------------------------------
    @override
    def set(self, position: str) -> Status:
        port = self.port_for(position)  # refuse before anything turns

        def run():
            self._driver.move(port)
            self.position_name._readback = position
            self.port._readback = port

        return run_in_thread(run, obj=self, clock=self._driver.clock, name=f"{self.name}-move")

    def safe(self) -> None:
        """Turn to the safe port (if the profile names one) and wait until it is there."""
        if self._safe_position is not None:
            self._driver.move(self._to_port[self._safe_position])

    def close(self) -> None:
        """Release the serial line."""
        self._driver.close()
