"""Reviewer finding 5 on issue 8: the balance table's tests follow the one degenerate-SE rule and its joint test is
the one of :meth:`evalkit.inference.Sandwich.joint_test`.

Before the fix, a covariate constant within each arm (``x = 0.1 + 0.3 z``) had an SE of 7e-17, p = 0 and a
standardized difference of 7e15; the clustered joint test was a naive Wald F on (q, G - 1) df instead of the
Hotelling approximation with Bell-McCaffrey df that DiD's pre-trend test uses.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats

import evalkit as ek
from evalkit.reporting import balance_table_to


@pytest.fixture(scope="module")
def flat() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    z = np.r_[np.ones(20), np.zeros(20)].astype(int)
    return pd.DataFrame({"t": z, "x": 0.1 + 0.3 * z, "x2": rng.normal(size=40)})


@pytest.fixture(scope="module")
def clustered() -> pd.DataFrame:
    """10 clusters of 4, treatment by cluster; the data behind the clubSandwich numbers below."""
    rng = np.random.default_rng(2026)
    G, m = 10, 4
    cluster = np.repeat(np.arange(G), m)
    treated = np.isin(cluster, [0, 2, 3, 6, 9]).astype(int)
    x = rng.normal(size=G)[cluster] + rng.normal(size=G * m)
    x2 = rng.normal(size=G * m) + 0.4 * treated
    return pd.DataFrame({"cluster": cluster, "treated": treated, "x": x, "x2": x2})


def test_covariate_constant_within_arms_gives_nan_and_notes(flat: pd.DataFrame) -> None:
    bal = ek.RandomizedTrial(flat, treatment="t").balance(["x", "x2"])
    table = bal.to_frame().set_index("covariate")
    # SOURCE: closed form, the means 0.4 and 0.1 and their difference 0.3. TOLERANCE: 1e-12 relative.
    assert table.loc["x", "difference"] == pytest.approx(0.3, rel=1e-12)
    # was: std_error 6.7e-17, p_value 0.0, std_difference 7.2e15
    assert np.isnan(table.loc["x", ["std_error", "p_value", "std_difference"]].to_numpy(dtype=float)).all()
    assert any("standard error of x is zero up to rounding" in n for n in bal.notes)
    assert any("'x'" in n and "standardized difference is reported as NaN" in n for n in bal.notes)
    # the other covariate is untouched. SOURCE: statsmodels OLS x2 ~ t with HC2, n - 2 df; TOLERANCE 1e-8.
    ref = smf.ols("x2 ~ t", flat).fit(cov_type="HC2", use_t=True)
    assert table.loc["x2", "p_value"] == pytest.approx(ref.pvalues["t"], rel=1e-8)
    assert table.loc["x2", "std_error"] == pytest.approx(ref.bse["t"], rel=1e-8)
    # x predicts treatment exactly: the joint regression's SEs are zero up to rounding, so no joint p-value
    assert np.isnan(bal.joint_p_value) and any(n.startswith("Joint test: no p-value") for n in bal.notes)
    assert "Note: The standard error of x" in bal.summary()
    assert "standard error of x is zero up to rounding" in balance_table_to(bal, "markdown")


def test_std_difference_is_judged_against_the_covariate_scale(flat: pd.DataFrame) -> None:
    # The same covariate in other units gives the same verdict (the rule is relative, not absolute).
    for unit in (1e-9, 1e9):
        table = ek.RandomizedTrial(flat.assign(x=flat["x"] * unit), treatment="t").balance("x").to_frame()
        assert np.isnan(table["std_difference"].iloc[0]) and np.isnan(table["p_value"].iloc[0])
    # a genuine, tiny within-arm spread is kept. SOURCE: Imbens & Rubin (2015) eq. 14.2 computed directly;
    # TOLERANCE 1e-9 relative.
    jitter = flat["x"] + 1e-6 * np.sin(np.arange(40.0))
    table = ek.RandomizedTrial(flat.assign(x=jitter), treatment="t").balance("x").to_frame()
    t, c = jitter[flat.t == 1], jitter[flat.t == 0]
    expected = (t.mean() - c.mean()) / np.sqrt((t.var() + c.var()) / 2)
    assert table["std_difference"].iloc[0] == pytest.approx(expected, rel=1e-9)
    assert 0 <= table["p_value"].iloc[0] < 1e-10


def test_clustered_joint_test_is_hotelling_with_bell_mccaffrey_df(clustered: pd.DataFrame) -> None:
    trial = ek.RandomizedTrial(clustered, "treated", clusters="cluster")
    one = trial.balance("x")
    # SOURCE: clubSandwich 0.5.8 (R 4.2.2), lm(treated ~ x), vcovCR(type = "CR2", cluster = cluster),
    # Wald_test(constraints = constrain_zero("x"), test = "HTZ"): F = 0.145506042441287, df = (1, 4.04821648963075),
    # p = 0.72204477316961 (for one coefficient the Hotelling approximation and HTZ coincide). TOLERANCE 1e-9 rel.
    # Before the fix: F on (1, G - 1 = 9) df, p = 0.7117 (clubSandwich's "Naive-F").
    assert one.joint_statistic == pytest.approx(0.145506042441287, rel=1e-9)
    assert one.joint_df == pytest.approx((1.0, 4.04821648963075), rel=1e-9)
    assert one.joint_p_value == pytest.approx(0.72204477316961, rel=1e-9)
    two = trial.balance(["x", "x2"])
    # SOURCE: closed form of the Hotelling T2 approximation, F = W (eta - q + 1) / (eta q) on (q, eta - q + 1) df,
    # with W = b' V^-1 b = 2.85519880725694 (clubSandwich vcovCR CR2) and eta = min Satterthwaite df of x and x2
    # = min(4.0224735284557, 6.0676413026787) (clubSandwich coef_test), both from the same R run.
    # TOLERANCE 1e-9 relative.
    W, eta, q = 2.85519880725694, 4.0224735284557, 2
    F = W * (eta - q + 1) / (eta * q)
    assert two.joint_statistic == pytest.approx(F, rel=1e-9)
    assert two.joint_df == pytest.approx((2.0, eta - q + 1), rel=1e-9)
    assert two.joint_p_value == pytest.approx(stats.f.sf(F, q, eta - q + 1), rel=1e-9)
    assert two.joint_method.startswith("Hotelling")


def test_attrition_difference_with_zero_se_is_nan_with_note(flat: pd.DataFrame) -> None:
    # Every treated outcome missing and none of the controls: the attrition difference is 1 with no variance.
    data = flat.assign(y=np.where(flat["t"] == 1, np.nan, 1.0))
    table = ek.RandomizedTrial(data, treatment="t").attrition("y")
    row = table.to_frame().iloc[0]
    # SOURCE: closed form, rates 1 and 0. TOLERANCE 1e-12 relative (the regression gives 1 + 2e-16).
    assert row["difference"] == pytest.approx(1.0, rel=1e-12)
    assert np.isnan(row["std_error"]) and np.isnan(row["p_value"])  # was an SE of rounding size and p = 0
    assert any("zero up to rounding" in n for n in table.notes)
