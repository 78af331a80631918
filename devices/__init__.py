"""Instrument drivers and the ophyd devices over them. Never imports plans, sim or labctl orchestration."""

if __name__ != "labctl.devices":  # imported as a top-level package from a checkout: a second copy of every class
    raise ImportError(f"{__name__!r} is labctl.devices: import labctl.devices (pip install -e . in the checkout), "
                      f"not {__name__}")
