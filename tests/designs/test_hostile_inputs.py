"""Regressions found by the fuzz suite (tests/fuzz, issue 9): each test is a hostile input that once crashed outside
EvalkitError or was handled wrongly (rows left out without being reported, a changed caller frame, ...).

Every expected number is a count of rows of the input frame, worked out by hand next to it (closed form).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

import evalkit as ek


def _panel_with_always_treated() -> pd.DataFrame:
    """8 units x 4 periods: units 0-1 treated from period 0 (no pre-period), 2-3 from period 2, 4-7 never."""
    rng = np.random.default_rng(0)
    start = {0: 0, 1: 0, 2: 2, 3: 2, 4: 9, 5: 9, 6: 9, 7: 9}
    rows = [{"u": u, "t": t, "d": int(t >= s), "y": rng.normal()} for u, s in start.items() for t in range(4)]
    return pd.DataFrame(rows)


def _reported(res: ek.Results) -> int:
    d = res.dropped.drop_duplicates(["outcome", "reason"])
    return int(d["n_dropped"].sum())


def test_did_panel_reports_always_treated_rows_in_dropped() -> None:
    # Closed form: units 0 and 1 (4 rows each) have no pre-treatment period and are left out: 8 of 32 rows; the
    # fit uses the other 24. Results.dropped must say so (it said nothing; only a note did).
    data = _panel_with_always_treated()
    res = ek.DiffInDiff(data, "d", unit="u", time="t").estimate("y")
    assert int(res.to_frame()["n_obs"].iloc[0]) == 24
    assert _reported(res) == 8
    assert res.dropped["column"].tolist() == ["d"]


def test_did_panel_always_treated_rows_with_missing_outcomes_counted_once() -> None:
    # Closed form: y missing in row 0 (unit 0, always treated) and row 12 (unit 3, period 0): 2 rows dropped for
    # missing values; 7 further rows of units 0-1 dropped as always treated; 32 - 2 - 7 = 23 rows used.
    data = _panel_with_always_treated()
    data.loc[[0, 12], "y"] = np.nan
    res = ek.DiffInDiff(data, "d", unit="u", time="t").estimate("y")
    assert int(res.to_frame()["n_obs"].iloc[0]) == 23
    assert _reported(res) == 9
    assert set(res.dropped["n_dropped"]) == {2, 7}


def test_event_study_reports_rows_outside_the_window_in_dropped() -> None:
    # Closed form: with leads=1, lags=0 and bin_endpoints=False, units 2-3 lose event times -2 and +1 (2 rows
    # each: 4 rows) besides the 8 always-treated rows: 32 - 12 = 20 rows used.
    data = _panel_with_always_treated()
    res = ek.DiffInDiff(data, "d", unit="u", time="t").estimate(
        "y", estimator="event_study", leads=1, lags=0, bin_endpoints=False
    )
    assert set(res.to_frame()["n_obs"]) == {20}
    assert _reported(res) == 12


def test_summary_lists_every_reason_rows_were_dropped() -> None:
    # Two reasons for one outcome (2 rows with missing y, 7 always-treated rows): summary() lists both; it listed
    # only the first record of each outcome.
    data = _panel_with_always_treated()
    data.loc[[0, 12], "y"] = np.nan
    text = ek.DiffInDiff(data, "d", unit="u", time="t").estimate("y").summary()
    assert "y: 2 row(s) (missing values in 'y' (2))" in text
    assert "y: 7 row(s) (unit already treated in its first observed period" in text
