"""Factories: ``labctl.factories.<vendor>:build(spec, ctx)`` turns a profile entry into a connected device.

The vendor is the part of the driver's name before the dot (``newera.ne1000`` is built by
``labctl.factories.newera``). With a ``sim://`` transport a factory asks the running simulated lab
(``ctx.simlab``) for the simulator; otherwise it opens the real port or loads the vendor library.
"""
