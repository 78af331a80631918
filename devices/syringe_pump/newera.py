"""New Era NE-1000 family syringe pumps over RS-232 (basic and safe mode).

Basic mode sends ``[addr]COMMAND[args]\\r`` and gets ``STX aa s data ETX``. Safe mode wraps the same text in
``STX len data crc_hi crc_lo ETX`` (CRC-16-CCITT, initial 0) both ways, and the pump stops itself and raises
the ``T`` alarm when no valid packet arrives within ``SAF n`` seconds; the driver then keeps the line alive
with a status poll on the lab clock. Numbers on the wire have at most 4 digits and 3 decimals, so the
driver picks the rate and volume units that keep the most precision (120 µL/h goes out as ``120UH``).
"""

from __future__ import annotations

import binascii
import logging
import math
import re
from typing import Literal, get_args

from pydantic import Field
from tenacity import Retrying, retry_if_exception_type, retry_if_result, stop_after_attempt

from labctl.devices.clock import Clock
from labctl.devices.errors import InstrumentError, LimitError, ProtocolError
from labctl.devices.syringe_pump.errors import (
    ALARMS,
    CommandIgnored,
    CommunicationError,
    NotApplicable,
    OutOfRange,
    PumpAlarm,
    PumpReset,
    UnknownCommand,
)
from labctl.devices.syringe_pump.settings import SyringeOptions, pump_driver, syringe_rates
from labctl.devices.transport import Port

log = logging.getLogger(__name__)

STX, ETX = 0x02, 0x03

#: Status characters of the reply and what they mean.
STATUS = {"I": "infusing", "W": "withdrawing", "S": "stopped", "P": "paused", "T": "timed pause",
          "U": "user wait", "X": "purging"}
RUNNING = {"I", "W", "X"}

ERRORS = {"": UnknownCommand, "NA": NotApplicable, "OOR": OutOfRange, "COM": CommunicationError,
          "IGN": CommandIgnored}

#: Rate units and their size in µL/h.
RATE_UNITS = {"UH": 1.0, "UM": 60.0, "MH": 1000.0, "MM": 60000.0}
VOLUME_UNITS = {"UL": 1.0, "ML": 1000.0}

#: Plunger speed range of the NE-1000 (from its published rate table: 0.73 µL/h on a 4.78 mm syringe to
#: 1530 mL/h on a 26.7 mm one); the volumetric limits follow from the syringe's cross-section.
MIN_SPEED_MM_H = 0.0407
MAX_SPEED_MM_H = 2733.0
DIAMETER_RANGE_MM = (0.1, 50.0)
Baudrate = Literal[300, 1200, 2400, 9600, 19200]


_REPLY = re.compile(r"(\d\d)([IWSPTUXA])(.*)", re.S)
_NUMBER = r"(\d+\.\d*|\.\d+|\d+)"


def format_number(value: float) -> str:
    """*value* as the pump reads it: at most 4 digits and 3 decimals, rounded; raise if it cannot fit."""
    if not (math.isfinite(value) and value >= 0):
        raise LimitError(f"{value!r} cannot be sent to a New Era pump")
    for decimals in (3, 2, 1, 0):
        text = f"{value:.{decimals}f}"
        if len(text.replace(".", "")) <= 4:
            return text.rstrip("0").rstrip(".") if "." in text else text
    raise LimitError(f"{value:g} has more than 4 digits before the point")


def best_units(value: float, units: dict[str, float]) -> tuple[str, str]:
    """The (number, unit) that states *value* (in the base unit) with the smallest rounding error."""
    best = None
    for unit, size in units.items():
        try:
            text = format_number(value / size)
        except LimitError:
            continue
        error = abs(float(text) * size - value)
        if float(text) > 0 and (best is None or error < best[0] - 1e-12 * value):
            best = (error, text, unit)
    if best is None:
        raise LimitError(f"{value:g} cannot be expressed in {'/'.join(units)} with 4 digits")
    return best[1], best[2]


def crc(data: bytes) -> int:
    """CRC-16-CCITT (initial 0) of a safe-mode packet's data."""
    return binascii.crc_hqx(data, 0)


def frame_safe(text: str) -> bytes:
    """*text* as a safe-mode packet: STX, length, data, CRC, ETX."""
    data = text.encode("ascii")
    return bytes([STX, len(data) + 4]) + data + crc(data).to_bytes(2, "big") + bytes([ETX])


class NewEraPump:
    """One NE-1000 family pump at *address* (0-99) on a serial line.

    ``safe_mode_timeout_s`` > 0 switches the pump to safe mode with that watchdog; the driver then polls the
    pump every half period on *clock*. The opening handshake (a safe-mode framed ``SAF``, then ``VER``) is
    the one the pump's own software and nesp-lib use, and accepts the power-on reset alarm once.

    The pump reports an alarm once, in place of the reply to whichever command meets it. An alarm met by the
    keep-alive poll or by :meth:`stop` is kept and raised by the next other command, so a plan always learns
    that its pump stalled; ``alarm`` holds the last one reported.
    """

    baudrates = get_args(Baudrate)

    def __init__(self, url: str, *, address: int = 0, clock: Clock | None = None, name: str = "pump",
                 timeout: float = 0.5, baudrate: int = 19200, safe_mode_timeout_s: int = 0):
        if not (isinstance(address, int) and 0 <= address <= 99):
            raise LimitError(f"{name}: New Era address must be 0-99, got {address!r}")
        if not (isinstance(safe_mode_timeout_s, int) and 0 <= safe_mode_timeout_s <= 255):
            raise LimitError(f"{name}: safe-mode timeout must be 0-255 s, got {safe_mode_timeout_s!r}")
        if baudrate not in self.baudrates:
            raise LimitError(f"{name}: New Era pumps talk at {self.baudrates} baud, not {baudrate}")
        self.name = name
        self.address = address
        self.clock = clock
        self._safe = False
        self._heartbeat = None
        self._pending: list[tuple[type[PumpAlarm], str, str]] = []  # reported, not yet raised to a caller
        self.alarm: PumpAlarm | None = None
        self.port = Port(url, name=name, timeout=timeout, baudrate=baudrate, bytesize=8, parity="N",
                         stopbits=1)
        try:
            self.set_safe_mode(safe_mode_timeout_s, opening=True)
            self.model, self.firmware = self._parse_version(self.version())
        except Exception:
            self.close()
            raise

    # -- wire ---------------------------------------------------------------------------------------
    def command(self, text: str) -> tuple[str, str]:
        """Send one command (without address); return (status character, data). Raise on errors/alarms.

        A kept alarm is raised instead of sending, as if the pump had met this command with it.
        """
        with self.port.lock:
            if self._pending:
                kind, met_by, reply = self._pending.pop(0)
                raise kind(self.name, f"alarm {kind.__name__} reported to {met_by}; {text!r} not sent", reply)
            try:
                return self._exchange(text, safe_out=self._safe)
            except PumpAlarm as alarm:
                self.alarm = alarm
                raise

    def _exchange(self, text: str, *, safe_out: bool) -> tuple[str, str]:
        request = f"{self.address}{text}"
        raw = frame_safe(request) if safe_out else (request + "\r").encode("ascii")
        with self.port.lock:
            self.port.discard_stale()  # bytes left by an earlier fault would shift every reply
            self.port.write(raw)
            try:
                reply = self._read_reply()
            except ProtocolError:  # (a timeout marks the port stale itself)
                self.port.mark_stale()
                raise
        return self._parse(reply, text)

    def _read_reply(self) -> str:
        """One reply in either framing: after STX a digit starts basic-mode text, a small byte is the
        safe-mode length (a pump that meets a command with an alarm answers in the mode it was in)."""
        head = self.port.read_exact(2)
        if head[0] != STX:
            raise ProtocolError(self.name, "reply does not start with STX", head)
        if 0x30 <= head[1] <= 0x39:
            body = head[1:] + self.port.read_until(bytes([ETX]), max_size=256)[:-1]
            return self._decode(body)
        if head[1] < 5:
            raise ProtocolError(self.name, "bad safe-mode reply length", head)
        rest = self.port.read_exact(head[1] - 1)
        body, check, end = rest[:-3], int.from_bytes(rest[-3:-1], "big"), rest[-1]
        if end != ETX:
            raise ProtocolError(self.name, "safe-mode reply does not end with ETX", head + rest)
        if check != crc(body):
            raise ProtocolError(self.name, f"safe-mode reply CRC {check:04X} != {crc(body):04X}", head + rest)
        return self._decode(body)


    def _decode(self, body: bytes) -> str:
        try:
            return body.decode("ascii")
        except UnicodeDecodeError:
            raise ProtocolError(self.name, "non-ASCII reply", body) from None

    def _parse(self, reply: str, sent: str) -> tuple[str, str]:
        m = _REPLY.fullmatch(reply)
        if not m or not all(32 <= ord(c) < 127 for c in m[3]):
            raise ProtocolError(self.name, f"unreadable reply to {sent!r}", reply)
        if int(m[1]) != self.address:
            raise ProtocolError(self.name, f"reply from address {m[1]}, expected {self.address:02d}", reply)
        status, data = m[2], m[3]
        if status == "A":
            alarm = ALARMS.get(data[1:]) if data.startswith("?") else None
            if alarm is None:
                raise ProtocolError(self.name, "unknown alarm", reply)
            raise alarm(self.name, f"alarm {alarm.__name__} while sending {sent!r}", reply)
        if data.startswith("?"):
            error = ERRORS.get(data[1:])
            if error is None:
                raise ProtocolError(self.name, "unknown error reply", reply)
            raise error(self.name, f"{sent!r} refused", reply)
        return status, data

    def _value(self, text: str, pattern: str) -> re.Match:
        _, data = self.command(text)
        m = re.fullmatch(pattern, data)
        if not m:
            raise ProtocolError(self.name, f"unexpected reply to {text!r}", data)
        return m

    # -- configuration ------------------------------------------------------------------------------
    def set_safe_mode(self, timeout_s: int, *, opening: bool = False) -> None:
        """``SAF n``: 0 = basic mode; 1-255 = safe mode with an n-second watchdog (polled on the clock)."""
        if not (isinstance(timeout_s, int) and 0 <= timeout_s <= 255):
            raise LimitError(f"{self.name}: safe-mode timeout must be 0-255 s, got {timeout_s!r}")
        if timeout_s and self.clock is None:
            raise LimitError(f"{self.name}: safe mode needs a clock to keep the watchdog fed")
        self._stop_heartbeat()
        # the power-on alarm is expected once, at the opening only: SAF is then sent again
        for attempt in Retrying(retry=retry_if_exception_type(PumpReset), stop=stop_after_attempt(2 if opening else 1),
                                reraise=True):
            with attempt:  # framed like safe mode whatever the current mode: the pump accepts it either way
                self._exchange(f"SAF{timeout_s}", safe_out=True)
        self._safe = timeout_s > 0
        if self._safe:
            self._heartbeat = self.clock.call_every(timeout_s / 2, self._beat)

    def safe_mode_timeout(self) -> int:
        return int(self._value("SAF", r"(\d+)")[1])

    def _beat(self, _now: float) -> None:
        """Feed the watchdog. An alarm in the reply is kept for the next command (the pump reports it only
        once); any other fault the next command meets itself, with the pump's words."""
        with self.port.lock:
            try:
                self._exchange("", safe_out=self._safe)
            except PumpAlarm as alarm:
                self._keep(alarm, "the keep-alive poll")
            except InstrumentError:
                pass

    def _keep(self, alarm: PumpAlarm, met_by: str) -> None:
        self.alarm = alarm
        self._pending.append((type(alarm), met_by, alarm.reply))
        log.warning("%s: alarm %s reported to %s; the next command raises it", self.name,
                    type(alarm).__name__, met_by)

    def _stop_heartbeat(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            self._heartbeat = None

    def version(self) -> str:
        return self.command("VER")[1]

    @staticmethod
    def _parse_version(text: str) -> tuple[str, str]:
        m = re.fullmatch(r"NE(\d+)(X\d*)?V(\d+\.\d+)", text)
        if not m:
            raise ProtocolError("pump", "not a New Era pump", text)
        return f"NE-{m[1]}{m[2] or ''}", m[3]

    def diameter(self) -> float:
        return float(self._value("DIA", _NUMBER)[1])

    def set_diameter(self, mm: float) -> None:
        lo, hi = DIAMETER_RANGE_MM
        if not lo <= mm <= hi:
            raise LimitError(f"{self.name}: syringe diameter {mm} mm outside {lo}-{hi} mm")
        self.command(f"DIA{format_number(mm)}")

    def rate_limits_uL_h(self, diameter_mm: float) -> tuple[float, float]:
        return syringe_rates(diameter_mm, MIN_SPEED_MM_H, MAX_SPEED_MM_H)

    def rate(self) -> float:
        """Programmed rate in µL/h (unsigned; see :meth:`direction`)."""
        m = self._value("RAT", _NUMBER + "(UH|UM|MH|MM)")
        return float(m[1]) * RATE_UNITS[m[2]]

    def set_rate(self, uL_h: float) -> None:
        number, unit = best_units(uL_h, RATE_UNITS)
        self.command(f"RAT{number}{unit}")

    def direction(self) -> str:
        data = self.command("DIR")[1]
        if data not in ("INF", "WDR"):
            raise ProtocolError(self.name, "unexpected direction", data)
        return "infuse" if data == "INF" else "withdraw"

    def set_direction(self, direction: str) -> None:
        code = {"infuse": "INF", "withdraw": "WDR", "reverse": "REV"}.get(direction)
        if code is None:
            raise ValueError(f"{self.name}: direction must be 'infuse', 'withdraw' or 'reverse', not {direction!r}")
        self.command(f"DIR{code}")

    def target_volume(self) -> float:
        """Volume the pump dispenses before stopping, µL (0 = no target)."""
        m = self._value("VOL", _NUMBER + "(UL|ML)")
        return float(m[1]) * VOLUME_UNITS[m[2]]

    def set_target_volume(self, uL: float) -> None:
        if uL == 0:
            self.command("VOL0")
            return
        number, unit = best_units(uL, VOLUME_UNITS)
        self.command(f"VOL{unit}")
        self.command(f"VOL{number}")

    # -- motion and status --------------------------------------------------------------------------
    def run(self) -> None:
        self.command("RUN")

    def purge(self) -> None:
        self.command("PUR")

    def stop(self) -> None:
        """Stop pumping; a second stop also resets a paused program (harmless when already stopped).

        Never raises an alarm, so cleanup goes on: the pump stops itself on any alarm, so an alarm reply means
        it is stopped already. The alarm is kept for the next command, and STP goes out again because the
        one that met the alarm was not executed.
        """
        def once() -> str | None:
            try:
                return self._exchange("STP", safe_out=self._safe)[0]
            except PumpAlarm as alarm:
                self._keep(alarm, "STP")
                return None  # not executed: send it again

        with self.port.lock:  # paused, or met by an alarm: STP again, four times at most
            Retrying(retry=retry_if_result(lambda status: status in (None, "P")), stop=stop_after_attempt(4),
                     retry_error_callback=lambda _state: None)(once)

    def status(self) -> str:
        return STATUS[self.command("")[0]]

    def running(self) -> bool:
        return self.command("")[0] in RUNNING

    def dispensed(self) -> tuple[float, float]:
        """(infused, withdrawn) µL since they were last cleared."""
        m = self._value("DIS", f"I{_NUMBER}W{_NUMBER}(UL|ML)")
        size = VOLUME_UNITS[m[3]]
        return float(m[1]) * size, float(m[2]) * size

    def clear_dispensed(self) -> None:
        self.command("CLDINF")
        self.command("CLDWDR")

    def close(self) -> None:
        self._stop_heartbeat()
        self.port.close()


class NewEraOptions(SyringeOptions):
    """Profile options of a New Era NE-1000 family syringe pump."""

    baudrate: Baudrate = 19200
    safe_mode_timeout_s: int = Field(0, ge=0, le=255, description="comms watchdog; 0 = off")


DRIVER = pump_driver("newera.ne1000", "New Era NE-1000 family syringe pump",
                     NewEraOptions, 2.1e6, (MIN_SPEED_MM_H, MAX_SPEED_MM_H))
