"""MS calibration: the fit of a calibration run, quantification with it, and the drift check.

Everything is relative to the carrier, as a DEMS lab quantifies: the ion current at each watched m/z divided
by the carrier's (``i_m = I_m / I_carrier``) does not depend on the chamber pressure, the emission current or
the multiplier gain, only on the gases' relative sensitivities. With ``y_g = x_g / x_carrier``,

    i_m = b_m + sum_g K[m, g] * y_g

where ``K[m, g]`` is gas g's sensitivity at m/z m relative to the carrier's at its own mass (its parent peak, or
a fragment landing on another gas's mass: CO2's CO+ at 28) and ``b_m`` the background. A calibration run
samples a certified standard (fractions ``c_g`` in the carrier balance) at several dilutions d, where
``y_g = c_g * d / (1 - d * sum c)``: the slope of ``i_m`` against ``d / (1 - d sum c)`` at each mass is
``sum_g K[m, g] c_g``, its intercept ``b_m``. A mass to which one gas of the standard contributes (by the
fragment library, :data:`~labctl.devices.mass_spectrometer.cracking.FRAGMENTS`) gives that gas's K at m
directly; where several do, the slope is shared out in proportion to their library patterns (said in the
summary). Quantifying solves the square system over the calibrated gases' parent masses, so overlapping
fragments are removed with the fitted K, and ``x_g = y_g / (1 + sum y)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from labctl.analysis.columns import lab_time
from labctl.devices.mass_spectrometer.cracking import FRAGMENTS, RELATIVE_SENSITIVITY

PLAN = "ms_calibration"
#: a drift check whose standard reads further from its certificate than this (and than 3x its uncertainty)
#: says the calibration is stale
DRIFT_TOLERANCE = 0.03


class CalibrationError(ValueError):
    """A gas cannot be quantified: no calibration run, or none that calibrated that gas."""


@dataclass
class Calibration:
    """What one ``ms_calibration`` run established for its MS."""

    uid: str
    lab_time: float
    ms: str
    carrier: str
    masses: dict[str, int]                 # every gas the MS watched -> its m/z
    standard: dict                         # cylinder, composition, uncertainty_rel, balance
    K: dict[str, dict[int, float]]         # calibrated gas -> m/z -> sensitivity relative to the carrier
    background: dict[int, float]           # m/z -> i_m with no standard
    r2: dict[int, float]                   # linearity of each mass over the dilutions
    residual_rel: dict[int, float]         # largest residual of a dilution's mean, relative to its signal
    dilutions: list[float]
    shared: dict[int, list[str]] = field(default_factory=dict)   # masses whose slope was shared out

    @property
    def gases(self) -> list[str]:
        """The gases this calibration can quantify."""
        return sorted(self.K)

    def relative_sensitivity(self, gas: str) -> float:
        """Sensitivity of *gas* at its parent m/z relative to the carrier's."""
        return self.K[gas][self.masses[gas]]

    def pattern(self, gas: str) -> dict[int, float]:
        """The fitted fragment pattern of *gas* at the watched masses, relative to its parent peak."""
        parent = self.relative_sensitivity(gas)
        return {m: k / parent for m, k in self.K[gas].items()}


def _columns(table, ms: str, masses: Mapping[str, int]) -> dict[int, np.ndarray]:
    out = {}
    for gas, mz in masses.items():
        key = f"{ms}_current_{gas}"
        if key not in table.columns:
            raise KeyError(f"no ion current of {gas} ({key}) recorded: the run predates calibrated quantification")
        out[mz] = table[key].to_numpy(float)
    return out


def _lin(z: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float]:
    """slope, intercept, R^2, largest residual relative to the largest fitted signal."""
    a = np.vstack([z, np.ones_like(z)]).T
    (slope, intercept), *_ = np.linalg.lstsq(a, y, rcond=None)
    fit = slope * z + intercept
    ss_res = float(np.sum((y - fit) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")
    scale = float(np.max(np.abs(fit - intercept))) or 1.0
    return float(slope), float(intercept), r2, float(np.max(np.abs(y - fit)) / scale)


def fit(run, masses: Mapping[str, int] | None = None) -> Calibration:
    """The calibration an ``ms_calibration`` run measured (its ``calibration`` stream and start metadata)."""
    md = run.start
    if md.get("plan_name") != PLAN:
        raise ValueError(f"run {run.uid[:8]} is a {md.get('plan_name')} run, not an {PLAN} run")
    ms, carrier = md["calibration_ms"], md.get("carrier", "Ar")
    standard = dict(md["calibration_standard"])
    flows = md["calibration_flows"]
    table = run.table("calibration")
    masses = dict(masses or {g: int(m) for g, m in (md.get("calibration_masses") or {}).items()}
                  or watched_masses(table, ms))
    if carrier not in masses:
        raise CalibrationError(f"run {run.uid[:8]}: {ms} did not watch the carrier {carrier}; nothing to relate "
                               "the other gases to")
    currents = _columns(table, ms, masses)
    ref = currents[masses[carrier]]
    f_c = table[f"{flows['carrier']}_flow"].to_numpy(float)
    f_s = np.clip(table[f"{flows['standard']}_flow"].to_numpy(float), 0.0, None)
    levels = np.round(table[f"{flows['standard']}_setpoint"].to_numpy(float), 6)
    composition = {g: float(x) for g, x in standard["composition"].items()}
    total_c = sum(composition.values())
    # one point per dilution: mean flows and mean current ratios once the line is at steady state
    z, ratios, dilutions = [], {m: [] for m in currents}, []
    for level in sorted(set(levels)):
        rows = levels == level
        d = float(np.mean(f_s[rows]) / np.mean(f_s[rows] + f_c[rows]))
        dilutions.append(d)
        z.append(d / (1.0 - d * total_c))
        for m, amps in currents.items():
            ratios[m].append(float(np.mean(amps[rows]) / np.mean(ref[rows])))
    z = np.asarray(z)
    in_standard = [g for g in composition if g in masses]
    sens: dict[str, dict[int, float]] = {g: {} for g in in_standard}
    background, r2, residual, shared = {}, {}, {}, {}
    for gas, m in masses.items():
        if gas == carrier:
            continue
        slope, intercept, r2[m], residual[m] = _lin(z, np.asarray(ratios[m]))
        background[m] = intercept
        contributors = [g for g in in_standard if g == gas or FRAGMENTS.get(g, {}).get(m)]
        if not contributors:
            continue
        weights = {g: (1.0 if g == gas else FRAGMENTS[g][m]) * RELATIVE_SENSITIVITY.get(g, 1.0) * composition[g]
                   for g in contributors}
        if len(contributors) > 1:
            shared[m] = contributors
        total_w = sum(weights.values())
        for g in contributors:
            sens[g][m] = slope * weights[g] / total_w / composition[g]
    for g in in_standard:
        sens[g].setdefault(masses[g], float("nan"))
    return Calibration(run.uid, float(md.get("lab_time", md["time"])), ms, carrier, masses, standard, sens,
                       background, r2, residual, dilutions, shared)


def watched_masses(table, ms: str) -> dict[str, int]:
    """Gas -> m/z as recorded: the MS records ``current_<gas>``; the m/z come from the fragment library's
    parent peaks unless the run says otherwise."""
    prefix = f"{ms}_current_"
    gases = [str(c)[len(prefix):] for c in table.columns if str(c).startswith(prefix)]
    return {g: max(FRAGMENTS[g], key=FRAGMENTS[g].get) for g in gases if g in FRAGMENTS}


def quantify(cal: Calibration, table, gases: Iterable[str]) -> dict[str, np.ndarray]:
    """Mole fraction of each of *gases* in every row of *table* (a stream with the MS's ion currents).

    Refuses (:class:`CalibrationError`) a gas the calibration did not calibrate, naming those it did.
    """
    gases = list(gases)
    missing = [g for g in gases if g not in cal.K or not np.isfinite(cal.relative_sensitivity(g))]
    if missing:
        raise CalibrationError(f"no calibration for {', '.join(missing)} in calibration run {cal.uid[:8]} "
                               f"(standard {cal.standard.get('cylinder')}: calibrated {', '.join(cal.gases)}); "
                               "calibrate with a standard that contains it")
    watched = {g: m for g, m in cal.masses.items() if g in cal.K}
    currents = _columns(table, cal.ms, {**watched, cal.carrier: cal.masses[cal.carrier]})
    ref = currents[cal.masses[cal.carrier]]
    order = list(watched)
    masses = [watched[g] for g in order]
    matrix = np.array([[cal.K[g].get(m, 0.0) for g in order] for m in masses])
    i = np.array([currents[m] / ref - cal.background.get(m, 0.0) for m in masses])
    y = np.linalg.solve(matrix, i)
    x = y / (1.0 + y.sum(axis=0))
    return {g: x[order.index(g)] for g in gases}


def newest_before(calibrations: Iterable[Calibration], when: float, ms: str | None = None,
                  uid: str | None = None) -> Calibration:
    """The calibration to quantify a run started at lab time *when* with: the one named by *uid* (a prefix
    will do), else the newest taken before *when* on *ms*."""
    calibrations = list(calibrations)
    if uid is not None:
        named = [c for c in calibrations if c.uid.startswith(uid)]
        if not named:
            raise CalibrationError(f"no calibration run {uid!r} among {[c.uid[:8] for c in calibrations]}")
        return named[0]
    earlier = [c for c in calibrations if c.lab_time <= when and (ms is None or c.ms == ms)]
    if not earlier:
        raise CalibrationError(f"no MS calibration{' of ' + ms if ms else ''} before this run: run "
                               f"{PLAN} first (a gas standard diluted in the carrier)")
    return max(earlier, key=lambda c: c.lab_time)


@dataclass(frozen=True)
class DriftCheck:
    """The standard re-measured after a run against its certificate, quantified with the run's calibration."""

    deviation: dict[str, float]      # relative: measured / certified - 1
    tolerance: float

    @property
    def stale(self) -> bool:
        """Whether the calibration no longer reads the standard right."""
        return any(abs(d) > self.tolerance for d in self.deviation.values())

    def describe(self) -> str:
        """One line: each gas's deviation and the verdict."""
        parts = ", ".join(f"{g} {100 * d:+.1f} %" for g, d in self.deviation.items())
        verdict = "calibration stale: recalibrate" if self.stale else "calibration holds"
        return f"standard re-measured: {parts} (tolerance ±{100 * self.tolerance:.1f} %): {verdict}"


def drift_check(run, cal: Calibration, stream: str = "standard_check") -> DriftCheck:
    """Quantify the standard sampled at the end of *run* with *cal* and compare it with its certificate."""
    md = run.start
    table = run.table(stream)
    flows = md["standard_check_flows"]
    f_c = table[f"{flows['carrier']}_flow"].to_numpy(float)
    f_s = table[f"{flows['standard']}_flow"].to_numpy(float)
    d = float(np.mean(f_s) / np.mean(f_s + f_c))
    composition = md["standard_check"]["composition"]
    gases = [g for g in composition if g in cal.K]
    x = quantify(cal, table, gases)
    uncertainty = float(md["standard_check"].get("uncertainty_rel", 0.0))
    deviation = {g: float(np.mean(x[g]) / (d * composition[g]) - 1.0) for g in gases}
    return DriftCheck(deviation, max(DRIFT_TOLERANCE, 3 * uncertainty))


def summary(cal: Calibration) -> str:
    """The calibration in plain text: standard, dilutions and, per gas, sensitivity, pattern and linearity."""
    std = cal.standard
    lines = [f"MS calibration {cal.uid[:8]} of {cal.ms}, relative to the carrier {cal.carrier} "
             f"(m/z {cal.masses[cal.carrier]})",
             f"standard {std.get('cylinder')}: " + ", ".join(f"{g} {1e6 * x:g} ppm" for g, x in
                                                           std["composition"].items())
             + f" (±{100 * float(std.get('uncertainty_rel', 0)):g} %), balance {std.get('balance', cal.carrier)}",
             "dilutions " + ", ".join(f"{d:.3f}" for d in cal.dilutions),
             f"{'gas':<5} {'m/z':>4} {'rel. sens.':>10} {'background':>11} {'R^2':>8} {'max resid.':>10}  fragments"]
    for gas in cal.gases:
        m = cal.masses[gas]
        frags = ", ".join(f"{k / cal.relative_sensitivity(gas):.3f} at {mz}" for mz, k in cal.K[gas].items()
                          if mz != m) or "none at the watched masses"
        lines.append(f"{gas:<5} {m:>4} {cal.relative_sensitivity(gas):>10.4f} {cal.background.get(m, 0):>11.3e} "
                     f"{cal.r2.get(m, float('nan')):>8.5f} {100 * cal.residual_rel.get(m, 0):>9.2f}%  {frags}")
    for m, gases in cal.shared.items():
        lines.append(f"m/z {m}: shared between {', '.join(gases)} by their library patterns")
    return "\n".join(lines)


def lab_times(table) -> np.ndarray:
    """Lab time of each row (re-exported for callers quantifying a stream)."""
    return lab_time(table).to_numpy(float)
