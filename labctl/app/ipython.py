"""Interactive use: an IPython shell whose namespace is the running lab.

``RE``, ``session`` (also ``lab``), every device by its profile name, every plan by name, ``bps``/``bp``/``bpp``
and the unit helpers are there, so ``RE(galvanostatic_cycles(vmp3_1, ...))`` works straight away, with a
progress bar, a live table and live plots; ``catalog`` (``db``) holds the runs, and bluesky's magics
(``%mov``, ``%wa``, ``%ct``) work on the instruments (:mod:`labctl.app.prompt`). Experiments run in the
background with ``lab.start(plan, ...)``; ``experiments()`` shows them as a table, ``watch(name)`` follows one,
and the prompt stays free for reads and moves of instruments no experiment holds.

From any IPython (a beamline-style profile, a notebook): ``%load_ext labctl.app.ipython`` brings up the lab of
``$LABCTL_PROFILE`` (the simulated lab by default) and loads the same names.
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
        """Follow one experiment (or its name) until it ends, with its progress bar, live table and live plots
        (figures of its own, titled with its name); Ctrl-C stops the watching only."""
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
        f"labctl: {session!r}\nRE, devices, plans, catalog, bps/bp/bpp, Q_ and %mov/%wa/%ct are loaded; "
        "experiments() lists the background ones.\n")
    config.InteractiveShellApp.extensions = [__name__]
    start_ipython(argv=[], user_ns=namespace(session), config=config)


def load_ipython_extension(shell) -> None:
    """``%load_ext labctl.app.ipython``: the lab in this shell (the one already in it, or a new one from
    ``$LABCTL_PROFILE``, closed when the shell exits)."""
    import atexit
    import os

    from labctl.app.prompt import dress
    from labctl.session import Session

    session = shell.user_ns.get("session")
    if not isinstance(session, Session):
        session = Session.from_profile(os.environ.get("LABCTL_PROFILE") or None, quiet=True)
        atexit.register(session.close)
        shell.push(namespace(session))
    shell.push(dress(session, shell))
