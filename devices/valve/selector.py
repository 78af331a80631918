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
from typing_extensions import override

from labctl.devices.clock import Clock
from labctl.devices.signals import DriverSignal
from labctl.devices.valve.device import NamedPositions


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


class StreamSelector(NamedPositions):
    """A multiposition valve whose ports are named: a port the profile leaves unnamed reads as ``"port <n>"``;
    ``port`` is the port number the actuator reads back."""

    kind_name = "stream_selector"
    what = "port"

    def _read_port(self) -> int:
        return self._driver.position()

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
        super().__init__(driver, to_port=ports, safe_position=safe_position, name=name, **kwargs)

    @override
    def name_of(self, port: int) -> str:
        """The name of port number *port* (``"port <n>"`` for a port the profile leaves unnamed)."""
        return self._to_name.get(port, f"port {port}")

    @override
    def _moved(self, position: str, port) -> None:
        super()._moved(position, port)
        self.port._readback = port
