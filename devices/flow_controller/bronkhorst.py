"""Driver for Bronkhorst instruments speaking binary propar (FLOW-BUS RS-232 interface, 38400 8N1).

A message is ``DLE STX seq node len data DLE ETX`` with every DLE inside doubled. The reply carries the
request's sequence number, which is how a reply is matched to its request and stale bytes are told apart.
Requests for several parameters go out as one chained message so that reading setpoint and flow together
costs one exchange. Every status other than 0 and every error message raises :class:`ProparError` naming
the status the instrument sent.
"""

from __future__ import annotations

import functools
import itertools
import struct
from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from labctl.devices.errors import InstrumentError, InstrumentTimeout, ProtocolError
from labctl.devices.flow_controller.settings import GasStandard
from labctl.devices.options import DriverDeclaration, SerialOptions, SettingError, Settings, limit_range
from labctl.devices.transport import Port

SERIAL_SETTINGS = {"baudrate": 38400, "bytesize": 8, "parity": "N", "stopbits": 1}
DLE, STX, ETX = 0x10, 0x02, 0x03
_START, _END = bytes([DLE, STX]), bytes([DLE, ETX])
INT8, INT16, INT32, FLOAT, STRING = 0x00, 0x20, 0x40, 0x41, 0x60
FULL_SCALE = 32000


class BronkhorstOptions(SerialOptions):
    """Profile options of a Bronkhorst mass-flow controller."""

    node: int = Field(0x80, ge=1, le=247, description="propar node (128: the instrument on the cable)")
    fluid: str | None = None
    capacity_mL_min: float | None = Field(None, gt=0)
    standard: GasStandard | None = Field(None, description="the certified gas standard this MFC meters, if any")
    baudrate: Literal[9600, 19200, 38400, 57600, 115200] = 38400
    settle_s: float = Field(30.0, gt=0, description="lab time the flow may stay off its setpoint (a new setpoint "
                                                     "settles within seconds) before labctl calls it a fault")
    deviation_rel: float = Field(0.1, gt=0, description="flow off its setpoint by more than this fraction of it "
                                                        "(or deviation_mL_min, whichever is larger) is a deviation")
    deviation_mL_min: float = Field(0.02, gt=0, description="smallest deviation that counts, mL/min")


FLOW_RANGE = limit_range("mL/min", 0.0, None)


class BronkhorstLimits(Settings):
    """Profile limits of the MFC: the setpoints allowed."""

    flow_mL_min: FLOW_RANGE


class BronkhorstSafeState(Settings):
    """The setpoint the MFC is left at."""

    setpoint_mL_min: float | None = Field(None, ge=0)


def _cross_check(options: BronkhorstOptions, limits: BronkhorstLimits, safe: BronkhorstSafeState) -> None:
    cap, flow, setpoint = options.capacity_mL_min, limits.flow_mL_min, safe.setpoint_mL_min
    if cap is not None and flow is not None and flow[1] > cap:
        raise SettingError("limits.flow_mL_min", f"max {flow[1]:g} mL/min exceeds the capacity {cap:g}")
    if setpoint is not None and flow is not None and not flow[0] <= setpoint <= flow[1]:
        raise SettingError("safe_state.setpoint_mL_min", f"{setpoint:g} is outside the flow limits {list(flow)}")


def _describe(options: BronkhorstOptions, limits: BronkhorstLimits) -> dict:
    low, high = limits.flow_mL_min or (0.0, options.capacity_mL_min or float("inf"))
    if options.capacity_mL_min is not None:
        high = min(high, options.capacity_mL_min)
    return {"setpoint_range_mL_min": (max(0.0, low), high) if high != float("inf") else None}


DRIVER = DriverDeclaration(
    "bronkhorst.propar", "flow_controller", "serial", options=BronkhorstOptions, limits=BronkhorstLimits,
    safe_state=BronkhorstSafeState, cross_check=_cross_check, describer=_describe,
    description="Bronkhorst mass-flow controller over propar")

STATUS = {
    1: "process claimed", 2: "unknown command", 3: "unknown process", 4: "unknown parameter",
    5: "wrong parameter type", 6: "parameter value out of range", 7: "network not active",
    8: "time-out waiting for start character", 9: "time-out on the serial line", 10: "hardware memory error",
    11: "node number error", 12: "general communication error", 13: "parameter is read-only",
    14: "PC communication error", 15: "no RS232 connection", 16: "PC out of memory",
    17: "parameter is write-only", 18: "system configuration unknown", 19: "no free node address",
    20: "wrong interface type", 21: "serial port error", 22: "error opening communication",
    23: "communication error", 24: "interface bus master error", 25: "time-out waiting for answer",
    26: "no start character", 27: "error in first digit", 28: "host buffer overflow", 29: "buffer overflow",
    30: "no answer found", 31: "error closing communication", 32: "synchronisation error",
    33: "send error", 34: "protocol error", 35: "module buffer overflow",
}
ERRORS = {1: "colon missing", 2: "first byte", 3: "message length", 4: "protocol error (message rejected)",
          5: "message rejected by the destination", 8: "sender time-out", 9: "no answer from the node"}


class ProparError(InstrumentError):
    """The instrument answered with a non-zero status (``status``) or an error message (``error``)."""

    def __init__(self, instrument, message, reply=None, *, status=None, error=None, index=None):
        self.status, self.error, self.index = status, error, index
        super().__init__(instrument, message, reply)


@dataclass(frozen=True)
class Parameter:
    """A propar parameter: process, parameter number and type (``FLOAT`` travels as INT32)."""

    process: int
    number: int
    type: int
    name: str = ""

    @property
    def wire_type(self) -> int:
        return self.type & 0x60


MEASURE = Parameter(1, 0, INT16, "measure")
SETPOINT = Parameter(1, 1, INT16, "setpoint")
CAPACITY = Parameter(1, 13, FLOAT, "capacity")
FLUID_NAME = Parameter(1, 17, STRING, "fluid name")
CAPACITY_UNIT = Parameter(1, 31, STRING, "capacity unit")
FMEASURE = Parameter(33, 0, FLOAT, "fMeasure")
FSETPOINT = Parameter(33, 3, FLOAT, "fSetpoint")
IDENTIFICATION = Parameter(0, 0, STRING, "identification")
SERIAL_NUMBER = Parameter(113, 3, STRING, "serial number")


def frame(seq: int, node: int, data: bytes) -> bytes:
    """A complete binary propar message with DLE stuffing."""
    payload = bytes([seq & 0xFF, node & 0xFF, len(data)]) + bytes(data)
    return bytes([DLE, STX]) + payload.replace(bytes([DLE]), bytes([DLE, DLE])) + bytes([DLE, ETX])


@functools.lru_cache(maxsize=64)
def request_data(parameters: tuple[Parameter, ...]) -> bytes:
    """The data of a 04 (request) message for *parameters*, chained as the instrument expects."""
    out = bytearray([4])
    for i, p in enumerate(parameters):  # index bytes = the parameter's own numbers, as FlowDDE does
        nxt = parameters[i + 1] if i + 1 < len(parameters) else None
        prev = parameters[i - 1] if i else None
        chained_parm = nxt is not None and nxt.process == p.process
        if prev is None or prev.process != p.process:
            # first of its process: the process byte is chained when another process follows later
            later = any(q.process != p.process for q in parameters[i + 1:])
            out.append(p.process | (0x80 if later else 0))
        out.append(p.number | p.wire_type | (0x80 if chained_parm else 0))
        out += bytes([p.process, p.number | p.wire_type])
        if p.wire_type == STRING:
            out.append(0)
    return bytes(out)


def send_data(command: int, parameter: Parameter, value) -> bytes:
    """The data of a 01/02 (send) message setting one parameter."""
    out = bytearray([command, parameter.process, parameter.number | parameter.wire_type])
    if parameter.type == INT8:
        out.append(int(value) & 0xFF)
    elif parameter.type == INT16:
        out += int(value).to_bytes(2, "big")
    elif parameter.type == INT32:
        out += int(value).to_bytes(4, "big")
    elif parameter.type == FLOAT:
        out += struct.pack(">f", float(value))
    else:
        out += bytes([0]) + str(value).encode("ascii") + b"\x00"
    return bytes(out)


class Propar:
    """One propar node reached through a serial port (``node`` 128 = the instrument on the cable)."""

    def __init__(self, url: str, *, node: int = 0x80, name: str = "propar", timeout: float = 1.0,
                 baudrate: int = 38400):
        if not 1 <= int(node) <= 247:
            raise ValueError(f"{name}: propar node must be 1-247, got {node!r}")
        self.name, self.node = name, int(node)
        self.port = Port(url, name=name, timeout=timeout, **{**SERIAL_SETTINGS, "baudrate": baudrate})
        self._seq = itertools.count(1)

    def close(self) -> None:
        self.port.close()

    # -- exchanges --------------------------------------------------------------------------------
    def exchange(self, data: bytes) -> bytes:
        """Send one message, return the data of the reply with the same sequence number."""
        seq = next(self._seq) & 0xFF
        with self.port.lock:
            self.port.discard_stale()  # leftovers of a failed exchange (after a failure, say)
            try:
                self.port.write(frame(seq, self.node, data))
                while True:  # a late reply to an earlier request is skipped by its sequence number
                    rseq, _node, reply = self._read_frame()
                    if rseq == seq:
                        return reply
            except BaseException:
                self.port.mark_stale()
                raise

    def _read_frame(self) -> tuple[int, int, bytes]:
        # 8 bytes is the shortest message (a one-byte error); read that in one go, then what is missing
        raw = self._read(8, first=True)
        if raw[:2] != _START:
            raise ProtocolError(self.name, "reply does not start with DLE STX", self._rest(raw))
        if DLE not in raw[2:5]:  # fast path: no stuffing in the header, so the length byte tells the size
            size = 7 + raw[4]
            if size > 8:
                raw += self._read(size - 8)
            if raw[-2:] == _END and DLE not in raw[2:-2]:
                return raw[2], raw[3], raw[5:-2]
        body = bytearray()
        buf = bytearray(raw[2:])
        need = None
        i = 0
        while True:
            while i < len(buf):
                b = buf[i]
                if b == DLE:
                    if i + 1 >= len(buf):
                        buf += self._read(1)
                    nxt = buf[i + 1]
                    if nxt == DLE:
                        body.append(DLE)
                        i += 2
                        if len(body) == 3:
                            need = 3 + body[2]
                        continue
                    if nxt == ETX:
                        if need is not None and len(body) != need:
                            raise ProtocolError(self.name, f"reply length byte says {need - 3} data bytes, "
                                                           f"got {len(body) - 3}", bytes(raw[:2] + buf))
                        if len(body) < 4:
                            raise ProtocolError(self.name, "reply too short", bytes(raw[:2] + buf))
                        if i + 2 != len(buf):
                            raise ProtocolError(self.name, "bytes after DLE ETX", bytes(raw[:2] + buf))
                        return body[0], body[1], bytes(body[3:])
                    raise ProtocolError(self.name, "lone DLE inside a reply", bytes(raw[:2] + buf))
                body.append(b)
                i += 1
                if len(body) == 3:
                    need = 3 + body[2]
            missing = (need - len(body) if need is not None and len(body) < need else 0) + 2
            buf += self._read(missing)

    def _read(self, n: int, first: bool = False) -> bytes:
        try:
            return self.port.read_exact(n)
        except InstrumentTimeout as exc:
            if first and exc.reply and exc.reply[:2] != bytes([DLE, STX]):
                raise ProtocolError(self.name, "reply does not start with DLE STX", exc.reply) from None
            if exc.reply:
                raise ProtocolError(self.name, "reply cut short (line noise or wrong baud rate?)",
                                    exc.reply) from None
            raise

    def _rest(self, raw: bytes) -> bytes:
        try:
            return raw + self.port.read_available()
        except InstrumentError:
            return raw

    def _check_status(self, reply: bytes, request: bytes) -> None:
        if len(reply) == 1:
            code = reply[0]
            raise ProparError(self.name, f"error message {code}: {ERRORS.get(code, 'unknown error')}",
                              reply.hex(" "), error=code)
        if len(reply) >= 2 and reply[0] == 0 and reply[1] != 0:
            code = reply[1]
            index = reply[2] if len(reply) > 2 else None
            raise ProparError(self.name, f"status {code}: {STATUS.get(code, 'unknown status')}"
                                         f"{f' at byte {index}' if index is not None else ''} of {request.hex(' ')}",
                              reply.hex(" "), status=code, index=index)

    # -- parameters -------------------------------------------------------------------------------
    def read(self, *parameters: Parameter) -> list:
        """Values of *parameters* (floats, ints, strings), read in one chained request."""
        if not parameters:
            return []
        data = request_data(tuple(parameters))
        reply = self.exchange(data)
        self._check_status(reply, data)
        if not reply or reply[0] != 2:
            raise ProtocolError(self.name, "expected a 02 (send parameter) reply", reply.hex(" "))
        return self._values(reply, list(parameters))

    def write(self, parameter: Parameter, value, *, ack: bool = True) -> None:
        """Set *parameter*; with ``ack`` the instrument's status is checked (any failure raises)."""
        data = send_data(1 if ack else 2, parameter, value)
        if not ack:
            with self.port.lock:
                self.port.write(frame(next(self._seq) & 0xFF, self.node, data))
            return
        reply = self.exchange(data)
        self._check_status(reply, data)
        if len(reply) < 2 or reply[0] != 0:
            raise ProtocolError(self.name, "expected a status reply", reply.hex(" "))

    def _values(self, reply: bytes, parameters: list[Parameter]) -> list:
        values, pos, chained = [], 1, False
        try:
            for p in parameters:
                if not chained:
                    pos += 1  # process byte
                parm = reply[pos]
                pos += 1
                chained = bool(parm & 0x80)
                if parm & 0x60 != p.wire_type:
                    raise ProtocolError(self.name, f"{p.name or p}: reply has the wrong type", reply.hex(" "))
                if p.type == INT8:
                    values.append(reply[pos])
                    pos += 1
                elif p.type == INT16:
                    values.append(int.from_bytes(reply[pos:pos + 2], "big"))
                    pos += 2
                elif p.type == INT32:
                    values.append(int.from_bytes(reply[pos:pos + 4], "big"))
                    pos += 4
                elif p.type == FLOAT:
                    values.append(struct.unpack(">f", reply[pos:pos + 4])[0])
                    pos += 4
                else:
                    size = reply[pos]
                    pos += 1
                    if size == 0:
                        end = reply.index(0, pos)
                        text, pos = reply[pos:end], end + 1
                    else:
                        text, pos = reply[pos:pos + size], pos + size
                        if len(text) != size:
                            raise IndexError
                    values.append(text.decode("ascii").rstrip(" "))
        except (IndexError, ValueError, struct.error, UnicodeDecodeError):
            raise ProtocolError(self.name, "reply does not hold the values asked for", reply.hex(" ")) from None
        if pos != len(reply):
            raise ProtocolError(self.name, "reply holds more than the values asked for", reply.hex(" "))
        return values
