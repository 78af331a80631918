"""Interactive use: an IPython shell whose namespace is the running lab.

``RE``, ``session`` (also ``lab``), every device by its profile name, every plan by name, ``bps``/``bp``/``bpp``
and the unit helpers are there, so ``RE(galvanostatic_cycles(vmp3_1, ...))`` works straight away. Experiments
run in the background with ``lab.start(plan, ...)``; ``experiments()`` shows them as a table, ``watch(name)``
follows one, and the prompt stays free for reads and moves of instruments no experiment holds.
"""

from __future__ import annotations

import bluesky.plan_stubs as bps
import bluesky.plans as bp
import bluesky.preprocessors as bpp

from labctl.app.experiments_view import ExperimentList
from labctl.app.experiments_view import watch as follow
from labctl.app.plan_registry import discover_plans
from labctl.devices.units import Q_, quantity, ureg


def namespace(session) -> dict:
    """What the shell starts with (also what the queue server exposes)."""
    clock = session.clock.clock

    def experiments() -> ExperimentList:
        """The session's experiments as a table: state, plan, instruments, lab time taken, events."""
        return ExperimentList(session.experiments, clock)

    def watch(experiment) -> None:
        """Follow one experiment (or its name) until it ends; Ctrl-C stops the watching only."""
        follow(session.experiment(experiment) if isinstance(experiment, str) else experiment, clock=clock)

    ns = {"session": session, "lab": session, "RE": session.RE, "devices": session.devices,
          "storage": session.storage, "simlab": session.simlab, "bps": bps, "bp": bp, "bpp": bpp, "Q_": Q_,
          "ureg": ureg, "quantity": quantity, "experiments": experiments, "watch": watch}
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
