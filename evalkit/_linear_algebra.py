"""Linear algebra shared by the sandwich, wild bootstrap, multiple-testing and batched estimators (internal).

This module sits below every layer (like :mod:`evalkit._validation`), so that
:mod:`evalkit.inference.sandwich`, :mod:`evalkit.inference.wild_bootstrap`,
:mod:`evalkit.inference.multiple_testing` and the batched fits of :mod:`evalkit.inference.batched` compute the
same pieces with the same code:

* :func:`weighted_design` -- checked ``sqrt(w) X``, ``sqrt(w) e`` and ``sqrt(w)``;
* :func:`bread` -- :math:`(X'X)^{-1}` and a square-root factor, refusing collinear regressors;
* :func:`factorize_clusters` and :func:`group_sum` -- cluster codes and within-cluster sums;
* :func:`cr2_phi` -- the CR2 (Bell-McCaffrey) adjustment matrices in low-rank form, for one fit or a batch.

The names carry no underscore because other modules import them; they are not part of the public API
(``evalkit`` does not re-export them) and may change without notice.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from evalkit.errors import EstimationError, InferenceError

__all__ = ["LEVERAGE_TOL", "bread", "check_finite", "cr2_phi", "factorize_clusters", "group_sum", "weighted_design"]

#: ``1 - h_ii`` (or an eigenvalue of ``I - H_gg``) below this counts as zero: a leverage of one.
LEVERAGE_TOL = 1e-10


def check_finite(name: str, values: np.ndarray) -> None:
    """Raise if ``values`` (shape (n, ...)) holds NaN or infinite entries, naming the first offending rows.

    Parameters
    ----------
    name : str
        What the array is called in the error message (``"X"``, ``"residuals"``, ...).
    values : ndarray of shape (n, ...)
        The array to check.

    Raises
    ------
    InferenceError
        If any entry is missing or infinite.

    Notes
    -----
    A row :math:`i` is reported when any :math:`v_{i\\cdot}` is not finite. Sandwich estimators
    (MacKinnon and White 1985) are undefined on such rows, so they must be dropped before.
    """
    bad = ~np.isfinite(values)
    if bad.any():
        rows = np.flatnonzero(bad.reshape(values.shape[0], -1).any(axis=1))
        shown = ", ".join(str(i) for i in rows[:5]) + (", ..." if rows.size > 5 else "")
        raise InferenceError(
            f"{name} contains missing or infinite values (rows {shown}); drop those observations before "
            "computing standard errors."
        )


def _checked_vector(name: str, values: Any, n: int) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.shape[0] != n:
        raise InferenceError(f"{name} has {v.shape[0]} values but X has {n} rows; they must match.")
    check_finite(name, v)
    return v


def weighted_design(
    X: Any, residuals: Any | None, weights: Any | None
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Check a design matrix, residuals and weights; return them in the weighted space.

    Parameters
    ----------
    X : array-like of shape (n, k) or (n,)
        Design matrix (a 1-d array is one column).
    residuals : array-like of shape (n,), optional
        Unweighted residuals ``y - X b``.
    weights : array-like of shape (n,), optional
        Positive WLS weights; ``None`` for OLS.

    Returns
    -------
    Xt : ndarray of shape (n, k)
        :math:`W^{1/2} X`.
    et : ndarray of shape (n,) or None
        :math:`W^{1/2} e` (``None`` when ``residuals`` is ``None``).
    sw : ndarray of shape (n,) or None
        :math:`\\sqrt{w}` (``None`` without weights).

    Raises
    ------
    InferenceError
        On a wrong shape, missing or infinite values, or a non-positive weight.

    Notes
    -----
    WLS minimising :math:`\\sum_i w_i e_i^2` is OLS of :math:`\\sqrt{w_i} y_i` on :math:`\\sqrt{w_i} x_i`, so every
    sandwich formula applies to the transformed rows (the ``estimatr`` and ``statsmodels.WLS`` conventions;
    Cameron and Miller 2015, J. Human Resources 50(2), section IV).
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise InferenceError(f"X must be a 2-d array (n, k); got an array with {X.ndim} dimensions.")
    n, k = X.shape
    if n == 0 or k == 0:
        raise InferenceError(f"X must have at least one row and one column; got shape {X.shape}.")
    check_finite("X", X)
    e = None if residuals is None else _checked_vector("residuals", residuals, n)
    sw = None
    if weights is not None:
        w = _checked_vector("weights", weights, n)
        if (w <= 0).any():
            i = int(np.flatnonzero(w <= 0)[0])
            raise InferenceError(
                f"weights must be positive; observation {i} has weight {w[i]:g}. Drop observations with "
                "zero weight before estimating."
            )
        sw = np.sqrt(w)
        X = X * sw[:, None]
        if e is not None:
            e = e * sw
    return X, e, sw


def bread(Xt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The bread :math:`B = (X'X)^{-1}` of a sandwich and a factor :math:`L` with :math:`B = LL'`.

    Parameters
    ----------
    Xt : ndarray of shape (n, k)
        The (weighted) design matrix.

    Returns
    -------
    B : ndarray of shape (k, k)
        :math:`(X'X)^{-1}`.
    L : ndarray of shape (k, k)
        :math:`V S^{-1}` from the thin SVD :math:`X = U S V'`, so that :math:`LL' = B`.

    Raises
    ------
    EstimationError
        If ``Xt`` is rank deficient (a singular value below :math:`\\max(s)\\max(n, k)\\,\\epsilon`, the
        ``numpy.linalg.matrix_rank`` rule); the message names the linearly dependent columns.

    Notes
    -----
    With :math:`X = USV'`, :math:`X'X = VS^2V'` and :math:`(X'X)^{-1} = VS^{-2}V'` (Golub and Van Loan 2013,
    Matrix Computations, 4th ed., section 5.5), which avoids forming :math:`X'X`.
    """
    _, s, vt = np.linalg.svd(Xt, full_matrices=False)
    tol = s.max(initial=0.0) * max(Xt.shape) * np.finfo(np.float64).eps
    if s.size < Xt.shape[1] or (s <= tol).any():
        null = vt[-1] if s.size == Xt.shape[1] else np.linalg.svd(Xt)[2][-1]
        cols = np.flatnonzero(np.abs(null) > 1e-8 * np.abs(null).max())
        shown = ", ".join(str(c) for c in cols)
        raise EstimationError(
            f"the regressors are collinear (rank {int((s > tol).sum())} < {Xt.shape[1]} columns): columns "
            f"{shown} of X are linearly dependent. Drop one of them, e.g. a duplicated covariate or a dummy "
            "for every category of a factor."
        )
    L = vt.T / s
    return L @ L.T, L


def factorize_clusters(
    clusters: Any,
    n: int,
    *,
    needs: str = "cluster-robust standard errors need",
    because: str = "there is no between-cluster variation to estimate",
) -> tuple[np.ndarray, np.ndarray]:
    """Integer cluster codes ``0..G-1`` (in order of first appearance) and the unique labels.

    Parameters
    ----------
    clusters : array-like of shape (n,)
        Cluster labels, any hashable values.
    n : int
        Number of observations the labels must match.
    needs, because : str
        Wording of the error for fewer than 2 clusters: "{needs} at least 2 clusters; found ... With one cluster
        {because}; ..." (the caller's method and why it needs two).

    Returns
    -------
    codes : ndarray of shape (n,) of intp
    uniques : ndarray of shape (G,)

    Raises
    ------
    InferenceError
        On a wrong shape, a missing label, or fewer than 2 clusters.

    Notes
    -----
    Cluster-robust variances sum scores within clusters (Liang and Zeger 1986, Biometrika 73(1)); with one
    cluster there is no between-cluster variation to estimate, so at least two are required.
    """
    labels = np.asarray(clusters)
    if labels.ndim != 1 or labels.shape[0] != n:
        raise InferenceError(
            f"clusters must be a 1-d array with one label per observation ({n}); got shape {labels.shape}."
        )
    codes, uniques = pd.factorize(labels, use_na_sentinel=True)
    if (codes < 0).any():
        i = int(np.flatnonzero(codes < 0)[0])
        raise InferenceError(
            f"clusters contains missing labels (first at observation {i}); give every observation a cluster "
            "or drop those observations."
        )
    if len(uniques) < 2:
        first = uniques[0].item() if isinstance(uniques[0], np.generic) else uniques[0]
        shown = f" ({first!r})" if len(uniques) else ""
        raise InferenceError(
            f"{needs} at least 2 clusters; found {len(uniques)}{shown}. With one cluster {because}; use a "
            "heteroskedasticity-robust type such as 'HC2', or randomization inference."
        )
    return codes.astype(np.intp), np.asarray(uniques)


def group_sum(values: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Sum the rows of ``values`` within groups.

    Parameters
    ----------
    values : ndarray of shape (n, ...)
        Rows to sum.
    codes : ndarray of shape (n,) of int
        Group code ``0..n_groups-1`` of each row.
    n_groups : int
        Number of groups (groups without rows get zeros).

    Returns
    -------
    ndarray of shape (n_groups, ...)
        :math:`S_g = \\sum_{i: c_i = g} v_i`.

    Notes
    -----
    One stable sort and one ``numpy.add.reduceat``: :math:`O(n \\log n)` and no ``(G, n)`` indicator matrix,
    as in the cluster sums of the sandwich (Cameron and Miller 2015, J. Human Resources 50(2), eq. 11).
    """
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    sums = np.add.reduceat(values[order], starts, axis=0)
    out = np.zeros((n_groups, *values.shape[1:]), dtype=np.float64)
    out[sorted_codes[starts]] = sums
    return out


def cr2_phi(cross: np.ndarray, L: np.ndarray) -> np.ndarray:
    """Per-cluster matrices :math:`\\Phi_g` with :math:`A_g = (I - H_{gg})^{+1/2} = I + X_g \\Phi_g X_g'`.

    Parameters
    ----------
    cross : ndarray of shape (..., G, k, k)
        :math:`C_g = X_g'X_g` for each cluster (with any leading batch dimensions, one per fit).
    L : ndarray of shape (..., k, k)
        A factor with :math:`LL' = (X'X)^{-1}` for each fit (from :func:`bread`, or a Cholesky factor).

    Returns
    -------
    ndarray of shape (..., G, k, k)

    Notes
    -----
    The non-zero eigenvalues of :math:`H_{gg} = X_g B X_g'` are those of :math:`M_g = L'C_gL`
    (:math:`B = LL'`): with :math:`M_g = W\\operatorname{diag}(\\lambda)W'`,
    :math:`H_{gg} = U\\operatorname{diag}(\\lambda)U'` for :math:`U = X_gLW\\operatorname{diag}(\\lambda)^{-1/2}`,
    so :math:`A_g = I + X_gLW\\operatorname{diag}(\\phi)W'L'X_g'` with
    :math:`\\phi = ((1-\\lambda)^{-1/2} - 1)/\\lambda`. Directions with :math:`\\lambda = 0` vanish from
    :math:`X_gLW`, so any finite :math:`\\phi` works there (the limit :math:`1/2 + 3\\lambda/8` is used); where
    :math:`1 - \\lambda = 0` the generalized inverse square root has :math:`\\phi = -1/\\lambda` (as
    ``clubSandwich`` and ``estimatr``). :math:`A_g` is a matrix function of :math:`H_{gg}`, so it does not depend
    on which factor :math:`L` is used. Cost :math:`O(Gk^3)`, independent of the cluster sizes
    (Bell and McCaffrey 2002, Survey Methodology 28(2); Pustejovsky and Tipton 2018, JBES 36(4)).
    """
    Lg = L[..., None, :, :]
    M = np.swapaxes(Lg, -1, -2) @ cross @ Lg
    M = 0.5 * (M + np.swapaxes(M, -1, -2))
    lam, W = np.linalg.eigh(M)
    lam = np.clip(lam, 0.0, 1.0)
    one_minus = 1.0 - lam
    singular = one_minus < LEVERAGE_TOL
    small = lam < 1e-8
    with np.errstate(divide="ignore", invalid="ignore"):
        phi = (1.0 / np.sqrt(one_minus) - 1.0) / lam
    phi = np.where(small, 0.5 + 0.375 * lam, phi)
    phi = np.where(singular, -1.0 / np.where(lam > 0, lam, 1.0), phi)
    LW = Lg @ W
    return (LW * phi[..., None, :]) @ np.swapaxes(LW, -1, -2)
