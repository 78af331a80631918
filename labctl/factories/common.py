"""What several factories need: the profile entry's settings, the port to open, a syringe pump device."""

from __future__ import annotations

from typing import Any

from labctl.devices.syringe_pump.device import PumpDriver, SyringePump
from labctl.drivers import driver


def options(spec) -> Any:
    """The entry's options as its driver's model: defaults filled in, everything checked."""
    return driver(spec.driver).declaration.options.model_validate(dict(spec.options or {}))


def simlab(spec, ctx):
    """The running simulated lab a ``sim://`` transport needs (ValueError naming the instrument if none)."""
    lab = getattr(ctx, "simlab", None)
    if lab is None:
        raise ValueError(f"{spec.name}: transport {spec.transport!r} needs the simulated lab ([sim] in the profile)")
    return lab


def transport_url(spec, ctx) -> str:
    """The port to open: the simulated lab's ``sim://`` URL for a simulated instrument, else the profile's."""
    transport = spec.transport or ""
    if transport.startswith("sim://"):
        return simlab(spec, ctx).serial(spec.name, spec.driver, dict(spec.options or {}))
    if not transport:
        raise ValueError(f"{spec.name}: no transport given")
    return transport


def syringe_pump(pump_driver: PumpDriver, spec) -> SyringePump:
    """The ophyd device over a pump driver, with the profile's syringe programmed and its limits attached."""
    opts = options(spec)
    try:
        pump_driver.set_diameter(float(opts.syringe_diameter_mm))
        return SyringePump(pump_driver, name=spec.name, rate_limits_uL_h=(spec.limits or {}).get("rate_uL_h"),
                           syringe_volume_uL=opts.syringe_volume_uL, safe_state=spec.safe_state)
    except BaseException:
        pump_driver.close()
        raise
