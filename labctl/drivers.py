"""The drivers a lab profile may name, assembled from the declarations beside each driver.

Every driver module (``labctl.devices.<kind>.<vendor>``) declares its kind, transport and profile settings
(:class:`labctl.devices.options.DriverDeclaration`); this module collects them and adds what only the lab
model knows: the factory that builds the device, ``labctl.factories.<vendor>:build``. So a profile can be
checked completely without importing a vendor library or opening a port, and nothing about a driver is
written twice.
"""

from __future__ import annotations

import importlib
import ipaddress
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from labctl.devices.options import KIND_PACKAGES, KINDS, DriverDeclaration, describe_value

__all__ = ["DRIVERS", "KINDS", "BuildContext", "Driver", "FactoryMissing", "check_transport", "driver"]


@dataclass(frozen=True)
class Driver:
    """A declared driver and the factory (``module:function``) that builds its device."""

    declaration: DriverDeclaration
    factory: str

    def __getattr__(self, name: str) -> Any:  # name, kind, transport, options... come from the declaration
        if name == "declaration":
            raise AttributeError(name)
        return getattr(self.declaration, name)

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


def declarations() -> list[DriverDeclaration]:
    """Every driver declared under ``labctl.devices``: the clock's module, then each kind's vendor modules."""
    found = [importlib.import_module("labctl.devices.clock").DRIVER]
    for folder in dict.fromkeys(KIND_PACKAGES.get(kind, kind) for kind in KINDS if kind != "clock"):
        package = importlib.import_module(f"labctl.devices.{folder}")
        for info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            declared = getattr(module, "DRIVER", None)
            if isinstance(declared, DriverDeclaration):
                found.append(declared)
    return found


DRIVERS: dict[str, Driver] = {d.name: Driver(d, f"labctl.factories.{d.vendor}:build") for d in declarations()}


def driver(name: str) -> Driver:
    """The driver called *name*; KeyError listing the known drivers otherwise."""
    try:
        return DRIVERS[name]
    except KeyError:
        raise KeyError(f"unknown driver {name!r}; known: {', '.join(sorted(DRIVERS))}") from None


# -- transports ---------------------------------------------------------------------------------------------

_HOST = r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)"
_SIM = re.compile(r"^sim://[A-Za-z0-9][\w.-]*$")
_SERIAL_FORMS = [
    (_SIM, "sim://NAME"),
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


def check_transport(drv: Driver | DriverDeclaration, value: Any) -> str | None:
    """The reason *value* is not a transport *drv* can use, or None."""
    if drv.transport == "none":
        return None if value in (None, "") else f"driver {drv.name!r} takes no transport"
    if value is None:
        return f"required: driver {drv.name!r} needs a {drv.transport} transport"
    if not isinstance(value, str):
        return f"expected a string, got {describe_value(value)}"
    if drv.transport == "serial":
        for pattern, _label in _SERIAL_FORMS:
            m = pattern.match(value)
            if m:
                if m.groups() and not 0 < int(m.group(1)) < 65536:
                    return f"{value!r}: port {m.group(1)} is not in 1-65535"
                return None
        return f"{value!r} is not a serial port; expected one of {', '.join(SERIAL_FORMS)}"
    # SDK transports: the simulated lab, an IP address, or the vendor's own address forms.
    if _SIM.match(value) or any(re.fullmatch(form, value) for form, _ in drv.sdk_addresses):
        return None
    try:
        ipaddress.ip_address(value)
        return None
    except ValueError:
        pass
    forms = ["sim://NAME", "an IP address"] + [label for _, label in drv.sdk_addresses]
    return f"{value!r} is not an address for {drv.name}; expected {', '.join(forms)}"
