"""Builds the Gamry Reference 600 potentiostat (driver ``gamry.ref600``) from its profile entry.

The transport names the instrument's section in the Gamry device list: ``REF600-12345`` on a Windows host
with Gamry Framework, ``sim://REF600-12345`` for the simulated lab's GamryCOM fake.
"""

from __future__ import annotations

from labctl.devices.potentiostat.device import Potentiostat
from labctl.devices.potentiostat.gamry import GamryBackend, load_gamrycom
from labctl.factories.common import options, simlab


def section_and_com(spec, ctx):
    """(device-list section, GamryCOM namespace) for the profile's transport."""
    transport = (spec.transport or "").strip()
    if not transport:
        raise ValueError(f"{spec.name}: no transport given; expected a section like REF600-12345 or "
                         "sim://REF600-12345")
    if transport.startswith("sim://"):
        lab = simlab(spec, ctx)
        section = transport[len("sim://"):]
        if not section:
            raise ValueError(f"{spec.name}: {transport!r} names no device section")
        return section, lab.gamrycom()
    return transport, load_gamrycom(spec.name)


def build(spec, ctx) -> Potentiostat:
    """The shared potentiostat device over a :class:`GamryBackend`, with the profile's area and limits."""
    opts = options(spec)
    section, com = section_and_com(spec, ctx)
    backend = GamryBackend(com, section, ctx.clock, name=spec.name)
    try:
        return Potentiostat(backend, clock=ctx.clock, name=spec.name, limits=dict(spec.limits or {}),
                            electrode_area_cm2=float(opts.electrode_area_cm2 or 1.0), source=f"gamry:{section}")
    except BaseException:
        backend.disconnect()
        raise
