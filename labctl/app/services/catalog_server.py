"""``labctl catalog serve``: the run catalog as a Tiled server, for people and programs off the instrument PC.

Always behind an API key (:mod:`labctl.app.services.keys`): Tiled answers 401 to any request without it. It
binds the loopback interface unless told otherwise. The server reads the catalog the sessions write (the
data directory's SQLite catalog, or the lab's shared PostgreSQL one), so a run appears as soon as its
start document is indexed and its streams fill in as the session writes them. The server itself writes
nothing: runs enter the catalog only through the sessions, which keep the JSON-lines record of truth.
"""

from __future__ import annotations

import ipaddress
import logging

from labctl.app.services.keys import ApiKey
from labctl.storage.location import CatalogLocation

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def build_app(location: CatalogLocation, key: ApiKey):
    """The ASGI app serving *location*, read-only, to holders of *key* only."""
    from tiled.config import Authentication
    from tiled.server.app import build_app as tiled_app

    location.ensure_initialized()
    return tiled_app(location.adapter(writable=False),
                     Authentication(single_user_api_key=key.value, allow_anonymous_access=False))


def is_loopback(host: str) -> bool:
    """Whether *host* is this machine only (then nobody else can reach the server, key or not)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(location: CatalogLocation, key: ApiKey, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          announce=print) -> None:
    """Serve until interrupted. *announce* gets the lines to show the operator (address, key)."""
    import uvicorn

    app = build_app(location, key)
    logging.getLogger("tiled.server.app").addFilter(lambda record: record.levelno >= logging.WARNING)
    shown = f"[{host}]" if ":" in host else host
    announce(f"serving the catalog {location} at http://{shown}:{port}/api ({key.announce()})")
    if not is_loopback(host):
        announce(f"listening on {host}: reachable from other machines by whoever has the key")
    uvicorn.run(app, host=host, port=port, log_level="warning")
