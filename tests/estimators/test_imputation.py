"""Borusyak, Jaravel and Spiess (2024) imputation estimator: ``StaggeredDiD.estimate(..., estimator="imputation")``.

References: ``diff_diff.ImputationDiD`` 3.13 (which documents parity with R ``didimputation``) on mpdta and on its
staggered generator, for estimates (1e-8), conservative SEs and the pre-trend test; closed forms on a two-period
panel; an independent dense dummy-variable implementation of the imputation weights and of the Theorem 3 variance
for the aggregations diff-diff does not report (calendar, the overall summaries) and for covariates with weights;
statsmodels for the pre-trend regression.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from evalkit.designs.staggered import StaggeredDiD
from evalkit.errors import EstimationError, EvalkitError, OptionError
from evalkit.estimators.imputation import imputation_aggregate, imputation_att
from evalkit.inference.influence import MultiplierBootstrap

dd = pytest.importorskip("diff_diff")

EST_TOL = 1e-8  # estimates vs diff-diff (measured <= 2e-11: diff-diff demeans iteratively to 1e-10)
SE_RTOL = 1e-8  # conservative SEs vs diff-diff, relative (measured <= 2e-12: both solve the same projection exactly)


def _mpdta() -> pd.DataFrame:
    moderndid = pytest.importorskip("moderndid")
    return moderndid.load_mpdta().to_pandas()


def _generated(seed: int = 1, **kwargs: object) -> pd.DataFrame:
    """diff-diff's staggered generator (periods 0..7, cohorts 3, 5, 7, never treated coded 0)."""
    return dd.generate_staggered_data(n_units=kwargs.pop("n_units", 200), n_periods=8, seed=seed, **kwargs)


def _diff_diff(data: pd.DataFrame, y: str, unit: str, time: str, g: str, **kwargs: object) -> dict:
    covariates = kwargs.pop("covariates", None)
    survey = kwargs.pop("survey_design", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = dd.ImputationDiD(**kwargs).fit(
            data, outcome=y, unit=unit, time=time, first_treat=g, covariates=covariates, survey_design=survey
        )
        es = res.aggregate("event_study")
        groups = res.aggregate("group").to_dataframe()
        pre = res.pretrend_test()
    # reference and non-imputable event times (NaN in diff-diff; evalkit reports no row for them)
    keep = ~np.asarray(es.is_reference, dtype=bool) & np.isfinite(np.asarray(es.att, dtype=float))
    return {
        "simple": (res.overall_att, res.overall_se),
        "dynamic": {
            float(e): (a, s)
            for e, a, s in zip(
                np.asarray(es.event_time)[keep], np.asarray(es.att)[keep], np.asarray(es.se)[keep], strict=True
            )
        },
        "group": {float(r.label): (r.att, r.se) for r in groups.itertuples() if np.isfinite(r.att)},
        "pretest": (pre["f_stat"] * pre["df"], pre["p_value"], pre["df"]),
    }


def _check_against(frame: pd.DataFrame, ref: dict, *, kinds: tuple[str, ...] = ("simple", "dynamic", "group")) -> None:
    for kind in kinds:
        if kind == "simple":
            row = frame[frame["type"] == "simple overall"]
            got = row[["estimate", "std_error"]].to_numpy()[0]
            want = np.array(ref["simple"])
        else:
            key = "event_time" if kind == "dynamic" else "group"
            rows = frame[frame["type"] == kind].set_index(key)
            assert sorted(rows.index) == sorted(ref[kind]), (kind, list(rows.index), list(ref[kind]))
            got = rows.loc[sorted(ref[kind]), ["estimate", "std_error"]].to_numpy()
            want = np.array([ref[kind][k] for k in sorted(ref[kind])])
        np.testing.assert_allclose(np.atleast_2d(got)[:, 0], np.atleast_2d(want)[:, 0], rtol=0, atol=EST_TOL)
        np.testing.assert_allclose(np.atleast_2d(got)[:, 1], np.atleast_2d(want)[:, 1], rtol=SE_RTOL)


def _check_pretest(frame: pd.DataFrame, ref: dict) -> None:
    # SOURCE: diff_diff ImputationDiD.pretrend_test(): F = W / q, p from F(q, G - 1); TOLERANCE 1e-8 relative
    W, p, q = ref["pretest"]
    assert frame["pretest_df"].iloc[0] == q
    np.testing.assert_allclose(frame["pretest_statistic"].iloc[0], W, rtol=1e-8)
    np.testing.assert_allclose(frame["pretest_p_value"].iloc[0], p, rtol=1e-8)


# ------------------------------------------------------------------------------------------------ vs diff-diff
def test_mpdta_matches_diff_diff() -> None:
    # SOURCE: diff_diff.ImputationDiD().fit(mpdta) 3.13: overall ATT -0.0477099, SE 0.0132225 (the R didimputation
    # value, which diff-diff documents parity with); event study, group effects and the pre-trend test
    data = _mpdta()
    frame = (
        StaggeredDiD(data, "countyreal", "year", "first.treat")
        .estimate("lemp", estimator="imputation", aggregate="all")
        .to_frame()
    )
    ref = _diff_diff(data, "lemp", "countyreal", "year", "first.treat")
    _check_against(frame, ref)
    _check_pretest(frame, ref)
    assert ref["simple"][0] == pytest.approx(-0.0477099, abs=5e-8)  # guard: the reference itself is the one expected


@pytest.mark.parametrize(
    "case",
    ["plain", "clusters", "covariate", "no_never_treated", "always_treated"],
)
def test_staggered_generator_matches_diff_diff(case: str) -> None:
    # SOURCE: diff_diff.ImputationDiD on diff_diff.generate_staggered_data; TOLERANCE EST_TOL, SE_RTOL
    data = _generated(seed=1, never_treated_frac=0.0 if case == "no_never_treated" else 0.3)
    data["cl"] = data["unit"] % 17
    data["x"] = np.random.default_rng(0).normal(size=len(data)) + 0.1 * data["period"]  # time-varying
    data["y"] = data["outcome"] + 0.5 * data["x"]
    if case == "always_treated":  # periods 1..8; units 6-10 treated from period 1: no untreated observation
        data["period"] += 1
        data.loc[data["first_treat"] > 0, "first_treat"] += 1
        data.loc[data["unit"].between(6, 10), "first_treat"] = 1
    kw: dict = {}
    ours_kw: dict = {}
    if case == "clusters":
        kw["cluster"] = "cl"
        ours_kw["clusters"] = "cl"
    covs = ["x"] if case == "covariate" else None
    y = "y" if case == "covariate" else "outcome"
    res = StaggeredDiD(data, "unit", "period", "first_treat", **ours_kw).estimate(
        y, estimator="imputation", aggregate="all", covariates=covs
    )
    frame = res.to_frame()
    ref = _diff_diff(data, y, "unit", "period", "first_treat", covariates=covs, **kw)
    _check_against(frame, ref)
    if case == "no_never_treated":  # the leads of the last cohort make the lead regression singular in both
        assert np.isnan(frame["pretest_statistic"].iloc[0]) and np.isnan(ref["pretest"][0])
        assert any("pre-trend test" in n and "NaN" in n for n in res.notes)
        assert any(n.startswith("Imputation: in the periods from 7 on") for n in res.notes)
    else:
        _check_pretest(frame, ref)
    if case == "always_treated":
        assert any("5 unit(s) treated in or before the first period" in n for n in res.notes)
        assert res.dropped["n_dropped"].sum() == 5 * 8


def test_anticipation_matches_diff_diff_event_times_and_cells() -> None:
    # diff-diff's overall averages every observation from g - anticipation on; evalkit's simple and group effects
    # start at g (as Callaway and Sant'Anna's), the anticipation periods are the event times below zero. Checked:
    # every event time (incl. -1) against diff-diff, and diff-diff's overall as the treated-count-weighted mean of
    # evalkit's cohort x period effects (which include the anticipation cells).
    data = _generated(seed=2)
    frame = (
        StaggeredDiD(data, "unit", "period", "first_treat")
        .estimate("outcome", estimator="imputation", aggregate="all", anticipation=1)
        .to_frame()
    )
    ref = _diff_diff(data, "outcome", "unit", "period", "first_treat", anticipation=1)
    _check_against(frame, ref, kinds=("dynamic",))
    assert -1.0 in ref["dynamic"]
    cells = frame[frame["type"] == "att_gt"]
    pooled = float(np.average(cells["estimate"], weights=cells["n_treated"]))
    np.testing.assert_allclose(pooled, ref["simple"][0], rtol=0, atol=EST_TOL)
    _check_pretest(frame, ref)


def test_unit_weights_match_diff_diff_survey_weights() -> None:
    # SOURCE: diff_diff ImputationDiD(survey_design=SurveyDesign(weights=...)): the same weighted estimates
    # (TOLERANCE EST_TOL); its SE is the Taylor-linearization variance of the same Theorem 3 influence functions psi
    # (units as PSUs sampled with replacement): G / (G - 1) * sum (psi_i - mean psi)^2, while evalkit's is
    # sum psi_i^2 (BJS; with unequal weights psi need not sum to zero). Both checked from evalkit's psi
    # (TOLERANCE SE_RTOL).
    data = _generated(seed=5, n_units=120)
    w_unit = np.random.default_rng(1).uniform(0.5, 2.0, data["unit"].nunique())
    data["w"] = w_unit[data["unit"]]
    frame = (
        StaggeredDiD(data, "unit", "period", "first_treat", weights="w")
        .estimate("outcome", estimator="imputation", aggregate="simple")
        .to_frame()
    )
    ref = _diff_diff(data, "outcome", "unit", "period", "first_treat", survey_design=dd.SurveyDesign(weights="w"))
    G = data["unit"].nunique()
    Y = data.pivot(index="unit", columns="period", values="outcome")
    cohort = data.groupby("unit")["first_treat"].first().reindex(Y.index).to_numpy(float)
    fit = imputation_att(
        Y.to_numpy(), np.where(cohort > 0, cohort, np.inf), Y.columns.to_numpy(float), weights=w_unit[Y.index]
    )
    psi = imputation_aggregate(fit, "simple").overall_influence / G
    np.testing.assert_allclose(frame["estimate"].iloc[0], ref["simple"][0], rtol=0, atol=EST_TOL)
    np.testing.assert_allclose(frame["std_error"].iloc[0], np.sqrt(np.sum(psi**2)), rtol=1e-12)
    np.testing.assert_allclose(np.sqrt(G / (G - 1) * np.sum((psi - psi.mean()) ** 2)), ref["simple"][1], rtol=SE_RTOL)


def test_weights_are_frequency_weights_for_the_estimates() -> None:
    # property: a unit weight of 2 gives the same estimates as the unit entered twice
    data = _generated(seed=6, n_units=60)
    data["w"] = np.where(data["unit"] % 3 == 0, 2.0, 1.0)
    twice = pd.concat([data, data[data["unit"] % 3 == 0].assign(unit=lambda d: d["unit"] + 1000)])
    a = StaggeredDiD(data, "unit", "period", "first_treat", weights="w").estimate(
        "outcome", "imputation", aggregate="all"
    )
    b = StaggeredDiD(twice, "unit", "period", "first_treat").estimate("outcome", "imputation", aggregate="all")
    np.testing.assert_allclose(a.to_frame()["estimate"], b.to_frame()["estimate"], rtol=0, atol=1e-10)


# ------------------------------------------------------------------------------------------------ closed forms
def test_two_period_closed_form() -> None:
    # units A, B never treated, C treated in period 2. The untreated model fits C's period 1 exactly and the period
    # effect from A and B: tau = (Y_C2 - Y_C1) - mean(dY_A, dY_B). Theorem 3 with unit clusters: C's residuals are
    # zero (a one-unit cell), v = (-1/2, +1/2) on A's and B's periods (1, 2) and their residuals are -+ d_i / 2 with
    # d_i = dY_i - mean(dY), so psi_A = -d_A / 2 = -psi_B and SE = |dY_A - dY_B| / (2 sqrt 2).
    y = {("A", 1): 1.0, ("A", 2): 3.0, ("B", 1): 2.0, ("B", 2): 2.5, ("C", 1): 0.5, ("C", 2): 4.0}
    data = pd.DataFrame([{"id": u, "t": t, "g": 2 if u == "C" else 0, "y": v} for (u, t), v in y.items()])
    res = StaggeredDiD(data, "id", "t", "g").estimate("y", "imputation", aggregate="simple")
    dA, dB = 2.0, 0.5
    expected_tau = (4.0 - 0.5) - (dA + dB) / 2
    row = res.to_frame().iloc[0]
    assert row["term"] == "overall" and row["type"] == "simple overall"
    assert row["estimate"] == pytest.approx(expected_tau, abs=1e-12)
    assert row["std_error"] == pytest.approx(abs(dA - dB) / (2 * np.sqrt(2)), rel=1e-12)


def _dense_reference(data: pd.DataFrame, y: str, covs: list[str], w: str, cl: str) -> pd.DataFrame:
    """The imputation estimator from the full dummy-variable regression on the untreated observations, the weights
    on the untreated outcomes by the explicit projection v0 = -W0 A0 (A0' W0 A0)^-1 A1' w1 (BJS Prop. 5 / Thm 3)
    and the conservative variance by its definition -- an independent implementation, on a small panel."""
    d = data.sort_values(["id", "t"]).reset_index(drop=True)
    g = d["g"].where(d["g"] > 0, np.inf).to_numpy(float)
    t = d["t"].to_numpy(float)
    treated = t >= g
    units, periods = np.unique(d["id"]), np.unique(t)
    unit_dummies = (d["id"].to_numpy()[:, None] == units[None, :]).astype(float)
    A = np.column_stack([unit_dummies, (t[:, None] == periods[None, 1:]).astype(float), d[covs].to_numpy(float)])
    om = d[w].to_numpy(float)
    Y = d[y].to_numpy(float)
    A0, A1, W0 = A[~treated], A[treated], om[~treated]
    M = np.linalg.inv(A0.T @ (W0[:, None] * A0))
    beta = M @ A0.T @ (W0 * Y[~treated])
    tau = Y[treated] - A1 @ beta
    resid0 = Y[~treated] - A0 @ beta
    g1, t1, w1 = g[treated], t[treated], om[treated]
    cells = list(zip(g1, t1, strict=True))
    tau_tilde = np.array(
        [np.sum((w1**2 * tau)[[c == k for c in cells]]) / np.sum(w1[[c == k for c in cells]] ** 2) for k in cells]
    )
    eps = np.empty(len(d))
    eps[treated], eps[~treated] = tau - tau_tilde, resid0
    clusters = d[cl].to_numpy()

    def term(mask: np.ndarray) -> np.ndarray:
        return np.where(mask, w1, 0.0) / np.sum(np.where(mask, w1, 0.0))

    e1 = t1 - g1
    post = e1 >= 0
    rows = []
    for e in np.unique(e1):
        rows.append(("dynamic", e, term(e1 == e)))
    rows.append(("dynamic overall", np.nan, np.mean([r[2] for r in rows if r[1] >= 0], axis=0)))
    for tt in np.unique(t1[post]):
        rows.append(("calendar", tt, term(post & (t1 == tt))))
    rows.append(("calendar overall", np.nan, np.mean([r[2] for r in rows if r[0] == "calendar"], axis=0)))
    gs = np.unique(g1)
    share = np.array([om[(g == gg) & (t == periods[0])].sum() for gg in gs])
    gw = [term(post & (g1 == gg)) for gg in gs]
    rows += [("group", gg, wv) for gg, wv in zip(gs, gw, strict=True)]
    rows.append(("group overall", np.nan, np.average(gw, axis=0, weights=share)))
    rows.append(("simple overall", np.nan, term(post)))
    out = []
    for kind, key, w_1 in rows:
        v = np.empty(len(d))
        v[treated] = w_1
        v[~treated] = -W0 * (A0 @ (M @ (A1.T @ w_1)))
        est = w_1 @ tau
        psi = pd.Series(v * eps).groupby(clusters).sum().to_numpy()
        out.append({"type": kind, "key": key, "estimate": est, "std_error": np.sqrt(np.sum(psi**2))})
    return pd.DataFrame(out)


def test_every_aggregation_matches_a_dense_dummy_variable_implementation() -> None:
    # REFERENCE: _dense_reference (full dummy regression, explicit projection); covers calendar, the overall rows,
    # a time-varying covariate, unit weights and coarser clusters; TOLERANCE 1e-9 relative (both exact)
    rng = np.random.default_rng(11)
    rows = []
    for i in range(14):
        g = [0, 0, 0, 0, 3, 3, 3, 4, 4, 4, 6, 6, 6, 6][i]
        a, wt = rng.normal(), rng.uniform(0.5, 2.0)
        for t in range(1, 7):
            x = rng.normal() + 0.2 * t
            y = a + 0.3 * t + 0.7 * x + ((1.0 + 0.5 * (t - g)) if g and t >= g else 0.0) + rng.normal()
            rows.append({"id": i, "t": t, "g": g, "x": x, "y": y, "w": wt, "cl": i % 5})
    data = pd.DataFrame(rows)
    frame = (
        StaggeredDiD(data, "id", "t", "g", clusters="cl", weights="w")
        .estimate("y", "imputation", aggregate="all", covariates="x")
        .to_frame()
    )
    ref = _dense_reference(data, "y", ["x"], "w", "cl")
    key_col = {"dynamic": "event_time", "calendar": "time", "group": "group"}
    for r in ref.itertuples():
        sel = frame["type"] == r.type
        if r.type in key_col:
            sel &= frame[key_col[r.type]] == r.key
        got = frame[sel]
        assert len(got) == 1, (r.type, r.key)
        np.testing.assert_allclose(got["estimate"].iloc[0], r.estimate, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(got["std_error"].iloc[0], r.std_error, rtol=1e-9)


def test_pretest_matches_statsmodels_regression() -> None:
    # REFERENCE: statsmodels OLS of y on unit and period dummies and the leads (event times -k, k >= 2) on the
    # untreated observations, cov_type="cluster" without small-sample correction (CR0, statistic W0). evalkit's CR1
    # counts the unit effects as nested in the clusters (fixest), K = q + T:
    # W = W0 / (G / (G - 1) * (N - 1) / (N - q - T)); p from F(q, G - 1) of W / q. TOLERANCE 1e-8 relative.
    smf = pytest.importorskip("statsmodels.formula.api")
    data = _generated(seed=9, n_units=80)
    data["cl"] = data["unit"] % 11
    frame = (
        StaggeredDiD(data, "unit", "period", "first_treat", clusters="cl")
        .estimate("outcome", "imputation", aggregate="simple")
        .to_frame()
    )
    g = data["first_treat"].where(data["first_treat"] > 0, np.inf)
    untreated = data[data["period"] < g].copy()
    ev = (untreated["period"] - g[untreated.index]).to_numpy()
    leads = sorted({e for e in ev if np.isfinite(e) and e < -1})
    for e in leads:
        untreated[f"lead{int(-e)}"] = (ev == e).astype(float)
    names = [f"lead{int(-e)}" for e in leads]
    fit = smf.ols("outcome ~ " + " + ".join(names) + " + C(unit) + C(period)", untreated).fit(
        cov_type="cluster", cov_kwds={"groups": untreated["cl"], "use_correction": False}
    )
    gamma, V = fit.params[names].to_numpy(), fit.cov_params().loc[names, names].to_numpy()
    W0 = float(gamma @ np.linalg.solve(V, gamma))
    N, q, T, G = len(untreated), len(names), data["period"].nunique(), data["cl"].nunique()
    W = W0 / (G / (G - 1) * (N - 1) / (N - q - T))
    assert frame["pretest_df"].iloc[0] == q
    np.testing.assert_allclose(frame["pretest_statistic"].iloc[0], W, rtol=1e-8)
    np.testing.assert_allclose(frame["pretest_p_value"].iloc[0], stats.f.sf(W / q, q, G - 1), rtol=1e-8)


# ------------------------------------------------------------------------------------------------ the design
def test_table_shape_cells_and_estimator_function() -> None:
    data = _mpdta()
    res = StaggeredDiD(data, "countyreal", "year", "first.treat").estimate("lemp", "imputation")
    frame = res.to_frame()
    # aggregate=None: one row per cohort x period effect from g on, as ATT(g,t); mpdta has 7 post cells
    assert list(frame["term"]) == [
        "ATT(2004,2004)", "ATT(2004,2005)", "ATT(2004,2006)", "ATT(2004,2007)",
        "ATT(2006,2006)", "ATT(2006,2007)", "ATT(2007,2007)",
    ]  # fmt: skip
    assert (frame["type"] == "att_gt").all() and (frame["estimator"] == "imputation").all()
    assert (frame["event_time"] == frame["time"] - frame["group"]).all()
    # property: the simple overall is the treated-count-weighted mean of the cells (equal weights per observation)
    simple = StaggeredDiD(data, "countyreal", "year", "first.treat").estimate("lemp", "imputation", aggregate="simple")
    assert simple.to_frame()["estimate"].iloc[0] == pytest.approx(
        np.average(frame["estimate"], weights=frame["n_treated"]), abs=1e-14
    )
    # the numpy layer alone gives the same numbers
    Y = data.pivot(index="countyreal", columns="year", values="lemp")
    cohort = data.groupby("countyreal")["first.treat"].first().reindex(Y.index).to_numpy(float)
    fit = imputation_att(Y.to_numpy(), np.where(cohort > 0, cohort, np.inf), Y.columns.to_numpy(float))
    np.testing.assert_allclose(imputation_aggregate(fit, None).estimates, frame["estimate"], rtol=0, atol=1e-14)


def test_inference_options() -> None:
    data = _generated(seed=3, n_units=60)
    stag = StaggeredDiD(data, "unit", "period", "first_treat")
    with pytest.raises(OptionError, match="not available with estimator='imputation'.*Theorem 3"):
        stag.estimate("outcome", "imputation", inference="CR1")
    analytic = stag.estimate("outcome", "imputation", aggregate="dynamic", inference="analytic").to_frame()
    boot = MultiplierBootstrap(reps=999, seed=4)
    first = stag.estimate("outcome", "imputation", aggregate="dynamic", inference=boot).to_frame()
    second = stag.estimate("outcome", "imputation", aggregate="dynamic", inference=boot).to_frame()
    pd.testing.assert_frame_equal(first, second)  # same seed, same draws
    np.testing.assert_allclose(first["estimate"], analytic["estimate"], rtol=0, atol=0)
    # property: the multiplier bootstrap of the same influence functions approximates the analytic SE (999 draws:
    # the IQR-based SE has a relative sd of about 1.17 / sqrt(999) = 3.7%; 20% is > 5 sd)
    np.testing.assert_allclose(first["std_error"], analytic["std_error"], rtol=0.2)
    # the band covers the event times; the overall row has its own one-term band (as did::aggte), whose bootstrap
    # critical value is the normal 1.96 up to draw noise (999 draws: sd about 0.1; 0.3 is 3 sd)
    terms = first["term"] != "overall"
    assert np.all(first.loc[terms, "crit_uniform"] > stats.norm.ppf(0.975))
    assert first.loc[~terms, "crit_uniform"].iloc[0] == pytest.approx(stats.norm.ppf(0.975), abs=0.3)


def test_degenerate_inputs() -> None:
    data = _generated(seed=4, n_units=40)
    data["c"] = data["unit"] % 2 + 0.0  # constant within unit: absorbed by the unit effects
    with pytest.raises(EstimationError, match=r"untreated model \(unit and period effects, covariates c\)"):
        StaggeredDiD(data, "unit", "period", "first_treat").estimate("outcome", "imputation", covariates="c")
    # one cluster: estimates as without clusters, every SE NaN with a note
    data["one"] = 1
    plain = StaggeredDiD(data, "unit", "period", "first_treat").estimate("outcome", "imputation", aggregate="all")
    res = StaggeredDiD(data, "unit", "period", "first_treat", clusters="one").estimate(
        "outcome", "imputation", aggregate="all"
    )
    np.testing.assert_array_equal(res.to_frame()["estimate"], plain.to_frame()["estimate"])
    assert res.to_frame()["std_error"].isna().all() and np.isnan(res.to_frame()["pretest_statistic"].iloc[0])
    assert any("one cluster of 'one'" in n for n in res.notes)
    # a constant outcome: zero effects, NaN SEs with the degenerate-SE note
    const = StaggeredDiD(data.assign(outcome=3.5), "unit", "period", "first_treat").estimate(
        "outcome", "imputation", aggregate="simple"
    )
    assert const.to_frame()["estimate"].iloc[0] == pytest.approx(0.0, abs=1e-12)
    assert const.to_frame()["std_error"].isna().all()
    assert any("zero up to rounding" in n for n in const.notes)


def test_not_imputable_observations_are_left_out_with_a_note() -> None:
    # the numpy layer on a panel in which the last period has no untreated unit: its treated observations are not
    # imputable (BJS) and enter no estimate; the simple ATT equals the one on the panel without that period
    rng = np.random.default_rng(5)
    Y = rng.normal(size=(6, 5)) + np.arange(5)
    cohort = np.array([2.0, 3.0, 3.0, 5.0, 5.0, 4.0])  # no never treated; everyone treated in period 5
    periods = np.arange(1.0, 6.0)
    fit = imputation_att(Y, cohort, periods)
    assert fit.not_imputable[:, 4].all() and not fit.not_imputable[:, :4].any()
    short = imputation_att(Y[:, :4], cohort, periods[:4])
    a, b = imputation_aggregate(fit, "simple"), imputation_aggregate(short, "simple")
    np.testing.assert_allclose(a.estimates, b.estimates, rtol=0, atol=1e-13)
    np.testing.assert_allclose(a.influence, b.influence, rtol=0, atol=1e-12)


# ------------------------------------------------------------------------------ joint event-time covariance
@pytest.mark.parametrize(("case", "anticipation"), [("mpdta", 0), ("clusters", 0), ("anticipation", 1)])
def test_event_time_vcov_is_the_theorem_3_covariance(case: str, anticipation: int) -> None:
    # SOURCE: diff_diff.ImputationDiD 3.13 event-study SEs (the diagonal; diff-diff reports no joint covariance).
    # TOLERANCE: SE_RTOL. Properties: the diagonal is the table's squared SE (the same influence functions),
    # TOLERANCE 1e-12 relative; the off-diagonals are those of the overall row, the mean of the post-period event
    # times, whose SE comes from its own influence column: se(overall)^2 = s'Vs, TOLERANCE 1e-10 relative.
    if case == "mpdta":
        data, args, kw, ours = _mpdta(), ("lemp", "countyreal", "year", "first.treat"), {}, {}
    else:
        data = _generated(seed=3)
        data["cl"] = data["unit"] % 23
        args = ("outcome", "unit", "period", "first_treat")
        kw, ours = ({"cluster": "cl"}, {"clusters": "cl"}) if case == "clusters" else ({}, {})
    res = StaggeredDiD(data, *args[1:], **ours).estimate(
        args[0], estimator="imputation", aggregate="all", anticipation=anticipation
    )
    V = res.vcov(args[0])
    frame = res.to_frame()
    dyn = frame[frame["type"] == "dynamic"].set_index("term")
    assert list(V.index) == list(dyn.index) == list(V.columns)
    np.testing.assert_allclose(np.sqrt(np.diag(V)), dyn["std_error"], rtol=1e-12)
    ref = _diff_diff(data, *args, anticipation=anticipation, **kw)["dynamic"]
    assert sorted(ref) == dyn["event_time"].tolist()
    np.testing.assert_allclose(np.sqrt(np.diag(V)), [ref[e][1] for e in sorted(ref)], rtol=SE_RTOL)
    assert (np.linalg.eigvalsh(V.to_numpy()) > -1e-15).all() and np.array_equal(V.to_numpy(), V.to_numpy().T)
    post = (dyn["event_time"] >= 0).to_numpy()
    s = post / post.sum()
    overall = frame[frame["type"] == "dynamic overall"]["std_error"].iloc[0]
    np.testing.assert_allclose(s @ V.to_numpy() @ s, overall**2, rtol=1e-10)
    assert np.abs(V.to_numpy() - np.diag(np.diag(V))).max() > 0.1 * np.diag(V).min()  # really joint, not diagonal


def test_sensitivity_and_pretrend_power_refuse_the_imputation_event_study() -> None:
    # BJS's pre-trend coefficients come from a separate regression normalized at event time -1; the imputed
    # effects are measured against each unit's untreated mean: refused by name, no invented covariance.
    res = StaggeredDiD(_mpdta(), "countyreal", "year", "first.treat").estimate(
        "lemp", estimator="imputation", aggregate="dynamic"
    )
    for call in (lambda: res.sensitivity(mbar=1), lambda: res.sensitivity("smoothness", m=0.01), res.pretrend_power):
        with pytest.raises(EstimationError, match="no pre-period terms estimated jointly") as info:
            call()
        assert "sun_abraham" in str(info.value) and "base_period='universal'" in str(info.value)
    grouped = StaggeredDiD(_mpdta(), "countyreal", "year", "first.treat").estimate(
        "lemp", estimator="imputation", aggregate="group"
    )
    with pytest.raises(EvalkitError):  # no event study kept: vcov has nothing joint to give
        grouped.vcov("lemp")


def test_event_time_vcov_with_one_cluster_is_nan() -> None:
    # property: as the table's standard errors (NaN with a note), the covariance of one cluster is NaN
    data = _generated(seed=4, n_units=60)
    data["one"] = 1
    res = StaggeredDiD(data, "unit", "period", "first_treat", clusters="one").estimate(
        "outcome", estimator="imputation", aggregate="dynamic"
    )
    assert np.isnan(res.vcov("outcome").to_numpy()).all()
    assert res.to_frame()["std_error"].isna().all()
