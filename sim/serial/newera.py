"""New Era NE-1000 firmware: basic and safe-mode RS-232 over a syringe pump of the simulated world.

What the firmware does that clients depend on: the power-on reset alarm (reported once, in place of the
reply to the first command, which is not executed), the safe-mode watchdog that stops the pump and raises
``A?T``, the 4-digit number rule, volume units following the diameter (µL up to 14 mm), pause-then-stop on
``STP``, and the stall alarm when the world's syringe runs empty or the line is blocked.
"""

from __future__ import annotations

import math
import re

from labctl.sim.serial.core import ProtocolCore

STX, ETX = 0x02, 0x03
RATE_UNITS = {"UH": 1.0, "UM": 60.0, "MH": 1000.0, "MM": 60000.0}
VOLUME_UNITS = {"UL": 1.0, "ML": 1000.0}
MIN_SPEED_MM_H = 0.0407   # plunger speed range of the NE-1000
MAX_SPEED_MM_H = 2733.0
DIAMETER_RANGE_MM = (0.1, 50.0)
PHASES = 1                # the basic program: one rate phase
HOST_SLACK_WALL_S = 1.0   # least wall time between packets before the watchdog trips on an accelerated lab
_ARG_NUMBER = re.compile(r"(\d*)\.?(\d*)")


def _crc(data: bytes) -> int:
    import binascii

    return binascii.crc_hqx(data, 0)


def _show(value: float) -> str:
    """A number as the display shows it: 4 digits with the point kept (``4.780``, ``120.0``, ``1000.``)."""
    value = max(0.0, value)
    for decimals in (3, 2, 1):
        text = f"{value:.{decimals}f}"
        if len(text) - 1 <= 4:
            return text
    return f"{min(value, 9999.0):.0f}."


def _number(arg: str) -> float | None:
    """The pump's number syntax: at most 4 digits and 3 decimals. None if it is not a number at all."""
    m = _ARG_NUMBER.fullmatch(arg)
    if not m or not (m[1] or m[2]):
        return None
    if len(m[1]) + len(m[2]) > 4 or len(m[2]) > 3:
        return math.nan  # a number, but not one the pump can take: out of range
    return float(arg)


class NE1000(ProtocolCore):
    """``NE1000(name, world, address=0, syringe_diameter_mm=..., syringe_volume_uL=..., contents=..., feeds=...)``.

    Options meant for the driver (baudrate, timeouts) are accepted and ignored. ``model``/``firmware`` set
    the ``VER`` reply; ``power_on_alarm=False`` starts without the reset alarm.
    """

    serial_settings = {"baudrate": 19200, "bytesize": 8, "parity": "N", "stopbits": 1}

    def __init__(self, name: str, world, *, address: int = 0, syringe_diameter_mm: float = 14.5,
                 syringe_volume_uL: float = 10000.0, contents: str = "water", feeds: str | None = None,
                 model: str = "NE1000", firmware: str = "V3.928", power_on_alarm: bool = True, **_driver_options):
        super().__init__(name)
        if not 0 <= int(address) <= 99:
            raise ValueError(f"{name}: address must be 0-99, got {address}")
        self.world = world
        self.address = int(address)
        self.version = f"{model}{firmware}"
        self.pump = world.pump(name, diameter_mm=float(syringe_diameter_mm), volume_uL=float(syringe_volume_uL),
                               contents=contents, feeds=feeds)
        self.diameter_mm = float(syringe_diameter_mm)
        self.volume_units = "UL" if self.diameter_mm <= 14.0 else "ML"
        self.rate_uL_h = 0.0
        self.rate_units = "UM"
        self.direction = "infuse"
        self.target_uL = 0.0
        self.state = "stopped"          # stopped | running | paused | purging
        self.alarm: str | None = "R" if power_on_alarm else None
        self.safe_timeout_s = 0
        self._buffer = bytearray()
        self._phase_start = 0.0          # pump total (this direction) when the phase started
        self._inf0 = self.pump.infused_uL
        self._wdr0 = self.pump.withdrawn_uL
        self._last_packet = world.clock.now()
        self._watchdog = world.clock.call_every(1.0, self._watch)

    def _watchdog_limit(self) -> float:
        """The watchdog period in lab seconds. On a lab running k times faster than the wall, a host is given at
        least HOST_SLACK_WALL_S of wall time between packets, as on a real line: a 30 s watchdog at 600x would
        otherwise trip on any 50 ms pause of the host, which no real pump would see."""
        accel = getattr(self.world.clock, "acceleration", None)
        return max(self.safe_timeout_s, HOST_SLACK_WALL_S * accel) if accel else self.safe_timeout_s

    # -- framing ------------------------------------------------------------------------------------
    def receive(self, data: bytes) -> bytes:
        self._buffer.extend(data)
        out = bytearray()
        while self._buffer:
            if self._buffer[0] == STX:
                if len(self._buffer) < 2 or len(self._buffer) < 1 + self._buffer[1]:
                    break
                size = self._buffer[1]
                packet = bytes(self._buffer[:1 + size])
                del self._buffer[:1 + size]
                body, check = packet[2:-3], packet[-3:-1]
                if size < 5 or packet[-1] != ETX or int.from_bytes(check, "big") != _crc(body):
                    out += self._reply(self._status_char(), "?COM")
                    continue
                out += self._command(body.decode("ascii", "replace"))
            else:
                end = self._buffer.find(b"\r")
                if end < 0:
                    if len(self._buffer) > 256:
                        self._buffer.clear()  # line noise without a terminator
                    break
                line = bytes(self._buffer[:end]).decode("ascii", "replace").strip("\n ")
                del self._buffer[:end + 1]
                if self.safe_timeout_s:
                    out += self._reply(self._status_char(), "?COM")  # basic packets are invalid in safe mode
                    continue
                out += self._command(line)
        return bytes(out)

    def _reply(self, status: str, data: str = "") -> bytes:
        text = f"{self.address:02d}{status}{data}".encode("ascii")
        if self.safe_timeout_s:
            return bytes([STX, len(text) + 4]) + text + _crc(text).to_bytes(2, "big") + bytes([ETX])
        return bytes([STX]) + text + bytes([ETX])

    # -- firmware -----------------------------------------------------------------------------------
    def _command(self, line: str) -> bytes:
        m = re.fullmatch(r"(\d{1,2})?\s*([A-Za-z]{0,3})\s*(.*?)\s*", line)
        if m is None:
            return self._reply(self._status_char(), "?")
        if m[1] is not None and int(m[1]) != self.address:
            return b""  # another pump on the chain
        self._last_packet = self.world.clock.now()
        self._sync()
        if self.alarm:
            alarm, self.alarm = self.alarm, None
            return self._reply("A", f"?{alarm}")
        if self.refusing:  # the firmware's own refusal: not applicable now
            return self._reply(self._status_char(), "?NA")
        name, arg = m[2].upper(), m[3].upper().replace(" ", "")
        handler = getattr(self, f"_cmd_{name}", None) if len(name) in (0, 3) else None
        if handler is None:
            return self._reply(self._status_char(), "?")
        result = handler(arg)
        if result == "ALARM":  # raised by the command itself
            alarm, self.alarm = self.alarm, None
            return self._reply("A", f"?{alarm}")
        return self._reply(self._status_char(), result or "")

    def _status_char(self) -> str:
        if self.state == "running":
            return "I" if self.direction == "infuse" else "W"
        return {"purging": "X", "paused": "P"}.get(self.state, "S")

    def _sync(self) -> None:
        """Catch up with the world: a run that ended by itself ended at the target or in a stall."""
        if self.state in ("running", "purging") and not self.pump.running:
            self.state = "stopped"
            if self.pump.stalled:
                self.alarm = "S"

    def _watch(self, now: float) -> None:
        with self.lock:
            if self.safe_timeout_s and now - self._last_packet > self._watchdog_limit() and self.alarm != "T":
                self._sync()
                if self.state != "stopped":
                    self.pump.stop()
                    self.state = "stopped"
                self.alarm = "T"

    def close(self) -> None:
        self._watchdog.cancel()

    def _limits(self) -> tuple[float, float]:
        area = math.pi * self.diameter_mm ** 2 / 4
        return MIN_SPEED_MM_H * area, MAX_SPEED_MM_H * area

    def _total(self) -> float:
        return self.pump.infused_uL if self.direction == "infuse" else self.pump.withdrawn_uL

    def _start(self, rate: float) -> None:
        remaining = None
        if self.target_uL and self.state != "purging":
            remaining = self.target_uL - (self._total() - self._phase_start)
            if remaining <= 0:  # the phase has already delivered its volume
                self.pump.stop()
                self.state = "stopped"
                return
        self.pump.run(rate, direction=self.direction, target_uL=remaining)

    # -- commands: each returns the data part of the reply ("" for none) ---------------------------
    def _cmd_(self, arg: str) -> str:
        return ""

    def _cmd_VER(self, arg: str) -> str:
        return self.version

    def _cmd_SAF(self, arg: str) -> str:
        if not arg:
            return str(self.safe_timeout_s)
        if not arg.isdigit() or int(arg) > 255:
            return "?OOR"
        self.safe_timeout_s = int(arg)
        return ""

    def _cmd_DIA(self, arg: str) -> str:
        if not arg:
            return _show(self.diameter_mm)
        value = _number(arg)
        if value is None:
            return "?"
        if self.state != "stopped":
            return "?NA"
        lo, hi = DIAMETER_RANGE_MM
        if not lo <= value <= hi:
            return "?OOR"
        self.diameter_mm = value
        self.pump.diameter_mm = value
        self.volume_units = "UL" if value <= 14.0 else "ML"
        return ""

    def _cmd_RAT(self, arg: str) -> str:
        if not arg:
            return _show(self.rate_uL_h / RATE_UNITS[self.rate_units]) + self.rate_units
        m = re.fullmatch(r"([\d.]+)(UH|UM|MH|MM)?", arg)
        value = _number(m[1]) if m else None
        if value is None:
            return "?"
        unit = m[2] or self.rate_units
        rate = value * RATE_UNITS[unit]
        lo, hi = self._limits()
        if not lo <= rate <= hi:
            return "?OOR"
        self.rate_uL_h, self.rate_units = rate, unit
        if self.state == "running":
            self._start(rate)  # a rate change takes effect at once
        return ""

    def _cmd_VOL(self, arg: str) -> str:
        if not arg:
            return _show(self.target_uL / VOLUME_UNITS[self.volume_units]) + self.volume_units
        if arg in VOLUME_UNITS:
            self.volume_units = arg
            return ""
        value = _number(arg)
        if value is None:
            return "?"
        if value != value:
            return "?OOR"
        self.target_uL = value * VOLUME_UNITS[self.volume_units]
        return ""

    def _cmd_DIR(self, arg: str) -> str:
        if not arg:
            return "INF" if self.direction == "infuse" else "WDR"
        if arg not in ("INF", "WDR", "REV"):
            return "?"
        if self.state != "stopped":
            return "?NA"
        if arg == "REV":
            self.direction = "withdraw" if self.direction == "infuse" else "infuse"
        else:
            self.direction = "infuse" if arg == "INF" else "withdraw"
        return ""

    def _cmd_RUN(self, arg: str) -> str:
        if arg:
            if not arg.isdigit() or not 1 <= int(arg) <= 41:
                return "?OOR"
            if int(arg) > PHASES:
                self.alarm = "O"   # a phase the program does not have
                return "ALARM"
        if self.state in ("running", "purging"):
            return "?IGN"
        if self.rate_uL_h <= 0:
            self.alarm = "E"       # nothing programmed to run
            return "ALARM"
        if self.state != "paused":
            self._phase_start = self._total()
        self.state = "running"
        self._start(self.rate_uL_h)
        if not self.pump.running and self.pump.stalled:
            self.state = "stopped"
            self.alarm = "S"
            return "ALARM"
        return ""

    def _cmd_PUR(self, arg: str) -> str:
        if self.state in ("running", "purging"):
            return "?NA"
        self.state = "purging"
        self._start(self._limits()[1])
        return ""

    def _cmd_STP(self, arg: str) -> str:
        if self.state in ("running", "purging"):
            self.pump.stop()
            self.state = "paused" if self.state == "running" else "stopped"
        elif self.state == "paused":
            self.state = "stopped"
        return ""

    def _cmd_DIS(self, arg: str) -> str:
        size = VOLUME_UNITS[self.volume_units]
        inf = (self.pump.infused_uL - self._inf0) / size
        wdr = (self.pump.withdrawn_uL - self._wdr0) / size
        return f"I{_show(inf)}W{_show(wdr)}{self.volume_units}"

    def _cmd_CLD(self, arg: str) -> str:
        if arg == "INF":
            self._inf0 = self.pump.infused_uL
        elif arg == "WDR":
            self._wdr0 = self.pump.withdrawn_uL
        else:
            return "?"
        return ""

    # -- for tests and the simulated lab ------------------------------------------------------------
    def power_cycle(self) -> None:
        """Power was interrupted: the pump stops and reports the reset alarm on the next command."""
        with self.lock:
            self.pump.stop()
            self.state, self.safe_timeout_s, self.alarm = "stopped", 0, "R"


class NE1000Chain(ProtocolCore):
    """Several NE-1000s daisy-chained on one RS-232 line: every pump hears every packet and only the one
    addressed answers (an unaddressed command reaches them all, as on the real chain, so give addresses)."""

    serial_settings = NE1000.serial_settings

    def __init__(self, name: str, pumps: list[NE1000]):
        super().__init__(name)
        addresses = [p.address for p in pumps]
        if len(set(addresses)) != len(addresses):
            raise ValueError(f"{name}: two pumps share an address in {addresses}")
        self.pumps = list(pumps)

    def receive(self, data: bytes) -> bytes:
        return b"".join(p.feed(data) for p in self.pumps)

    def close(self) -> None:
        for p in self.pumps:
            p.close()
