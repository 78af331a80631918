"""Harvard Apparatus PHD ULTRA / Pump 11 Elite over RS-232 (the Ultra command set).

A command is ``[addr:]command [args]\\r``; the pump answers ``\\r\\n``, zero or more ``line\\r\\n`` and a
prompt that carries its state: ``:`` idle, ``>`` infusing, ``<`` withdrawing, ``*`` stalled, ``T*`` target
reached, preceded by the address when it is not 0. The prompt has no terminator, so the reader takes the
reply line by line and recognises the prompt by its first bytes. A stall prompt is an alarm: it is raised as
:class:`PumpStalled` until ``stp`` acknowledges it.

A PHD ULTRA raises no alarm when its power is interrupted: it comes back idle (``:``) with its rates cleared.
So the driver remembers that it started the pump, and an idle prompt while it should run (no target reached,
no stall, no ``stp`` sent) is raised as :class:`PumpReset` when the programmed rate reads back lost, else as
:class:`PumpStoppedUnasked`, with the volume delivered against the target in the message.
"""

from __future__ import annotations

import math
import re
from typing import Literal, get_args

from labctl.devices.clock import Clock
from labctl.devices.errors import LimitError, ProtocolError
from labctl.devices.syringe_pump.errors import (
    ArgumentError,
    NotApplicable,
    OutOfRange,
    PumpReset,
    PumpStalled,
    PumpStoppedUnasked,
    UnknownCommand,
)
from labctl.devices.syringe_pump.settings import SyringeOptions, pump_driver, syringe_rates
from labctl.devices.transport import Port

PROMPTS = {":": "idle", ">": "infusing", "<": "withdrawing", "*": "stalled", "T*": "target reached"}
ERRORS = {"Command error": NotApplicable, "Unknown command": UnknownCommand, "Argument error": ArgumentError,
          "Out of range": OutOfRange}
VOLUME_UL = {"ml": 1e3, "ul": 1.0, "nl": 1e-3, "pl": 1e-6}
TIME_H = {"h": 1.0, "hr": 1.0, "min": 1 / 60, "s": 1 / 3600}

#: Plunger speed range of the PHD ULTRA (published flow range: 1.5 pL/min on a 0.103 mm syringe to 216 mL/min
#: on a 38.4 mm one).
MIN_SPEED_MM_H = 0.0108
MAX_SPEED_MM_H = 11190.0
DIAMETER_RANGE_MM = (0.1, 50.8)
Baudrate = Literal[9600, 19200, 38400, 57600, 115200]


_QUANTITY = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([munp]l)(?:/(h|hr|min|s))?", re.I)


def format_value(value: float) -> str:
    """A plain decimal (no exponent) with up to 4 decimals, as the pump's parser takes it."""
    if not (math.isfinite(value) and value >= 0):
        raise LimitError(f"{value!r} cannot be sent to a Harvard pump")
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return text or "0"


def rate_argument(uL_h: float) -> str:
    """``120 ul/h``; small rates go out in nl/h so that 4 decimals keep the precision."""
    if uL_h >= 1:
        return f"{format_value(uL_h)} ul/h"
    return f"{format_value(uL_h * 1e3)} nl/h"


class HarvardPump:
    """One PHD ULTRA / Pump 11 Elite at *address* (0-99) on a serial line (8N2 as the pump ships)."""

    baudrates = get_args(Baudrate)

    def __init__(self, url: str, *, address: int = 0, clock: Clock | None = None, name: str = "pump",
                 timeout: float = 0.5, baudrate: int = 115200):
        if not (isinstance(address, int) and 0 <= address <= 99):
            raise LimitError(f"{name}: Harvard address must be 0-99, got {address!r}")
        if baudrate not in self.baudrates:
            raise LimitError(f"{name}: Harvard pumps talk at {self.baudrates} baud, not {baudrate}")
        self.name = name
        self.address = address
        self.clock = clock
        self._prefix = f"{address:02d}" if address else ""
        self._direction = "infuse"
        self._running_as: str | None = None       # the direction labctl started the pump in, until it stops
        self._programmed: dict[str, float] = {}   # direction -> rate (µL/h) labctl last set
        self._target_uL = 0.0                     # the target volume labctl last set (0: none)
        self.port = Port(url, name=name, timeout=timeout, baudrate=baudrate, bytesize=8, parity="N",
                         stopbits=2)
        try:
            self.model = self.version()
        except Exception:
            self.close()
            raise

    # -- wire ---------------------------------------------------------------------------------------
    def command(self, text: str) -> tuple[list[str], str]:
        """Send one command; return (reply lines, pump state from the prompt). Raise on errors and stalls."""
        request = (f"{self.address}:" if self.address else "") + text
        with self.port.lock:
            self.port.discard_stale()
            self.port.write((request + "\r").encode("ascii"))
            try:
                lines, prompt = self._read_reply()
            except ProtocolError:  # (a timeout marks the port stale itself)
                self.port.mark_stale()
                raise
        for line in lines:
            for words, error in ERRORS.items():
                if line.startswith(words):
                    raise error(self.name, f"{text!r} refused", line)
        state = PROMPTS[prompt]
        if state == "stalled" and text != "stp":
            raise PumpStalled(self.name, "the pump stalled (syringe empty or line blocked); stop to clear it",
                              self._prefix + prompt)
        return lines, state

    def _read_reply(self) -> tuple[list[str], str]:
        start = self.port.read_exact(2)
        if start != b"\r\n":
            raise ProtocolError(self.name, "reply does not start with CR LF", start)
        lines: list[str] = []
        width = len(self._prefix) + 1
        while len(lines) < 64:
            head = self.port.read_exact(width)
            text = self._decode(head)
            if text[:-1] == self._prefix and text[-1] in ":<>*":
                return lines, text[-1]
            if text[:-1] == self._prefix and text[-1] == "T":
                text += self._decode(self.port.read_exact(1))
                if text.endswith("T*"):
                    return lines, "T*"
            if not text.endswith("\r\n"):
                text += self._decode(self.port.read_until(b"\r\n", max_size=256))
            line = text[:-2]
            if not line or not all(32 <= ord(c) < 127 for c in line):
                raise ProtocolError(self.name, "unreadable reply line", text)
            lines.append(line)
        raise ProtocolError(self.name, "reply never ends with a prompt")


    def _decode(self, data: bytes) -> str:
        try:
            return data.decode("ascii")
        except UnicodeDecodeError:
            raise ProtocolError(self.name, "non-ASCII reply", data) from None

    def _line(self, text: str) -> str:
        lines, _ = self.command(text)
        if len(lines) != 1:
            raise ProtocolError(self.name, f"expected one line in reply to {text!r}", "|".join(lines))
        return lines[0]

    def _quantity(self, text: str, *, per_time: bool) -> float:
        """A reply like ``120 ul/h`` or ``1.5 ml`` in µL/h or µL."""
        line = self._line(text)
        m = _QUANTITY.fullmatch(line)
        if not m or bool(m[3]) != per_time:
            raise ProtocolError(self.name, f"unexpected reply to {text!r}", line)
        value = float(m[1]) * VOLUME_UL[m[2].lower()]
        return value / TIME_H[m[3].lower()] if per_time else value

    # -- configuration ------------------------------------------------------------------------------
    def version(self) -> str:
        return self._line("ver")

    def diameter(self) -> float:
        line = self._line("diameter")
        m = re.fullmatch(r"(\d+(?:\.\d*)?) mm", line)
        if not m:
            raise ProtocolError(self.name, "unexpected diameter reply", line)
        return float(m[1])

    def set_diameter(self, mm: float) -> None:
        lo, hi = DIAMETER_RANGE_MM
        if not lo <= mm <= hi:
            raise LimitError(f"{self.name}: syringe diameter {mm} mm outside {lo}-{hi} mm")
        self.command(f"diameter {format_value(mm)}")

    def rate_limits_uL_h(self, diameter_mm: float) -> tuple[float, float]:
        return syringe_rates(diameter_mm, MIN_SPEED_MM_H, MAX_SPEED_MM_H)

    def rate(self) -> float:
        """Rate of the current direction, µL/h (``irate`` or ``wrate``)."""
        return self._quantity("irate" if self._direction == "infuse" else "wrate", per_time=True)

    def set_rate(self, uL_h: float) -> None:
        self.command(f"{'irate' if self._direction == 'infuse' else 'wrate'} {rate_argument(uL_h)}")
        self._programmed[self._direction] = uL_h

    def direction(self) -> str:
        """The direction the next run goes (the pump runs ``irun`` or ``wrun``; it keeps no direction)."""
        return self._direction

    def set_direction(self, direction: str) -> None:
        if direction == "reverse":
            direction = "withdraw" if self._direction == "infuse" else "infuse"
        if direction not in ("infuse", "withdraw"):
            raise ValueError(f"{self.name}: direction must be 'infuse', 'withdraw' or 'reverse', not {direction!r}")
        if self.status() in ("infusing", "withdrawing") and direction != self._direction:
            raise NotApplicable(self.name, "cannot change direction while running; stop first")
        self._direction = direction

    def target_volume(self) -> float:
        line = self._line("tvolume")
        if line.lower().startswith("target volume not set"):
            return 0.0
        m = _QUANTITY.fullmatch(line)
        if not m or m[3]:
            raise ProtocolError(self.name, "unexpected target volume reply", line)
        return float(m[1]) * VOLUME_UL[m[2].lower()]

    def set_target_volume(self, uL: float) -> None:
        self._target_uL = uL
        if uL == 0:
            self.command("ctvolume")
        else:
            self.command(f"tvolume {format_value(uL)} ul" if uL >= 1 else f"tvolume {format_value(uL * 1e3)} nl")

    # -- motion and status --------------------------------------------------------------------------
    def run(self) -> None:
        self.command("irun" if self._direction == "infuse" else "wrun")
        self._running_as = self._direction

    def stop(self) -> None:
        self._running_as = None
        self.command("stp")

    def status(self) -> str:
        """idle, infusing, withdrawing or target reached (a stall raises :class:`PumpStalled`; an idle pump
        that labctl started and did not stop raises :class:`PumpReset` or :class:`PumpStoppedUnasked`)."""
        try:
            state = self.command("")[1]
        except PumpStalled:
            self._running_as = None
            raise
        if state in ("infusing", "withdrawing"):
            self._direction = "infuse" if state == "infusing" else "withdraw"
        elif state == "target reached":
            self._running_as = None
        elif state == "idle" and self._running_as is not None:
            direction, self._running_as = self._running_as, None
            self._stopped_unasked(direction)
        return state

    def _stopped_unasked(self, direction: str) -> None:
        """Raise why an idle pump is not pumping though labctl started it: its replies tell a power cycle."""
        verb = "infusing" if direction == "infuse" else "withdrawing"
        rate = self._quantity("irate" if direction == "infuse" else "wrate", per_time=True)
        delivered = self.dispensed()[0 if direction == "infuse" else 1]
        of = f" of its {self._target_uL:g} uL target" if self._target_uL else ""
        programmed = self._programmed.get(direction)
        if programmed and not math.isclose(rate, programmed, rel_tol=1e-3):
            raise PumpReset(self.name, f"stopped {verb} after {delivered:g} uL{of} and came back with its rate at "
                                       f"{rate:g} uL/h, not the {programmed:g} uL/h set: the power was interrupted "
                                       "and the settings are lost", f"{self._prefix}: {rate:g} ul/h")
        raise PumpStoppedUnasked(self.name, f"stopped {verb} after {delivered:g} uL{of} though nobody stopped it "
                                            "(no target reached, no stall): check the pump, its keypad and power",
                                 f"{self._prefix}:")

    def running(self) -> bool:
        return self.status() in ("infusing", "withdrawing")

    def dispensed(self) -> tuple[float, float]:
        """(infused, withdrawn) µL since they were last cleared."""
        return self._quantity("ivolume", per_time=False), self._quantity("wvolume", per_time=False)

    def clear_dispensed(self) -> None:
        self.command("cvolume")

    def close(self) -> None:
        self.port.close()


class HarvardOptions(SyringeOptions):
    """Profile options of a Harvard Apparatus PHD ULTRA / Pump 11 Elite."""

    baudrate: Baudrate = 115200


DRIVER = pump_driver("harvard.phd_ultra", "Harvard Apparatus PHD ULTRA / Pump 11 Elite",
                     HarvardOptions, 1.296e7, (MIN_SPEED_MM_H, MAX_SPEED_MM_H))
