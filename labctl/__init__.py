"""labctl: Bluesky plans on ophyd devices for an electrochemistry lab, real or simulated.

Kept light on purpose: importing ``labctl.devices`` must not pull in storage or the catalog.
"""

__version__ = "0.1.0"
