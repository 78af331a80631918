"""Resistances read off an impedance spectrum.

The interfacial resistance (SEI plus charge transfer) is the width of the semicircle(s): from the
high-frequency intercept with the real axis (electrolyte resistance) to the minimum of -Z'' that separates
the arcs from the low-frequency diffusion tail.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Resistances:
    """Ohmic and charge-transfer resistance read off a Nyquist plot."""

    electrolyte_ohm: float
    interfacial_ohm: float


def resistances(freq_Hz, z_re, z_im) -> Resistances:
    """The high-frequency intercept and the arc's width of an impedance spectrum."""
    f = np.asarray(freq_Hz, float)
    zr = np.asarray(z_re, float)
    mzi = -np.asarray(z_im, float)
    order = np.argsort(-f)                      # high to low frequency
    f, zr, mzi = f[order], zr[order], mzi[order]
    if len(f) < 5:
        raise ValueError("an impedance spectrum needs at least 5 frequencies")
    r_el = float(zr[0] if mzi[0] <= 0 else _intercept(zr, mzi))
    # the arc ends where -Z'' turns up again into the diffusion tail: the last local minimum of a smoothed -Z''
    smooth = np.convolve(mzi, np.ones(3) / 3, mode="same")
    peak = int(np.argmax(smooth[1:-1])) + 1
    tail = smooth[peak:]
    end = peak + int(np.argmin(tail[:-1])) if len(tail) > 2 else len(zr) - 1
    return Resistances(electrolyte_ohm=r_el, interfacial_ohm=float(zr[end] - r_el))


def _intercept(zr, mzi) -> float:
    """Extrapolate the first two high-frequency points to -Z'' = 0."""
    (x0, y0), (x1, y1) = (zr[0], mzi[0]), (zr[1], mzi[1])
    if y1 == y0:
        return float(x0)
    return float(x0 - y0 * (x1 - x0) / (y1 - y0))
