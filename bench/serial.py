"""Command round-trips per second: each serial driver against its TCP simulator, beside a bare socket that
sends the same request bytes to the same simulator and waits for the same reply.

The ratio bare/driver is the driver's overhead (target: <= 1.5x). Run:
``.venv/bin/python bench/serial.py [case ...] [--seconds S]``.

Each entry of :data:`CASES` is ``name: (make_core, driver_query_callable_factory, raw_request_bytes,
reply_terminator)`` where ``make_core(lab) -> ProtocolCore`` builds the simulator on the shared simulated
lab, ``driver_query_callable_factory(url, lab) -> callable`` connects the driver to ``url`` and returns a
no-argument callable doing one command/reply exchange, and the raw request must draw a reply ending with
``reply_terminator`` from the same simulator.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/ holds concurrent.py: off the import path, or it would stand in for the standard library's
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import pathlib
import socket
import time

# Run as a script, this file's folder comes first on sys.path and its name would hide pyserial.
_HERE = pathlib.Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if pathlib.Path(p or ".").resolve() != _HERE]


def _lab():
    from labctl.sim.lab import SimLab

    return SimLab({"seed": 0, "noise": 0.0})


# -- VICI two-position actuator: CP ------------------------------------------------------------------
def _vici_core(lab):
    from labctl.sim.serial.vici import ViciValve

    return ViciValve("bench_valve", lab.world)


def _vici_driver(url, lab):
    from labctl.devices.valve import ViciActuator

    return ViciActuator(url, clock=lab.clock, name="bench_valve").position


# -- Bronkhorst propar: request fMeasure (33/0) ------------------------------------------------------
def _propar_core(lab):
    from labctl.sim.serial.bronkhorst import ProparInstrument

    return ProparInstrument("bench_mfc", lab.world, node=128)


def _propar_driver(url, lab):
    from labctl.devices.flow_controller import Propar
    from labctl.devices.flow_controller.bronkhorst import FMEASURE

    driver = Propar(url, node=128, name="bench_mfc")
    return lambda: driver.read(FMEASURE)


# -- New Era NE-1000: RAT query (basic mode) --------------------------------------------------------
def _newera_core(lab):
    from labctl.sim.serial.newera import NE1000

    return NE1000("bench_pump", lab.world, syringe_diameter_mm=4.78, syringe_volume_uL=1000.0)


def _newera_driver(url, lab):
    from labctl.devices.syringe_pump.newera import NewEraPump

    return NewEraPump(url, clock=lab.clock, name="bench_pump").rate


# -- Harvard PHD ULTRA: irate query ------------------------------------------------------------------
def _harvard_core(lab):
    from labctl.sim.serial.harvard import PhdUltra

    return PhdUltra("bench_d2o", lab.world, syringe_diameter_mm=3.26, syringe_volume_uL=500.0)


def _harvard_driver(url, lab):
    from labctl.devices.syringe_pump.harvard import HarvardPump

    return HarvardPump(url, clock=lab.clock, name="bench_d2o").rate


# -- SRS RGA: ID? ----------------------------------------------------------------------------------
def _rga_core(lab):
    from labctl.sim.serial.srs import RGA

    return RGA("bench_rga", lab.world)


def _rga_driver(url, lab):
    from labctl.devices.mass_spectrometer.srs import SrsRga

    return SrsRga(url, name="bench_rga").identify


CASES = {
    "vici.CP": (_vici_core, _vici_driver, b"CP\r", b"\r"),
    "srs_rga.ID?": (_rga_core, _rga_driver, b"ID?\r", b"\n\r"),
    "propar.fMeasure": (_propar_core, _propar_driver,
                        bytes.fromhex("10 02 01 80 05 04 21 40 21 40 10 03"), b"\x10\x03"),
    "newera.RAT": (_newera_core, _newera_driver, b"0RAT\r", b"\x03"),
    "harvard.irate": (_harvard_core, _harvard_driver, b"irate\r", b":"),
}


ROUNDS = 10


def _rate(fn, seconds: float) -> float:
    fn()  # warm up
    n, t0 = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < seconds:
        for _ in range(20):
            fn()
        n += 20
    return n / elapsed


def _raw(host: str, port: int, request: bytes, terminator: bytes):
    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def once():
        sock.sendall(request)
        buf = b""
        while not buf.endswith(terminator):
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError("simulator closed the connection")
            buf += chunk

    return once, sock


def run(names=None, seconds: float = 2.0) -> dict[str, tuple[float, float, float]]:
    from labctl.sim.serial.serve import TcpServer

    lab = _lab()
    results = {}
    try:
        for name in names or CASES:
            make_core, make_query, request, terminator = CASES[name]
            with TcpServer(make_core(lab)) as server:
                query = make_query(server.url, lab)
                raw, sock = _raw(server.host, server.port, request, terminator)
                try:
                    # alternate short windows and keep the best of each: the machine is shared and noisy
                    driver_rate = raw_rate = 0.0
                    for _ in range(ROUNDS):
                        driver_rate = max(driver_rate, _rate(query, seconds / ROUNDS))
                        raw_rate = max(raw_rate, _rate(raw, seconds / ROUNDS))
                finally:
                    sock.close()
            results[name] = (driver_rate, raw_rate, raw_rate / driver_rate)
            print(f"{name:24s} driver {driver_rate:9.0f}/s   bare socket {raw_rate:9.0f}/s   "
                  f"overhead {raw_rate / driver_rate:5.2f}x", flush=True)
    finally:
        close = getattr(lab, "close", None)
        if close:
            close()
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", help=f"cases to run (default all: {', '.join(CASES)})")
    parser.add_argument("--seconds", type=float, default=2.0, help="time per case and side")
    args = parser.parse_args()
    run(args.cases or None, args.seconds)
