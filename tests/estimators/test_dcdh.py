"""de Chaisemartin-D'Haultfoeuille (``DiffInDiff.estimate(..., estimator="dcdh")``).

References: diff-diff 3.13 ``ChaisemartinDHaultfoeuille`` (its analytic, cohort-recentred plug-in SEs, Web Appendix
Sec. 3.7.3 of de Chaisemartin and D'Haultfoeuille 2024) on its reversible-treatment generator
``generate_reversible_did_data`` and on mpdta (moderndid's copy of R did's data); closed forms of DID_M (2020 AER,
Theorem 3) on a hand-built panel; the 2x2 difference in means when there is one switch date.
Tolerances: estimates 1e-8 (both sides are the same sums of differences; measured agreement ~1e-15); SEs 1e-8
relative (the same plug-in formula; measured ~1e-15).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import evalkit as ek
from evalkit.errors import DesignError, InferenceError, OptionError
from evalkit.estimators.dcdh import dcdh
from evalkit.inference.influence import analytic_se

diff_diff = pytest.importorskip("diff_diff")
from diff_diff.prep_dgp import generate_reversible_did_data  # noqa: E402

TOL = 1e-8


def _table(df: pd.DataFrame, y: str, d: str, unit: str, time: str, **kw) -> pd.DataFrame:
    res = ek.DiffInDiff(df, d, unit=unit, time=time).estimate(y, estimator="dcdh", **kw)
    return res.to_frame().set_index("term")


def _reference(df: pd.DataFrame, y: str, d: str, unit: str, time: str, L: int, drop: bool = True) -> dict:
    """diff-diff's numbers: DID_M / DID_+ / DID_- from the default fit, DID_l and placebos from L_max=L."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kw = {"twfe_diagnostic": False, "drop_larger_lower": drop}
        base = diff_diff.ChaisemartinDHaultfoeuille(**kw).fit(df, outcome=y, unit=unit, time=time, treatment=d)
        dyn = diff_diff.ChaisemartinDHaultfoeuille(**kw).fit(df, outcome=y, unit=unit, time=time, treatment=d, L_max=L)
    out = {
        "overall": (base.overall_att, base.overall_se),
        "joiners": (base.joiners_att, base.joiners_se),
        "leavers": (base.leavers_att, base.leavers_se),
    }
    for k, v in dyn.event_study_effects.items():
        out[f"event_time::{k}"] = (v["effect"], v["se"])
    for k, v in dyn.placebo_event_study.items():
        out[f"event_time::{k}"] = (v["effect"], v["se"])
    return out


def _assert_matches(tab: pd.DataFrame, ref: dict) -> None:
    for term, (est, se) in ref.items():
        if np.isnan(est):
            assert np.isnan(tab.loc[term, "estimate"]), term
            continue
        assert tab.loc[term, "estimate"] == pytest.approx(est, abs=TOL), term
        assert tab.loc[term, "std_error"] == pytest.approx(se, rel=TOL), term


# diff-diff drops multi-switch groups by default (drop_larger_lower=True); evalkit keeps them, as the 2024 paper
# and R's DIDmultiplegtDYN do for a binary treatment (it can never be both above and below its baseline). The
# single-switch patterns make the drop a no-op; "random" (many reversals) is compared with drop_larger_lower=False.
# (joiners_only / leavers_only: see test_cells_without_stable_group_are_dropped_not_zeroed.)
@pytest.mark.parametrize(
    ("pattern", "drop", "seed"),
    [
        ("single_switch", True, 1),
        ("single_switch", True, 7),
        ("mixed_single_switch", True, 1),
        ("random", False, 1),
        ("random", False, 5),
    ],
)
def test_matches_diff_diff_on_reversible_generator(pattern: str, drop: bool, seed: int) -> None:
    df = generate_reversible_did_data(n_groups=60, n_periods=6, pattern=pattern, seed=seed)
    tab = _table(df, "outcome", "treatment", "group", "period", effects=3, placebo=2)
    ref = _reference(df, "outcome", "treatment", "group", "period", L=3, drop=drop)
    _assert_matches(tab, {k: v for k, v in ref.items() if k in tab.index})
    assert list(tab.loc[tab["type"] == "placebo", "event_time"]) == [-1, -2]


def test_matches_diff_diff_on_mpdta() -> None:
    moderndid = pytest.importorskip("moderndid")
    m = moderndid.load_mpdta().to_pandas()
    m["treat"] = ((m["first.treat"] > 0) & (m["year"] >= m["first.treat"])).astype(int)
    tab = _table(m, "lemp", "treat", "countyreal", "year", effects=3, placebo=2)
    ref = _reference(m, "lemp", "treat", "countyreal", "year", L=3)
    _assert_matches(tab, {k: v for k, v in ref.items() if k in tab.index})
    # diff-diff 3.13, printed 2026-12: DID_M = DID_1 = -0.018922199083 (SE 0.012013465773) on mpdta
    assert tab.loc["overall", "estimate"] == pytest.approx(-0.018922199083424976, abs=TOL)
    assert tab.loc["event_time::3", "estimate"] == pytest.approx(-0.13627434632867746, abs=TOL)


def test_cells_without_stable_group_are_dropped_not_zeroed() -> None:
    # joiners_only: in the last period every remaining group joins, so no group stays untreated. evalkit leaves those
    # cells out (note); diff-diff keeps them in N_S with DID_+,t = 0 ("A11" zero-retention). The two are related by
    # diff-diff's DID_M = evalkit's DID_M x N_kept / (N_kept + N_dropped).
    df = generate_reversible_did_data(n_groups=60, n_periods=6, pattern="joiners_only", seed=1)
    res = ek.DiffInDiff(df, "treatment", unit="group", time="period").estimate("outcome", estimator="dcdh")
    tab = res.to_frame().set_index("term")
    ref = _reference(df, "outcome", "treatment", "group", "period", L=1)
    n_kept = int(tab.loc["overall", "n_treated"])
    dropped_note = [n for n in res.notes if "without a stable comparison group" in n]
    assert len(dropped_note) == 1 and "14 joiner cell(s) at period 5" in dropped_note[0]
    assert tab.loc["overall", "estimate"] * n_kept / (n_kept + 14) == pytest.approx(ref["overall"][0], abs=TOL)
    assert np.isnan(tab.loc["leavers", "estimate"])  # no leaver: NaN with a note
    assert any("leavers: no switcher" in n for n in res.notes)


def test_did_m_closed_form_on_a_hand_built_panel() -> None:
    # 5 groups x 3 periods; treatment paths: A 0,1,0 ; B 0,0,1 ; C 0,0,0 ; E 1,1,0 ; F 1,1,1.
    D = np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0], [1, 1, 0], [1, 1, 1]], dtype=float)
    Y = np.array([[1, 4, 2], [2, 3, 7], [0, 1, 3], [5, 6, 5], [4, 7, 8]], dtype=float)
    # t=2: joiner A (dY=3) vs stable-0 {B (1), C (1)}: DID_+,2 = 3 - 1 = 2; stable-1 E, F but no leaver.
    # t=3: joiner B (dY=4) vs stable-0 {C (2)}: DID_+,3 = 2; leavers A (dY=-2), E (-1) vs stable-1 {F (1)}:
    #      DID_-,3 = 1 - (-1.5) = 2.5.  N_S = 1 + 1 + 2 = 4.
    # DID_M = (1*2 + 1*2 + 2*2.5) / 4 = 2.25; DID_+ = 2; DID_- = 2.5.
    fit = dcdh(Y, D)
    assert fit.terms[:3] == ("overall", "joiners", "leavers")
    np.testing.assert_allclose(fit.estimates, [2.25, 2.0, 2.5], atol=1e-12)
    np.testing.assert_array_equal(fit.n_switchers, [4, 2, 2])
    # Property: the cohort-recentred contributions sum to zero, so the influence functions have mean zero.
    np.testing.assert_allclose(fit.influence.sum(axis=0), 0.0, atol=1e-12)


def test_one_switch_date_equals_the_2x2() -> None:
    # Absorbing treatment, one adoption date: DID_M, DID_+ and DID_1 are the 2x2 difference in mean changes
    # between the period before and the adoption period (closed form computed here with pandas).
    rng = np.random.default_rng(3)
    n, T = 30, 4
    unit = np.repeat(np.arange(n), T)
    period = np.tile(np.arange(T), n)
    treated = unit < 12
    d = (treated & (period >= 2)).astype(int)
    y = rng.normal(size=n * T) + 0.3 * period + 1.5 * d + unit * 0.1
    df = pd.DataFrame({"u": unit, "t": period, "d": d, "y": y})
    wide = df.pivot(index="u", columns="t", values="y")
    change = wide[2] - wide[1]
    expected = change[:12].mean() - change[12:].mean()
    tab = _table(df, "y", "d", "u", "t", effects=1)
    for term in ("overall", "joiners", "event_time::1"):
        assert tab.loc[term, "estimate"] == pytest.approx(expected, abs=1e-12)
    # the 2x2 on periods 1-2 by TWFE (two periods: TWFE = the difference in mean changes)
    two = df[df["t"].isin([1, 2])]
    twfe = ek.DiffInDiff(two, "d", unit="u", time="t").estimate("y", inference="CR1")
    assert float(twfe._table["estimate"].iloc[0]) == pytest.approx(expected, abs=1e-10)


def test_clusters_sum_the_group_influence_functions() -> None:
    df = generate_reversible_did_data(n_groups=40, n_periods=5, pattern="single_switch", seed=4)
    df["region"] = df["group"] % 7
    res = ek.DiffInDiff(df, "treatment", unit="group", time="period", clusters="region").estimate(
        "outcome", estimator="dcdh", effects=2
    )
    Y = df.pivot(index="group", columns="period", values="outcome").to_numpy()
    D = df.pivot(index="group", columns="period", values="treatment").to_numpy().astype(float)
    fit = dcdh(Y, D, effects=2)
    regions = (np.arange(40) % 7).astype(np.intp)
    se = analytic_se(fit.influence, regions)
    np.testing.assert_allclose(res.to_frame()["std_error"].to_numpy(), se, rtol=1e-12)
    assert int(res.to_frame()["n_clusters"].iloc[0]) == 7
    assert "clustered by 'region'" in res.inference


def test_joint_placebo_test_with_one_placebo_is_the_squared_t() -> None:
    df = generate_reversible_did_data(n_groups=60, n_periods=6, pattern="single_switch", seed=2)
    tab = _table(df, "outcome", "treatment", "group", "period", placebo=1)
    row = tab.loc["event_time::-1"]
    assert row["placebo_chi2"] == pytest.approx((row["estimate"] / row["std_error"]) ** 2, rel=1e-10)
    assert int(row["placebo_df"]) == 1


def test_degenerate_and_refused_cases() -> None:
    one = pd.DataFrame({"u": [1, 1, 1], "t": [1, 2, 3], "d": [0, 1, 0], "y": [1.0, 2.0, 1.5]})
    with pytest.raises(DesignError, match="at least two groups"):
        ek.DiffInDiff(one, "d", unit="u", time="t").estimate("y", estimator="dcdh")
    # every group switches at the same time: no stable comparison group for any switching cell
    both = pd.DataFrame({"u": [1, 1, 2, 2], "t": [1, 2, 1, 2], "d": [0, 1, 0, 1], "y": [1.0, 2.0, 0.0, 3.0]})
    with pytest.raises(DesignError, match="no switching cell"):
        ek.DiffInDiff(both, "d", unit="u", time="t").estimate("y", estimator="dcdh")
    df = generate_reversible_did_data(n_groups=20, n_periods=4, seed=1)
    df["x"] = np.arange(len(df), dtype=float)
    did = ek.DiffInDiff(df, "treatment", unit="group", time="period")
    with pytest.raises(OptionError, match="covariates"):
        did.estimate("outcome", estimator="dcdh", covariates="x")
    with pytest.raises(OptionError, match="options of estimator='dcdh'"):
        did.estimate("outcome", effects=2)
    with pytest.raises(OptionError, match="effects"):
        did.estimate("outcome", estimator="dcdh", effects=-1)
    with pytest.raises(InferenceError, match="analytic"):
        did.estimate("outcome", estimator="dcdh", inference="CR2")


def test_multiplier_bootstrap_se_close_to_analytic() -> None:
    # Property: with groups as clusters the multiplier bootstrap's SE estimates the same variance as the analytic
    # plug-in (sum of squared influence functions); with 4000 Rademacher draws its Monte Carlo error is ~2%.
    df = generate_reversible_did_data(n_groups=80, n_periods=5, pattern="single_switch", seed=3)
    did = ek.DiffInDiff(df, "treatment", unit="group", time="period")
    analytic = did.estimate("outcome", estimator="dcdh", effects=2).to_frame()["std_error"].to_numpy()
    boot = ek.inference.MultiplierBootstrap(reps=4000, weights="rademacher", seed=11)
    res = did.estimate("outcome", estimator="dcdh", effects=2, inference=boot)
    assert "multiplier bootstrap" in res.inference
    ok = np.isfinite(analytic)
    np.testing.assert_allclose(res.to_frame()["std_error"].to_numpy()[ok], analytic[ok], rtol=0.1)


def test_unbalanced_panel_drops_groups_with_holes_or_no_baseline() -> None:
    # A group missing the first period (no baseline) or with a hole between observed periods is dropped (notes);
    # evalkit then equals diff-diff on the panel without those groups. A group whose last periods are missing is
    # kept, and diff-diff agrees directly (its cell-presence guards).
    df = generate_reversible_did_data(n_groups=60, n_periods=6, pattern="single_switch", seed=1)
    ragged = df[~(((df.group == 3) & (df.period == 3)) | ((df.group == 5) & (df.period == 0)))].copy()
    ragged = ragged[~((ragged.group == 9) & (ragged.period == 5))]
    res = ek.DiffInDiff(ragged, "treatment", unit="group", time="period").estimate(
        "outcome", estimator="dcdh", effects=2
    )
    tab = res.to_frame().set_index("term")
    assert any("not observed in the first period" in n and "5" in n for n in res.notes)
    assert any("missing period between observed" in n and "3" in n for n in res.notes)
    ref = _reference(ragged[~ragged.group.isin([3, 5])], "outcome", "treatment", "group", "period", L=2)
    _assert_matches(tab, {k: v for k, v in ref.items() if k in tab.index})
