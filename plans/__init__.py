"""Bluesky plans: hardware-agnostic generators that see devices only through their ophyd interface."""
