"""Multiple-testing corrections: statsmodels, Anderson's Stata output, pyfixest's rwolf/wyoung, and properties."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

import evalkit as ek
from evalkit.errors import DataError, InferenceError, OptionError
from evalkit.estimators import fit_least_squares
from evalkit.inference.multiple_testing import (
    _studentizer,
    adjust_pvalues,
    romano_wolf,
    sharpened_qvalues,
    westfall_young,
)
from evalkit.inference.sandwich import sandwich
from evalkit.results import OutcomeFit, Results

from _references import STATA_SHARPENED_Q

CASITA_OUTCOMES = ["easq_comm", "easq_gross_motor", "easq_fine_motor", "easq_problem", "easq_social"]


def _casita(inference: str = "HC2") -> Results:
    trial = ek.RandomizedTrial(ek.datasets.load_casita(), "treated")
    return trial.estimate(
        CASITA_OUTCOMES,
        estimator="change",
        baseline="{outcome}_bl",
        covariates=["{outcome}_bl", "age_months", "female"],
        inference=inference,
    )


def _simulated(n: int = 80, m: int = 6, effect: float = 0.0, seed: int = 0, rho: float = 0.5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    common = rng.normal(size=n)
    frame = {"treated": np.r_[np.ones(n // 2), np.zeros(n - n // 2)], "x": rng.normal(size=n)}
    for j in range(m):
        frame[f"y{j}"] = np.sqrt(rho) * common + np.sqrt(1 - rho) * rng.normal(size=n) + effect * frame["treated"]
    return pd.DataFrame(frame)


DOMAINS = {"y0": "a", "y1": "a", "y2": "b", "y3": "b", "y4": "b", "y5": "c"}


@pytest.fixture(scope="module")
def sim_results() -> Results:
    data = _simulated(effect=0.35, seed=11)
    return ek.RandomizedTrial(data, "treated").estimate(list(DOMAINS), covariates="x", estimator="ols", domains=DOMAINS)


# ------------------------------------------------------------------------------------------ statsmodels methods
@pytest.mark.parametrize(
    ("method", "sm_name"), [("bonferroni", "bonferroni"), ("holm", "holm"), ("bh", "fdr_bh"), ("by", "fdr_by")]
)
def test_pvalue_methods_equal_statsmodels(sim_results: Results, method: str, sm_name: str) -> None:
    table = sim_results.to_frame()
    # SOURCE: statsmodels.stats.multitest.multipletests run here. TOLERANCE: 1e-12 (same arithmetic).
    expected = multipletests(table["p_value"], method=sm_name)[1]
    got = sim_results.adjust(method).to_frame()
    np.testing.assert_allclose(got["p_adjusted"], expected, rtol=0, atol=1e-12)
    assert (got["family"] == "all").all() and (got["adjustment"] == method).all()
    # within="domain": statsmodels applied to each domain's rows on their own.
    by_domain = sim_results.adjust(method, within="domain").to_frame()
    for dom, rows in table.groupby("domain"):
        ref = multipletests(rows["p_value"], method=sm_name)[1]
        np.testing.assert_allclose(by_domain.loc[rows.index, "p_adjusted"], ref, rtol=0, atol=1e-12)
        assert (by_domain.loc[rows.index, "family"] == dom).all()


# ------------------------------------------------------------------------------------------ sharpened q-values
# SOURCE: q-values printed by Anderson's Stata code fdr_sharpened_qvalues.do (Stata 14), as recorded in the test
# file of github.com/josh-ashkinaze/sharp-q-values (tests/test_compute_q.py); the pairs (p, printed q) are
# tests/_references.py's STATA_SHARPENED_Q. TOLERANCE: 1e-10 (grid values).
STATA_Q = STATA_SHARPENED_Q


@pytest.mark.parametrize(("p", "q"), STATA_Q)
def test_sharpened_q_matches_anderson_stata(p: list[float], q: list[float]) -> None:
    np.testing.assert_allclose(sharpened_qvalues(p), q, rtol=0, atol=1e-10)
    # Order of the input does not matter.
    perm = np.random.default_rng(0).permutation(len(p))
    np.testing.assert_allclose(sharpened_qvalues(np.asarray(p)[perm]), np.asarray(q)[perm], rtol=0, atol=1e-10)


def test_sharpened_q_through_results(sim_results: Results) -> None:
    got = sim_results.adjust("sharpened_q").to_frame()
    np.testing.assert_allclose(got["p_adjusted"], sharpened_qvalues(got["p_value"]), rtol=0, atol=0)
    # Two-stage q-values are never above the Benjamini-Hochberg ones at q/(1+q) of the first stage... but they may be
    # below the raw p-value (Stata case 6: p = 0.1 -> q = 0.091); they are at least the grid step.
    assert (got["p_adjusted"] >= 0.001).all() and (got["p_adjusted"] <= 1).all()


# ------------------------------------------------------------------------------------------ pyfixest rwolf / wyoung
def _mc_tol(p: np.ndarray, reps: int) -> np.ndarray:
    # Two independent Monte Carlo estimates of the same p: SD of the difference sqrt(2 p (1-p) / B); allow 4 SD
    # plus 2/B for the (1 + count)/(1 + B) vs count/B conventions.
    return 4 * np.sqrt(2 * p * (1 - p) / reps) + 2 / reps


@pytest.fixture(scope="module")
def casita_pyfixest():
    pf = pytest.importorskip("pyfixest")
    data = ek.datasets.load_casita()
    for o in CASITA_OUTCOMES:
        data[f"{o}_ch"] = data[o] - data[f"{o}_bl"]
    return pf, [
        pf.feols(f"{o}_ch ~ treated + {o}_bl + age_months + female", data=data, vcov="hetero") for o in CASITA_OUTCOMES
    ]


@pytest.mark.parametrize("method", ["romano_wolf", "westfall_young"])
def test_resampling_matches_pyfixest_hetero(casita_pyfixest, method: str) -> None:
    pf, models = casita_pyfixest
    reps = 9_999
    # evalkit with HC1, the covariance pyfixest's wild bootstrap (wildboottest type "11") studentizes with.
    res = _casita("HC1")
    got = res.adjust(method, reps=reps, seed=20240601).to_frame()["p_adjusted"].to_numpy()
    # SOURCE: pyfixest 0.60 pf.rwolf / pf.wyoung (restricted wild bootstrap, Rademacher weights by observation) run
    # here on the same five change-score regressions. TOLERANCE: Monte Carlo, 4 SD of a difference of two
    # independent estimates + 2/B (see _mc_tol).
    if method == "romano_wolf":
        ref = pf.rwolf(models, "treated", reps=reps, seed=7).loc["RW Pr(>|t|)"].to_numpy(dtype=float)
    else:
        ref = pf.wyoung(models, "treated", reps=reps, seed=7).loc["WY Pr(>|t|)"].to_numpy(dtype=float)
    # Same t statistics going in (HC1): SOURCE pyfixest tidy(); TOLERANCE 1e-8.
    t_pf = np.array([m.tidy().loc["treated", "t value"] for m in models])
    np.testing.assert_allclose(res.to_frame()["statistic"], t_pf, rtol=1e-8)
    assert np.all(np.abs(got - ref) <= _mc_tol(ref, reps)), (got, ref)


def _clustered_data(seed: int = 3, n_clusters: int = 10) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(3, 8, size=n_clusters)
    cl = np.repeat(np.arange(n_clusters), sizes)
    z = np.repeat(np.r_[np.ones(n_clusters // 2), np.zeros(n_clusters - n_clusters // 2)], sizes)
    u = np.repeat(rng.normal(size=n_clusters), sizes)
    x = rng.normal(size=cl.size)
    frame = {"cl": cl, "treated": z, "x": x}
    for j in range(3):
        frame[f"y{j}"] = 0.3 * j * z + 0.5 * x + u + rng.normal(size=cl.size)
    return pd.DataFrame(frame)


@pytest.mark.parametrize("method", ["romano_wolf", "westfall_young"])
def test_cluster_enumeration_matches_pyfixest(method: str) -> None:
    pf = pytest.importorskip("pyfixest")
    data = _clustered_data()
    outcomes = ["y0", "y1", "y2"]
    res = ek.RandomizedTrial(data, "treated", clusters="cl").estimate(
        outcomes, covariates="x", estimator="ols", inference="CR1"
    )
    got = res.adjust(method, reps=9_999, seed=1).to_frame()["p_adjusted"].to_numpy()
    models = [pf.feols(f"{o} ~ treated + x", data=data, vcov={"CRV1": "cl"}) for o in outcomes]
    # SOURCE: pyfixest pf.rwolf / pf.wyoung; with 2^10 = 1024 < 9,999 draws both enumerate every cluster sign vector,
    # so there is no Monte Carlo error. TOLERANCE: pyfixest's rwolf divides (count + 1) by (2^G + 1) where evalkit
    # (a complete enumeration containing the observed sample) divides count by 2^G: at most 1/(2^G + 1). pyfixest
    # also compares max|t*| >= |t| exactly, so the observed sign vector and its mirror image (the same |t| up to
    # rounding) can fall on either side; evalkit's tie-tolerant comparison always counts them (pyfixest 0.60 drops
    # them for y1: 863/1025 vs 864/1024). Romano-Wolf: |diff| <= 3/(2^G + 1). wyoung uses count / 2^G: 1e-12.
    with pytest.warns(UserWarning):
        if method == "romano_wolf":
            ref = pf.rwolf(models, "treated", reps=9_999, seed=1).loc["RW Pr(>|t|)"].to_numpy(dtype=float)
        else:
            ref = pf.wyoung(models, "treated", reps=9_999, seed=1).loc["WY Pr(>|t|)"].to_numpy(dtype=float)
    tol = 3 / (2**10 + 1) + 1e-12 if method == "romano_wolf" else 1e-12
    np.testing.assert_allclose(got, ref, rtol=0, atol=tol)
    assert "complete enumeration" in res.adjust(method, reps=9_999).notes[-1]


# ------------------------------------------------------------------------------------------ the bootstrap itself
@pytest.mark.parametrize("cov_type", ["classical", "HC0", "HC1", "HC2", "HC3", "CR0", "CR1", "CR2"])
@pytest.mark.parametrize("weighted", [False, True])
def test_bootstrap_t_equals_refit(cov_type: str, weighted: bool) -> None:
    """One bootstrap draw's t equals a direct refit on y* = X b_restricted + v * e_restricted with sandwich()."""
    rng = np.random.default_rng(5)
    n = 30
    X = np.column_stack([np.ones(n), rng.integers(0, 2, n), rng.normal(size=n)])
    y = X @ [1.0, 0.4, 0.3] + rng.normal(size=n)
    w = rng.uniform(0.5, 2.0, n) if weighted else None
    clusters = np.repeat(np.arange(10), 3)
    fit = fit_least_squares(y, X, ("(Intercept)", "z", "x"), 1, weights=w)
    clustered = cov_type.startswith("CR")
    st = _studentizer(
        fit, cov_type, clusters if clustered else None, impose_null=True, unit_codes=clusters if clustered else None
    )
    V = rng.choice([-1.0, 1.0], size=(4, st.units.size))  # one sign per unit (cluster, or row)
    v = V[:, st.position]
    got = st.t_stats(v)  # residual-draw path (large samples)
    np.testing.assert_allclose(st.t_stats_units(V), got, rtol=1e-9)  # quadratic-form path (small samples)
    # Reference: restricted least squares (drop column 1), then refit each bootstrap sample.
    restricted = fit_least_squares(y, X[:, [0, 2]], ("(Intercept)", "x"), 0, weights=w)
    for b in range(4):
        y_star = X[:, [0, 2]] @ restricted.coef + v[b] * restricted.residuals
        boot = fit_least_squares(y_star, X, ("(Intercept)", "z", "x"), 1, weights=w)
        cov = sandwich(X, boot.residuals, cov_type, weights=w, clusters=clusters if cov_type.startswith("CR") else None)
        # SOURCE: evalkit.inference.sandwich (checked against estimatr elsewhere) on an explicit refit.
        # TOLERANCE: 1e-9 relative (different order of floating-point operations).
        np.testing.assert_allclose(got[b], boot.coef[1] / np.sqrt(cov.vcov[1, 1]), rtol=1e-9)


# ------------------------------------------------------------------------------------------ properties
@pytest.mark.parametrize("method", ["bonferroni", "holm", "bh", "by", "romano_wolf", "westfall_young"])
def test_adjusted_at_least_raw_and_monotone(sim_results: Results, method: str) -> None:
    out = sim_results.adjust(method, reps=999, seed=3).to_frame()
    assert (out["p_adjusted"] >= out["p_value"] - 1e-12).all()
    assert (out["p_adjusted"] <= 1).all()
    # Monotone in the order of the raw evidence (|t| here; p-values share the df so the order is the same).
    order = np.argsort(-np.abs(out["statistic"].to_numpy()))
    assert np.all(np.diff(out["p_adjusted"].to_numpy()[order]) >= -1e-12)


def test_new_results_and_reproducible(sim_results: Results) -> None:
    before = sim_results.to_frame()
    a = sim_results.adjust("romano_wolf", reps=499, seed=42)
    b = sim_results.adjust("romano_wolf", reps=499, seed=42)
    c = sim_results.adjust("romano_wolf", reps=499, seed=43)
    pd.testing.assert_frame_equal(sim_results.to_frame(), before)
    assert "p_adjusted" not in sim_results.to_frame()
    np.testing.assert_array_equal(a.to_frame()["p_adjusted"], b.to_frame()["p_adjusted"])
    assert not np.array_equal(a.to_frame()["p_adjusted"], c.to_frame()["p_adjusted"])
    assert a.notes[-1].startswith("p_adjusted: Romano") and "499 Rademacher draws" in a.notes[-1]
    # Adjusting again replaces the previous adjustment and its note.
    again = a.adjust("holm", alpha=0.1)
    assert sum(n.startswith("p_adjusted:") for n in again.notes) == 1
    assert (again.to_frame()["rejected"] == (again.to_frame()["p_adjusted"] <= 0.1)).all()
    assert "p_adjusted" in again.summary()


def test_within_domain_equals_family_alone(sim_results: Results) -> None:
    """The same design-row weights are drawn whatever outcomes are estimated, so a family adjusted within the full
    results equals that family estimated and adjusted on its own with the same seed."""
    data = _simulated(effect=0.35, seed=11)
    alone = ek.RandomizedTrial(data, "treated").estimate(["y2", "y3", "y4"], covariates="x", estimator="ols")
    for method in ("romano_wolf", "westfall_young"):
        full = sim_results.adjust(method, within="domain", reps=999, seed=9).to_frame().set_index("outcome")
        sub = alone.adjust(method, reps=999, seed=9).to_frame().set_index("outcome")
        np.testing.assert_array_equal(full.loc[["y2", "y3", "y4"], "p_adjusted"], sub["p_adjusted"])
        assert set(full["family"]) == {"a", "b", "c"}
        # A family of one outcome: its own bootstrap p-value, at least its raw p-value minus MC noise.
        assert full.loc["y5", "p_adjusted"] <= 1


def test_missing_values_align_by_row() -> None:
    """Outcomes observed on different rows: the weights follow the design row, so dropping rows of one outcome does
    not change the draws of another (its adjusted p-value alone is unchanged when the other is re-estimated)."""
    data = _simulated(n=60, m=2, seed=4)
    data.loc[[0, 5, 40], "y1"] = np.nan
    trial = ek.RandomizedTrial(data, "treated")
    both = trial.estimate(["y0", "y1"], covariates="x", estimator="ols")
    assert both.to_frame()["n_obs"].tolist() == [60, 57]
    a = both.adjust("romano_wolf", reps=999, seed=2, within=None).to_frame()
    assert np.isfinite(a["p_adjusted"]).all()
    single = trial.estimate(["y1"], covariates="x", estimator="ols").adjust("romano_wolf", reps=999, seed=2)
    two_alone = both.adjust("romano_wolf", reps=999, seed=2)
    assert single.to_frame()["p_adjusted"].iloc[0] <= two_alone.to_frame()["p_adjusted"].iloc[1] + 1e-12


def test_family_wise_error_under_global_null() -> None:
    """Under the global null, P(any rejection at 10%) <= 10% for Romano-Wolf and Westfall-Young.

    200 simulated trials (n = 40, 4 outcomes with correlation 0.5), 199 bootstrap draws each, fixed seeds.
    TOLERANCE: 0.10 + 3 binomial SD = 0.10 + 3 sqrt(0.09/200) = 0.164. (Holm's control is a theorem and its
    statsmodels implementation is checked above; statsmodels' Holm runs gc.collect() on every call, too slow here.)
    """
    n_sim = 200
    any_reject = {"romano_wolf": 0, "westfall_young": 0}
    any_raw = 0
    for s in range(n_sim):
        data = _simulated(n=40, m=4, seed=1000 + s)
        res = ek.RandomizedTrial(data, "treated").estimate(["y0", "y1", "y2", "y3"], inference="HC2")
        any_raw += bool((res.to_frame()["p_value"] <= 0.10).any())
        for method in any_reject:
            p = res.adjust(method, reps=199, seed=s).to_frame()["p_adjusted"]
            any_reject[method] += bool((p <= 0.10).any())
    for method, k in any_reject.items():
        assert k / n_sim <= 0.10 + 3 * np.sqrt(0.09 / n_sim), (method, k)
        # and the correction is not vacuous: unadjusted testing of 4 outcomes rejects more often.
        assert 0 < k < any_raw


# ------------------------------------------------------------------------------------------ randomization draws
def _brute_rw(t: np.ndarray, null: np.ndarray) -> np.ndarray:
    """Independent, loop-based Romano-Wolf (Clarke, Romano & Wolf 2020, rwolf algorithm) for the RI test."""
    m, B = t.size, null.shape[0]
    order = sorted(range(m), key=lambda j: -abs(t[j]))
    out, running = np.empty(m), 0.0
    for s, j in enumerate(order):
        rest = order[s:]
        count = sum(max(abs(null[b, r]) for r in rest) >= abs(t[j]) for b in range(B))
        running = max(running, (count + 1) / (B + 1))
        out[j] = running
    return out


def _brute_wy(p: np.ndarray, pnull: np.ndarray) -> np.ndarray:
    m, B = p.size, pnull.shape[0]
    order = sorted(range(m), key=lambda j: p[j])
    out, running = np.empty(m), 0.0
    for s, j in enumerate(order):
        rest = order[s:]
        count = sum(min(pnull[b, r] for r in rest) <= p[j] for b in range(B))
        running = max(running, (count + 1) / (B + 1))
        out[j] = running
    return out


def _ri_results(null: np.ndarray, observed: np.ndarray) -> Results:
    m = observed.size
    table = pd.DataFrame(
        {
            "outcome": [f"y{j}" for j in range(m)],
            "domain": None,
            "statistic": observed,
            "p_value": [
                float((1 + (np.abs(null[:, j]) >= abs(observed[j])).sum()) / (1 + null.shape[0])) for j in range(m)
            ],
            "df": np.nan,
            "inference": "randomization",
        }
    )
    fits = {
        f"y{j}": OutcomeFit(
            fit=None, rows=np.arange(5), inference={"null_statistics": null[:, j], "observed_statistic": observed[j]}
        )
        for j in range(m)
    }
    return Results(_table=table, estimator="difference_in_means", inference="randomization", design="test", fits=fits)


def test_randomization_draws_are_reused() -> None:
    rng = np.random.default_rng(8)
    null = rng.standard_t(5, size=(300, 4)) @ np.array([[1, 0.5, 0, 0], [0, 1, 0.3, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]])
    observed = np.array([2.5, -1.0, 0.3, 3.1])
    res = _ri_results(null, observed)
    rw = res.adjust("romano_wolf").to_frame()["p_adjusted"].to_numpy()
    # SOURCE: loop implementation of the published step-down algorithm above. TOLERANCE: 1e-12.
    np.testing.assert_allclose(rw, _brute_rw(observed, null), rtol=0, atol=1e-12)
    # Westfall-Young on randomization p-values: each draw's p is its share of draws at least as extreme.
    absn = np.abs(null)
    pnull = (absn[None, :, :] >= absn[:, None, :]).mean(axis=1)
    praw = res.to_frame()["p_value"].to_numpy()
    wy = res.adjust("westfall_young").to_frame()["p_adjusted"].to_numpy()
    np.testing.assert_allclose(wy, _brute_wy(praw, pnull), rtol=0, atol=1e-12)
    assert "re-drawn assignments" in res.adjust("romano_wolf").notes[-1]


def test_functions_on_arrays() -> None:
    null = np.random.default_rng(1).normal(size=(50, 3))
    np.testing.assert_allclose(romano_wolf([3.0, 0.1, -2.0], null), _brute_rw(np.array([3.0, 0.1, -2.0]), null))
    p = np.array([0.01, 0.5, 0.04])
    pn = np.random.default_rng(2).uniform(size=(50, 3))
    np.testing.assert_allclose(westfall_young(p, pn), _brute_wy(p, pn))
    # SOURCE: statsmodels multipletests. TOLERANCE: 1e-12.
    np.testing.assert_allclose(adjust_pvalues(p, "holm"), multipletests(p, method="holm")[1], atol=1e-12)


# ------------------------------------------------------------------------------------------ errors
def test_errors(sim_results: Results) -> None:
    with pytest.raises(OptionError, match="method='tukey'"):
        sim_results.adjust("tukey")  # type: ignore[arg-type]
    with pytest.raises(OptionError, match="within='outcome'"):
        sim_results.adjust("holm", within="outcome")  # type: ignore[arg-type]
    no_domain = ek.RandomizedTrial(_simulated(), "treated").estimate(["y0", "y1"])
    with pytest.raises(OptionError, match="domains="):
        no_domain.adjust("holm", within="domain")
    with pytest.raises(OptionError, match="reps"):
        no_domain.adjust("romano_wolf", reps=0)
    with pytest.raises(OptionError, match="alpha"):
        no_domain.adjust("holm", alpha=2)
    with pytest.raises(DataError, match="outside"):
        adjust_pvalues([0.1, 1.2], "bh")
    with pytest.raises(InferenceError, match="draws differ"):
        null = np.zeros((10, 2))
        res = _ri_results(null, np.array([1.0, 2.0]))
        fits = dict(res.fits)
        fits["y1"] = OutcomeFit(
            fit=None, rows=np.arange(5), inference={"null_statistics": np.zeros(7), "observed_statistic": 2.0}
        )
        Results(_table=res.to_frame(), estimator="x", inference="y", design="z", fits=fits).adjust("romano_wolf")


# ------------------------------------------------------------------------------------------ Casita
def test_casita_holm_and_romano_wolf() -> None:
    res = _casita()
    holm = res.adjust("holm").to_frame().set_index("outcome")
    rw = res.adjust("romano_wolf", reps=9_999, seed=2015).to_frame().set_index("outcome")
    raw = holm["p_value"]
    # Properties: both control the FWER, so both are >= the raw p-values.
    assert (holm["p_adjusted"] >= raw).all() and (rw["p_adjusted"] >= raw - 1e-12).all()
    # The five change regressions share n and k, hence the df: min-p is then a monotone transform of max-|t| and
    # Westfall-Young equals Romano-Wolf draw for draw (same seed).
    wy = res.adjust("westfall_young", reps=9_999, seed=2015).to_frame().set_index("outcome")
    np.testing.assert_allclose(wy["p_adjusted"], rw["p_adjusted"], rtol=0, atol=1e-12)
    # The strongest domain stays significant at 5% under both corrections; the weakest does not.
    best, worst = raw.idxmin(), raw.idxmax()
    assert holm.loc[best, "p_adjusted"] < 0.05 and rw.loc[best, "p_adjusted"] < 0.05
    assert holm.loc[worst, "p_adjusted"] > 0.05 and rw.loc[worst, "p_adjusted"] > 0.05


def test_casita_randomization_inference_draws() -> None:
    """With RandomizationInference the corrections reuse its re-drawn assignments (no bootstrap)."""
    from evalkit.inference.randomization import RandomizationInference

    trial = ek.RandomizedTrial(ek.datasets.load_casita(), "treated")
    res = trial.estimate(
        CASITA_OUTCOMES,
        estimator="change",
        baseline="{outcome}_bl",
        covariates=["{outcome}_bl", "age_months", "female"],
        inference=RandomizationInference(reps=2_000, seed=2015),
    )
    raw = res.to_frame()["p_value"].to_numpy()
    rw = res.adjust("romano_wolf", seed=999).to_frame()["p_adjusted"].to_numpy()
    wy = res.adjust("westfall_young").to_frame()["p_adjusted"].to_numpy()
    # reps/seed are ignored: the randomization draws are reused, so another seed changes nothing.
    np.testing.assert_array_equal(rw, res.adjust("romano_wolf", seed=1).to_frame()["p_adjusted"])
    # Properties: FWER-adjusted p-values are >= the randomization p-values (up to the tie convention, 1/(R+1))
    # and monotone in |T|.
    assert np.all(rw >= raw - 1 / 2_001) and np.all(wy >= raw - 1 / 2_001)
    order = np.argsort(-np.abs(res.to_frame()["statistic"].to_numpy()))
    assert np.all(np.diff(rw[order]) >= -1e-12)
    # SOURCE: loop implementation of the Romano-Wolf algorithm (above) on the same draws. TOLERANCE: 1e-12.
    null = np.column_stack([res.fits[o].inference["null_statistics"] for o in CASITA_OUTCOMES])
    np.testing.assert_allclose(rw, _brute_rw(res.to_frame()["statistic"].to_numpy(), null), rtol=0, atol=1e-12)
    assert "re-drawn assignments" in res.adjust("romano_wolf").notes[-1]


def test_resampling_adjustment_of_staggered_results_names_the_reason_and_the_fix():
    """Regression: Romano–Wolf on StaggeredDiD results said it needs 'the results returned by estimate()', although
    they were; the message must say why (no regression fit to refit) and point to holm / bh (property of the
    message; mpdta from moderndid, the Callaway–Sant'Anna reference data)."""
    moderndid = pytest.importorskip("moderndid")
    data = moderndid.load_mpdta().to_pandas()
    design = ek.StaggeredDiD(data, unit="countyreal", time="year", cohort="first.treat")
    res = design.estimate("lemp", aggregate="simple")
    with pytest.raises(InferenceError, match="StaggeredDiD results .* keep none; adjust their rows with 'holm'"):
        res.adjust("romano_wolf", reps=99, seed=1)
    holm = res.adjust("holm")  # one row: Holm leaves the p-value unchanged (closed form)
    assert holm.to_frame()["p_adjusted"].iloc[0] == pytest.approx(res.to_frame()["p_value"].iloc[0], rel=1e-12)
