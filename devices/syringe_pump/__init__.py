"""Syringe pumps: New Era NE-1000 family and Harvard Ultra command set, and the ophyd ``SyringePump``."""
