"""The paper's figures drawn from labctl's analysed runs (PNG, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from labctl.report.paper import ELECTROLYTES  # noqa: E402


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def voltage_profiles(profiles: dict[str, dict[int, tuple]], path: Path) -> Path:
    """Ewe against areal capacity for chosen cycles (Fig. 1a,b); ``profiles[electrolyte][cycle] = (mAh/cm2, V)``."""
    cycles = sorted({c for per in profiles.values() for c in per})
    fig, axes = plt.subplots(1, len(cycles), figsize=(5 * len(cycles), 4), squeeze=False)
    for ax, cycle in zip(axes[0], cycles, strict=False):
        for electrolyte, per in profiles.items():
            if cycle in per:
                cap, ewe = per[cycle]
                ax.plot(cap, ewe, label=ELECTROLYTES.get(electrolyte, electrolyte))
        ax.set_title(f"cycle {cycle}")
        ax.set_xlabel("capacity on the electrode (mAh cm$^{-2}$)")
        ax.set_ylabel("E$_{we}$ (V vs Na$^+$/Na)")
        ax.set_ylim(-0.3, 1.1)
        ax.legend(fontsize=7)
    return _save(fig, path)


def nyquist(spectra: dict[str, tuple], path: Path) -> Path:
    """-Z'' against Z' (Fig. 1c); ``spectra[label] = (Zre, Zim)`` in ohm."""
    fig, ax = plt.subplots(figsize=(5, 4))
    for label, (zr, zi) in spectra.items():
        ax.plot(zr, -np.asarray(zi), "o-", ms=3, label=ELECTROLYTES.get(label, label))
    ax.set_xlabel("Z' (Ω)")
    ax.set_ylabel("-Z'' (Ω)")
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(fontsize=7)
    return _save(fig, path)


def na_distribution(percent: dict[str, dict[str, float]], path: Path) -> Path:
    """Stacked bars of reversible / SEI / dead Na after one cycle (Fig. 1d)."""
    names = list(percent)
    fig, ax = plt.subplots(figsize=(6, 4))
    bottom = np.zeros(len(names))
    for part, colour in (("reversible", "tab:green"), ("sei", "tab:orange"), ("dead", "tab:grey")):
        values = np.array([percent[n][part] for n in names])
        ax.bar(names, values, bottom=bottom, label=part, color=colour)
        bottom += values
    ax.set_ylabel("share of plated Na (%)")
    ax.set_xticks(range(len(names)), [ELECTROLYTES.get(n, n) for n in names], rotation=20, fontsize=7)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    return _save(fig, path)


def gas_amounts(amounts: dict[str, dict[str, float]], path: Path) -> Path:
    """D2, HD and CO2 released by titration after one cycle (Fig. 1e-g), in nmol."""
    gases = ("D2", "HD", "CO2")
    names = list(amounts)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    for ax, gas in zip(axes, gases, strict=False):
        ax.bar(range(len(names)), [amounts[n].get(gas, np.nan) * 1e9 for n in names])
        ax.set_title(gas)
        ax.set_ylabel("amount (nmol)")
        ax.set_xticks(range(len(names)), [ELECTROLYTES.get(n, n) for n in names], rotation=20, fontsize=7)
    return _save(fig, path)


def dems_co2(traces: dict[str, tuple], path: Path) -> Path:
    """CO2 at the MS against time with sealed periods shaded (Fig. 5); ``traces[label] = (t_h, x, sealed)``."""
    fig, axes = plt.subplots(len(traces), 1, figsize=(8, 2.8 * len(traces)), squeeze=False, sharex=True)
    for ax, (label, (t_h, x, sealed)) in zip(axes[:, 0], traces.items(), strict=False):
        t_h, ppm = np.asarray(t_h, float), np.asarray(x, float) * 1e6
        gaps = np.flatnonzero(np.diff(t_h) > 10 * np.median(np.diff(t_h))) + 1 if len(t_h) > 2 else []
        # no line across sealed spans
        for t_part, x_part in zip(np.split(t_h, gaps), np.split(ppm, gaps), strict=True):
            ax.plot(t_part, x_part, lw=0.8, color="tab:blue")
        for start, stop in sealed:
            ax.axvspan(start, stop, color="0.85", lw=0)
        ax.set_title(ELECTROLYTES.get(label, label), fontsize=9)
        ax.set_ylabel("CO$_2$ (ppm)")
    axes[-1, 0].set_xlabel("time (h)")
    return _save(fig, path)


def cyclic_voltammogram(curves: dict[str, tuple], path: Path) -> Path:
    """Current density against potential (Fig. 3i); ``curves[label] = (E V, j mA/cm2)``."""
    fig, ax = plt.subplots(figsize=(5, 4))
    for label, (e, j) in curves.items():
        ax.plot(e, j, label=label)
    ax.set_xlabel("E (V vs Pt)")
    ax.set_ylabel("j (mA cm$^{-2}$)")
    ax.legend(fontsize=7)
    return _save(fig, path)
