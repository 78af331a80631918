"""Startup module for bluesky-queueserver: the lab of ``$LABCTL_PROFILE`` as module globals.

Point the queue server's ``--startup-module`` here (``labctl queue manager`` does). Importing builds the
:class:`~labctl.session.Session` (default profile when the variable is unset; data directory from
``$LABCTL_DATA`` or the profile) and exposes ``RE``, every device and every plan by name, which is what the
queue server looks for. The session is closed, and the instruments left safe, when the worker exits.
"""

from __future__ import annotations

import atexit
import multiprocessing.util
import os

from labctl.app.ipython import namespace
from labctl.app.plan_registry import discover_plans
from labctl.app.services.queue_plans import for_queue_server
from labctl.session import Session

session = Session.from_profile(os.environ.get("LABCTL_PROFILE") or None)
atexit.register(session.close)
# The worker is a multiprocessing child, which leaves through os._exit: atexit never runs there, this does.
multiprocessing.util.Finalize(None, session.close, exitpriority=100)
globals().update(for_queue_server(namespace(session), discover_plans()))
