"""Analytic power against Monte Carlo: the cluster trial and the two-period DiD with clusters.

Each test draws the model the formula assumes (normal cluster and individual components; for the DiD, serial
correlation ``phi_c`` of the cluster effect and ``phi_i`` of the individual component), analyses every draw with
the t test on cluster means (cluster-mean changes for the DiD, df ``J - 2``), and compares the rejection rate with
``method="exact"`` power. Under this model that test's statistic is exactly noncentral t, so the rates must agree
within Monte Carlo error.

TOLERANCE: 4 Monte Carlo standard errors, ``4 sqrt(p (1 - p) / reps)``; for the variance of the estimate,
4 standard errors of a sample variance, ``4 sqrt(2 / (reps - 1))`` relative.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import evalkit as ek

REPS = 4000


def _rejections(cluster_values: np.ndarray, treated: np.ndarray, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Pooled two-sample t test across clusters for each row of ``cluster_values`` (reps x J): estimates, rejects."""
    t_vals, c_vals = cluster_values[:, treated], cluster_values[:, ~treated]
    est = t_vals.mean(axis=1) - c_vals.mean(axis=1)
    j1, j0 = t_vals.shape[1], c_vals.shape[1]
    pooled = ((j1 - 1) * t_vals.var(axis=1, ddof=1) + (j0 - 1) * c_vals.var(axis=1, ddof=1)) / (j1 + j0 - 2)
    t = est / np.sqrt(pooled * (1 / j1 + 1 / j0))
    return est, np.abs(t) > stats.t.ppf(1 - alpha / 2, j1 + j0 - 2)


def _did_draws(rng, J, n, icc, phi_c, phi_i, effect, treated, reps):
    """Cluster means of the change y_ij1 - y_ij0 under the model of ek.planning.mde(design='did')."""
    c0 = rng.standard_normal((reps, J))
    c1 = phi_c * c0 + math.sqrt(1 - phi_c**2) * rng.standard_normal((reps, J))
    e0 = rng.standard_normal((reps, J, n))
    e1 = phi_i * e0 + math.sqrt(1 - phi_i**2) * rng.standard_normal((reps, J, n))
    return math.sqrt(icc) * (c1 - c0) + math.sqrt(1 - icc) * (e1 - e0).mean(axis=2) + effect * treated


def test_did_power_and_variance_match_simulation() -> None:
    J, n, icc, phi_c, phi_i, share = 40, 10, 0.15, 0.5, 0.6, 0.4
    design = {
        "design": "did",
        "n_clusters": J,
        "cluster_size": n,
        "icc": icc,
        "share_treated": share,
        "autocorrelation_cluster": phi_c,
        "autocorrelation_individual": phi_i,
    }
    plan = ek.planning.mde(power=0.6, **design)
    treated = np.arange(J) < share * J
    rng = np.random.default_rng(20261203)
    changes = _did_draws(rng, J, n, icc, phi_c, phi_i, plan.mde, treated, REPS)
    est, reject = _rejections(changes, treated)
    mc = 4 * math.sqrt(0.6 * 0.4 / REPS)
    assert abs(reject.mean() - 0.6) < mc, (reject.mean(), plan.mde)
    assert est.var(ddof=1) == pytest.approx(plan.standard_error**2, rel=4 * math.sqrt(2 / (REPS - 1)))
    # Repeated cross-sections (phi_i = 0) and a stable cluster effect (phi_c = 1): only the individual noise remains.
    cross = ek.planning.power(plan.mde, **{**design, "autocorrelation_individual": 0.0})
    assert cross.standard_error**2 == pytest.approx(
        2 * (icc * (1 - phi_c) + (1 - icc) / n) / (share * (1 - share) * J), rel=1e-12
    )


def test_cluster_trial_power_matches_simulation() -> None:
    J, n, icc = 24, 8, 0.2
    plan = ek.planning.mde(n_clusters=J, cluster_size=n, icc=icc, power=0.7)
    treated = np.arange(J) < J // 2
    rng = np.random.default_rng(7)
    means = (
        math.sqrt(icc) * rng.standard_normal((REPS, J))
        + math.sqrt(1 - icc) * rng.standard_normal((REPS, J, n)).mean(axis=2)
        + plan.mde * treated
    )
    est, reject = _rejections(means, treated)
    assert abs(reject.mean() - 0.7) < 4 * math.sqrt(0.7 * 0.3 / REPS), reject.mean()
    assert est.var(ddof=1) == pytest.approx(plan.standard_error**2, rel=4 * math.sqrt(2 / (REPS - 1)))


def test_did_formula_is_the_estimate_evalkit_reports() -> None:
    # Property: in a balanced two-period panel, ek.DiffInDiff's estimate (unit and period effects) is the
    # treated-minus-control difference of cluster-mean changes that the planning formula's variance describes.
    # TOLERANCE: 1e-10 (same arithmetic, different order).
    J, n, share = 12, 5, 0.5
    rng = np.random.default_rng(3)
    treated = np.arange(J) < share * J
    c = rng.standard_normal((J, 2))
    e = rng.standard_normal((J, n, 2))
    y = c[:, None, :] + e + 0.3 * (treated[:, None, None] * np.array([0.0, 1.0]))
    rows = pd.DataFrame(
        {
            "y": y.reshape(-1),
            "cluster": np.repeat(np.arange(J), n * 2),
            "person": np.repeat(np.arange(J * n), 2),
            "wave": np.tile([0, 1], J * n),
        }
    )
    rows["treated"] = (treated[rows["cluster"]] & (rows["wave"] == 1)).astype(int)
    res = ek.DiffInDiff(rows, treatment="treated", unit="person", time="wave", clusters="cluster").estimate("y")
    change = (y[:, :, 1] - y[:, :, 0]).mean(axis=1)
    expected = change[treated].mean() - change[~treated].mean()
    assert res.to_frame()["estimate"].iloc[0] == pytest.approx(expected, abs=1e-10)
