"""SRS RGA 100/200/300 firmware over the simulated world's mass spectrometer.

The RS-232 protocol as the RGA speaks it: two-letter commands with the parameter attached (``MR44``,
``FL1.0``, ``NF4``), ``?`` queries, ``*`` for the default, CR (or LF) terminated, case-insensitive. Text
replies end ``LF CR``. Ionizer and multiplier commands (``FL EE IE VF HV IN CA CL``) answer with the STATUS
byte once done; parameter commands (``NF MI MF SA MV MG SP ST TP``) answer nothing. Ion currents come back as
4-byte little-endian int32 in units of 1e-16 A (after the multiplier gain when the CDEM is on).

A command the firmware does not understand gets no reply at all: it sets a bit in the RS-232 error byte
(``EC?``) and the RS-232 bit of the STATUS byte (``ER?``), exactly as the instrument does. The other error
bytes (``EF? EM? EQ? ED? EP?``) describe the filament, multiplier, mass filter, electrometer and 24 V supply.
"""

from __future__ import annotations

import math
import struct

from labctl.sim.serial.core import ProtocolCore

# STATUS byte (ER?) bits: which error byte has something to say.
RS232_BIT, FIL_BIT, CEM_BIT, QMF_BIT, DET_BIT, PS_BIT = 0x01, 0x02, 0x08, 0x10, 0x20, 0x40
_BYTE_BITS = {"EC": RS232_BIT, "EF": FIL_BIT, "EM": CEM_BIT, "EQ": QMF_BIT, "ED": DET_BIT, "EP": PS_BIT}

# RS-232 error byte bits.
BAD_COMMAND, BAD_PARAMETER, TOO_LONG, OVERWRITE, TX_OVERWRITE, JUMPER, CONFLICT = (1, 2, 4, 8, 16, 32, 64)
# Filament error byte bits.
SINGLE_FILAMENT, VACUUM_TOO_HIGH, CANNOT_SET_EMISSION, NO_FILAMENT = 0x01, 0x20, 0x40, 0x80

#: Hardware faults a test can inject (``core.fail(code)``): code -> (error byte, bit), named as in the manual.
HARDWARE_FAULTS = {
    "PS7": ("EP", 0x80), "PS6": ("EP", 0x40),
    "DET7": ("ED", 0x80), "DET6": ("ED", 0x40), "DET5": ("ED", 0x20), "DET4": ("ED", 0x10),
    "DET3": ("ED", 0x08), "DET1": ("ED", 0x02),
    "RF7": ("EQ", 0x80), "RF6": ("EQ", 0x40), "RF4": ("EQ", 0x10),
    "FL6": ("EF", CANNOT_SET_EMISSION),
}

MAX_COMMAND = 32          # characters the input buffer holds before "command too long"
MAX_OPERATING_TORR = 1e-4  # above this the filament protection trips
UNIT_A = 1e-16            # current unit of binary replies
PEAK_SIGMA_AMU = 0.2      # analog-scan peak width


class RGA(ProtocolCore):
    """One RGA head. ``world.mass_spec(name)`` is the ionizer, mass filter and detector it drives.

    Options (the profile's; driver options such as ``gases`` are accepted and ignored): ``model`` 100|200|300,
    ``serial_number``, ``firmware``, ``cdem`` (the electron multiplier option is fitted), ``mass_spec`` (the
    world's name for the head, default *name*).
    """

    serial_settings = {"baudrate": 28800, "bytesize": 8, "parity": "N", "stopbits": 1, "rtscts": True}

    def __init__(self, name: str, world, *, model: int = 200, serial_number: str = "19164",
                 firmware: str = "0.24", cdem: bool = True, mass_spec: str | None = None, **_driver_options):
        super().__init__(name)
        if model not in (100, 200, 300):
            raise ValueError(f"{name}: RGA model must be 100, 200 or 300, got {model!r}")
        self.world = world
        self.ms = world.mass_spec(mass_spec or name)
        self.model, self.serial_number, self.firmware, self.cdem = model, str(serial_number), firmware, cdem
        self._buffer = bytearray()
        self._overflow = False
        self.errors = {code: 0 for code in _BYTE_BITS}
        self.faults: set[str] = set()
        self._defaults()

    # -- state ------------------------------------------------------------------------------------------
    def _defaults(self) -> None:
        self.electron_energy, self.ion_energy, self.focus_V = 70, 1, 90
        self.emission_setpoint = 0.0
        # The multiplier calibration stored at the factory: gain 1000 at 1400 V.
        self.stored_hv, self.stored_gain = 1400, 1000.0
        self.initial_mass, self.final_mass, self.steps_per_amu = 1, self.model, 10
        # Stored sensitivities (mA/Torr, N2 at 1 mA emission): partial pressure and total pressure.
        self.pp_sensitivity, self.tp_sensitivity = 0.2, 0.01
        self.tp_enabled = True

    def power_cycle(self) -> None:
        """Power was interrupted: the head comes back with the filament and multiplier off, the settings at
        their defaults and no errors latched."""
        with self.lock:
            self.ms.filament_off()
            self.ms.set_multiplier(0)
            self.emission_setpoint = 0.0
            self.errors = {code: 0 for code in _BYTE_BITS}
            self._buffer.clear()
            self._defaults()

    def fail(self, code: str | None) -> None:
        """Inject a hardware fault named as in the manual (``"PS7"``, ``"DET6"``, ``"RF4"``...); None clears."""
        if code is None:
            self.faults.clear()
        elif code not in HARDWARE_FAULTS:
            raise ValueError(f"unknown RGA fault {code!r}; choose from {sorted(HARDWARE_FAULTS)}")
        else:
            self.faults.add(code)

    def _gain(self) -> float:
        """CDEM gain at the present high voltage (the world's ion currents already include it)."""
        if self.ms.multiplier_V <= 0:
            return 1.0
        gain = getattr(self.ms, "gain", None)
        return float(gain()) if callable(gain) else self.stored_gain

    def _watch_filament(self) -> None:
        """What the emission regulator notices by itself: a burnt filament, a vented chamber."""
        if self.emission_setpoint <= 0:
            return
        if not self.ms.filament_ok:
            self.errors["EF"] |= NO_FILAMENT
            self.emission_setpoint = 0.0
            self.ms.filament_off()
        elif self.ms.total_pressure() > MAX_OPERATING_TORR:
            self.errors["EF"] |= VACUUM_TOO_HIGH
            self.emission_setpoint = 0.0
            self.ms.filament_off()

    def _error_byte(self, code: str) -> int:
        value = self.errors[code]
        for fault in self.faults:
            byte, bit = HARDWARE_FAULTS[fault]
            if byte == code:
                value |= bit
        if code == "EM" and not self.cdem:
            value |= 0x80
        return value

    def status_byte(self) -> int:
        self._watch_filament()
        status = 0
        for code, bit in _BYTE_BITS.items():
            if self._error_byte(code):
                status |= bit
        return status

    # -- the wire -----------------------------------------------------------------------------------
    def receive(self, data: bytes) -> bytes:
        out = bytearray()
        for byte in data:
            if byte in (0x0D, 0x0A):
                line, self._buffer = bytes(self._buffer), bytearray()
                if self._overflow:
                    self._overflow = False
                    self.errors["EC"] |= TOO_LONG
                elif line.strip():
                    out += self._command(line)
            elif len(self._buffer) >= MAX_COMMAND:
                self._overflow = True
            else:
                self._buffer.append(byte)
        return bytes(out)

    def _command(self, line: bytes) -> bytes:
        try:
            text = line.decode("ascii").strip().upper()
        except UnicodeDecodeError:
            return self._bad(BAD_COMMAND)
        code, param = text[:2], text[2:].strip()
        handler = getattr(self, f"_cmd_{code}", None) if code.isalpha() and len(code) == 2 else None
        if handler is None:
            return self._bad(BAD_COMMAND)
        try:
            return handler(param)
        except _BadParameter:
            return self._bad(BAD_PARAMETER)
        except _Conflict:
            return self._bad(CONFLICT)

    def _bad(self, bit: int) -> bytes:
        self.errors["EC"] |= bit
        return b""

    @staticmethod
    def _text(value) -> bytes:
        return f"{value}".encode("ascii") + b"\n\r"

    def _status_reply(self) -> bytes:
        return self._text(self.status_byte())

    @staticmethod
    def _int(param: str, lo: int, hi: int, default: int) -> int:
        """An integer parameter; like the firmware, a decimal form ("1400.0") is read and truncated."""
        if param in ("", "*"):
            return default
        try:
            number = float(param)
        except ValueError:
            raise _BadParameter from None
        if not math.isfinite(number) or not lo <= int(number) <= hi:
            raise _BadParameter
        return int(number)

    @staticmethod
    def _float(param: str, lo: float, hi: float, default: float) -> float:
        if param in ("", "*"):
            return default
        try:
            value = float(param)
        except ValueError:
            raise _BadParameter from None
        if not (lo <= value <= hi) or math.isnan(value):
            raise _BadParameter
        return value

    def _current(self, amps: float) -> bytes:
        counts = int(round(amps / UNIT_A))
        counts = max(-(2 ** 31), min(2 ** 31 - 1, counts))
        return struct.pack("<i", counts)

    # -- identification and initialisation ----------------------------------------------------------
    def _cmd_ID(self, param):
        if param != "?":
            raise _BadParameter
        return self._text(f"SRSRGA{self.model:03d}VER{self.firmware}SN{self.serial_number}")

    def _cmd_IN(self, param):
        level = self._int(param, 0, 2, 0)
        self.errors["EC"] = 0
        if level == 1:
            self.ms.filament_off()
            self.ms.set_multiplier(0)
            self._defaults()
            self.ms.noise_floor = 2
            self.errors = {code: 0 for code in _BYTE_BITS}
        elif level == 2:  # standby: filament and multiplier off
            self.emission_setpoint = 0.0
            self.ms.filament_off()
            self.ms.set_multiplier(0)
        return self._status_reply()

    # -- ionizer ------------------------------------------------------------------------------------
    def _cmd_FL(self, param):
        if param == "?":
            return self._text(f"{self.ms.emission_mA:.2f}")
        emission = self._float(param, 0.0, 3.5, 1.0)
        self.errors["EF"] = 0
        if emission == 0:
            self.emission_setpoint = 0.0
            self.ms.filament_off()
        elif not self.ms.filament_ok:
            self.errors["EF"] |= NO_FILAMENT
            self.ms.filament_off()
        elif self.ms.total_pressure() > MAX_OPERATING_TORR:
            self.errors["EF"] |= VACUUM_TOO_HIGH
            self.ms.filament_off()
        elif "FL6" in self.faults:
            self.ms.filament_off()
        else:
            self.emission_setpoint = emission
            self.ms.filament_on(emission)
        return self._status_reply()

    def _setting(self, attr, param, lo, hi, default):
        if param == "?":
            return self._text(getattr(self, attr))
        setattr(self, attr, self._int(param, lo, hi, default))
        return self._status_reply()

    def _cmd_EE(self, param):
        return self._setting("electron_energy", param, 25, 105, 70)

    def _cmd_IE(self, param):
        return self._setting("ion_energy", param, 0, 1, 1)

    def _cmd_VF(self, param):
        return self._setting("focus_V", param, 0, 150, 90)

    # -- electron multiplier ------------------------------------------------------------------------
    def _cmd_HV(self, param):
        if param == "?":
            return self._text(int(round(self.ms.multiplier_V)))
        volts = self._int(param, 0, 2490, self.stored_hv)
        if 0 < volts < 10:
            raise _BadParameter
        if self.cdem:
            self.ms.set_multiplier(float(volts))
        return self._status_reply()

    def _cmd_MV(self, param):
        if param == "?":
            return self._text(self.stored_hv)
        self.stored_hv = self._int(param, 10, 2490, 1400)
        return b""

    def _cmd_MG(self, param):
        if param == "?":
            return self._text(f"{self.stored_gain / 1000:.4f}")
        self.stored_gain = self._float(param, 0.0, 2000.0, 1.0) * 1000
        return b""

    # -- detector, scan parameters ------------------------------------------------------------------
    def _cmd_NF(self, param):
        if param == "?":
            return self._text(self.ms.noise_floor)
        self.ms.noise_floor = self._int(param, 0, 7, 4)
        return b""

    def _cmd_MI(self, param):
        if param == "?":
            return self._text(self.initial_mass)
        self.initial_mass = self._int(param, 1, self.model, 1)
        return b""

    def _cmd_MF(self, param):
        if param == "?":
            return self._text(self.final_mass)
        self.final_mass = self._int(param, 1, self.model, self.model)
        return b""

    def _cmd_SA(self, param):
        if param == "?":
            return self._text(self.steps_per_amu)
        self.steps_per_amu = self._int(param, 10, 25, 10)
        return b""

    def _cmd_AP(self, param):
        if param != "?":
            raise _BadParameter
        return self._text(max(0, (self.final_mass - self.initial_mass) * self.steps_per_amu + 1))

    def _cmd_HP(self, param):
        if param != "?":
            raise _BadParameter
        return self._text(max(0, self.final_mass - self.initial_mass + 1))

    def _cmd_SP(self, param):
        if param == "?":
            return self._text(f"{self.pp_sensitivity:.4f}")
        self.pp_sensitivity = self._float(param, 0.0, 10.0, 0.2)
        return b""

    def _cmd_ST(self, param):
        if param == "?":
            return self._text(f"{self.tp_sensitivity:.4f}")
        self.tp_sensitivity = self._float(param, 0.0, 100.0, 0.01)
        return b""

    # -- measurements -------------------------------------------------------------------------------
    def _cmd_MR(self, param):
        mass = self._int(param, 0, self.model, -1)
        if mass < 0:
            raise _BadParameter
        if mass == 0:  # RF off, nothing measured
            return b""
        self._watch_filament()
        return self._current(self.ms.ion_current(mass))

    def _cmd_ML(self, param):
        if self._int(param, 0, self.model, -1) < 0:
            raise _BadParameter
        return b""

    def _total_current(self) -> float:
        """The total-pressure collector, read through the multiplier when it is on."""
        if self.emission_setpoint <= 0:
            return 0.0
        return self.ms.total_pressure() * self.tp_sensitivity * 1e-3 * self._gain()

    def _cmd_TP(self, param):
        if param == "?":
            self._watch_filament()
            return self._current(self._total_current())
        self.tp_enabled = bool(self._int(param, 0, 1, 1))
        return b""

    def _scans(self, param) -> int:
        count = self._int(param, 1, 255, 1)
        if self.initial_mass > self.final_mass:
            raise _Conflict
        return count

    def _cmd_HS(self, param):
        out = bytearray()
        for _ in range(self._scans(param)):
            self._watch_filament()
            for mass in range(self.initial_mass, self.final_mass + 1):
                out += self._current(self.ms.ion_current(mass))
            out += self._current(self._total_current())
        return bytes(out)

    def _cmd_SC(self, param):
        out = bytearray()
        lo, hi, steps = self.initial_mass, self.final_mass, self.steps_per_amu
        for _ in range(self._scans(param)):
            self._watch_filament()
            peaks = {m: self.ms.ion_current(m) for m in range(max(1, lo - 1), min(self.model, hi + 1) + 1)}
            for i in range((hi - lo) * steps + 1):
                x = lo + i / steps
                amps = sum(current * math.exp(-0.5 * ((x - m) / PEAK_SIGMA_AMU) ** 2)
                           for m, current in peaks.items() if abs(x - m) < 1.5)
                out += self._current(amps)
            out += self._current(self._total_current())
        return bytes(out)

    def _cmd_CA(self, param):
        return self._status_reply()

    def _cmd_CL(self, param):
        return self._status_reply()

    # -- errors -------------------------------------------------------------------------------------
    def _cmd_ER(self, param):
        if param != "?":
            raise _BadParameter
        return self._status_reply()

    def _error_query(self, code: str, param: str) -> bytes:
        if param != "?":
            raise _BadParameter
        if code != "EC":
            self._watch_filament()
        value = self._error_byte(code)
        if code == "EC":  # reading the RS-232 error byte clears it
            self.errors["EC"] = 0
        return self._text(value)

    def _cmd_EC(self, param):
        return self._error_query("EC", param)

    def _cmd_EF(self, param):
        return self._error_query("EF", param)

    def _cmd_EM(self, param):
        return self._error_query("EM", param)

    def _cmd_EQ(self, param):
        return self._error_query("EQ", param)

    def _cmd_ED(self, param):
        return self._error_query("ED", param)

    def _cmd_EP(self, param):
        return self._error_query("EP", param)


class _BadParameter(Exception):
    pass


class _Conflict(Exception):
    pass
