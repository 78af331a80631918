"""Driver for Pfeiffer QMG 220/422 quadrupole MS controllers (OmniStar / ThermoStar GSD 320) over RS-232.

Wire format: ``MNE\\r`` asks, ``MNE ,value\\r`` sets. The controller answers ACK CR LF to a command it
understood (NAK CR LF to one it did not); the host then sends ENQ and reads the value line, ``value\\r\\n``.
Multiple-ion detection: one channel per watched mass (``SPC ,n``, ``MFM ,m``, ``MMO ,3`` single mass,
``AST ,0`` on), ``CYM ,1`` with ``CBE``/``CEN`` bounding the channels, ``CRU ,2`` starts a cycle, ``MBH``
counts the samples waiting (fourth field) and each ``MDB`` takes one ion current (A), in channel order. The
exchanges follow the public PyExpLabSys ``pfeiffer_qmg422`` client, which the simulator is checked against.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from labctl.devices.clock import Clock
from labctl.devices.errors import InstrumentError, InstrumentTimeout, ProtocolError
from labctl.devices.mass_spectrometer.analyser import FilamentWatch, GasReading, checked_masses
from labctl.devices.mass_spectrometer.cracking import RELATIVE_SENSITIVITY, PartialPressureModel, fractions
from labctl.devices.options import DriverDeclaration, SerialOptions, Settings, limit_range
from labctl.devices.transport import Port

ACK, NAK, ENQ = b"\x06", b"\x15", b"\x05"
EOL = b"\r\n"
#: nominal A/Torr for N2 on the Faraday cup, to give readable partial pressures before any calibration
NOMINAL_SENSITIVITY = 2e-4


class QmgOptions(SerialOptions):
    """Profile options of a QMG controller watching a set of gases."""

    gases: dict[str, int] = Field(description="gas name -> m/z")
    emission_mA: float = Field(1.0, gt=0, le=3.5)
    cycle_s: float = Field(1.0, gt=0, description="monitor period, lab s")
    dwell: int = Field(6, ge=0, le=15, description="MSD dwell index per channel")
    fragments: dict[str, Any] | None = Field(None, description="gas -> cracking pattern")
    max_polls: int = Field(50, ge=1, description="MBH polls for a sample before giving up")
    baudrate: Literal[9600, 19200, 38400, 57600, 115200] = 9600


class QmgLimits(Settings):
    """Profile limits of the QMG: the emission current."""

    emission_mA: limit_range("mA", 0.0, 3.5)


class QmgSafeState(Settings):
    """What the filament is left at."""

    filament: Literal["off", "on"] = "off"


DRIVER = DriverDeclaration(
    "pfeiffer.qmg220", "mass_spectrometer", "serial", options=QmgOptions, limits=QmgLimits,
    safe_state=QmgSafeState, describer=lambda o, _l: {"gases": tuple(o.gases)},
    description="Pfeiffer QMG 220 / 422 (OmniStar, ThermoStar GSD 320)")


class QmgError(InstrumentError):
    """The controller refused a command (NAK) or reports an error."""


class Qmg:
    """One QMG controller. Every exchange (command, ACK, ENQ, answer) holds ``port.lock``."""

    def __init__(self, url: str, *, name: str = "qmg", timeout: float = 1.0, baudrate: int = 9600):
        self.name = name
        self.port = Port(url, name=name, timeout=timeout, baudrate=baudrate, bytesize=8, parity="N", stopbits=1)

    def close(self) -> None:
        self.port.close()

    def comm(self, command: str) -> str:
        """Send *command*, wait for ACK, ask with ENQ and return the answer (:class:`QmgError` on NAK)."""
        with self.port.lock:
            self.port.discard_stale()
            self.port.write(command.encode("ascii") + b"\r")
            try:
                ack = self.port.read_until(EOL)
            except InstrumentTimeout:
                self.port.mark_stale()
                raise
            if ack == NAK + EOL:
                raise QmgError(self.name, f"refused {command!r} (NAK)", ack)
            if ack != ACK + EOL:
                self.port.mark_stale()
                raise ProtocolError(self.name, f"no ACK to {command!r}", ack)
            self.port.write(ENQ)
            answer = self.port.read_until(EOL)
        text = answer[: -len(EOL)]
        if not text.isascii() or b"\r" in text or b"\n" in text:
            self.port.mark_stale()
            raise ProtocolError(self.name, f"malformed answer to {command!r}", answer)
        return text.decode("ascii").strip()

    def set(self, mnemonic: str, value) -> str:
        """``MNE ,value``; returns what the controller reports back."""
        return self.comm(f"{mnemonic} ,{value}")

    def configure_channels(self, masses: list[int], dwell: int) -> None:
        """One single-mass channel per mass, on the Faraday cup, all in one multiple-ion cycle."""
        for number, mz in enumerate(masses, start=1):
            self.set("SPC", number)
            self.set("MFM", mz)
            self.set("MSD", dwell)
            self.set("MMO", 3)
            self.set("SDT", 0)
            self.set("AST", 0)
        self.set("CYM", 1)
        self.set("CTR", 0)
        self.set("CYS", 1)
        self.set("CBE", 1)
        self.set("CEN", len(masses))

    def measure(self, count: int, clock: Clock, *, poll_s: float = 0.05, max_polls: int = 50) -> list[float]:
        """Start one cycle and take its *count* ion currents (A), in channel order."""
        with self.port.lock:
            self.set("SPC", 1)
            self.set("CRU", 2)
            values = []
            for _ in range(count):
                for _ in range(max_polls):
                    header = self.comm("MBH").split(",")
                    if len(header) != 5:
                        raise ProtocolError(self.name, "MBH header is not five fields", ",".join(header))
                    if int(header[3]) > 0:
                        break
                    clock.sleep(poll_s)   # the controller is still dwelling on a channel
                else:
                    raise InstrumentTimeout(self.name, f"no sample after {max_polls} MBH polls")
                text = self.comm("MDB")
                try:
                    values.append(float(text))
                except ValueError:
                    raise ProtocolError(self.name, "MDB answer is not a number", text) from None
        return values


class QmgAnalyser:
    """A :class:`~.analyser.GasAnalyser` over a QMG: each watched gas at its m/z on a channel of its own.

    Partial pressures use nominal sensitivities (``NOMINAL_SENSITIVITY`` times the ionisation factor), good
    enough to watch a baseline settle; amounts come from a calibration run (``labctl.analysis.calibration``),
    which relates the recorded ion currents to the carrier's.

    While the filament should be on, every reading first asks ``FIE``: a QMG that lost its power comes back
    with the filament off, in console mode and with its channels gone, and only the filament read back says
    why (:class:`~.analyser.FilamentWentOff`, as for the SRS RGA). Switching the filament on or off first
    checks the controller is still under computer control (``CMO``) and, if it restarted, takes control again
    and sets the channels up anew, so the safe state and the next run can be reached after a restart.
    """

    def __init__(self, qmg: Qmg, clock: Clock, gases: Mapping[str, int], *, emission_mA: float = 1.0,
                 dwell: int = 6, fragments: Mapping[str, Mapping[int, float]] | None = None, max_polls: int = 50):
        self.qmg, self.clock, self.name = qmg, clock, qmg.name
        self._emission, self._dwell, self._max_polls = float(emission_mA), int(dwell), int(max_polls)
        self._fragments = {g: dict(p) for g, p in (fragments or {}).items()}
        self._lock = threading.RLock()
        self._filament = FilamentWatch(self.name, "QMG")
        self._computer_control()
        self.max_mass = int(float(qmg.comm("SMR") or 100))
        self.watch(gases)

    def _computer_control(self) -> None:
        mode = self.qmg.set("CMO", 1)
        if mode != "1":
            raise ProtocolError(self.name, "the controller did not take ASCII computer control (CMO ,1)", mode)

    @property
    def gases(self) -> dict[str, int]:
        return dict(self._model.gases)

    @property
    def emission_mA(self) -> float:
        return self._emission

    def watch(self, gases: Mapping[str, int]) -> None:
        gases = checked_masses(self.name, gases, self.max_mass)
        sensitivities = {g: NOMINAL_SENSITIVITY * RELATIVE_SENSITIVITY.get(g, 1.0) for g in gases}
        model = PartialPressureModel(gases, sensitivities, self._fragments)
        with self._lock:
            self.qmg.configure_channels(model.masses, self._dwell)
            self._model = model

    def read(self) -> GasReading:
        with self._lock:
            model = self._model
            if self._filament.expected:
                on = self.qmg.comm("FIE")
                self._filament.check(self._emission if on == "1" else 0.0, self._emission, f"FIE={on}")
            values = self.qmg.measure(len(model.masses), self.clock, max_polls=self._max_polls)
            now = self.clock.now()
        currents = dict(zip(model.masses, values, strict=True))
        pressures = model.pressures(currents)
        return GasReading(time=now, pressures=pressures, fractions=fractions(pressures), currents=currents)

    @property
    def filament(self) -> bool:
        on = self.qmg.comm("FIE") == "1"
        self._filament.seen(on)
        return on

    def _resume(self) -> None:
        """Computer control and the channels back, if the controller restarted (console mode, channels lost)."""
        if self.qmg.comm("CMO") != "1":
            self._computer_control()
            with self._lock:
                self.qmg.configure_channels(self._model.masses, self._dwell)

    def filament_on(self) -> None:
        self._resume()
        self.qmg.set("EMI", f"{self._emission:.2f}")
        if self.qmg.set("FIE", 1) != "1":
            raise QmgError(self.name, "the filament did not come on (FIE ,1)")
        self._filament.switched(True)

    def filament_off(self) -> None:
        self._filament.switched(False)
        self._resume()    # a controller that restarted is in console mode and refuses FIE ,0
        self.qmg.set("FIE", 0)

    def close(self) -> None:
        self.qmg.close()
