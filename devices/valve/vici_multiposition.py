"""Driver for a VICI Valco universal electric actuator in multiposition mode: the MS stream selector.

Same instrument and protocol family as the two-position actuator (:mod:`labctl.devices.valve.vici`), whose
framing, ID prefix and error lines this driver shares. In multiposition mode (``AM3``) ``GOnn`` turns to port
nn, ``HM`` homes to port 1, ``CP`` answers ``CP nn`` and ``NP`` the number of positions. At connection the
driver checks the actuator is in that mode with the number of positions the profile says, since a rotor
indexed for another valve body stops between ports. A move counts only once ``CP`` reads the target back.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from labctl.devices.errors import InstrumentError, ProtocolError
from labctl.devices.options import DriverDeclaration, SerialOptions, SettingError
from labctl.devices.valve.settings import ValveSafeState
from labctl.devices.valve.vici import Baudrate, ValveStuck, ViciActuator

MAX_POSITIONS = 96
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CP = re.compile(r"CP(?: = | )?(\d{1,2})")


def _port_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(f"port name {name!r} must be an identifier (letters, digits, _)")
    return name


class ViciSelectorOptions(SerialOptions):
    """Profile options of a VICI multiposition actuator used as a stream selector."""

    positions: int = Field(..., ge=2, le=MAX_POSITIONS, description="number of positions of the valve body (NP)")
    ports: dict[Annotated[str, AfterValidator(_port_name)], int] = Field(
        ..., min_length=1, description="port name -> port number")
    move_timeout_s: float = Field(10.0, gt=0, description="lab time a move may take")
    poll_s: float = Field(0.05, gt=0, description="lab time between position reads during a move")
    baudrate: Baudrate = 9600
    address: str | None = Field(None, description="actuator ID character")
    interface_mode: int = Field(1, ge=0, le=2, description="IFM reply level")

    @model_validator(mode="after")
    def _ports(self) -> ViciSelectorOptions:
        owner: dict[int, str] = {}
        for name, port in self.ports.items():
            if not 1 <= port <= self.positions:
                raise SettingError(f"ports.{name}", f"port {port} is not one of the valve's ports 1-{self.positions}")
            if port in owner:
                raise SettingError(f"ports.{name}", f"port {port} is already named {owner[port]!r}")
            owner[port] = name
        return self

    def port_names(self) -> tuple[str, ...]:
        """The port names in port order."""
        return tuple(sorted(self.ports, key=self.ports.get))


def _cross_check(options: ViciSelectorOptions, _limits, safe: ValveSafeState) -> None:
    if safe.position is not None and safe.position not in options.ports:
        allowed = ", ".join(repr(p) for p in options.port_names())
        raise SettingError("safe_state.position", f"{safe.position!r} is not a port of the selector ({allowed})")


DRIVER = DriverDeclaration(
    "vici.multiposition", "stream_selector", "serial", options=ViciSelectorOptions, safe_state=ValveSafeState,
    cross_check=_cross_check, describer=lambda o, _l: {"position_names": o.port_names()},
    description="VICI Valco multiposition electric actuator (stream selector)")


class ViciSelectorActuator(ViciActuator):
    """One multiposition actuator on a serial line; ``positions`` is the valve body's number of ports.

    Ports are numbers 1..positions. ``move_timeout_s`` and ``poll_s`` are lab time, waited on *clock*.
    """

    def __init__(self, url: str, *, positions: int, name: str = "vici", move_timeout_s: float = 10.0, **kwargs):
        if isinstance(positions, bool) or not isinstance(positions, int) or not 2 <= positions <= MAX_POSITIONS:
            raise ValueError(f"{name}: positions must be 2-{MAX_POSITIONS}, got {positions!r}")
        self.positions = positions
        super().__init__(url, name=name, move_timeout_s=move_timeout_s, **kwargs)

    def configure(self) -> None:
        """Response level (as for two positions), then check multiposition mode and the number of ports."""
        super().configure()
        mode = self._value("AM", self.query("AM"), r"[1-3]", self.name)
        if mode != "3":
            raise InstrumentError(self.name, f"actuator is in mode AM{mode}, not multiposition (AM3)", f"AM{mode}")
        count = int(self._value("NP", self.query("NP"), r"\d+", self.name))
        if count != self.positions:
            raise InstrumentError(self.name, f"actuator is set for {count} positions (NP), the profile says "
                                             f"{self.positions}", f"NP{count}")

    def _cp(self, text: str) -> int:
        m = _CP.fullmatch(text)
        if not m:
            raise ProtocolError(self.name, "expected a CP nn reply", text)
        return int(m.group(1))

    def position(self) -> int:
        """The port the rotor is at now."""
        return self._cp(self.query("CP", len(self._prefix) + 6))

    def position_count(self) -> int:
        """The number of positions the actuator is set for (``NP``)."""
        return int(self._value("NP", self.query("NP"), r"\d+", self.name))

    def start_move(self, target: int) -> None:
        """Command a move to port *target* without waiting for it."""
        target = self._check(target)
        self._send_move(f"GO{target:02d}", target)

    def _send_move(self, command: str, target: int) -> None:
        if not self.interface_mode:
            self.command(command)
            return
        accepted = self._cp(self._exchange(command, 1, len(self._prefix) + 6)[0])
        if accepted != target:
            raise ProtocolError(self.name, f"asked for port {target}, actuator acknowledged {accepted}",
                                f"CP {accepted:02d}")

    def move(self, target: int) -> int:
        """Turn to port *target* and return once ``CP`` reads it back; :class:`ValveStuck` past the deadline."""
        target = self._check(target)
        return self._confirm(target, lambda: self.start_move(target), f"GO{target:02d}")

    def home(self) -> int:
        """Turn to port 1 (``HM``) and return once ``CP`` reads it back."""
        return self._confirm(1, lambda: self._send_move("HM", 1), "HM")

    def _confirm(self, target: int, start, command: str) -> int:
        begun = self.clock.now()
        start()
        while True:
            now = self.position()
            if now == target:
                return now
            waited = self.clock.now() - begun
            if waited >= self.move_timeout_s:
                raise ValveStuck(self.name, f"selector still at port {now} {waited:.3g} s (lab time) after "
                                            f"{command}; is the rotor stuck?", f"CP {now:02d}")
            self.clock.sleep(min(self.poll_s, self.move_timeout_s - waited))

    def _check(self, target) -> int:
        if isinstance(target, bool) or not isinstance(target, int) or not 1 <= target <= self.positions:
            raise ValueError(f"{self.name}: port must be 1-{self.positions}, got {target!r}")
        return target
