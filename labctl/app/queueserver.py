"""Startup module for bluesky-queueserver: the lab of ``$LABCTL_PROFILE`` as module globals.

Point the queue server's ``--startup-module`` here. Importing builds the :class:`~labctl.session.Session`
(default profile when the variable is unset; data directory from ``$LABCTL_DATA`` or the profile) and
exposes ``RE``, every device and every plan by name, which is what the queue server looks for. The session
is closed, and the instruments left safe, when the worker exits.
"""

from __future__ import annotations

import atexit
import os

from labctl.app.ipython import namespace
from labctl.session import Session

session = Session.from_profile(os.environ.get("LABCTL_PROFILE") or None)
atexit.register(session.close)
globals().update(namespace(session))
