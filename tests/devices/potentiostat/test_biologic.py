"""The BioLogic backend against the EClib fake: SDK call sequence, parameters on the wire, decoded rows,
vendor errors, unplugged channels, early ends and data that arrive after a stop."""

import ctypes
import threading
import time

import pytest

from labctl.devices.errors import InstrumentError
from labctl.devices.potentiostat.biologic import BioLogicBackend, BioLogicError, ChannelFault
from labctl.devices.potentiostat.biologic.structures import CurrentValues, DataBuffer, DataInfo
from labctl.devices.potentiostat.techniques import CV, OCV, PEIS, Galvanostatic, Potentiostatic

I_PLATE = 0.5e-3 * 1.767   # 0.5 mA/cm^2 on the coin cell


def test_connect_loads_firmware_once_and_shares_one_connection(eclib, closing):
    one = BioLogicBackend(eclib, "vmp3", 1)
    two = BioLogicBackend(eclib, "vmp3", 2)
    info = one.connect()
    assert info == {"model": "VMP3", "serial": "315001", "firmware": "601", "channel": 1}
    assert eclib.calls == ["BL_Connect", "BL_GetChannelsPlugged", "BL_GetChannelInfos", "BL_LoadFirmware",
                           "BL_GetChannelInfos"]
    two.connect()
    assert eclib.calls.count("BL_Connect") == 1          # channel 2 rides on the same connection
    assert eclib.calls.count("BL_LoadFirmware") == 2     # its own firmware
    one.disconnect()
    assert "BL_Disconnect" not in eclib.calls
    two.disconnect()
    assert eclib.calls.count("BL_Disconnect") == 1
    again = closing(BioLogicBackend(eclib, "vmp3", 1), "disconnect")
    again.connect()
    assert eclib.calls.count("BL_Connect") == 2 and eclib.calls.count("BL_LoadFirmware") == 2  # loaded already


def test_unplugged_channel_is_refused_and_releases_the_connection(eclib):
    with pytest.raises(InstrumentError, match=r"channel 7 is not plugged .*plugged: \[1, 2, 3, 4\]"):
        BioLogicBackend(eclib, "vmp3", 7).connect()
    assert eclib.calls[-1] == "BL_Disconnect"


def test_connection_failure_carries_code_advice_and_library_words(eclib):
    eclib.fail("BL_Connect", -201)
    with pytest.raises(BioLogicError) as info:
        BioLogicBackend(eclib, "vmp3", 1).connect()
    assert info.value.code == -201
    assert "BL_Connect returned -201" in str(info.value) and "check the address" in str(info.value)
    assert info.value.reply == "cannot establish connection with the instrument"
    with pytest.raises(BioLogicError, match="-201"):
        BioLogicBackend(eclib, "192.168.0.20", 1).connect()   # nothing answers at that address


def test_ecc_file_refused_by_foreign_firmware_says_what_to_do(eclib, backend):
    eclib.foreign_firmware(1)
    backend.connect()
    with pytest.raises(BioLogicError) as info:
        backend.load(OCV(10))
    assert info.value.code == -401
    assert "reload the firmware" in str(info.value) and "close EC-Lab" in str(info.value)


def test_cp_with_cutoff_goes_out_as_cplimit_with_test_encoding(eclib, backend):
    backend.connect()
    backend.load(Galvanostatic("0.8835 mA", e_max="1 V", e_min="-0.5 V", record_dt="2 s"))
    ecc, params = eclib.loaded(1)
    assert ecc == "cplimit.ecc"
    assert params["Current_step"] == pytest.approx(8.835e-4)
    assert params["Record_every_dT"] == 2.0
    assert (params["Test1_Config"], params["Test1_Value"]) == (5, 1.0)       # Ewe > 1 V
    assert (params["Test2_Config"], params["Test2_Value"]) == (1, -0.5)      # Ewe < -0.5 V
    assert params["Test3_Config"] == 0 and params["Exit_Cond"] == 2          # then stop
    backend.load(Potentiostatic("0.1 V", "10 s", i_max="1 mA"))
    ecc, params = eclib.loaded(1)
    assert ecc == "calimit.ecc" and params["Test1_Config"] == 101             # I > 1 mA
    backend.load(Galvanostatic("-1 mA", charge="3.6 C"))
    ecc, params = eclib.loaded(1)
    assert ecc == "cp.ecc" and params["Duration_step"] == pytest.approx(3600.0)  # charge at constant current


def test_cv_and_peis_parameters_on_the_wire(eclib, backend):
    backend.connect()
    backend.load(CV("0.5 V", "1.5 V", "0.2 V", "0.4 V", "20 mV/s", cycles=3))
    ecc, p = eclib.loaded(1)
    assert ecc == "cv.ecc"
    assert p["Voltage_step"] == [0.5, 1.5, 0.2, 0.5, 0.4]
    assert p["Scan_Rate"] == [0.02] * 5 and p["N_Cycles"] == 2 and p["Record_every_dE"] == 0.001
    backend.load(PEIS("1 MHz", "0.1 Hz", 10, "10 mV"))
    ecc, p = eclib.loaded(1)
    assert ecc == "peis.ecc" and p["Frequency_number"] == 71 and p["Amplitude_Voltage"] == 0.01
    assert (p["Initial_frequency"], p["Final_frequency"], p["vs_initial"]) == (1e6, 0.1, True)


def test_galvanostatic_rows_decode_time_current_and_charge(clock, eclib, backend):
    backend.connect()
    backend.load(Galvanostatic(-I_PLATE, duration="100 s", record_dt="1 s"))
    backend.start()
    assert eclib.calls[-1] == "BL_StartChannel"
    assert backend.read_instant()["state"] == "run"
    clock.advance(150)
    rows, running = backend.poll()
    assert not running and backend.ended_by == "done"
    assert [round(r["time"], 4) for r in rows] == [float(k) for k in range(101)]
    assert all(r["I"] == pytest.approx(-I_PLATE, rel=1e-3) for r in rows)
    assert rows[-1]["Q"] == pytest.approx(-I_PLATE * 100, rel=1e-4)
    assert 0 < rows[1]["Ewe"] < rows[0]["Ewe"]        # the potential falls towards plating
    instant = backend.read_instant()
    assert instant["state"] == "stop" and abs(instant["I"]) < 1e-9     # open circuit


def test_a_limit_ends_the_technique_early(clock, backend):
    backend.connect()
    backend.load(Galvanostatic(-I_PLATE, duration="60 s", record_dt="1 s"))
    backend.start()
    clock.advance(61)
    backend.poll()
    # A minute's worth of sodium strips long before the hour is up.
    backend.load(Galvanostatic(I_PLATE, e_max="1 V", duration="1 h", record_dt="1 s"))
    backend.start()
    clock.advance(3600)
    rows, running = backend.poll()
    assert not running and backend.ended_by == "limit"
    assert rows[-1]["Ewe"] >= 1.0 > rows[-2]["Ewe"]
    assert rows[-1]["time"] < 60


def test_get_data_gives_at_most_1000_words_and_rows_arrive_after_stop(clock, eclib, backend):
    backend.connect()
    backend.load(Galvanostatic(-I_PLATE, duration="10 s", record_dt="1 ms"))
    backend.start()
    clock.advance(2.5)
    backend.stop()
    # Straight from the library: rows still come after the channel stopped, 200 five-word rows at a time.
    conn = backend._conn
    buf, info, values = DataBuffer(), DataInfo(), CurrentValues()
    assert eclib.BL_GetData(conn.id, ctypes.c_uint8(0), ctypes.byref(buf), ctypes.byref(info),
                            ctypes.byref(values)) == 0
    assert (info.NbRows, info.NbCols, info.TechniqueID, values.State) == (200, 5, 102, 0)
    rows, running = backend.poll()      # the backend drains the rest until a call returns 0 rows
    assert not running and backend.ended_by == "stopped"
    assert len(rows) == 2501 - 200
    assert rows[-1]["time"] == pytest.approx(2.5, abs=1e-4)
    assert eclib.calls.count("BL_GetData") >= 1 + (2301 + 199) // 200 + 1


def test_vendor_error_while_polling_is_raised_with_advice(clock, eclib, backend):
    backend.connect()
    backend.load(OCV(10))
    backend.start()
    eclib.fail("BL_GetData", -405)
    with pytest.raises(BioLogicError, match=r"-405 \(instrument memory full\): stop the channel"):
        backend.poll()


def test_technique_ends_when_the_cell_is_unplugged(clock, world, backend):
    backend.connect()
    backend.load(OCV("10 min", record_dt="1 s"))
    backend.start()
    clock.advance(30)
    world.connect("vmp3:1", None)
    clock.advance(30)
    with pytest.raises(ChannelFault, match=r"^vmp3_1: OCV ended at t = 30 s of 600 s: the control amplifier "
                                           r"saturated, Ewe went over range") as ended:
        backend.poll()
    assert ended.value.reply == "Saturation=1 Eoverflow=1"
    rows, running = backend.poll()   # what was recorded up to the fault, once
    assert not running and backend.ended_by == "stopped"
    assert rows[-1]["time"] == pytest.approx(30, abs=1)
    assert backend.poll() == ([], False)


def test_leads_coming_off_mid_step_end_a_galvanostatic_run_with_a_named_fault(clock, world, backend):
    backend.connect()
    backend.load(Galvanostatic("-0.1 mA", duration="30 min", record_dt="10 s"))
    backend.start()
    clock.advance(600)
    world.inject_fault("vmp3:1", "unplugged")
    clock.advance(60)
    with pytest.raises(ChannelFault, match=r"^vmp3_1: \w+ ended at t = 600 s of 1800 s: .*cell lead comes off"):
        backend.poll()
    rows, running = backend.poll()
    assert not running and rows[-1]["time"] == pytest.approx(600, abs=10)
    world.clear_fault("vmp3:1")
    backend.load(Galvanostatic("-0.1 mA", duration="1 min", record_dt="10 s"))
    backend.start()   # a new start clears the flags: the technique runs to its end
    clock.advance(61)
    rows, running = backend.poll()
    assert not running and backend.ended_by == "done"


def test_cv_gives_the_points_its_range_and_step_imply(clock, backend):
    backend.connect()
    cv = CV("0.5 V", "1.5 V", "0.2 V", "0.5 V", "20 mV/s", step="1 mV")
    backend.load(cv)
    backend.start()
    clock.advance(cv.duration() + 5)
    rows, running = backend.poll()
    assert not running and backend.ended_by == "done"
    assert len(rows) == cv.expected_points() == 2601
    assert max(r["Ewe"] for r in rows) == pytest.approx(1.5, abs=1e-3)
    assert min(r["Ewe"] for r in rows) == pytest.approx(0.2, abs=1e-3)


def test_peis_rows_are_an_impedance_spectrum(clock, world, backend):
    backend.connect()
    peis = PEIS("100 kHz", "1 Hz", 5, "10 mV")
    backend.load(peis)
    backend.start()
    clock.advance(600)
    rows, running = backend.poll()
    assert not running and backend.ended_by == "done"
    assert [r["freq"] for r in rows] == pytest.approx(peis.frequencies(), rel=1e-6)
    cell = world.cell("coin")
    for r in rows:
        z = cell.impedance(r["freq"])
        assert complex(r["Zre"], r["Zim"]) == pytest.approx(z, rel=0.05)
        assert r["Zmod"] == pytest.approx(abs(complex(r["Zre"], r["Zim"])), rel=1e-6)


class _OneCallAtATime:
    """The EClib as the vendor ships it: not safe for two calls at once; counts any overlap."""

    def __init__(self, lib):
        self._lib, self._inside, self.overlaps = lib, 0, 0
        self._count = threading.Lock()

    def __getattr__(self, name):
        target = getattr(self._lib, name)
        if not name.startswith("BL_"):
            return target

        def call(*args):
            with self._count:
                self._inside += 1
                self.overlaps += self._inside > 1
            try:
                time.sleep(0)   # give the other channel's thread every chance to come in
                return target(*args)
            finally:
                with self._count:
                    self._inside -= 1
        return call


def test_channels_of_one_vmp3_called_from_threads_at_once_never_overlap_in_the_library(eclib, closing):
    lib = _OneCallAtATime(eclib)
    channels = [closing(BioLogicBackend(lib, "vmp3", k, name=f"vmp3_{k}"), "disconnect") for k in (1, 2)]
    for channel in channels:
        channel.connect()
    readings = {k: [] for k in (1, 2)}

    def read_many(k, channel):
        for _ in range(300):
            readings[k].append(channel.read_instant()["state"])

    threads = [threading.Thread(target=read_many, args=(k, c)) for k, c in zip((1, 2), channels, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert lib.overlaps == 0
    assert readings == {1: ["stop"] * 300, 2: ["stop"] * 300}
