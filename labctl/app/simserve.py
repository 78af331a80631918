"""Serve one instrument's simulator to programs outside this process (TCP or a pseudo-terminal).

The simulated lab runs in real time here (acceleration 1 unless the profile asks for another), since an
outside client expects lab time to pass on its own while it waits for replies.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from labctl.drivers import driver
from labctl.profile import Profile


class SimServeError(ValueError):
    """The instrument cannot be served (unknown, or not a serial instrument)."""


def sim_config(profile: Profile) -> dict:
    """The profile's ``[sim]`` table with a real-time clock (acceleration 0 means 'as fast as possible')."""
    config = dict(profile.sim or {})
    if not config.get("acceleration"):
        config["acceleration"] = 1
    return config


@contextmanager
def serve(profile: Profile, name: str, *, tcp: int | None = None, pty: bool = False) -> Iterator[str]:
    """Start the simulated lab and serve instrument *name*; yield the endpoint (URL or device path)."""
    spec = profile.instruments.get(name)
    if spec is None:
        serial_names = [s.name for s in profile.instruments.values() if driver(s.driver).transport == "serial"]
        raise SimServeError(f"{profile.path}: no instrument named {name!r}; serial instruments: "
                            f"{', '.join(serial_names) or 'none'}")
    if driver(spec.driver).transport != "serial":
        raise SimServeError(f"{spec.source}: {spec.driver} is not a serial instrument; only serial "
                            "instruments can be served")
    from labctl.sim.lab import SimLab
    from labctl.sim.serial import registry
    from labctl.sim.serial.serve import PtyServer, TcpServer

    simlab = SimLab(sim_config(profile))
    try:
        url = simlab.serial(name, spec.driver, dict(spec.options))
        core = registry.get(url[len("sim://"):])
        server = PtyServer(core) if pty else TcpServer(core, port=tcp or 0)
        server.start()
        try:
            yield server.path if pty else server.url
        finally:
            server.stop()
    finally:
        simlab.close()
