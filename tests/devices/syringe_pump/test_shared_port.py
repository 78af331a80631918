"""One lock per port: threads sharing a driver, or drivers sharing a port, never interleave exchanges."""

from __future__ import annotations

import threading

from labctl.devices.syringe_pump.newera import NewEraPump
from labctl.sim.serial.newera import NE1000

ROUNDS = 60


def _core(lab):
    return NE1000("pump", lab.world, syringe_diameter_mm=4.78, syringe_volume_uL=1000.0, contents="electrolyte",
                  feeds="liquid")


def _hammer(queries) -> list[str]:
    """Run each ``(ask, expected)`` pair ROUNDS times in its own thread, all at once; return the mismatches
    and errors."""
    problems: list[str] = []
    start = threading.Barrier(len(queries))

    def worker(ask, expected):
        start.wait()
        for _ in range(ROUNDS):
            try:
                got = ask()
            except Exception as exc:  # a reply meant for the other thread fails to parse
                problems.append(f"{type(exc).__name__}: {exc}")
                return
            if got != expected:
                problems.append(f"{expected!r} asked, {got!r} answered")

    threads = [threading.Thread(target=worker, args=q) for q in queries]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return problems


def test_threads_sharing_one_driver_get_their_own_replies(lab, serve):
    pump = NewEraPump(serve(_core(lab)), clock=lab.clock, name="pump", timeout=2.0)
    try:
        pump.set_rate(240)
        queries = [(pump.diameter, 4.78), (pump.rate, 240.0), (pump.version, "NE1000V3.928")]
        assert [ask() for ask, _ in queries] == [want for _, want in queries]
        assert _hammer(queries) == []
    finally:
        pump.close()


def test_two_drivers_opened_on_one_port_share_its_lock(lab, serve):
    """Two objects opened on the same device path (a plan's and a monitor's, say) read one byte stream:
    only the lock shared by URL keeps each reply with its request."""
    url = serve(_core(lab))
    first = NewEraPump(url, clock=lab.clock, name="pump", timeout=2.0)
    second = NewEraPump(url, clock=lab.clock, name="pump", timeout=2.0)
    try:
        assert first.port.lock is second.port.lock
        first.set_rate(240)
        assert _hammer([(first.diameter, 4.78), (second.rate, 240.0)]) == []
    finally:
        first.close()
        second.close()
