"""VICI Valco universal electric actuator behind its serial interface: two-position modes (:class:`ViciValve`)
and multiposition mode driving a stream selector (:class:`ViciSelector`).

ASCII commands ending CR (a trailing LF is tolerated), 9600 8N1. With an ID set (``ID<c>``) the actuator
only answers commands prefixed with that character and prefixes its replies with it; ``*`` addresses every
actuator on the line (they act and say nothing). Replies end CR.

Queries answer at once: ``CP`` -> ``CPA``/``CPB`` (the position the valve is at *now*: the world valve
takes ``move_time_s`` of lab time to get anywhere), ``AM``, ``CNT``, ``IFM``, ``LG``, ``ID``, ``NP``, ``VR``
(three lines: date, time, firmware name) and ``VR2``. Settings (``IFMn``, ``LGn``, ``IDc``, ``CNTn``,
``AMn``) say nothing. Action commands (``GOA``, ``GOB``, ``GO``, ``CW``, ``CC``, ``TO``) reply according to
``IFM``: 0 nothing, 1 and 2 ``CP<target>`` as soon as the move is accepted (the extended mode only adds
BCD lines, no serial text). A client that takes that reply for arrival is wrong: poll ``CP``.

Errors are one line ``E<n> <command> <words>``: ``E1`` unknown command, ``E2`` command or argument not
valid here, ``E3`` the motor stalled before reaching the position of the last move (world fault
``valve:stuck``); the stall alarm is reported once, in place of the reply to the next ``CP``.

Multiposition mode (``AM3``): ``GOnn`` moves to port nn, ``HM`` home (port 1); ``CWnn``/``CCnn`` (a move in
a given direction) are accepted and, like ``GO``, take the shorter way round here. ``CP`` -> ``CP nn`` (two
digits), ``NP`` -> ``NPn`` the number of positions, ``NPn`` sets it; ``GOA``/``TO`` mean nothing there (``E2``).
"""

from __future__ import annotations

import re
import string

from labctl.sim.serial.core import ProtocolCore

_IDS = set(string.digits + string.ascii_uppercase)


class ViciValve(ProtocolCore):
    """A VICI actuator's firmware over a valve of the world."""

    serial_settings = {"baudrate": 9600, "bytesize": 8, "parity": "N", "stopbits": 1}

    VERSION_MAIN = ("Dec 15 2011", "15:02:20", "UA_MAIN_CT")
    VERSION_SERIAL = "UA_SERIAL_2.10"

    def __init__(self, name: str, world, *, address: str | None = None, interface_mode: int = 1,
                 stall_time_s: float | None = None, **_driver_options):
        super().__init__(name)
        self.world = world
        self.valve = self._world_part(world, name, _driver_options)
        if address is not None:
            address = str(address).upper()
            if address not in _IDS:
                raise ValueError(f"{name}: actuator ID must be 0-9 or A-Z, got {address!r}")
        self.address: str | None = address
        if interface_mode not in (0, 1, 2):
            raise ValueError(f"{name}: interface_mode must be 0, 1 or 2, got {interface_mode!r}")
        self.interface_mode = interface_mode
        self.legacy = 0
        self.actuator_mode = 1
        self.counter = 0
        self.stall_time_s = stall_time_s
        self._buffer = b""
        self._move: tuple[str, float, str] | None = None  # (target, started at, command)

    # -- framing ----------------------------------------------------------------------------------
    def receive(self, data: bytes) -> bytes:
        self._buffer += data
        out = []
        while b"\r" in self._buffer:
            line, self._buffer = self._buffer.split(b"\r", 1)
            text = line.decode("ascii", errors="replace").strip("\n ").upper()
            if text:
                out.extend(self._line(text))
        if len(self._buffer) > 256:  # no CR in sight: line noise, drop it like the firmware's buffer does
            self._buffer = b""
        return b"".join(out)

    def _line(self, text: str) -> list[bytes]:
        broadcast = False
        if text == "*ID*":  # forget the ID, whatever it was
            self.address = None
            return []
        if text.startswith("*"):
            broadcast, text = True, text[1:]
        elif self.address is not None:
            if text[0] != self.address:
                return []  # addressed to another actuator on the line
            text = text[1:]
        elif text[0] in string.digits:
            return []  # addressed to an actuator with an ID; this one has none
        replies = self._command(text)
        if broadcast:
            return []
        prefix = self.address or ""
        return [f"{prefix}{r}\r".encode("ascii") for r in replies]

    # -- the firmware -----------------------------------------------------------------------------
    def _fmt(self, key: str, value) -> str:
        return f"{key} = {value}" if self.legacy else f"{key}{value}"

    #: commands the firmware knows, longest first where one begins another
    COMMANDS = ("IFM", "CNT", "CP", "GO", "TO", "CW", "CC", "LG", "ID", "AM", "NP", "VR")

    def _world_part(self, world, name: str, _options: dict):
        """The valve of the world this actuator turns."""
        return world.valve(name)

    def _cp(self, position) -> str:
        """The ``CP`` reply for *position*."""
        return self._fmt("CP", position)

    def _command(self, text: str) -> list[str]:
        if self.refusing:  # the controller's own refusal
            return [f"E2 {text} Invalid"]
        if text == "/?":
            return [" ".join(self.COMMANDS)]
        if not re.fullmatch(r"[A-Z]+(\*|[0-9A-Z]*)", text):
            return [f"E1 {text} Unknown command"]
        for cmd in self.COMMANDS:
            if text.startswith(cmd):
                return self._dispatch(cmd, text[len(cmd):], text)
        return [f"E1 {text} Unknown command"]

    def _dispatch(self, cmd: str, arg: str, text: str) -> list[str]:
        invalid = [f"E2 {text} Invalid"]
        if cmd == "CP":
            if arg:
                return invalid
            return [self._position_reply()]
        if cmd in ("GO", "TO", "CW", "CC"):
            current = self._settled_position()
            if cmd == "GO" and arg in ("A", "B"):
                target = arg
            elif (cmd == "GO" or cmd == "TO") and not arg:
                target = "B" if current == "A" else "A"
            elif cmd == "CW" and not arg:
                target = "A"
            elif cmd == "CC" and not arg:
                target = "B"
            else:
                return invalid
            return self._go(target, text)
        if cmd == "IFM":
            if not arg:
                return [self._fmt("IFM", self.interface_mode)]
            if arg not in ("0", "1", "2"):
                return invalid
            self.interface_mode = int(arg)
            return []
        if cmd == "LG":
            if not arg:
                return [self._fmt("LG", self.legacy)]
            if arg not in ("0", "1"):
                return invalid
            self.legacy = int(arg)
            return []
        if cmd == "ID":
            if not arg:
                return [self._fmt("ID", self.address or "*")]
            if arg == "*":
                self.address = None
            elif len(arg) == 1 and arg in _IDS:
                self.address = arg
            else:
                return invalid
            return []
        if cmd == "AM":
            if not arg:
                return [self._fmt("AM", self.actuator_mode)]
            if arg not in ("1", "2"):  # 3 = multiposition: this actuator drives a two-position valve
                return invalid
            self.actuator_mode = int(arg)
            return []
        if cmd == "CNT":
            if not arg:
                return [self._fmt("CNT", self.counter)]
            if not arg.isdigit() or int(arg) > 65535:
                return invalid
            self.counter = int(arg)
            return []
        if cmd == "NP":
            if arg or self.actuator_mode == 1:
                return invalid  # the number of ports means nothing with hard stops
            return [self._fmt("NP", 2)]
        if cmd == "VR":
            if not arg:
                return list(self.VERSION_MAIN)
            if arg == "2":
                return [self.VERSION_SERIAL]
            return invalid
        return [f"E1 {text} Unknown command"]

    def power_cycle(self) -> None:
        """The controller restarts: a move under way is forgotten and the rotor stays where the motor left
        it; position, ID and interface mode are kept."""
        with self.lock:
            self._move = None
            self._buffer = b""

    # -- motion -----------------------------------------------------------------------------------
    def _settled_position(self) -> str:
        """Where the valve is, or is going if a move is under way (what a toggle toggles from)."""
        return self._move[0] if self._move else self.valve.position

    def _go(self, target: str, text: str) -> list[str]:
        if self.valve.position != target or self.valve.moving:
            self.valve.move_to(target)
            self._move = (target, self.world.now(), text)
            self.counter = (self.counter + 1) % 65536
        return [self._cp(target)] if self.interface_mode else []

    def _stall_time(self) -> float:
        if self.stall_time_s is not None:
            return self.stall_time_s
        return max(1.0, 3.0 * float(getattr(self.valve, "move_time_s", 0.3)))

    def _position_reply(self) -> str:
        position = self.valve.position
        if self._move is not None:
            target, started, text = self._move
            if position == target and not self.valve.moving:
                self._move = None
            elif self.world.now() - started > self._stall_time():
                self._move = None
                return f"E3 {text} Valve stalled at position {position}"
        return self._cp(position)


class ViciSelector(ViciValve):
    """A VICI actuator in multiposition mode over the world's stream selector (``positions`` ports)."""

    COMMANDS = (*ViciValve.COMMANDS, "HM")

    def __init__(self, name: str, world, *, positions: int = 4, **options):
        self.np = int(positions)
        super().__init__(name, world, **options)
        self.actuator_mode = 3

    def _world_part(self, world, name: str, _options: dict):
        return world.selector(name, positions=self.np)

    def _cp(self, position) -> str:
        return f"CP = {int(position)}" if self.legacy else f"CP {int(position):02d}"

    def _port(self, arg: str) -> int | None:
        return int(arg) if arg.isdigit() and 1 <= int(arg) <= min(self.np, self.valve.positions) else None

    def _dispatch(self, cmd: str, arg: str, text: str) -> list[str]:
        invalid = [f"E2 {text} Invalid"]
        if cmd in ("GO", "CW", "CC", "HM"):
            if cmd == "HM":
                target = None if arg else 1
            else:
                target = self._port(arg)
            if target is None:
                return invalid
            return self._go(target, text)
        if cmd == "TO":
            return invalid  # toggling needs hard stops
        if cmd == "AM":
            if not arg:
                return [self._fmt("AM", self.actuator_mode)]
            return [] if arg == "3" else invalid  # this actuator drives a multiposition valve
        if cmd == "NP":
            if not arg:
                return [self._fmt("NP", self.np)]
            if not arg.isdigit() or not 2 <= int(arg) <= 96:
                return invalid
            self.np = int(arg)
            return []
        return super()._dispatch(cmd, arg, text)

    def _stall_time(self) -> float:
        if self.stall_time_s is not None:
            return self.stall_time_s
        return max(1.0, 3.0 * self.valve.step_time_s * self.valve.positions / 2)

    def power_cycle(self) -> None:
        """The controller restarts: the rotor stops short of a move under way, at the port it left."""
        with self.lock:
            self.valve.halt()
        super().power_cycle()


Core = ViciValve
