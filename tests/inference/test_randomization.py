"""Randomization inference: exact and Monte Carlo p-values, test inversion, batched estimation, reproducibility."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

import evalkit as ek
from evalkit.errors import EstimationError, InferenceError, OptionError
from evalkit.estimators import REGISTRY, EstimationSample, fit_estimator
from evalkit.inference.batched import batch_estimates
from evalkit.inference.randomization import RandomizationInference
from evalkit.inference.sandwich import sandwich

RI = RandomizationInference


def _extra(res, outcome):
    return res.fits[outcome].inference


# ---------------------------------------------------------------------------------------------------------------
# exact p-values
# ---------------------------------------------------------------------------------------------------------------


def test_lady_tasting_tea_exact_p():
    # Fisher (1935), The Design of Experiments, ch. 2: 8 cups, 4 with milk first; a lady who classifies all 8
    # correctly has one-sided p = 1 / C(8, 4) = 1/70. SOURCE: Fisher 1935; TOLERANCE: 1e-12 (a ratio of counts).
    tea = pd.DataFrame({"milk_first": [1, 0, 1, 1, 0, 0, 1, 0]})
    tea["said_milk_first"] = tea["milk_first"]
    trial = ek.RandomizedTrial(tea, treatment="milk_first")
    res = trial.estimate("said_milk_first", inference=RI(statistic="estimate", alternative="greater", seed=1))
    row = res.to_frame().iloc[0]
    assert row["p_value"] == pytest.approx(1 / 70, abs=1e-12)
    assert bool(row["exact"]) is True  # 70 <= reps: enumerated automatically
    assert row["n_draws"] == 70
    assert row["p_value_mc_se"] == 0.0
    assert _extra(res, "said_milk_first")["exact"] is True


@pytest.mark.parametrize(
    ("blocks", "clusters", "expected"),
    [
        # complete: C(10, 4) = 210 (closed form)
        (None, None, math.comb(10, 4)),
        # blocked: blocks of 6 (3 treated) and 4 (2 treated): C(6, 3) * C(4, 2) = 120
        ("block", None, math.comb(6, 3) * math.comb(4, 2)),
        # cluster: 5 clusters of 2, 2 treated: C(5, 2) = 10
        (None, "cluster", math.comb(5, 2)),
    ],
)
def test_enumeration_count_is_product_of_binomials(blocks, clusters, expected):
    # SOURCE: closed form prod_b C(M_b, m_b); TOLERANCE: exact integers, p-values on the 1/count grid to 1e-9.
    rng = np.random.default_rng(3)
    data = pd.DataFrame(
        {
            "y": rng.normal(size=10),
            "block": [0] * 6 + [1] * 4,
            "cluster": np.repeat(np.arange(5), 2),
        }
    )
    if clusters:
        data["treated"] = np.repeat([1, 1, 0, 0, 0], 2)
    elif blocks:
        data["treated"] = [1, 1, 1, 0, 0, 0, 1, 1, 0, 0]
    else:
        data["treated"] = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    trial = ek.RandomizedTrial(data, treatment="treated", blocks=blocks, clusters=clusters)
    inference = RI(reps=1_000, statistic="estimate", cov_type="HC2" if clusters else None, confidence_interval=False)
    row = trial.estimate("y", inference=inference).to_frame().iloc[0]
    assert row["n_draws"] == expected
    assert bool(row["exact"])
    scaled = row["p_value"] * expected
    assert scaled == pytest.approx(round(scaled), abs=1e-9)


def _brute_force_p(y, z, x, alternative="two-sided"):
    """Exact randomization-t p-value by itertools.combinations and statsmodels' HC2 t statistic."""
    X = sm.add_constant(np.column_stack([z, x]))
    t_obs = sm.OLS(y, X).fit(cov_type="HC2").tvalues[1]
    n, m = len(z), int(z.sum())
    ts = []
    for treated in itertools.combinations(range(n), m):
        zz = np.zeros(n)
        zz[list(treated)] = 1
        ts.append(sm.OLS(y, sm.add_constant(np.column_stack([zz, x]))).fit(cov_type="HC2").tvalues[1])
    ts = np.array(ts)
    if alternative == "two-sided":
        return float(np.mean(np.abs(ts) >= abs(t_obs) - 1e-10)), t_obs
    return float(np.mean(ts >= t_obs - 1e-10)), t_obs


@pytest.mark.parametrize("alternative", ["two-sided", "greater"])
def test_exact_p_matches_brute_force_statsmodels(alternative):
    # SOURCE: brute-force loop over itertools.combinations(9, 4) = 126 assignments, each fitted by statsmodels
    # OLS with HC2 (a different computation). TOLERANCE: 1e-12 on the p-value (a ratio of counts), 1e-10 on t.
    rng = np.random.default_rng(11)
    n = 9
    data = pd.DataFrame({"x": rng.normal(size=n), "treated": [1, 0, 1, 0, 1, 0, 0, 1, 0]})
    data["y"] = 0.6 * data["treated"] + data["x"] + rng.normal(size=n) * (1 + data["treated"])
    y, z, x = (data[c].to_numpy(dtype=float) for c in ("y", "treated", "x"))
    expected, t_obs = _brute_force_p(y, z, x, alternative)
    trial = ek.RandomizedTrial(data, treatment="treated")
    res = trial.estimate("y", estimator="ols", covariates=["x"], inference=RI(alternative=alternative))
    row = res.to_frame().iloc[0]
    assert bool(row["exact"]) and row["n_draws"] == math.comb(9, 4)
    assert row["p_value"] == pytest.approx(expected, abs=1e-12)
    assert row["statistic"] == pytest.approx(t_obs, rel=1e-10)


# ---------------------------------------------------------------------------------------------------------------
# batched estimation
# ---------------------------------------------------------------------------------------------------------------


def _sample(rng, n=40):
    blocks = np.repeat(np.arange(4), n // 4)
    z = np.zeros(n)
    for b in range(4):
        z[b * (n // 4) + rng.permutation(n // 4)[:4]] = 1
    return EstimationSample(
        y=rng.normal(size=n) + z,
        treatment=z,
        covariates=rng.normal(size=(n, 2)),
        covariate_names=("a", "b"),
        blocks=blocks,
        weights=rng.uniform(0.5, 2.0, size=n),
        baseline=rng.normal(size=n),
    )


@pytest.mark.parametrize("estimator", ["difference_in_means", "ols", "lin", "change"])
@pytest.mark.parametrize("cov_type", ["classical", "HC0", "HC1", "HC2", "HC3", "CR0", "CR1", "CR2"])
@pytest.mark.parametrize("weighted", [False, True])
def test_batched_estimates_equal_per_draw_sandwich(estimator, cov_type, weighted):
    # SOURCE: evalkit.estimators.fit_estimator + evalkit.inference.sandwich.sandwich run draw by draw (sandwich is
    # itself checked against estimatr/statsmodels in test_sandwich.py). TOLERANCE: 1e-10 relative.
    rng = np.random.default_rng(5)
    sample = _sample(rng)
    if not weighted:
        sample = dataclasses.replace(sample, weights=None)
    if estimator == "difference_in_means":
        sample = dataclasses.replace(sample, covariates=np.empty((sample.n_obs, 0)), covariate_names=())
    clusters = np.repeat(np.arange(10), 4) if cov_type.startswith("CR") else None
    # re-draw within blocks (4 treated of 10), as the design would
    Z = np.array([np.concatenate([rng.permutation(part) for part in np.split(sample.treatment, 4)]) for _ in range(4)])
    batch = batch_estimates(estimator, sample, Z, cov_type=cov_type, clusters=clusters)
    for b in range(Z.shape[0]):
        fit = fit_estimator(estimator, dataclasses.replace(sample, treatment=Z[b]))
        # The batched engine computes weighted CR2 on sqrt(w) X, i.e. under the inverse-variance working model
        # (weighted CR2's default in sandwich() is the identity model since issue 8).
        cov = sandwich(
            fit.X, fit.residuals, cov_type, weights=fit.weights, clusters=clusters, working_model="inverse_variance"
        )
        assert batch.estimates[b] == pytest.approx(fit.estimate, rel=1e-10, abs=1e-12)
        assert batch.std_errors[b] == pytest.approx(np.sqrt(cov.vcov[1, 1]), rel=1e-10)


def test_treatment_design_refuses_unknown_estimators():
    rng = np.random.default_rng(1)
    sample = _sample(rng)
    with pytest.raises(EstimationError, match="panel units"):  # the batched form refuses what twfe() refuses
        REGISTRY["twfe"].batch_design(sample)
    fit = fit_estimator("ols", sample)
    assert REGISTRY["ols"].batch_design(sample, fit) is not None
    # a fit whose regressors the batch form cannot rebuild sends the caller to the per-draw loop
    other = dataclasses.replace(fit, X=fit.X + 1.0)
    assert REGISTRY["ols"].batch_design(sample, other) is None


def test_loop_fallback_equals_batched_path():
    # The per-draw loop (an estimator the registry does not know) must give the same null
    # distribution as the batched path on the same draws. SOURCE: batched path above; TOLERANCE: 1e-9 relative.
    from evalkit.inference._base import InferenceContext

    rng = np.random.default_rng(8)
    data = pd.DataFrame({"x": rng.normal(size=30), "treated": np.r_[np.ones(12), np.zeros(18)]})
    data["y"] = data["x"] + rng.normal(size=30)
    trial = ek.RandomizedTrial(data, treatment="treated")
    inference = RI(reps=300, seed=4, null=0.3)
    res = trial.estimate("y", estimator="lin", covariates=["x"], inference=inference)
    sample = EstimationSample(
        y=data["y"].to_numpy(),
        treatment=data["treated"].to_numpy(dtype=float),
        covariates=data[["x"]].to_numpy(),
        covariate_names=("x",),
    )
    fit = fit_estimator("lin", sample)
    ctx = InferenceContext(
        alpha=0.05,
        sample=sample,
        refit=lambda s: fit_estimator("lin", s),
        draw=trial.assignment.draw,
        estimator="some_future_estimator",  # not in the registry: forces the loop
    )
    looped = inference.infer(fit, ctx)
    batched = _extra(res, "y")
    np.testing.assert_allclose(looped.extra["null_statistics"], batched["null_statistics"], rtol=1e-9)
    assert looped.p_value == pytest.approx(res.to_frame()["p_value"].iloc[0], abs=1e-12)
    assert looped.conf_low == pytest.approx(res.to_frame()["conf_low"].iloc[0], rel=1e-6)


# ---------------------------------------------------------------------------------------------------------------
# p-value conventions, Monte Carlo vs exact
# ---------------------------------------------------------------------------------------------------------------


def test_monte_carlo_p_value_convention():
    # Phipson & Smyth (2010): p = (1 + #{|T*| >= |T|}) / (1 + R). SOURCE: that formula applied to the stored null
    # distribution; TOLERANCE: 1e-12. MC standard error sqrt(p(1-p)/R) (binomial closed form), 1e-12.
    rng = np.random.default_rng(2)
    data = pd.DataFrame({"treated": np.r_[np.ones(20), np.zeros(25)], "y": rng.normal(size=45)})
    res = ek.RandomizedTrial(data, treatment="treated").estimate("y", inference=RI(reps=999, seed=3))
    extra = _extra(res, "y")
    row = res.to_frame().iloc[0]
    t_null, t_obs = extra["null_statistics"], extra["observed_statistic"]
    assert t_null.shape == (999,)
    expected = (1 + np.sum(np.abs(t_null) >= abs(t_obs))) / (1 + 999)
    assert row["p_value"] == pytest.approx(expected, abs=1e-12)
    assert row["p_value_mc_se"] == pytest.approx(np.sqrt(expected * (1 - expected) / 999), abs=1e-12)
    assert not bool(row["exact"])
    # std_error is the analytic HC2 standard error of the observed fit; df is NaN
    hc2 = ek.RandomizedTrial(data, treatment="treated").estimate("y").to_frame().iloc[0]
    assert row["std_error"] == pytest.approx(hc2["std_error"], rel=1e-12)
    assert np.isnan(row["df"])


def test_monte_carlo_agrees_with_exact():
    # SOURCE: the exact enumerated p-value (210 assignments); TOLERANCE: 4 Monte Carlo standard errors.
    rng = np.random.default_rng(9)
    data = pd.DataFrame({"treated": [1] * 4 + [0] * 6, "y": rng.normal(size=10)})
    data.loc[data["treated"] == 1, "y"] += 0.8
    trial = ek.RandomizedTrial(data, treatment="treated")
    exact = trial.estimate("y", inference=RI(confidence_interval=False)).to_frame().iloc[0]
    mc = trial.estimate("y", inference=RI(reps=20_000, seed=1, enumerate="never", confidence_interval=False))
    mc = mc.to_frame().iloc[0]
    assert bool(exact["exact"]) and not bool(mc["exact"])
    se = np.sqrt(exact["p_value"] * (1 - exact["p_value"]) / 20_000)
    assert abs(mc["p_value"] - exact["p_value"]) < 4 * se


def _null_pvalues(kind: str, n_sims: int = 200, reps: int = 199) -> np.ndarray:
    rng = np.random.default_rng({"complete": 101, "blocked": 202, "cluster": 303}[kind])
    pvals = []
    for s in range(n_sims):
        if kind == "cluster":
            cl = np.repeat(np.arange(12), 3)
            z = np.repeat(rng.permutation([1] * 5 + [0] * 7), 3)
            y = np.repeat(rng.normal(size=12), 3) + rng.normal(size=36)
            data = pd.DataFrame({"y": y, "treated": z, "cluster": cl})
            trial = ek.RandomizedTrial(data, treatment="treated", clusters="cluster")
        elif kind == "blocked":
            blk = np.repeat([0, 1, 2], [8, 10, 12])
            z = np.concatenate([rng.permutation([1] * m + [0] * (size - m)) for size, m in [(8, 2), (10, 5), (12, 8)]])
            y = blk * 1.5 + rng.standard_t(4, size=30)
            data = pd.DataFrame({"y": y, "treated": z, "block": blk})
            trial = ek.RandomizedTrial(data, treatment="treated", blocks="block")
        else:
            z = rng.permutation([1] * 9 + [0] * 21)
            y = rng.exponential(size=30)
            data = pd.DataFrame({"y": y, "treated": z})
            trial = ek.RandomizedTrial(data, treatment="treated")
        inference = RI(reps=reps, seed=s, enumerate="never", confidence_interval=False)
        pvals.append(trial.estimate("y", inference=inference).to_frame()["p_value"].iloc[0])
    return np.array(pvals)


@pytest.mark.parametrize("kind", ["complete", "blocked", "cluster"])
def test_p_values_uniform_under_sharp_null(kind):
    # Property: under a true sharp null (y does not depend on treatment) the randomization p-value is uniform
    # (discrete on the 1/(R+1) grid). SOURCE: scipy.stats.kstest against U(0, 1) over 200 simulated data sets with
    # fixed seeds; TOLERANCE: KS p > 0.01, and the 5% rejection rate within a binomial 99.9% band.
    p = _null_pvalues(kind)
    assert stats.kstest(p, "uniform").pvalue > 0.01
    assert stats.binomtest(int((p <= 0.05).sum()), p.size, 0.05).pvalue > 0.001


# ---------------------------------------------------------------------------------------------------------------
# confidence interval by test inversion
# ---------------------------------------------------------------------------------------------------------------


def _effect_data(effect: float, seed: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 40
    data = pd.DataFrame({"treated": rng.permutation([1] * 18 + [0] * 22), "x": rng.normal(size=n)})
    data["y"] = data["x"] + rng.normal(size=n) + effect * data["treated"]
    return data


def test_interval_covers_constant_effect_and_shifts_with_it():
    # Property: y(1) = y(0) + 2 for every unit, so the inverted interval should cover 2; adding c to treated outcomes
    # moves the interval by exactly c (Imbens & Rubin 2015, ch. 5). TOLERANCE: 1e-6 (bisection to 1e-8 * se).
    data = _effect_data(2.0)
    inference = RI(reps=2_000, seed=7)
    trial = ek.RandomizedTrial(data, treatment="treated")
    row = trial.estimate("y", estimator="ols", covariates=["x"], inference=inference).to_frame().iloc[0]
    assert row["conf_low"] < 2.0 < row["conf_high"]
    shifted = data.assign(y=data["y"] + 0.75 * data["treated"])
    row2 = (
        ek.RandomizedTrial(shifted, treatment="treated")
        .estimate("y", estimator="ols", covariates=["x"], inference=inference)
        .to_frame()
        .iloc[0]
    )
    assert row2["conf_low"] == pytest.approx(row["conf_low"] + 0.75, abs=1e-6)
    assert row2["conf_high"] == pytest.approx(row["conf_high"] + 0.75, abs=1e-6)


@pytest.mark.parametrize("statistic", ["t", "estimate"])
def test_interval_ends_are_where_the_test_switches(statistic):
    # Property of test inversion: the sharp-null test at tau0 just outside an end rejects at 5% and just inside
    # does not, with the same seed (same draws). TOLERANCE: steps of 1e-3 standard errors.
    data = _effect_data(0.5, seed=3)
    trial = ek.RandomizedTrial(data, treatment="treated")
    row = trial.estimate("y", inference=RI(reps=1_000, seed=2, statistic=statistic)).to_frame().iloc[0]
    step = 1e-3 * row["std_error"]

    def p_at(tau0):
        inference = RI(reps=1_000, seed=2, statistic=statistic, null=tau0, confidence_interval=False)
        return trial.estimate("y", inference=inference).to_frame()["p_value"].iloc[0]

    assert p_at(row["conf_low"] - step) <= 0.05 < p_at(row["conf_low"] + step)
    assert p_at(row["conf_high"] + step) <= 0.05 < p_at(row["conf_high"] - step)


def test_one_sided_interval_has_one_infinite_end():
    data = _effect_data(1.0)
    trial = ek.RandomizedTrial(data, treatment="treated")
    greater = trial.estimate("y", inference=RI(reps=500, seed=1, alternative="greater")).to_frame().iloc[0]
    less = trial.estimate("y", inference=RI(reps=500, seed=1, alternative="less")).to_frame().iloc[0]
    assert np.isfinite(greater["conf_low"]) and greater["conf_high"] == np.inf
    assert less["conf_low"] == -np.inf and np.isfinite(less["conf_high"])


# ---------------------------------------------------------------------------------------------------------------
# refusals, options, reproducibility, shared draws
# ---------------------------------------------------------------------------------------------------------------


def test_not_randomized_refuses_with_clear_message():
    data = _effect_data(0.0)
    trial = ek.RandomizedTrial(data, treatment="treated", assignment=ek.NotRandomized())
    with pytest.raises(InferenceError, match=r"NotRandomized\(\).*assignment=ek.CompleteRandomization"):
        trial.estimate("y", inference=RI(reps=100, seed=1))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"statistic": "z"},
        {"alternative": "two_sided"},
        {"enumerate": "yes"},
        {"cov_type": "HC5"},
        {"reps": 0},
        {"batch_size": 1.5},
        {"seed": -1},
        {"null": float("nan")},
    ],
)
def test_options_are_validated(kwargs):
    with pytest.raises(OptionError):
        RI(**kwargs)


def test_cluster_cov_type_without_clusters_refuses():
    trial = ek.RandomizedTrial(_effect_data(0.0), treatment="treated")
    with pytest.raises(InferenceError, match="needs clusters"):
        trial.estimate("y", inference=RI(reps=10, seed=1, cov_type="CR2"))


def test_same_seed_bit_identical_and_seed_none_recorded():
    data = _effect_data(0.3)
    trial = ek.RandomizedTrial(data, treatment="treated")
    a = trial.estimate("y", inference=RI(reps=500, seed=42))
    b = trial.estimate("y", inference=RI(reps=500, seed=42))
    c = trial.estimate("y", inference=RI(reps=500, seed=43))
    assert np.array_equal(_extra(a, "y")["null_statistics"], _extra(b, "y")["null_statistics"])
    assert a.to_frame()["p_value"].iloc[0] == b.to_frame()["p_value"].iloc[0]
    assert a.to_frame()["conf_low"].iloc[0] == b.to_frame()["conf_low"].iloc[0]
    assert not np.array_equal(_extra(a, "y")["null_statistics"], _extra(c, "y")["null_statistics"])
    # seed=None: entropy drawn once per object, recorded, and reusable
    fresh = RI(reps=500)
    d1 = trial.estimate("y", inference=fresh)
    d2 = trial.estimate("y", inference=fresh)
    seed = _extra(d1, "y")["seed"]
    assert isinstance(seed, int) and seed == fresh.seed_used
    assert np.array_equal(_extra(d1, "y")["null_statistics"], _extra(d2, "y")["null_statistics"])
    again = trial.estimate("y", inference=RI(reps=500, seed=seed))
    assert np.array_equal(_extra(d1, "y")["null_statistics"], _extra(again, "y")["null_statistics"])


def test_outcomes_of_one_call_share_draws():
    # y2 = 3 - 2 y: on the same draws, the null coefficients of y2 are exactly -2 times those of y (the estimator is
    # linear in the outcome); with other draws they would not be. y3 has a missing value: its draws are the same
    # assignments restricted to its rows. TOLERANCE: 1e-9.
    data = _effect_data(0.5)
    data["y2"] = 3.0 - 2.0 * data["y"]
    data["y3"] = data["y"]
    data.loc[5, "y3"] = np.nan
    trial = ek.RandomizedTrial(data, treatment="treated")
    res = trial.estimate(["y", "y2", "y3"], inference=RI(reps=600, seed=5, statistic="estimate", enumerate="never"))
    t1 = _extra(res, "y")["null_statistics"]
    t2 = _extra(res, "y2")["null_statistics"]
    np.testing.assert_allclose(t2, -2.0 * t1, rtol=1e-9, atol=1e-12)
    draws = trial.assignment.draw(np.random.default_rng(np.random.SeedSequence(5).spawn(1)[0]), 600)  # batch 0
    keep = np.flatnonzero(data["y3"].notna().to_numpy())
    y3 = data["y3"].to_numpy()[keep]
    Z = draws[:, keep].astype(float)
    by_hand = (Z @ y3) / Z.sum(1) - ((1 - Z) @ y3) / (1 - Z).sum(1)  # difference in means on each draw
    np.testing.assert_allclose(_extra(res, "y3")["null_statistics"], by_hand, rtol=1e-9)


def test_caller_data_not_mutated():
    data = _effect_data(0.2)
    before = data.copy(deep=True)
    ek.RandomizedTrial(data, treatment="treated").estimate("y", inference=RI(reps=100, seed=1))
    pd.testing.assert_frame_equal(data, before)


# ---------------------------------------------------------------------------------------------------------------
# pyfixest: ritest draws treatment unit by unit, ignoring the number treated
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.slow  # numba compilation of pyfixest's ritest takes ~15 s on first use
def test_pyfixest_ritest_does_not_keep_the_number_treated():
    # pyfixest 0.60, pyfixest/estimation/post_estimation/ritest.py::_resample draws each unit's treatment
    # independently and uniformly from the observed values {0, 1} (random_choice, with replacement), so the number
    # treated varies from draw to draw and averages n/2 whatever was observed. Casita-like 41/19: evalkit keeps 41.
    from pyfixest.estimation.post_estimation.ritest import _resample

    z = np.r_[np.ones(41), np.zeros(19)]
    theirs = _resample(resampvar_arr=z, rng=np.random.default_rng(1), iterations=2_000).sum(axis=0)
    assert theirs.std() > 2.0  # binomial(60, 1/2): sd ~3.9
    assert abs(theirs.mean() - 30.0) < 0.5  # n/2, not 41
    trial = ek.RandomizedTrial(pd.DataFrame({"treated": z, "y": np.arange(60.0)}), treatment="treated")
    ours = trial.assignment.draw(np.random.default_rng(1), 2_000).sum(axis=1)
    assert np.all(ours == 41)


@pytest.mark.slow  # numba compilation of pyfixest's ritest takes ~15 s on first use
def test_pyfixest_ritest_coefficient_p_value_where_schemes_agree():
    # With half the units treated and n = 200, pyfixest's Bernoulli(1/2) draws and evalkit's complete randomization
    # (100 of 200) give the same null distribution of the difference in means up to O(1/n) terms, so the p-values
    # agree within Monte Carlo error. SOURCE: pyfixest 0.60 Feols.ritest(type="randomization-c");
    # TOLERANCE: 4 combined Monte Carlo standard errors (plus 1/R for the +1 convention).
    import pyfixest as pf

    rng = np.random.default_rng(21)
    n = 200
    data = pd.DataFrame({"treated": rng.permutation(np.r_[np.ones(100), np.zeros(100)])})
    data["y"] = 0.25 * data["treated"] + rng.normal(size=n)
    reps = 4_000
    fit = pf.feols("y ~ treated", data=data, vcov="hetero")
    theirs = float(fit.ritest("treated", reps=reps, type="randomization-c", rng=np.random.default_rng(1))["Pr(>|t|)"])
    res = ek.RandomizedTrial(data, treatment="treated").estimate(
        "y", inference=RI(reps=reps, seed=1, statistic="estimate", confidence_interval=False)
    )
    ours = res.to_frame()["p_value"].iloc[0]
    se = np.sqrt(2 * ours * (1 - ours) / reps)
    assert abs(ours - theirs) < 4 * se + 1 / reps
