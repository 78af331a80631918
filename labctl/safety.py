"""Instruments put in their safe state after a fault, with bounded retries, and what could not be made safe
reported by name and last known state.

A fault that ends a run (no reply, a garbled reply, a dropped line, the instrument's own error) is often
transient: a loose connector, a burst of noise, an instrument rebooting. So each instrument's ``safe()`` is
tried again (tenacity, a few attempts a little apart in wall time: these are waits for a line, not lab time)
and every retry is logged. An instrument whose line stays dead is left to its own interlock (the NE-1000's
safe-mode watchdog stops the pump when labctl goes silent) and reported as ``"pump: line lost (...), last
known running True"``, so the person who comes to the lab knows what to check first.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_fixed

from labctl.devices.errors import InstrumentError

log = logging.getLogger(__name__)

#: how often ``safe()`` is tried, and how long apart (wall seconds), before an instrument is reported unsafe
ATTEMPTS = 5
WAIT_S = 0.2

#: the signals that say whether an instrument is in its safe state, in the order they are reported
STATE_SIGNALS = ("position_name", "running", "rate", "setpoint", "filament", "state")


class UnsafeInstruments(RuntimeError):
    """Instruments that could not be put in their safe state; ``reports`` says which and in what state."""

    def __init__(self, reports: list[str]):
        self.reports = reports
        super().__init__("not safe: " + "; ".join(reports))


def make_safe(devices: Mapping[str, Any], names: Iterable[str] | None = None, *, attempts: int = ATTEMPTS,
              wait_s: float = WAIT_S) -> list[str]:
    """Put each of *names* (default: every device) in its safe state, retrying what fails; returns one report
    per instrument that could not be made safe (empty when all are safe)."""
    reports = []
    for name in list(devices) if names is None else names:
        device = devices.get(name)
        safe = getattr(device, "safe", None)
        if not callable(safe):
            continue
        try:
            for attempt in Retrying(stop=stop_after_attempt(attempts), wait=wait_fixed(wait_s), reraise=True,
                                    retry=retry_if_exception_type((InstrumentError, OSError, TimeoutError)),
                                    before_sleep=functools.partial(_retrying, name)):
                with attempt:
                    if attempt.retry_state.attempt_number > 1:
                        _reconnect(name, device)
                    safe()
        except Exception as exc:
            report = f"{name}: {_lost(exc)}, last known {last_known(device)}"
            log.error("not safe after %d attempts: %s", attempts, report)
            reports.append(report)
    return reports


def _retrying(name: str, state) -> None:
    log.warning("%s: not safe yet (attempt %d: %s); trying again", name, state.attempt_number,
                state.outcome.exception())


def _reconnect(name: str, device: Any) -> None:
    """Open the instrument's connection again where its device can (a power cycle drops SDK connections)."""
    reconnect = getattr(device, "reconnect", None)
    if callable(reconnect):
        try:
            reconnect()
            log.warning("%s: connected again", name)
        except Exception as exc:
            log.warning("%s: cannot connect again yet: %s", name, exc)


def _lost(exc: Exception) -> str:
    text = str(exc)
    name = getattr(exc, "instrument", None)
    if name and text.startswith(f"{name}: "):
        text = text[len(name) + 2:]
    return f"line lost ({text})"


def last_known(device: Any) -> str:
    """What labctl last heard of the instrument's state, without asking it (its line may be dead)."""
    parts = []
    for attr in STATE_SIGNALS:
        signal = getattr(device, attr, None)
        value = getattr(signal, "_readback", None)
        if signal is not None and value is not None and not callable(value):
            label = "position" if attr == "position_name" else attr
            units = getattr(signal, "units", None) or ""
            parts.append(f"{label} {value}{' ' + units if units and not isinstance(value, str) else ''}")
    return ", ".join(parts) or "state unknown"
