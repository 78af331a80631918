"""Instrument drivers and the ophyd devices over them. Never imports plans, sim or labctl orchestration."""
