"""Interactive use: an IPython shell whose namespace is the running lab.

``RE``, ``session``, every device by its profile name, every plan by name, ``bps``/``bp``/``bpp`` and the
unit helpers are there, so ``RE(galvanostatic_cycles(vmp3_1, ...))`` works straight away.
"""

from __future__ import annotations

import bluesky.plan_stubs as bps
import bluesky.plans as bp
import bluesky.preprocessors as bpp

from labctl.app.plan_registry import discover_plans
from labctl.devices.units import Q_, quantity, ureg


def namespace(session) -> dict:
    """What the shell starts with (also what the queue server exposes)."""
    ns = {"session": session, "RE": session.RE, "devices": session.devices, "storage": session.storage,
          "simlab": session.simlab, "bps": bps, "bp": bp, "bpp": bpp, "Q_": Q_, "ureg": ureg,
          "quantity": quantity}
    ns.update(discover_plans())
    ns.update(session.devices)  # device names win over plan names: the profile is the user's own
    return ns


def start(session) -> None:
    """Run IPython on *session* until the user leaves it."""
    try:
        from IPython import start_ipython
        from traitlets.config import Config
    except ImportError as exc:
        raise RuntimeError("IPython is not installed: pip install 'labctl[interactive]'") from exc
    config = Config()
    config.TerminalInteractiveShell.banner1 = (
        f"labctl: {session!r}\nRE, devices, plans, bps/bp/bpp and Q_ are loaded; session.close() on exit.\n")
    start_ipython(argv=[], user_ns=namespace(session), config=config)
