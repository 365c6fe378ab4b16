"""Inverse-probability-of-response weights (``attrition_weights=``) and the missing-indicator method.

References: a stacked M-estimation sandwich written out by hand here (analytic Jacobian, the logit fitted by
Newton's method, not statsmodels) for the standard errors; statsmodels WLS / OLS for the point estimates; a
simulation in which outcomes are missing at random given a covariate for bias and coverage.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import evalkit as ek
from evalkit.errors import DataError, OptionError
from evalkit.estimators import ESTIMATORS, EstimationSample
from evalkit.estimators.response_weights import fit_response_model
from evalkit.inference.estimated_weights import weights_jacobian

TAU = 0.5


def _mar(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Outcomes missing at random given treatment and a baseline covariate that predicts the outcome."""
    z = rng.permutation(np.r_[np.ones(n // 2), np.zeros(n - n // 2)]).astype(int)
    x = rng.normal(size=n)
    y = 1.0 + x + TAU * z + rng.normal(size=n)
    p = 1 / (1 + np.exp(-(0.8 + 1.0 * x - 0.8 * z)))  # treated respond less, high x more: complete cases biased
    s = rng.random(n) < p
    return pd.DataFrame({"z": z, "x": x, "y": np.where(s, y, np.nan)})


def _logit_newton(R: np.ndarray, V: np.ndarray) -> np.ndarray:
    g = np.zeros(V.shape[1])
    for _ in range(50):
        p = 1 / (1 + np.exp(-V @ g))
        g = g + np.linalg.solve((V * (p * (1 - p))[:, None]).T @ V, V.T @ (R - p))
    return g


def _stacked_se(d: pd.DataFrame, X_cols: list[str], clusters: np.ndarray | None = None) -> tuple[float, float]:
    """WLS of y on [1, z, X] with weights 1/p(gamma) and the logit of response on [1, z, x], stacked:
    V = A^{-1} B A^{-T}, A = sum of the analytic Jacobians, B = sum of (cluster sums of) psi psi' (HC0 / CR0)."""
    R = d["y"].notna().to_numpy()
    Vr = np.column_stack([np.ones(len(d)), d["z"], d["x"]])
    g = _logit_newton(R.astype(float), Vr)
    p = 1 / (1 + np.exp(-Vr @ g))
    w = R / p
    X = np.column_stack([np.ones(len(d)), d["z"], *[d[c] for c in X_cols]])
    y = d["y"].fillna(0).to_numpy()
    beta = np.linalg.solve((X * w[:, None]).T @ X, (X * w[:, None]).T @ y)
    e = y - X @ beta
    psi = np.column_stack([X * (w * e)[:, None], Vr * (R - p)[:, None]])
    k, q = X.shape[1], Vr.shape[1]
    A = np.zeros((k + q, k + q))
    A[:k, :k] = -(X * w[:, None]).T @ X
    A[:k, k:] = -(X * (w * (1 - p) * e)[:, None]).T @ Vr  # d w / d gamma = -w (1 - p) v
    A[k:, k:] = -(Vr * (p * (1 - p))[:, None]).T @ Vr
    if clusters is not None:
        psi = np.array([np.bincount(clusters, weights=psi[:, j]) for j in range(psi.shape[1])]).T
    Ainv = np.linalg.inv(A)
    V = Ainv @ (psi.T @ psi) @ Ainv.T
    return float(beta[1]), float(np.sqrt(V[1, 1]))


@pytest.mark.parametrize(("estimator", "covariates"), [("difference_in_means", []), ("ols", ["x"])])
def test_standard_error_equals_stacked_m_estimation(estimator: str, covariates: list[str]) -> None:
    d = _mar(np.random.default_rng(10), 800)
    res = ek.RandomizedTrial(d, "z").estimate(
        "y", estimator=estimator, covariates=covariates or None, attrition_weights=["x"], inference="HC0"
    )
    row = res.to_frame().iloc[0]
    estimate, se = _stacked_se(d, covariates)
    # point estimate: WLS with the same weights (logit by Newton to 1e-12); SE: the central-difference Jacobian of
    # the estimator has relative error O(h^2) = 1e-10, tolerance 1e-7
    assert row["estimate"] == pytest.approx(estimate, rel=1e-9)
    assert row["std_error"] == pytest.approx(se, rel=1e-7)
    # estimating the weights lowers the variance (Hirano, Imbens and Ridder 2003): the known-weights HC0 is larger
    assert se < _naive_se(d, covariates)


def _naive_se(d: pd.DataFrame, covariates: list[str]) -> float:
    """HC0 of the WLS treating the estimated weights as known (statsmodels WLS, cov_type='HC0')."""
    R = d["y"].notna().to_numpy()
    Vr = np.column_stack([np.ones(len(d)), d["z"], d["x"]])
    p = 1 / (1 + np.exp(-Vr @ _logit_newton(R.astype(float), Vr)))
    sub = d[R]
    fit = sm.WLS(sub["y"], sm.add_constant(sub[["z", *covariates]]), weights=1 / p[R]).fit(cov_type="HC0")
    return float(fit.bse["z"])


def test_cluster_robust_correction_equals_stacked_m_estimation() -> None:
    # a clustered design (treatment constant within clusters of 10); CR0 sums the stacked scores by cluster
    rng = np.random.default_rng(12)
    n, G = 900, 90
    cl = np.arange(n) // 10
    z = rng.permutation(np.r_[np.ones(G // 2), np.zeros(G // 2)]).astype(int)[cl]
    x = rng.normal(size=n)
    y = 1 + x + TAU * z + rng.normal(size=G)[cl] + rng.normal(size=n)
    s = rng.random(n) < 1 / (1 + np.exp(-(0.3 + 1.2 * x - 0.8 * z)))
    d = pd.DataFrame({"z": z, "x": x, "y": np.where(s, y, np.nan), "cl": cl})
    res = ek.RandomizedTrial(d, "z", clusters="cl").estimate("y", attrition_weights=["x"], inference="CR0")
    estimate, se = _stacked_se(d, [], clusters=cl)
    assert res.to_frame()["estimate"].iloc[0] == pytest.approx(estimate, rel=1e-9)
    assert res.to_frame()["std_error"].iloc[0] == pytest.approx(se, rel=1e-7)  # as above


def test_weights_jacobian_equals_closed_form_for_least_squares() -> None:
    d = _mar(np.random.default_rng(13), 500)
    R = d["y"].notna().to_numpy()
    model = fit_response_model(R, d[["z", "x"]].to_numpy(), ("z", "x"), outcome="y")
    sub = d[R]
    sample = EstimationSample(
        y=sub["y"].to_numpy(),
        treatment=sub["z"].to_numpy(),
        covariates=sub[["x"]].to_numpy(),
        covariate_names=("x",),
        weights=model.weights(),
        treatment_name="z",
    )
    fit = ESTIMATORS["ols"].fit(sample)
    G = weights_jacobian(model, sample, ESTIMATORS["ols"].fit)
    X, w, e = fit.X, fit.weights, fit.residuals
    p = model.probability()[R]
    closed = -np.linalg.solve((X * w[:, None]).T @ X, (X * (w * (1 - p) * e)[:, None]).T @ model.design[R])
    # -(X'WX)^{-1} sum_i w_i (1 - p_i) e_i x_i v_i'; central differences: relative error ~1e-9
    np.testing.assert_allclose(G, closed, rtol=1e-6, atol=1e-9)


@pytest.mark.slow
def test_simulation_ipw_unbiased_and_covers_complete_cases_biased() -> None:
    """500 trials of 600 units, outcomes missing at random given (z, x).

    Monte Carlo standard errors: of a mean of 500 estimates, SD / sqrt(500) (about 0.005 here); of a coverage rate,
    sqrt(0.95 * 0.05 / 500) = 0.0097. IPW must be within 3 MC SEs of the effect, and cover within 3 MC SEs of 95%;
    complete cases must be biased by more than 6 MC SEs."""
    rng = np.random.default_rng(2026)
    ipw, cc, cover, ses = [], [], [], []
    for _ in range(500):
        d = _mar(rng, 600)
        trial = ek.RandomizedTrial(d, "z")
        row = trial.estimate("y", attrition_weights=["x"]).to_frame().iloc[0]
        ipw.append(row["estimate"])
        ses.append(row["std_error"])
        cover.append(row["conf_low"] <= TAU <= row["conf_high"])
        cc.append(trial.estimate("y").to_frame()["estimate"].iloc[0])
    ipw, cc = np.array(ipw), np.array(cc)
    mc_ipw, mc_cc = ipw.std(ddof=1) / np.sqrt(500), cc.std(ddof=1) / np.sqrt(500)
    assert abs(ipw.mean() - TAU) < 3 * mc_ipw
    assert abs(cc.mean() - TAU) > 6 * mc_cc
    assert abs(np.mean(cover) - 0.95) < 3 * np.sqrt(0.95 * 0.05 / 500)
    # the mean corrected SE matches the spread of the estimates (MC error of an SD from 500 draws: 3.2%; tol 10%)
    assert np.mean(ses) == pytest.approx(ipw.std(ddof=1), rel=0.10)


def test_lin_with_attrition_weights_centres_at_weighted_means() -> None:
    d = _mar(np.random.default_rng(14), 700)
    res = ek.RandomizedTrial(d, "z").estimate("y", estimator="lin", covariates=["x"], attrition_weights=["x"])
    R = d["y"].notna().to_numpy()
    Vr = np.column_stack([np.ones(len(d)), d["z"], d["x"]])
    w = 1 / (1 + np.exp(-Vr @ _logit_newton(R.astype(float), Vr)))
    sub = d[R].assign(w=1 / w[R])
    xc = sub["x"] - np.average(sub["x"], weights=sub["w"])
    fit = sm.WLS(sub["y"], sm.add_constant(np.column_stack([sub["z"], xc, sub["z"] * xc])), weights=sub["w"]).fit()
    assert res.to_frame()["estimate"].iloc[0] == pytest.approx(fit.params.iloc[1], rel=1e-9)  # statsmodels WLS


def test_attrition_weights_reporting_and_refusals() -> None:
    d = _mar(np.random.default_rng(15), 300)
    trial = ek.RandomizedTrial(d, "z")
    res = trial.estimate("y", attrition_weights="x")
    n_missing = int(d["y"].isna().sum())
    dropped = res.dropped
    assert int(dropped["n_missing"].iloc[0]) == n_missing
    assert f"{n_missing} kept as non-respondents in the response model" in dropped["reason"].iloc[0]
    assert "weighted by the inverse of the estimated probability" in res.summary()
    with pytest.raises(OptionError, match="sandwich"):
        trial.estimate("y", attrition_weights="x", inference=ek.inference.RandomizationInference(reps=99, seed=1))
    with pytest.raises(DataError, match="role"):
        trial.estimate("y", attrition_weights=["z"])
    with pytest.raises(OptionError, match="missing_covariates"):
        trial.estimate("y", missing_covariates="impute")
    two = ek.RandomizedTrial(d.assign(y2=d["y"] * 2), "z").estimate(["y", "y2"], attrition_weights="x")
    with pytest.raises(ek.errors.InferenceError, match="attrition_weights"):
        two.adjust("romano_wolf", reps=99, seed=1)
    holm = two.adjust("holm").to_frame()["p_adjusted"].to_numpy()
    p = two.to_frame()["p_value"].to_numpy()
    assert holm == pytest.approx(np.minimum(1, np.maximum.accumulate(np.sort(p) * [2, 1]))[np.argsort(np.argsort(p))])
    with pytest.raises(ek.errors.EstimationError, match="no attrition"):
        ek.RandomizedTrial(d.dropna(), "z").estimate("y", attrition_weights="x")


def test_missing_indicator_method_equals_hand_filled_regression() -> None:
    rng = np.random.default_rng(16)
    n = 400
    z = rng.integers(0, 2, n)
    x = rng.normal(size=n)
    y = x + 0.4 * z + rng.normal(size=n)
    xm = np.where(rng.random(n) < 0.15, np.nan, x)
    d = pd.DataFrame({"z": z, "y": y, "xm": xm})
    res = ek.RandomizedTrial(d, "z").estimate("y", estimator="ols", covariates=["xm"], missing_covariates="indicator")
    filled = np.where(np.isnan(xm), np.nanmean(xm), xm)
    X = sm.add_constant(np.column_stack([z, filled, np.isnan(xm).astype(float)]))
    fit = sm.OLS(y, X).fit(cov_type="HC2")
    row = res.to_frame().iloc[0]
    assert row["estimate"] == pytest.approx(fit.params[1], rel=1e-10)  # statsmodels OLS on the filled data
    assert row["std_error"] == pytest.approx(fit.bse[1], rel=1e-8)
    assert row["n_obs"] == n and len(res.dropped) == 0
    assert any("missing_covariates='indicator'" in note and "'xm' (" in note for note in res.notes)
    # the default stays listwise, with the rows reported
    listwise = ek.RandomizedTrial(d, "z").estimate("y", estimator="ols", covariates=["xm"])
    assert listwise.to_frame()["n_obs"].iloc[0] == int((~np.isnan(xm)).sum())
    assert int(listwise.dropped["n_missing"].iloc[0]) == int(np.isnan(xm).sum())
