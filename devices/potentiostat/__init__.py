"""Potentiostats: vendor-neutral techniques, the backend contract, and the ophyd flyer device."""
