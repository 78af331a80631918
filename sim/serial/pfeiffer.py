"""Pfeiffer QMG 220/422 quadrupole MS controller (OmniStar / ThermoStar GSD 320) over its ASCII protocol.

Every command is a three-letter mnemonic, ``MNE\\r`` to ask, ``MNE ,value\\r`` to set (``MNE, value`` is
accepted as well). The controller acknowledges a command it understood with ACK CR LF (NAK CR LF otherwise)
and sends the answer only when the host asks with ENQ: ``value\\r\\n``. Multiple-ion detection: each channel
(``SPC ,n``) gets a first mass (``MFM``), single-mass mode (``MMO ,3``) and is switched on (``AST ,0``);
``CBE``/``CEN`` bound the channels of a cycle, ``CRU ,2`` starts one; the measured ion currents (A, one per
channel) queue in the data buffer, ``MBH`` reports the buffer (the fourth field counts the samples waiting)
and each ``MDB`` takes one.

Until the host takes computer control (``CMO ,1``) the controller is in console mode: it answers queries
but refuses (NAK) any setting other than ``CMO``. A power cycle brings it back as switched on: filament and
SEM off, console mode, every setting and channel at its default, the data buffer empty. With the ``error``
wire fault (``refusing``) it answers NAK to every command and does nothing.
"""

from __future__ import annotations

from labctl.sim.serial.core import ProtocolCore

ACK, NAK, ENQ = b"\x06", b"\x15", b"\x05"
EOL = b"\r\n"
MODEL_CODE = "4"           # SQA: the analyser type (0: QME 125, 1: QMA 400, 4: QMG 200-series head)


class Qmg(ProtocolCore):
    """A QMG controller over a mass spectrometer head of the world."""

    serial_settings = {"baudrate": 9600, "bytesize": 8, "parity": "N", "stopbits": 1}

    def __init__(self, name: str, world, *, mass_spec: str | None = None, **_driver_options):
        super().__init__(name)
        self.world = world
        self.ms = world.mass_spec(mass_spec or name)
        self.log: list[str] = []          # every command understood, for tests and debugging
        self._switched_on()

    def _switched_on(self) -> None:
        self._rx = bytearray()
        self._answer: str | None = None
        self.settings: dict[str, str] = dict(DEFAULTS)
        self.channels: dict[int, dict[str, str]] = {}
        self.buffer: list[float] = []

    def power_cycle(self) -> None:
        """Power was interrupted: the controller restarts in console mode with the filament and SEM off and
        every setting, channel and buffered sample lost (the QMG keeps no parameter set of a computer-run
        measurement across a restart)."""
        with self.lock:
            self.ms.filament_off()
            self.ms.set_multiplier(0.0)
            self._switched_on()

    # -- the wire -------------------------------------------------------------------------------------
    def receive(self, data: bytes) -> bytes:
        out = bytearray()
        self._rx += data
        while self._rx:
            if self._rx[:1] == ENQ:
                del self._rx[:1]
                answer, self._answer = self._answer, None
                out += (answer if answer is not None else "").encode("ascii") + EOL
                continue
            end = self._rx.find(b"\r")
            if end < 0:
                break
            line = bytes(self._rx[:end]).decode("ascii", "replace").strip("\n ")
            del self._rx[:end + 1]
            if not line:
                continue
            answer = None if self.refusing else self._command(line)
            if answer is None:
                self._answer = None
                out += NAK + EOL
            else:
                self._answer = answer
                out += ACK + EOL
        return bytes(out)

    # -- commands -------------------------------------------------------------------------------------
    def _command(self, line: str) -> str | None:
        mnemonic, _, rest = line.partition(",")
        mnemonic = mnemonic.strip().upper()
        if len(mnemonic) != 3 or not mnemonic.isalnum():
            return None
        value = rest.strip() if _ else None
        if value is not None and mnemonic != "CMO" and self.settings["CMO"] != "1":
            return None                       # console mode: settings come from the front panel
        self.log.append(line)
        handler = getattr(self, f"_do_{mnemonic}", None)
        if handler is not None:
            return handler(value)
        if mnemonic in CHANNEL_PARAMETERS:
            channel = self.channels.setdefault(int(self.settings["SPC"]), dict(CHANNEL_DEFAULTS))
            if value is not None:
                channel[mnemonic] = value
            return channel[mnemonic]
        if mnemonic in self.settings:
            if value is not None:
                if mnemonic in READ_ONLY:
                    return None
                self.settings[mnemonic] = value
            return self.settings[mnemonic]
        return None

    def _do_FIE(self, value: str | None) -> str | None:
        if value is not None:
            if value not in ("0", "1"):
                return None
            if value == "1":
                if not self.ms.filament_ok:
                    self.settings["ERR"] = "0001"      # no emission: the filament is broken
                    return None
                self.ms.filament_on(float(self.settings["EMI"]))
            else:
                self.ms.filament_off()
            self.settings["FIE"] = value
        return "1" if self.ms.emission_mA > 0 else "0"

    def _do_EMI(self, value: str | None) -> str | None:
        if value is not None:
            try:
                emission = float(value)
            except ValueError:
                return None
            if not 0 < emission <= 3.5:
                return None
            self.settings["EMI"] = f"{emission:.2f}"
            if self.ms.emission_mA > 0:
                self.ms.filament_on(emission)
        return self.settings["EMI"]

    def _do_SEM(self, value: str | None) -> str | None:
        if value is not None:
            if value not in ("0", "1"):
                return None
            self.settings["SEM"] = value
            self.ms.set_multiplier(float(self.settings["SHV"]) if value == "1" else 0.0)
        return self.settings["SEM"]

    def _do_CRU(self, value: str | None) -> str | None:
        if value is None:
            return "0"
        if value != "2":
            return None
        first, last = int(self.settings["CBE"]), int(self.settings["CEN"])
        for number in range(first, last + 1):
            channel = self.channels.get(number)
            if channel is None or channel["AST"] != "0":
                continue
            self.buffer.append(self.ms.ion_current(int(float(channel["MFM"]))))
        return "2"

    def _do_MBH(self, value: str | None) -> str | None:
        if value is not None:
            return None
        return f"0,{self.settings['CYM']},{self.settings['SPC']},{len(self.buffer)},0"

    def _do_MDB(self, value: str | None) -> str | None:
        if value is not None:
            return None
        return f"{self.buffer.pop(0):.4E}" if self.buffer else ""

    def _do_ESQ(self, value: str | None) -> str | None:
        if value is not None:
            return None
        bits = (1 if self.buffer else 0) | (2 if self.settings["CYM"] == "1" else 0) \
            | (4 if self.ms.emission_mA > 0 else 0) | (8 if self.settings["SEM"] == "1" else 0)
        return f"{bits},{1 if self.ms.emission_mA > 0 else 0}"


#: the controller's settings as switched on (``CMO`` 0: console mode)
DEFAULTS = {"CMO": "0", "FIE": "0", "EMI": "1.00", "SEM": "0", "SHV": "1200", "SDT": "0", "CYM": "0", "CTR": "0",
            "CYS": "1", "CBE": "1", "CEN": "1", "SPC": "1", "SQA": MODEL_CODE, "SMR": "100", "ERR": "0000",
            "EWN": "0000", "TSI": "0"}
#: per-channel parameters (``SPC ,n`` selects the channel they apply to)
CHANNEL_DEFAULTS = {"MFM": "0", "MSD": "6", "AST": "1", "MMO": "3", "AMO": "1", "ARL": "-11", "ARA": "-9",
                    "DSE": "0", "DTY": "0", "MRE": "15", "MWI": "1", "MST": "1"}
CHANNEL_PARAMETERS = frozenset(CHANNEL_DEFAULTS)
READ_ONLY = frozenset({"SQA", "SMR", "ERR", "EWN"})
