"""The drivers a lab profile may name: kind, transport, factory, and what options, limits and safe state mean.

One table so that a profile can be checked completely (types, ranges, transport forms) without importing a
vendor library or opening a port, and so the session knows which factory builds each instrument.
"""

from __future__ import annotations

import importlib
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any, Callable

KINDS = ("potentiostat", "syringe_pump", "valve", "mass_spectrometer", "flow_controller", "clock")

#: Plan parameter names that mean "the device of this kind" (the CLI fills them in when unambiguous).
KIND_PARAMETER_NAMES = {
    "potentiostat": ("potentiostat", "pstat"),
    "syringe_pump": ("syringe_pump", "pump"),
    "valve": ("valve",),
    "mass_spectrometer": ("mass_spectrometer", "ms", "rga"),
    "flow_controller": ("flow_controller", "mfc"),
    "clock": ("clock",),
    "operator": ("operator",),  # not a profile kind: every session has one operator device
}


@dataclass(frozen=True)
class Opt:
    """One option (or safe-state entry): its type, whether it is required, and what values are allowed."""

    type: type | tuple[type, ...]
    required: bool = False
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False
    choices: tuple = ()
    #: for tables: the type of each value (keys are strings)
    values: Opt | None = None
    description: str = ""

    def check(self, value: Any) -> str | None:
        """The reason *value* is not acceptable, or None."""
        types = self.type if isinstance(self.type, tuple) else (self.type,)
        ok = any(_is_type(value, t) for t in types)
        if not ok:
            return f"expected {' or '.join(_type_name(t) for t in types)}, got {_describe(value)}"
        if self.choices and value not in self.choices:
            return f"{value!r} is not one of {', '.join(repr(c) for c in self.choices)}"
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if value != value:
                return "not a number"
            if self.min is not None and (value <= self.min if self.min_exclusive else value < self.min):
                return f"{value!r} is below the allowed {'(' if self.min_exclusive else '['}{self.min:g}, ...]"
            if self.max is not None and value > self.max:
                return f"{value!r} is above the allowed maximum {self.max:g}"
        if isinstance(value, dict) and self.values is not None:
            for key, item in value.items():
                reason = self.values.check(item)
                if reason:
                    return f"entry {key!r}: {reason}"
        return None


@dataclass(frozen=True)
class Range:
    """A limit given in the profile as ``[min, max]``; it must lie inside what the driver can do."""

    unit: str
    lo: float | None = None
    hi: float | None = None
    description: str = ""

    def check(self, value: Any) -> str | None:
        if (not isinstance(value, (list, tuple)) or len(value) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
            return f"expected [min, max] in {self.unit}, got {_describe(value)}"
        lo, hi = (float(v) for v in value)
        if lo != lo or hi != hi:
            return "not a number"
        if not lo < hi:
            return f"min {lo:g} must be below max {hi:g} {self.unit}"
        if self.lo is not None and lo < self.lo:
            return (f"min {lo:g} {self.unit} is beyond what the driver allows "
                    f"({self.lo:g} to {_fmt(self.hi)} {self.unit})")
        if self.hi is not None and hi > self.hi:
            return (f"max {hi:g} {self.unit} is beyond what the driver allows "
                    f"({_fmt(self.lo)} to {self.hi:g} {self.unit})")
        return None


@dataclass(frozen=True)
class Driver:
    name: str
    kind: str
    transport: str  # "serial" | "sdk" | "none"
    factory: str  # "module:function"
    options: dict[str, Opt] = field(default_factory=dict)
    limits: dict[str, Range] = field(default_factory=dict)
    safe_state: dict[str, Opt] = field(default_factory=dict)
    #: for SDK transports: regular expressions of the native address forms besides sim://NAME
    sdk_addresses: tuple[str, ...] = ()
    description: str = ""

    def load_factory(self) -> Callable:
        """Import the factory; a missing module raises :class:`FactoryMissing` naming driver and module."""
        module_name, _, func_name = self.factory.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
                raise FactoryMissing(f"driver {self.name!r} is built by {self.factory}, "
                                     f"but module {module_name} is not available") from None
            raise
        try:
            return getattr(module, func_name)
        except AttributeError:
            raise FactoryMissing(f"driver {self.name!r} is built by {self.factory}, "
                                 f"but {module_name} has no {func_name}") from None


@dataclass
class BuildContext:
    """What a factory gets besides the instrument's spec: the lab clock and the running simulated lab."""

    clock: Any
    simlab: Any = None


class FactoryMissing(ImportError):
    """The factory module or function for a driver is not installed."""


def _is_type(value, t) -> bool:
    if t is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if t is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, t)


def _type_name(t) -> str:
    return {float: "a number", int: "an integer", str: "a string", bool: "true/false", dict: "a table",
            list: "a list"}.get(t, t.__name__)


def _describe(value) -> str:
    kind = {bool: "boolean", int: "integer", float: "number", str: "string", dict: "table", list: "list"}
    return f"{kind.get(type(value), type(value).__name__)} {value!r}"


def _fmt(v):
    return "unbounded" if v is None else f"{v:g}"


# -- transports ---------------------------------------------------------------------------------------------

_HOST = r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)"
_SERIAL_FORMS = [
    (re.compile(r"^sim://[A-Za-z0-9][\w.-]*$"), "sim://NAME"),
    (re.compile(rf"^(?:socket|rfc2217)://{_HOST}:(\d+)(?:\?.*)?$"), "socket://host:port"),
    (re.compile(r"^loop://(?:\?.*)?$"), "loop://"),
    (re.compile(r"^spy://.+$"), "spy://PORT"),
    (re.compile(r"^hwgrep://.+$"), "hwgrep://REGEXP"),
    (re.compile(r"^/dev/[\w./-]+$"), "/dev/tty..."),
    (re.compile(r"^COM[1-9]\d*$", re.IGNORECASE), "COMn"),
    (re.compile(r"^ASRL\d+::INSTR$", re.IGNORECASE), "ASRLn::INSTR"),
    (re.compile(rf"^TCPIP\d*::{_HOST}::(\d+)::SOCKET$", re.IGNORECASE), "TCPIP0::host::port::SOCKET"),
    (re.compile(rf"^TCPIP\d*::{_HOST}(?:::[\w.,]+)?::INSTR$", re.IGNORECASE), "TCPIP0::host::INSTR"),
]
SERIAL_FORMS = tuple(label for _, label in _SERIAL_FORMS)


def check_transport(driver: Driver, value: Any) -> str | None:
    """The reason *value* is not a transport *driver* can use, or None."""
    if driver.transport == "none":
        return None if value in (None, "") else f"driver {driver.name!r} takes no transport"
    if value is None:
        return f"required: driver {driver.name!r} needs a {driver.transport} transport"
    if not isinstance(value, str):
        return f"expected a string, got {_describe(value)}"
    if driver.transport == "serial":
        for pattern, _label in _SERIAL_FORMS:
            m = pattern.match(value)
            if m:
                if m.groups() and not 0 < int(m.group(1)) < 65536:
                    return f"{value!r}: port {m.group(1)} is not in 1-65535"
                return None
        return f"{value!r} is not a serial port; expected one of {', '.join(SERIAL_FORMS)}"
    # SDK transports: the simulated lab, an IP address, or the vendor's own address forms.
    if re.match(r"^sim://[A-Za-z0-9][\w.-]*$", value):
        return None
    try:
        ipaddress.ip_address(value)
        return None
    except ValueError:
        pass
    for form in driver.sdk_addresses:
        if re.fullmatch(form, value):
            return None
    forms = ["sim://NAME", "an IP address"] + [_SDK_FORM_LABELS.get(f, f) for f in driver.sdk_addresses]
    return f"{value!r} is not an address for {driver.name}; expected {', '.join(forms)}"


_USB = r"USB\d+"
_GAMRY_SECTION = r"[A-Za-z][A-Za-z0-9]*-\d+"
_SDK_FORM_LABELS = {_USB: "USBn", _GAMRY_SECTION: "a device section like REF600-12345"}


# -- the table ----------------------------------------------------------------------------------------------

_AREA = Opt(float, min=0, min_exclusive=True, description="electrode area in cm^2 (for current densities)")
_TIMEOUT = Opt(float, min=0, min_exclusive=True, description="wire read timeout in s")
_WIRE = {"timeout": _TIMEOUT, "timeout_s": _TIMEOUT}
_SYRINGE = {
    "address": Opt(int, min=0, max=99, description="pump address on the RS-232 network"),
    "syringe_diameter_mm": Opt(float, required=True, min=0, min_exclusive=True, max=50.0),
    "syringe_volume_uL": Opt(float, required=True, min=0, min_exclusive=True),
    "contents": Opt(str, description="what the syringe holds"),
    "feeds": Opt(str, description="what the pump feeds in the simulated lab (a cell or 'titration')"),
    **_WIRE,
}
_POTENTIOSTAT_SAFE = {"cell": Opt(str, choices=("off",))}
_PUMP_SAFE = {"running": Opt(bool, choices=(False,))}

DRIVERS: dict[str, Driver] = {d.name: d for d in [
    Driver("lab.clock", "clock", "none", "labctl.factories.clock:build",
           description="lab time: wall clock on hardware, simulated clock in the simulated lab"),
    Driver("biologic.vmp3", "potentiostat", "sdk", "labctl.factories.potentiostats:build_biologic",
           options={"channel": Opt(int, required=True, min=1, max=16),
                    "electrode_area_cm2": _AREA,
                    **_WIRE,
                    "library": Opt(str, description="path of EClib64.dll")},
           limits={"current_A": Range("A", -0.4, 0.4), "voltage_V": Range("V", -10.0, 10.0)},
           safe_state=_POTENTIOSTAT_SAFE, sdk_addresses=(_USB,),
           description="BioLogic VMP3 through EClib"),
    Driver("gamry.ref600", "potentiostat", "sdk", "labctl.factories.gamry:build_gamry",
           options={"electrode_area_cm2": _AREA, **_WIRE},
           limits={"current_A": Range("A", -0.6, 0.6), "voltage_V": Range("V", -11.0, 11.0)},
           safe_state=_POTENTIOSTAT_SAFE, sdk_addresses=(_GAMRY_SECTION,),
           description="Gamry Reference 600 through GamryCOM"),
    Driver("newera.ne1000", "syringe_pump", "serial", "labctl.factories.pumps:build_newera",
           options={**_SYRINGE, "baudrate": Opt(int, choices=(300, 1200, 2400, 9600, 19200)),
                    "safe_mode_timeout_s": Opt(int, min=0, max=255, description="comms watchdog; 0 = off")},
           limits={"rate_uL_h": Range("uL/h", 0.0, 2.1e6)},
           safe_state=_PUMP_SAFE, description="New Era NE-1000 family syringe pump"),
    Driver("harvard.phd_ultra", "syringe_pump", "serial", "labctl.factories.pumps:build_harvard",
           options={**_SYRINGE, "baudrate": Opt(int, choices=(9600, 19200, 38400, 57600, 115200))},
           limits={"rate_uL_h": Range("uL/h", 0.0, 1.296e7)},
           safe_state=_PUMP_SAFE, description="Harvard Apparatus PHD ULTRA / Pump 11 Elite"),
    Driver("vici.two_position", "valve", "serial", "labctl.factories.valve:build_vici",
           options={"positions": Opt(dict, values=Opt(str), description="names of positions A and B"),
                    "move_timeout_s": Opt(float, min=0, min_exclusive=True),
                    "poll_s": Opt(float, min=0, min_exclusive=True),
                    "baudrate": Opt(int, choices=(4800, 9600, 19200, 38400, 57600, 115200)),
                    "address": Opt(str, description="actuator ID character"),
                    "interface_mode": Opt(int, min=0, max=2, description="IFM reply level"),
                    **_WIRE},
           safe_state={"position": Opt(str)}, description="VICI Valco two-position electric actuator"),
    Driver("bronkhorst.propar", "flow_controller", "serial", "labctl.factories.mfc:build_bronkhorst",
           options={"node": Opt(int, min=1, max=247),
                    "fluid": Opt(str),
                    "capacity_mL_min": Opt(float, min=0, min_exclusive=True),
                    "baudrate": Opt(int, choices=(9600, 19200, 38400, 57600, 115200)),
                    **_WIRE},
           limits={"flow_mL_min": Range("mL/min", 0.0, None)},
           safe_state={"setpoint_mL_min": Opt(float, min=0)},
           description="Bronkhorst mass-flow controller over propar"),
    Driver("srs.rga", "mass_spectrometer", "serial", "labctl.factories.ms:build_srs_rga",
           options={"gases": Opt(dict, values=Opt(int, min=1, max=300), description="gas name -> m/z"),
                    "emission_mA": Opt(float, min=0, max=3.5),
                    "noise_floor": Opt(int, min=0, max=7),
                    "cycle_s": Opt(float, min=0, min_exclusive=True),
                    "multiplier_V": Opt(float, min=0, max=2490),
                    "sensitivities": Opt(dict, values=Opt(float, min=0, min_exclusive=True),
                                         description="gas -> A/Torr from a calibration"),
                    "fragments": Opt(dict, description="gas -> cracking pattern"),
                    "slow_timeout_s": Opt(float, min=0, min_exclusive=True,
                                          description="read timeout of slow commands (filament, scans)"),
                    "baudrate": Opt(int, choices=(28800,)),
                    **_WIRE},
           limits={"emission_mA": Range("mA", 0.0, 3.5), "multiplier_V": Range("V", 0.0, 2490.0)},
           safe_state={"filament": Opt(str, choices=("off", "on"))},
           description="SRS RGA 100/200/300"),
]}


def driver(name: str) -> Driver:
    """The driver called *name*; KeyError listing the known drivers otherwise."""
    try:
        return DRIVERS[name]
    except KeyError:
        raise KeyError(f"unknown driver {name!r}; known: {', '.join(sorted(DRIVERS))}") from None
