"""Translate labctl techniques into EClib ECC parameter lists.

Each function returns the EClib technique key (``constants.TECHNIQUE_IDS``) and a list of
``(label, type, value, index)``; the backend turns them into ``EccParam`` structures with the SDK's own
``BL_Define*Parameter`` calls. Limits use the CPLIMIT/CALIMIT tests with "stop" as exit condition.

Current-controlled techniques get a fixed current range (EC-Lab cannot autorange them); the others
autorange.
"""

from __future__ import annotations

from labctl.devices.errors import LimitError
from labctl.devices.potentiostat import techniques as T
from labctl.devices.potentiostat.biologic import constants as C

Param = tuple[str, int, object, int]


def _sgl(label: str, value: float, index: int = 0) -> Param:
    return (label, C.PARAM_SINGLE, float(value), index)


def _int(label: str, value: int, index: int = 0) -> Param:
    return (label, C.PARAM_INT, int(value), index)


def _bool(label: str, value: bool, index: int = 0) -> Param:
    return (label, C.PARAM_BOOL, bool(value), index)


def _tests(limits: list[tuple[str, str, float]]) -> list[Param]:
    out: list[Param] = []
    for n in range(1, C.MAX_TESTS + 1):
        if n <= len(limits):
            var, op, value = limits[n - 1]
            out += [_int(f"Test{n}_Config", C.test_config(var, op)), _sgl(f"Test{n}_Value", value)]
        else:
            out += [_int(f"Test{n}_Config", 0), _sgl(f"Test{n}_Value", 0.0)]
    return out + [_int("Exit_Cond", C.EXIT_STOP)]


def _current_range(name: str, peak: float) -> int:
    """Smallest fixed I_Range holding ``peak`` (A); above 1 A only a booster would do, and none is set up."""
    peak = abs(peak)
    for index, full_scale in C.I_RANGE_FULL_SCALE_A.items():
        if peak <= full_scale * (1 + 1e-6):   # a range holds its own full scale, whatever the float rounding
            return index
    largest = max(C.I_RANGE_FULL_SCALE_A.values())
    raise LimitError(f"{name}: a current of {peak:g} A is beyond the largest current range of the channel "
                     f"({largest:g} A); more needs a current booster, which is not configured")


def _ocv(t: T.OCV) -> tuple[str, list[Param]]:
    return "OCV", [
        _sgl("Rest_time_T", t.duration),
        _sgl("Record_every_dE", t.record_dE or 0.0),
        _sgl("Record_every_dT", t.record_dt),
        _int("E_Range", C.E_RANGE_10V),
    ]


def _with_limits(key: str, params: list[Param], limits: list[tuple[str, str, float | None]]) -> tuple[str, list[Param]]:
    """The technique as it is loaded: its LIMIT variant with the tests of the limits given, if any is."""
    limits = [limit for limit in limits if limit[2] is not None]
    return (f"{key}LIMIT", params + _tests(limits)) if limits else (key, params)


def _step_duration(duration: float | None) -> float:
    return C.MAX_STEP_DURATION_S if duration is None else duration


def _cp(t: T.Galvanostatic) -> tuple[str, list[Param]]:
    duration = t.duration
    if t.charge is not None:  # a constant current passes a charge in a known time
        by_charge = t.charge / abs(t.current) if t.current else C.MAX_STEP_DURATION_S
        duration = by_charge if duration is None else min(duration, by_charge)
    params = [
        _sgl("Current_step", t.current), _bool("vs_initial", False),
        _sgl("Duration_step", _step_duration(duration)), _int("Step_number", 0),
        _sgl("Record_every_dT", t.record_dt), _sgl("Record_every_dE", t.record_dE or 0.0),
        _int("N_Cycles", 0), _int("I_Range", _current_range(t.name, t.current)),
        _int("E_Range", C.E_RANGE_10V), _int("Bandwidth", C.BANDWIDTH),
    ]
    return _with_limits("CP", params, [("Ewe", ">", t.e_max), ("Ewe", "<", t.e_min)])


def _ca(t: T.Potentiostatic) -> tuple[str, list[Param]]:
    params = [
        _sgl("Voltage_step", t.potential), _bool("vs_initial", t.vs_ocv),
        _sgl("Duration_step", t.duration), _int("Step_number", 0),
        _sgl("Record_every_dT", t.record_dt), _sgl("Record_every_dI", 0.0),
        _int("N_Cycles", 0), _int("I_Range", C.I_RANGE_AUTO), _int("E_Range", C.E_RANGE_10V),
        _int("Bandwidth", C.BANDWIDTH),
    ]
    return _with_limits("CA", params, [("I", ">", t.i_max), ("I", "<", t.i_min)])


def _cv(t: T.CV) -> tuple[str, list[Param]]:
    # Five-point arrays: E0 (start), E1 (vertex 1), E2 (vertex 2), Ei (unused, = E0), Ef (end).
    points = [t.e_start, t.vertex1, t.vertex2, t.e_start, t.e_end]
    params: list[Param] = []
    for i, e in enumerate(points):
        params += [_bool("vs_initial", False, i), _sgl("Voltage_step", e, i), _sgl("Scan_Rate", t.scan_rate, i)]
    return "CV", params + [
        _int("Scan_number", C.CV_SCAN_NUMBER), _sgl("Record_every_dE", t.step), _bool("Average_over_dE", True),
        _int("N_Cycles", t.cycles - 1), _sgl("Begin_measuring_I", C.CV_BEGIN_MEASURING_I),
        _sgl("End_measuring_I", C.CV_END_MEASURING_I), _int("I_Range", C.I_RANGE_AUTO),
        _int("E_Range", C.E_RANGE_10V), _int("Bandwidth", C.BANDWIDTH),
    ]


def _sweep(t) -> list[Param]:
    return [
        _sgl("Initial_frequency", t.f_start), _sgl("Final_frequency", t.f_stop),
        _bool("sweep", C.SWEEP_LOGARITHMIC), _int("Frequency_number", len(t.frequencies())),
        _int("Average_N_times", C.EIS_AVERAGE_N), _bool("Correction", False),
        _sgl("Wait_for_steady", C.EIS_WAIT_FOR_STEADY),
    ]


def _peis(t: T.PEIS) -> tuple[str, list[Param]]:
    return "PEIS", [
        _bool("vs_initial", t.vs_ocv), _bool("vs_final", t.vs_ocv),
        _sgl("Initial_Voltage_step", t.dc), _sgl("Final_Voltage_step", t.dc), _sgl("Duration_step", 0.0),
        _int("Step_number", 0), _sgl("Record_every_dT", 0.0), _sgl("Record_every_dI", 0.0),
        _sgl("Amplitude_Voltage", t.amplitude), *_sweep(t),
        _int("I_Range", C.I_RANGE_AUTO), _int("E_Range", C.E_RANGE_10V), _int("Bandwidth", C.BANDWIDTH),
    ]


def _geis(t: T.GEIS) -> tuple[str, list[Param]]:
    i_range = _current_range(t.name, abs(t.dc) + abs(t.amplitude))
    return "GEIS", [
        _bool("vs_initial", False), _bool("vs_final", False),
        _sgl("Initial_Current_step", t.dc), _sgl("Final_Current_step", t.dc), _sgl("Duration_step", 0.0),
        _int("Step_number", 0), _sgl("Record_every_dT", 0.0), _sgl("Record_every_dE", 0.0),
        _sgl("Amplitude_Current", t.amplitude), *_sweep(t),
        _int("I_Range", i_range), _int("E_Range", C.E_RANGE_10V), _int("Bandwidth", C.BANDWIDTH),
    ]


_BUILDERS = {T.OCV: _ocv, T.Galvanostatic: _cp, T.Potentiostatic: _ca, T.CV: _cv, T.PEIS: _peis,
             T.GEIS: _geis}


def ecc_parameters(technique) -> tuple[str, list[Param]]:
    """EClib technique key and parameter list for a labctl technique."""
    try:
        build = _BUILDERS[type(technique)]
    except KeyError:
        raise TypeError(f"the BioLogic backend cannot run {technique!r}") from None
    return build(technique)


def ecc_file(key: str, device_code: int) -> str:
    """ECC file name for a technique on a device ("cp.ecc" on the VMP3, "cp4.ecc" on the SP-300 family)."""
    stem = C.ECC_FILES[key]
    return f"{stem}.ecc" if device_code in C.VMP3_FAMILY else f"{stem}4.ecc"
