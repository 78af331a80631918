"""The MS stream selector: a multiposition rotor choosing which gas line reaches the mass spectrometer.

Each port is plumbed to a line: the gas-port line (``"gas_port"``: valve, vessel and the line to the MS, as
:mod:`labctl.sim.world.gas` models it), pure carrier (``"carrier"``), a cylinder of fixed composition (mole
fractions of tracked gases in Ar) or nothing (``"closed"``: selecting it stops the flow through the outlet,
which then holds what it had). The selector is flow-through: every line flows
all the time (the ones not selected to vent), so a line reaches the rotor with fresh gas; the selected one
goes on through the common outlet, the rotor passage and tubing to the MS inlet (``dead_volume_mL``). That
outlet is short and narrow, so it is plug flow: after a switch the MS goes on seeing the old line's gas until
the outlet's volume has been displaced, ``dead_volume_mL / F`` later at flow F, then sees the new line's.
Every line is balanced to the gas-port line's flow (carrier plus any standard), so F is that flow and the
MS inlet pressure does not jump on switching. The gas-port line's own volumes already include its way to
the MS, so with that port selected and no switch in the outlet the MS reads the line exactly as without a
selector.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from labctl.sim.world.gas import Rotor
from labctl.sim.world.params import SPECIES

STEP_TIME_S = 0.1          # rotor time per port passed (multiposition electric actuator)
SOURCES = ("gas_port", "carrier", "closed")


def line_source(port: int, source) -> str | np.ndarray:
    """A port's line as the selector keeps it: one of :data:`SOURCES` or an array of mole fractions."""
    if isinstance(source, str):
        if source not in SOURCES:
            raise ValueError(f"selector port {port}: line must be one of {', '.join(SOURCES)} or a composition "
                             f"table, got {source!r}")
        return source
    if isinstance(source, Mapping):
        unknown = sorted(set(source) - set(SPECIES))
        fractions = [source.get(g, 0.0) for g in SPECIES]
        if unknown or not all(isinstance(x, (int, float)) and x >= 0 for x in fractions) \
                or not 0 < sum(fractions) <= 1:
            raise ValueError(f"selector port {port}: a composition gives fractions of {', '.join(SPECIES)} "
                             f"summing to at most 1, got {dict(source)}")
        return np.array([float(x) for x in fractions])
    raise ValueError(f"selector port {port}: line must be one of {', '.join(SOURCES)} or a composition table, "
                     f"got {source!r}")


class StreamSelector(Rotor):
    """The selector's rotor and its common outlet. ``lines`` maps port numbers to what they carry; a selector
    with no lines is not plumbed to the MS (it turns, nothing else)."""

    def __init__(self, world, name: str, *, positions: int, lines: Mapping | None = None,
                 dead_volume_mL: float = 0.1, position: int = 1, step_time_s: float = STEP_TIME_S):
        if not isinstance(positions, int) or not 2 <= positions <= 96:
            raise ValueError(f"selector {name}: positions must be 2-96, got {positions!r}")
        if not dead_volume_mL > 0:
            raise ValueError(f"selector {name}: dead_volume_mL must be positive, got {dead_volume_mL!r}")
        self._world, self.name, self.positions = world, name, positions
        self.dead_volume_mL, self.step_time_s = float(dead_volume_mL), float(step_time_s)
        self.lines: dict[int, str | np.ndarray] = {}
        for port, source in (lines or {}).items():
            p = self._port(port)
            self.lines[p] = line_source(p, source)
        self._position = self._port(position)
        self._target: int | None = None
        self._arrive: float | None = None
        self._stuck = False
        self._outlet = self._position                  # the line whose gas the MS inlet gets now
        self._fronts: list[list] = []                  # [outlet volume still to pass (mL), line behind it]

    def _port(self, port) -> int:
        digits = isinstance(port, str) and port.strip().isdigit()
        if not (digits or isinstance(port, int) and not isinstance(port, bool)) or not 1 <= int(port) <= self.positions:
            raise ValueError(f"selector {self.name}: port must be 1-{self.positions}, got {port!r}")
        return int(port)

    @property
    def feeds_ms(self) -> bool:
        """Whether the MS inlet is behind this selector (it is once any line is plumbed to it)."""
        return bool(self.lines)

    # -- what the actuator's firmware sees ------------------------------------------------------------
    def move_time_s(self, target: int) -> float:
        """Rotor time from where it is to *target*, the shorter way round."""
        steps = abs(self._port(target) - self._position)
        return self.step_time_s * min(steps, self.positions - steps)

    def move_to(self, port: int) -> None:
        port = self._port(port)
        with self._world._lock:
            self._world._sync(self._world.gas)
            if self._target is None and port == self._position:
                return
            self._target, self._arrive = port, self._world.gas._wt + self.move_time_s(port)

    def halt(self) -> None:
        """The controller lost power: the rotor stops short of a move under way, at the port it left."""
        with self._world._lock:
            self._world._sync(self._world.gas)
            self._target = self._arrive = None

    def source(self, port: int):
        """What port *port*'s line carries (``"closed"`` where nothing is plumbed)."""
        return self.lines.get(self._port(port), "closed")

    def _closed(self, port: int) -> bool:
        source = self.source(port)
        return isinstance(source, str) and source == "closed"

    # -- stepping (under the world lock, by the gas side) ---------------------------------------------
    def _next_event(self) -> float | None:
        return self._arrive if self._target is not None else None

    def _event(self, t: float) -> None:
        if self._target is not None and t >= self._arrive - 1e-12:
            if not self._stuck and self._target != self._position:
                self._position = self._target
                if not self._closed(self._position):   # a dead end sends nothing down the outlet
                    self._fronts.append([self.dead_volume_mL, self._position])
            self._target = self._arrive = None

    def _flow(self, vol_mL: float) -> None:
        """*vol_mL* of the selected line's gas has entered the outlet: fronts that reach the MS take over."""
        if self._closed(self._position) or vol_mL <= 0:
            return
        for front in self._fronts:
            front[0] -= vol_mL
        while self._fronts and self._fronts[0][0] <= 1e-12 * self.dead_volume_mL:
            self._outlet = self._fronts.pop(0)[1]

    def _inlet_fractions(self, gas_port: np.ndarray) -> np.ndarray:
        """Mole fractions at the MS inlet, given those at the end of the gas-port line."""
        source = self.source(self._outlet)
        if isinstance(source, np.ndarray):
            return source
        if source == "carrier":
            return np.zeros(len(SPECIES))
        return gas_port
