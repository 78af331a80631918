"""Driver for a VICI Valco universal electric actuator in two-position mode (RS-232, 9600 8N1, CR).

Clients disagree on what an actuator says after a move, and in any case a reply only means the command was
accepted, so a move is confirmed by reading the position back (``CP``) until it is the one asked for, with
lab-time pauses between polls and a lab-time deadline. The interface response level (``IFM``) is set and
checked at connection, which is also how the driver knows an actuator is there at all.
"""

from __future__ import annotations

import re
import string
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, Field

from labctl.devices.clock import Clock
from labctl.devices.errors import InstrumentError, InstrumentTimeout, ProtocolError
from labctl.devices.options import DriverDeclaration, SerialOptions, SettingError
from labctl.devices.transport import Port
from labctl.devices.valve.settings import POSITIONS, ValveSafeState

SERIAL_SETTINGS = {"baudrate": 9600, "bytesize": 8, "parity": "N", "stopbits": 1}
Baudrate = Literal[4800, 9600, 19200, 38400, 57600, 115200]


def _port(port: str) -> str:
    if port not in POSITIONS:
        raise ValueError("a two-position valve has ports A and B")
    return port


class ViciOptions(SerialOptions):
    """Profile options of a VICI two-position actuator."""

    positions: dict[Annotated[str, AfterValidator(_port)], str] | None = Field(
        None, description="names of positions A and B")
    move_timeout_s: float = Field(5.0, gt=0, description="lab time a move may take")
    poll_s: float = Field(0.05, gt=0, description="lab time between position reads during a move")
    baudrate: Baudrate = 9600
    address: str | None = Field(None, description="actuator ID character")
    interface_mode: int = Field(1, ge=0, le=2, description="IFM reply level")

    def position_names(self) -> dict[str, str]:
        """Port -> name (the ports' own letters where the profile names none)."""
        return dict(self.positions) if self.positions else {p: p for p in POSITIONS}


def _cross_check(options: ViciOptions, _limits, safe: ValveSafeState) -> None:
    names = list(options.position_names().values())
    if safe.position is not None and safe.position not in names:
        allowed = ", ".join(repr(p) for p in names)
        raise SettingError("safe_state.position", f"{safe.position!r} is not a position of the valve ({allowed})")


DRIVER = DriverDeclaration(
    "vici.two_position", "valve", "serial", options=ViciOptions, safe_state=ValveSafeState,
    cross_check=_cross_check,
    describer=lambda o, _l: {"position_names": tuple(o.position_names()[p] for p in POSITIONS)},
    description="VICI Valco two-position electric actuator")

_ERROR = re.compile(r"E(\d+)\s+(.*)")


class ViciError(InstrumentError):
    """The actuator answered ``E<n> ...``; ``code`` is n, ``reply`` the actuator's words."""

    def __init__(self, instrument: str, message: str, reply: str | None = None, code: int | None = None):
        self.code = code
        super().__init__(instrument, message, reply)


class ValveStuck(ViciError):
    """The valve did not reach the position asked for: the motor stalled or the deadline passed."""


_ERROR_MEANING = {1: "unknown command", 2: "command not valid here", 3: "the motor stalled"}


class ViciActuator:
    """One actuator on a serial line.

    ``address`` is the actuator's ID character (``None`` when no ID is set). ``interface_mode`` is the
    ``IFM`` level the driver puts the actuator in (0: silent moves, 1/2: moves acknowledged with ``CP<x>``).
    ``move_timeout_s`` and ``poll_s`` are lab time, waited on *clock*.
    """

    def __init__(self, url: str, *, clock: Clock, name: str = "vici", address: str | int | None = None,
                 interface_mode: int = 1, move_timeout_s: float = 5.0, poll_s: float = 0.05,
                 timeout: float = 1.0, baudrate: int = 9600):
        if address is not None:
            address = str(address).upper()
            if len(address) != 1 or address not in string.digits + string.ascii_uppercase:
                raise ValueError(f"{name}: actuator ID must be one of 0-9 or A-Z, got {address!r}")
        if interface_mode not in (0, 1, 2):
            raise ValueError(f"{name}: interface_mode must be 0, 1 or 2, got {interface_mode!r}")
        if not move_timeout_s > 0 or not poll_s > 0:
            raise ValueError(f"{name}: move_timeout_s and poll_s must be positive")
        self.name = name
        self.clock = clock
        self.address = address
        self.interface_mode = interface_mode
        self.move_timeout_s = float(move_timeout_s)
        self.poll_s = float(poll_s)
        self._prefix = (address or "").encode("ascii")
        if baudrate not in get_args(Baudrate):
            raise ValueError(f"{name}: VICI actuators talk at {get_args(Baudrate)} baud, not {baudrate}")
        self.port = Port(url, name=name, timeout=timeout, **{**SERIAL_SETTINGS, "baudrate": baudrate})
        try:
            self.configure()
        except BaseException:
            self.port.close()
            raise

    def close(self) -> None:
        self.port.close()

    # -- exchanges --------------------------------------------------------------------------------
    def _send(self, command: str) -> None:
        self.port.write(self._prefix + command.encode("ascii") + b"\r")

    def _line(self, expected_len: int = 0) -> str:
        """One reply line without the ID prefix; ``E<n>`` lines raise :class:`ViciError`."""
        raw = b""
        try:
            if expected_len:  # one read for the usual reply; the rest (an error line, say) byte by byte
                raw = self.port.read_exact(expected_len)
            if not raw.endswith(b"\r"):
                raw += self.port.read_until(b"\r")
        except InstrumentTimeout as exc:
            raw += exc.reply or b""
            if raw.endswith(b"\r"):
                pass  # shorter than expected but complete: parse it
            elif raw:
                raise ProtocolError(self.name, "reply never ended with CR (line noise or wrong baud rate?)",
                                    raw) from None
            else:
                raise
        try:
            text = raw[:-1].decode("ascii")
        except UnicodeDecodeError:
            raise ProtocolError(self.name, "reply is not ASCII", raw) from None
        if self.address is not None:
            if not text.startswith(self.address):
                raise ProtocolError(self.name, f"reply does not come from actuator ID {self.address}", raw)
            text = text[1:]
        m = _ERROR.fullmatch(text)
        if m:
            code = int(m.group(1))
            cls = ValveStuck if code == 3 else ViciError
            raise cls(self.name, _ERROR_MEANING.get(code, f"error E{code}"), text, code)
        return text

    def _exchange(self, command: str, lines: int = 1, expected_len: int = 0) -> list[str]:
        with self.port.lock:
            self.port.discard_stale()  # leftovers of a failed exchange (a late reply, noise) go first
            try:
                self._send(command)
                return [self._line(expected_len) for _ in range(lines)]
            except BaseException:
                self.port.mark_stale()
                raise

    def query(self, command: str, expected_len: int = 0) -> str:
        """Send *command* and return its one-line reply (without CR and ID)."""
        return self._exchange(command, 1, expected_len)[0]

    def command(self, command: str) -> None:
        """Send a setting or silent move; should the actuator refuse it, its error line is what the next
        query reads, and raises there."""
        self._exchange(command, 0)

    @staticmethod
    def _value(name: str, text: str, pattern: str, instrument: str) -> str:
        m = re.fullmatch(rf"{name}(?: = )?({pattern})", text)
        if not m:
            raise ProtocolError(instrument, f"expected a {name} reply", text)
        return m.group(1)

    # -- the instrument ---------------------------------------------------------------------------
    def configure(self) -> None:
        """Put the actuator in the driver's response level and check it took (the connection check)."""
        self.command(f"IFM{self.interface_mode}")
        self.command("LG0")
        mode = self._value("IFM", self.query("IFM"), r"[0-2]", self.name)
        if int(mode) != self.interface_mode:
            raise ProtocolError(self.name, f"actuator kept response level {mode}", f"IFM{mode}")

    def position(self) -> str:
        """``"A"`` or ``"B"``: where the valve is now."""
        n = len(self._prefix) + 4
        return self._value("CP", self.query("CP", n), r"[AB]", self.name)

    def version(self) -> str:
        """Main-board firmware: date, time and name, as one string."""
        return " ".join(self._exchange("VR", 3))

    def counter(self) -> int:
        return int(self._value("CNT", self.query("CNT"), r"\d+", self.name))

    def start_move(self, target: str) -> None:
        """Command a move to *target* without waiting for it."""
        target = self._check(target)
        if not self.interface_mode:
            self.command(f"GO{target}")
        else:
            n = len(self._prefix) + 4
            accepted = self._value("CP", self._exchange(f"GO{target}", 1, n)[0], r"[AB]", self.name)
            if accepted != target:
                raise ProtocolError(self.name, f"asked for {target}, actuator acknowledged {accepted}",
                                    f"CP{accepted}")

    def move(self, target: str) -> str:
        """Move to *target* and return once ``CP`` reads it back; :class:`ValveStuck` past the deadline."""
        target = self._check(target)
        start = self.clock.now()
        self.start_move(target)
        while True:
            now = self.position()
            if now == target:
                return now
            waited = self.clock.now() - start
            if waited >= self.move_timeout_s:
                raise ValveStuck(self.name, f"valve still at {now} {waited:.3g} s (lab time) after "
                                            f"GO{target}; is it stuck?", f"CP{now}")
            self.clock.sleep(min(self.poll_s, self.move_timeout_s - waited))

    def _check(self, target: str) -> str:
        if not isinstance(target, str) or target.upper() not in POSITIONS:
            raise ValueError(f"{self.name}: position must be 'A' or 'B', got {target!r}")
        return target.upper()
