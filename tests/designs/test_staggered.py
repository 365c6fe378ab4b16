"""Staggered adoption: Callaway-Sant'Anna, Sun-Abraham, TWFE and the Goodman-Bacon decomposition.

References: the R ``did`` README (bcallaway11/did, README.md, devel 2.5.0, att_gt on mpdta), and the Python peers
``csdid`` (a port of R did), ``diff-diff`` and ``pyfixest`` run in the same test on the same data.
"""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import pandas as pd
import pytest

from evalkit.designs.staggered import StaggeredDiD
from evalkit.errors import DataError, DesignError, OptionError
from evalkit.inference.influence import MultiplierBootstrap

from _references import MPDTA_README, published

moderndid = pytest.importorskip("moderndid")


@pytest.fixture(scope="module")
def mpdta() -> pd.DataFrame:
    return moderndid.load_mpdta().to_pandas()


@pytest.fixture(scope="module")
def stag(mpdta: pd.DataFrame) -> StaggeredDiD:
    return StaggeredDiD(mpdta, unit="countyreal", time="year", cohort="first.treat")


def _csdid(data: pd.DataFrame, aggregations: tuple[str, ...] = (), **kwargs):
    csdid = pytest.importorskip("csdid.att_gt")
    fit_kw = {k: kwargs.pop(k) for k in ("est_method", "base_period") if k in kwargs}
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        model = csdid.ATTgt(
            yname="lemp", gname="first.treat", idname="countyreal", tname="year", data=data, **kwargs
        ).fit(bstrap=False, **fit_kw)
        aggs = {a: model.aggte(typec=a, bstrap=False).atte for a in aggregations}
    return model.results, aggs


def _diff_diff(data: pd.DataFrame, **kwargs):
    dd = pytest.importorskip("diff_diff")
    covariates = kwargs.pop("covariates", None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dd.CallawaySantAnna(**kwargs).fit(
            data,
            outcome="lemp",
            unit="countyreal",
            time="year",
            first_treat="first.treat",
            covariates=covariates,
            aggregate="all",
        )


# ------------------------------------------------------------------------------------------- published numbers
# SOURCE: R did README (bcallaway11/did README.md, summary(att_gt(yname="lemp", tname="year", idname="countyreal",
# gname="first.treat", xformla=~1, data=mpdta))), printed to 4 decimals. Point estimates, pre-test p-value and the
# overall aggregates as stated in replications/callaway_santanna_mpdta.toml; the README's other numbers (bootstrap
# SEs, group and event-time aggregates) in tests/_references.py. The SEs there come from the multiplier bootstrap
# (1000 draws, R's RNG), so they are compared loosely below.
MPDTA = "callaway_santanna_mpdta.toml"
README_CELLS = list(MPDTA_README["att_gt_se"])  # (group, time), in the README table's order


def test_att_gt_matches_did_readme(stag: StaggeredDiD) -> None:
    res = stag.estimate("lemp").to_frame()
    assert list(zip(res["group"], res["time"], strict=True)) == README_CELLS
    # SOURCE: did README table (replication file); TOLERANCE the file's, 5e-5 (rounding to 4 decimals)
    for (g, t), estimate in zip(README_CELLS, res["estimate"], strict=True):
        ref = published(MPDTA, "estimate", term=f"ATT({g},{t})")
        assert estimate == pytest.approx(ref.value, abs=ref.tolerance + 1e-12), (g, t)
    # SOURCE: did README, "P-value for pre-test of parallel trends assumption: 0.16812" (replication file);
    # TOLERANCE the file's, 5e-6 (5 decimals)
    pretest = published(MPDTA, "pretest_p_value")
    assert res["pretest_p_value"].iloc[0] == pytest.approx(pretest.value, abs=pretest.tolerance)
    assert res["pretest_df"].iloc[0] == 5  # five pre-treatment cells (t < g) in the table above


def test_aggregations_match_did_readme(stag: StaggeredDiD) -> None:
    group = stag.estimate("lemp", aggregate="group").to_frame().set_index("term")
    # SOURCE: did README aggte(type="group"): overall -0.031 (printed "-0.031", replication file), groups -0.0797,
    # -0.0229, -0.0261 (tests/_references.py); TOLERANCE the file's 5e-4 for the 3-decimal overall, 5e-5 for the rest
    overall = published(MPDTA, "estimate", term="overall", where={"type": "group overall"})
    assert group.loc["overall", "estimate"] == pytest.approx(overall.value, abs=overall.tolerance)
    groups = MPDTA_README["group"]
    np.testing.assert_allclose(
        group.loc[[f"group {g}" for g in groups], "estimate"], list(groups.values()), atol=MPDTA_README["tolerance"]
    )
    dyn = stag.estimate("lemp", aggregate="dynamic").to_frame().set_index("term")
    # SOURCE: did README aggte(type="dynamic"): overall -0.0772 (replication file); event times -3..3
    # (tests/_references.py); TOLERANCE 5e-5
    overall = published(MPDTA, "estimate", term="overall", where={"type": "dynamic overall"})
    assert dyn.loc["overall", "estimate"] == pytest.approx(overall.value, abs=overall.tolerance)
    np.testing.assert_allclose(
        dyn["estimate"].iloc[:-1], list(MPDTA_README["dynamic"].values()), atol=MPDTA_README["tolerance"]
    )
    # SOURCE: did README, analytic-equivalent overall SE of the dynamic aggregation 0.0196 (bootstrap);
    # TOLERANCE 10% relative (bootstrap noise in the published value)
    assert dyn.loc["overall", "std_error"] == pytest.approx(MPDTA_README["dynamic_overall_se"], rel=0.1)


def test_bootstrap_se_close_to_published_and_reproducible(stag: StaggeredDiD) -> None:
    boot = MultiplierBootstrap(reps=999, seed=20260101)
    res = stag.estimate("lemp", inference=boot).to_frame()
    # SOURCE: did README bootstrap SEs (tests/_references.py); TOLERANCE 15% relative (two independent 1000-draw
    # bootstraps)
    np.testing.assert_allclose(res["std_error"], list(MPDTA_README["att_gt_se"].values()), rtol=0.15)
    # SOURCE: did README simultaneous band, (0.0539 - (-0.0749)) / 2 / 0.0241 = 2.67; TOLERANCE 0.3
    assert res["crit_uniform"].iloc[0] == pytest.approx(MPDTA_README["att_gt_crit_uniform"], abs=0.3)
    again = stag.estimate("lemp", inference=boot).to_frame()
    pd.testing.assert_frame_equal(res, again)  # same seed, bit-identical
    rad = stag.estimate("lemp", inference=MultiplierBootstrap(reps=499, weights="rademacher", seed=1)).to_frame()
    assert np.all(rad["conf_high_uniform"] - rad["conf_low_uniform"] > rad["conf_high"] - rad["conf_low"])


# ------------------------------------------------------------------------------------------- Python peers
def test_att_gt_and_aggregations_match_csdid_and_diff_diff(mpdta: pd.DataFrame, stag: StaggeredDiD) -> None:
    aggs = ("simple", "group", "dynamic", "calendar")
    ref, ref_aggs = _csdid(mpdta, aggs)
    res = stag.estimate("lemp", aggregate="all").to_frame()
    gt = res[res["type"] == "att_gt"]
    # SOURCE: csdid ATTgt(...).fit(est_method="dr", bstrap=False) run here; TOLERANCE 1e-10 (same formulas)
    np.testing.assert_allclose(gt["estimate"], ref["att"], atol=1e-10)
    np.testing.assert_allclose(gt["std_error"], ref["se"], atol=1e-10)
    for kind in aggs:
        a = ref_aggs[kind]
        overall = res[res["type"] == f"{kind} overall"]
        # SOURCE: csdid aggte(typec=kind, bstrap=False); TOLERANCE 1e-10
        assert overall["estimate"].iloc[0] == pytest.approx(a["overall_att"], abs=1e-10)
        assert overall["std_error"].iloc[0] == pytest.approx(a["overall_se"], abs=1e-10)
        if kind != "simple":
            terms = res[res["type"] == kind]
            np.testing.assert_allclose(terms["estimate"], np.asarray(a["att_egt"], dtype=float), atol=1e-10)
            np.testing.assert_allclose(terms["std_error"], np.asarray(a["se_egt"], dtype=float), atol=1e-10)
    dd = _diff_diff(mpdta)
    effects = sorted(dd.group_time_effects.items())
    # SOURCE: diff_diff.CallawaySantAnna().fit(..., aggregate="all"); TOLERANCE 1e-6
    np.testing.assert_allclose(gt["estimate"], [v["effect"] for _, v in effects], atol=1e-6)
    np.testing.assert_allclose(gt["std_error"], [v["se"] for _, v in effects], atol=1e-6)
    simple = res[res["type"] == "simple overall"].iloc[0]
    assert simple["estimate"] == pytest.approx(dd.overall_att, abs=1e-6)
    assert simple["std_error"] == pytest.approx(dd.overall_se, abs=1e-6)
    events = res[res["type"] == "dynamic"]
    np.testing.assert_allclose(
        events["std_error"], [v["se"] for _, v in sorted(dd.event_study_effects.items())], atol=1e-6
    )


@pytest.mark.parametrize("control", ["never_treated", "not_yet_treated"])
@pytest.mark.parametrize("method", ["dr", "ipw", "reg"])
def test_covariates_match_csdid_and_diff_diff(
    mpdta: pd.DataFrame, stag: StaggeredDiD, method: str, control: str
) -> None:
    res = stag.estimate("lemp", covariates="lpop", method=method, control=control).to_frame()
    ref, _ = _csdid(mpdta, xformla="lemp ~ lpop", control_group=control.replace("_", ""), est_method=method)
    # SOURCE: csdid with xformla="lemp ~ lpop" (R did's drdid_panel / std_ipw_did_panel / reg_did_panel);
    # TOLERANCE 1e-9 (logit converged to 1e-12 here, IRLS in csdid)
    np.testing.assert_allclose(res["estimate"], ref["att"], atol=1e-9)
    np.testing.assert_allclose(res["std_error"], ref["se"], atol=1e-9)
    dd = _diff_diff(mpdta, covariates=["lpop"], estimation_method=method, control_group=control)
    effects = sorted(dd.group_time_effects.items())
    # SOURCE: diff_diff.CallawaySantAnna(estimation_method=method); TOLERANCE 1e-6 for ipw/reg; 2e-5 for dr,
    # where diff-diff's doubly robust estimate differs from R did / csdid by up to 7e-6 on mpdta
    tol = 2e-5 if method == "dr" else 1e-6
    np.testing.assert_allclose(res["estimate"], [v["effect"] for _, v in effects], atol=tol)
    np.testing.assert_allclose(res["std_error"], [v["se"] for _, v in effects], atol=tol)


def test_universal_base_period_and_anticipation_match_csdid(mpdta: pd.DataFrame, stag: StaggeredDiD) -> None:
    res = stag.estimate("lemp", base_period="universal").to_frame()
    ref, _ = _csdid(mpdta, base_period="universal")
    # SOURCE: csdid fit(base_period="universal"); TOLERANCE 1e-10; base cells are 0 with no SE in both
    np.testing.assert_allclose(res["estimate"], ref["att"], atol=1e-10)
    np.testing.assert_allclose(res["std_error"], np.asarray(ref["se"], dtype=float), atol=1e-10)
    assert res["std_error"].isna().sum() == 3
    ant = stag.estimate("lemp", anticipation=1, control="not_yet_treated").to_frame()
    ref, _ = _csdid(mpdta, anticipation=1, control_group="notyettreated")
    # SOURCE: csdid ATTgt(anticipation=1, control_group="notyettreated"); TOLERANCE 1e-10
    np.testing.assert_allclose(ant["estimate"], ref["att"], atol=1e-10)
    np.testing.assert_allclose(ant["std_error"], ref["se"], atol=1e-10)


def test_clustered_se_matches_csdid(mpdta: pd.DataFrame) -> None:
    data = mpdta.assign(state=mpdta["countyreal"] // 1000)
    res = StaggeredDiD(data, unit="countyreal", time="year", cohort="first.treat", clusters="state").estimate("lemp")
    ref, _ = _csdid(data, clustervar="state")
    # SOURCE: csdid analytic cluster-robust SE (clustervar="state", bstrap=False); TOLERANCE 1e-10
    np.testing.assert_allclose(res.to_frame()["std_error"], ref["se"], atol=1e-10)
    assert res.to_frame()["n_clusters"].iloc[0] == data["state"].nunique()


# ------------------------------------------------------------------------------------------- SA, TWFE, Bacon
def test_sun_abraham_matches_diff_diff_and_pyfixest(mpdta: pd.DataFrame, stag: StaggeredDiD) -> None:
    dd = pytest.importorskip("diff_diff")
    pf = pytest.importorskip("pyfixest")
    res = stag.estimate("lemp", estimator="sun_abraham").to_frame()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = dd.SunAbraham().fit(mpdta, outcome="lemp", unit="countyreal", time="year", first_treat="first.treat")
    effects = sorted(ref.event_study_effects.items())
    assert list(res["event_time"]) == [float(e) for e, _ in effects]
    # SOURCE: diff_diff.SunAbraham() (never-treated control, cluster by unit); TOLERANCE 1e-8 (estimates), 1e-6 (SE)
    np.testing.assert_allclose(res["estimate"], [v["effect"] for _, v in effects], atol=1e-8)
    np.testing.assert_allclose(res["std_error"], [v["se"] for _, v in effects], atol=1e-6)
    # the saturated regression by hand in pyfixest: cohort x relative-period dummies (ref -1) | unit + year
    d = mpdta.copy()
    treated = d["first.treat"] > 0
    rel = (d["year"] - d["first.treat"]).where(treated)
    names = []
    for g in (2004, 2006, 2007):
        for e in sorted(rel[d["first.treat"] == g].unique()):
            if e != -1:
                name = f"c{g}_e{int(e) + 10}"
                d[name] = ((d["first.treat"] == g) & (rel == e)).astype(float)
                names.append((name, g, e))
    fit = pf.feols(f"lemp ~ {' + '.join(n for n, _, _ in names)} | countyreal + year", d, vcov={"CRV1": "countyreal"})
    coef, vcov = fit.coef(), fit._vcov
    # IW weights: cohort shares among the cohorts observed at each relative period (balanced panel: unit counts)
    sizes = d.groupby("first.treat")["countyreal"].nunique()
    for e, row in zip(res["event_time"], res.itertuples(), strict=True):
        sel = [i for i, (_, _, ee) in enumerate(names) if ee == e]
        w = np.zeros(len(names))
        w[sel] = [sizes[names[i][1]] for i in sel]
        w /= w.sum()
        # SOURCE: pyfixest feols saturated regression, IW = w'beta, se = sqrt(w'Vw); TOLERANCE 1e-8
        assert row.estimate == pytest.approx(float(w @ coef.to_numpy()), abs=1e-8)
        assert row.std_error == pytest.approx(float(np.sqrt(w @ vcov @ w)), abs=1e-8)


def test_twfe_and_bacon_decomposition(mpdta: pd.DataFrame, stag: StaggeredDiD) -> None:
    pf = pytest.importorskip("pyfixest")
    d = mpdta.assign(D=((mpdta["year"] >= mpdta["first.treat"]) & (mpdta["first.treat"] > 0)).astype(float))
    ref = pf.feols("lemp ~ D | countyreal + year", d, vcov={"CRV1": "countyreal"})
    res = stag.estimate("lemp", estimator="twfe").to_frame().iloc[0]
    # SOURCE: pyfixest feols(lemp ~ D | countyreal + year, CRV1 by county); TOLERANCE 1e-10
    assert res["estimate"] == pytest.approx(float(ref.coef()["D"]), abs=1e-10)
    assert res["std_error"] == pytest.approx(float(ref.se()["D"]), abs=1e-10)
    bacon = stag.bacon("lemp")
    c = bacon.comparisons
    # closed form (Goodman-Bacon 2021, Theorem 1): weights sum to one; TOLERANCE 1e-10
    assert c["weight"].sum() == pytest.approx(1.0, abs=1e-10)
    # weighted sum of the 2x2 DiDs equals the TWFE coefficient (pyfixest); TOLERANCE 1e-8
    assert float(c["weight"] @ c["estimate"]) == pytest.approx(float(ref.coef()["D"]), abs=1e-8)
    assert bacon.twfe == pytest.approx(float(ref.coef()["D"]), abs=1e-10)
    dd = pytest.importorskip("diff_diff")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_b = dd.BaconDecomposition().fit(
            mpdta, outcome="lemp", unit="countyreal", time="year", first_treat="first.treat"
        )
    # SOURCE: diff_diff.BaconDecomposition total weight of treated-vs-never comparisons; TOLERANCE 1e-8
    never = c.loc[c["type"] == "treated vs never treated", "weight"].sum()
    assert never == pytest.approx(ref_b.total_weight_treated_vs_never, abs=1e-8)


def test_bacon_identity_with_always_treated_and_weights() -> None:
    rng = np.random.default_rng(3)
    n, T = 60, 6
    cohort = rng.choice([0, 1, 3, 4, 6], size=n)  # 1 = treated in the first period (always treated)
    w = rng.uniform(0.5, 2, size=n)
    rows = []
    for i in range(n):
        for t in range(1, T + 1):
            treated = cohort[i] > 0 and t >= cohort[i]
            y = rng.normal() + 0.1 * t + i % 7 + treated * (1 + 0.3 * (t - cohort[i]))
            rows.append((i, t, cohort[i], y, w[i]))
    data = pd.DataFrame(rows, columns=["id", "t", "g", "y", "w"])
    for weights in (None, "w"):
        design = StaggeredDiD(data, unit="id", time="t", cohort="g", weights=weights)
        bacon = design.bacon("y")
        c = bacon.comparisons
        # closed form: weights sum to one and reproduce the (weighted) TWFE coefficient; TOLERANCE 1e-10
        assert c["weight"].sum() == pytest.approx(1.0, abs=1e-10)
        assert float(c["weight"] @ c["estimate"]) == pytest.approx(bacon.twfe, abs=1e-10)
        assert "later vs always treated" in set(c["type"])
        d = data.assign(D=((data["t"] >= data["g"]) & (data["g"] > 0)).astype(float))
        pf = pytest.importorskip("pyfixest")
        ref = pf.feols("y ~ D | id + t", d, weights=weights)
        # SOURCE: pyfixest feols (weighted) TWFE; TOLERANCE 1e-10
        assert bacon.twfe == pytest.approx(float(ref.coef()["D"]), abs=1e-10)


# ------------------------------------------------------------------------------------------- bad input
def test_no_never_treated(mpdta: pd.DataFrame) -> None:
    data = mpdta[mpdta["first.treat"] > 0]
    design = StaggeredDiD(data, unit="countyreal", time="year", cohort="first.treat")
    with pytest.raises(DesignError, match="not_yet_treated"):
        design.estimate("lemp")
    res = design.estimate("lemp", control="not_yet_treated")
    assert any("No never-treated units" in n for n in res.notes)
    assert set(res.to_frame()["group"]) == {2004.0, 2006.0}  # 2007 became the comparison cohort
    ref, _ = _csdid(data, control_group="notyettreated")
    # SOURCE: csdid notyettreated without never-treated units (drops periods >= 2007); TOLERANCE 1e-10
    np.testing.assert_allclose(res.to_frame()["estimate"], ref["att"], atol=1e-10)


def test_units_treated_in_first_period_are_dropped_and_reported(mpdta: pd.DataFrame, stag: StaggeredDiD) -> None:
    data = mpdta.copy()
    data.loc[data["countyreal"].isin([8001, 8019]), "first.treat"] = 2003
    before = data.copy()
    res = StaggeredDiD(data, unit="countyreal", time="year", cohort="first.treat").estimate("lemp")
    pd.testing.assert_frame_equal(data, before)  # caller's data untouched
    assert any("treated in or before the first period" in n for n in res.notes)
    assert res.dropped["n_dropped"].sum() == 10
    # property: the same as estimating without those units
    kept = mpdta[~mpdta["countyreal"].isin([8001, 8019])]
    ref = StaggeredDiD(kept, unit="countyreal", time="year", cohort="first.treat").estimate("lemp")
    np.testing.assert_allclose(res.to_frame()["estimate"], ref.to_frame()["estimate"], atol=1e-12)


def test_unbalanced_panel_units_dropped(mpdta: pd.DataFrame) -> None:
    data = mpdta.drop(index=mpdta.index[(mpdta["countyreal"] == 8001) & (mpdta["year"] == 2005)])
    data = data.assign(lemp=data["lemp"].mask(data["countyreal"].eq(8019) & data["year"].eq(2004)))
    res = StaggeredDiD(data, unit="countyreal", time="year", cohort="first.treat").estimate("lemp")
    assert any("2 unit(s) not observed" in n for n in res.notes)
    kept = mpdta[~mpdta["countyreal"].isin([8001, 8019])]
    ref = StaggeredDiD(kept, unit="countyreal", time="year", cohort="first.treat").estimate("lemp")
    np.testing.assert_allclose(res.to_frame()["estimate"], ref.to_frame()["estimate"], atol=1e-12)
    np.testing.assert_allclose(res.to_frame()["std_error"], ref.to_frame()["std_error"], atol=1e-12)


def test_input_errors(mpdta: pd.DataFrame, stag: StaggeredDiD) -> None:
    with pytest.raises(DataError, match="duplicated"):
        StaggeredDiD(pd.concat([mpdta, mpdta.iloc[:1]]), unit="countyreal", time="year", cohort="first.treat")
    bad = mpdta.copy()
    bad.loc[bad.index[0], "first.treat"] = 2004
    with pytest.raises(DesignError, match="varies within unit 8001"):
        StaggeredDiD(bad, unit="countyreal", time="year", cohort="first.treat")
    with pytest.raises(OptionError, match="control"):
        stag.estimate("lemp", control="later")
    with pytest.raises(OptionError, match="aggregate"):
        stag.estimate("lemp", estimator="sun_abraham", aggregate="group")
    with pytest.raises(OptionError, match="callaway_santanna"):
        stag.estimate("lemp", estimator="twfe", inference=MultiplierBootstrap(seed=1))
    with pytest.raises(OptionError, match="reps"):
        MultiplierBootstrap(reps=1)


# ------------------------------------------------------------------------------------------- review fixes
def _toy(seed: int = 0) -> pd.DataFrame:
    """60 units x 5 years (2001-2005): 20 never treated, 20 adopting in 2003, 20 in 2004."""
    rng = np.random.default_rng(seed)
    U, T = 60, 5
    s = pd.DataFrame({"u": np.repeat(np.arange(U), T), "t": np.tile(np.arange(2001, 2006), U)})
    s["g"] = np.where(np.arange(U) < 20, 0, np.where(np.arange(U) < 40, 2003, 2004))[s["u"]]
    s["y"] = rng.normal(size=len(s)) + (s["g"] > 0) * (s["t"] >= s["g"])
    s["x"] = rng.normal(size=len(s))
    s["w"] = rng.uniform(0.5, 2.0, size=U)[s["u"]]
    return s


@pytest.mark.parametrize("estimator", ["callaway_santanna", "sun_abraham", "twfe", "imputation", "bacon"])
def test_infinite_outcome_is_refused_naming_unit_and_period(estimator: str) -> None:
    data = _toy()
    data.loc[3, "y"] = np.inf  # unit 0, period 2004
    design = StaggeredDiD(data, unit="u", time="t", cohort="g")
    with pytest.raises(DataError, match=r"outcome 'y' is inf for unit 0 of 'u' in period 2004 of 't'"):
        design.bacon("y") if estimator == "bacon" else design.estimate("y", estimator=estimator)


def test_infinite_covariate_weight_and_time_are_refused() -> None:
    data = _toy()
    data.loc[7, "x"] = -np.inf  # unit 1, period 2003
    with pytest.raises(DataError, match=r"covariate 'x' is -inf for unit 1 of 'u' in period 2003"):
        StaggeredDiD(data, unit="u", time="t", cohort="g").estimate("y", covariates="x")
    data = _toy()
    data.loc[data["u"] == 4, "w"] = np.inf
    with pytest.raises(DataError, match=r"weights 'w' is inf for unit 4 of 'u' in period 2001"):
        StaggeredDiD(data, unit="u", time="t", cohort="g", weights="w")
    data = _toy().astype({"t": float})
    data.loc[0, "t"] = np.inf
    with pytest.raises(DataError, match=r"time 't' is inf for unit 0 of 'u'"):
        StaggeredDiD(data, unit="u", time="t", cohort="g")


def test_estimator_functions_refuse_non_finite_input() -> None:
    from evalkit.estimators.bacon import bacon_decomposition
    from evalkit.estimators.callaway_santanna import group_time_att
    from evalkit.estimators.sun_abraham import sun_abraham, twfe_static

    periods = np.arange(1.0, 5.0)
    Y = np.ones((6, 4))
    Y[0, 2] = np.inf
    cohort = np.array([np.inf, np.inf, 3, 3, 4, 4])
    with pytest.raises(DataError, match="Y holds 1 NaN or infinite"):
        group_time_att(Y, cohort, periods)
    with pytest.raises(DataError, match="Y holds 1 NaN or infinite"):
        bacon_decomposition(Y, cohort, periods)
    unit, tcode = np.repeat(np.arange(6), 4), np.tile(np.arange(4), 6)
    for fn in (twfe_static, sun_abraham):
        with pytest.raises(DataError, match="y holds 1 NaN or infinite"):
            fn(Y.ravel(), unit, tcode, cohort[unit], periods, unit)


def test_nan_group_time_cell_makes_every_aggregate_using_it_nan(mpdta: pd.DataFrame) -> None:
    import dataclasses

    from evalkit.estimators.callaway_santanna import aggregate, group_time_att
    from evalkit.inference.influence import pretest

    wide = mpdta.pivot(index="countyreal", columns="year", values="lemp")
    cohort = mpdta.groupby("countyreal")["first.treat"].first().reindex(wide.index).to_numpy(dtype=float)
    cohort[cohort == 0] = np.inf
    fit = group_time_att(wide.to_numpy(), cohort, wide.columns.to_numpy(dtype=float))
    cell = int(np.flatnonzero((fit.groups == 2004) & (fit.times == 2005))[0])
    bad = dataclasses.replace(fit, att=np.where(np.arange(fit.att.size) == cell, np.nan, fit.att))
    simple = aggregate(bad, "simple")
    assert np.isnan(simple.overall) and np.isnan(simple.overall_influence).all()
    group = aggregate(bad, "group")
    assert np.isnan(group.estimates[0]) and np.isnan(group.overall) and np.isnan(group.influence[:, 0]).all()
    # SOURCE: did README aggte(type="group") on mpdta, groups 2006 and 2007 (they do not use ATT(2004,2005));
    # TOLERANCE 5e-5 (4 decimals)
    np.testing.assert_allclose(
        group.estimates[1:], [MPDTA_README["group"][2006], MPDTA_README["group"][2007]], atol=MPDTA_README["tolerance"]
    )
    dyn = aggregate(bad, "dynamic")
    assert list(dyn.keys) == [-3, -2, -1, 0, 1, 2, 3]  # event 1 is kept (as NaN), not dropped
    assert np.isnan(dyn.estimates[4]) and np.isnan(dyn.overall)
    # SOURCE: did README aggte(type="dynamic") event times -3..0, 2, 3 (none uses ATT(2004,2005)); TOLERANCE 5e-5
    np.testing.assert_allclose(
        dyn.estimates[[0, 1, 2, 3, 5, 6]],
        [MPDTA_README["dynamic"][e] for e in (-3, -2, -1, 0, 2, 3)],
        atol=MPDTA_README["tolerance"],
    )
    cal = aggregate(bad, "calendar")
    assert np.isnan(cal.estimates[cal.keys == 2005]).all() and np.isnan(cal.overall)
    assert np.isfinite(cal.estimates[cal.keys != 2005]).all()
    # a NaN pre-treatment cell makes the pre-test NaN instead of testing the other four cells
    pre_cell = int(np.flatnonzero((fit.groups == 2007) & (fit.times == 2005))[0])
    bad_pre = dataclasses.replace(fit, att=np.where(np.arange(fit.att.size) == pre_cell, np.nan, fit.att))
    test = pretest(bad_pre)
    assert np.isnan(test.p_value) and test.df == 5


def test_nan_cell_is_reported_by_the_design(stag: StaggeredDiD, monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    import evalkit.designs.staggered as staggered

    real = staggered.group_time_att

    def with_nan_cell(*args, **kwargs):
        fit = real(*args, **kwargs)
        hit = (fit.groups == 2004) & (fit.times == 2005)
        return dataclasses.replace(fit, att=np.where(hit, np.nan, fit.att))

    monkeypatch.setattr(staggered, "group_time_att", with_nan_cell)
    for inference in ("analytic", MultiplierBootstrap(reps=199, seed=1)):
        res = stag.estimate("lemp", aggregate="group", inference=inference)
        assert any("could not be estimated (NaN): ATT(2004,2005)" in n for n in res.notes)
        tab = res.to_frame().set_index("term")
        assert np.isnan(tab.loc["overall", "estimate"]) and np.isnan(tab.loc["overall", "std_error"])
        assert np.isnan(tab.loc["group 2004", "std_error"])
        # SOURCE: did README aggte(type="group"), group 2006 = -0.0229; TOLERANCE 5e-5 (4 decimals)
        assert tab.loc["group 2006", "estimate"] == pytest.approx(-0.0229, abs=5e-5)
        assert np.isfinite(tab.loc["group 2006", "std_error"])


def test_cohort_values_must_be_periods() -> None:
    data = _toy()
    data["g"] = data["g"].replace(2003, 2003.5)
    with pytest.raises(DataError, match=r"cohort 'g' has value\(s\) 2003.5 .*not periods of 't'"):
        StaggeredDiD(data, unit="u", time="t", cohort="g")
    # cohorts after the last period (never treated) and before the first one (always treated, dropped as did)
    # remain valid; property: the same estimates as leaving those units out / marking them never treated
    data = _toy()
    late = data.assign(g=data["g"].replace(2004, 2010))
    res = StaggeredDiD(late, unit="u", time="t", cohort="g").estimate("y", aggregate="simple")
    ref = StaggeredDiD(data.assign(g=data["g"].replace(2004, 0)), unit="u", time="t", cohort="g")
    np.testing.assert_allclose(  # TOLERANCE 1e-12 (same arithmetic)
        res.to_frame()["estimate"], ref.estimate("y", aggregate="simple").to_frame()["estimate"], atol=1e-12
    )
    early = data.assign(g=data["g"].replace(2003, 1990))
    res = StaggeredDiD(early, unit="u", time="t", cohort="g").estimate("y")
    kept = data[data["g"] != 2003]
    ref_res = StaggeredDiD(kept, unit="u", time="t", cohort="g").estimate("y")
    np.testing.assert_allclose(res.to_frame()["estimate"], ref_res.to_frame()["estimate"], atol=1e-12)


def test_role_columns_cannot_be_outcome_or_covariate() -> None:
    data = _toy()
    design = StaggeredDiD(data, unit="u", time="t", cohort="g", weights="w")
    for col in ("g", "t", "u", "w"):
        with pytest.raises(DataError, match=rf"column '{col}' is a role of the design .* cannot be the outcome"):
            design.estimate(col)
    with pytest.raises(DataError, match=r"column 'g' is a role of the design"):
        design.estimate("y", covariates=["x", "g"])
    with pytest.raises(DataError, match=r"column 't' is a role of the design"):
        design.bacon("t")


def test_roles_must_be_distinct_and_duplicates_are_named() -> None:
    data = _toy()
    with pytest.raises(DesignError, match="unit and time are both 't'"):
        StaggeredDiD(data, unit="t", time="t", cohort="g")
    with pytest.raises(DesignError, match="cohort and time are both 't'"):
        StaggeredDiD(data, unit="u", time="t", cohort="t")
    with pytest.raises(DesignError, match="cohort and unit are both 'u'"):
        StaggeredDiD(data, unit="u", time="t", cohort="u")
    with pytest.raises(DataError, match=r"1 duplicated \('u', 't'\) row\(s\), e.g. unit 0 in period 2001;"):
        StaggeredDiD(pd.concat([data, data.iloc[:1]]), unit="u", time="t", cohort="g")


def test_typed_arguments() -> None:
    design = StaggeredDiD(_toy(), unit="u", time="t", cohort="g")
    with pytest.raises(OptionError, match=r"outcome=\['y'\]: StaggeredDiD.estimate takes one outcome column"):
        design.estimate(["y"])
    with pytest.raises(OptionError, match="takes one outcome column"):
        design.bacon(("y",))
    for alpha in ("0.05", True, 0, 1.5, float("nan")):
        with pytest.raises(OptionError, match=r"alpha=.* must be a number between 0 and 1"):
            design.estimate("y", alpha=alpha)
    for anticipation in (True, -1, 1.0, "1"):
        with pytest.raises(OptionError, match=r"anticipation=.* must be a non-negative integer"):
            design.estimate("y", anticipation=anticipation)
