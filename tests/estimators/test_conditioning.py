"""Ill-conditioned designs (issue 8, item 4): location and units of a covariate change nothing; near-collinear
designs are refused with their condition number.

Invariance is checked against the unshifted fit, which is itself checked against statsmodels 0.15 OLS / WLS
(``cov_type`` "HC0".."HC3", "cluster" with and without the small-sample correction) and, for CR2 (which statsmodels
does not offer), against a brute-force implementation that forms the n x n matrices of Bell and McCaffrey (2002).

Covariates are drawn on a grid of 2**-10, so that ``x + 1e10`` is exactly representable (its spacing is 2**-19):
with arbitrary doubles the shifted data themselves differ from ``x`` by up to 1e-6 and no algorithm could give the
same numbers to 1e-9.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import evalkit as ek
from evalkit._linear_algebra import CONDITION_LIMIT, condition_design
from evalkit.errors import EstimationError
from evalkit.inference.sandwich import bell_mccaffrey_df, sandwich

SHIFTS = (1e4, 1e7, 1e8, 1e10)
SCALES = (1e-6, 1e6)
COV_TYPES = ("HC0", "HC1", "HC2", "HC3", "CR0", "CR1", "CR2")
INVARIANCE_TOL = 1e-9  # the bar: relative change of estimate, SE and df


def _grid(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.round(rng.normal(size=n) * 1024) / 1024


def _trial_data(seed: int = 11) -> pd.DataFrame:
    """60 units in 12 clusters of 5, treatment by cluster (6 of 12), two covariates on a 2**-10 grid, weights."""
    rng = np.random.default_rng(seed)
    cl = np.repeat(np.arange(12), 5)
    z = rng.permutation(np.r_[np.ones(6), np.zeros(6)])[cl]
    x, x2 = _grid(rng, 60), _grid(rng, 60)
    y = 1.0 + 0.8 * z + 0.7 * x - 0.4 * x2 + 0.5 * z * x + rng.normal(size=60) * (1 + 0.5 * z)
    w = rng.uniform(0.5, 2.0, 60)
    return pd.DataFrame({"y": y, "z": z, "x": x, "x2": x2, "cl": cl, "w": w})


def _row(data: pd.DataFrame, estimator: str, cov_type: str, weights: str | None = None) -> np.ndarray:
    trial = ek.RandomizedTrial(data, treatment="z", clusters="cl", weights=weights)
    res = trial.estimate("y", estimator=estimator, covariates=["x", "x2"], inference=cov_type)
    return res.to_frame()[["estimate", "std_error", "df"]].to_numpy(dtype=float)[0]


def _relative(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a - b) / np.abs(b)


# ------------------------------------------------------------------------------------------------ references
def _design_matrix(data: pd.DataFrame, estimator: str, w: np.ndarray | None = None) -> np.ndarray:
    z = data.z.to_numpy()
    W = data[["x", "x2"]].to_numpy()
    if estimator == "ols":
        return np.column_stack([np.ones(len(z)), z, W])
    wt = np.ones(len(z)) if w is None else w
    Wc = W - (wt @ W) / wt.sum()
    return np.column_stack([np.ones(len(z)), z, Wc, z[:, None] * Wc])


def _inv_sqrt(M: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh(M)
    return (vecs / np.sqrt(vals)) @ vecs.T


def _brute_cr2(X: np.ndarray, y: np.ndarray, cl: np.ndarray, j: int) -> tuple[float, float]:
    """CR2 SE and Bell-McCaffrey df of coefficient j from the n x n matrices (OLS, working model I)."""
    B = np.linalg.inv(X.T @ X)
    H = X @ B @ X.T
    M = np.eye(len(y)) - H
    e = M @ y
    meat = np.zeros_like(B)
    P = []
    for g in np.unique(cl):
        idx = np.flatnonzero(cl == g)
        A = _inv_sqrt(np.eye(idx.size) - H[np.ix_(idx, idx)])
        s = X[idx].T @ A @ e[idx]
        meat += np.outer(s, s)
        P.append(M[:, idx] @ A @ X[idx] @ B[:, j])
    P = np.column_stack(P)
    PP = P.T @ P
    return float(np.sqrt((B @ meat @ B)[j, j])), float(np.trace(PP) ** 2 / np.trace(PP @ PP))


@pytest.mark.parametrize("estimator", ["ols", "lin"])
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_unshifted_fit_matches_references(estimator: str, cov_type: str) -> None:
    # SOURCE: statsmodels OLS(...).fit(cov_type="HC0".."HC3") and cov_type="cluster" (use_correction False: CR0,
    # True: CR1 = G/(G-1) (n-1)/(n-k)); df n - k and G - 1 (closed forms); CR2 SE and Bell-McCaffrey df from
    # the brute-force n x n computation above. TOLERANCE: 1e-8 relative.
    data = _trial_data()
    X = _design_matrix(data, estimator)
    y = data.y.to_numpy()
    n, k = X.shape
    got = _row(data, estimator, cov_type)
    ref_fit = sm.OLS(y, X).fit()
    if cov_type.startswith("HC"):
        se, df = ref_fit.get_robustcov_results(cov_type=cov_type).bse[1], n - k
    elif cov_type in ("CR0", "CR1"):
        rob = ref_fit.get_robustcov_results(
            cov_type="cluster", groups=data.cl.to_numpy(), use_correction=cov_type == "CR1"
        )
        se, df = rob.bse[1], 12 - 1
    else:
        se, df = _brute_cr2(X, y, data.cl.to_numpy(), 1)
    np.testing.assert_allclose(got, [ref_fit.params[1], se, df], rtol=1e-8)


def test_weighted_unshifted_fit_matches_statsmodels_wls() -> None:
    # SOURCE: statsmodels WLS(y, X, weights=w).fit(cov_type="HC2"); df n - k. TOLERANCE: 1e-8 relative.
    data = _trial_data()
    w = data.w.to_numpy()
    for estimator in ("ols", "lin"):
        X = _design_matrix(data, estimator, w)
        ref = sm.WLS(data.y.to_numpy(), X, weights=w).fit(cov_type="HC2")
        got = _row(data, estimator, "HC2", weights="w")
        np.testing.assert_allclose(got, [ref.params[1], ref.bse[1], X.shape[0] - X.shape[1]], rtol=1e-8)


# ------------------------------------------------------------------------------------------------ invariance
@pytest.mark.parametrize("estimator", ["ols", "lin"])
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_trial_shift_and_scale_of_a_covariate_change_nothing(estimator: str, cov_type: str) -> None:
    # SOURCE: property of least squares with an intercept (x -> a x + b is a reparametrisation of the column space;
    # Lin's estimator centres covariates, so its estimate does not depend on their location either).
    # REFERENCE: the unshifted fit (checked against statsmodels / brute force above). TOLERANCE: 1e-9 relative.
    data = _trial_data()
    ref = _row(data, estimator, cov_type)
    for shift in SHIFTS:
        got = _row(data.assign(x=data.x + shift), estimator, cov_type)
        assert _relative(got, ref).max() <= INVARIANCE_TOL, (shift, got, ref)
    for scale in SCALES:
        got = _row(data.assign(x=data.x * scale), estimator, cov_type)
        assert _relative(got, ref).max() <= INVARIANCE_TOL, (scale, got, ref)


@pytest.mark.parametrize("cov_type", ["HC2", "CR2"])
def test_weighted_trial_shift_and_scale_change_nothing(cov_type: str) -> None:
    # SOURCE: the same property for WLS: centring at the weighted mean is a reparametrisation.
    # REFERENCE: the unshifted weighted fit (checked against statsmodels WLS above). TOLERANCE: 1e-9 relative.
    data = _trial_data()
    for estimator in ("ols", "lin"):
        ref = _row(data, estimator, cov_type, weights="w")
        for transformed in [data.x + s for s in SHIFTS] + [data.x * s for s in SCALES]:
            got = _row(data.assign(x=transformed), estimator, cov_type, weights="w")
            assert _relative(got, ref).max() <= INVARIANCE_TOL, (estimator, got, ref)


def _panel(seed: int = 3) -> pd.DataFrame:
    """16 units x 5 periods, half treated from period 2 on, a time-varying covariate on a 2**-10 grid."""
    rng = np.random.default_rng(seed)
    U, T = 16, 5
    unit, time = np.repeat(np.arange(U), T), np.tile(np.arange(T), U)
    d = (unit < 8).astype(int) * (time >= 2)
    x = _grid(rng, U * T)
    y = 0.5 * unit / U + 0.2 * time + 2.0 * d + 0.6 * x + rng.normal(size=U * T)
    return pd.DataFrame({"y": y, "d": d, "g": (unit < 8).astype(int), "post": (time >= 2).astype(int), "unit": unit,
                         "time": time, "x": x})  # fmt: skip


def _did_row(data: pd.DataFrame, cov_type: str, panel: bool) -> np.ndarray:
    if panel:
        did = ek.DiffInDiff(data, treatment="d", unit="unit", time="time", clusters="unit")
    else:
        did = ek.DiffInDiff(data, treatment="g", post="post", clusters="unit")
    res = did.estimate("y", covariates=["x"], inference=cov_type)
    return res.to_frame()[["estimate", "std_error", "df"]].to_numpy(dtype=float)[0]


def test_did_panel_fit_matches_pyfixest() -> None:
    # SOURCE: pyfixest feols("y ~ d + x | unit + time", vcov={"CRV1": "unit"}) run here (fixest's small-sample
    # factor: unit effects nested in the clusters are not counted), as tests/designs/test_did.py.
    # TOLERANCE: 1e-8 relative.
    pf = pytest.importorskip("pyfixest")
    data = _panel()
    ref = pf.feols("y ~ d + x | unit + time", data=data, vcov={"CRV1": "unit"})
    expected = [ref.coef()["d"], ref.se()["d"]]
    np.testing.assert_allclose(_did_row(data, "CR1", True)[:2], expected, rtol=1e-8)


@pytest.mark.parametrize("panel", [True, False], ids=["twfe_panel", "2x2_cross_section"])
@pytest.mark.parametrize("cov_type", ["HC1", "CR0", "CR1", "CR2"])
def test_did_shift_and_scale_of_a_covariate_change_nothing(cov_type: str, panel: bool) -> None:
    # SOURCE: property (a covariate's location is absorbed by the unit effects / the intercept; its units by its
    # coefficient). REFERENCE: the unshifted fit (the panel one checked against pyfixest above).
    # TOLERANCE: 1e-9 relative.
    data = _panel()
    ref = _did_row(data, cov_type, panel)
    for transformed in [data.x + s for s in SHIFTS] + [data.x * s for s in SCALES]:
        got = _did_row(data.assign(x=transformed), cov_type, panel)
        assert _relative(got, ref).max() <= INVARIANCE_TOL, (got, ref)


def test_sandwich_and_bm_df_of_a_shifted_design_match_the_unshifted_one() -> None:
    # SOURCE: property: for X2 = X T (shift and rescale of column 2), V2 = T^-1 V T^-T, so the entries of the
    # treatment row are unchanged, and the Bell-McCaffrey df of a contrast c'beta equals that of (T^-1 ... ) --
    # for the treatment coefficient the same contrast e_1. TOLERANCE: 1e-9 relative.
    data = _trial_data()
    X = _design_matrix(data, "ols")
    y, cl = data.y.to_numpy(), data.cl.to_numpy()
    e = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
    X2 = X.copy()
    X2[:, 2] = X2[:, 2] * 1e6 + 1e10
    for cov_type in COV_TYPES:
        kw = {"clusters": cl} if cov_type.startswith("CR") else {}
        v, v2 = sandwich(X, e, cov_type, **kw), sandwich(X2, e, cov_type, **kw)
        np.testing.assert_allclose(v2.vcov[1, 1], v.vcov[1, 1], rtol=INVARIANCE_TOL)
        np.testing.assert_allclose(v2.df[1], v.df[1], rtol=INVARIANCE_TOL)
    c = np.array([0.0, 1.0, 0.0, 0.0])
    np.testing.assert_allclose(
        bell_mccaffrey_df(X2, c, clusters=cl), bell_mccaffrey_df(X, c, clusters=cl), rtol=INVARIANCE_TOL
    )


def test_condition_design_is_a_reparametrisation() -> None:
    # SOURCE: definition (evalkit._linear_algebra.condition_design, Notes): X_c = X T spans the same space;
    # the default basis is orthonormal in the weighted space; with keep=j the columns are centred at the weighted
    # mean and scaled to unit weighted norm, column j keeps its scale and its coefficient (row j of T is e_j').
    # Same coefficients as statsmodels WLS. TOLERANCE: 1e-10 (X T vs X_c, relative to the 1e4 shift), 1e-12
    # elsewhere, 1e-8 against statsmodels.
    data = _trial_data()
    X = _design_matrix(data, "ols")
    X[:, 2] += 1e4
    w, y = data.w.to_numpy(), data.y.to_numpy()
    ref = sm.WLS(y, X, weights=w).fit().params
    ortho = condition_design(X, None, w)
    np.testing.assert_allclose(X @ ortho.T, ortho.X, atol=1e-10)
    np.testing.assert_allclose(ortho.Xt.T @ ortho.Xt, np.eye(4), atol=1e-12)
    np.testing.assert_allclose(ortho.coef(ortho.solve(y)), ref, rtol=1e-8)
    assert ortho.centred and 1.0 <= ortho.condition_number < 10.0
    kept = condition_design(X, None, w, keep=1)
    np.testing.assert_allclose(X @ kept.T, kept.X, atol=1e-10)
    np.testing.assert_allclose(w @ kept.X[:, 1:] / w.sum(), 0.0, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(kept.Xt[:, [0, 2, 3]], axis=0), 1.0, rtol=1e-12)
    np.testing.assert_allclose(kept.T[1], [0.0, 1.0, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(kept.solve(y)[1], ref[1], rtol=1e-8)
    np.testing.assert_allclose(kept.B @ (kept.Xt.T @ kept.Xt), np.eye(4), atol=1e-10)


# ------------------------------------------------------------------------------------------------ refusals
def _near_duplicate(seed: int, eps: float) -> pd.DataFrame:
    data = _trial_data(seed)
    rng = np.random.default_rng(seed + 100)
    return data.assign(x_dup=data.x + eps * rng.normal(size=len(data)))


@pytest.mark.parametrize("eps", [1e-12, 1e-9])
def test_near_duplicate_covariates_are_refused_with_the_condition_number(eps: float) -> None:
    # SOURCE: x and x + eps * noise: the smallest singular value of the centred, unit-scaled design is about
    # eps / sqrt(2) (relative), so the condition number is about 1/eps >> CONDITION_LIMIT = 1/sqrt(eps_machine)
    # ~ 6.7e7; it must be refused whatever the row order (5 permutations), naming both columns and the number.
    data = _near_duplicate(5, eps)
    rng = np.random.default_rng(0)
    for _ in range(5):
        shuffled = data.iloc[rng.permutation(len(data))].reset_index(drop=True)
        trial = ek.RandomizedTrial(shuffled, treatment="z", clusters="cl")
        with pytest.raises(EstimationError, match=r"'x', 'x_dup' are collinear") as info:
            trial.estimate("y", estimator="ols", covariates=["x", "x_dup"], inference="HC2")
        found = re.search(r"condition number of the centred, unit-scaled design is ([0-9.e+]+)", str(info.value))
        assert found is not None, str(info.value)
        assert CONDITION_LIMIT < float(found.group(1)) < 1e3 / eps


def test_moderately_correlated_far_from_zero_covariates_work_and_ignore_row_order() -> None:
    # SOURCE: x (shifted by 1e8, like a date in seconds) and x + 0.1 * noise: correlation ~0.995, condition number
    # of the centred design ~30, far below the limit. REFERENCE: statsmodels OLS HC2 on the unshifted columns
    # (1e-8 relative; the shift is a reparametrisation); row order: 5 permutations, 1e-10 relative.
    data = _trial_data(7)
    rng = np.random.default_rng(1)
    data = data.assign(x_dup=data.x + np.round(0.1 * rng.normal(size=len(data)) * 1024) / 1024)
    X = np.column_stack([np.ones(len(data)), data.z, data.x, data.x_dup])
    ref = sm.OLS(data.y.to_numpy(), X).fit(cov_type="HC2")
    shifted = data.assign(x=data.x + 1e8, x_dup=data.x_dup + 1e8)

    def row(d: pd.DataFrame, cov_type: str) -> np.ndarray:
        res = ek.RandomizedTrial(d, treatment="z", clusters="cl").estimate(
            "y", estimator="ols", covariates=["x", "x_dup"], inference=cov_type
        )
        return res.to_frame()[["estimate", "std_error", "df"]].to_numpy(dtype=float)[0]

    np.testing.assert_allclose(row(shifted, "HC2"), [ref.params[1], ref.bse[1], len(data) - 4], rtol=1e-8)
    for cov_type in ("HC2", "CR2"):
        base = row(shifted, cov_type)
        for _ in range(5):
            perm = shifted.iloc[rng.permutation(len(shifted))].reset_index(drop=True)
            assert _relative(row(perm, cov_type), base).max() <= 1e-10


def test_accepted_ill_conditioned_design_gives_row_order_free_standard_errors() -> None:
    # SOURCE: x and x + 1e-6 * noise: condition number ~1.9e6 (below the limit, so estimated). A backward-stable
    # computation on the orthonormal basis has errors ~ kappa * eps_machine ~ 4e-10; a sandwich formed as
    # (X'X)^-1 X'OX (X'X)^-1 has errors up to kappa^2 * eps ~ 8e-4 (measured 6.8e-6 before the fix). 5 row
    # permutations, HC2 and CR2. TOLERANCE: 1e-8 relative on estimate, SE and df.
    data = _near_duplicate(5, 1e-6)
    rng = np.random.default_rng(2)

    def row(d: pd.DataFrame, cov_type: str) -> np.ndarray:
        res = ek.RandomizedTrial(d, treatment="z", clusters="cl").estimate(
            "y", estimator="ols", covariates=["x", "x_dup"], inference=cov_type
        )
        return res.to_frame()[["estimate", "std_error", "df"]].to_numpy(dtype=float)[0]

    for cov_type in ("HC2", "CR2"):
        base = row(data, cov_type)
        for _ in range(5):
            perm = data.iloc[rng.permutation(len(data))].reset_index(drop=True)
            assert _relative(row(perm, cov_type), base).max() <= 1e-8


# ------------------------------------------------------------------------------------------------ other paths
@pytest.mark.parametrize("bootstrap_type", ["11", "31"])
def test_wild_bootstrap_ignores_a_covariate_shift(bootstrap_type: str) -> None:
    # SOURCE: property (the bootstrap t statistics are functions of the column space and the target coefficient).
    # REFERENCE: the unshifted run with the same seed (its numbers are checked against wildboottest in
    # tests/inference/test_wild_bootstrap.py). TOLERANCE: 1e-9 relative on estimate, SE, p-value and interval bounds.
    data = _trial_data()
    inference = ek.inference.WildClusterBootstrap(reps=499, seed=1, bootstrap_type=bootstrap_type)

    def row(d: pd.DataFrame) -> np.ndarray:
        res = ek.RandomizedTrial(d, treatment="z", clusters="cl").estimate(
            "y", estimator="ols", covariates=["x", "x2"], inference=inference
        )
        return res.to_frame()[["estimate", "std_error", "p_value", "conf_low", "conf_high"]].to_numpy(float)[0]

    ref = row(data)
    for transformed in [data.x + s for s in SHIFTS] + [data.x * s for s in SCALES]:
        assert _relative(row(data.assign(x=transformed)), ref).max() <= INVARIANCE_TOL


@pytest.mark.parametrize("method", ["romano_wolf", "westfall_young"])
@pytest.mark.parametrize("cov_type", ["HC2", "CR2"])
def test_resampling_adjustments_ignore_a_covariate_shift(method: str, cov_type: str) -> None:
    # SOURCE: property (the bootstrap studentizes with the same SE, a function of the column space).
    # REFERENCE: the unshifted adjustment with the same seed. TOLERANCE: 1e-9 relative on p_adjusted.
    data = _trial_data()

    def p_adjusted(d: pd.DataFrame) -> np.ndarray:
        res = ek.RandomizedTrial(d, treatment="z", clusters="cl").estimate(
            ["y", "x2"], estimator="ols", covariates=["x"], inference=cov_type
        )
        return res.adjust(method, reps=499, seed=1).to_frame()["p_adjusted"].to_numpy(float)

    ref = p_adjusted(data)
    for shift in SHIFTS:
        assert _relative(p_adjusted(data.assign(x=data.x + shift)), ref).max() <= INVARIANCE_TOL


@pytest.mark.parametrize("method", ["dr", "ipw", "reg"])
def test_callaway_santanna_ignores_a_covariate_shift(method: str) -> None:
    # SOURCE: property (outcome regression and propensity logit with an intercept are invariant to an affine map of
    # a covariate). REFERENCE: the unshifted fit on mpdta with lpop (checked against csdid / diff-diff in
    # tests/designs/test_staggered.py); lpop rounded to a 2**-10 grid so that lpop + 1e10 is exact.
    # TOLERANCE: 1e-9 relative on the simple aggregate and its SE.
    moderndid = pytest.importorskip("moderndid")
    mpdta = moderndid.load_mpdta().to_pandas()
    mpdta = mpdta.assign(lpop=np.round(mpdta.lpop * 1024) / 1024)

    def row(d: pd.DataFrame) -> np.ndarray:
        stag = ek.StaggeredDiD(d, unit="countyreal", time="year", cohort="first.treat")
        res = stag.estimate("lemp", covariates="lpop", method=method, aggregate="simple")
        return res.to_frame()[["estimate", "std_error"]].to_numpy(float)[0]

    ref = row(mpdta)
    for transformed in [mpdta.lpop + s for s in SHIFTS] + [mpdta.lpop * s for s in SCALES]:
        assert _relative(row(mpdta.assign(lpop=transformed)), ref).max() <= INVARIANCE_TOL


@pytest.mark.parametrize("shift", [0.0, 1e4, 1e10])
@pytest.mark.parametrize("weighted", [False, True])
def test_time_invariant_covariate_in_a_panel_is_refused_by_name(shift: float, weighted: bool) -> None:
    # SOURCE: a covariate constant within every unit is absorbed by the unit effects (its within deviations are
    # zero), whatever its location; it must be refused by name rather than fitted as rescaled rounding noise.
    data = _panel()
    rng = np.random.default_rng(4)
    data = data.assign(x=rng.normal(size=16)[data.unit] + shift, w=rng.uniform(0.5, 2.0, 16)[data.unit])
    did = ek.DiffInDiff(
        data, treatment="d", unit="unit", time="time", clusters="unit", weights="w" if weighted else None
    )
    with pytest.raises(EstimationError, match="'x' does not vary within units"):
        did.estimate("y", covariates=["x"])
