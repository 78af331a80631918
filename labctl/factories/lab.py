"""Builds the lab clock device (driver ``lab.clock``) on whichever clock the session runs on."""

from __future__ import annotations

from labctl.devices.clock import LabClock


def build(spec, ctx) -> LabClock:
    """A :class:`LabClock` named after the profile entry, reading ``ctx.clock``."""
    return LabClock(ctx.clock, name=spec.name)
