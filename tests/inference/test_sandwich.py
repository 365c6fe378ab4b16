"""Tests for evalkit.inference.sandwich.

Each expected value names its source and tolerance. References:
- statsmodels 0.15 OLS/WLS ``cov_type`` "HC0".."HC3" and "cluster" (reference implementation, 1e-8);
- pyfixest 0.60 ``feols`` ``vcov={"CRV1": ...}`` / "HC2" (reference implementation, 1e-8);
- closed forms: Neyman variance; the Welch-type df of the HC2 two-sample t test (Imbens and Kolesar 2016,
  Section 4); the intercept-only CR0/CR2 variance and CR2 df formulas in clubSandwich's test suite
  (jepusto/clubSandwich, tests/testthat/test_intercept_formulas.R);
- a brute-force CR2 / Bell-McCaffrey implementation that forms the n x n matrices directly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st

from evalkit.errors import EstimationError, InferenceError, OptionError
from evalkit.inference.sandwich import (
    CovarianceEstimate,
    Sandwich,
    bell_mccaffrey_df,
    sandwich,
)

# ----------------------------------------------------------------------------------------------------------
# fixtures
# ----------------------------------------------------------------------------------------------------------


def _design(seed: int = 0, n: int = 60, n_clusters: int = 12):
    rng = np.random.default_rng(seed)
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 2)), rng.integers(0, 2, n)])
    cl = rng.integers(0, n_clusters, n)
    y = X @ np.array([1.0, 2.0, -1.0, 0.5]) + rng.normal(size=n) * (1 + X[:, 3]) + rng.normal(size=n_clusters)[cl]
    w = rng.uniform(0.5, 3.0, n)
    return X, y, cl, w


def _ols_resid(X, y, w=None):
    sw = np.ones(len(y)) if w is None else np.sqrt(w)
    b = np.linalg.lstsq(X * sw[:, None], y * sw, rcond=None)[0]
    return y - X @ b


# ----------------------------------------------------------------------------------------------------------
# brute force: form the n x n matrices directly (a genuinely different computation from the k x k one)
# ----------------------------------------------------------------------------------------------------------


def _inv_sqrt_psd(M, tol=1e-10):
    vals, vecs = np.linalg.eigh(M)
    d = np.where(vals > tol, 1.0 / np.sqrt(np.clip(vals, tol, None)), 0.0)
    return (vecs * d) @ vecs.T


def _brute_cr2(X, e, clusters, w=None):
    """CR2 vcov and BM df per coefficient, with H (n x n), A_g (n_g x n_g) and P (n x G) formed explicitly."""
    sw = np.ones(len(e)) if w is None else np.sqrt(w)
    Xt, et = X * sw[:, None], e * sw
    n, k = Xt.shape
    B = np.linalg.inv(Xt.T @ Xt)
    H = Xt @ B @ Xt.T
    IH = np.eye(n) - H
    groups = [np.flatnonzero(clusters == g) for g in pd.unique(clusters)]
    A = [_inv_sqrt_psd(IH[np.ix_(idx, idx)]) for idx in groups]
    meat = np.zeros((k, k))
    for idx, Ag in zip(groups, A, strict=True):
        u = Xt[idx].T @ Ag @ et[idx]
        meat += np.outer(u, u)
    V = B @ meat @ B
    df = np.empty(k)
    for j in range(k):
        c = np.eye(k)[j]
        P = np.zeros((n, len(groups)))
        for g, (idx, Ag) in enumerate(zip(groups, A, strict=True)):
            a = Ag @ Xt[idx] @ B @ c
            P[:, g] = IH[:, idx] @ a  # (I - H)'_{.g} a_g, I - H symmetric
        PtP = P.T @ P
        df[j] = np.trace(PtP) ** 2 / np.trace(PtP @ PtP)
    return V, df


# ----------------------------------------------------------------------------------------------------------
# HC0-HC3 and classical against statsmodels
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cov_type", ["HC0", "HC1", "HC2", "HC3"])
def test_hc_matches_statsmodels_ols(cov_type):
    X, y, _, _ = _design(1)
    fit = sm.OLS(y, X).fit(cov_type=cov_type)
    res = sandwich(X, fit.resid, cov_type)
    # statsmodels OLS(...).fit(cov_type=...): tolerance 1e-8 (absolute and relative)
    np.testing.assert_allclose(res.vcov, fit.cov_params(), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(res.std_errors, fit.bse, rtol=1e-8)
    np.testing.assert_array_equal(res.df, np.full(4, 60 - 4.0))
    assert res.df_method == "n - k" and res.n_clusters is None and res.n_obs == 60


@pytest.mark.parametrize("cov_type", ["HC0", "HC1", "HC2", "HC3"])
def test_hc_matches_statsmodels_wls(cov_type):
    X, y, _, w = _design(2)
    fit = sm.WLS(y, X, weights=w).fit(cov_type=cov_type)
    res = sandwich(X, fit.resid, cov_type, weights=w)  # fit.resid are the unweighted residuals y - Xb
    # statsmodels WLS(weights=w).fit(cov_type=...): tolerance 1e-8
    np.testing.assert_allclose(res.vcov, fit.cov_params(), rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
def test_classical_matches_statsmodels(weighted):
    X, y, _, w = _design(3)
    fit = (sm.WLS(y, X, weights=w) if weighted else sm.OLS(y, X)).fit()
    res = sandwich(X, fit.resid, "classical", weights=w if weighted else None)
    # statsmodels nonrobust cov_params(): tolerance 1e-8
    np.testing.assert_allclose(res.vcov, fit.cov_params(), rtol=1e-8)


def test_hc2_two_sample_equals_neyman_variance():
    rng = np.random.default_rng(4)
    z = np.r_[np.ones(7), np.zeros(11)]
    y = rng.normal(size=18) + 2 * z * rng.uniform(1, 3, 18)
    X = np.column_stack([np.ones(18), z])
    res = sandwich(X, _ols_resid(X, y), "HC2")
    y1, y0 = y[z == 1], y[z == 0]
    neyman = y1.var(ddof=1) / y1.size + y0.var(ddof=1) / y0.size
    # Neyman variance s1^2/n1 + s0^2/n0 (exact identity for HC2): tolerance 1e-12 relative
    np.testing.assert_allclose(res.vcov[1, 1], neyman, rtol=1e-12)


# ----------------------------------------------------------------------------------------------------------
# CR0 / CR1 against statsmodels and pyfixest
# ----------------------------------------------------------------------------------------------------------


def test_cr1_matches_statsmodels_cluster():
    X, y, cl, _ = _design(5)
    fit = sm.OLS(y, X).fit(cov_type="cluster", cov_kwds={"groups": cl})
    res = sandwich(X, fit.resid, "CR1", clusters=cl)
    # statsmodels cov_type="cluster" (default G/(G-1) (n-1)/(n-k)): tolerance 1e-8
    np.testing.assert_allclose(res.vcov, fit.cov_params(), rtol=1e-8, atol=1e-12)
    assert res.n_clusters == 12 and res.df_method == "G - 1"
    np.testing.assert_array_equal(res.df, np.full(4, 11.0))


def test_cr0_matches_statsmodels_cluster_without_correction():
    X, y, cl, _ = _design(6)
    fit = sm.OLS(y, X).fit(cov_type="cluster", cov_kwds={"groups": cl, "use_correction": False})
    res = sandwich(X, fit.resid, "CR0", clusters=cl)
    # statsmodels cov_type="cluster", use_correction=False: tolerance 1e-8
    np.testing.assert_allclose(res.vcov, fit.cov_params(), rtol=1e-8, atol=1e-12)


def test_cr1_weighted_matches_statsmodels_wls_cluster():
    X, y, cl, w = _design(7)
    fit = sm.WLS(y, X, weights=w).fit(cov_type="cluster", cov_kwds={"groups": cl})
    res = sandwich(X, fit.resid, "CR1", weights=w, clusters=cl)
    # statsmodels WLS cov_type="cluster": tolerance 1e-8
    np.testing.assert_allclose(res.vcov, fit.cov_params(), rtol=1e-8, atol=1e-12)


def test_cluster_labels_may_be_any_hashable():
    X, y, cl, _ = _design(8)
    e = _ols_resid(X, y)
    as_str = np.array([f"village-{c}" for c in cl], dtype=object)
    a = sandwich(X, e, "CR2", clusters=cl)
    b = sandwich(X, e, "CR2", clusters=as_str)
    np.testing.assert_allclose(a.vcov, b.vcov, rtol=1e-13)
    np.testing.assert_allclose(a.df, b.df, rtol=1e-13)


@pytest.fixture
def pf():
    """pyfixest, the reference for CRV1 conventions; its tests skip (only they) when it is not installed."""
    return pytest.importorskip("pyfixest")


def _pyfixest_frame(seed=9, n=80):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n), "cl": rng.integers(0, 10, n)})
    df["fe"] = df["cl"] // 2  # fixed effect nested in clusters
    df["y"] = df["x1"] + rng.normal(size=n) + 0.3 * df["cl"]
    return df


@pytest.mark.filterwarnings("ignore")
def test_cr1_matches_pyfixest_crv1_without_fixed_effects(pf):
    df = _pyfixest_frame()
    fit = pf.feols("y ~ x1 + x2", data=df, vcov={"CRV1": "cl"})
    X = np.column_stack([np.ones(len(df)), df["x1"], df["x2"]])
    res = sandwich(X, fit.resid(), "CR1", clusters=df["cl"].to_numpy())
    # pyfixest feols vcov={"CRV1": "cl"}, default ssc: same G/(G-1) (n-1)/(n-k) as Stata; tolerance 1e-8
    np.testing.assert_allclose(res.std_errors, fit.se().to_numpy(), rtol=1e-8)
    assert fit._df_t == 9  # pyfixest's t df for CRV1 is G - 1, as ours
    np.testing.assert_array_equal(res.df, 9.0)


@pytest.mark.filterwarnings("ignore")
def test_cr1_with_absorbed_fixed_effects_pyfixest_conventions(pf):
    """Our k counts every column of X, dummies included; pyfixest's ssc decides whether absorbed fixed
    effects count. Default ssc (k_fixef="nonnested") agrees here; k_fixef="none" drops the dummies from k,
    which scales the vcov by (n - k_full)/(n - k_slopes)."""
    df = _pyfixest_frame()
    n = len(df)
    dummies = pd.get_dummies(df["fe"]).to_numpy(dtype=float)
    X = np.column_stack([df["x1"], df["x2"], dummies])
    e = _ols_resid(X, df["y"].to_numpy())
    ours = sandwich(X, e, "CR1", clusters=df["cl"].to_numpy()).vcov[:2, :2]
    default = pf.feols("y ~ x1 + x2 | fe", data=df, vcov={"CRV1": "cl"})
    # pyfixest default ssc with absorbed fe: tolerance 1e-8
    np.testing.assert_allclose(np.sqrt(np.diag(ours)), default.se().to_numpy(), rtol=1e-8)
    none = pf.feols("y ~ x1 + x2 | fe", data=df, vcov={"CRV1": "cl"}, ssc=pf.ssc(k_fixef="none"))
    k_full, k_slopes = X.shape[1], 2
    # k_fixef="none": ratio (n - k_full)/(n - k_slopes) exactly; tolerance 1e-8
    np.testing.assert_allclose(none.se().to_numpy(), np.sqrt(np.diag(ours) * (n - k_full) / (n - k_slopes)), rtol=1e-8)


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("cov_type", ["HC2", "HC3"])
def test_hc2_hc3_vs_pyfixest(pf, cov_type):
    """pyfixest multiplies HC2/HC3 by its ssc factor n/(n-k) by default; without it they agree."""
    df = _pyfixest_frame()
    n, k = len(df), 3
    X = np.column_stack([np.ones(n), df["x1"], df["x2"]])
    raw = pf.feols("y ~ x1 + x2", data=df, vcov=cov_type, ssc=pf.ssc(k_adj=False, G_adj=False))
    ours = sandwich(X, raw.resid(), cov_type).vcov
    # pyfixest with ssc(k_adj=False, G_adj=False): tolerance 1e-8
    np.testing.assert_allclose(np.sqrt(np.diag(ours)), raw.se().to_numpy(), rtol=1e-8)
    default = pf.feols("y ~ x1 + x2", data=df, vcov=cov_type)
    # pyfixest default ssc: ours times n/(n-k); tolerance 1e-8
    np.testing.assert_allclose(default.se().to_numpy(), np.sqrt(np.diag(ours) * n / (n - k)), rtol=1e-8)


# ----------------------------------------------------------------------------------------------------------
# CR2 and Bell-McCaffrey df
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("weighted", [False, True])
def test_cr2_with_singleton_clusters_equals_hc2(weighted):
    X, y, _, w = _design(10)
    w = w if weighted else None
    e = _ols_resid(X, y, w)
    # Weighted HC2 uses the leverages of sqrt(w) X: it is CR2 with singleton clusters under the inverse-variance
    # working model (the identity model, weighted CR2's default since issue 8, is another estimator).
    model = "inverse_variance"
    cr2 = sandwich(X, e, "CR2", weights=w, clusters=np.arange(len(y)), working_model=model)
    hc2 = sandwich(X, e, "HC2", weights=w)
    # identity CR2 = HC2 when every cluster is one observation: tolerance 1e-10 relative
    np.testing.assert_allclose(cr2.vcov, hc2.vcov, rtol=1e-10, atol=1e-14)
    for j in range(X.shape[1]):
        # bell_mccaffrey_df with clusters=None is the singleton-cluster df: tolerance 1e-10
        bm = bell_mccaffrey_df(X, np.eye(4)[j], weights=w, working_model=model)
        np.testing.assert_allclose(cr2.df[j], bm, rtol=1e-10)


@pytest.mark.parametrize(("n1", "n0"), [(7, 11), (3, 25), (20, 20)])
def test_bm_df_two_sample_closed_form(n1, n0):
    """Imbens and Kolesar (2016, Sec. 4): for y ~ 1 + z the HC2 variance is s1^2/n1 + s0^2/n0, a sum of
    independent scaled chi^2(n_a - 1) under Omega = sigma^2 I, so matching two moments gives
    df = (1/n1 + 1/n0)^2 / (1/(n1^2 (n1-1)) + 1/(n0^2 (n0-1)))."""
    z = np.r_[np.ones(n1), np.zeros(n0)]
    X = np.column_stack([np.ones(n1 + n0), z])
    expected = (1 / n1 + 1 / n0) ** 2 / (1 / (n1**2 * (n1 - 1)) + 1 / (n0**2 * (n0 - 1)))
    # closed form: tolerance 1e-10 relative
    np.testing.assert_allclose(bell_mccaffrey_df(X, [0.0, 1.0]), expected, rtol=1e-10)
    y = np.random.default_rng(n1).normal(size=n1 + n0)
    res = sandwich(X, _ols_resid(X, y), "CR2", clusters=np.arange(n1 + n0))
    np.testing.assert_allclose(res.df[1], expected, rtol=1e-10)


def test_cr2_intercept_only_matches_clubsandwich_closed_forms():
    """Closed forms from clubSandwich's tests/testthat/test_intercept_formulas.R (Pustejovsky): for y ~ 1
    with clusters of sizes n_j, N = sum n_j,
    V_CR0 = sum n_j^2 (ybar_j - ybar)^2 / N^2, V_CR2 = sum n_j^2 (ybar_j - ybar)^2 / (1 - n_j/N) / N^2,
    df_CR2 = N^2 / (N^2 sum n_j^2/(N-n_j)^2 - 2N sum n_j^3/(N-n_j)^2 + (sum n_j^2/(N-n_j))^2)."""
    rng = np.random.default_rng(20190513)
    nj = 1 + rng.negative_binomial(2, 2 / 7, size=14)  # as in the R test: 1 + rnbinom(m, size=2, mu=5)
    group = np.repeat(np.arange(14), nj)
    N = nj.sum()
    y = rng.normal(scale=np.sqrt(0.2), size=14)[group] + rng.normal(scale=np.sqrt(0.8), size=N)
    X = np.ones((N, 1))
    e = y - y.mean()
    ybar = np.bincount(group, weights=y) / nj
    v_cr0 = np.sum(nj**2 * (ybar - y.mean()) ** 2) / N**2
    v_cr2 = np.sum(nj**2 * (ybar - y.mean()) ** 2 / (1 - nj / N)) / N**2
    df_cr2 = N**2 / (
        N**2 * np.sum(nj**2 / (N - nj) ** 2) - 2 * N * np.sum(nj**3 / (N - nj) ** 2) + np.sum(nj**2 / (N - nj)) ** 2
    )
    # closed forms: tolerance 1e-10 relative
    np.testing.assert_allclose(sandwich(X, e, "CR0", clusters=group).vcov[0, 0], v_cr0, rtol=1e-10)
    cr2 = sandwich(X, e, "CR2", clusters=group)
    np.testing.assert_allclose(cr2.vcov[0, 0], v_cr2, rtol=1e-10)
    np.testing.assert_allclose(cr2.df[0], df_cr2, rtol=1e-10)
    # clubSandwich's CR1 is m/(m-1) CR0; ours (Stata) also has (N-1)/(N-k) = 1 here since k = 1
    np.testing.assert_allclose(sandwich(X, e, "CR1", clusters=group).vcov[0, 0], 14 / 13 * v_cr0, rtol=1e-10)


@pytest.mark.parametrize("weighted", [False, True])
def test_cr2_matches_brute_force(weighted):
    X, y, cl, w = _design(11, n=48, n_clusters=9)
    w = w if weighted else None
    e = _ols_resid(X, y, w)
    # _brute_cr2 works on sqrt(w) X: the inverse-variance working model (weighted CR2's default is the identity
    # since issue 8; that one is checked in tests/inference/test_r_conventions.py and against R).
    res = sandwich(X, e, "CR2", weights=w, clusters=cl, working_model="inverse_variance")
    V, df = _brute_cr2(X, e, cl, w)
    # brute force with n x n matrices: tolerance 1e-9 relative
    np.testing.assert_allclose(res.vcov, V, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(res.df, df, rtol=1e-9)
    assert res.df_method == "Bell-McCaffrey" and res.n_clusters == 9


def test_cr2_singular_blocks_with_cluster_fixed_effects_matches_brute_force():
    """With cluster dummies in X, I - H_gg is singular (the cluster mean is fitted exactly); CR2 then uses
    the generalized inverse square root, as clubSandwich and estimatr do."""
    rng = np.random.default_rng(12)
    G, m = 6, 5
    cl = np.repeat(np.arange(G), m)
    D = (cl[:, None] == np.arange(G)).astype(float)
    x = rng.normal(size=G * m)
    X = np.column_stack([x, D])
    y = x + rng.normal(size=G)[cl] + rng.normal(size=G * m)
    e = _ols_resid(X, y)
    res = sandwich(X, e, "CR2", clusters=cl)
    V, df = _brute_cr2(X, e, cl)
    # brute force: tolerance 1e-9 relative
    np.testing.assert_allclose(res.vcov[0, 0], V[0, 0], rtol=1e-9)
    np.testing.assert_allclose(res.df[0], df[0], rtol=1e-9)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), n_clusters=st.integers(2, 8), weighted=st.booleans())
def test_cr2_matches_brute_force_property(seed, n_clusters, weighted):
    rng = np.random.default_rng(seed)
    n = 4 * n_clusters + 3
    cl = rng.integers(0, n_clusters, n)
    cl[:n_clusters] = np.arange(n_clusters)  # every cluster present
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.integers(0, 2, n)])
    if np.linalg.matrix_rank(X) < 3:
        return
    w = rng.uniform(0.2, 5, n) if weighted else None
    e = _ols_resid(X, rng.standard_t(3, size=n), w)
    res = sandwich(X, e, "CR2", weights=w, clusters=cl, working_model="inverse_variance")  # as _brute_cr2
    V, df = _brute_cr2(X, e, cl, w)
    np.testing.assert_allclose(res.vcov, V, rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(res.df, df, rtol=1e-7)


def test_cr2_vcov_is_equivariant_to_reparametrization():
    """Property: with X -> X T the coefficients become T^{-1} b, so V -> T^{-1} V T^{-T}; df of e_j become
    the df of the contrast given by row j of T^{-1}, checked through bell_mccaffrey_df."""
    X, y, cl, _ = _design(13)
    T = np.array([[1.0, 0.5, 0, 0], [0, 2.0, 0, 0], [0, 0, 1.0, -1.0], [0, 0, 0, 3.0]])
    e = _ols_resid(X, y)
    a = sandwich(X, e, "CR2", clusters=cl)
    b = sandwich(X @ T, e, "CR2", clusters=cl)
    Ti = np.linalg.inv(T)
    np.testing.assert_allclose(b.vcov, Ti @ a.vcov @ Ti.T, rtol=1e-9, atol=1e-13)
    for j in range(4):
        # coefficient j in the new parametrization is the contrast Ti[j] of the old coefficients
        np.testing.assert_allclose(b.df[j], bell_mccaffrey_df(X, Ti[j], clusters=cl), rtol=1e-9)


def test_df_for_limits_the_bm_computation():
    X, y, cl, _ = _design(14)
    e = _ols_resid(X, y)
    full = sandwich(X, e, "CR2", clusters=cl)
    part = sandwich(X, e, "CR2", clusters=cl, df_for=[3])
    np.testing.assert_array_equal(np.isnan(part.df), [True, True, True, False])
    np.testing.assert_allclose(part.df[3], full.df[3], rtol=1e-13)
    np.testing.assert_allclose(part.vcov, full.vcov, rtol=1e-13)
    with pytest.raises(InferenceError, match="df_for"):
        sandwich(X, e, "CR2", clusters=cl, df_for=[4])


def test_cr2_large_design_is_cheap():
    """n = 50,000, G = 200: the k x k formulation never forms n x n or G x G matrices."""
    rng = np.random.default_rng(15)
    n, G = 50_000, 200
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 3))])
    res = sandwich(X, rng.normal(size=n), "CR2", clusters=rng.integers(0, G, n))
    assert res.n_clusters == G
    assert np.all((res.df > 150) & (res.df < G))  # near G - 1 for a balanced design


# ----------------------------------------------------------------------------------------------------------
# settings object and errors
# ----------------------------------------------------------------------------------------------------------


def test_sandwich_settings():
    assert Sandwich().name == "HC2"
    s = Sandwich("CR2")
    assert s.name == "CR2" and s.clustered
    with pytest.raises(OptionError, match=r"'HC2'.*'CR2'"):
        Sandwich("HC5")  # type: ignore[arg-type]


def test_bad_cov_type_lists_allowed_values():
    X, y, _, _ = _design(16)
    with pytest.raises(OptionError) as info:
        sandwich(X, y, "robust")  # type: ignore[arg-type]
    msg = str(info.value)
    assert "cov_type='robust'" in msg
    for allowed in ("classical", "HC0", "HC1", "HC2", "HC3", "CR0", "CR1", "CR2"):
        assert repr(allowed) in msg


def test_one_cluster_is_refused():
    X, y, _, _ = _design(17)
    with pytest.raises(InferenceError, match=r"at least 2 clusters; found 1 \('c1'\)"):
        sandwich(X, _ols_resid(X, y), "CR2", clusters=np.repeat("c1", len(y)))


def test_leverage_one_is_refused_for_hc2_hc3():
    rng = np.random.default_rng(18)
    n = 20
    single = np.zeros(n)
    single[5] = 1.0  # an arm with a single unit: h_55 = 1
    X = np.column_stack([np.ones(n), rng.normal(size=n), single])
    e = _ols_resid(X, rng.normal(size=n))
    for cov_type in ("HC2", "HC3"):
        with pytest.raises(InferenceError, match=r"observation\(s\) 5 have leverage h_ii = 1.*single unit"):
            sandwich(X, e, cov_type)
    sandwich(X, e, "HC1")  # HC1 is still defined


def test_missing_values_are_refused():
    X, y, cl, w = _design(19)
    e = _ols_resid(X, y)
    Xn = X.copy()
    Xn[3, 1] = np.nan
    with pytest.raises(InferenceError, match=r"X contains missing.*rows 3"):
        sandwich(Xn, e, "HC2")
    en = e.copy()
    en[7] = np.nan
    with pytest.raises(InferenceError, match=r"residuals contains missing.*rows 7"):
        sandwich(X, en, "HC2")
    wn = w.copy()
    wn[0] = np.nan
    with pytest.raises(InferenceError, match="weights contains missing"):
        sandwich(X, e, "HC2", weights=wn)
    cln = cl.astype(float)
    cln[2] = np.nan
    with pytest.raises(InferenceError, match="clusters contains missing labels"):
        sandwich(X, e, "CR1", clusters=cln)


def test_other_input_errors():
    X, y, cl, w = _design(20)
    e = _ols_resid(X, y)
    with pytest.raises(EstimationError, match=r"collinear.*columns 1, 2"):
        sandwich(np.column_stack([X[:, :2], 2 * X[:, 1]]), e, "HC2")
    with pytest.raises(InferenceError, match="needs cluster labels"):
        sandwich(X, e, "CR2")
    with pytest.raises(InferenceError, match="ignores them"):
        sandwich(X, e, "HC2", clusters=cl)
    with pytest.raises(InferenceError, match="weights must be positive"):
        sandwich(X, e, "HC2", weights=np.r_[0.0, w[1:]])
    with pytest.raises(InferenceError, match="residuals has 59 values"):
        sandwich(X, e[1:], "HC2")
    assert isinstance(sandwich(X, e, "HC2"), CovarianceEstimate)
