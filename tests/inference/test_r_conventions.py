"""Conventions R users check against (issue 8, item 6), by closed forms and brute force (no R needed).

The live-R checks of the same conventions are in ``tests/r_reference/test_against_r.py``. References here:
- Welch (1947) / Satterthwaite (1946) df of the unequal-variance two-sample t test: ``scipy.stats.ttest_ind``
  with ``equal_var=False`` (scipy 1.17), 1e-12 relative;
- the Bell-McCaffrey df of the HC2 difference in means, closed form (Imbens and Kolesar 2016, Section 4: the
  Welch formula with equal variances), 1e-12 relative;
- weighted CR2 under the identity and the inverse-variance working models: a brute-force computation that forms
  the n x n matrices (Pustejovsky and Tipton 2018, eq. 5 and the Satterthwaite df of Section 3), 1e-10 relative.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import evalkit as ek
from evalkit.errors import OptionError
from evalkit.inference.sandwich import Sandwich, bell_mccaffrey_df, sandwich


def _two_groups(seed: int = 8, n1: int = 41, n0: int = 19) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    z = np.r_[np.ones(n1), np.zeros(n0)].astype(int)
    y = np.where(z == 1, rng.normal(1.0, 0.7, z.size), rng.normal(0.0, 3.0, z.size))
    return pd.DataFrame({"y": y, "z": z, "w": rng.uniform(0.5, 2.0, z.size)})


# ----------------------------------------------------------------------------------------------------------
# 1. difference in means: Welch-Satterthwaite df (estimatr::difference_in_means), Bell-McCaffrey as an option
# ----------------------------------------------------------------------------------------------------------


def test_difference_in_means_uses_welch_df() -> None:
    d = _two_groups()
    row = ek.RandomizedTrial(d, treatment="z").estimate("y").to_frame().iloc[0]
    ref = stats.ttest_ind(d.y[d.z == 1], d.y[d.z == 0], equal_var=False)
    ci = ref.confidence_interval(0.95)
    # SOURCE: scipy.stats.ttest_ind(equal_var=False), the Welch test estimatr::difference_in_means reports
    # (its df here is ~22, not n - 2 = 58). TOLERANCE: 1e-12 relative.
    assert ref.df < 30
    np.testing.assert_allclose(row["df"], ref.df, rtol=1e-12)
    np.testing.assert_allclose(row["statistic"], ref.statistic, rtol=1e-12)
    np.testing.assert_allclose(row["p_value"], ref.pvalue, rtol=1e-10)
    np.testing.assert_allclose([row["conf_low"], row["conf_high"]], [ci.low, ci.high], rtol=1e-12)
    assert "Welch" in row["inference"]


def test_welch_df_only_where_estimatr_uses_it() -> None:
    d = _two_groups()
    n = len(d)
    # Weighted: estimatr::difference_in_means runs lm_robust(HC2), df n - 2 (estimatr 1.0 source). Exact.
    weighted = ek.RandomizedTrial(d, treatment="z", weights="w").estimate("y").to_frame().iloc[0]
    assert weighted["df"] == n - 2
    # classical: the pooled two-sample t test, scipy.stats.ttest_ind(equal_var=True) df n - 2. Exact.
    classical = ek.RandomizedTrial(d, treatment="z").estimate("y", inference="classical").to_frame().iloc[0]
    assert classical["df"] == n - 2
    np.testing.assert_allclose(
        classical["p_value"], stats.ttest_ind(d.y[d.z == 1], d.y[d.z == 0], equal_var=True).pvalue, rtol=1e-10
    )
    # ols / lin keep n - k (estimatr::lm_robust). Exact.
    ols = ek.RandomizedTrial(d, treatment="z").estimate("y", estimator="ols", covariates=["w"]).to_frame().iloc[0]
    assert ols["df"] == n - 3


def test_hc2_bell_mccaffrey_df_closed_form() -> None:
    d = _two_groups()
    n1, n0 = int(d.z.sum()), int((1 - d.z).sum())
    row = (
        ek.RandomizedTrial(d, treatment="z")
        .estimate("y", inference=Sandwich("HC2", df="bell_mccaffrey"))
        .to_frame()
        .iloc[0]
    )
    # SOURCE: Imbens and Kolesar (2016, Section 4): for the difference in means the HC2 Bell-McCaffrey df is the
    # Welch df with equal variances, (1/n1 + 1/n0)^2 / (1/(n1^2 (n1-1)) + 1/(n0^2 (n0-1))). TOLERANCE: 1e-12.
    expected = (1 / n1 + 1 / n0) ** 2 / (1 / (n1**2 * (n1 - 1)) + 1 / (n0**2 * (n0 - 1)))
    np.testing.assert_allclose(row["df"], expected, rtol=1e-12)
    assert "Bell-McCaffrey" in row["inference"]
    # ... and the standard error is still HC2 (the Neyman variance s1^2/n1 + s0^2/n0; closed form, 1e-12).
    neyman = np.sqrt(d.y[d.z == 1].var(ddof=1) / n1 + d.y[d.z == 0].var(ddof=1) / n0)
    np.testing.assert_allclose(row["std_error"], neyman, rtol=1e-12)


def test_hc2_bell_mccaffrey_df_of_a_regression_is_bell_mccaffrey_df() -> None:
    rng = np.random.default_rng(3)
    n = 30
    X = np.column_stack([np.ones(n), rng.integers(0, 2, n), rng.normal(size=n)])
    e = rng.normal(size=n)
    got = sandwich(X, e, "HC2", df_method="bell_mccaffrey")
    # SOURCE: brute force, the Satterthwaite df of c'V c with P = (I - H) diag((1 - h_ii)^-1/2) X B c (n x n).
    # TOLERANCE: 1e-10 relative.
    B = np.linalg.inv(X.T @ X)
    H = X @ B @ X.T
    for j in range(3):
        P = (np.eye(n) - H) @ np.diag((X @ B[:, j]) / np.sqrt(1 - np.diag(H)))
        PP = P.T @ P
        np.testing.assert_allclose(got.df[j], np.trace(PP) ** 2 / np.sum(PP * PP), rtol=1e-10)
    assert got.df_method == "Bell-McCaffrey"
    np.testing.assert_allclose(got.vcov, sandwich(X, e, "HC2").vcov, rtol=1e-14)


@pytest.mark.parametrize(
    "kwargs",
    [{"df": "satterthwaite"}, {"working_model": "exchangeable"}, {"cov_type": "HC1", "df": "bell_mccaffrey"}],
)
def test_new_options_are_checked(kwargs) -> None:
    # check_option names the allowed values; BM df exist only for HC2 and CR2.
    expected = "'HC2' and 'CR2'" if kwargs.get("cov_type") == "HC1" else "one of|must be"
    with pytest.raises(OptionError, match=expected):
        Sandwich(**kwargs)


# ----------------------------------------------------------------------------------------------------------
# 2. weighted CR2: identity working model by default, inverse-variance as an option
# ----------------------------------------------------------------------------------------------------------


def _weighted_clustered(seed: int = 11, G: int = 9):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(2, 7, G)
    cl = np.repeat(np.arange(G), sizes)
    n = cl.size
    X = np.column_stack([np.ones(n), np.repeat(rng.integers(0, 2, G), sizes), rng.normal(size=n)])
    w = rng.uniform(0.3, 3.0, n)
    y = X @ np.array([1.0, 0.5, -0.3]) + rng.normal(size=G)[cl] + rng.normal(size=n) * (1 + X[:, 1])
    sw = np.sqrt(w)
    b = np.linalg.lstsq(X * sw[:, None], y * sw, rcond=None)[0]
    return X, y - X @ b, w, cl


def _inv_sqrt(S, tol=1e-10):
    vals, vecs = np.linalg.eigh(S)
    return (vecs * np.where(vals > tol, 1 / np.sqrt(np.clip(vals, tol, None)), 0.0)) @ vecs.T


def _brute_cr2(X, e, w, cl, theta):
    """CR2 and BM df with working model Var(e) = diag(theta), n x n matrices formed (Pustejovsky-Tipton eq. 5)."""
    n, k = X.shape
    W = np.diag(w)
    M = np.linalg.inv(X.T @ W @ X)
    IH = np.eye(n) - X @ M @ X.T @ W
    Theta = np.diag(theta)
    S = IH @ Theta @ IH.T
    groups = [np.flatnonzero(cl == g) for g in np.unique(cl)]
    A = []
    for idx in groups:
        D = np.diag(np.sqrt(theta[idx]))  # chol(Theta_g)
        A.append(D @ _inv_sqrt(D @ S[np.ix_(idx, idx)] @ D) @ D)  # A_g S_g A_g = Theta_g
    meat = np.zeros((k, k))
    for idx, Ag in zip(groups, A, strict=True):
        u = X[idx].T @ W[np.ix_(idx, idx)] @ Ag @ e[idx]
        meat += np.outer(u, u)
    V = M @ meat @ M
    df = []
    for j in range(k):
        P = np.zeros((n, len(groups)))
        for g, (idx, Ag) in enumerate(zip(groups, A, strict=True)):
            a = np.zeros(n)
            a[idx] = Ag @ W[np.ix_(idx, idx)] @ X[idx] @ M[:, j]
            P[:, g] = np.sqrt(theta) * (IH.T @ a)
        PP = P.T @ P
        df.append(np.trace(PP) ** 2 / np.sum(PP * PP))
    return V, np.array(df)


def test_weighted_cr2_default_is_identity_working_model() -> None:
    X, e, w, cl = _weighted_clustered()
    got = sandwich(X, e, "CR2", weights=w, clusters=cl)
    V, df = _brute_cr2(X, e, w, cl, theta=np.ones(len(e)))
    # SOURCE: brute force with Theta = I (estimatr::lm_robust's and clubSandwich::vcovCR's default for a weighted
    # fit; both also checked live in tests/r_reference). TOLERANCE: 1e-10 relative.
    np.testing.assert_allclose(got.vcov, V, rtol=1e-10)
    np.testing.assert_allclose(got.df, df, rtol=1e-10)
    explicit = sandwich(X, e, "CR2", weights=w, clusters=cl, working_model="identity")
    np.testing.assert_array_equal(explicit.vcov, got.vcov)


def test_weighted_cr2_inverse_variance_is_cr2_of_the_transformed_regression() -> None:
    X, e, w, cl = _weighted_clustered()
    got = sandwich(X, e, "CR2", weights=w, clusters=cl, working_model="inverse_variance")
    sw = np.sqrt(w)
    V, df = _brute_cr2(X * sw[:, None], e * sw, np.ones(len(e)), cl, theta=np.ones(len(e)))
    # SOURCE: brute force on sqrt(w) y ~ sqrt(w) X, unweighted, Theta = I (clubSandwich on that regression is
    # checked live in tests/r_reference). TOLERANCE: 1e-10 relative.
    np.testing.assert_allclose(got.vcov, V, rtol=1e-10)
    np.testing.assert_allclose(got.df, df, rtol=1e-10)
    # It is exactly unbiased under Var(e) = diag(1/w) but is not clubSandwich's inverse_var = TRUE, which takes
    # the symmetric square root (brute force with Theta = 1/w): they differ when w varies within clusters.
    V_club, _ = _brute_cr2(X, e, w, cl, theta=1 / w)
    assert not np.allclose(np.diag(got.vcov), np.diag(V_club), rtol=1e-6)


def test_weighted_cr2_working_models_differ_and_agree_without_weights() -> None:
    X, e, w, cl = _weighted_clustered()
    ident = sandwich(X, e, "CR2", weights=w, clusters=cl)
    inv = sandwich(X, e, "CR2", weights=w, clusters=cl, working_model="inverse_variance")
    assert not np.allclose(ident.vcov, inv.vcov, rtol=1e-6)
    # Without weights (or with constant weights) both models are the identity: same numbers (1e-12).
    one = sandwich(X, e, "CR2", clusters=cl)
    for model in ("identity", "inverse_variance"):
        const = sandwich(X, e, "CR2", weights=np.full(len(e), 2.5), clusters=cl, working_model=model)
        np.testing.assert_allclose(const.vcov, one.vcov, rtol=1e-12)
        np.testing.assert_allclose(const.df, one.df, rtol=1e-12)


def test_bell_mccaffrey_df_working_model() -> None:
    X, e, w, cl = _weighted_clustered()
    c = np.array([0.0, 1.0, 0.5])
    for model, theta, Xb, wb in (
        ("identity", np.ones(len(e)), X, w),
        ("inverse_variance", np.ones(len(e)), X * np.sqrt(w)[:, None], np.ones(len(e))),
    ):
        # SOURCE: brute force as above, for the contrast c (reparametrized so that c'beta is a coefficient).
        # TOLERANCE: 1e-10 relative.
        Minv = np.eye(3)
        Minv[1] = c
        _, df = _brute_cr2(Xb @ np.linalg.inv(Minv), e, wb, cl, theta)
        got = bell_mccaffrey_df(X, c, weights=w, clusters=cl, working_model=model)
        np.testing.assert_allclose(got, df[1], rtol=1e-10)


def test_estimate_passes_the_working_model(cluster_trial: pd.DataFrame) -> None:
    d = cluster_trial.assign(w=np.linspace(0.5, 2.0, len(cluster_trial)))
    trial = ek.RandomizedTrial(d, treatment="treated", clusters="cluster", weights="w")
    default = trial.estimate("y", estimator="ols", covariates=["x"]).to_frame().iloc[0]
    inv = (
        trial.estimate(
            "y", estimator="ols", covariates=["x"], inference=Sandwich("CR2", working_model="inverse_variance")
        )
        .to_frame()
        .iloc[0]
    )
    X = np.column_stack([np.ones(len(d)), d.treated, d.x])
    sw = np.sqrt(d.w.to_numpy())
    y = d.y.to_numpy()
    e = y - X @ np.linalg.lstsq(X * sw[:, None], y * sw, rcond=None)[0]
    for row, theta, Xb, wb in (
        (default, np.ones(len(d)), X, d.w.to_numpy()),
        (inv, np.ones(len(d)), X * sw[:, None], np.ones(len(d))),
    ):
        eb = e if Xb is X else e * sw
        V, df = _brute_cr2(Xb, eb, wb, d.cluster.to_numpy(), theta)
        # SOURCE: brute force (see _brute_cr2). TOLERANCE: 1e-10 relative.
        np.testing.assert_allclose([row["std_error"], row["df"]], [np.sqrt(V[1, 1]), df[1]], rtol=1e-10)
    assert "inverse-variance" in inv["inference"]


@pytest.mark.parametrize("model", ["identity", "inverse_variance"])
def test_bootstrap_studentizer_follows_the_working_model(model: str) -> None:
    """Romano-Wolf / Westfall-Young studentize each bootstrap draw with the reported weighted CR2."""
    from evalkit.estimators import fit_least_squares
    from evalkit.inference.multiple_testing import _studentizer

    X, e, w, cl = _weighted_clustered()
    y = X @ np.array([1.0, 0.2, -0.3]) + e
    fit = fit_least_squares(y, X, ("(Intercept)", "z", "x"), 1, weights=w)
    st = _studentizer(fit, "CR2", cl, impose_null=True, unit_codes=cl, working_model=model)
    rng = np.random.default_rng(4)
    V = rng.choice([-1.0, 1.0], size=(3, st.units.size))
    got = st.t_stats(V[:, st.position])
    restricted = fit_least_squares(y, X[:, [0, 2]], ("(Intercept)", "x"), 0, weights=w)
    for b in range(3):
        y_star = X[:, [0, 2]] @ restricted.coef + V[b, st.position] * restricted.residuals
        boot = fit_least_squares(y_star, X, ("(Intercept)", "z", "x"), 1, weights=w)
        cov = sandwich(X, boot.residuals, "CR2", weights=w, clusters=cl, working_model=model)
        # SOURCE: sandwich() on an explicit refit of the bootstrap sample (null imposed, as test_multiple_testing's
        # test_bootstrap_t_equals_refit). TOLERANCE: 1e-9 relative.
        np.testing.assert_allclose(got[b], boot.coef[1] / np.sqrt(cov.vcov[1, 1]), rtol=1e-9)


def test_diff_in_diff_accepts_sandwich_settings() -> None:
    # DiffInDiff refused Sandwich objects ("not understood") before issue 8; the working model reaches its kernel.
    rng = np.random.default_rng(0)
    units, periods = 30, 4
    unit = np.repeat(np.arange(units), periods)
    time = np.tile(np.arange(periods), units)
    community = unit % 10
    treated = ((community < 5) & (time >= 2)).astype(int)
    d = pd.DataFrame(
        {
            "unit": unit,
            "time": time,
            "community": community,
            "treated": treated,
            "y": rng.normal(size=unit.size) + 0.3 * treated,
            "w": rng.uniform(0.5, 2.0, unit.size),
        }
    )
    did = ek.DiffInDiff(d, treatment="treated", unit="unit", time="time", clusters="community", weights="w")
    ident = did.estimate("y", inference="CR2")
    inv = did.estimate("y", inference=Sandwich("CR2", working_model="inverse_variance"))
    for res, model in ((ident, "identity"), (inv, "inverse_variance")):
        of = res.fits["y"]
        fit = of.fit
        e, w, X = fit.residuals, fit.weights, fit.X
        if model == "identity":
            V, df = _brute_cr2(X, e, w, of.clusters, np.ones(len(e)))
        else:
            sw = np.sqrt(w)
            V, df = _brute_cr2(X * sw[:, None], e * sw, np.ones(len(e)), of.clusters, np.ones(len(e)))
        row = res.to_frame().iloc[0]
        j = fit.target
        # SOURCE: brute force (n x n) CR2 on the design's own within-transformed fit. TOLERANCE: 1e-10 relative.
        np.testing.assert_allclose([row["std_error"], row["df"]], [np.sqrt(V[j, j]), df[j]], rtol=1e-10)
    assert ident.to_frame()["std_error"].iloc[0] != pytest.approx(inv.to_frame()["std_error"].iloc[0], rel=1e-6)


@pytest.mark.parametrize("spread", [0.0, 1e-12, 1e-9, 1e-6, 1e-3])
def test_weighted_cr2_identity_with_weights_nearly_constant_within_clusters(spread: float) -> None:
    # W_g X_g is then nearly X_g times a constant; the kernel works with the deviations w_i - mean_g(w) so that
    # the near-collinearity does not cost precision. SOURCE: brute force (n x n). TOLERANCE: 1e-10 relative.
    X, e, _, cl = _weighted_clustered()
    rng = np.random.default_rng(1)
    w = rng.uniform(0.5, 2.0, cl.max() + 1)[cl] * (1 + spread * rng.normal(size=cl.size))
    got = sandwich(X, e, "CR2", weights=w, clusters=cl)
    V, df = _brute_cr2(X, e, w, cl, np.ones(len(e)))
    np.testing.assert_allclose(np.diag(got.vcov), np.diag(V), rtol=1e-10)
    np.testing.assert_allclose(got.df, df, rtol=1e-10)


def test_weighted_cr2_identity_invariant_to_shifting_a_covariate() -> None:
    # Shifting a covariate (with an intercept in the model) is a reparametrization: the treatment coefficient's
    # CR2 variance and df cannot change (property; TOLERANCE 1e-9 relative, the bar of issue 8 item 4).
    X, e, w, cl = _weighted_clustered()
    base = sandwich(X, e, "CR2", weights=w, clusters=cl)
    for shift in (1e2, 1e4, 1e6):
        Xs = X.copy()
        Xs[:, 2] += shift
        got = sandwich(Xs, e, "CR2", weights=w, clusters=cl)
        np.testing.assert_allclose(got.vcov[1, 1], base.vcov[1, 1], rtol=1e-9)
        np.testing.assert_allclose(got.df[1], base.df[1], rtol=1e-9)
