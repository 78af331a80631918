"""The ``labctl`` command: run plans, browse and export stored runs, check profiles, serve simulators.

Every error a user can cause (a bad profile, a bad plan parameter, an instrument refusing) ends in one
line on stderr and a non-zero exit code, never a traceback: 2 for bad input, 1 for a failed run. Each
command group has its module here; importing this package registers them all on ``app``.
"""

from labctl.app.cli import campaign, lab, resume, run, runs, serve
from labctl.app.cli.common import app

__all__ = ["app", "campaign", "lab", "resume", "run", "runs", "serve"]
