"""``python -m labctl.app.cli``."""

from labctl.app.cli import app

app()
