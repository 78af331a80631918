"""The Gamry Reference 600 as a :class:`~labctl.devices.potentiostat.backend.PotentiostatBackend`.

GamryCOM is event driven: a Dtaq (or ``GamryReadZ``) raises ``OnDataAvailable``/``OnDataDone`` on a sink
connected with ``GetEvents``, but only while somebody runs ``PumpEvents``. ``poll`` therefore pumps events,
then cooks the Dtaq until ``Cook`` returns no points, so rows recorded up to a stop are never lost. Lab-time
waits (settling after a stop) go through the injected clock.

A cell that stops responding (a lead comes off) is no COM error: the acquisition ends on a point flagged in
its ``Overload`` column. ``poll`` turns that into an :class:`InstrumentError` once, keeping the rows recorded
up to then for the next ``poll``, so a plan can still store them while it switches the cell off.

An impedance sweep is a chain of ``GamryReadZ.Measure`` calls, each started when the previous one reports
``OnDataDone``. The instrument idles (with the cell biased) until somebody pumps that event, so ``poll`` keeps
pumping, waiting ``readz_wait_s`` of lab time between pumps, until the sweep ends; each row is timed when its
own result arrived. ``interrupt`` lets another thread cut that wait short so a stop is never held up.

Every path that stops a run switches the cell off even when the stop itself fails, and a run whose end
event never arrives is given up (cell off, clear error) once it is well past its expected length.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any

from labctl.devices.clock import Clock
from labctl.devices.errors import ConnectionLost, InstrumentError
from labctl.devices.potentiostat.gamry.columns import RowDecoder
from labctl.devices.potentiostat.gamry.com import translate
from labctl.devices.potentiostat.gamry.program import (
    MAX_DURATION_S,
    Program,
    end_deadline,
    program_for,
    readz_time_limit,
)

COOK_CHUNK = 1024

_HINTS = {
    "enumerate": "is Gamry Framework installed and the instrument listed in its Device Manager?",
    "open": "close Gamry Framework or any other program using this potentiostat, then connect again",
    "configure": "check the technique's parameters against the Reference 600's ranges",
    "run": "check that the requested current fits the Reference 600 (600 mA) and its selected range",
    "read": "reconnect the instrument; if it persists, power-cycle it",
    "stop": "switch the cell off from Gamry Framework if it is still on",
}


class _DtaqSink:
    """Receives the Dtaq events (comtypes looks methods up by these exact names)."""

    def __init__(self, backend: GamryBackend):
        self._backend = backend

    def _IGamryDtaqEvents_OnDataAvailable(self, this):
        self._backend._cook()

    def _IGamryDtaqEvents_OnDataDone(self, this):
        self._backend._cook()
        self._backend._dtaq_done()


class _ReadZSink:
    def __init__(self, backend: GamryBackend):
        self._backend = backend

    def _IGamryReadZEvents_OnDataAvailable(self, this):
        self._backend._cook_readz()

    def _IGamryReadZEvents_OnDataDone(self, this, status):
        self._backend._cook_readz()
        self._backend._readz_status = status


class GamryBackend:
    """One Reference 600 (GamryCOM ``GamryPC5Pstat``) driven through an injected GamryCOM namespace.

    ``com`` is what :func:`labctl.devices.potentiostat.gamry.load_gamrycom` returns on Windows, or the
    simulated lab's fake; ``section`` is the instrument's name in the Gamry device list (``"REF600-12345"``).
    """

    def __init__(self, com: Any, section: str, clock: Clock, *, name: str = "ref600", pump_s: float = 0.0,
                 readz_retries: int = 5, max_duration: float = MAX_DURATION_S, settle_s: float = 0.05,
                 readz_wait_s: float = 0.05):
        self.com = com
        self.section = section
        self.clock = clock
        self.name = name
        self.pump_s = float(pump_s)
        self.readz_retries = int(readz_retries)
        self.max_duration = float(max_duration)
        self.settle_s = float(settle_s)
        self.readz_wait_s = float(readz_wait_s)
        self._interrupt = threading.Event()
        self._deadline: float | None = None    # lab time by which the running technique must have ended
        self._pstat = None
        self._program: Program | None = None
        self._technique = None
        self._dtaq = None
        self._connection = None
        self._decoder: RowDecoder | None = None
        self._rows: list[dict] = []
        self._running = False
        self._stopping = False
        self._ended_by: str | None = None
        self._fault: InstrumentError | None = None   # raised by the next poll
        # impedance state
        self._freq_index = 0
        self._retries_left = 0
        self._measure_deadline = 0.0
        self._readz_status = None
        self._t0 = 0.0
        self._ocv = 0.0

    # -- errors ---------------------------------------------------------------------------------------
    @contextmanager
    def _com_call(self, doing: str, hint: str):
        try:
            yield
        except self.com.COMError as exc:
            error = translate(exc, self.name, doing, _HINTS[hint])
            if isinstance(error, ConnectionLost) and self._running:
                self._running, self._ended_by = False, "stopped"   # the run died with the connection
            raise error from exc

    # -- the backend protocol -------------------------------------------------------------------------
    @property
    def ended_by(self):
        return self._ended_by

    def connect(self) -> dict:
        with self._com_call("listing Gamry instruments", "enumerate"):
            sections = tuple(self.com.GamryDeviceList().EnumSections())
        if self.section not in sections:
            found = ", ".join(sections) if sections else "none"
            raise InstrumentError(
                self.name, f"{self.section} is not in the Gamry device list (found: {found}); check that it is "
                           "powered and its USB cable is plugged in, and that the section name matches Gamry "
                           "Framework's Device Manager")
        pstat = self.com.GamryPC5Pstat()
        with self._com_call(f"initialising {self.section}", "enumerate"):
            pstat.Init(self.section)
        with self._com_call(f"opening {self.section}", "open"):
            pstat.Open()
        self._pstat = pstat
        with self._com_call("switching the cell off", "configure"):
            pstat.SetCell(self.com.CellOff)
            return {"model": str(pstat.ModelNo()), "serial": str(pstat.SerialNo()),
                    "firmware": str(pstat.FirmwareVersion()), "channel": 1}

    def reconnect(self) -> None:
        """After a fault (a power cycle, the USB cable reseated): open the instrument again, cell off."""
        self._pstat = None
        self.connect()

    def disconnect(self) -> None:
        if self._pstat is None:
            return
        try:
            try:
                if self._running:
                    self.stop()
            finally:
                try:
                    self._switch_off()
                except ConnectionLost:
                    pass  # the instrument is already gone: nothing left to switch off
        except ConnectionLost:
            pass
        finally:
            pstat, self._pstat = self._pstat, None
            self._connection = None
            self._dtaq = None
            self._running = False
            with self._com_call(f"closing {self.section}", "read"):
                pstat.Close()

    def load(self, technique) -> None:
        pstat = self._need_pstat()
        if self._running:
            raise InstrumentError(self.name, "a technique is still running; stop it before loading another")
        program = program_for(technique, self.max_duration)
        com = self.com
        with self._com_call(f"configuring {technique.name}", "configure"):
            pstat.SetCell(com.CellOff)
            pstat.SetCtrlMode(getattr(com, program.mode))
            if program.ie_range_for is None:
                pstat.SetIERangeMode(True)
            else:
                pstat.SetIERangeMode(False)
                pstat.SetIERange(pstat.TestIERange(program.ie_range_for))
            dtaq = getattr(com, program.dtaq)()
            if program.chrono_type is not None:
                dtaq.Init(pstat, getattr(com, program.chrono_type))
            else:
                dtaq.Init(pstat)
            for setter, value in program.stops:
                getattr(dtaq, setter)(True, value)
        self._program, self._technique, self._dtaq = program, technique, dtaq
        self._ended_by, self._fault = None, None
        self._rows = []

    def start(self) -> None:
        pstat = self._need_pstat()
        program = self._program
        if program is None:
            raise InstrumentError(self.name, "no technique loaded; call load() first")
        self._rows, self._ended_by, self._stopping, self._fault = [], None, False, None
        self._interrupt.clear()
        try:
            with self._com_call(f"starting {self._technique.name}", "run"):
                if program.relative_to_ocv:
                    self._ocv = float(pstat.MeasureV())  # cell still off: this is the open-circuit potential
                if program.dtaq == "GamryReadZ":
                    self._start_impedance(pstat, program)
                else:
                    self._start_dtaq(pstat, program)
        except Exception:
            self._off_after_failure()   # the cell may already be on when a later call is refused
            raise
        limit = end_deadline(program.duration) if program.dtaq != "GamryReadZ" else None
        self._deadline = None if limit is None else self.clock.now() + limit
        self._running = True

    def poll(self) -> tuple[list[dict], bool]:
        if self._running:
            if self._program is not None and self._program.dtaq == "GamryReadZ":
                self._pump_impedance()
            else:
                with self._com_call("reading data", "read"):
                    self.com.PumpEvents(self.pump_s)
        if self._decoder is not None:
            self._cook()
        if self._running and self._deadline is not None and self.clock.now() > self._deadline:
            self._give_up()
        if self._fault is not None:
            fault, self._fault = self._fault, None
            raise fault
        rows, self._rows = self._rows, []
        return rows, self._running

    def stop(self) -> None:
        if self._pstat is None or not self._running:
            return
        self._stopping = True
        try:
            with self._com_call("stopping the technique", "stop"):
                if self._program.dtaq == "GamryReadZ":
                    self._dtaq.Stop()
                else:
                    self._dtaq.Run(False)
        finally:
            self._switch_off()   # even when the Dtaq refused to stop: no current may keep flowing
        with self._com_call("stopping the technique", "stop"):
            self.clock.sleep(self.settle_s)
            self.com.PumpEvents(self.pump_s)
        if self._decoder is not None:
            self._cook()
        self._running = False
        self._ended_by = "stopped"
        self._interrupt.clear()

    def interrupt(self) -> None:
        """Make a ``poll`` waiting on impedance results return at once (safe from any thread)."""
        self._interrupt.set()

    def cell_off(self) -> None:
        if self._pstat is not None:
            self._switch_off()

    def read_instant(self) -> dict:
        pstat = self._need_pstat()
        with self._com_call("reading the potential and current", "read"):
            ewe, current = float(pstat.MeasureV()), float(pstat.MeasureI())
        return {"Ewe": ewe, "I": current, "state": "run" if self._running else "stop"}

    # -- time-domain techniques -----------------------------------------------------------------------
    def _start_dtaq(self, pstat, program: Program) -> None:
        com = self.com
        args = list(program.signal_args)
        if program.relative_to_ocv:
            args[0] += self._ocv
        signal = getattr(com, program.signal)()
        signal.Init(pstat, *args, getattr(com, program.mode))
        pstat.SetSignal(signal)
        self._decoder = RowDecoder(program.dtaq)
        self._connection = com.GetEvents(self._dtaq, _DtaqSink(self))
        if program.cell_on:
            pstat.SetCell(com.CellOn)
        self._dtaq.Run(True)

    def _cook(self) -> None:
        """Cook until the Dtaq has no more points (the only way to be sure the buffer is empty)."""
        if self._dtaq is None or self._decoder is None:
            return
        with self._com_call("reading data", "read"):
            while True:
                count, cols = self._dtaq.Cook(COOK_CHUNK)
                if not count:
                    break
                self._rows.extend(self._decoder.rows(count, cols))

    def _dtaq_done(self) -> None:
        if not self._running:
            return
        self._running = False
        decoder = self._decoder
        if self._stopping:
            self._ended_by = "stopped"
        elif decoder is not None and decoder.last_overload:
            self._ended_by = "stopped"
            self._fault = InstrumentError(
                self.name, f"{self._technique.name} ended at t = {decoder.last_time:g} s: the cell stopped responding "
                           "and the potentiostat went into overload, as when a lead comes off; check that the "
                           "working, reference and counter leads are on the cell, then start again",
                reply=f"Overload 0x{decoder.last_overload:X}")
        elif decoder is not None and decoder.stop_test:
            self._ended_by = "limit"
        else:
            self._ended_by = "done"
        self._switch_off()

    def _give_up(self) -> None:
        """The run is well past its expected end and the instrument never said so: stop it, cell off."""
        name, expected = self._technique.name, self._program.duration
        self._stopping = True
        try:
            with self._com_call("stopping the technique", "stop"):
                self._dtaq.Run(False)
        except InstrumentError:
            pass  # the error below says what matters; the cell is switched off either way
        finally:
            self._running, self._ended_by = False, "stopped"
            self._switch_off()
        self._cook()
        self._fault = InstrumentError(
            self.name, f"{name} should have ended after {expected:g} s but the instrument never reported its end "
                       f"(waited {end_deadline(expected):g} s); the cell was switched off. Check the instrument "
                       "in Gamry Framework, then reconnect")

    # -- impedance ------------------------------------------------------------------------------------
    def _start_impedance(self, pstat, program: Program) -> None:
        com = self.com
        self._decoder = None
        readz = self._dtaq
        readz.SetSpeed(com.ReadZSpeedNorm)
        if program.mode == "GstatMode":
            rng = pstat.IERange()
            pstat.SetVoltage(program.dc * pstat.IEResistor(rng))
            readz.SetIdc(program.dc)
        else:
            pstat.SetVoltage(program.dc + (self._ocv if program.relative_to_ocv else 0.0))
        self._connection = com.GetEvents(readz, _ReadZSink(self))
        pstat.SetCell(com.CellOn)
        self._t0 = self.clock.now()
        self._freq_index = 0
        self._retries_left = self.readz_retries
        self._readz_status = None
        self._measure(program.frequencies[0])

    def _measure(self, freq: float) -> None:
        self._measure_deadline = self.clock.now() + readz_time_limit(freq)
        self._dtaq.Measure(freq, self._program.ac)

    def _pump_impedance(self) -> None:
        """Pump and chain measurements until the sweep ends (or a stop interrupts the wait)."""
        while self._running and not self._interrupt.is_set():
            with self._com_call("reading data", "read"):
                self.com.PumpEvents(self.pump_s)
            if self._readz_status is not None:
                self._advance_impedance()
                continue
            if self.clock.now() > self._measure_deadline:
                freq = self._program.frequencies[self._freq_index]
                self._finish_impedance("stopped")
                raise InstrumentError(
                    self.name, f"no impedance result at {freq:g} Hz after {readz_time_limit(freq):g} s; the cell "
                               "was switched off. Check the instrument in Gamry Framework, then reconnect")
            self.clock.sleep(self.readz_wait_s)

    def _cook_readz(self) -> None:
        # The raw I/V waveform of the current frequency; only the reduced impedance is reported.
        with self._com_call("reading impedance data", "read"):
            while self._dtaq.Cook(COOK_CHUNK)[0]:
                pass

    def _advance_impedance(self) -> None:
        status, self._readz_status = self._readz_status, None
        if status is None:
            return
        try:
            self._next_impedance(status)
        except Exception:
            if self._running:
                self._off_after_failure()
            raise

    def _next_impedance(self, status) -> None:
        com, readz, program = self.com, self._dtaq, self._program
        freq = program.frequencies[self._freq_index]
        with self._com_call(f"measuring impedance at {freq:g} Hz", "read"):
            if status == com.ReadZStatusRetry:
                if self._retries_left <= 0:
                    self._finish_impedance("stopped")
                    raise InstrumentError(self.name, f"impedance at {freq:g} Hz still unsettled after "
                                                     f"{self.readz_retries} retries; check the cell connections "
                                                     "or raise the amplitude", reply=str(readz.StatusMessage()))
                self._retries_left -= 1
                self._measure(freq)
                return
            if status != com.ReadZStatusOk:
                message = str(readz.StatusMessage())
                self._finish_impedance("stopped")
                if self._stopping:
                    return
                raise InstrumentError(self.name, f"impedance measurement failed at {freq:g} Hz; check the cell "
                                                 "leads and connections", reply=message)
            zre, zim = float(readz.Zreal()), float(readz.Zimag())
            self._rows.append({
                "time": self.clock.now() - self._t0, "freq": float(readz.Zfreq()), "Zre": zre, "Zim": zim,
                "Zmod": float(readz.Zmod()), "Zphase": float(readz.Zphz()),
                "Ewe": float(readz.Vdc()), "I": float(readz.Idc()),
            })
            self._freq_index += 1
            self._retries_left = self.readz_retries
            if self._freq_index < len(program.frequencies):
                self._measure(program.frequencies[self._freq_index])
            else:
                self._finish_impedance("done")

    def _finish_impedance(self, why: str) -> None:
        self._running = False
        self._ended_by = why
        self._switch_off()

    # -- cell switch ----------------------------------------------------------------------------------
    def _switch_off(self) -> None:
        with self._com_call("switching the cell off", "stop"):
            self._pstat.SetCell(self.com.CellOff)

    def _off_after_failure(self) -> None:
        """Cell off after a failed call; if that fails too, its error (which says so) carries the first."""
        self._running, self._ended_by = False, "stopped"
        self._switch_off()

    # -- helpers --------------------------------------------------------------------------------------
    def _need_pstat(self):
        if self._pstat is None:
            raise InstrumentError(self.name, "not connected; call connect() first")
        return self._pstat
