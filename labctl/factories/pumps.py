"""Builds syringe pumps (New Era NE-1000 family, Harvard PHD ULTRA / Pump 11 Elite) from profile entries."""

from __future__ import annotations

from labctl.devices.syringe_pump.device import SyringePump
from labctl.devices.syringe_pump.harvard import HarvardPump
from labctl.devices.syringe_pump.newera import NewEraPump

from labctl.factories.serial import transport_url


def _device(driver, spec) -> SyringePump:
    """The ophyd device, with the profile's syringe diameter programmed and its limits attached."""
    options, limits = dict(spec.options or {}), dict(spec.limits or {})
    try:
        if options.get("syringe_diameter_mm") is not None:
            driver.set_diameter(float(options["syringe_diameter_mm"]))
        return SyringePump(driver, name=spec.name, rate_limits_uL_h=limits.get("rate_uL_h"),
                           syringe_volume_uL=options.get("syringe_volume_uL"), safe_state=spec.safe_state)
    except BaseException:
        driver.close()
        raise


def _timeout(options: dict) -> float:
    return float(options.get("timeout", options.get("timeout_s", 1.0)))


def build_newera(spec, ctx) -> SyringePump:
    """Options: ``address`` (0-99), ``baudrate`` (default 19200), ``syringe_diameter_mm``,
    ``syringe_volume_uL``, ``safe_mode_timeout_s`` (0 = basic mode), ``timeout`` (wall-time read timeout, s)."""
    options = dict(spec.options or {})
    driver = NewEraPump(transport_url(spec, ctx), address=int(options.get("address", 0)), clock=ctx.clock,
                        name=spec.name, timeout=_timeout(options), baudrate=int(options.get("baudrate", 19200)),
                        safe_mode_timeout_s=int(options.get("safe_mode_timeout_s", 0)))
    return _device(driver, spec)


def build_harvard(spec, ctx) -> SyringePump:
    """Options: ``address`` (0-99), ``baudrate`` (default 115200), ``syringe_diameter_mm``,
    ``syringe_volume_uL``, ``timeout`` (wall-time read timeout, s)."""
    options = dict(spec.options or {})
    driver = HarvardPump(transport_url(spec, ctx), address=int(options.get("address", 0)), clock=ctx.clock,
                         name=spec.name, timeout=_timeout(options), baudrate=int(options.get("baudrate", 115200)))
    return _device(driver, spec)
