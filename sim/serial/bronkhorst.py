"""A Bronkhorst mass-flow controller's propar interface (RS-232, 38400 8N1) over the world's MFC.

Binary mode: ``DLE STX seq node len data DLE ETX``, every DLE inside doubled, no checksum. ASCII mode on the
same port: ``:`` + hex of ``len+1, node, data`` + CR LF (no sequence number). The first data byte is the
command: 01 send parameters with ack (answered with a status message ``00 status index``), 02 send without
ack (answered only on an error), 03 broadcast (never answered), 04 request parameters (answered with an
02 message carrying the values, laid out with the request's process/parameter indices and chaining).
Errors in the message itself (a length that does not match) get a one-byte error message (04 protocol
error); a message for a node that is not on the bus gets 09 (response timeout).

Parameters (process/parameter, type): identification 0/0 (string), node address 0/1, next node 0/3,
channels 0/18 (int8), measure 1/0 and setpoint 1/1 (int16, 32000 = 100 % of capacity), control mode 1/4,
capacity 1/13 (float), fluid set 1/16, fluid name 1/17 (string), capacity unit 1/31 (string), fMeasure 33/0,
fSetpoint 33/3 (floats in capacity units), device type, model, serial, firmware 113/1, 2, 3, 5 (strings).
Status replies: 03 unknown process, 04 unknown parameter, 05 wrong type, 06 value out of range,
13 read-only parameter, 02 unknown command.
"""

from __future__ import annotations

import struct
import zlib

from labctl.sim.serial.core import ProtocolCore

DLE, STX, ETX = 0x10, 0x02, 0x03
INT8, INT16, INT32, STRING = 0x00, 0x20, 0x40, 0x60
FLOAT = 0x41  # on the wire a float is an INT32-typed parameter

OK, COMMAND, PROC_NUMBER, PARM_NUMBER, PARM_TYPE, PARM_VALUE, READONLY = 0, 2, 3, 4, 5, 6, 13
ERR_PROTOCOL, ERR_TIMEOUT = 4, 9
FULL_SCALE = 32000


class _Reject(Exception):
    def __init__(self, status: int):
        self.status = status


class ProparInstrument(ProtocolCore):
    """A Bronkhorst instrument's propar firmware over an MFC of the world."""

    serial_settings = {"baudrate": 38400, "bytesize": 8, "parity": "N", "stopbits": 1}

    def __init__(self, name: str, world, *, node: int = 0x80, address: int | None = None,
                 fluid: str | None = None, capacity_mL_min: float | None = None, **_driver_options):
        super().__init__(name)
        kwargs = {}
        if capacity_mL_min is not None:
            kwargs["capacity_mL_min"] = float(capacity_mL_min)
        if fluid is not None:
            kwargs["fluid"] = str(fluid)
        self.world = world
        self.mfc = world.mfc(name, **kwargs)
        if address is None:
            address = node if 1 <= int(node) <= 125 else 3
        self.address = int(address)
        self.serial_number = f"M{zlib.crc32(name.encode()) % 10**8:08d}A"
        self.control_mode = 0
        self._rx = bytearray()
        self._params = self._table()

    # -- parameters -------------------------------------------------------------------------------
    def _table(self):
        """(process, parameter) -> (type, read(), write(value) or None)."""
        mfc = self.mfc

        def measure():
            raw = round(mfc.flow_mL_min / mfc.capacity_mL_min * FULL_SCALE)
            return min(max(raw, 0), 41942)

        def set_setpoint(raw):
            if raw > FULL_SCALE:
                raise _Reject(PARM_VALUE)
            mfc.setpoint_mL_min = raw / FULL_SCALE * mfc.capacity_mL_min

        def set_fsetpoint(value):
            if not 0.0 <= value <= mfc.capacity_mL_min:
                raise _Reject(PARM_VALUE)
            mfc.setpoint_mL_min = value

        def set_control_mode(value):
            if value > 22:
                raise _Reject(PARM_VALUE)
            self.control_mode = value

        def wink(value):
            if not (isinstance(value, str) and value.strip() and value.strip()[0] in "0123456789"):
                raise _Reject(PARM_VALUE)

        return {
            (0, 0): (STRING, lambda: "MFA" + self.serial_number, wink),
            (0, 1): (INT8, lambda: self.address, None),
            (0, 3): (INT8, lambda: 0, None),
            (0, 18): (INT8, lambda: 1, None),
            (1, 0): (INT16, measure, None),
            (1, 1): (INT16, lambda: round(mfc.setpoint_mL_min / mfc.capacity_mL_min * FULL_SCALE), set_setpoint),
            (1, 4): (INT8, lambda: self.control_mode, set_control_mode),
            (1, 13): (FLOAT, lambda: mfc.capacity_mL_min, None),
            (1, 16): (INT8, lambda: 0, None),
            (1, 17): (STRING, lambda: mfc.fluid, None),
            (1, 31): (STRING, lambda: "mln/min", None),
            (33, 0): (FLOAT, lambda: mfc.flow_mL_min, None),
            (33, 3): (FLOAT, lambda: mfc.setpoint_mL_min, set_fsetpoint),
            (113, 1): (STRING, lambda: "DMFC", None),
            (113, 2): (STRING, lambda: "F-201CV-5K0-AAD-22-V", None),
            (113, 3): (STRING, lambda: self.serial_number, None),
            (113, 5): (STRING, lambda: "V1.02", None),
        }

    def _lookup(self, proc: int, parm: int, wire_type: int):
        if not any(p == proc for p, _ in self._params):
            raise _Reject(PROC_NUMBER)
        try:
            kind, read, write = self._params[(proc, parm)]
        except KeyError:
            raise _Reject(PARM_NUMBER) from None
        if (kind & 0x60) != wire_type:
            raise _Reject(PARM_TYPE)
        return kind, read, write

    # -- framing ----------------------------------------------------------------------------------
    def receive(self, data: bytes) -> bytes:
        self._rx += data
        out = bytearray()
        while True:
            frame = self._next_frame()
            if frame is None:
                return bytes(out)
            out += frame

    def _next_frame(self) -> bytes | None:
        """Handle the first complete message in the buffer; ``None`` when there is none yet."""
        rx = self._rx
        # drop anything before a start (DLE STX or ':')
        while rx and rx[0] not in (DLE, ord(":")):
            del rx[0]
        if not rx:
            return None
        if rx[0] == ord(":"):
            end = rx.find(b"\r\n")
            if end < 0:
                if len(rx) > 600:
                    del rx[:1]
                return None
            line = bytes(rx[1:end])
            del rx[:end + 2]
            return self._ascii(line)
        if len(rx) < 2:
            return None
        if rx[1] != STX:
            del rx[0]
            return b""
        body, i = bytearray(), 2
        while i < len(rx):
            b = rx[i]
            if b == DLE:
                if i + 1 >= len(rx):
                    return None
                nxt = rx[i + 1]
                if nxt == DLE:
                    body.append(DLE)
                    i += 2
                    continue
                if nxt == ETX:
                    del rx[:i + 2]
                    return self._binary(bytes(body))
                del rx[:i]  # a new start inside a frame: the frame was cut short
                return b""
            body.append(b)
            i += 1
        return None

    @staticmethod
    def _stuff(payload: bytes) -> bytes:
        return bytes([DLE, STX]) + payload.replace(bytes([DLE]), bytes([DLE, DLE])) + bytes([DLE, ETX])

    def _binary(self, body: bytes) -> bytes:
        if len(body) < 3:
            return b""
        seq, node, length, data = body[0], body[1], body[2], body[3:]
        reply = self._message(node, length, data)
        if reply is None:
            return b""
        return self._stuff(bytes([seq, self.address, len(reply)]) + reply)

    def _ascii(self, line: bytes) -> bytes:
        try:
            raw = bytes.fromhex(line.decode("ascii"))
        except ValueError:
            return b""
        if len(raw) < 2:
            return b""
        length, node, data = raw[0] - 1, raw[1], raw[2:]
        reply = self._message(node, length, data)
        if reply is None:
            return b""
        payload = bytes([len(reply) + 1, self.address]) + reply
        return b":" + payload.hex().upper().encode("ascii") + b"\r\n"

    def power_cycle(self) -> None:
        """Power was interrupted: the controller starts with a zero setpoint (its power-up default), so the
        flow stops."""
        with self.lock:
            self.mfc.setpoint_mL_min = 0.0

    # -- messages ---------------------------------------------------------------------------------
    def _message(self, node: int, length: int, data: bytes) -> bytes | None:
        if node not in (0x80, self.address):
            return bytes([ERR_TIMEOUT])  # nobody on the bus answers to that node
        if length != len(data) or not data:
            return bytes([ERR_PROTOCOL])
        if self.refusing:  # the instrument's own refusal: a status message, "parameter value" error
            return bytes([0, PARM_VALUE, 0])
        command = data[0]
        if command == 4:
            return self._request(data)
        if command in (1, 2, 3):
            status, index = self._send(data)
            if command == 3 or (command == 2 and status == OK):
                return None
            return bytes([0, status, min(index, 255)])
        return bytes([0, COMMAND, 0])

    def _request(self, data: bytes) -> bytes:
        out = bytearray([2])
        pos, parm_chained = 1, False
        try:
            while pos < len(data):
                head = pos
                if not parm_chained:
                    proc_index = data[pos]
                    pos += 1
                parm_index = data[pos]
                proc, parm = data[pos + 1] & 0x7F, data[pos + 2]
                pos += 3
                wire_type = parm & 0x60
                if (parm_index & 0x60) != wire_type:
                    raise _Reject(PARM_TYPE)
                kind, read, _ = self._lookup(proc, parm & 0x1F, wire_type)
                size = 0
                if wire_type == STRING:
                    size = data[pos]
                    pos += 1
                if not parm_chained:
                    out.append(proc_index)
                out.append(parm_index)
                out += self._encode(kind, read(), size)
                parm_chained = bool(parm_index & 0x80)
        except IndexError:
            return bytes([0, PARM_NUMBER if pos > 1 else COMMAND, pos])
        except _Reject as rej:
            return bytes([0, rej.status, head])
        return bytes(out)

    def _send(self, data: bytes) -> tuple[int, int]:
        pos, parm_chained = 1, False
        try:
            while pos < len(data):
                head = pos
                if not parm_chained:
                    proc = data[pos] & 0x7F
                    pos += 1
                parm_byte = data[pos]
                pos += 1
                wire_type = parm_byte & 0x60
                kind, _, write = self._lookup(proc, parm_byte & 0x1F, wire_type)
                value, pos = self._decode(kind, data, pos)
                if write is None:
                    raise _Reject(READONLY)
                write(value)
                parm_chained = bool(parm_byte & 0x80)
        except (IndexError, ValueError):
            return PARM_VALUE, pos
        except _Reject as rej:
            return rej.status, head
        return OK, pos

    @staticmethod
    def _encode(kind: int, value, size: int) -> bytes:
        if kind == INT8:
            return bytes([int(value) & 0xFF])
        if kind == INT16:
            return int(value).to_bytes(2, "big", signed=False)
        if kind == INT32:
            return int(value).to_bytes(4, "big", signed=False)
        if kind == FLOAT:
            return struct.pack(">f", float(value))
        text = str(value).encode("ascii")
        if size == 0:
            return bytes([0]) + text + b"\x00"
        return bytes([size]) + text[:size].ljust(size, b" ")

    @staticmethod
    def _decode(kind: int, data: bytes, pos: int):
        if kind == INT8:
            return data[pos], pos + 1
        if kind == INT16:
            if pos + 2 > len(data):
                raise IndexError
            return int.from_bytes(data[pos:pos + 2], "big"), pos + 2
        if kind in (INT32, FLOAT):
            if pos + 4 > len(data):
                raise IndexError
            chunk = data[pos:pos + 4]
            value = struct.unpack(">f", chunk)[0] if kind == FLOAT else int.from_bytes(chunk, "big")
            return value, pos + 4
        size = data[pos]
        pos += 1
        if size == 0:
            end = data.index(0, pos)
            return data[pos:end].decode("ascii", errors="replace"), end + 1
        if pos + size > len(data):
            raise IndexError
        return data[pos:pos + size].decode("ascii", errors="replace"), pos + size


Core = ProparInstrument
