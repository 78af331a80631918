"""``labctl report``: the paper's figures and table from stored runs, with the paper's numbers beside labctl's.

Runs are recognised by their ``plan_name`` and tagged by their ``electrolyte`` metadata; repeated
measurements of the same kind are reported as mean ± standard deviation. An amount the data could not give
(NaN from the analysis, e.g. a gas window with no samples) is reported as "not measured", never as 0.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from labctl.analysis import calibration as ms_cal
from labctl.analysis import runs as analyse
from labctl.analysis.gas import blank_corrected
from labctl.analysis.inventory import mean_std, sodium_inventory
from labctl.report import figures, paper

NOT_MEASURED = "not measured"


@dataclass
class Findings:
    """Everything the report says, by electrolyte (lists hold one value per run)."""

    ce_first: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    ce_tenth: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    inventory: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))
    gases: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))
    blank: dict[str, float] = field(default_factory=dict)
    r_interfacial: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    dems_co2: dict[str, list[list[float]]] = field(default_factory=lambda: defaultdict(list))
    profiles: dict[str, dict] = field(default_factory=dict)
    spectra: dict[str, tuple] = field(default_factory=dict)
    dems_traces: dict[str, tuple] = field(default_factory=dict)
    cvs: dict[str, tuple] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: MS calibrations used, by uid, and which runs each quantified
    calibrations: dict[str, ms_cal.Calibration] = field(default_factory=dict)
    calibrated_runs: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    drift: list[str] = field(default_factory=list)


def _calibration_for(run, calibrations: list, named: str | None):
    """The calibration a gas run is quantified with: the one named, else the newest of its MS before it."""
    md = run.start
    ms = md.get("plan_args", {}).get("ms")
    return ms_cal.newest_before(calibrations, float(md.get("lab_time", md["time"])),
                                ms=ms if isinstance(ms, str) else None, uid=named)


def _fitted(stored_runs, skipped: list) -> list:
    out = []
    for run in stored_runs:
        if run.start.get("plan_name") == ms_cal.PLAN:
            try:
                out.append(ms_cal.fit(run))
            except (KeyError, ValueError, IndexError, np.linalg.LinAlgError) as exc:
                skipped.append(f"{run.uid[:8]} {ms_cal.PLAN}: {exc}")
    return out


def collect(stored_runs, calibration: str | None = None) -> Findings:
    """Analyse every run; a run that cannot be analysed is listed in ``skipped`` with the reason. Gas runs are
    quantified with the newest MS calibration run before them among *stored_runs*, or the one whose uid
    (prefix) is *calibration*."""
    found = Findings()
    calibrations = _fitted(stored_runs, found.skipped)
    titration_cycles: dict[str, list] = defaultdict(list)
    titrations: dict[str, list] = defaultdict(list)
    for run in stored_runs:
        md = run.start
        plan = md.get("plan_name")
        e = md.get("electrolyte", "unknown")
        try:
            if plan == "galvanostatic_cycles":
                ce = analyse.cycling(run)
                if ce.empty:
                    raise ValueError("no complete plate/strip cycle")
                if md.get("purpose") == "titration_cycle":
                    titration_cycles[e].append(ce.iloc[0])
                else:
                    found.ce_first[e].append(float(ce["ce_percent"].iloc[0]))
                    if len(ce) >= 10:
                        found.ce_tenth[e].append(float(ce["ce_percent"].iloc[9]))
                    short = ce[ce["ended_at_cutoff"] == False]["cycle"].tolist()  # noqa: E712 (None: no cutoff)
                    if short:
                        found.notes.append(f"{run.uid[:8]} ({e}): stripping stopped before the cutoff in cycle(s) "
                                           f"{short}; their CE is a lower bound")
                    try:
                        found.profiles[e] = analyse.voltage_profiles(run, cycles=(1, 10))
                    except KeyError as exc:  # the CE stands without the profile plot
                        found.notes.append(f"{run.uid[:8]} ({e}): no voltage profile: {exc}")
            elif plan == "online_ms_titration":
                cal = _calibration_for(run, calibrations, calibration)
                result = analyse.titration(run, cal)
                found.calibrations[cal.uid] = cal
                found.calibrated_runs[cal.uid].append(run.uid)
                if result.drift is not None:
                    found.drift.append(f"{run.uid[:8]} ({e}), calibration {cal.uid[:8]}: {result.drift.describe()}")
                    if result.drift.stale:
                        found.notes.append(f"{run.uid[:8]} ({e}): calibration {cal.uid[:8]} is stale (the standard "
                                           "re-measured after the titration reads off its certificate); its amounts "
                                           "are as good as that calibration")
                if not result.returned:
                    found.notes.append(f"{run.uid[:8]} ({e}): the gases had not returned to baseline when "
                                       f"recording ended ({', '.join(result.still_up)}); amounts are lower bounds")
                missing = [g for g, mol in result.mol.items() if math.isnan(mol)]
                if missing:
                    found.notes.append(f"{run.uid[:8]} ({e}): {', '.join(missing)} not measured (fewer than two "
                                       f"gas samples recorded)" + ("; nothing subtracted for them" if result.blank
                                                                   else ""))
                if result.blank:
                    for gas, mol in result.mol.items():
                        if not math.isnan(mol):
                            found.blank[gas] = mol
                else:
                    titrations[e].append(result)
            elif plan == "eis":
                f, zr, zi, r = analyse.impedance(run)
                found.r_interfacial[e].append(r.interfacial_ohm)
                found.spectra[e] = (zr, zi)
            elif plan == "dems":
                cal = _calibration_for(run, calibrations, calibration)
                d = analyse.dems(run, cal)
                found.calibrations[cal.uid] = cal
                found.calibrated_runs[cal.uid].append(run.uid)
                found.dems_co2[e].append(d.co2_mol)
                missing = [k + 1 for k, mol in enumerate(d.co2_mol) if math.isnan(mol)]
                if missing:
                    found.notes.append(f"{run.uid[:8]} ({e}): DEMS CO2 not measured in sweep(s) {missing} "
                                       f"(fewer than two gas samples while the valve was open)")
                t0 = d.time_s[0] if len(d.time_s) else 0.0
                found.dems_traces[e] = ((d.time_s - t0) / 3600.0, d.co2_fraction,
                                        [((a - t0) / 3600.0, (b - t0) / 3600.0) for a, b in d.sealed])
            elif plan in ("cv", "liquid_cell_operando") and "cv" in run.streams:
                found.cvs[f"{e} ({run.uid[:8]})"] = analyse.voltammogram(run)
        except (KeyError, ValueError, IndexError, np.linalg.LinAlgError) as exc:
            found.skipped.append(f"{run.uid[:8]} {plan}: {exc}")
    for e, results in titrations.items():
        cycles = titration_cycles.get(e, [])
        for k, result in enumerate(results):
            amounts = {g: blank_corrected(m, found.blank.get(g)) for g, m in result.mol.items()}
            found.gases[e].append(amounts)
            if k < len(cycles):
                c = cycles[k]
                inv = sodium_inventory(c["plated_C"], c["stripped_C"], amounts["D2"], amounts["HD"], amounts["CO2"])
                found.inventory[e].append(inv.as_percent())
    return found


def _measured(values) -> list[float]:
    return [float(v) for v in values if not math.isnan(v)]


def _mean(values) -> float:
    """Mean of the measured values (NaN if none was)."""
    return mean_std(_measured(values))[0]


def _fmt(values, digits=1) -> str:
    values = list(values)
    measured = _measured(values)
    if not values:
        return "—"
    if not measured:
        return NOT_MEASURED
    m, s = mean_std(measured)
    text = f"{m:.{digits}f}" if math.isnan(s) else f"{m:.{digits}f} ± {s:.{digits}f}"
    if len(measured) < len(values):
        text += f" ({len(values) - len(measured)} of {len(values)} {NOT_MEASURED})"
    return text


def _sweeps(amounts) -> str:
    """nmol per sweep; after a sweep that was not measured, a running total is not known either."""
    return ", ".join(NOT_MEASURED if math.isnan(x) else f"{x * 1e9:.1f}" for x in amounts)


def table_rows(found: Findings) -> list[dict]:
    """The report table: each of the paper's numbers beside labctl's."""
    rows = []
    names = [e for e in paper.ELECTROLYTES if e in set(found.ce_first) | set(found.inventory) | set(found.gases)
             | set(found.r_interfacial) | set(found.dems_co2)]
    for e in names:
        inv = found.inventory.get(e, [])
        gases = found.gases.get(e, [])
        row = {
            "electrolyte": paper.ELECTROLYTES[e],
            "CE cycle 1 (%)": _fmt(found.ce_first.get(e, [])),
            "paper CE 1": paper.CE_FIRST[e],
            "CE cycle 10 (%)": _fmt(found.ce_tenth.get(e, []), 2 if e == "dme" else 1),
            "paper CE 10": paper.CE_TENTH[e],
            "SEI (%)": _fmt([i["sei"] for i in inv]),
            "paper SEI": paper.SEI_FIRST[e],
            "dead Na (%)": _fmt([i["dead"] for i in inv]),
            "paper dead": paper.DEAD_FIRST[e],
            "NaH (%)": _fmt([i["nah"] for i in inv]),
            "organic SEI (%)": _fmt([i["organic"] for i in inv]),
            "D2 (nmol)": _fmt([g["D2"] * 1e9 for g in gases]),
            "HD (nmol)": _fmt([g["HD"] * 1e9 for g in gases]),
            "CO2 (nmol)": _fmt([g["CO2"] * 1e9 for g in gases]),
            "R interfacial (Ω)": _fmt(found.r_interfacial.get(e, [])),
            "DEMS CO2 per sweep (nmol)": "; ".join(_sweeps(sweeps) for sweeps in found.dems_co2.get(e, [])) or "—",
            "DEMS CO2 cumulative (nmol)": "; ".join(_sweeps(np.cumsum(sweeps))
                                                    for sweeps in found.dems_co2.get(e, [])) or "—",
        }
        rows.append(row)
    return rows


def verdicts(found: Findings) -> list[str]:
    """Sentences comparing labctl's figures with the paper's, within the simulated lab's tolerances."""
    out = []
    tol = paper.TOLERANCE_PP
    for e in [e for e in paper.ELECTROLYTES if e in found.ce_first]:
        values = _measured(found.ce_first[e])
        if values:
            m = mean_std(values)[0]
            ok = abs(m - paper.CE_FIRST[e]) <= tol
            out.append(f"first-cycle CE {paper.ELECTROLYTES[e]}: {m:.1f} % vs paper {paper.CE_FIRST[e]:g} % "
                       f"({'within' if ok else 'OUTSIDE'} ±{tol:g} pp)")
    for e in [e for e in paper.ELECTROLYTES if e in found.inventory]:
        sei = _measured(i["sei"] for i in found.inventory[e])
        if not sei and found.inventory[e]:
            out.append(f"Na lost to SEI {paper.ELECTROLYTES[e]}: {NOT_MEASURED} (titration gases missing)")
        if sei:
            m = mean_std(sei)[0]
            ok = abs(m - paper.SEI_FIRST[e]) <= tol
            out.append(f"Na lost to SEI {paper.ELECTROLYTES[e]}: {m:.1f} % vs paper {paper.SEI_FIRST[e]:g} % "
                       f"({'within' if ok else 'OUTSIDE'} ±{tol:g} pp)")
    carb, ether = found.r_interfacial.get("ecdmc"), found.r_interfacial.get("dme")
    if carb and ether:
        ratio = mean_std(carb)[0] / mean_std(ether)[0]
        out.append(f"interfacial resistance EC:DMC / DME: {ratio:.1f}x "
                   f"vs paper ~{paper.EIS_RATIO_CARBONATE_TO_ETHER:g}x")
    c, d = found.dems_co2.get("ecdmc"), found.dems_co2.get("dme")
    if c and d and (any(math.isnan(x) for x in c[0]) or any(math.isnan(x) for x in d[0])):
        out.append(f"DEMS CO2 EC:DMC / DME over all sweeps: {NOT_MEASURED} (a sweep has no gas samples)")
    elif c and d:
        cs, ds = sum(c[0]), sum(d[0])
        grows = all(b >= a for a, b in zip(c[0], c[0][1:], strict=False))
        out.append(f"DEMS CO2 EC:DMC / DME over all sweeps: {cs / ds if ds else float('inf'):.1f}x "
                   f"(carbonate far above ether: {'yes' if cs > 5 * ds else 'NO'}; "
                   f"carbonate CO2 per sweep grows with cumulative cycles: {'yes' if grows else 'NO'})")
    return out


def calibration_lines(found: Findings) -> list[str]:
    """The report's section on the MS calibrations the gas amounts rest on: each one's fit, and drift checks."""
    if not found.calibrations:
        return []
    lines = ["## MS calibration", ""]
    for uid, cal in found.calibrations.items():
        used = ", ".join(u[:8] for u in found.calibrated_runs.get(uid, []))
        lines += [f"Gas amounts of runs {used} quantified with:", "", "```", ms_cal.summary(cal), "```", ""]
    lines += [f"- {d}" for d in found.drift] + ([""] if found.drift else [])
    return lines


def build_report(stored_runs, out_dir: Path, *, extra: list[str] = (), calibration: str | None = None) -> Path:
    """Write figures (PNG), ``table.csv`` and ``report.md`` into *out_dir*; return the markdown path.
    *extra*: markdown lines added before the caveats (how a campaign used lab time, say); *calibration*: the
    uid of the MS calibration to quantify every gas run with (default: each run's newest before it)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    found = collect(stored_runs, calibration)
    made = []
    if found.profiles:
        made.append(("Voltage profiles, cycles 1 and 10 (Fig. 1a,b)",
                     figures.voltage_profiles(found.profiles, out_dir / "fig1ab_voltage_profiles.png")))
    if found.spectra:
        made.append(("Nyquist plots (Fig. 1c)", figures.nyquist(found.spectra, out_dir / "fig1c_nyquist.png")))
    if found.inventory:
        means = {e: {k: _mean([i[k] for i in invs]) for k in ("reversible", "sei", "dead")}
                 for e, invs in found.inventory.items()}
        made.append(("Na distribution after one cycle (Fig. 1d)",
                     figures.na_distribution(means, out_dir / "fig1d_na_distribution.png")))
    if found.gases:
        means = {e: {g: _mean([a[g] for a in amounts]) for g in ("D2", "HD", "CO2")}
                 for e, amounts in found.gases.items()}
        made.append(("D2, HD and CO2 by titration (Fig. 1e-g)",
                     figures.gas_amounts(means, out_dir / "fig1efg_gas_amounts.png")))
    if found.dems_traces:
        made.append(("DEMS CO2 with sealed periods shaded (Fig. 5)",
                     figures.dems_co2(found.dems_traces, out_dir / "fig5_dems_co2.png")))
    if found.cvs:
        made.append(("Liquid-cell CV (Fig. 3i)", figures.cyclic_voltammogram(found.cvs, out_dir / "fig3i_cv.png")))

    rows = table_rows(found)
    if rows:
        with open(out_dir / "table.csv", "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    lines = ["# labctl report", "", f"{len(stored_runs)} runs analysed.", ""]
    if rows:
        header = list(rows[0])
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(str(r[h]) for h in header) + " |" for r in rows]
        lines.append("")
    if found.blank:
        lines.append("Blank (uncycled) cell: " + ", ".join(f"{g} {m * 1e9:.2f} nmol" for g, m in found.blank.items())
                     + " — subtracted from every titration (an amount below zero is noise and subtracts nothing).")
        lines.append("")
    findings = verdicts(found)
    if findings:
        lines += ["## Against the paper", ""] + [f"- {v}" for v in findings] + [""]
    lines += calibration_lines(found)
    if made:
        lines += ["## Figures", ""] + [f"![{title}]({path.name})" for title, path in made] + [""]
    lines += list(extra)
    if found.notes:
        lines += ["## Caveats", ""] + [f"- {n}" for n in found.notes] + [""]
    if found.skipped:
        lines += ["## Runs not analysed", ""] + [f"- {s}" for s in found.skipped] + [""]
    md = out_dir / "report.md"
    md.write_text("\n".join(lines), encoding="utf-8")
    return md
