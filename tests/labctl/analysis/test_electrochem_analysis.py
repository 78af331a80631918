import math

import numpy as np
import pandas as pd
import pytest

from labctl.analysis.electrochem import coulombic_efficiency


def galvanostatic_table(plate_s, strip_s, current=1e-3, dt=1.0, rest_s=0.0, cycles=1, with_q=True,
                        prefix="vmp3_1_", keep_rest=True, pulse=None):
    """Rows as ``StoredRun.table(stream, timestamps=True)`` gives them for a potentiostat.

    Each technique (plate, rest, strip) records a row at its own start (t=0, Q=0), then one every dt; the
    instrument's ``<device>_time`` and ``Q`` count from that start, ``timestamp`` is lab time, and ``time``
    is when the event was emitted (a simulated lab emits a run in milliseconds, not in lab time).
    *pulse* = (current, seconds) is a nucleation technique run just before each plating one.
    *keep_rest=False* leaves the rest rows out, as a table built from the plate and strip streams does.
    """
    rows, lab = [], 5000.0
    for c in range(cycles):
        techniques = ([(-pulse[0], pulse[1])] if pulse else []) + [(-current, plate_s), (0.0, rest_s),
                                                                   (current, strip_s)]
        for i_set, duration in techniques:
            if duration <= 0:
                continue
            n = int(round(duration / dt))
            for k in range(n + 1):
                ewe = -0.05 if i_set < 0 else (0.1 if i_set > 0 else 0.0)
                if i_set > 0 and k == n:
                    ewe = 1.0  # the cutoff sample
                if i_set or keep_rest:
                    rows.append({"timestamp": lab + k * dt, prefix + "time": k * dt, prefix + "I": i_set,
                                 prefix + "Ewe": ewe, prefix + "Q": i_set * k * dt, prefix + "step": 0,
                                 prefix + "cycle": c})
            lab += n * dt
    table = pd.DataFrame(rows)
    table.insert(0, "time", 1.7e9 + 1e-3 * np.arange(len(table)))
    if not with_q:
        table = table.drop(columns=prefix + "Q")
    return table


@pytest.mark.parametrize("with_q", [True, False])
def test_ce_of_a_known_current_profile(with_q):
    table = galvanostatic_table(plate_s=3600, strip_s=2700, rest_s=60, cycles=3, with_q=with_q)
    ce = coulombic_efficiency(table, cutoff_V=1.0)
    assert list(ce["cycle"]) == [1, 2, 3]
    assert ce["plated_C"].to_numpy() == pytest.approx(3.6, rel=1e-9)
    assert ce["stripped_C"].to_numpy() == pytest.approx(2.7, rel=1e-9)
    assert ce["ce_percent"].to_numpy() == pytest.approx(75.0, rel=1e-9)
    assert ce["ended_at_cutoff"].all()


@pytest.mark.parametrize("keep_rest", [True, False])
def test_charge_without_q_is_integrated_over_lab_time_within_each_step(keep_rest):
    # 1 mA for 3600 s plated (3.6 C), 30 min rest, 864 s stripped (0.864 C): CE 24 %. The rest (or, with
    # its rows left out, the 1800 s gap before the strip's first row) must add no charge to either step.
    table = galvanostatic_table(plate_s=3600, strip_s=864, rest_s=1800, cycles=2, with_q=False,
                                keep_rest=keep_rest)
    ce = coulombic_efficiency(table, cutoff_V=1.0)
    assert ce["plated_C"].to_numpy() == pytest.approx(3.6, rel=1e-9)
    assert ce["stripped_C"].to_numpy() == pytest.approx(0.864, rel=1e-9)
    assert ce["ce_percent"].to_numpy() == pytest.approx(24.0, rel=1e-9)


def test_q_column_of_nan_falls_back_to_the_lab_time_integral():
    table = galvanostatic_table(plate_s=3600, strip_s=864, rest_s=1800, keep_rest=False)
    table["vmp3_1_Q"] = math.nan
    ce = coulombic_efficiency(table, cutoff_V=1.0)
    assert ce["plated_C"].iloc[0] == pytest.approx(3.6, rel=1e-9)
    assert ce["ce_percent"].iloc[0] == pytest.approx(24.0, rel=1e-9)


@pytest.mark.parametrize("with_q", [True, False])
def test_two_plating_techniques_in_a_row_add_up(with_q):
    # 10 mA for 10 s (0.1 C) then 1 mA for 3600 s (3.6 C): the counter restarts, the charges add
    table = galvanostatic_table(plate_s=3600, strip_s=1850, pulse=(10e-3, 10), with_q=with_q)
    ce = coulombic_efficiency(table, cutoff_V=1.0)
    assert ce["plated_C"].iloc[0] == pytest.approx(3.7, rel=1e-9)
    assert ce["ce_percent"].iloc[0] == pytest.approx(50.0, rel=1e-9)


def test_strip_that_stopped_short_is_flagged():
    table = galvanostatic_table(plate_s=100, strip_s=50)
    table.loc[table.index[-1], "vmp3_1_Ewe"] = 0.4
    ce = coulombic_efficiency(table, cutoff_V=1.0)
    assert ce["ended_at_cutoff"].tolist() == [False]


def test_ambiguous_columns_are_refused():
    a = galvanostatic_table(10, 5, prefix="a_").drop(columns=["time", "timestamp"])
    b = galvanostatic_table(10, 5, prefix="b_")
    with pytest.raises(KeyError, match="several columns"):
        coulombic_efficiency(pd.concat([a, b], axis=1))
