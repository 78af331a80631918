"""What the potentiostat device needs from a vendor backend (BioLogic EClib, Gamry GamryCOM, ...).

A backend drives one channel. It loads a :mod:`~labctl.devices.potentiostat.techniques` value, starts it, and
hands back decoded rows as dicts of SI floats each time it is polled, so the ophyd device and the plans never
see a vendor structure. Rows carry the instrument's own time since the technique started.

Time-domain rows (OCV, CP, CA, CV)::

    {"time": s, "Ewe": V, "I": A, "Q": C, "cycle": int, "step": int}

Impedance rows (PEIS, GEIS)::

    {"time": s, "freq": Hz, "Zre": ohm, "Zim": ohm, "Zmod": ohm, "Zphase": deg, "Ewe": V, "I": A}

``Q`` is the charge passed since the technique started (the backend integrates if the instrument does not
report it). After ``poll`` says the channel is no longer running, ``ended_by`` tells why: ``"done"`` (the
technique ran to its end: duration, charge or last frequency), ``"limit"`` (a potential/current limit ended
it), ``"stopped"`` (``stop()`` or the instrument stopped it).

A backend whose ``poll`` may wait on the instrument (Gamry impedance) also offers ``interrupt()``, callable
from any thread, so a stop from another thread is not held up by that wait. A backend whose ``poll`` never
waits says so with ``poll_never_waits = True``: its channels are then polled from one shared thread.
"""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

from labctl.devices.potentiostat.techniques import Technique

EndedBy = Literal["done", "limit", "stopped"] | None

#: Units of every row column, for data keys.
ROW_UNITS: dict[str, str] = {
    "time": "s", "Ewe": "V", "I": "A", "Q": "C", "cycle": "", "step": "",
    "freq": "Hz", "Zre": "ohm", "Zim": "ohm", "Zmod": "ohm", "Zphase": "deg",
}
TIME_COLUMNS: tuple[str, ...] = ("time", "Ewe", "I", "Q", "cycle", "step")
IMPEDANCE_COLUMNS: tuple[str, ...] = ("time", "freq", "Zre", "Zim", "Zmod", "Zphase", "Ewe", "I")
INTEGER_COLUMNS: frozenset[str] = frozenset({"cycle", "step"})


def columns_for(technique: Technique) -> tuple[str, ...]:
    """The row columns a technique produces."""
    return IMPEDANCE_COLUMNS if getattr(technique, "impedance", False) else TIME_COLUMNS


@runtime_checkable
class PotentiostatBackend(Protocol):
    """One potentiostat channel behind a vendor SDK."""

    @property
    def ended_by(self) -> EndedBy:
        """Why the last technique ended; None while it runs or before one ran."""

    def connect(self) -> dict:
        """Open the instrument; returns ``{"model", "serial", "firmware", "channel"}``."""

    def disconnect(self) -> None:
        """Release the instrument (the cell is left off)."""

    def load(self, technique: Technique) -> None:
        """Send a technique and its parameters; nothing runs yet."""

    def start(self) -> None:
        """Switch the cell on and start the loaded technique."""

    def poll(self) -> tuple[list[dict], bool]:
        """Rows decoded since the last poll and whether the technique is still running.

        Once the channel has stopped, the rows still buffered in the instrument are drained before
        ``running`` is reported False, so no row is lost.
        """

    def stop(self) -> None:
        """Stop the running technique (rows recorded so far stay readable with ``poll``)."""

    def cell_off(self) -> None:
        """Leave the cell at open circuit."""

    def read_instant(self) -> dict:
        """What the front end reads now: ``{"Ewe": V, "I": A, "state": "run"|"stop"}``."""
