"""Batched least squares: one estimator fitted to many treatment vectors at once, with sandwich standard errors.

Randomization inference re-runs the same estimator under thousands of re-drawn assignments. For the trial
estimators only the treatment column (and its interactions) changes between draws, so the design matrices of a
batch of draws are stacked into a ``(B, n, k)`` array and solved with batched BLAS (``numpy.matmul`` on stacks)
instead of a Python loop over draws.

Public entry points:

* :func:`treatment_design` -- how an estimator builds its regressors from a treatment vector, or ``None`` for an
  estimator this module does not know (the caller then loops over draws): a :class:`TreatmentDesign` for the
  trial estimators, a :class:`DiDTreatmentDesign` for the difference-in-differences estimators ``"did"``,
  ``"twfe"`` and ``"event_study"`` (only the treatment-dependent columns change between draws; the fixed
  columns and the absorbed unit effects are projected out once, :func:`fit_did_design`; both live in
  :mod:`evalkit.estimators.batch_did` and are re-exported here);
* :func:`batch_least_squares` -- coefficient of interest and its sandwich variance for a stack of design
  matrices and one or more response columns;
* :func:`batch_estimates` -- the two combined: estimates and standard errors of a named estimator under a stack
  of treatment vectors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from evalkit._linear_algebra import cr2_phi
from evalkit._validation import check_option
from evalkit.errors import EstimationError
from evalkit.estimators._batch_common import (
    COV_TYPES,
    MEMORY_BUDGET,
    SINGULAR_TOL,
    BatchFit,
    check_residual_df,
    groups_for,
    target_gram,
)
from evalkit.estimators._linear import LinearFit
from evalkit.estimators._sample import EstimationSample, block_dummies, weighted_mean
from evalkit.estimators.batch_did import DID_ESTIMATORS, DiDTreatmentDesign, did_treatment_design, fit_did_design

__all__ = [
    "BatchFit",
    "DiDTreatmentDesign",
    "TreatmentDesign",
    "batch_estimates",
    "batch_least_squares",
    "fit_did_design",
    "fit_treatment_design",
    "treatment_design",
]


@dataclass(frozen=True)
class TreatmentDesign:
    """The regressors of a trial estimator as a function of the treatment vector.

    ``X(z) = [1, z, fixed, z * interacted]``: an intercept, the treatment (the coefficient of interest, index 1),
    columns that do not depend on treatment, and columns interacted with treatment.

    Attributes
    ----------
    fixed : ndarray (n, p)
        Columns that do not change with treatment (covariates, block dummies, centred interaction terms).
    interacted : ndarray (n, q)
        Columns multiplied by the treatment indicator.
    """

    fixed: np.ndarray = field(repr=False)
    interacted: np.ndarray = field(repr=False)

    @property
    def n_columns(self) -> int:
        """Number of regressors ``k = 2 + p + q``."""
        return 2 + self.fixed.shape[1] + self.interacted.shape[1]

    def matrices(self, Z: np.ndarray) -> np.ndarray:
        """Stacked design matrices for treatment vectors ``Z`` (B, n): array (B, n, k)."""
        Z = np.asarray(Z, dtype=np.float64)
        B, n = Z.shape
        p, q = self.fixed.shape[1], self.interacted.shape[1]
        X = np.empty((B, n, 2 + p + q))
        X[:, :, 0] = 1.0
        X[:, :, 1] = Z
        X[:, :, 2 : 2 + p] = self.fixed
        X[:, :, 2 + p :] = Z[:, :, None] * self.interacted
        return X


def fit_treatment_design(
    design: TreatmentDesign | DiDTreatmentDesign,
    Z: np.ndarray,
    Y: np.ndarray,
    *,
    cov_type: str,
    weights: np.ndarray | None,
    clusters: np.ndarray | None,
) -> BatchFit:
    """Fit ``X(z) = [1, z, fixed, z * interacted]`` for every treatment vector in ``Z``.

    Parameters
    ----------
    design : TreatmentDesign or DiDTreatmentDesign
        How the regressors depend on treatment (from :func:`treatment_design`); a :class:`DiDTreatmentDesign`
        is handed to :func:`fit_did_design`.
    Z : ndarray (B, n)
        Treatment vectors.
    Y : ndarray (n, r)
        Response columns shared by all draws.
    cov_type : str
        Covariance type (see :func:`batch_least_squares`).
    weights, clusters : ndarray (n,), optional
        Analytic weights; cluster labels for the CR types.

    Returns
    -------
    BatchFit
        Coefficient of the treatment (column 1) and its sandwich variance.

    Notes
    -----
    When no column is interacted with treatment (difference in means without blocks, ``ols``, ``change``) and the
    covariance is not CR2, only the treatment column changes between draws and the fit uses Frisch-Waugh-Lovell
    (Frisch and Waugh 1933; Lovell 1963): the fixed columns are projected out once (a QR decomposition) and each
    draw costs :math:`O(n p)`; otherwise the stacked design matrices go to :func:`batch_least_squares`. Both give
    the numbers of :func:`evalkit.inference.sandwich.sandwich` to rounding.
    """
    if isinstance(design, DiDTreatmentDesign):
        return fit_did_design(design, Z, Y, cov_type=cov_type, weights=weights, clusters=clusters)
    Z = np.asarray(Z, dtype=np.float64)
    if design.interacted.shape[1] or cov_type == "CR2" or Y.ndim != 2:
        return batch_least_squares(
            design.matrices(Z), Y, target=1, cov_type=cov_type, weights=weights, clusters=clusters
        )
    check_option("cov_type", cov_type, COV_TYPES)
    n = Z.shape[1]
    F = np.column_stack([np.ones(n), design.fixed])
    check_residual_df(n, F.shape[1] + 1)
    sw = None if weights is None else np.sqrt(np.asarray(weights, dtype=np.float64))
    groups = groups_for(cov_type, clusters)
    B = Z.shape[0]
    r = Y.shape[1]
    coef = np.empty((B, r))
    gram = np.empty((B, r, r))
    step = max(1, MEMORY_BUDGET // (8 * n * (3 * r + 4)))
    for start in range(0, B, step):
        stop = min(B, start + step)
        coef[start:stop], gram[start:stop] = _solve_fwl(F, Z[start:stop], Y, cov_type, sw, groups)
    return BatchFit(coef=coef, gram=gram, cov_type=cov_type)


def treatment_design(
    estimator: str, sample: EstimationSample, fit: LinearFit | None = None
) -> TreatmentDesign | DiDTreatmentDesign | None:
    """How ``estimator`` builds its regressors from the treatment, or ``None`` if this module does not know it.

    Parameters
    ----------
    estimator : str
        ``"difference_in_means"``, ``"ols"``, ``"lin"`` or ``"change"`` (a :class:`TreatmentDesign`), or the
        difference-in-differences ``"did"``, ``"twfe"`` and ``"event_study"`` (a :class:`DiDTreatmentDesign`;
        ``None`` when the sample lacks what the estimator needs, e.g. panel units, or an event study without a
        fixed event window); anything else returns ``None``.
    sample : EstimationSample
        The estimation sample.
    fit : LinearFit, optional
        The estimator's fit on the observed treatment. When given, the rebuilt design matrix must equal
        ``fit.X`` (to 1e-12) and ``fit.target`` must be 1 (difference in differences: one of the
        treatment-dependent columns, which becomes the design's ``target``), otherwise ``None`` is returned so
        that the caller falls back to re-running the estimator itself.

    Notes
    -----
    Mirrors :mod:`evalkit.estimators.difference_in_means` and :mod:`evalkit.estimators.regression`: the
    difference in means is ``[1, z]`` (blocked: ``[1, z, D_c, z D_c]`` with centred block dummies), ``ols`` and
    ``change`` are ``[1, z, X, D]`` and ``lin`` is ``[1, z, W_c, z W_c]`` with ``W = [X, D]`` centred at its
    (weighted) mean. The centring does not depend on treatment, so only ``z`` changes between draws. The
    difference-in-differences forms mirror :mod:`evalkit.estimators.twfe` and
    :mod:`evalkit.estimators.event_study` (see :class:`DiDTreatmentDesign`).
    """
    if estimator in DID_ESTIMATORS:
        return did_treatment_design(estimator, sample, fit)
    n = sample.n_obs
    blocked = sample.blocks is not None and np.unique(sample.blocks).size > 1
    D = block_dummies(sample.blocks)[0] if blocked else np.empty((n, 0))
    empty = np.empty((n, 0))
    if estimator == "difference_in_means":
        if sample.covariates.shape[1]:
            return None
        if not blocked:
            design = TreatmentDesign(empty, empty)
        else:
            Dc = D - weighted_mean(D, sample.weights)
            design = TreatmentDesign(Dc, Dc)
    elif estimator in ("ols", "change"):
        design = TreatmentDesign(np.column_stack([sample.covariates, D]), empty)
    elif estimator == "lin":
        W = np.column_stack([sample.covariates, D])
        if W.shape[1] == 0:
            return None
        Wc = W - weighted_mean(W, sample.weights)
        design = TreatmentDesign(Wc, Wc)
    else:
        return None
    if fit is not None:
        if fit.target != 1 or fit.X.shape != (n, design.n_columns):
            return None
        rebuilt = design.matrices(sample.treatment[None, :])[0]
        if not np.allclose(rebuilt, fit.X, rtol=0.0, atol=1e-12):
            return None
    return design


def _chunk_size(n: int, k: int, r: int, cov_type: str) -> int:
    per_draw = 8 * n * (3 * k + 3 * r + (k * k + k * r if cov_type == "CR2" else 0))
    return max(1, MEMORY_BUDGET // max(per_draw, 1))


def _solve_chunk(
    X: np.ndarray,
    Y: np.ndarray,
    target: int,
    cov_type: str,
    sw: np.ndarray | None,
    groups: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    B, n, k = X.shape
    r = Y.shape[-1]
    Xt = X if sw is None else X * sw[None, :, None]
    Yt = Y if sw is None else Y * sw[..., :, None]
    XtX = np.swapaxes(Xt, 1, 2) @ Xt
    scale = np.sqrt(np.einsum("bii->bi", XtX))
    scale[scale == 0] = 1.0
    ev = np.linalg.eigvalsh(XtX / (scale[:, :, None] * scale[:, None, :]))
    ok = ev[:, 0] > SINGULAR_TOL * ev[:, -1]
    coef = np.full((B, r), np.nan)
    gram = np.full((B, r, r), np.nan)
    if not ok.any():
        return coef, gram
    if not ok.all():
        Xt, XtX = Xt[ok], XtX[ok]
        Yt = Yt[ok] if Yt.ndim == 3 else Yt
    Binv = np.linalg.inv(XtX)
    Binv = 0.5 * (Binv + np.swapaxes(Binv, 1, 2))
    beta = Binv @ (np.swapaxes(Xt, 1, 2) @ Yt)  # (b, k, r)
    E = Yt - Xt @ beta  # (b, n, r)
    a = (Xt @ Binv[:, :, target, None])[:, :, 0]  # (b, n): row `target` of (X'X)^{-1} X'
    if cov_type == "CR2":
        assert groups is not None  # groups_for returns the cluster matrix for the CR types
        G = groups.shape[0]
        cross = (groups @ (Xt[:, :, :, None] * Xt[:, :, None, :]).reshape(-1, n, k * k)).reshape(-1, G, k, k)
        XE = (groups @ (Xt[:, :, :, None] * E[:, :, None, :]).reshape(-1, n, k * r)).reshape(-1, G, k, r)
        L = np.linalg.cholesky(Binv)
        phi = cr2_phi(cross, L)
        S = XE + cross @ (phi @ XE)  # X_g' A_g e_g
        U = np.einsum("bk,bgkr->bgr", Binv[:, target, :], S)
        g = np.swapaxes(U, 1, 2) @ U
        g = 0.5 * (g + np.swapaxes(g, 1, 2))
    else:
        h = np.einsum("bni,bij,bnj->bn", Xt, Binv, Xt, optimize=True) if cov_type in ("HC2", "HC3") else None
        g, good = target_gram(a, E, cov_type, n, k, Binv[:, target, target], h, groups=groups)
        g[~good] = np.nan
    coef[ok] = beta[:, target, :]
    gram[ok] = g
    return coef, gram


def _solve_fwl(
    F: np.ndarray,
    Z: np.ndarray,
    Y: np.ndarray,
    cov_type: str,
    sw: np.ndarray | None,
    groups: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_solve_chunk` for ``X = [F, z]`` with the treatment's coefficient wanted, by Frisch-Waugh-Lovell.

    With :math:`\\tilde z = M_F z` and :math:`\\tilde y = M_F y` (weighted), :math:`\\hat\\tau = \\tilde z'\\tilde y /
    \\tilde z'\\tilde z`, the residuals of the full model are :math:`\\tilde y - \\hat\\tau\\tilde z`, row ``target`` of
    :math:`(X'X)^{-1}X'` is :math:`\\tilde z/\\tilde z'\\tilde z` and the leverages are
    :math:`h_{ii} = h^F_{ii} + \\tilde z_i^2/\\tilde z'\\tilde z`; cost :math:`O(Bnp)` instead of :math:`O(Bnk^2)`.
    """
    n = Z.shape[1]
    k = F.shape[1] + 1
    Ft = F if sw is None else F * sw[:, None]
    Zt = Z if sw is None else Z * sw[None, :]
    Yt = Y if sw is None else Y * sw[:, None]
    Q, _ = np.linalg.qr(Ft)
    zr = Zt - (Zt @ Q) @ Q.T  # (B, n)
    yr = Yt - Q @ (Q.T @ Yt)  # (n, r)
    d = np.einsum("bn,bn->b", zr, zr)
    ok = d > SINGULAR_TOL * np.einsum("bn,bn->b", Zt, Zt)
    d = np.where(ok, d, 1.0)
    coef = (zr @ yr) / d[:, None]  # (B, r)
    E = yr[None] - zr[:, :, None] * coef[:, None, :]  # (B, n, r)
    a = zr / d[:, None]
    h = np.einsum("ij,ij->i", Q, Q)[None, :] + zr * a if cov_type in ("HC2", "HC3") else None
    g, good = target_gram(a, E, cov_type, n, k, 1.0 / d, h, groups=groups)
    coef[~ok] = np.nan
    g[~(good & ok)] = np.nan
    return coef, g


def batch_least_squares(
    X: np.ndarray,
    Y: np.ndarray,
    *,
    target: int,
    cov_type: str,
    weights: np.ndarray | None = None,
    clusters: np.ndarray | None = None,
) -> BatchFit:
    """Least squares of each response column on each stacked design matrix, and sandwich variances.

    Parameters
    ----------
    X : ndarray (B, n, k)
        One design matrix per draw (unweighted).
    Y : ndarray (n,), (n, r) or (B, n, r)
        Response column(s), shared by all draws or one set per draw.
    target : int
        Index of the coefficient of interest.
    cov_type : {"classical", "HC0", "HC1", "HC2", "HC3", "CR0", "CR1", "CR2"}
        Covariance type, as in :func:`evalkit.inference.sandwich.sandwich`.
    weights : ndarray (n,), optional
        Positive analytic weights.
    clusters : ndarray (n,), optional
        Cluster labels (required by, and only used for, the CR types).

    Returns
    -------
    BatchFit

    Notes
    -----
    For draw :math:`b`, with :math:`\\tilde X = W^{1/2}X_b`, :math:`\\tilde e = W^{1/2}(y - X_b\\hat\\beta_b)`,
    :math:`B_b = (\\tilde X'\\tilde X)^{-1}` and :math:`a = \\tilde X B_b e_j` (so that
    :math:`\\hat\\beta_j = a'\\tilde y`), the variance of :math:`\\hat\\beta_j` is :math:`\\sum_m u_m^2` with
    :math:`u_i = a_i \\tilde e_i \\sqrt{\\omega_i}` (HC0: :math:`\\omega_i = 1`; HC2: :math:`1/(1-h_{ii})`; HC3:
    :math:`1/(1-h_{ii})^2`; HC1: HC0 times :math:`n/(n-k)`), :math:`u_g = a_g'A_g\\tilde e_g` per cluster
    (CR0; CR1 times :math:`\\frac{G}{G-1}\\frac{n-1}{n-k}`; CR2 with :math:`A_g = (I-H_{gg})^{-1/2}`,
    Bell and McCaffrey 2002), or :math:`\\hat\\sigma^2 (B_b)_{jj}` (classical). These are the formulas of
    :func:`evalkit.inference.sandwich.sandwich` (MacKinnon and White 1985; Pustejovsky and Tipton 2018), restricted
    to one coefficient and computed for all draws with stacked matrix products; the Gram matrix over response
    columns is :math:`U'U`. Memory is bounded by splitting the draws into chunks of at most about 64 MB of
    work arrays.
    """
    check_option("cov_type", cov_type, COV_TYPES)
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 3:
        raise EstimationError(f"X must be a stack of design matrices with shape (B, n, k); got shape {X.shape}.")
    B, n, k = X.shape
    check_residual_df(n, k)
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim == 1:
        Y = Y[:, None]
    if Y.shape[-2] != n:
        raise EstimationError(f"Y has {Y.shape[-2]} rows but X has {n}; they must match.")
    r = Y.shape[-1]
    sw = None if weights is None else np.sqrt(np.asarray(weights, dtype=np.float64))
    groups = groups_for(cov_type, clusters)
    coef = np.empty((B, r))
    gram = np.empty((B, r, r))
    step = _chunk_size(n, k, r, cov_type)
    for start in range(0, B, step):
        stop = min(B, start + step)
        Yc = Y[start:stop] if Y.ndim == 3 else Y
        coef[start:stop], gram[start:stop] = _solve_chunk(X[start:stop], Yc, target, cov_type, sw, groups)
    return BatchFit(coef=coef, gram=gram, cov_type=cov_type)


def batch_estimates(
    estimator: str,
    sample: EstimationSample,
    Z: np.ndarray,
    *,
    cov_type: str,
    clusters: np.ndarray | None = None,
) -> BatchFit:
    """Estimates and sandwich standard errors of a trial estimator under each treatment vector in ``Z``.

    Parameters
    ----------
    estimator : {"difference_in_means", "ols", "lin", "change", "did", "twfe", "event_study"}
        The estimator (as in :func:`evalkit.estimators.fit_estimator`, or the difference-in-differences
        estimators of :mod:`evalkit.estimators.twfe` and :mod:`evalkit.estimators.event_study`).
    sample : EstimationSample
        The estimation sample; its ``treatment`` is replaced by each row of ``Z``.
    Z : ndarray (B, n)
        Treatment vectors (0/1 or bool).
    cov_type : str
        Covariance type (see :func:`batch_least_squares`).
    clusters : ndarray (n,), optional
        Cluster labels for the CR types.

    Returns
    -------
    BatchFit
        ``estimates`` and ``std_errors`` equal, to rounding, ``fit_estimator(estimator, sample_b)`` and
        ``sandwich(fit.X, fit.residuals, cov_type, ...)`` on each ``sample_b`` with treatment ``Z[b]``.

    Raises
    ------
    EstimationError
        If ``estimator`` has no batched form for the sample, or ``change`` has no baseline.
    """
    design = treatment_design(estimator, sample)
    if design is None:
        raise EstimationError(
            f"estimator={estimator!r} has no batched form for this sample; batched estimation covers "
            "'difference_in_means' (without covariates), 'ols', 'lin' (with covariates or blocks), 'change', "
            "'did' (with post=), 'twfe' (panel units and periods) and 'event_study' (with an event window)."
        )
    if isinstance(design, DiDTreatmentDesign):
        return fit_did_design(design, Z, sample.y, cov_type=cov_type, weights=sample.weights, clusters=clusters)
    y = sample.y
    if estimator == "change":
        if sample.baseline is None:
            raise EstimationError("estimator='change' needs the outcome's baseline; pass baseline= to estimate().")
        y = sample.y - sample.baseline
    return fit_treatment_design(
        design, np.atleast_2d(Z), y[:, None], cov_type=cov_type, weights=sample.weights, clusters=clusters
    )
