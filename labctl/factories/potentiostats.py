"""Builds BioLogic potentiostat channels from their profile entries.

The transport is the instrument's EClib address: an IP address or ``USB0`` on a Windows host with the
EC-Lab Development Package, ``sim://vmp3`` for the simulated lab's EClib fake (the host part names the
simulated instrument, whose channels are ``vmp3:1``, ``vmp3:2``... in the world).
"""

from __future__ import annotations

import weakref

from labctl.devices.potentiostat.biologic import BioLogicBackend
from labctl.devices.potentiostat.biologic.library import load_eclib
from labctl.devices.potentiostat.device import Potentiostat


# One EClib fake per simulated instrument, so its channels share one connection as on a real VMP3.
_sim_libraries: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _sim_library(simlab, host: str):
    libs = _sim_libraries.setdefault(simlab, {})
    if host not in libs:
        libs[host] = simlab.eclib(host)
    return libs[host]


def address_and_library(spec, ctx):
    """(EClib address, library object) for the profile's transport."""
    transport = (spec.transport or "").strip()
    if not transport:
        raise ValueError(f"{spec.name}: no transport given; expected an IP address, USB0 or sim://vmp3")
    options = dict(spec.options or {})
    if transport.startswith("sim://"):
        host = transport[len("sim://"):].strip("/")
        if not host:
            raise ValueError(f"{spec.name}: {transport!r} names no simulated instrument (e.g. sim://vmp3)")
        if getattr(ctx, "simlab", None) is None:
            raise ValueError(f"{spec.name}: transport {transport!r} needs the simulated lab ([sim] in the profile)")
        return host, _sim_library(ctx.simlab, host)
    try:
        return transport, load_eclib(options.get("library"))
    except OSError as exc:
        raise OSError(f"{spec.name}: {exc}") from None


def build_biologic(spec, ctx) -> Potentiostat:
    """One VMP3 channel as a :class:`Potentiostat`; channels on one address share one EClib connection.

    Options: ``channel`` (1-based, required), ``electrode_area_cm2`` (default 1), ``timeout`` (s, connect).
    Limits: ``current_A``, ``voltage_V`` ([min, max]) refuse techniques outside them before the cell is on.
    """
    options = dict(spec.options or {})
    if "channel" not in options:
        raise ValueError(f"{spec.name}: options.channel is required (1-16)")
    address, lib = address_and_library(spec, ctx)
    timeout = options.get("timeout", options.get("timeout_s", 5))
    backend = BioLogicBackend(lib, address, int(options["channel"]), name=spec.name, timeout=int(max(1, timeout)))
    return Potentiostat(backend, clock=ctx.clock, name=spec.name, limits=dict(spec.limits or {}),
                        electrode_area_cm2=float(options.get("electrode_area_cm2", 1.0)),
                        source=f"biologic:{address}:{int(options['channel'])}")
