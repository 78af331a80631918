"""What every serial instrument's factory needs: the port to open and the wire timeout."""

from __future__ import annotations


def transport_url(spec, ctx) -> str:
    """The port to open: the simulated lab's ``sim://`` URL for a simulated instrument, else the profile's."""
    transport = spec.transport or ""
    if transport.startswith("sim://"):
        if getattr(ctx, "simlab", None) is None:
            raise ValueError(f"{spec.name}: transport {transport!r} needs the simulated lab ([sim] in the profile)")
        return ctx.simlab.serial(spec.name, spec.driver, dict(spec.options or {}))
    if not transport:
        raise ValueError(f"{spec.name}: no transport given")
    return transport


def wire_timeout(options: dict, default: float = 1.0) -> float:
    """The wall-time read timeout in s (``timeout`` or ``timeout_s``)."""
    return float(options.get("timeout", options.get("timeout_s", default)))
