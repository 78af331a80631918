"""BioLogic current and potential ranges: the values the EClib header defines, the range each technique asks
for, refusals before anything is loaded, and an instrument that refuses a range its current does not fit."""

from ctypes import byref, c_bool, c_char_p, c_float, c_int32, c_uint8

import pytest

from labctl.devices.errors import LimitError
from labctl.devices.potentiostat.biologic import BioLogicError, structures
from labctl.devices.potentiostat.biologic import constants as C
from labctl.devices.potentiostat.techniques import CV, GEIS, OCV, PEIS, Galvanostatic, Potentiostatic

INVALID_PARAMETERS = -8


def test_range_values_are_the_eclib_header_values():
    assert C.I_RANGE == {
        "I_RANGE_KEEP": -1, "I_RANGE_100pA": 0, "I_RANGE_1nA": 1, "I_RANGE_10nA": 2, "I_RANGE_100nA": 3,
        "I_RANGE_1uA": 4, "I_RANGE_10uA": 5, "I_RANGE_100uA": 6, "I_RANGE_1mA": 7, "I_RANGE_10mA": 8,
        "I_RANGE_100mA": 9, "I_RANGE_1A": 10, "I_RANGE_BOOSTER": 11, "I_RANGE_AUTO": 12}
    assert C.E_RANGE == {"E_RANGE_2_5V": 0, "E_RANGE_5V": 1, "E_RANGE_10V": 2, "E_RANGE_AUTO": 3}


@pytest.mark.parametrize("technique, i_range", [
    (Galvanostatic("-0.75 mA", duration="10 s"), 7),                  # coin-cell plating: 1 mA range
    (Galvanostatic("5 mA", e_max="1 V"), 8),                          # 10 mA range, sent as CPLIMIT
    (Galvanostatic("-1 mA", charge="3.6 C"), 7),                      # a range holds its full scale
    (Galvanostatic("20 uA", duration="10 s"), 6),
    (GEIS("10 kHz", "1 Hz", 5, "0.5 mA", dc="-2 mA"), 8),             # |dc| + amplitude = 2.5 mA
])
def test_current_controlled_techniques_take_the_smallest_range_that_holds_their_current(eclib, backend,
                                                                                         technique, i_range):
    backend.connect()
    backend.load(technique)
    _, params = eclib.loaded(1)
    assert params["I_Range"] == i_range
    assert params["E_Range"] == C.E_RANGE["E_RANGE_10V"]


@pytest.mark.parametrize("technique", [Potentiostatic("0.1 V", "10 s"), CV("0.5 V", "1.5 V", "0.2 V", "0.4 V",
                                                                             "20 mV/s"), PEIS("1 kHz", "1 Hz", 5,
                                                                                              "10 mV")])
def test_potential_controlled_techniques_autorange_in_the_10_V_range(eclib, backend, technique):
    backend.connect()
    backend.load(technique)
    _, params = eclib.loaded(1)
    assert params["I_Range"] == C.I_RANGE["I_RANGE_AUTO"]
    assert params["E_Range"] == C.E_RANGE["E_RANGE_10V"]


@pytest.mark.parametrize("technique", [Galvanostatic("2 A", duration="10 s"),
                                       GEIS("1 kHz", "1 Hz", 5, "0.2 A", dc="0.9 A")])
def test_a_current_beyond_1_A_is_refused_before_anything_is_loaded(eclib, backend, technique):
    backend.connect()
    backend.load(OCV(10))
    before = len(eclib.calls)
    with pytest.raises(LimitError, match="booster"):
        backend.load(technique)
    assert eclib.calls[before:] == []                    # not even a parameter was defined
    assert eclib.loaded(1)[0] == "ocv.ecc"


def test_the_instrument_refuses_a_current_beyond_the_selected_range(eclib, backend, monkeypatch):
    # A range table that calls the 1 mA range "10 mA" sends 5 mA on the 1 mA range.
    monkeypatch.setitem(C.I_RANGE_FULL_SCALE_A, C.I_RANGE["I_RANGE_1mA"], 10e-3)
    backend.connect()
    with pytest.raises(BioLogicError) as info:
        backend.load(Galvanostatic("5 mA", duration="10 s"))
    assert info.value.code == INVALID_PARAMETERS


# -- the fake EClib on its own: what the instrument accepts --------------------------------------------

def _connect(eclib) -> c_int32:
    dev = c_int32()
    assert eclib.BL_Connect(b"vmp3", c_uint8(5), byref(dev), byref(structures.DeviceInfo())) == 0
    channels, results = (c_uint8 * 16)(1), (c_int32 * 16)()
    assert eclib.BL_LoadFirmware(dev, channels, results, c_uint8(16), c_bool(False), c_bool(False), None, None) == 0
    return dev


def _load_cp(eclib, dev, current: float, i_range: int, e_range: int = 2) -> int:
    params = [("Current_step", 2, current), ("vs_initial", 1, False), ("Duration_step", 2, 10.0),
              ("Step_number", 0, 0), ("Record_every_dT", 2, 1.0), ("Record_every_dE", 2, 0.0),
              ("N_Cycles", 0, 0), ("I_Range", 0, i_range), ("E_Range", 0, e_range), ("Bandwidth", 0, 5)]
    array = (structures.EccParam * len(params))()
    define = {0: (eclib.BL_DefineIntParameter, c_int32), 1: (eclib.BL_DefineBoolParameter, c_bool),
              2: (eclib.BL_DefineSglParameter, c_float)}
    for slot, (label, ptype, value) in zip(array, params, strict=False):
        fn, ctype = define[ptype]
        assert fn(label.encode(), ctype(value), c_int32(0), byref(slot)) == 0
    ecc = structures.EccParams(len(params), array)
    return eclib.BL_LoadTechnique(dev, c_uint8(0), c_char_p(b"cp.ecc"), ecc, c_bool(True), c_bool(True),
                                  c_bool(False))


@pytest.mark.parametrize("current, i_range, e_range, code", [
    (5e-3, 8, 2, 0),
    (5e-3, 7, 2, INVALID_PARAMETERS),     # beyond the 1 mA range
    (1e-3, 7, 2, 0),
    (5e-3, 11, 2, INVALID_PARAMETERS),    # BOOSTER, and no booster on the channel
    (5e-3, 12, 2, INVALID_PARAMETERS),    # CP cannot autorange
    (5e-3, 13, 2, INVALID_PARAMETERS),    # no such range
    (5e-3, 8, 4, INVALID_PARAMETERS),     # no such E range
])
def test_the_instrument_holds_cp_to_its_current_range(eclib, current, i_range, e_range, code):
    dev = _connect(eclib)
    assert _load_cp(eclib, dev, current, i_range, e_range) == code


def test_a_channel_with_a_booster_takes_the_booster_range(world):
    from labctl.sim.sdk.biologic import FakeEClib

    eclib = FakeEClib(world, "vmp3", plugged=(1, 2), boosters=(1,))
    assert _load_cp(eclib, _connect(eclib), 2.0, 11) == 0


def test_impedance_rows_and_current_values_report_the_range_in_use(clock, eclib, backend):
    backend.connect()
    backend.load(GEIS("1 kHz", "100 Hz", 2, "0.5 mA", dc="-2 mA"))
    backend.start()
    clock.advance(60)
    dev, buf, info, values = _connect(eclib), structures.DataBuffer(), structures.DataInfo(), structures.CurrentValues()
    column = [name for name, _ in C.ROW_LAYOUTS[("GEIS", C.IMPEDANCE_PROCESS)]].index("I_range")
    ranges = []
    while eclib.BL_GetData(dev, c_uint8(0), byref(buf), byref(info), byref(values)) == 0 and info.NbRows:
        if info.ProcessIndex == C.IMPEDANCE_PROCESS:
            ranges += [buf[r * info.NbCols + column] for r in range(info.NbRows)]
    assert ranges and set(ranges) == {C.I_RANGE["I_RANGE_10mA"]}
    assert values.IRange == C.I_RANGE["I_RANGE_10mA"]
