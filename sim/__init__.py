"""The simulated lab: a physical world and instrument simulators behind the real wire protocols and SDKs."""

if __name__ != "labctl.sim":  # imported as a top-level package from a checkout: a second copy of every class
    raise ImportError(f"{__name__!r} is labctl.sim: import labctl.sim (pip install -e . in the checkout), "
                      f"not {__name__}")
