"""API keys for labctl's servers: the operator's own from ``$LABCTL_API_KEY``, else a fresh one.

Tiled and bluesky-httpserver both accept only letters and digits (a key travels in URLs as
``?api_key=...``), so a key is checked here and refused in one line rather than by the server mid-start.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass

ENV_VAR = "LABCTL_API_KEY"


class ApiKeyError(ValueError):
    """A key that the servers would refuse; the message is one line."""


@dataclass(frozen=True)
class ApiKey:
    """A key the servers are started with, and whether it was generated (then it must be shown)."""

    value: str
    generated: bool

    def announce(self) -> str:
        """What to print: a generated key itself (nobody else knows it), else only where it came from."""
        return f"API key: {self.value}" if self.generated else f"API key from ${ENV_VAR}"


def api_key() -> ApiKey:
    """``$LABCTL_API_KEY`` when set, else a random 64-hex-digit key."""
    given = os.environ.get(ENV_VAR)
    if given is None or not given.strip():
        return ApiKey(secrets.token_hex(32), generated=True)
    given = given.strip()
    if not given.isalnum() or not given.isascii():
        raise ApiKeyError(f"${ENV_VAR} must be letters and digits only (e.g. from `openssl rand -hex 32`)")
    if len(given) < 16:
        raise ApiKeyError(f"${ENV_VAR} is {len(given)} characters long; use at least 16")
    return ApiKey(given, generated=False)
