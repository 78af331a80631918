"""GamryCOM as the Reference 600 shows it to Python, over the simulated world.

``FakeGamryCOM(world)`` stands in for both halves of what a comtypes client uses: the generated type-library
module (classes ``GamryDeviceList``, ``GamryPC5Pstat``, signals, Dtaqs, ``GamryReadZ`` and the enum constants)
and ``comtypes.client`` (``GetEvents``/``PumpEvents``), plus a ``COMError`` carrying an hresult. It reproduces
what makes the real library awkward, so a backend that works here works on the instrument:

* events are delivered only from inside ``PumpEvents`` and only while the connection object returned by
  ``GetEvents`` is alive;
* ``Cook(n)`` hands out at most *n* points, column-major, and must be called until it returns 0;
* each Dtaq has its own column layout (:data:`COOK_COLUMNS`);
* failures are ``COMError`` with a signed hresult; Gamry's own have the customer bit (0x20000000) set;
* the lab can make chosen calls fail (:meth:`FakeGamryCOM.fail`) or lose a run's ``OnDataDone``
  (:meth:`FakeGamryCOM.lose_data_done`), to check that a backend still leaves the cell off;
* a cell whose leads come off (the world's ``unplugged`` channel fault) is not an error from the library:
  the next point carries an ``Overload`` flag (control amplifier, or voltage when the cell switch is open)
  and the acquisition ends there (the simulated firmware gives up on an open cell).

Signals and Dtaqs are translated into :class:`labctl.sim.world.Step` programs on the section's potentiostat
channel (``"REF600-12345"`` drives ``world.channel("ref600:1")`` by default). ``calls`` records every COM call
as ``(class, method, args)`` so tests can check the sequence a backend sends.
"""

from __future__ import annotations

import math
import threading
import weakref
from typing import Any

from labctl.sim import transcript
from labctl.sim.world import Limit, Sample, Step

#: Current ranges of a Reference 600 (full scale, A), index = IERange: 60 pA ... 600 mA.
IE_RANGES_A: tuple[float, ...] = tuple(6e-11 * 10 ** i for i in range(11))
#: Voltage-channel ranges (full scale, V), index = VchRange.
VCH_RANGES_V: tuple[float, ...] = (0.03, 0.3, 3.0, 12.0)
COMPLIANCE_A = 0.6
COMPLIANCE_V = 11.0
#: ``Overload`` column bits (values are the fake's): voltage channel, control amplifier.
OVERLOAD_V, OVERLOAD_CA = 0x2, 0x4

#: Column layout of ``Cook`` per Dtaq class (public sources disagree after ``Im``; this is the one used).
COOK_COLUMNS: dict[str, tuple[str, ...]] = {
    "GamryDtaqChrono": ("Time", "Vf", "Vu", "Im", "Q", "Vsig", "Ach", "IERange", "Overload", "StopTest"),
    "GamryDtaqCiiv": ("Time", "Vf", "Vu", "Im", "Vsig", "Ach", "IERange", "Overload", "StopTest"),
    "GamryDtaqRcv": ("Time", "Vf", "Vu", "Im", "Vsig", "Ach", "IERange", "Overload", "StopTest", "Cycle",
                     "Reserved"),
    "GamryDtaqOcv": ("Time", "Vf", "Vm", "Vsig", "Ach", "Overload", "StopTest", "Reserved1", "Reserved2",
                     "Reserved3"),
    "GamryReadZ": ("I", "V"),
}


def _signed(hresult: int) -> int:
    return hresult - 2 ** 32 if hresult >= 2 ** 31 else hresult


# hresults: Gamry's own (severity | customer bit | FACILITY_ITF) and two Windows ones.
E_SECTION = 0xA0040101           # section not in the device list
E_IN_USE = 0xA0040102            # another program holds the instrument
E_NOT_OPEN = 0xA0040103          # call needs Open()
E_NOT_INIT = 0xA0040104          # object used before Init()
E_RANGE = 0xA0040110             # signal exceeds the selected current range
E_COMPLIANCE = 0xA0040111        # request beyond the instrument's compliance
E_BUSY = 0xA0040120              # a Dtaq is already running on this instrument
E_NO_SIGNAL = 0xA0040121         # Run without SetSignal
E_TIMEOUT = 0xA0040130           # the instrument did not acknowledge a command in time
E_DEVICE_GONE = 0x8007048F       # HRESULT_FROM_WIN32(ERROR_DEVICE_NOT_CONNECTED)
E_INVALIDARG = 0x80070057
E_UNEXPECTED = 0x8000FFFF        # what COM says of a reply it could not unmarshal

#: what each line fault makes every call raise (``disconnected`` pulls the cable instead)
LINE_FAULTS = {"silent": (E_TIMEOUT, "The instrument did not acknowledge the command"),
               "garbage": (E_UNEXPECTED, "Catastrophic failure"),
               "error": (E_COMPLIANCE, "The instrument refused the request")}


class COMError(Exception):
    """Like ``comtypes.COMError``: ``args == (hresult, text, details)`` with a signed hresult."""

    def __init__(self, hresult: int, text: str, details: tuple | None = None):
        super().__init__(_signed(hresult), text, details or (text, "GamryCOM", None, 0, None))
        self.hresult = _signed(hresult)
        self.text = text
        self.details = self.args[2]


class _Device:
    """One instrument on the (simulated) USB bus."""

    def __init__(self, section: str, channel: str):
        self.section = section
        self.channel = channel
        self.plugged = True
        self.owner: _Pstat | None = None
        self.readz_retries = 0
        self.lost_done = 0
        self.cell_on = False    # the relay stays as last set, whoever holds (or released) the instrument


class FakeGamryCOM:
    """The GamryCOM type library and comtypes client over the simulated world."""

    # enums (values are the fake's; backends use the names)
    CellOff, CellOn = 0, 1
    GstatMode, PstatMode, ZRAMode, FRAMode = 0, 1, 2, 3
    ChronoAmp, ChronoPot = 0, 1
    StabilityFast, StabilityNorm, StabilityMedFast, StabilitySlow = 0, 1, 2, 3
    ReadZSpeedFast, ReadZSpeedNorm, ReadZSpeedLow = 0, 1, 2
    ReadZStatusOk, ReadZStatusRetry, ReadZStatusError = 0, 1, 2
    Anodic, Cathodic = 0, 1

    COMError = COMError

    def __init__(self, world, devices: dict[str, str] | None = None):
        self.world = world
        self._lock = threading.RLock()
        self._devices: dict[str, _Device] = {}
        for section, channel in (devices or {"REF600-12345": "ref600:1"}).items():
            self.add_device(section, channel)
        self._connections: list[weakref.ref] = []
        self.calls: list[tuple[str, str, tuple]] = []
        self._failures: list[list] = []   # [method, args or None, hresult, text, times left]
        self._line_fault: str | None = None
        self._line_fault_left: int | None = None
        self._unplugged_section: str | None = None

    # -- the lab side ---------------------------------------------------------------------------------
    def add_device(self, section: str, channel: str) -> None:
        """Plug an instrument named *section* (e.g. ``"REF600-12345"``) driving world channel *channel*."""
        self._devices[section] = _Device(section, channel)

    def unplug(self, section: str) -> None:
        """Pull the USB cable: the section leaves the device list and open objects start failing."""
        dev = self._devices[section]
        source = dev.owner._dtaq if dev.owner is not None else None
        if source is not None and source._state == "run":
            self.world.channel(dev.channel).stop()   # the instrument loses its host: no more data or events
            source._state, source._done_sent, source._ended_by = "done", True, "stopped"
        dev.plugged = False

    def plug(self, section: str) -> None:
        self._devices[section].plugged = True

    def inject(self, fault: str | None, *, times: int | None = None, section: str | None = None) -> None:
        """Make the USB line misbehave for every call (``silent``, ``garbage``, ``error``; ``disconnected``
        pulls *section*'s cable, the only instrument when not given; None heals): for good, or for the next
        *times* calls. A failed call takes no effect."""
        if fault is not None and fault not in (*LINE_FAULTS, "disconnected"):
            raise ValueError(f"unknown line fault {fault!r}; choose from {(*LINE_FAULTS, 'disconnected')}")
        with self._lock:
            if fault == "disconnected" or (fault is None and self._line_fault == "disconnected"):
                section = section or next(iter(self._devices))
                (self.unplug if fault else self.plug)(section)
            self._line_fault, self._line_fault_left = fault, (times if fault is not None else None)
            self._unplugged_section = section

    def power_cycle(self, section: str | None = None) -> None:
        """Power was interrupted: the instrument comes back with its cell switch open, nothing running, and
        the objects that had it open must open it again."""
        with self._lock:
            section = section or next(iter(self._devices))
            dev = self._devices[section]
            self.unplug(section)
            self.world.channel(dev.channel).stop()
            dev.cell_on = False
            if dev.owner is not None:
                dev.owner._open = False
            dev.owner = None
            self.plug(section)

    def inject_readz_retries(self, section: str, count: int) -> None:
        """Make the next *count* ``GamryReadZ`` measurements end with ``ReadZStatusRetry``."""
        self._devices[section].readz_retries = int(count)

    def fail(self, method: str, *, args: tuple | None = None, times: int = 1, hresult: int = E_TIMEOUT,
             text: str = "The instrument did not acknowledge the command") -> None:
        """Make the next *times* calls of *method* (on any object; only with these *args* if given) raise
        ``COMError`` without taking effect, e.g. ``fail("Run", args=(False,))`` for a refused stop."""
        self._failures.append([method, None if args is None else tuple(args), hresult, text, int(times)])

    def lose_data_done(self, section: str, count: int = 1) -> None:
        """The next *count* runs or impedance points on *section* end without their ``OnDataDone`` event."""
        self._devices[section].lost_done = int(count)

    def cell_on(self, section: str) -> bool:
        """Whether the instrument's cell switch is closed (what its front-panel light shows)."""
        return self._devices[section].cell_on

    # -- the type library -----------------------------------------------------------------------------
    def GamryDeviceList(self) -> _DeviceList:
        return _DeviceList(self)

    def GamryPC5Pstat(self) -> _Pstat:
        return _Pstat(self)

    def GamrySignalConst(self) -> _SignalConst:
        return _SignalConst(self)

    def GamrySignalRupdn(self) -> _SignalRupdn:
        return _SignalRupdn(self)

    def GamryDtaqChrono(self) -> _Dtaq:
        return _DtaqChrono(self)

    def GamryDtaqCiiv(self) -> _Dtaq:
        return _DtaqCiiv(self)

    def GamryDtaqRcv(self) -> _Dtaq:
        return _DtaqRcv(self)

    def GamryDtaqOcv(self) -> _Dtaq:
        return _DtaqOcv(self)

    def GamryReadZ(self) -> _ReadZ:
        return _ReadZ(self)

    # -- comtypes.client ------------------------------------------------------------------------------
    def GetEvents(self, source: _EventSource, sink: Any) -> _Connection:
        """Connect *sink*'s ``_IGamryDtaqEvents_*``/``_IGamryReadZEvents_*`` methods to *source*.

        Events flow only while the returned object is referenced (as with comtypes).
        """
        if not isinstance(source, _EventSource):
            raise COMError(E_INVALIDARG, "The object does not source events")
        conn = _Connection(source, sink)
        with self._lock:
            self._connections = [r for r in self._connections if r() is not None]
            self._connections.append(weakref.ref(conn))
        return conn

    def PumpEvents(self, timeout: float) -> None:
        """Deliver pending events to connected sinks; returns at once (lab time moves only on the clock)."""
        with self._lock:
            conns = [c for c in (r() for r in self._connections) if c is not None]
        for conn in conns:
            for method, args in conn.source._pending_events():
                handler = getattr(conn.sink, f"{conn.source._events_interface}_{method}", None)
                if handler is not None:
                    handler(conn.source, *args)

    # -- internals ------------------------------------------------------------------------------------
    def _record(self, cls: str, method: str, args: tuple) -> None:
        self.calls.append((cls, method, args))
        transcript.record("gamrycom")
        fault = self._line_fault
        if fault is not None:
            if self._line_fault_left is not None:
                self._line_fault_left -= 1
                if self._line_fault_left <= 0:
                    self._line_fault = self._line_fault_left = None
                    if fault == "disconnected":
                        self.plug(self._unplugged_section)
            if fault in LINE_FAULTS:
                raise COMError(*LINE_FAULTS[fault])
        for failure in self._failures:
            name, want, hresult, text, left = failure
            if left > 0 and name == method and (want is None or want == tuple(args)):
                failure[4] -= 1
                raise COMError(hresult, text)


class _Connection:
    def __init__(self, source, sink):
        self.source, self.sink = source, sink


class _ComObject:
    """Records every public (capitalised) method call in ``FakeGamryCOM.calls``."""

    progid = ""

    def __init__(self, com: FakeGamryCOM):
        object.__setattr__(self, "_com", com)

    def __getattribute__(self, name: str):
        attr = object.__getattribute__(self, name)
        if name[:1].isupper() and callable(attr):
            com = object.__getattribute__(self, "_com")
            progid = object.__getattribute__(self, "progid")

            def call(*args):
                com._record(progid, name, args)
                return attr(*args)

            return call
        return attr


class _DeviceList(_ComObject):
    progid = "GamryDeviceList"

    def Count(self) -> int:
        return len(self._sections())

    def EnumSections(self) -> tuple[str, ...]:
        return self._sections()

    def EnumLabels(self) -> tuple[str, ...]:
        return self._sections()

    def _sections(self) -> tuple[str, ...]:
        return tuple(s for s, d in self._com._devices.items() if d.plugged)


class _Pstat(_ComObject):
    """``GamryPC5Pstat``: the Reference 600 itself."""

    progid = "GamryPC5Pstat"

    def __init__(self, com):
        super().__init__(com)
        self._device: _Device | None = None
        self._open = False
        self._cell = com.CellOff
        self._mode = com.PstatMode
        self._ie_range = len(IE_RANGES_A) - 1
        self._ie_auto = True
        self._vch_range = len(VCH_RANGES_V) - 1
        self._voltage = 0.0
        self._signal = None
        self._dtaq: _Dtaq | _ReadZ | None = None

    # identity and connection
    def Init(self, section: str) -> None:
        dev = self._com._devices.get(section)
        if dev is None or not dev.plugged:
            raise COMError(E_SECTION, f"Section {section!r} not found in the Gamry device list")
        self._device = dev

    def Open(self) -> None:
        dev = self._live()
        if dev.owner is not None and dev.owner is not self:
            raise COMError(E_IN_USE, "Potentiostat in use by another application")
        dev.owner = self
        self._open = True

    def Close(self) -> None:
        if self._device is not None and self._device.owner is self:
            if self._dtaq is not None:
                self._dtaq._halt("stopped")
            self._device.owner = None
        self._open = False

    def TestIsOpen(self) -> bool:
        return self._open

    def Label(self) -> str:
        return self._live().section

    def SerialNo(self) -> str:
        return self._live().section.rsplit("-", 1)[-1]

    def ModelNo(self) -> str:
        return "Reference 600"

    def FirmwareVersion(self) -> str:
        return "6.33"

    # cell and control
    def SetCell(self, state: int) -> None:
        self._ready()
        if state not in (self._com.CellOff, self._com.CellOn):
            raise COMError(E_INVALIDARG, f"Invalid cell state {state!r}")
        self._cell = state
        self._device.cell_on = state == self._com.CellOn
        if state == self._com.CellOff and self._dtaq is not None:
            self._dtaq._halt("stopped")

    def Cell(self) -> int:
        return self._cell

    def SetCtrlMode(self, mode: int) -> None:
        self._ready()
        if mode not in (self._com.GstatMode, self._com.PstatMode, self._com.ZRAMode, self._com.FRAMode):
            raise COMError(E_INVALIDARG, f"Invalid control mode {mode!r}")
        self._mode = mode

    def CtrlMode(self) -> int:
        return self._mode

    def SetIEStability(self, value: int) -> None:
        self._ready()

    def SetIConvention(self, value: int) -> None:
        self._ready()

    def SetVoltage(self, volts: float) -> None:
        self._ready()
        self._voltage = float(volts)

    # ranges
    def SetIERangeMode(self, auto: bool) -> None:
        self._ready()
        self._ie_auto = bool(auto)

    def IERangeMode(self) -> bool:
        return self._ie_auto

    def TestIERange(self, amps: float) -> int:
        amps = abs(float(amps))
        for i, full in enumerate(IE_RANGES_A):
            if amps <= full:
                return i
        return len(IE_RANGES_A) - 1

    def SetIERange(self, index: int) -> None:
        self._ready()
        if not 0 <= int(index) < len(IE_RANGES_A):
            raise COMError(E_INVALIDARG, f"IERange {index!r} out of 0..{len(IE_RANGES_A) - 1}")
        self._ie_range = int(index)

    def IERange(self) -> int:
        return self._ie_range

    def IEResistor(self, index: int) -> float:
        return self._resistor(int(index))

    @staticmethod
    def _resistor(index: int) -> float:
        return 3.0 / IE_RANGES_A[index]

    def SetVchRangeMode(self, auto: bool) -> None:
        self._ready()

    def TestVchRange(self, volts: float) -> int:
        volts = abs(float(volts))
        for i, full in enumerate(VCH_RANGES_V):
            if volts <= full:
                return i
        return len(VCH_RANGES_V) - 1

    def SetVchRange(self, index: int) -> None:
        self._ready()
        self._vch_range = int(index)

    # signal and front end
    def SetSignal(self, signal) -> None:
        self._ready()
        if not isinstance(signal, _Signal) or not signal._initialised:
            raise COMError(E_NOT_INIT, "Signal object has not been initialised")
        self._signal = signal

    def MeasureV(self) -> float:
        self._ready()
        return self._channel().instant()[0]

    def MeasureI(self) -> float:
        self._ready()
        return self._channel().instant()[1]

    # internals
    def _live(self) -> _Device:
        if self._device is None:
            raise COMError(E_NOT_INIT, "Pstat object has not been initialised with a section")
        if not self._device.plugged:
            raise COMError(E_DEVICE_GONE, "The device is not connected.")
        return self._device

    def _ready(self) -> _Device:
        dev = self._live()
        if not self._open:
            raise COMError(E_NOT_OPEN, "Potentiostat is not open")
        return dev

    def _channel(self):
        return self._com.world.channel(self._live().channel)

    def _full_scale(self) -> float:
        return IE_RANGES_A[self._ie_range]


class _Signal(_ComObject):
    def __init__(self, com):
        super().__init__(com)
        self._initialised = False
        self._pstat: _Pstat | None = None


class _SignalConst(_Signal):
    """``GamrySignalConst.Init(pstat, value, time, sample_period, ctrl_mode)``: V or A for ``time`` s."""

    progid = "GamrySignalConst"

    def Init(self, pstat, value: float, duration: float, period: float, mode: int) -> None:
        if not (duration > 0 and period > 0):
            raise COMError(E_INVALIDARG, "Signal time and sample period must be positive")
        self._pstat, self.value, self.duration, self.period, self.mode = (
            pstat, float(value), float(duration), float(period), mode)
        self._initialised = True


class _SignalRupdn(_Signal):
    """``GamrySignalRupdn.Init(pstat, Vinit, Vapex1, Vapex2, Vfinal, ScanInit, ScanApex, ScanFinal,
    HoldTime0, HoldTime1, HoldTime2, SampleRate, Cycles, ctrl_mode)`` (scan rates in V/s, SampleRate in s)."""

    progid = "GamrySignalRupdn"

    def Init(self, pstat, vinit, vapex1, vapex2, vfinal, scan_init, scan_apex, scan_final,
             hold0, hold1, hold2, period, cycles, mode) -> None:
        if min(scan_init, scan_apex, scan_final) <= 0 or period <= 0 or int(cycles) < 1:
            raise COMError(E_INVALIDARG, "Scan rates, sample period and cycles must be positive")
        self._pstat = pstat
        self.v = (float(vinit), float(vapex1), float(vapex2), float(vfinal))
        self.scans = (float(scan_init), float(scan_apex), float(scan_final))
        self.holds = (float(hold0), float(hold1), float(hold2))
        self.period, self.cycles, self.mode = float(period), int(cycles), mode
        self._initialised = True

    def segments(self) -> list[tuple[float, float, float, int]]:
        """(from, to, scan rate, cycle) of every linear segment, in order."""
        vi, a1, a2, vf = self.v
        si, sa, sf = self.scans
        segs = [(vi, a1, si, 0), (a1, a2, sa, 0)]
        for c in range(1, self.cycles):
            segs += [(a2, a1, sa, c), (a1, a2, sa, c)]
        segs.append((a2, vf, sf, self.cycles - 1))
        return [s for s in segs if s[0] != s[1]]


class _EventSource(_ComObject):
    _events_interface = "_IGamryDtaqEvents"

    def _pending_events(self) -> list[tuple[str, tuple]]:
        return []


class _Dtaq(_EventSource):
    """Shared Dtaq behaviour: Init, stop tests, Run, Cook, and event generation."""

    kind = "time"

    def __init__(self, com):
        super().__init__(com)
        self._pstat: _Pstat | None = None
        self._stops: dict[str, tuple[bool, float]] = {}
        self._buffer: list[tuple] = []
        self._state = "idle"       # idle | run | done
        self._done_sent = True
        self._ended_by: str | None = None
        self._t_offset = 0.0
        self._q = 0.0
        self._meta: dict = {}
        self._last_sample = None

    def Init(self, pstat, *args) -> None:
        if not isinstance(pstat, _Pstat):
            raise COMError(E_INVALIDARG, "Init needs a potentiostat object")
        self._pstat = pstat

    def SetStopXMin(self, enable: bool, value: float) -> None:
        self._stops["XMin"] = (bool(enable), float(value))

    def SetStopXMax(self, enable: bool, value: float) -> None:
        self._stops["XMax"] = (bool(enable), float(value))

    def SetStopAtDelayXMin(self, points: int) -> None:
        pass  # the simulated channel stops at the first crossing (delay 1)

    def SetStopAtDelayXMax(self, points: int) -> None:
        pass

    def SetThreshVMin(self, enable: bool, value: float) -> None:
        pass  # thresholds only flag points; they never stop a run

    def SetThreshVMax(self, enable: bool, value: float) -> None:
        pass

    def SetThreshIMin(self, enable: bool, value: float) -> None:
        pass

    def SetThreshIMax(self, enable: bool, value: float) -> None:
        pass

    def SetDecimation(self, enable: bool) -> None:
        pass

    def Run(self, on: bool = True) -> None:
        if not on:
            self._halt("stopped")
            return
        pstat = self._need_pstat()
        pstat._ready()
        signal = pstat._signal
        if signal is None:
            raise COMError(E_NO_SIGNAL, "No signal has been set on the potentiostat")
        if pstat._dtaq is not None and pstat._dtaq is not self and pstat._dtaq._state == "run":
            raise COMError(E_BUSY, "Another measurement is running on this potentiostat")
        steps = self._program(pstat, signal)
        channel = pstat._channel()
        channel.drain()  # forget anything left from earlier programs
        channel.load(steps)
        channel.start()
        pstat._dtaq = self
        self._buffer, self._state, self._done_sent, self._ended_by, self._q = [], "run", False, None, 0.0
        self._last_sample = None

    def Stop(self) -> None:
        self._halt("stopped")

    def Cook(self, count: int) -> tuple[int, tuple]:
        self._need_pstat()._live()
        self._collect()
        n = max(0, int(count))
        rows, self._buffer = self._buffer[:n], self._buffer[n:]
        ncols = len(COOK_COLUMNS[self.progid])
        cols = tuple(tuple(r[i] for r in rows) for i in range(ncols)) if rows else tuple(() for _ in range(ncols))
        return len(rows), cols

    # -- program and rows -----------------------------------------------------------------------------
    def _need_pstat(self) -> _Pstat:
        if self._pstat is None:
            raise COMError(E_NOT_INIT, f"{self.progid} has not been initialised with a potentiostat")
        return self._pstat

    def _limits(self, variable: str) -> tuple:
        out = []
        for key, op in (("XMin", "<"), ("XMax", ">")):
            enabled, value = self._stops.get(key, (False, 0.0))
            if enabled:
                out.append(Limit(variable, op, value, "stop"))
        return tuple(out)

    def _check_current(self, pstat: _Pstat, amps: float) -> None:
        if abs(amps) > COMPLIANCE_A:
            raise COMError(E_COMPLIANCE, f"Requested current {amps:g} A exceeds the instrument's "
                                         f"{COMPLIANCE_A:g} A")
        if not pstat._ie_auto and abs(amps) > pstat._full_scale() * 1.0001:
            raise COMError(E_RANGE, f"Requested current {amps:g} A exceeds the current range "
                                    f"({pstat._full_scale():g} A full scale)")

    def _program(self, pstat: _Pstat, signal) -> list:
        raise NotImplementedError

    def _row(self, sample, stop_test: int, overload: int = 0) -> tuple:
        raise NotImplementedError

    def _collect(self) -> None:
        """Move what the channel recorded into the Dtaq buffer; notice the end of the run."""
        if self._state != "run" or self._pstat is None:
            return
        dev = self._pstat._device
        if dev is None or not dev.plugged:
            return
        channel = self._pstat._channel()
        # The state first: once stopped nothing more is recorded, so this drain holds every last sample
        # even when another thread moves the clock in between.
        ended = channel.state == "stop"
        samples = channel.drain()
        why = channel.ended_by if ended else None
        for k, s in enumerate(samples):
            last = k == len(samples) - 1
            self._buffer.append(self._row(s, 1 if (why == "limit" and last) else 0))
        if samples:
            self._last_sample = samples[-1]
        if why == "unplugged":
            self._buffer.append(self._open_cell_row(channel))
        if ended:
            self._state = "done"
            self._ended_by = self._ended_by or why

    def _open_cell_row(self, channel) -> tuple:
        """The point taken once the cell leads are open: the front end's reading, flagged as an overload."""
        e, _ = channel.instant()
        last = self._last_sample
        sample = Sample(channel.elapsed, last.step if last else 0, e, 0.0, last.Q if last else 0.0,
                        last.cycle if last else 0)
        cell_on = self._pstat._cell == self._com.CellOn
        return self._row(sample, 0, OVERLOAD_CA if cell_on else OVERLOAD_V)

    def _halt(self, why: str) -> None:
        if self._state != "run":
            return
        self._collect()
        if self._state == "run":
            self._pstat._channel().stop()
            self._collect()
            self._state = "done"
            self._ended_by = why

    def _pending_events(self) -> list[tuple[str, tuple]]:
        dev = self._pstat._device if self._pstat is not None else None
        if dev is None or not dev.plugged:
            return []
        before = len(self._buffer)
        self._collect()
        events = []
        if self._buffer and (len(self._buffer) > before or self._state == "run"):
            events.append(("OnDataAvailable", ()))
        if self._state == "done" and not self._done_sent:
            if self._buffer and not events:
                events.append(("OnDataAvailable", ()))
            self._done_sent = True
            if dev.lost_done > 0:
                dev.lost_done -= 1
            else:
                events.append(("OnDataDone", ()))
        return events


class _DtaqChrono(_Dtaq):
    """``GamryDtaqChrono.Init(pstat, ChronoPot|ChronoAmp)``; X in the stop tests is V (Pot) or I (Amp)."""

    progid = "GamryDtaqChrono"

    def Init(self, pstat, chrono_type=None) -> None:
        if chrono_type not in (self._com.ChronoPot, self._com.ChronoAmp):
            raise COMError(E_INVALIDARG, f"Invalid chrono type {chrono_type!r}")
        super().Init(pstat)
        self._type = chrono_type

    def _program(self, pstat, signal) -> list:
        if not isinstance(signal, _SignalConst):
            raise COMError(E_INVALIDARG, "GamryDtaqChrono needs a GamrySignalConst")
        return _const_program(self, pstat, signal, "Ewe" if self._type == self._com.ChronoPot else "I")

    def _row(self, s, stop_test, overload=0):
        p = self._pstat
        return (s.t, s.Ewe, s.Ewe, s.I, s.Q, self._meta["vsig"], 0.0, p._ie_range, overload, stop_test)


class _DtaqCiiv(_Dtaq):
    """``GamryDtaqCiiv``: controlled-current acquisition; X in the stop tests is the potential."""

    progid = "GamryDtaqCiiv"

    def _program(self, pstat, signal) -> list:
        if not isinstance(signal, _SignalConst) or signal.mode != self._com.GstatMode:
            raise COMError(E_INVALIDARG, "GamryDtaqCiiv needs a GamrySignalConst in GstatMode")
        return _const_program(self, pstat, signal, "Ewe")

    def _row(self, s, stop_test, overload=0):
        return (s.t, s.Ewe, s.Ewe, s.I, self._meta["vsig"], 0.0, self._pstat._ie_range, overload, stop_test)


class _DtaqOcv(_Dtaq):
    progid = "GamryDtaqOcv"

    def _program(self, pstat, signal) -> list:
        if not isinstance(signal, _SignalConst):
            raise COMError(E_INVALIDARG, "GamryDtaqOcv needs a GamrySignalConst")
        self._meta["vsig"] = 0.0
        return [Step("ocv", duration=signal.duration, record_dt=signal.period)]

    def _row(self, s, stop_test, overload=0):
        return (s.t, s.Ewe, s.Ewe, 0.0, 0.0, overload, stop_test, 0.0, 0.0, 0.0)


class _DtaqRcv(_Dtaq):
    """``GamryDtaqRcv``: cyclic voltammetry on a ``GamrySignalRupdn``; Cycle column counts from 0."""

    progid = "GamryDtaqRcv"

    def SetStopIMin(self, enable: bool, value: float) -> None:
        self._stops["XMin"] = (bool(enable), float(value))

    def SetStopIMax(self, enable: bool, value: float) -> None:
        self._stops["XMax"] = (bool(enable), float(value))

    def _program(self, pstat, signal) -> list:
        if not isinstance(signal, _SignalRupdn):
            raise COMError(E_INVALIDARG, "GamryDtaqRcv needs a GamrySignalRupdn")
        if max(abs(v) for v in signal.v) > COMPLIANCE_V:
            raise COMError(E_COMPLIANCE, f"Ramp exceeds the instrument's {COMPLIANCE_V:g} V")
        if pstat._cell != self._com.CellOn:
            self._meta.update(vsig=0.0, ends=[])
            total = sum(abs(b - a) / r for a, b, r, _ in signal.segments())
            return [Step("ocv", duration=total, record_dt=signal.period)]
        limits = self._limits("I")
        segments = signal.segments()
        ends, t = [], 0.0
        for a, b, rate, cycle in segments:
            t += abs(b - a) / rate
            ends.append((t, cycle))
        self._meta.update(vsig=None, ends=ends)
        if len(set(signal.scans)) == 1:   # one scan rate: one sweep through every vertex
            vertices = [segments[0][0]] + [seg[1] for seg in segments]
            return [Step("sweep", vertices=tuple(vertices), scan_rate=signal.scans[0], record_dt=signal.period,
                         limits=limits)]
        return [Step("sweep", vertices=(a, b), scan_rate=rate, record_dt=signal.period, limits=limits)
                for a, b, rate, _ in segments]

    def _row(self, s, stop_test, overload=0):
        cycle = 0
        for t_end, c in self._meta["ends"]:
            cycle = c
            if s.t < t_end - 1e-9:
                break
        vsig = s.Ewe if self._meta["vsig"] is None else self._meta["vsig"]
        return (s.t, s.Ewe, s.Ewe, s.I, vsig, 0.0, self._pstat._ie_range, overload, stop_test, cycle, 0.0)


def _const_program(dtaq: _Dtaq, pstat: _Pstat, signal: _SignalConst, x_var: str) -> list:
    """A ``GamrySignalConst`` as one world step (open circuit when the cell switch is off)."""
    com = dtaq._com
    if pstat._cell != com.CellOn:
        dtaq._meta["vsig"] = 0.0
        return [Step("ocv", duration=signal.duration, record_dt=signal.period)]
    if pstat._mode != signal.mode:
        raise COMError(E_INVALIDARG, "Signal control mode does not match the potentiostat's control mode")
    limits = dtaq._limits(x_var)
    if signal.mode == com.GstatMode:
        dtaq._check_current(pstat, signal.value)
        dtaq._meta["vsig"] = signal.value * pstat._resistor(pstat._ie_range)
        return [Step("cc", value=signal.value, duration=signal.duration, record_dt=signal.period, limits=limits)]
    if abs(signal.value) > COMPLIANCE_V:
        raise COMError(E_COMPLIANCE, f"Requested potential {signal.value:g} V exceeds the instrument's "
                                     f"{COMPLIANCE_V:g} V")
    dtaq._meta["vsig"] = signal.value
    return [Step("cp_e", value=signal.value, duration=signal.duration, record_dt=signal.period, limits=limits)]


class _ReadZ(_EventSource):
    """``GamryReadZ``: one impedance point per ``Measure(freq, ac)``; events carry a ReadZ status."""

    progid = "GamryReadZ"
    _events_interface = "_IGamryReadZEvents"

    def __init__(self, com):
        super().__init__(com)
        self._pstat: _Pstat | None = None
        self._state = "idle"
        self._done_sent = True
        self._status = com.ReadZStatusOk
        self._result: dict[str, float] = {}
        self._message = ""
        self._idc = 0.0
        self._wave: list[tuple] = []

    def Init(self, pstat) -> None:
        if not isinstance(pstat, _Pstat):
            raise COMError(E_INVALIDARG, "Init needs a potentiostat object")
        self._pstat = pstat

    def SetSpeed(self, speed: int) -> None:
        pass

    def SetGain(self, gain: float) -> None:
        pass

    def SetINoise(self, value: float) -> None:
        pass

    def SetVNoise(self, value: float) -> None:
        pass

    def SetIENoise(self, value: float) -> None:
        pass

    def SetZmod(self, ohms: float) -> None:
        pass

    def SetCycleLim(self, lo: int, hi: int) -> None:
        pass

    def SetIdc(self, amps: float) -> None:
        self._idc = float(amps)

    def Measure(self, freq: float, ac: float) -> None:
        if self._pstat is None:
            raise COMError(E_NOT_INIT, "GamryReadZ has not been initialised with a potentiostat")
        pstat = self._pstat
        pstat._ready()
        if not (freq > 0 and ac > 0):
            raise COMError(E_INVALIDARG, "Frequency and AC amplitude must be positive")
        if freq > 1e6 or freq < 1e-5:
            raise COMError(E_INVALIDARG, f"Frequency {freq:g} Hz outside 10 uHz .. 1 MHz")
        if pstat._cell != self._com.CellOn:
            raise COMError(E_INVALIDARG, "Cell is off")
        galv = pstat._mode == self._com.GstatMode
        if galv:
            dc = pstat._voltage / pstat._resistor(pstat._ie_range)
            peak = abs(dc) + math.sqrt(2) * ac
            if peak > COMPLIANCE_A or (not pstat._ie_auto and peak > pstat._full_scale() * 1.0001):
                raise COMError(E_RANGE, f"AC + DC current {peak:g} A exceeds the current range")
        else:
            dc = pstat._voltage
        channel = pstat._channel()
        channel.drain()
        channel.load([Step("eis", frequencies=(float(freq),), amplitude=float(ac), galvanostatic=galv, dc=dc)])
        channel.start()
        pstat._dtaq = self
        self._state, self._done_sent, self._freq = "run", False, float(freq)

    def Stop(self) -> None:
        self._halt("stopped")

    def _halt(self, why: str) -> None:
        if self._state == "run":
            self._pstat._channel().stop()
            self._state, self._status, self._message = "done", self._com.ReadZStatusError, "Stopped"

    def Cook(self, count: int) -> tuple[int, tuple]:
        n = max(0, int(count))
        rows, self._wave = self._wave[:n], self._wave[n:]
        return len(rows), (tuple(r[0] for r in rows), tuple(r[1] for r in rows))

    def StatusMessage(self) -> str:
        return self._message

    def Zfreq(self) -> float:
        return self._value("Zfreq")

    def Zreal(self) -> float:
        return self._value("Zreal")

    def Zimag(self) -> float:
        return self._value("Zimag")

    def Zsig(self) -> float:
        return self._value("Zsig")

    def Zmod(self) -> float:
        return self._value("Zmod")

    def Zphz(self) -> float:
        return self._value("Zphz")

    def Idc(self) -> float:
        return self._value("Idc")

    def Vdc(self) -> float:
        return self._value("Vdc")

    def IERange(self) -> int:
        return self._pstat._ie_range if self._pstat else 0

    def _value(self, key: str) -> float:
        if key not in self._result:
            raise COMError(E_NOT_INIT, "No impedance result available")
        return self._result[key]

    def _pending_events(self) -> list[tuple[str, tuple]]:
        if self._state != "run":
            return []
        pstat = self._pstat
        if pstat._device is None or not pstat._device.plugged:
            return []
        channel = pstat._channel()
        if channel.state != "stop":   # the state before the drain, so the result cannot slip past
            return []
        eis = [s for s in channel.drain() if hasattr(s, "Z")]
        self._state = "done"
        dev = pstat._device
        if channel.ended_by == "unplugged":
            self._status = self._com.ReadZStatusError
            self._message = "Control amplifier overload: no response from the cell"
        elif not eis:
            self._status, self._message = self._com.ReadZStatusError, "No result"
        elif dev.readz_retries > 0:
            dev.readz_retries -= 1
            self._status, self._message = self._com.ReadZStatusRetry, "Current overload; range changed"
        else:
            s = eis[-1]
            z = s.Z
            self._result = {
                "Zfreq": s.freq, "Zreal": z.real, "Zimag": z.imag, "Zsig": 1.0, "Zmod": abs(z),
                "Zphz": math.degrees(math.atan2(z.imag, z.real)), "Idc": s.I, "Vdc": s.Ewe,
            }
            self._wave = [(s.I + s.I_amp * math.sin(2 * math.pi * k / 8), s.Ewe + s.Ewe_amp * math.sin(
                2 * math.pi * k / 8 + math.atan2(z.imag, z.real))) for k in range(8)]
            self._status, self._message = self._com.ReadZStatusOk, "OK"
        self._done_sent = True
        if dev.lost_done > 0:
            dev.lost_done -= 1
            return [("OnDataAvailable", ())]
        return [("OnDataAvailable", ()), ("OnDataDone", (self._status,))]
