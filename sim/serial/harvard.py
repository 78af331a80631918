"""Harvard PHD ULTRA / Pump 11 Elite firmware (Ultra command set) over a syringe pump of the simulated world.

Behaviour clients rely on: commands may be abbreviated to four letters, a nonzero address is given as
``NN:`` and echoed in the prompt, the target is reached when the direction's volume counter meets
``tvolume`` (``T*`` until the counter is cleared or the target changes), and a stall (``*``) stays on the
prompt until ``stp`` or a new run.
"""

from __future__ import annotations

import math
import re

from labctl.sim.serial.core import ProtocolCore

VOLUME_UL = {"ml": 1e3, "ul": 1.0, "nl": 1e-3, "pl": 1e-6}
TIME_H = {"h": 1.0, "hr": 1.0, "min": 1 / 60, "s": 1 / 3600}
MIN_SPEED_MM_H = 0.0108   # plunger speed range of the PHD ULTRA
MAX_SPEED_MM_H = 11190.0
DIAMETER_RANGE_MM = (0.1, 50.8)
COMMANDS = ("irate", "wrate", "irun", "wrun", "stp", "stop", "diameter", "tvolume", "ctvolume", "ivolume",
            "wvolume", "civolume", "cwvolume", "cvolume", "ver", "version", "address")
_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)"


def _show(value: float) -> str:
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return text or "0"


def _volume(uL: float) -> str:
    return f"{_show(uL / 1e3)} ml" if uL >= 1e4 else f"{_show(uL)} ul"


class PhdUltra(ProtocolCore):
    """``PhdUltra(name, world, address=0, syringe_diameter_mm=..., syringe_volume_uL=..., contents=..., feeds=...)``.

    Options meant for the driver (baudrate, timeouts) are accepted and ignored.
    """

    serial_settings = {"baudrate": 115200, "bytesize": 8, "parity": "N", "stopbits": 2}

    def __init__(self, name: str, world, *, address: int = 0, syringe_diameter_mm: float = 4.78,
                 syringe_volume_uL: float = 1000.0, contents: str = "water", feeds: str | None = None,
                 model: str = "PHD ULTRA", firmware: str = "3.0.4", **_driver_options):
        super().__init__(name)
        if not 0 <= int(address) <= 99:
            raise ValueError(f"{name}: address must be 0-99, got {address}")
        self.world = world
        self.address = int(address)
        self.version = f"{model} {firmware}"
        self.pump = world.pump(name, diameter_mm=float(syringe_diameter_mm), volume_uL=float(syringe_volume_uL),
                               contents=contents, feeds=feeds)
        self.diameter_mm = float(syringe_diameter_mm)
        self.rates = {"infuse": 0.0, "withdraw": 0.0}       # µL/h
        self.rate_units = {"infuse": "ul/h", "withdraw": "ul/h"}
        self.target_uL: float | None = None
        self.state = "idle"                                  # idle | infuse | withdraw
        self.stalled = False
        self.target_reached = False
        self._base = {"infuse": self.pump.infused_uL, "withdraw": self.pump.withdrawn_uL}
        self._buffer = bytearray()

    # -- framing ------------------------------------------------------------------------------------
    def receive(self, data: bytes) -> bytes:
        self._buffer.extend(data)
        out = bytearray()
        while True:
            end = self._buffer.find(b"\r")
            if end < 0:
                if len(self._buffer) > 256:
                    self._buffer.clear()
                return bytes(out)
            line = bytes(self._buffer[:end]).decode("ascii", "replace").strip("\n ")
            del self._buffer[:end + 1]
            out += self._line(line)

    def _line(self, line: str) -> bytes:
        m = re.fullmatch(r"(?:(\d{1,2}):)?(.*)", line)
        if int(m[1] or 0) != self.address:
            return b""  # another pump on the chain
        self._sync()
        try:
            if self.refusing:  # the firmware's own refusal of whatever it was sent
                raise _Refused("Command error")
            lines = self._execute(m[2].strip())
        except _Refused as exc:
            lines = [str(exc)]
        body = "".join(f"{text}\r\n" for text in lines)
        return f"\r\n{body}{self._prompt()}".encode("ascii")

    def _prompt(self) -> str:
        prefix = f"{self.address:02d}" if self.address else ""
        if self.stalled:
            return prefix + "*"
        if self.state != "idle":
            return prefix + (">" if self.state == "infuse" else "<")
        return prefix + ("T*" if self.target_reached else ":")

    def _sync(self) -> None:
        if self.state != "idle" and not self.pump.running:
            self.state = "idle"
            if self.pump.stalled:
                self.stalled = True
            else:
                self.target_reached = True

    # -- firmware -----------------------------------------------------------------------------------
    def _execute(self, text: str) -> list[str]:
        if not text:
            return []
        word, _, arg = text.partition(" ")
        word, arg = word.lower(), arg.strip()
        name = next((c for c in COMMANDS if c == word or (len(word) >= 4 and c.startswith(word))), None)
        if name is None:
            raise _Refused("Unknown command")
        return getattr(self, f"_cmd_{name}")(arg)

    def _counter(self, direction: str) -> float:
        total = self.pump.infused_uL if direction == "infuse" else self.pump.withdrawn_uL
        return total - self._base[direction]

    def _limits(self) -> tuple[float, float]:
        area = math.pi * self.diameter_mm ** 2 / 4
        return MIN_SPEED_MM_H * area, MAX_SPEED_MM_H * area

    def _rate(self, direction: str, arg: str) -> list[str]:
        if not arg:
            unit = self.rate_units[direction]
            vol, _, per = unit.partition("/")
            return [f"{_show(self.rates[direction] * TIME_H[per] / VOLUME_UL[vol])} {unit}"]
        m = re.fullmatch(_NUMBER + r"\s+([munp]l)/(h|hr|min|s)", arg, re.I)
        if not m:
            raise _Refused("Argument error")
        vol, per = m[2].lower(), m[3].lower()
        rate = float(m[1]) * VOLUME_UL[vol] / TIME_H[per]
        lo, hi = self._limits()
        if not lo <= rate <= hi:
            raise _Refused("Out of range")
        self.rates[direction], self.rate_units[direction] = rate, f"{vol}/{per}"
        if self.state == direction:
            self._start(direction)
        return []

    def _start(self, direction: str) -> None:
        remaining = None
        if self.target_uL:
            remaining = self.target_uL - self._counter(direction)
            if remaining <= 0:
                self.pump.stop()
                self.state, self.target_reached = "idle", True
                return
        self.pump.run(self.rates[direction], direction=direction, target_uL=remaining)
        self.state = direction
        self._sync()

    def _run(self, direction: str, arg: str) -> list[str]:
        if arg:
            raise _Refused("Argument error")
        if self.rates[direction] <= 0:
            raise _Refused("Command error")
        self.stalled = self.target_reached = False
        self._start(direction)
        return []

    def _cmd_irate(self, arg: str) -> list[str]:
        return self._rate("infuse", arg)

    def _cmd_wrate(self, arg: str) -> list[str]:
        return self._rate("withdraw", arg)

    def _cmd_irun(self, arg: str) -> list[str]:
        return self._run("infuse", arg)

    def _cmd_wrun(self, arg: str) -> list[str]:
        return self._run("withdraw", arg)

    def power_cycle(self) -> None:
        """Power was interrupted: the pump stops and comes back idle with no rates set (the PHD ULTRA keeps
        its syringe settings, not a running method)."""
        with self.lock:
            self.pump.stop()
            self.state, self.stalled, self.target_reached = "idle", False, False
            self.rates = {"infuse": 0.0, "withdraw": 0.0}
            self.target_uL = None

    def _cmd_stp(self, arg: str) -> list[str]:
        self.pump.stop()
        self.state, self.stalled = "idle", False
        return []

    _cmd_stop = _cmd_stp

    def _cmd_diameter(self, arg: str) -> list[str]:
        if not arg:
            return [f"{self.diameter_mm:.4f} mm"]
        if not re.fullmatch(_NUMBER, arg):
            raise _Refused("Argument error")
        if self.state != "idle":
            raise _Refused("Command error")
        lo, hi = DIAMETER_RANGE_MM
        if not lo <= float(arg) <= hi:
            raise _Refused("Out of range")
        self.diameter_mm = float(arg)
        self.pump.diameter_mm = self.diameter_mm
        return []

    def _cmd_tvolume(self, arg: str) -> list[str]:
        if not arg:
            return [_volume(self.target_uL)] if self.target_uL else ["Target volume not set"]
        m = re.fullmatch(_NUMBER + r"\s*([munp]l)", arg, re.I)
        if not m:
            raise _Refused("Argument error")
        volume = float(m[1]) * VOLUME_UL[m[2].lower()]
        if volume <= 0:
            raise _Refused("Out of range")
        self.target_uL, self.target_reached = volume, False
        return []

    def _cmd_ctvolume(self, arg: str) -> list[str]:
        self.target_uL, self.target_reached = None, False
        return []

    def _cmd_ivolume(self, arg: str) -> list[str]:
        return [_volume(self._counter("infuse"))]

    def _cmd_wvolume(self, arg: str) -> list[str]:
        return [_volume(self._counter("withdraw"))]

    def _clear(self, *directions: str) -> list[str]:
        for direction in directions:
            self._base[direction] += self._counter(direction)
        self.target_reached = False
        return []

    def _cmd_civolume(self, arg: str) -> list[str]:
        return self._clear("infuse")

    def _cmd_cwvolume(self, arg: str) -> list[str]:
        return self._clear("withdraw")

    def _cmd_cvolume(self, arg: str) -> list[str]:
        return self._clear("infuse", "withdraw")

    def _cmd_ver(self, arg: str) -> list[str]:
        if arg:
            raise _Refused("Argument error")
        return [self.version]

    _cmd_version = _cmd_ver

    def _cmd_address(self, arg: str) -> list[str]:
        if not arg:
            return [str(self.address)]
        raise _Refused("Command error")  # re-addressing over the chain is not simulated


class _Refused(Exception):
    """A command the firmware refuses; the message is the pump's error line."""
