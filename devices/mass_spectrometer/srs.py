"""Driver for SRS RGA 100/200/300 residual gas analysers over RS-232 (or anything pyserial opens).

Wire format: ``CODE[param]\\r`` out; text replies end ``\\n\\r``; ionizer and multiplier commands reply with the
STATUS byte when done; ``MR``/``TP?`` reply with a 4-byte little-endian int32 in 1e-16 A. The RGA never
answers a command it did not understand, it only raises a bit: so after every command that has no reply
the driver reads the STATUS byte, and every non-zero STATUS byte is expanded through the per-subsystem error
bytes into a typed exception carrying the manual's description of each bit.
"""

from __future__ import annotations

import re
import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field
from tenacity import Retrying, retry_if_exception, stop_after_delay

from labctl.devices.errors import InstrumentError, InstrumentTimeout, LimitError, ProtocolError
from labctl.devices.options import DriverDeclaration, SerialOptions, Settings, limit_range
from labctl.devices.transport import Port

SERIAL_SETTINGS = {"baudrate": 28800, "bytesize": 8, "parity": "N", "stopbits": 1, "rtscts": True}
EMISSION_RANGE = limit_range("mA", 0.0, 3.5)
MULTIPLIER_RANGE = limit_range("V", 0.0, 2490.0)


class SrsOptions(SerialOptions):
    """Profile options of an SRS RGA watching a set of gases."""

    gases: dict[str, int] = Field(description="gas name -> m/z")
    emission_mA: float = Field(1.0, ge=0, le=3.5)
    noise_floor: int | None = Field(None, ge=0, le=7)
    cycle_s: float = Field(1.0, gt=0, description="monitor period, lab s")
    multiplier_V: float | None = Field(None, ge=0, le=2490, description="CDEM voltage; absent or 0: Faraday cup")
    sensitivities: dict[str, float] | None = Field(None, description="gas -> A/Torr from a calibration")
    fragments: dict[str, Any] | None = Field(None, description="gas -> cracking pattern")
    slow_timeout_s: float = Field(30.0, gt=0, description="read timeout of slow commands (filament, scans)")
    baudrate: Literal[28800] = 28800


class SrsLimits(Settings):
    """Profile limits of the RGA: emission current and multiplier voltage."""

    emission_mA: EMISSION_RANGE
    multiplier_V: MULTIPLIER_RANGE


class SrsSafeState(Settings):
    """What the filament is left at."""

    filament: Literal["off", "on"] = "off"


DRIVER = DriverDeclaration(
    "srs.rga", "mass_spectrometer", "serial", options=SrsOptions, limits=SrsLimits, safe_state=SrsSafeState,
    describer=lambda o, _l: {"gases": tuple(o.gases)}, description="SRS RGA 100/200/300")
TEXT_END = b"\n\r"
UNIT_A = 1e-16  # binary current unit


class RgaError(InstrumentError):
    """An error bit of the RGA; ``subsystem`` names the error byte, ``codes`` the bits (``"FL7"``...)."""

    subsystem = "RGA"

    def __init__(self, instrument: str, descriptions: list[str], reply: str, codes: list[str]):
        self.codes = codes
        self.descriptions = descriptions
        super().__init__(instrument, f"{self.subsystem} error: " + "; ".join(descriptions), reply)


class CommunicationError(RgaError):
    """The RGA's RS-232 error byte is set (a bad command or parameter, say)."""

    subsystem = "RS-232"


class FilamentError(RgaError):
    """The ion source cannot emit: no filament, pressure too high, emission not reached."""

    subsystem = "filament"


class MultiplierError(RgaError):
    """The electron multiplier (CDEM) failed or is not installed."""

    subsystem = "electron multiplier"


class MassFilterError(RgaError):
    """The quadrupole's RF supply reports a fault."""

    subsystem = "mass filter RF supply"


class ElectrometerError(RgaError):
    """The electrometer failed its self-test."""

    subsystem = "electrometer"


class PowerSupplyError(RgaError):
    """The 24 V supply is out of range."""

    subsystem = "24 V supply"


# STATUS byte bit -> (error query, prefix of the manual's bit names, exception, {bit: description}).
ERROR_BYTES = {
    0x01: ("EC", "CM", CommunicationError, {
        0: "Bad command received", 1: "Bad parameter received", 2: "Command too long",
        3: "Overwrite in receiving", 4: "Transmit buffer overwrite", 5: "Jumper protection violation",
        6: "Parameter conflict"}),
    0x02: ("EF", "FL", FilamentError, {
        0: "Single filament operation", 5: "Vacuum chamber pressure too high",
        6: "Unable to set the requested emission current", 7: "No filament detected"}),
    0x08: ("EM", "EM", MultiplierError, {7: "No electron multiplier option installed"}),
    0x10: ("EQ", "RF", MassFilterError, {
        4: "RF power supply in current limited mode", 6: "RF primary current exceeds 2.0 A",
        7: "RF_CT exceeds (V_EXT - 2 V) at M_MAX"}),
    0x20: ("ED", "DET", ElectrometerError, {
        1: "Op-amp input offset voltage out of range", 3: "COMPENSATE fails to read -5 nA input current",
        4: "COMPENSATE fails to read +5 nA input current", 5: "DETECT fails to read -5 nA input current",
        6: "DETECT fails to read +5 nA input current", 7: "ADC16 test failure"}),
    0x40: ("EP", "PS", PowerSupplyError, {6: "24 V supply below 22 V", 7: "24 V supply above 26 V"}),
}
#: Which error to raise first when several subsystems complain (the one a user can act on).
_PRIORITY = (0x02, 0x08, 0x01, 0x40, 0x20, 0x10)
# Bits that are warnings, not failures: single-filament operation.
_WARNINGS = {"EF": 0x01}

_INT = re.compile(rb"^-?\d+$")
_FLOAT = re.compile(rb"^-?\d+(\.\d*)?([eE][-+]?\d+)?$")
_ID = re.compile(r"^SRSRGA(\d{3}|\?\?\?)VER(\S+?)SN(\S+)$")


@dataclass(frozen=True)
class RgaIdentity:
    """What ``ID?`` says: model, mass range, firmware and serial number."""

    model: str            # e.g. "SRSRGA200"
    max_mass: int         # amu
    firmware: str
    serial_number: str
    raw: str


class SrsRga:
    """One RGA head. Every exchange holds ``port.lock``; every read has a timeout.

    ``timeout`` bounds ordinary replies; ``slow_timeout`` bounds replies the head takes seconds to give
    (filament emission settling, multiplier ramp, single-mass reads at low noise floors).
    """

    def __init__(self, url: str, *, name: str = "rga", timeout: float = 1.0, slow_timeout: float = 30.0):
        self.name = name
        self.slow_timeout = slow_timeout
        self.port = Port(url, name=name, timeout=timeout, **SERIAL_SETTINGS)
        self._max_mass: int | None = None

    def close(self) -> None:
        self.port.close()

    # -- raw exchanges ------------------------------------------------------------------------------
    def _send(self, command: str) -> None:
        self.port.discard_stale()  # bytes left by an exchange that failed must not pass for this reply
        self.port.write(command.encode("ascii") + b"\r")

    def _read_text(self, command: str, slow: bool = False) -> bytes:
        data = self._patient(lambda: self.port.read_until(TEXT_END), slow)
        body = data[: -len(TEXT_END)]
        if TEXT_END in body or not body or not body.isascii():
            self.port.mark_stale()
            raise ProtocolError(self.name, f"malformed reply to {command!r}", data)
        return body

    def _read_binary(self, command: str, slow: bool = True) -> int:
        data = self._patient(lambda: self.port.read_exact(4), slow)
        return struct.unpack("<i", data)[0]

    def _patient(self, read, slow: bool):
        """A read that may wait up to ``slow_timeout`` in total; partial bytes at a timeout mean line noise."""

        def once():
            began = time.monotonic()
            try:
                return read()
            except InstrumentTimeout as exc:
                self.port.mark_stale()
                if exc.reply:
                    raise ProtocolError(self.name, "incomplete or garbled reply", exc.reply) from None
                # A port that gave up at once (not after its timeout) knows nothing more is coming.
                exc.gave_up_at_once = time.monotonic() - began < self.port.timeout / 2
                raise

        waiting = retry_if_exception(lambda e: isinstance(e, InstrumentTimeout) and not e.gave_up_at_once)
        return Retrying(retry=waiting, stop=stop_after_delay(self.slow_timeout if slow else 0.0), reraise=True)(once)

    def query(self, command: str, *, slow: bool = False) -> str:
        """Send *command* and return its text reply (without ``LF CR``)."""
        with self.port.lock:
            self._send(command)
            return self._read_text(command, slow).decode("ascii")

    def _query_int(self, command: str, *, slow: bool = False) -> int:
        with self.port.lock:
            self._send(command)
            body = self._read_text(command, slow)
        if not _INT.match(body):
            raise ProtocolError(self.name, f"expected an integer in reply to {command!r}", body)
        return int(body)

    def _query_float(self, command: str) -> float:
        with self.port.lock:
            self._send(command)
            body = self._read_text(command)
        if not _FLOAT.match(body):
            raise ProtocolError(self.name, f"expected a number in reply to {command!r}", body)
        return float(body)

    def hardware_command(self, command: str) -> int:
        """A command that answers with the STATUS byte when done (``FL``, ``HV``, ``IN``, ``EE``...)."""
        status = self._query_int(command, slow=True)
        if not 0 <= status <= 255:
            raise ProtocolError(self.name, f"status byte out of range after {command!r}", str(status))
        self.raise_for_status(status, command)
        return status

    def set_parameter(self, command: str) -> None:
        """A command the RGA does not answer (``NF``, ``MI``, ``SP``...): confirmed through the STATUS byte."""
        with self.port.lock:
            self._send(command)
            self.check(command)

    # -- errors -------------------------------------------------------------------------------------
    def status(self) -> int:
        """The STATUS byte (``ER?``): one bit per error byte with something to report."""
        status = self._query_int("ER?")
        if not 0 <= status <= 255:
            raise ProtocolError(self.name, "status byte out of range", str(status))
        return status

    def error_bytes(self, status: int | None = None) -> dict[str, int]:
        """Each error byte flagged in *status* (read if not given), e.g. ``{"EF": 128}``."""
        status = self.status() if status is None else status
        return {query: self._query_int(f"{query}?") for bit, (query, *_rest) in ERROR_BYTES.items()
                if status & bit}

    def check(self, after: str | None = None) -> None:
        """Raise the typed error the RGA reports, if any."""
        self.raise_for_status(self.status(), after)

    def raise_for_status(self, status: int, after: str | None = None) -> None:
        if not status:
            return
        with self.port.lock:
            found = self.error_bytes(status)
        for bit in _PRIORITY:
            query, prefix, exc_type, descriptions = ERROR_BYTES[bit]
            value = found.get(query, 0) & ~_WARNINGS.get(query, 0)
            if not value:
                continue
            bits = [b for b in sorted(descriptions, reverse=True) if value & (1 << b)]
            unknown = value & ~sum(1 << b for b in descriptions)
            words = [descriptions[b] for b in bits] + ([f"undocumented bits {unknown:#04x}"] if unknown else [])
            reply = f"ER?={status} {query}?={found[query]}" + (f" after {after}" if after else "")
            raise exc_type(self.name, words, reply, [f"{prefix}{b}" for b in bits])

    # -- identity and setup -------------------------------------------------------------------------
    def identify(self) -> RgaIdentity:
        raw = self.query("ID?")
        match = _ID.match(raw)
        if not match:
            raise ProtocolError(self.name, "not an SRS RGA identification string", raw)
        max_mass = int(match.group(1)) if match.group(1).isdigit() else 100
        self._max_mass = max_mass
        return RgaIdentity(model=f"SRSRGA{match.group(1)}", max_mass=max_mass, firmware=match.group(2),
                           serial_number=match.group(3), raw=raw)

    @property
    def max_mass(self) -> int:
        if self._max_mass is None:
            self.identify()
        return self._max_mass

    def initialize(self, level: int = 0) -> int:
        """``IN0`` resets communications, ``IN1`` restores factory settings, ``IN2`` puts the head in standby."""
        if level not in (0, 1, 2):
            raise ValueError(f"{self.name}: initialization level must be 0, 1 or 2, got {level!r}")
        return self.hardware_command(f"IN{level}")

    # -- filament -----------------------------------------------------------------------------------
    def filament_on(self, emission_mA: float = 1.0) -> None:
        if not 0 < emission_mA <= 3.5:
            raise LimitError(f"{self.name}: emission current {emission_mA} mA outside (0, 3.5] mA")
        self.hardware_command(f"FL{emission_mA:.2f}")

    def filament_off(self) -> None:
        self.hardware_command("FL0")

    def emission_mA(self) -> float:
        return self._query_float("FL?")

    # -- electron multiplier ------------------------------------------------------------------------
    def stored_multiplier(self) -> tuple[int, float]:
        """The calibrated CDEM operating point: (volts ``MV?``, gain ``MG?`` x 1000)."""
        return self._query_int("MV?"), self._query_float("MG?") * 1000.0

    def multiplier_on(self, volts: int | None = None) -> None:
        """High voltage on at *volts* (default: the stored calibrated voltage, where the stored gain holds)."""
        if volts is not None and not 10 <= volts <= 2490:
            raise LimitError(f"{self.name}: multiplier voltage {volts} V outside [10, 2490] V")
        self.hardware_command("HV*" if volts is None else f"HV{int(volts)}")

    def multiplier_off(self) -> None:
        self.hardware_command("HV0")

    def multiplier_V(self) -> int:
        return self._query_int("HV?")

    # -- detector -----------------------------------------------------------------------------------
    def set_noise_floor(self, level: int) -> None:
        """0 (slowest, quietest) to 7 (fastest, noisiest)."""
        if level not in range(8):
            raise ValueError(f"{self.name}: noise floor must be 0-7, got {level!r}")
        self.set_parameter(f"NF{level}")

    def noise_floor(self) -> int:
        return self._query_int("NF?")

    def partial_pressure_sensitivity(self) -> float:
        """``SP?`` in A/Torr (the instrument stores mA/Torr)."""
        return self._query_float("SP?") * 1e-3

    def total_pressure_sensitivity(self) -> float:
        """``ST?`` in A/Torr."""
        return self._query_float("ST?") * 1e-3

    # -- measurements -------------------------------------------------------------------------------
    def _check_mass(self, mz: int) -> int:
        if isinstance(mz, bool) or int(mz) != mz or not 1 <= mz <= self.max_mass:
            raise LimitError(f"{self.name}: m/z {mz!r} outside 1-{self.max_mass}")
        return int(mz)

    def ion_current_raw(self, mz: int) -> int:
        """``MR<mz>``: the detector reading in 1e-16 A (after multiplier gain)."""
        mz = self._check_mass(mz)
        with self.port.lock:
            self._send(f"MR{mz}")
            return self._read_binary(f"MR{mz}")

    def ion_current(self, mz: int) -> float:
        """Single-mass reading in A at the detector (multiplier gain included when the CDEM is on)."""
        return self.ion_current_raw(mz) * UNIT_A

    def ion_currents(self, masses: Iterable[int]) -> dict[int, float]:
        """One multiple-ion-monitoring cycle: ``MR`` for each mass in order, then the STATUS byte.

        The STATUS check makes an alarm during the cycle (a filament failing, say) an exception rather than
        a row of zeros.
        """
        masses = [self._check_mass(m) for m in masses]
        with self.port.lock:
            out = {}
            for mz in masses:
                self._send(f"MR{mz}")
                out[mz] = self._read_binary(f"MR{mz}") * UNIT_A
            self.check("MR cycle")
        return out

    def total_current(self) -> float:
        """``TP?``: total ion current in A."""
        with self.port.lock:
            self._send("TP?")
            return self._read_binary("TP?") * UNIT_A

    def total_pressure(self, gain: float = 1.0) -> float:
        """Total pressure in Torr from ``TP?`` and the stored total-pressure sensitivity ``ST``."""
        sensitivity = self.total_pressure_sensitivity()
        if sensitivity <= 0:
            raise ProtocolError(self.name, "total-pressure sensitivity ST is not positive", str(sensitivity))
        return self.total_current() / gain / sensitivity

    # -- scans --------------------------------------------------------------------------------------
    def set_scan(self, first: int, last: int, steps_per_amu: int = 10) -> None:
        first, last = self._check_mass(first), self._check_mass(last)
        if first > last:
            raise ValueError(f"{self.name}: scan from m/z {first} to {last} runs backwards")
        if not 10 <= steps_per_amu <= 25:
            raise ValueError(f"{self.name}: steps per amu must be 10-25, got {steps_per_amu}")
        with self.port.lock:
            self._send(f"MI{first}")
            self._send(f"MF{last}")
            self._send(f"SA{steps_per_amu}")
            self.check("MI/MF/SA")

    def histogram_scan(self) -> tuple[list[int], list[float], float]:
        """``HS1``: (masses, currents in A, total current in A) over the range set by :meth:`set_scan`."""
        with self.port.lock:
            first, last = self._query_int("MI?"), self._query_int("MF?")
            points = self._query_int("HP?")
            self._send("HS1")
            currents = [self._read_binary("HS1") * UNIT_A for _ in range(points)]
            total = self._read_binary("HS1") * UNIT_A
        return list(range(first, last + 1)), currents, total

    def analog_scan(self) -> tuple[list[float], list[float], float]:
        """``SC1``: (mass axis, currents in A, total current in A)."""
        with self.port.lock:
            first, steps = self._query_int("MI?"), self._query_int("SA?")
            points = self._query_int("AP?")
            self._send("SC1")
            currents = [self._read_binary("SC1") * UNIT_A for _ in range(points)]
            total = self._read_binary("SC1") * UNIT_A
        return [first + i / steps for i in range(points)], currents, total
