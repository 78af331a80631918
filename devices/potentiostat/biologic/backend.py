"""BioLogic channels through the EC-Lab Development Package (EClib) called with ctypes.

The library object is injected: ``load_eclib()`` on Windows, a faithful fake elsewhere; the calls, the ctypes
structures and the return codes are the same either way. A VMP3 holds up to 16 channels behind one network
connection, so channels on one address share a reference-counted :class:`_Connection` and every call on it
is serialised by its lock (the library is not re-entrant per connection).

A cell whose leads come off is no library error: the channel's safety limit ends the technique early and
``TCurrentValues`` says why (``Saturation``: the control amplifier could not drive the cell; ``Eoverflow``/
``Ioverflow``: a reading over range; ``OptErr``: an option board's error). A technique that ends before its
time, charge or limit with one of those set is raised once by ``poll`` as :class:`ChannelFault`, the rows
recorded up to then kept for the next ``poll``, so a plan still stores them while it switches the cell off.
"""

from __future__ import annotations

import ctypes
import math
import threading
from ctypes import byref, c_bool, c_char_p, c_float, c_int32, c_uint8, c_uint32

from labctl.devices.errors import InstrumentError
from labctl.devices.potentiostat.backend import EndedBy
from labctl.devices.potentiostat.biologic import constants as C
from labctl.devices.potentiostat.biologic.ecc import ecc_file, ecc_parameters
from labctl.devices.potentiostat.biologic.structures import (
    DATA_BUFFER_WORDS,
    ChannelInfo,
    CurrentValues,
    DataBuffer,
    DataInfo,
    DeviceInfo,
    EccParam,
    EccParams,
)
from labctl.devices.potentiostat.techniques import CV, GEIS, OCV, PEIS, Galvanostatic, Potentiostatic


class BioLogicError(InstrumentError):
    """An EClib call returned an error code; ``code`` holds it, the message says what to do."""

    def __init__(self, instrument: str, call: str, code: int, library_message: str | None = None):
        self.code = code
        self.call = call
        meaning, advice = C.ERRORS.get(code, ("unknown error", "see the EC-Lab Development Package manual"))
        super().__init__(instrument, f"{call} returned {code} ({meaning}): {advice}", library_message)


class ChannelFault(InstrumentError):
    """The instrument ended the technique early on a fault it flags (an open cell, an overload)."""


#: TCurrentValues flags that tell why the instrument ended a technique by itself
_FAULT_FLAGS = {"Saturation": "the control amplifier saturated", "Eoverflow": "Ewe went over range",
                "Ioverflow": "the current went over range", "OptErr": "an option board reported an error"}


def _library_message(lib, code: int) -> str | None:
    """The library's own words for an error code, when it offers them."""
    fn = getattr(lib, "BL_GetErrorMsg", None)
    if fn is None:
        return None
    buf = ctypes.create_string_buffer(256)
    size = c_uint32(len(buf))
    try:
        if fn(c_int32(code), buf, byref(size)) != 0:
            return None
    except Exception:
        return None
    return buf.value.decode("latin-1") or None


class _Connection:
    """One BL_Connect per (library, address), shared by every channel on it."""

    def __init__(self, lib, address: str, name: str, timeout: int):
        self.lib, self.address, self.name, self.timeout = lib, address, name, timeout
        self.lock = threading.RLock()
        self.refs = 0
        self.id = c_int32(-1)
        self.info = DeviceInfo()
        self.call("BL_Connect", address.encode(), c_uint8(timeout), byref(self.id), byref(self.info))
        plugged = (c_uint8 * C.MAX_CHANNELS)()
        self.call("BL_GetChannelsPlugged", self.id, plugged, c_uint8(C.MAX_CHANNELS))
        self.plugged = [i + 1 for i, p in enumerate(plugged) if p]

    @property
    def model(self) -> str:
        return C.DEVICE_CODES.get(self.info.DeviceCode, f"device code {self.info.DeviceCode}")

    def call(self, fname: str, *args) -> int:
        with self.lock:
            code = getattr(self.lib, fname)(*args)
        if code != 0:
            raise BioLogicError(self.name, fname, int(code), _library_message(self.lib, int(code)))
        return code

    def renew(self) -> None:
        """Connect again after the instrument dropped the connection (a power cycle, the network gone): every
        channel sharing it uses the new one."""
        with self.lock:
            self.id = c_int32(-1)
            self.call("BL_Connect", self.address.encode(), c_uint8(self.timeout), byref(self.id), byref(self.info))

    def close(self) -> None:
        with self.lock:
            self.lib.BL_Disconnect(self.id)


_connections: dict[tuple[int, str], _Connection] = {}
_connections_lock = threading.Lock()


def _acquire(lib, address: str, name: str, timeout: int) -> _Connection:
    with _connections_lock:
        key = (id(lib), address)
        conn = _connections.get(key)
        if conn is None:
            conn = _connections[key] = _Connection(lib, address, name, timeout)
        conn.refs += 1
        return conn


def _release(conn: _Connection) -> None:
    with _connections_lock:
        conn.refs -= 1
        if conn.refs <= 0:
            _connections.pop((id(conn.lib), conn.address), None)
            conn.close()


class BioLogicBackend:
    """One channel (1-based, as EC-Lab numbers them) of a BioLogic instrument; see ``PotentiostatBackend``."""

    poll_never_waits = True   # BL_GetData answers at once: the channel's polls can share a thread

    def __init__(self, lib, address: str, channel: int, *, name: str = "biologic",
                 timeout: int = C.CONNECT_TIMEOUT_S):
        if not 1 <= int(channel) <= C.MAX_CHANNELS:
            raise ValueError(f"{name}: channel {channel} is outside 1..{C.MAX_CHANNELS}")
        self.lib, self.address, self.channel, self.name = lib, address, int(channel), name
        self.timeout = timeout
        self._conn: _Connection | None = None
        self._technique = None
        self._key: str | None = None
        self._buf = DataBuffer()
        self._info = DataInfo()
        self._values = CurrentValues()
        self._word = c_float()
        self._held: list[dict] = []   # rows decoded before a fault was raised, handed out by the next poll
        self._reset_run()

    # -- connection ---------------------------------------------------------------------------------
    @property
    def _ch(self) -> c_uint8:
        return c_uint8(self.channel - 1)

    def _call(self, fname: str, *args) -> int:
        if self._conn is None:
            raise InstrumentError(self.name, f"{fname}: not connected; call connect() first")
        return self._conn.call(fname, *args)

    def connect(self) -> dict:
        if self._conn is None:
            conn = _acquire(self.lib, self.address, self.name, self.timeout)
            try:
                if self.channel not in conn.plugged:
                    raise InstrumentError(self.name, f"channel {self.channel} is not plugged in the {conn.model} at "
                                                     f"{self.address} (plugged: {conn.plugged or 'none'}); "
                                                     f"fix the channel in the lab profile")
                self._conn = conn
                self._ensure_firmware()
            except BaseException:
                self._conn = None
                _release(conn)
                raise
        info = self._channel_info()
        return {"model": self._conn.model, "serial": str(info.BoardSerialNumber),
                "firmware": str(info.FirmwareVersion), "channel": self.channel}

    def _channel_info(self) -> ChannelInfo:
        info = ChannelInfo()
        self._call("BL_GetChannelInfos", self._conn.id, self._ch, byref(info))
        return info

    def _ensure_firmware(self) -> None:
        if self._channel_info().FirmwareCode == C.FIRMWARE_KERNEL:
            return
        channels = (c_uint8 * C.MAX_CHANNELS)()
        channels[self.channel - 1] = 1
        results = (c_int32 * C.MAX_CHANNELS)()
        self._call("BL_LoadFirmware", self._conn.id, channels, results, c_uint8(C.MAX_CHANNELS), c_bool(False),
                   c_bool(False), None, None)
        code = results[self.channel - 1]
        if code != 0:
            raise BioLogicError(self.name, "BL_LoadFirmware", int(code), _library_message(self.lib, int(code)))

    def reconnect(self) -> None:
        """After a fault: connect again (the connection all channels share) and reload the firmware if the
        instrument lost it."""
        if self._conn is None:
            self.connect()
            return
        self._conn.renew()
        self._ensure_firmware()

    def disconnect(self) -> None:
        if self._conn is None:
            return
        try:
            self.cell_off()
        finally:
            conn, self._conn = self._conn, None
            _release(conn)

    # -- techniques ---------------------------------------------------------------------------------
    def load(self, technique) -> None:
        if self._conn is None:
            raise InstrumentError(self.name, "load: not connected; call connect() first")
        key, params = ecc_parameters(technique)
        array = (EccParam * len(params))()
        define = {C.PARAM_INT: ("BL_DefineIntParameter", c_int32), C.PARAM_BOOL: ("BL_DefineBoolParameter", c_bool),
                  C.PARAM_SINGLE: ("BL_DefineSglParameter", c_float)}
        for slot, (label, ptype, value, index) in zip(array, params, strict=False):
            fname, ctype = define[ptype]
            self._call(fname, label.encode(), ctype(value), c_int32(index), byref(slot))
        ecc = EccParams(len(params), ctypes.cast(array, ctypes.POINTER(EccParam)))
        fname = ecc_file(key, self._conn.info.DeviceCode)
        self._call("BL_LoadTechnique", self._conn.id, self._ch, c_char_p(fname.encode()),
                   ecc, c_bool(True), c_bool(True), c_bool(False))
        self._params_keepalive = array
        self._technique, self._key = technique, key
        self._reset_run()

    def attach(self, technique) -> float | None:
        """Adopt *technique* as the one this channel runs, or ran with rows still unread in the instrument's
        memory (a VMP3 goes on with its technique while no computer is connected): how long it has run (s), or
        None when the channel holds nothing of it (then it is loaded and started as usual)."""
        values = CurrentValues()
        self._call("BL_GetCurrentValues", self._conn.id, self._ch, byref(values))
        if values.State == 0 and values.MemFilled <= 0:
            return None
        self._technique, self._key = technique, ecc_parameters(technique)[0]
        self._reset_run()
        self._running = True
        return float(values.ElapsedTime)

    def _reset_run(self) -> None:
        self._running = False
        self._stop_requested = False
        self._ended_by: EndedBy = None
        self._q = 0.0
        self._last_t = 0.0
        self._last_i: float | None = None
        self._last_row: dict | None = None

    def start(self) -> None:
        if self._technique is None:
            raise InstrumentError(self.name, "no technique loaded; load one before starting")
        self._reset_run()
        self._call("BL_StartChannel", self._conn.id, self._ch)
        self._running = True

    @property
    def ended_by(self) -> EndedBy:
        return self._ended_by

    @property
    def technique(self):
        return self._technique

    def poll(self) -> tuple[list[dict], bool]:
        if self._conn is None:
            raise InstrumentError(self.name, "poll: not connected")
        rows, self._held = self._held, []
        while True:
            self._call("BL_GetData", self._conn.id, self._ch, byref(self._buf), byref(self._info),
                       byref(self._values))
            n = self._info.NbRows
            if n <= 0:
                break
            self._decode(n, rows)
        running = self._values.State == 1
        if self._running and not running:
            self._running = False
            self._ended_by = self._why_ended()
            fault = self._fault() if self._ended_by == "stopped" and not self._stop_requested else None
            if fault is not None:
                self._held = rows
                raise fault
        return rows, running

    def _fault(self) -> ChannelFault | None:
        """Why the instrument ended the technique early, from the flags of the last ``TCurrentValues``."""
        values = self._values
        flags = {name: int(getattr(values, name)) for name in _FAULT_FLAGS if getattr(values, name)}
        if not flags:
            return None
        t = self._technique
        at = self._last_row["time"] if self._last_row else 0.0
        expected = _expected_duration(t)
        of = f" of {expected:g} s" if expected else ""
        why = ", ".join(_FAULT_FLAGS[name] for name in flags)
        return ChannelFault(self.name, f"{t.name} ended at t = {at:g} s{of}: {why}, as when a cell lead comes off; "
                                       "check the working, reference and counter leads, then start again",
                            " ".join(f"{k}={v}" for k, v in flags.items()))

    def stop(self) -> None:
        if self._conn is None:
            return
        self._stop_requested = True
        self._call("BL_StopChannel", self._conn.id, self._ch)

    def cell_off(self) -> None:
        """A stopped VMP3 channel is at open circuit: stop it if it runs."""
        if self._conn is None:
            return
        values = CurrentValues()
        self._call("BL_GetCurrentValues", self._conn.id, self._ch, byref(values))
        if values.State != 0:
            self.stop()

    def read_instant(self) -> dict:
        values = CurrentValues()
        self._call("BL_GetCurrentValues", self._conn.id, self._ch, byref(values))
        return {"Ewe": float(values.Ewe), "I": float(values.I),
                "state": C.CHANNEL_STATES.get(values.State, str(values.State))}

    # -- data ---------------------------------------------------------------------------------------
    def _float(self, word: int) -> float:
        self.lib.BL_ConvertNumericIntoSingle(c_uint32(word), byref(self._word))
        return self._word.value

    def _decode(self, n: int, rows: list[dict]) -> None:
        info = self._info
        key = C.TECHNIQUE_NAMES.get(info.TechniqueID)
        layout = C.ROW_LAYOUTS.get((key, info.ProcessIndex))
        if layout is None or len(layout) != info.NbCols:
            raise InstrumentError(self.name, f"unexpected data: technique id {info.TechniqueID}, process "
                                             f"{info.ProcessIndex}, {info.NbCols} columns")
        if key in ("PEIS", "GEIS") and info.ProcessIndex != C.IMPEDANCE_PROCESS:
            return  # the Ewe/I record between frequencies; the spectrum is what users want
        cols = info.NbCols
        words = self._buf[: n * cols]
        timebase = float(self._values.TimeBase)
        start = float(info.StartTime)
        for r in range(n):
            raw = {}
            for (col, kind), word in zip(layout, words[r * cols:(r + 1) * cols], strict=False):
                if kind == "f":
                    raw[col] = self._float(word)
                elif kind == "u":
                    raw[col] = word
            if "freq" in raw:
                rows.append(self._impedance_row(raw))
            else:
                t = start + timebase * ((raw["t_hi"] << 32) + raw["t_lo"])
                rows.append(self._time_row(t, raw))

    def _time_row(self, t: float, raw: dict) -> dict:
        i = raw.get("I", 0.0)
        # Charge since the technique start: trapezoids between samples, a rectangle before the first one.
        prev_i = i if self._last_i is None else self._last_i
        self._q += 0.5 * (i + prev_i) * (t - self._last_t)
        self._last_t, self._last_i = t, i
        row = {"time": t, "Ewe": raw["Ewe"], "I": i, "Q": self._q, "cycle": int(raw.get("cycle", 0)), "step": 0}
        self._last_row = row
        return row

    def _impedance_row(self, raw: dict) -> dict:
        zmod = raw["Ewe_mod"] / raw["I_mod"] if raw["I_mod"] else float("inf")
        phase = raw["phase"]
        rad = math.radians(phase)
        row = {"time": raw["t"], "freq": raw["freq"], "Zre": zmod * math.cos(rad), "Zim": zmod * math.sin(rad),
               "Zmod": zmod, "Zphase": phase, "Ewe": raw["Ewe"], "I": raw["I"]}
        self._last_row = row
        return row

    def _why_ended(self) -> EndedBy:
        if self._stop_requested:
            return "stopped"
        t, last = self._technique, self._last_row
        if last is None:
            return "stopped" if not isinstance(t, (PEIS, GEIS)) else "done"
        if isinstance(t, Galvanostatic) and t.limited:
            if (t.e_max is not None and last["Ewe"] >= t.e_max) or (t.e_min is not None and last["Ewe"] <= t.e_min):
                return "limit"
        if isinstance(t, Potentiostatic) and t.limited:
            if (t.i_max is not None and last["I"] >= t.i_max) or (t.i_min is not None and last["I"] <= t.i_min):
                return "limit"
        expected = _expected_duration(t)
        if expected is not None and last["time"] < expected - max(2 * _record_dt(t), 1e-3):
            return "stopped"  # the instrument ended it early (overload, cell disconnected...)
        if isinstance(t, (PEIS, GEIS)) and abs(last["freq"] - t.frequencies()[-1]) > 1e-6 * t.frequencies()[-1]:
            return "stopped"
        return "done"


def _record_dt(t) -> float:
    return getattr(t, "record_dt", None) or 0.0


def _expected_duration(t) -> float | None:
    if isinstance(t, OCV):
        return t.duration
    if isinstance(t, Galvanostatic):
        times = [d for d in (t.duration, t.charge / abs(t.current) if t.charge and t.current else None) if d]
        return min(times) if times else None
    if isinstance(t, Potentiostatic):
        return t.duration
    if isinstance(t, CV):
        return t.duration()
    return None


__all__ = ["BioLogicBackend", "BioLogicError", "ChannelFault", "DATA_BUFFER_WORDS"]
