import pandas as pd
import pytest

from labctl.analysis.electrochem import coulombic_efficiency


def galvanostatic_table(plate_s, strip_s, current=1e-3, dt=1.0, rest_s=0.0, cycles=1, with_q=True,
                        prefix="vmp3_1_"):
    """Rows as a potentiostat records them: a sample every dt, Q counted from each step's start."""
    rows, t, step = [], 0.0, 0
    for c in range(cycles):
        for sign, duration in ((-1, plate_s), (0, rest_s), (1, strip_s)):
            if duration <= 0:
                continue
            step += 1
            n = int(round(duration / dt))
            for k in range(1, n + 1):
                ewe = -0.05 if sign < 0 else (0.1 if sign > 0 else 0.0)
                if sign > 0 and k == n:
                    ewe = 1.0  # the cutoff sample
                rows.append({"time": t + k * dt, "I": sign * current, "Ewe": ewe,
                             "Q": sign * current * k * dt, "step": step, "cycle": c})
            t += n * dt
    table = pd.DataFrame(rows)
    if not with_q:
        table = table.drop(columns="Q")
    return table.add_prefix(prefix)


@pytest.mark.parametrize("with_q", [True, False])
def test_ce_of_a_known_current_profile(with_q):
    table = galvanostatic_table(plate_s=3600, strip_s=2700, rest_s=60, cycles=3, with_q=with_q)
    ce = coulombic_efficiency(table, cutoff_V=1.0)
    assert list(ce["cycle"]) == [1, 2, 3]
    assert ce["plated_C"].to_numpy() == pytest.approx(3.6, rel=1e-9)
    assert ce["stripped_C"].to_numpy() == pytest.approx(2.7, rel=1e-9)
    assert ce["ce_percent"].to_numpy() == pytest.approx(75.0, rel=1e-9)
    assert ce["ended_at_cutoff"].all()


def test_strip_that_stopped_short_is_flagged():
    table = galvanostatic_table(plate_s=100, strip_s=50)
    table.loc[table.index[-1], "vmp3_1_Ewe"] = 0.4
    ce = coulombic_efficiency(table, cutoff_V=1.0)
    assert ce["ended_at_cutoff"].tolist() == [False]


def test_ambiguous_columns_are_refused():
    a = galvanostatic_table(10, 5, prefix="a_")
    b = galvanostatic_table(10, 5, prefix="b_")
    with pytest.raises(KeyError, match="several columns"):
        coulombic_efficiency(pd.concat([a, b], axis=1))
