"""A faithful stand-in for BioLogic's EClib DLL, driving simulated channels of the world.

``FakeEClib(world, address)`` exposes the ``BL_*`` functions a client calls through ctypes, taking the same
ctypes arguments (``byref`` structures, ``c_uint8`` arrays, ``EccParams`` by value) and returning the
library's int32 codes. Loaded techniques become ``Step`` programs on ``world.channel(f"{address}:{n}")``
(``n`` counted from 1 as EC-Lab does; the SDK counts from 0). ``BL_GetData`` packs the channel's samples in
the VMP3 row layouts, at most 1000 words per call, and keeps returning rows after the channel stopped until
they are drained.

For tests: ``calls`` logs every call, ``loaded(n)`` returns the last technique's ECC file and parameters,
``fail(name, code)`` makes the next call(s) of a function return an error, and ``foreign_firmware(n)``
leaves a channel with firmware another program (EC-Lab) loaded, so techniques are refused with -401.

A cell whose leads come off (the world's ``unplugged`` channel fault) ends the running technique with the
``Saturation`` and ``Eoverflow`` flags of ``TCurrentValues`` set, as the instrument reports a control amplifier
that cannot drive an open cell; the library call itself succeeds.

Ranges are held to as the instrument holds them: an unknown I_Range/E_Range, BOOSTER on a channel without
a booster (``boosters=`` lists those with one), AUTO for a current-controlled technique, or a commanded
current or potential beyond the selected range's full scale make BL_LoadTechnique return -8. Impedance rows
carry the current range in effect.
"""

from __future__ import annotations

import cmath
import ctypes
import math
import struct
import threading
from collections import deque
from dataclasses import dataclass, field

from labctl.sim import transcript

# Library return codes the fake produces.
OK = 0
ERR_NOT_CONNECTED = -1
ERR_UNPLUGGED = -3
ERR_INVALID_PARAMETERS = -8
ERR_CHANNEL_RUNNING = -14
ERR_FUNCTION_FAILED = -6
ERR_COMMUNICATION = -200
ERR_CONNECTION_FAILED = -201
ERR_WAITING_RESPONSE = -202
ERR_FIRMWARE_NOT_LOADED = -308
ERR_INCOMPATIBLE_FIRMWARE = -309
ERR_ECC_FILE_NOT_FOUND = -400
ERR_INCOMPATIBLE_ECC = -401
ERR_MEMORY_FULL = -405

MESSAGES = {
    ERR_NOT_CONNECTED: "no instrument connected", ERR_UNPLUGGED: "selected channel(s) unplugged",
    ERR_INVALID_PARAMETERS: "invalid parameters", ERR_CHANNEL_RUNNING: "channel is already running",
    ERR_CONNECTION_FAILED: "cannot establish connection with the instrument",
    ERR_FIRMWARE_NOT_LOADED: "firmware not loaded", ERR_INCOMPATIBLE_FIRMWARE: "incompatible firmware",
    ERR_ECC_FILE_NOT_FOUND: "ECC file not found", ERR_INCOMPATIBLE_ECC: "ECC file not compatible with firmware",
    ERR_MEMORY_FULL: "memory full", ERR_FUNCTION_FAILED: "function failed",
    ERR_COMMUNICATION: "communication failed with the instrument",
    ERR_WAITING_RESPONSE: "waiting for the instrument response",
}

#: what each line fault makes every library call return: no reply (nothing done), a reply the library
#: could not make sense of, the network gone, the instrument's own refusal
LINE_FAULTS = {"silent": ERR_WAITING_RESPONSE, "garbage": ERR_COMMUNICATION, "disconnected": ERR_COMMUNICATION,
               "error": ERR_FUNCTION_FAILED}

DEVICE_CODE_VMP3 = 5
FIRMWARE_NONE, FIRMWARE_KERNEL = 0, 5
BUFFER_WORDS = 1000
TIME_BASE = struct.unpack("<f", struct.pack("<f", 2.0e-5))[0]   # s per time-counter tick (float32)

TECHNIQUE_IDS = {"ocv": 100, "ca": 101, "cp": 102, "cv": 103, "peis": 104, "geis": 107, "cplimit": 155,
                 "calimit": 157}
N_COLS = {"ocv": 4, "ca": 5, "cp": 5, "cplimit": 5, "calimit": 5, "cv": 6, "peis": 15, "geis": 15}
TEST_VARIABLES = {0: "Ewe", 3: "I"}
EXIT_STOP = 2

# I_Range / E_Range values of the EClib header, and the full scale of each fixed range.
I_RANGE_KEEP, I_RANGE_BOOSTER, I_RANGE_AUTO = -1, 11, 12
I_RANGE_FULL_SCALE_A = {0: 100e-12, 1: 1e-9, 2: 10e-9, 3: 100e-9, 4: 1e-6, 5: 10e-6, 6: 100e-6, 7: 1e-3,
                        8: 10e-3, 9: 100e-3, 10: 1.0}
E_RANGE_AUTO = 3
E_RANGE_FULL_SCALE_V = {0: 2.5, 1: 5.0, 2: 10.0}
CURRENT_CONTROLLED = {"cp", "cplimit", "geis"}   # the firmware cannot autorange these
FULL_SCALE_TOLERANCE = 1e-6                      # a range holds its own full scale sent as a float32


def _f32_word(x: float) -> int:
    return struct.unpack("<I", struct.pack("<f", x))[0]


def _word_f32(w: int) -> float:
    return struct.unpack("<f", struct.pack("<I", w & 0xFFFFFFFF))[0]


def _value(arg):
    """The Python value behind a ctypes argument (simple type, byref, pointer, bytes)."""
    if hasattr(arg, "_obj"):  # byref()
        return arg._obj
    if isinstance(arg, ctypes._SimpleCData):
        return arg.value
    return arg


@dataclass
class _Channel:
    firmware: int = FIRMWARE_NONE
    foreign: bool = False
    technique: str | None = None
    params: dict = field(default_factory=dict)
    started: bool = False
    pending: deque = field(default_factory=deque)   # encoded rows (process, tuple of words)
    memory_full: bool = False
    i_range: int | None = None                      # I_Range in effect (what I_RANGE_KEEP keeps)


class FakeEClib:
    """EClib for ``sim://ADDRESS`` instruments (a VMP3 with ``channels`` slots)."""

    def __init__(self, world, address: str, *, channels: int = 16, plugged=None, serial: int = 3150,
                 firmware_version: int = 601, memory_words: int = 8_000_000, boosters=()):
        self.world = world
        self.address = address
        self.n_channels = channels
        self.plugged = set(range(1, channels + 1) if plugged is None else plugged)
        self.boosters = set(boosters)
        self.serial, self.firmware_version, self.memory_words = serial, firmware_version, memory_words
        self.calls: list[str] = []
        self._lock = threading.RLock()
        self._ids: set[int] = set()
        self._next_id = 1
        self._faults: dict[str, deque] = {}
        self._line_fault: str | None = None
        self._line_fault_left: int | None = None
        self._channels = {n: _Channel() for n in range(1, channels + 1)}

    # -- test hooks ---------------------------------------------------------------------------------
    def fail(self, name: str, code: int, times: int = 1) -> None:
        """Make the next ``times`` calls of ``name`` return ``code``."""
        self._faults.setdefault(name, deque()).extend([code] * times)

    def inject(self, fault: str | None, *, times: int | None = None) -> None:
        """Make every library call fail as on a bad line (one of :data:`LINE_FAULTS`, None heals): for good,
        or for the next *times* calls (a transient fault). Nothing a failed call asked for is done."""
        if fault is not None and fault not in LINE_FAULTS:
            raise ValueError(f"unknown line fault {fault!r}; choose from {tuple(LINE_FAULTS)}")
        with self._lock:
            self._line_fault, self._line_fault_left = fault, (times if fault is not None else None)

    def power_cycle(self) -> None:
        """Power was interrupted: every channel stops (its cell at open circuit) and forgets its firmware and
        technique; connections are lost."""
        with self._lock:
            for n in self._channels:
                wch = self.world_channel(n)
                if wch.state == "run":
                    wch.stop()
                self._channels[n] = _Channel()
            self._ids.clear()

    def foreign_firmware(self, channel: int) -> None:
        """The channel runs firmware another program loaded: ECC files are refused until reloaded."""
        ch = self._channels[channel]
        ch.firmware, ch.foreign = FIRMWARE_KERNEL, True

    def loaded(self, channel: int) -> tuple[str | None, dict]:
        """ECC file and parameters (label -> value, or list for indexed labels) last loaded on a channel."""
        ch = self._channels[channel]
        return ch.technique and f"{ch.technique}.ecc", dict(ch.params)

    def world_channel(self, channel: int):
        return self.world.channel(f"{self.address}:{channel}")

    # -- plumbing -----------------------------------------------------------------------------------
    def _enter(self, name: str) -> int:
        self.calls.append(name)
        transcript.record(self.address)
        fault = self._line_fault
        if fault is not None:
            if self._line_fault_left is not None:
                self._line_fault_left -= 1
                if self._line_fault_left <= 0:
                    self._line_fault = self._line_fault_left = None
            return LINE_FAULTS[fault]
        queue = self._faults.get(name)
        if queue:
            return queue.popleft()
        return OK

    def _check(self, dev_id, ch=None) -> tuple[int, _Channel | None]:
        if _value(dev_id) not in self._ids:
            return ERR_NOT_CONNECTED, None
        if ch is None:
            return OK, None
        n = int(_value(ch)) + 1
        if n not in self.plugged:
            return ERR_UNPLUGGED, None
        return OK, self._channels[n]

    def _number(self, ch) -> int:
        return int(_value(ch)) + 1

    # -- connection ---------------------------------------------------------------------------------
    def BL_Connect(self, address, timeout, p_id, p_info):
        with self._lock:
            code = self._enter("BL_Connect")
            if code:
                return code
            addr = _value(address)
            addr = addr.decode() if isinstance(addr, bytes) else str(addr)
            if addr != self.address:
                return ERR_CONNECTION_FAILED
            dev_id = self._next_id
            self._next_id += 1
            self._ids.add(dev_id)
            _value(p_id).value = dev_id
            info = _value(p_info)
            info.DeviceCode = DEVICE_CODE_VMP3
            info.RAMSize, info.CPU = 64, 1
            info.NumberOfChannels = len(self.plugged)
            info.NumberOfSlots = self.n_channels
            info.FirmwareVersion = self.firmware_version
            info.FirmwareDate_yyyy, info.FirmwareDate_mm, info.FirmwareDate_dd = 2019, 5, 14
            info.NbOfConnectedPC = len(self._ids)
            return OK

    def BL_Disconnect(self, dev_id):
        with self._lock:
            code = self._enter("BL_Disconnect")
            if code:
                return code
            if _value(dev_id) not in self._ids:
                return ERR_NOT_CONNECTED
            self._ids.discard(_value(dev_id))
            return OK

    def BL_GetChannelsPlugged(self, dev_id, p_plugged, size):
        with self._lock:
            code = self._enter("BL_GetChannelsPlugged") or self._check(dev_id)[0]
            if code:
                return code
            arr = _value(p_plugged)
            for i in range(int(_value(size))):
                arr[i] = 1 if (i + 1) in self.plugged else 0
            return OK

    def BL_GetChannelInfos(self, dev_id, ch, p_info):
        with self._lock:
            code = self._enter("BL_GetChannelInfos")
            check, chan = self._check(dev_id, ch)
            if code or check:
                return code or check
            n = self._number(ch)
            info = _value(p_info)
            info.Channel = n - 1
            info.BoardVersion, info.BoardSerialNumber = 3, self.serial * 100 + n
            info.FirmwareCode = chan.firmware
            info.FirmwareVersion = self.firmware_version if chan.firmware else 0
            info.MemSize = self.memory_words
            info.MemFilled = sum(len(r[1]) for r in chan.pending)
            info.State = 1 if self._running(n) else 0
            info.NbOfTechniques = 1 if chan.technique else 0
            info.MinIRange = min(I_RANGE_FULL_SCALE_A)
            info.MaxIRange = I_RANGE_BOOSTER if n in self.boosters else max(I_RANGE_FULL_SCALE_A)
            return OK

    def BL_LoadFirmware(self, dev_id, p_channels, p_results, length, show_gauge, force_reload, bin_file,
                        xlx_file):
        with self._lock:
            code = self._enter("BL_LoadFirmware") or self._check(dev_id)[0]
            if code:
                return code
            channels, results = _value(p_channels), _value(p_results)
            for i in range(int(_value(length))):
                if not channels[i]:
                    continue
                n = i + 1
                if n not in self.plugged:
                    results[i] = ERR_UNPLUGGED
                    continue
                ch = self._channels[n]
                if ch.firmware == FIRMWARE_KERNEL and not ch.foreign and not _value(force_reload):
                    results[i] = OK
                    continue
                ch.firmware, ch.foreign = FIRMWARE_KERNEL, False
                results[i] = OK
            return OK

    # -- parameters ---------------------------------------------------------------------------------
    def _define(self, name: str, ptype: int, label, value, index, p_param) -> int:
        code = self._enter(name)
        if code:
            return code
        param = _value(p_param)
        lbl = _value(label)
        param.ParamStr = lbl if isinstance(lbl, bytes) else str(lbl).encode()
        v = _value(value)
        if ptype == 2:
            param.ParamVal = struct.unpack("<i", struct.pack("<f", float(v)))[0]
        else:
            param.ParamVal = int(v)
        param.ParamType = ptype
        param.ParamIndex = int(_value(index))
        return OK

    def BL_DefineIntParameter(self, label, value, index, p_param):
        return self._define("BL_DefineIntParameter", 0, label, value, index, p_param)

    def BL_DefineBoolParameter(self, label, value, index, p_param):
        return self._define("BL_DefineBoolParameter", 1, label, value, index, p_param)

    def BL_DefineSglParameter(self, label, value, index, p_param):
        return self._define("BL_DefineSglParameter", 2, label, value, index, p_param)

    @staticmethod
    def _read_params(ecc) -> dict:
        out: dict = {}
        for i in range(ecc.len):
            p = ecc.pParams[i]
            if p.ParamType == 2:  # a float32 carries ~7 significant digits: read back what the client meant
                value = float(f'{struct.unpack("<f", struct.pack("<i", p.ParamVal))[0]:.7g}')
            elif p.ParamType == 1:
                value = bool(p.ParamVal)
            else:
                value = int(p.ParamVal)
            label = p.ParamStr.decode()
            slot = out.setdefault(label, {})
            slot[p.ParamIndex] = value
        return {k: v[0] if list(v) == [0] else [v[i] for i in sorted(v)] for k, v in out.items()}

    def BL_LoadTechnique(self, dev_id, ch, fname, params, first, last, verbose):
        with self._lock:
            code = self._enter("BL_LoadTechnique")
            check, chan = self._check(dev_id, ch)
            if code or check:
                return code or check
            if chan.firmware != FIRMWARE_KERNEL:
                return ERR_FIRMWARE_NOT_LOADED
            if chan.foreign:
                return ERR_INCOMPATIBLE_ECC
            name = _value(fname)
            name = (name.decode() if isinstance(name, bytes) else str(name)).lower()
            stem = name[:-4] if name.endswith(".ecc") else name
            if stem not in TECHNIQUE_IDS:
                return ERR_ECC_FILE_NOT_FOUND
            n = self._number(ch)
            if self._running(n):
                return ERR_CHANNEL_RUNNING
            try:
                parsed = self._read_params(_value(params))
                i_range = self._i_range(n, chan, stem, parsed)
                steps = _steps(stem, parsed)
            except (KeyError, ValueError, TypeError):
                return ERR_INVALID_PARAMETERS
            chan.technique, chan.params = stem, parsed
            chan.i_range = i_range
            chan.started = False
            chan.memory_full = False
            chan.pending.clear()
            self.world_channel(n).load(steps)
            return OK

    def _i_range(self, n: int, chan: _Channel, stem: str, p: dict) -> int | None:
        """The I_Range a technique runs on; ValueError where the instrument would refuse its ranges."""
        e_range = p.get("E_Range", E_RANGE_AUTO)
        if e_range != E_RANGE_AUTO and e_range not in E_RANGE_FULL_SCALE_V:
            raise ValueError(f"E_Range {e_range}")
        if e_range != E_RANGE_AUTO:
            for e in _absolute_potentials(stem, p):
                if abs(e) > E_RANGE_FULL_SCALE_V[e_range] * (1 + FULL_SCALE_TOLERANCE):
                    raise ValueError(f"{e} V beyond E_Range {e_range}")
        if "I_Range" not in p:
            if stem in CURRENT_CONTROLLED:
                raise ValueError("no I_Range")
            return chan.i_range
        i_range = chan.i_range if p["I_Range"] == I_RANGE_KEEP else p["I_Range"]
        if i_range == I_RANGE_BOOSTER:
            if n not in self.boosters:
                raise ValueError("no booster on this channel")
            return i_range
        if i_range == I_RANGE_AUTO and stem not in CURRENT_CONTROLLED:
            return i_range
        if i_range not in I_RANGE_FULL_SCALE_A:
            raise ValueError(f"I_Range {i_range}")
        if stem in CURRENT_CONTROLLED:
            if _peak_current(stem, p) > I_RANGE_FULL_SCALE_A[i_range] * (1 + FULL_SCALE_TOLERANCE):
                raise ValueError(f"current beyond I_Range {i_range}")
        return i_range

    # -- running ------------------------------------------------------------------------------------
    def _running(self, n: int) -> bool:
        return self._channels[n].started and self.world_channel(n).state == "run"

    def BL_StartChannel(self, dev_id, ch):
        with self._lock:
            code = self._enter("BL_StartChannel")
            check, chan = self._check(dev_id, ch)
            if code or check:
                return code or check
            if chan.firmware != FIRMWARE_KERNEL:
                return ERR_FIRMWARE_NOT_LOADED
            if chan.technique is None:
                return ERR_INVALID_PARAMETERS
            n = self._number(ch)
            if self._running(n):
                return ERR_CHANNEL_RUNNING
            chan.pending.clear()
            chan.started = True
            self.world_channel(n).start()
            return OK

    def BL_StopChannel(self, dev_id, ch):
        with self._lock:
            code = self._enter("BL_StopChannel")
            check, chan = self._check(dev_id, ch)
            if code or check:
                return code or check
            wch = self.world_channel(self._number(ch))
            if wch.state == "run":
                wch.stop()
            return OK

    def _fill_values(self, n: int, values) -> None:
        wch = self.world_channel(n)
        chan = self._channels[n]
        if chan.started:   # the instrument's memory fills as the technique runs, whether anybody reads it or not
            self._encode(chan, wch.drain())
        ewe, i = wch.instant()
        values.State = 1 if self._running(n) else 0
        values.MemFilled = sum(len(r[1]) for r in self._channels[n].pending)
        values.TimeBase = TIME_BASE
        values.ElapsedTime = wch.since_start if chan.started else 0.0
        values.Ewe, values.I = ewe, i
        values.IRange = _range_in_effect(self._channels[n].i_range, abs(i))
        values.Ece = 0.0
        values.EweRangeMin, values.EweRangeMax = -10.0, 10.0
        # leads off: the control amplifier cannot drive the cell, saturates, and Ewe reads over range; the
        # channel's safety limit then stops the technique, and the flags stay until the next start
        open_cell = chan.started and wch.ended_by == "unplugged"
        values.Saturation = values.Eoverflow = int(open_cell)
        values.Ioverflow = values.OptErr = values.OptPos = 0

    def BL_GetCurrentValues(self, dev_id, ch, p_values):
        with self._lock:
            code = self._enter("BL_GetCurrentValues")
            check, chan = self._check(dev_id, ch)
            if code or check:
                return code or check
            self._fill_values(self._number(ch), _value(p_values))
            return OK

    def BL_GetData(self, dev_id, ch, p_buf, p_info, p_values):
        with self._lock:
            code = self._enter("BL_GetData")
            check, chan = self._check(dev_id, ch)
            if code or check:
                return code or check
            n = self._number(ch)
            info, values, buf = _value(p_info), _value(p_values), _value(p_buf)
            if chan.started:
                self._encode(chan, self.world_channel(n).drain())
                if sum(len(r[1]) for r in chan.pending) > self.memory_words:
                    self.world_channel(n).stop()
                    chan.pending.clear()
                    chan.memory_full = True
            self._fill_values(n, values)
            if chan.memory_full:
                chan.memory_full = False
                return ERR_MEMORY_FULL
            info.IRQskipped, info.TechniqueIndex, info.loop, info.MuxPad = 0, 0, 0, 0
            info.TechniqueID = TECHNIQUE_IDS.get(chan.technique, 0)
            info.StartTime = 0.0
            info.NbRows = info.NbCols = info.ProcessIndex = 0
            if not chan.pending:
                return OK
            process, first = chan.pending[0]
            cols = len(first)
            max_rows = BUFFER_WORDS // cols
            rows = 0
            while chan.pending and rows < max_rows and chan.pending[0][0] == process:
                _, words = chan.pending.popleft()
                buf[rows * cols:(rows + 1) * cols] = words
                rows += 1
            info.NbRows, info.NbCols, info.ProcessIndex = rows, cols, process
            return OK

    def _encode(self, chan: _Channel, samples) -> None:
        stem = chan.technique
        for s in samples:
            if hasattr(s, "freq"):
                z = complex(s.Z)
                phase = math.degrees(cmath.phase(z))
                words = (_f32_word(s.freq), _f32_word(s.Ewe_amp), _f32_word(s.I_amp), _f32_word(phase),
                         _f32_word(s.Ewe), _f32_word(s.I), 0, _f32_word(0.0), _f32_word(0.0), _f32_word(0.0),
                         _f32_word(0.0), 0, 0, _f32_word(s.t),
                         _range_in_effect(chan.i_range, abs(s.I) + abs(s.I_amp)))
                chan.pending.append((1, words))
                continue
            ticks = int(round(s.t / TIME_BASE))
            t_hi, t_lo = ticks >> 32, ticks & 0xFFFFFFFF
            if stem == "ocv":
                words = (t_hi, t_lo, _f32_word(s.Ewe), _f32_word(0.0))
            elif stem == "cv":
                words = (t_hi, t_lo, _f32_word(s.Ewe), _f32_word(s.I), _f32_word(s.Ewe), int(s.cycle))
            elif stem in ("peis", "geis"):
                words = (t_hi, t_lo, _f32_word(s.Ewe), _f32_word(s.I))
                chan.pending.append((0, words))
                continue
            else:
                words = (t_hi, t_lo, _f32_word(s.Ewe), _f32_word(s.I), int(s.cycle))
            chan.pending.append((0, words))

    # -- utilities ----------------------------------------------------------------------------------
    def BL_ConvertNumericIntoSingle(self, num, p_single):
        _value(p_single).value = _word_f32(int(_value(num)))
        return OK

    def BL_GetErrorMsg(self, code, p_msg, p_size):
        msg = MESSAGES.get(int(_value(code)), "unknown error").encode()
        buf = _value(p_msg)
        size = _value(p_size)
        if len(msg) + 1 > size.value:
            return ERR_INVALID_PARAMETERS
        buf.value = msg
        size.value = len(msg)
        return OK


def _peak_current(stem: str, p: dict) -> float:
    """Largest |current| a current-controlled technique commands."""
    if stem == "geis":
        amp = abs(p["Amplitude_Current"])
        return max(abs(p["Initial_Current_step"]), abs(p["Final_Current_step"])) + amp
    steps = p["Current_step"]
    return max(abs(i) for i in (steps if isinstance(steps, list) else [steps]))


def _absolute_potentials(stem: str, p: dict) -> list[float]:
    """Potentials a potential-controlled technique sets against the reference (not those relative to OCV)."""
    def absolute(values, vs_initial) -> list[float]:
        values = values if isinstance(values, list) else [values]
        relative = vs_initial if isinstance(vs_initial, list) else [vs_initial] * len(values)
        return [v for v, rel in zip(values, relative, strict=False) if not rel]

    if stem in ("ca", "calimit", "cv"):
        return absolute(p["Voltage_step"], p["vs_initial"])
    if stem == "peis":
        amp = abs(p["Amplitude_Voltage"])
        return [e + sign * amp for e in absolute([p["Initial_Voltage_step"], p["Final_Voltage_step"]],
                                                 [p["vs_initial"], p["vs_final"]]) for sign in (1, -1)]
    return []


def _range_in_effect(i_range: int | None, peak: float) -> int:
    """I_Range a channel measures on: the fixed one, or where the autoranger settles for ``peak``."""
    if i_range in I_RANGE_FULL_SCALE_A or i_range == I_RANGE_BOOSTER:
        return i_range
    for index, full_scale in I_RANGE_FULL_SCALE_A.items():
        if peak <= full_scale:
            return index
    return max(I_RANGE_FULL_SCALE_A)


def _steps(stem: str, p: dict) -> list:
    """World ``Step`` program for an EClib technique and its parameters."""
    from labctl.sim.world import Limit, Step

    def none_if_zero(x):
        return x if x else None

    def limits() -> tuple:
        out = []
        for n in (1, 2, 3):
            cfg = p.get(f"Test{n}_Config", 0)
            if not cfg & 1:
                continue
            var = TEST_VARIABLES[cfg >> 5]
            op = ">" if cfg & 0b11100 else "<"
            action = "stop" if p.get("Exit_Cond", EXIT_STOP) in (1, 2) else "next"
            out.append(Limit(var, op, float(p[f"Test{n}_Value"]), action))
        return tuple(out)

    if stem == "ocv":
        return [Step("ocv", duration=p["Rest_time_T"], record_dt=none_if_zero(p["Record_every_dT"]),
                     record_dE=none_if_zero(p["Record_every_dE"]))]
    if stem in ("cp", "cplimit"):
        return [Step("cc", value=p["Current_step"], duration=p["Duration_step"],
                     limits=limits() if stem == "cplimit" else (),
                     record_dt=none_if_zero(p["Record_every_dT"]), record_dE=none_if_zero(p["Record_every_dE"]))]
    if stem in ("ca", "calimit"):
        return [Step("cp_e", value=p["Voltage_step"], duration=p["Duration_step"],
                     limits=limits() if stem == "calimit" else (), record_dt=none_if_zero(p["Record_every_dT"]),
                     vs_ocv=bool(p["vs_initial"]))]
    if stem == "cv":
        e = p["Voltage_step"]
        rate = p["Scan_Rate"][0] if isinstance(p["Scan_Rate"], list) else p["Scan_Rate"]
        # E0 -> E1 -> E2, then (E1 -> E2) for each further cycle, then Ef. On a linear sweep, recording
        # every dE is recording every dE / scan rate seconds, which the firmware counts exactly.
        vertices = (e[0], e[1], e[2]) + (e[1], e[2]) * p["N_Cycles"] + (e[4],)
        return [Step("sweep", vertices=vertices, scan_rate=rate, record_dt=p["Record_every_dE"] / rate)]
    if stem in ("peis", "geis"):
        fi, ff, n = p["Initial_frequency"], p["Final_frequency"], p["Frequency_number"]
        if n < 1 or fi <= 0 or ff <= 0:
            raise ValueError("bad frequency sweep")
        if n == 1:
            freqs = (fi,)
        elif p["sweep"]:  # linear
            freqs = tuple(fi + (ff - fi) * k / (n - 1) for k in range(n))
        else:
            freqs = tuple(fi * (ff / fi) ** (k / (n - 1)) for k in range(n))
        if stem == "peis":
            return [Step("eis", frequencies=freqs, amplitude=p["Amplitude_Voltage"],
                         dc=p["Initial_Voltage_step"], vs_ocv=bool(p["vs_initial"]))]
        return [Step("eis", frequencies=freqs, amplitude=p["Amplitude_Current"], galvanostatic=True,
                     dc=p["Initial_Current_step"])]
    raise ValueError(stem)
