"""Builds BioLogic potentiostat channels (driver ``biologic.vmp3``) from their profile entries.

The transport is the instrument's EClib address: an IP address or ``USB0`` on a Windows host with the
EC-Lab Development Package, ``sim://vmp3`` for the simulated lab's EClib fake (the host part names the
simulated instrument, whose channels are ``vmp3:1``, ``vmp3:2``... in the world).
"""

from __future__ import annotations

import weakref

from labctl.devices.potentiostat.biologic import BioLogicBackend
from labctl.devices.potentiostat.biologic.library import load_eclib
from labctl.devices.potentiostat.device import Potentiostat
from labctl.factories.common import options, simlab

# One EClib fake per simulated instrument, so its channels share one connection as on a real VMP3.
_sim_libraries: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _sim_library(lab, host: str):
    libs = _sim_libraries.setdefault(lab, {})
    if host not in libs:
        libs[host] = lab.eclib(host)
    return libs[host]


def address_and_library(spec, ctx):
    """(EClib address, library object) for the profile's transport."""
    transport = (spec.transport or "").strip()
    if not transport:
        raise ValueError(f"{spec.name}: no transport given; expected an IP address, USB0 or sim://vmp3")
    if transport.startswith("sim://"):
        host = transport[len("sim://"):].strip("/")
        if not host:
            raise ValueError(f"{spec.name}: {transport!r} names no simulated instrument (e.g. sim://vmp3)")
        return host, _sim_library(simlab(spec, ctx), host)
    try:
        return transport, load_eclib((spec.options or {}).get("library"))
    except OSError as exc:
        raise OSError(f"{spec.name}: {exc}") from None


def build(spec, ctx) -> Potentiostat:
    """One VMP3 channel as a :class:`Potentiostat`; channels on one address share one EClib connection.

    Options as :class:`~labctl.devices.potentiostat.biologic.BioLogicOptions`. Limits ``current_A``,
    ``voltage_V`` ([min, max]) refuse techniques outside them before the cell is on.
    """
    if "channel" not in (spec.options or {}):
        raise ValueError(f"{spec.name}: options.channel is required (1-16)")
    opts = options(spec)
    address, lib = address_and_library(spec, ctx)
    backend = BioLogicBackend(lib, address, opts.channel, name=spec.name, timeout=int(max(1, opts.wire_timeout(5))))
    return Potentiostat(backend, clock=ctx.clock, name=spec.name, limits=dict(spec.limits or {}),
                        electrode_area_cm2=float(opts.electrode_area_cm2 or 1.0),
                        source=f"biologic:{address}:{opts.channel}")
