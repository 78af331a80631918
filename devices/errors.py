"""Exceptions raised by drivers: each carries the instrument's own words where there are any."""

from __future__ import annotations


class InstrumentError(RuntimeError):
    """The instrument refused or reported an error; ``reply`` holds its words."""

    def __init__(self, instrument: str, message: str, reply: str | bytes | None = None):
        self.instrument = instrument
        self.reply = reply
        text = f"{instrument}: {message}"
        if reply not in (None, "", b""):
            text += f" (instrument said {reply!r})"
        super().__init__(text)


class InstrumentTimeout(InstrumentError, TimeoutError):
    """No complete reply within the read timeout: the instrument is off, unplugged or on another port."""


class ProtocolError(InstrumentError):
    """A reply that does not parse: wrong baud rate, wrong instrument, or line noise."""


class ConnectionLost(InstrumentError, ConnectionError):
    """The port or socket went away."""


class LimitError(ValueError):
    """A request outside what the instrument or the lab profile allows; raised before anything moves."""
