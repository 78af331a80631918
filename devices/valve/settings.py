"""What every two-position valve shares: its ports and the profile's safe state."""

from __future__ import annotations

from labctl.devices.options import Settings

#: the actuator's two positions, as the valve body is marked
POSITIONS = ("A", "B")


class ValveSafeState(Settings):
    """The position the valve is left in."""

    position: str | None = None
