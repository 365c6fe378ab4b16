"""Periods a staggered design leaves out for want of a comparison group are reported in ``Results.dropped``.

Without never-treated units (every estimator), and with Sun-Abraham's ``control="not_yet_treated"``, the periods
from the last cohort's adoption on have no comparison group and are left out (as R ``did`` / ``fixest::sunab``).
Property: ``n_obs`` plus the rows reported in ``Results.dropped`` equals the rows of the data (before: the rows
were named only in a note, so ``n_obs + dropped < rows``). And the small-groups note calls the last cohort, when it
is the comparison group, by its name, not "never treated".
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evalkit import StaggeredDiD


def _panel(sizes: dict[int, int], periods: int = 6, seed: int = 3) -> pd.DataFrame:
    """One row per unit and period 1..periods; y = unit effect + 0.3 t + 1 once treated + noise."""
    rng = np.random.default_rng(seed)
    rows, unit = [], 0
    for g, k in sizes.items():
        for _ in range(k):
            a = rng.normal()
            for t in range(1, periods + 1):
                rows.append({"id": unit, "year": t, "g": g, "y": a + 0.3 * t + (1.0 if g and t >= g else 0.0)})
                rows[-1]["y"] += rng.normal()
            unit += 1
    return pd.DataFrame(rows)


def _accounted(res, n_rows: int) -> None:
    frame = res.to_frame()
    dropped = int(res.dropped["n_dropped"].sum())
    assert (frame["n_obs"] + dropped == n_rows).all(), (frame["n_obs"].tolist(), dropped, n_rows, res.notes)


@pytest.mark.parametrize("estimator", ["twfe", "sun_abraham", "imputation", "callaway_santanna"])
def test_no_never_treated_late_periods_are_in_dropped(estimator: str) -> None:
    data = _panel({3: 6, 4: 6, 5: 6})  # 18 units x 6 periods; cohort 5 is the comparison, periods 5 and 6 go
    res = StaggeredDiD(data, unit="id", time="year", cohort="g").estimate("y", estimator, control="not_yet_treated")
    reasons = res.dropped.set_index("reason")["n_dropped"]
    # closed form: periods 5 and 6 of all 18 units are left out by the design
    assert reasons["periods from 5 on (no never-treated comparison)"] == 36
    if estimator == "sun_abraham":
        # then Sun-Abraham's own not-yet-treated rule makes cohort 4 a comparison too and leaves out period 4
        assert reasons["Sun-Abraham comparison: last treated (cohort 4; periods from 4 on dropped)"] == 18
    if estimator in ("twfe", "sun_abraham"):  # n_obs counts rows (the others count units per cell)
        _accounted(res, len(data))


def test_sun_abraham_not_yet_treated_late_periods_are_in_dropped() -> None:
    data = _panel({0: 6, 3: 6, 5: 6})  # never treated exist; not_yet_treated makes cohort 5 the comparison
    res = StaggeredDiD(data, unit="id", time="year", cohort="g").estimate("y", "sun_abraham", control="not_yet_treated")
    # closed form: periods 5 and 6 of all 18 units (cohort 5 and the never treated both stay as comparisons)
    assert int(res.dropped["n_dropped"].sum()) == 36
    _accounted(res, len(data))


def test_small_cohort_note_names_the_comparison_cohort() -> None:
    data = _panel({3: 6, 4: 6, 5: 2})  # no never-treated; cohort 5 (2 units) is the comparison group
    for estimator in ("callaway_santanna", "sun_abraham", "twfe"):
        res = StaggeredDiD(data, unit="id", time="year", cohort="g").estimate("y", estimator, control="not_yet_treated")
        small = next(n for n in res.notes if n.startswith("Small groups"))
        assert "cohort 5 (the not-yet-treated comparison group) (2 units)" in small, small
        assert "never treated" not in small
