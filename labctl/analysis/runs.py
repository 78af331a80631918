"""Analyses of whole stored runs, by the kind of experiment that recorded them.

Each function takes a stored run (``labctl.storage`` ``StoredRun``: ``start`` metadata and ``table(stream)``)
and returns plain numbers and arrays. Flow, temperature and pressure come from the run's data and metadata,
never from constants here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from labctl.analysis.calibration import Calibration, DriftCheck, drift_check, quantify
from labctl.analysis.columns import column, lab_time
from labctl.analysis.dems import co2_per_sweep, sweep_windows
from labctl.analysis.eis import Resistances, resistances
from labctl.analysis.electrochem import coulombic_efficiency, segments
from labctl.analysis.gas import baseline_fraction, integrate_amount, molar_volume_L

TITRATION_GASES = ("D2", "HD", "CO2")


def electrode_area(run, area_cm2: float | None = None) -> float:
    """The working electrode's area (cm^2): *area_cm2* if given, else the run's ``electrode_area_cm2``.

    Refused rather than assumed: dividing by a default 1 cm^2 would turn a 0.0005 cm^2 chip's mA into a
    current density 2000 times too small.
    """
    if area_cm2 is None:
        if "electrode_area_cm2" not in run.start:
            raise KeyError(f"run {run.uid[:8]} ({run.start.get('plan_name', '?')}) does not record "
                           f"electrode_area_cm2; pass the electrode area explicitly")
        area_cm2 = run.start["electrode_area_cm2"]
    area = float(area_cm2)
    if not area > 0:
        raise ValueError(f"run {run.uid[:8]}: electrode area must be positive, got {area:g} cm^2")
    return area


def _cutoff(run) -> float | None:
    args = run.start.get("plan_args", {})
    text = args.get("strip_cutoff")
    if text is None:
        return None
    return float(str(text).split()[0])


def galvanostatic_table(run) -> pd.DataFrame:
    """Plate and strip rows of a cycling run in the order the instrument took them (lab time in ``timestamp``)."""
    parts = [run.table(s, timestamps=True) for s in ("plate", "strip") if s in run.streams]
    if not parts:
        raise KeyError(f"run {run.uid[:8]} has no plate/strip streams (streams: {run.streams})")
    # emission order is the instrument's order (a step's first row may share its lab time with the last row
    # of the step before); ``timestamp`` keeps when the instrument took each row
    return pd.concat(parts, ignore_index=True).sort_values("time", kind="stable").reset_index(drop=True)


def cycling(run) -> pd.DataFrame:
    """Coulombic efficiency per cycle, recomputed from the recorded rows."""
    return coulombic_efficiency(galvanostatic_table(run), cutoff_V=_cutoff(run))


def voltage_profiles(run, cycles=(1, 10), *, area_cm2: float | None = None
                     ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Ewe against areal capacity (mAh/cm^2) for each requested cycle: plating then stripping, as in Fig. 1a,b.

    Plating runs the capacity up from 0, stripping back down, so one curve shows both halves. Capacity
    comes from the instrument's coulomb counter (``Q``, charge since the step began).
    """
    area = electrode_area(run, area_cm2)
    table = galvanostatic_table(run)
    q = np.abs(table[column(table, "Q")].to_numpy(float))
    ewe = table[column(table, "Ewe")].to_numpy(float)
    segs = segments(table)
    pairs = [(a, b) for a, b in zip(segs, segs[1:], strict=False) if a.sign < 0 < b.sign]
    out = {}
    for k in cycles:
        if k - 1 >= len(pairs):
            continue
        plate, strip = pairs[k - 1]
        plated = q[plate.start:plate.stop]
        left = plated[-1] - q[strip.start:strip.stop]
        capacity = np.concatenate((plated, left)) / 3.6 / area
        out[k] = (capacity, np.concatenate((ewe[plate.start:plate.stop], ewe[strip.start:strip.stop])))
    return out


@dataclass
class Titration:
    """What a titration run measured: moles per gas and the baselines they were measured against."""

    electrolyte: str | None
    blank: bool
    mol: dict[str, float]
    baseline: dict[str, float]
    molar_volume_L: float
    trace: dict[str, tuple[np.ndarray, np.ndarray]] = field(repr=False, default_factory=dict)
    #: gases still clearly above their baseline over the last minutes recorded (a cut-off integral)
    still_up: list[str] = field(default_factory=list)
    #: the calibration run the amounts were quantified with
    calibration_uid: str = ""
    #: the standard re-measured at the end, if the run did (a stale calibration shows here)
    drift: DriftCheck | None = None

    @property
    def returned(self) -> bool:
        """Whether every gas was back at its baseline when the recording ended."""
        return not self.still_up


def titration(run, calibration: Calibration, gases=TITRATION_GASES) -> Titration:
    """Moles of each gas released after the D2O injection: ∫ r·(x - baseline)/Vm dt over the titration stream,
    the fractions x quantified from the ion currents with *calibration* (``labctl.analysis.calibration``)."""
    md = run.start
    vm = molar_volume_L(float(md["gas_temperature_K"]), float(md["gas_pressure_Pa"]))
    table = run.table("titration")
    before = run.table("baseline") if "baseline" in run.streams else None
    t = lab_time(table).to_numpy(float)
    flow = table[column(table, "flow")].to_numpy(float)
    mol, base, trace, still_up = {}, {}, {}, []
    tail = t >= t[-1] - 300.0
    fractions = quantify(calibration, table, gases)
    before_fractions = quantify(calibration, before, gases) if before is not None and len(before) else {}
    for gas in gases:
        x = fractions[gas]
        noise = 0.0
        if before is not None and len(before):
            b = before_fractions[gas]
            bt = lab_time(before).to_numpy(float)
            quiet = bt >= bt[-1] - 300.0
            base[gas] = baseline_fraction(bt, b, before=bt[-1] + 1e-9, span=min(300.0, bt[-1] - bt[0] + 1e-9))
            noise = float(np.std(b[quiet])) / max(1, int(tail.sum())) ** 0.5
        else:
            base[gas] = 0.0
        mol[gas] = integrate_amount(t, x, flow, vm, baseline=base[gas])
        trace[gas] = (t, x)
        if np.mean(x[tail]) - base[gas] > max(4 * noise, 2e-5):
            still_up.append(gas)
    drift = drift_check(run, calibration) if "standard_check" in run.streams else None
    return Titration(md.get("electrolyte"), bool(md.get("blank", False)), mol, base, vm, trace, still_up,
                     calibration.uid, drift)


@dataclass
class Dems:
    """What a DEMS run measured: CO2 released after each cycle target."""

    electrolyte: str | None
    cycle_targets: list[int]
    co2_mol: list[float]
    time_s: np.ndarray = field(repr=False)
    co2_fraction: np.ndarray = field(repr=False)
    sealed: list[tuple[float, float]] = field(default_factory=list)
    calibration_uid: str = ""

    @property
    def cumulative_mol(self) -> list[float]:
        """CO2 released up to each cycle target, mol."""
        return list(np.cumsum(self.co2_mol))


def dems(run, calibration: Calibration) -> Dems:
    """CO2 per sweep, from the valve moves and the gas stream recorded in one DEMS run, the CO2 fraction
    quantified from the ion currents with *calibration*."""
    md = run.start
    vm = molar_volume_L(float(md["gas_temperature_K"]), float(md["gas_pressure_Pa"]))
    gas = run.table("gas")
    valve = run.table("valve")
    t = lab_time(gas).to_numpy(float)
    x = quantify(calibration, gas, ["CO2"])["CO2"]
    flow = gas[column(gas, "flow")].to_numpy(float)
    positions = valve[column(valve, "position_name")].astype(str).tolist()
    vt = lab_time(valve).to_numpy(float)
    end = float(max(t[-1], vt[-1]))
    sweep_name = md.get("valve_sweep", "sweep")
    windows = sweep_windows(vt, positions, sweep=sweep_name, end=end)
    amounts = co2_per_sweep(t, x, flow, vm, windows)
    sealed, opened = [], float(min(t[0], vt[0]))
    for start, stop in windows:
        sealed.append((opened, start))
        opened = stop
    return Dems(md.get("electrolyte"), list(md.get("plan_args", {}).get("cycle_targets", [])), amounts, t, x, sealed,
                calibration.uid)


def impedance(run) -> tuple[np.ndarray, np.ndarray, np.ndarray, Resistances]:
    """Frequencies, Z', Z'' and the resistances read off the spectrum."""
    table = run.table("eis")
    f = table[column(table, "freq")].to_numpy(float)
    zr = table[column(table, "Zre")].to_numpy(float)
    zi = table[column(table, "Zim")].to_numpy(float)
    return f, zr, zi, resistances(f, zr, zi)


def voltammogram(run, *, area_cm2: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Potential and current density (mA/cm^2) of a CV run, over the run's recorded electrode area unless
    *area_cm2* is given (a run without either is refused)."""
    area = electrode_area(run, area_cm2)
    table = run.table("cv")
    return (table[column(table, "Ewe")].to_numpy(float),
            table[column(table, "I")].to_numpy(float) * 1e3 / area)
