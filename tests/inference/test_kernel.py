"""The one covariance kernel: the small-sample correction is applied once, and every consumer agrees with it.

Issue 8, item 3: a DiD panel with HC1 / classical errors, then ``adjust("romano_wolf" | "westfall_young")``,
studentized its bootstrap draws with a factor that ignored the absorbed unit effects (SE 0.1789 instead of the
table's 0.1963). The wild cluster bootstrap likewise reported a CR1 SE without them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import evalkit as ek
from evalkit.errors import EstimationError, InferenceError
from evalkit.inference.multiple_testing import _studentizer
from evalkit.inference.sandwich import (
    NO_CORRECTION,
    SmallSampleCorrection,
    residual_df,
    sandwich,
    small_sample_factor,
)


def _panel(seed: int = 11, n_units: int = 40, periods: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(n_units), periods)
    wave = np.tile(np.arange(periods), n_units)
    cluster = unit // 4
    treated_unit = rng.permutation(np.arange(n_units) < n_units // 2)
    d = (treated_unit[unit] & (wave >= 2)).astype(int)
    y = rng.normal(size=n_units)[unit] + 0.3 * wave + 0.5 * d + rng.normal(size=unit.size) * (1 + d)
    return pd.DataFrame({"unit": unit, "wave": wave, "cluster": cluster, "d": d, "y": y})


# ------------------------------------------------------------------------------------------- closed forms
def test_small_sample_factor_closed_forms():
    # SOURCE: closed forms (Stata/estimatr conventions), n = 100, k = 5, G = 20, 30 absorbed of which 25 nested.
    # TOLERANCE: exact up to one rounding (1e-15 relative).
    c = SmallSampleCorrection(absorbed=30, nested=25)
    assert small_sample_factor("classical", 100, 5) == pytest.approx(1 / 95, rel=1e-15)
    assert small_sample_factor("classical", 100, 5, correction=c) == pytest.approx(1 / 65, rel=1e-15)
    assert small_sample_factor("HC1", 100, 5, correction=c) == pytest.approx(100 / 65, rel=1e-15)
    assert small_sample_factor("CR1", 100, 5, 20, c) == pytest.approx(20 / 19 * 99 / 90, rel=1e-15)
    assert small_sample_factor("CR1", 100, 5, 20) == pytest.approx(20 / 19 * 99 / 95, rel=1e-15)
    for cov_type in ("HC0", "HC2", "HC3", "CR0", "CR2"):
        assert small_sample_factor(cov_type, 100, 5, 20, c) == 1.0
    assert residual_df("HC0", 100, 5, correction=c) == 65.0
    assert residual_df("CR1", 100, 5, 20, c) == 19.0
    assert np.isnan(residual_df("CR2", 100, 5, 20, c))


def test_small_sample_correction_refuses_nonsense():
    with pytest.raises(InferenceError, match="nested=3"):
        SmallSampleCorrection(absorbed=2, nested=3)
    with pytest.raises(InferenceError, match="non-negative int"):
        SmallSampleCorrection(absorbed=-1)
    with pytest.raises(EstimationError, match="no residual degrees of freedom: 10 observations for 10"):
        small_sample_factor("HC1", 10, 4, correction=SmallSampleCorrection(absorbed=6))


def test_sandwich_with_absorbed_effects_equals_dummy_regression():
    # SOURCE: statsmodels OLS with explicit unit dummies (the dummy-variable convention counts every unit effect).
    # TOLERANCE: 1e-8 relative.
    data = _panel()
    dummies = pd.get_dummies(data["unit"], prefix="u", dtype=float)
    X_full = np.column_stack([data["d"], pd.get_dummies(data["wave"], drop_first=True, dtype=float), dummies])
    ols = sm.OLS(data["y"].to_numpy(), X_full).fit()
    # the within (FWL) version: demean by unit
    Z = pd.DataFrame(X_full[:, : 1 + 3]).groupby(data["unit"]).transform(lambda c: c - c.mean()).to_numpy()
    yw = data["y"] - data.groupby("unit")["y"].transform("mean")
    coef = np.linalg.lstsq(Z, yw, rcond=None)[0]
    resid = yw.to_numpy() - Z @ coef
    absorbed = SmallSampleCorrection(absorbed=40)
    for cov_type, sm_type in (("classical", "nonrobust"), ("HC1", "HC1"), ("HC0", "HC0")):
        cov = sandwich(Z, resid, cov_type, correction=absorbed)
        ref = ols.get_robustcov_results(cov_type=sm_type) if sm_type != "nonrobust" else ols
        assert np.sqrt(cov.vcov[0, 0]) == pytest.approx(ref.bse[0], rel=1e-8)
        assert cov.df[0] == ols.df_resid  # n - k - absorbed = 160 - 4 - 40
    with pytest.raises(InferenceError, match="absorbed fixed effects"):
        sandwich(Z, resid, "HC2", correction=absorbed)


# ------------------------------------------------------------------------------------------- item 3
@pytest.mark.parametrize("cov_type", ["classical", "HC1", "CR1", "CR2"])
def test_multiple_testing_studentizes_with_the_table_standard_error(cov_type):
    # PROPERTY: the restricted wild bootstrap's identity draw (every weight +1) reproduces the observed sample, so
    # its t statistic must equal the table's statistic: same SE, same small-sample factor, same absorbed effects.
    # Before the fix, HC1 / classical on a panel gave 0.1789 vs 0.1963 (issue 8, item 3).
    # TOLERANCE: 1e-10 relative (two computations of the same quadratic form).
    did = ek.DiffInDiff(_panel(), treatment="d", unit="unit", time="wave", clusters="cluster")
    res = did.estimate(["y"], inference=cov_type)
    row = res.to_frame().iloc[0]
    of = res.fits["y"]
    assert of.cov_type == cov_type
    assert of.correction.absorbed == 40
    clusters = of.clusters if cov_type.startswith("CR") else None
    st = _studentizer(of.fit, cov_type, clusters, True, None, of.correction)
    t_identity = st.t_stats(np.ones((1, of.fit.n_obs)))[0]
    assert t_identity == pytest.approx(row["statistic"], rel=1e-10)
    # and the adjusted p-value of a single outcome is reproducible from its seed (bit-identical rerun)
    adj = res.adjust("romano_wolf", seed=5).to_frame()["p_adjusted"].iloc[0]
    assert adj == res.adjust("romano_wolf", seed=5).to_frame()["p_adjusted"].iloc[0]


def test_wild_bootstrap_reports_the_sandwich_cr1_standard_error_on_panels():
    # SOURCE: evalkit's CR1 with the same absorbed effects (fixest's nested convention, itself matched to pyfixest
    # in tests/designs/test_did.py). TOLERANCE: 1e-12 relative. Before the fix the bootstrap ignored the absorbed
    # effects.
    did = ek.DiffInDiff(_panel(), treatment="d", unit="unit", time="wave", clusters="cluster")
    cr1 = did.estimate("y", inference="CR1").to_frame().iloc[0]
    wcb = did.estimate("y", inference=ek.inference.WildClusterBootstrap(reps=99, seed=1)).to_frame().iloc[0]
    assert wcb["std_error"] == pytest.approx(cr1["std_error"], rel=1e-12)


def test_hc1_is_hc0_times_the_kernel_factor():
    # SOURCE: closed form, HC1 = HC0 * n / (n - k) (MacKinnon and White 1985), n = 6, k = 2; with one absorbed
    # parameter the factor is n / (n - k - 1). TOLERANCE: 1e-13 relative.
    X = np.column_stack([np.ones(6), np.arange(6.0)])
    e = np.array([0.5, -0.2, 0.1, -0.4, 0.3, -0.3])
    hc0 = sandwich(X, e, "HC0").vcov
    np.testing.assert_allclose(sandwich(X, e, "HC1", correction=NO_CORRECTION).vcov, hc0 * 6 / 4, rtol=1e-13)
    one = SmallSampleCorrection(absorbed=1)
    np.testing.assert_allclose(sandwich(X, e, "HC1", correction=one).vcov, hc0 * 6 / 3, rtol=1e-13)
