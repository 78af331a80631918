"""New Era pumps daisy-chained on one RS-232 line (addresses 0-99): one open port shared by every driver."""

from __future__ import annotations

import threading

import pytest
import serial

from labctl.devices.syringe_pump.newera import NewEraPump, frame_safe
from labctl.devices.transport import open_lines
from labctl.sim.serial.newera import NE1000, NE1000Chain


def _chain(lab, addresses=(1, 7)) -> NE1000Chain:
    pumps = [NE1000(f"pump{a}", lab.world, address=a, syringe_diameter_mm=4.78, syringe_volume_uL=1000.0,
                    contents="electrolyte", feeds="liquid" if i == 0 else None) for i, a in enumerate(addresses)]
    return NE1000Chain("chain", pumps)


def _open(url, lab, address, safe_mode_timeout_s=0):
    return NewEraPump(url, address=address, clock=lab.clock, name=f"pump{address}", timeout=2.0,
                      safe_mode_timeout_s=safe_mode_timeout_s)


def _line_users(url) -> int:
    return next((n for key, n in open_lines().items() if key == url), 0)


@pytest.mark.parametrize("safe_mode_timeout_s", [0, 4])
def test_two_pumps_on_one_line_share_one_port(lab, serve, safe_mode_timeout_s):
    chain = _chain(lab)
    url = serve(chain)
    first = _open(url, lab, 1, safe_mode_timeout_s)
    second = _open(url, lab, 7, safe_mode_timeout_s)
    try:
        assert first.port.line is second.port.line and _line_users(url) == 2  # one serial object
        first.set_rate(240)
        second.set_rate(600)
        first.run()
        assert (first.rate(), second.rate()) == (240, 600)
        assert first.status() == "infusing" and second.status() == "stopped"
        lab.clock.advance(600)
        assert chain.pumps[0].pump.infused_uL == pytest.approx(40.0, abs=1e-6)
        assert chain.pumps[1].pump.infused_uL == 0

        first.stop()
        first.close()  # the other pump keeps the line
        assert _line_users(url) == 1
        second.run()
        lab.clock.advance(60)
        assert second.status() == "infusing" and second.dispensed()[0] == pytest.approx(10.0, abs=0.01)
        second.stop()
    finally:
        first.close()
        second.close()
    assert _line_users(url) == 0


def test_threads_driving_chained_pumps_get_their_own_replies(lab, serve):
    url = serve(_chain(lab))
    pumps = [_open(url, lab, 1), _open(url, lab, 7)]
    pumps[0].set_rate(240)
    pumps[1].set_rate(600)
    problems: list[str] = []
    start = threading.Barrier(2)

    def worker(pump, want):
        start.wait()
        for _ in range(40):
            try:
                got = pump.rate()
            except Exception as exc:
                problems.append(f"{type(exc).__name__}: {exc}")
                return
            if got != want:
                problems.append(f"{pump.name}: {got!r} instead of {want!r}")

    threads = [threading.Thread(target=worker, args=(p, w)) for p, w in zip(pumps, (240.0, 600.0), strict=False)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for p in pumps:
        p.close()
    assert problems == []


def test_bytes_on_the_wire_carry_each_address(expected):
    ok = {a: b"\x02%02dS\x03" % a for a in (1, 2)}
    url, _ = expected([
        (frame_safe("1SAF0"), ok[1]), (b"1VER\r", b"\x0201SNE1000V3.928\x03"),
        (frame_safe("2SAF0"), ok[2]), (b"2VER\r", b"\x0202SNE1000V3.928\x03"),
        (b"1RAT120UH\r", ok[1]), (b"2RAT240UH\r", ok[2]),
        (b"1RUN\r", b"\x0201I\x03"), (b"2\r", ok[2]),
        (b"2RUN\r", b"\x0202I\x03"), (b"1STP\r", ok[1]), (b"2\r", b"\x0202I\x03"),
    ])
    first = NewEraPump(url, address=1, name="pump1", timeout=0.1)
    second = NewEraPump(url, address=2, name="pump2", timeout=0.1)
    first.set_rate(120)
    second.set_rate(240)
    first.run()
    assert second.status() == "stopped"
    second.run()
    first.stop()
    first.close()
    assert second.running()
    second.close()


def test_a_port_that_opens_exclusively_serves_the_whole_chain(lab, monkeypatch):
    """What Windows does with a COM port: a second open fails with "Access is denied"."""
    from labctl.sim.serial import install_url_handler, register, unregister

    opened: list[str] = []
    real_open = serial.serial_for_url

    def exclusive_open(url, *args, **kwargs):
        if url in opened:
            raise serial.SerialException(f"could not open port '{url}': PermissionError(13, 'Access is denied.')")
        port = real_open(url, *args, **kwargs)
        real_close = port.close
        opened.append(url)

        def close():
            if url in opened:
                opened.remove(url)
            real_close()

        port.close = close
        return port

    monkeypatch.setattr(serial, "serial_for_url", exclusive_open)
    install_url_handler()
    register("chain-exclusive", _chain(lab))
    try:
        first = _open("sim://chain-exclusive", lab, 1)
        second = _open("sim://chain-exclusive", lab, 7)
        assert opened == ["sim://chain-exclusive"]
        first.set_rate(120)
        second.set_rate(240)
        first.close()
        assert second.rate() == 240 and opened == ["sim://chain-exclusive"]
        second.close()
        assert opened == []
        third = _open("sim://chain-exclusive", lab, 1)  # a fresh open once the line was let go
        assert third.rate() == 120
        third.close()
    finally:
        unregister("chain-exclusive")
