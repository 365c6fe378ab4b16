"""Issue 8, item 2: a standard error that is zero up to rounding becomes NaN with a note, in one place.

Before the fix, Callaway-Sant'Anna with one cluster returned SE ~1e-17, p = 0, a zero-width interval and a
pre-test W ~1e30; Sun-Abraham and TWFE went through their own t tests.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import evalkit as ek
from evalkit.inference.analytic import DEGENERATE_RTOL, degenerate_se, t_tests

from _references import published


@pytest.fixture(scope="module")
def mpdta() -> pd.DataFrame:
    moderndid = pytest.importorskip("moderndid")  # only the Callaway-Sant'Anna tests need it
    return moderndid.load_mpdta().to_pandas()


def test_t_tests_match_scipy_and_flag_degenerate_errors():
    # SOURCE: scipy.stats t and normal distributions (closed form). TOLERANCE: 1e-14 relative.
    out = t_tests(np.array([1.0, -2.0, 3.0]), np.array([0.5, 1.0, 1e-17]), np.array([10.0, np.inf, 10.0]), alpha=0.1)
    assert out.p_value[0] == pytest.approx(2 * stats.t.sf(2.0, 10), rel=1e-14)
    assert out.p_value[1] == pytest.approx(2 * stats.norm.sf(2.0), rel=1e-14)
    assert out.conf_low[0] == pytest.approx(1.0 - stats.t.ppf(0.95, 10) * 0.5, rel=1e-14)
    assert out.conf_high[1] == pytest.approx(-2.0 + stats.norm.ppf(0.95), rel=1e-14)
    assert out.degenerate.tolist() == [False, False, True]
    assert np.isnan([out.std_error[2], out.statistic[2], out.p_value[2], out.conf_low[2], out.conf_high[2]]).all()
    assert "zero up to rounding" in out.notes(["a", "b", "c"])[0] and "c" in out.notes(["a", "b", "c"])[0]


def test_degenerate_rule_is_relative_to_the_scale():
    # The rule is scale free: the same data in other units give the same verdict.
    for unit in (1e-12, 1.0, 1e12):
        assert degenerate_se(1e-17 * unit, 0.03 * unit).item()
        assert not degenerate_se(1e-3 * unit, 0.03 * unit).item()
        # an estimate of exactly zero is judged against the data's scale
        assert degenerate_se(1e-20 * unit, 0.0, scale=1.0 * unit).item()
    assert not degenerate_se(np.nan, 1.0).item()
    assert DEGENERATE_RTOL == 1e-10


def test_callaway_santanna_with_one_cluster_reports_nan_not_p_zero(mpdta):
    data = mpdta.assign(one=1)
    stag = ek.StaggeredDiD(data, unit="countyreal", time="year", cohort="first.treat", clusters="one")
    res = stag.estimate("lemp", aggregate="all")
    table = res.to_frame()
    # every SE is exactly zero in exact arithmetic with a single cluster: NaN, never p = 0
    assert table["std_error"].isna().all()
    assert table["p_value"].isna().all()
    assert table["conf_low"].isna().all()
    assert np.isfinite(table["estimate"]).all()
    assert table["pretest_statistic"].isna().all()  # was ~1e30
    assert any("zero up to rounding" in n for n in res.notes)


def test_callaway_santanna_cells_within_one_cluster(mpdta):
    # Clustering by cohort puts every unit of a cell's treated group in one cluster and the controls in another:
    # each ATT(g,t)'s influence function sums to zero within both, so its SE is zero in exact arithmetic.
    stag = ek.StaggeredDiD(mpdta, unit="countyreal", time="year", cohort="first.treat", clusters="first.treat")
    table = stag.estimate("lemp").to_frame()
    assert table["std_error"].isna().all()
    assert table["p_value"].isna().all()


def test_callaway_santanna_normal_case_is_not_flagged(mpdta):
    # PROPERTY: the rule leaves ordinary data alone. SOURCE for the estimate: R did README (att_gt on mpdta),
    # ATT(2004,2004) = -0.0105, as stated in replications/callaway_santanna_mpdta.toml; TOLERANCE the file's, 5e-5.
    # Its analytic SE equals csdid's to 1e-10 (tests/designs/test_staggered.py); here it must stay finite, with a
    # finite p-value and no degenerate-SE note.
    stag = ek.StaggeredDiD(mpdta, unit="countyreal", time="year", cohort="first.treat")
    res = stag.estimate("lemp")
    table = res.to_frame()
    att = published("callaway_santanna_mpdta.toml", "estimate", term="ATT(2004,2004)")
    assert table["estimate"].iloc[0] == pytest.approx(att.value, abs=att.tolerance)
    assert np.isfinite(table["std_error"]).all() and np.isfinite(table["p_value"]).all()
    assert not any("zero up to rounding" in n for n in res.notes)


def test_trial_with_exact_fit_nan_standard_error():
    # y is an exact linear function of treatment: every residual is zero and so is every SE (HC2, classical).
    data = pd.DataFrame({"t": [0, 1] * 10, "x": np.arange(20.0)})
    data["y"] = 3.0 + 2.0 * data["t"]
    for inference in ("HC2", "classical"):
        res = ek.RandomizedTrial(data, treatment="t").estimate("y", inference=inference)
        row = res.to_frame().iloc[0]
        assert row["estimate"] == pytest.approx(2.0, rel=1e-12)
        assert np.isnan(row["std_error"]) and np.isnan(row["p_value"])
        assert any("zero up to rounding" in n for n in res.notes)
