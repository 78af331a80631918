"""The lab at an IPython prompt, as Bluesky users know it from a beamline profile.

:func:`dress` subscribes to the session's RunEngine what shows every ``RE(plan)``: the progress bar and live
table (:class:`~labctl.app.live.LiveDisplay`) and live plots (:class:`~labctl.app.plots.LabPlots`); gives
``catalog`` (also ``db``: ``[-1]``, ``[scan_id]``, ``["uid prefix"]``, ``.search``); labels the instruments so
that bluesky's magics find them; and, given the shell, registers the magics (``%mov``, ``%movr``, ``%ct``,
``%wa``), prints a refused command as one line, and routes what background experiments say (their state
changes, their warnings) above the prompt instead of through it.
"""

from __future__ import annotations

import logging
import sys
import threading

from bluesky.magics import BlueskyMagics
from IPython.core.magic import line_magic, magics_class

from labctl.app.live import LiveDisplay
from labctl.app.plots import LabPlots, usable

#: labels bluesky's magics look for: ``%ct`` counts "detectors", ``%wa`` lists every label
KIND_LABELS = {"potentiostat": "potentiostats", "syringe_pump": "pumps", "valve": "valves", "stream_selector": "valves",
               "mass_spectrometer": "mass_spectrometers", "flow_controller": "flow_controllers",
               "clock": "clocks"}
MOVABLE = ("syringe_pump", "valve", "stream_selector", "flow_controller")
STATE_POLL_S = 0.5   # wall time between looks at the background experiments' states


class LazyCatalog:
    """``catalog`` in the namespace: bluesky-tiled-plugins' catalog of runs, opened at first use (the catalog
    opens in the background while the prompt comes up)."""

    def __init__(self, storage):
        self._storage = storage
        self._catalog = None

    def _open(self):
        if self._catalog is None:
            from labctl.storage.browse import browse

            self._catalog = browse(self._storage)
        return self._catalog

    def __getitem__(self, key):
        return self._open()[key]

    def __getattr__(self, name):
        return getattr(self._open(), name)

    def __len__(self) -> int:
        return len(self._open())

    def __iter__(self):
        return iter(self._open())

    def __repr__(self) -> str:
        return repr(self._open())


def label_instruments(session) -> None:
    """Give every instrument the labels bluesky's magics look for: its kind's, "detectors" for all, "motors"
    for those a move sets (pumps, valves, flow controllers)."""
    for spec in session.profile.instruments.values():
        device = session.devices.get(spec.name)
        if device is None:
            continue
        labels = {KIND_LABELS.get(spec.kind, spec.kind), "detectors"}
        if spec.kind in MOVABLE:
            labels.add("motors")
        device._ophyd_labels_ = set(getattr(device, "_ophyd_labels_", set())) | labels


def magics(session):
    """bluesky's magics on a RunEngine of their own, as bluesky has it (``%ct`` is not stored), on the lab
    clock and refusing, like the session's, a move of an instrument an experiment holds; ``%wa`` shows what
    each instrument reads, units included."""
    from labctl.engine import run_engine

    engine = run_engine(clock=getattr(session.clock, "clock", None), name="magics")
    engine.preprocessors.extend(session.RE.preprocessors)

    @magics_class
    class LabMagics(BlueskyMagics):
        RE = engine

        @line_magic
        def wa(self, line):
            """Where all: the instruments by kind (or those of the labels given) and their readings."""
            from bluesky.magics import get_labeled_devices

            found = get_labeled_devices(user_ns=self.shell.user_ns)
            labels = line.split() or sorted(set(found) - {"detectors", "motors"}) or sorted(found)
            for label in labels:
                print(label)
                for name, device in found.get(label, []):
                    print(f"  {name:<14} {_readings(device)}")

    for kind, table in BlueskyMagics.magics.items():   # magics_class collects only the subclass's own
        LabMagics.magics[kind] = {**table, **LabMagics.magics.get(kind, {})}
    return LabMagics


def _readings(device) -> str:
    try:
        reading = device.read()
        described = device.describe()
    except Exception as exc:  # an instrument that does not answer is shown, not fatal
        return f"<{type(exc).__name__}: {exc}>"
    parts = []
    for key, value in reading.items():
        units = described.get(key, {}).get("units") or ""
        v = value["value"]
        text = f"{v:.6g}" if isinstance(v, float) else str(v)
        parts.append(f"{key.removeprefix(device.name + '_')}={text}{' ' + units if units else ''}")
    return "  ".join(parts)


class _AbovePrompt(logging.Handler):
    """Log records (and experiment news) printed above the prompt while it is shown, never through it."""

    def __init__(self, write):
        super().__init__(logging.WARNING)
        self._write = write

    def filter(self, record) -> bool:
        """Not the RunEngine's own report of a failed plan: the exception itself is shown where it ended."""
        return not record.name.startswith("bluesky") and super().filter(record)

    def emit(self, record):
        """Write the record (its message: a traceback would tear through a prompt) above the prompt."""
        try:
            self._write(f"{record.levelname} {record.name}: {record.getMessage()}\n")
        except Exception:
            self.handleError(record)


def _above_prompt_writer():
    """A ``write(text)`` that prints above a prompt_toolkit prompt if one is shown, else plainly."""
    try:
        from prompt_toolkit.patch_stdout import StdoutProxy
    except ImportError:
        return sys.stdout.write
    proxy = StdoutProxy(raw=True, sleep_between_writes=0.05)
    return lambda text: (proxy.write(text), proxy.flush())


class ExperimentNews:
    """Prints, above the prompt, each background experiment's state changes ("vmp3 cycling: running -> done")
    and the warnings logged meanwhile."""

    def __init__(self, session, write, poll: float = STATE_POLL_S):
        self.session, self.write, self.poll = session, write, poll
        self._handler = _AbovePrompt(write)
        logging.getLogger().addHandler(self._handler)
        self._seen: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="experiment news", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.poll):
            self.check()

    def check(self) -> None:
        """Say what changed since the last look."""
        for e in list(self.session.experiments):
            before = self._seen.get(id(e))
            if before != e.state:
                self._seen[id(e)] = e.state
                if before is not None or e.state != "waiting":
                    why = f" ({e.error or e.reason})" if (e.error or e.reason) and e.finished else ""
                    self.write(f"[experiment {e.name}: {before or 'submitted'} -> {e.state}{why}]\n")

    def close(self) -> None:
        """Stop looking and printing."""
        self._stop.set()
        logging.getLogger().removeHandler(self._handler)


def dress(session, shell=None, *, file=None) -> dict:
    """Make *session*'s ``RE`` show every run (bar, table, plots) and return the names the prompt adds
    (``catalog``, ``db``, ``plots``); with *shell* (IPython), also the magics, one-line errors and
    messages from the background above the prompt."""
    display = LiveDisplay(file, clock=getattr(session.clock, "clock", None))
    session.RE.subscribe(display)
    session.display = None   # session.run would show its runs a second time
    names: dict = {"catalog": LazyCatalog(session.storage)}
    names["db"] = names["catalog"]
    ok, why = usable()
    if ok:
        names["plots"] = LabPlots()
        session.RE.subscribe(names["plots"])
    else:
        print(why, file=file or sys.stderr)
    label_instruments(session)
    if shell is not None:
        shell.register_magics(magics(session))
        shell.set_custom_exc(_user_errors(), _one_line)
        names["experiment_news"] = ExperimentNews(session, _above_prompt_writer())
    return names


def _user_errors() -> tuple[type[BaseException], ...]:
    from labctl.devices.errors import LimitError
    from labctl.devices.units import UnitError
    from labctl.metadata import MetadataContradiction
    from labctl.plans import ParameterError
    from labctl.scheduler import InstrumentBusy

    return (InstrumentBusy, MetadataContradiction, ParameterError, UnitError, LimitError)


def _one_line(shell, etype, value, tb, tb_offset=None):
    """A refused command is the user's to fix: one line, no traceback."""
    print(f"{etype.__name__}: {value}", file=sys.stderr)
