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
  columns and the absorbed unit effects are projected out once, :func:`fit_did_design`);
* :func:`batch_least_squares` -- coefficient of interest and its sandwich variance for a stack of design
  matrices and one or more response columns;
* :func:`batch_estimates` -- the two combined: estimates and standard errors of a named estimator under a stack
  of treatment vectors.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy import sparse

from evalkit._validation import check_option
from evalkit.errors import EstimationError, InferenceError
from evalkit.estimators._linear import LinearFit
from evalkit.estimators._sample import EstimationSample, block_dummies, weighted_mean
from evalkit.estimators.twfe import period_effects

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

# Same set of names as evalkit.inference.sandwich.CovType (not imported: estimators sit below inference).
_COV_TYPES = ("classical", "HC0", "HC1", "HC2", "HC3", "CR0", "CR1", "CR2")
_CLUSTER_TYPES = ("CR0", "CR1", "CR2")
_LEVERAGE_TOL = 1e-10  # as evalkit.inference.sandwich: 1 - h_ii below this is a leverage of one
_SINGULAR_TOL = 1e-14  # smallest / largest eigenvalue of the scaled X'WX below this: collinear draw
_MEMORY_BUDGET = 64 * 2**20  # bytes of float64 work arrays per chunk of draws


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
    check_option("cov_type", cov_type, _COV_TYPES)
    n = Z.shape[1]
    F = np.column_stack([np.ones(n), design.fixed])
    if n <= F.shape[1] + 1:
        raise EstimationError(
            f"the model has no residual degrees of freedom: {n} observations for {F.shape[1] + 1} coefficients."
        )
    sw = None if weights is None else np.sqrt(np.asarray(weights, dtype=np.float64))
    groups = _groups_for(cov_type, clusters)
    B = Z.shape[0]
    r = Y.shape[1]
    coef = np.empty((B, r))
    gram = np.empty((B, r, r))
    step = max(1, _MEMORY_BUDGET // (8 * n * (3 * r + 4)))
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
    if estimator in _DID_ESTIMATORS:
        return _checked_did_design(estimator, sample, fit)
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


@dataclass(frozen=True)
class BatchFit:
    """Coefficient of interest and its sandwich variance under a stack of design matrices.

    With ``r`` response columns ``Y = [y_1, ..., y_r]`` fitted on the same regressors, the coefficient of
    interest of any combination ``Y c`` is ``coef @ c`` and its sandwich variance is ``c' gram c`` (every
    sandwich estimator is a quadratic form in the residuals, which are linear in ``c``).

    Attributes
    ----------
    coef : ndarray (B, r)
        Coefficient of interest for each draw and response column.
    gram : ndarray (B, r, r)
        Sandwich variance of the coefficient of interest, as a Gram matrix over response columns
        (``gram[:, 0, 0]`` is the variance for the first column). NaN for draws whose regressors are collinear
        or where the covariance type is undefined (a leverage of one under HC2/HC3).
    cov_type : str
        The covariance type.
    """

    coef: np.ndarray
    gram: np.ndarray = field(repr=False)
    cov_type: str

    @property
    def estimates(self) -> np.ndarray:
        """Coefficient of interest for the first response column, shape (B,)."""
        return self.coef[:, 0]

    @property
    def std_errors(self) -> np.ndarray:
        """Standard error of the coefficient of interest for the first response column, shape (B,)."""
        return np.sqrt(self.gram[:, 0, 0])


def _group_matrix(clusters: np.ndarray) -> np.ndarray:
    """One-hot (G, n) matrix of cluster membership."""
    _, codes = np.unique(np.asarray(clusters), return_inverse=True)
    codes = codes.reshape(-1)
    G = int(codes.max()) + 1
    if G < 2:
        raise InferenceError(
            f"cluster-robust standard errors need at least 2 clusters; found {G}. Use 'HC2' or a design with more "
            "clusters."
        )
    M = np.zeros((G, codes.size))
    M[codes, np.arange(codes.size)] = 1.0
    return M


def _groups_for(cov_type: str, clusters: np.ndarray | None) -> np.ndarray | None:
    if cov_type in _CLUSTER_TYPES:
        if clusters is None:
            raise InferenceError(
                f"cov_type={cov_type!r} is cluster-robust and needs cluster labels; pass clusters=..., or use 'HC2'."
            )
        return _group_matrix(clusters)
    if clusters is not None:
        raise InferenceError(
            f"clusters were given but cov_type={cov_type!r} ignores them; use 'CR0', 'CR1' or 'CR2', or clusters=None."
        )
    return None


def _cr2_phi(cross: np.ndarray, L: np.ndarray) -> np.ndarray:
    """Batched ``Phi_g`` with ``A_g = (I - H_gg)^{-1/2} = I + X_g Phi_g X_g'``; cross (B, G, k, k), L (B, k, k).

    Same eigenvalue rules as :func:`evalkit.inference.sandwich.sandwich` (limit 1/2 + 3 lam / 8 for tiny
    eigenvalues, generalized inverse square root where ``1 - lam`` is zero), with ``L L' = (X'X)^{-1}`` from a
    Cholesky factor instead of the SVD; ``A_g`` is a matrix function of ``H_gg`` and does not depend on the
    factor.
    """
    Lg = L[:, None]
    M = np.swapaxes(Lg, -1, -2) @ cross @ Lg
    M = 0.5 * (M + np.swapaxes(M, -1, -2))
    lam, W = np.linalg.eigh(M)
    lam = np.clip(lam, 0.0, 1.0)
    one_minus = 1.0 - lam
    singular = one_minus < _LEVERAGE_TOL
    small = lam < 1e-8
    with np.errstate(divide="ignore", invalid="ignore"):
        phi = (1.0 / np.sqrt(one_minus) - 1.0) / lam
    phi = np.where(small, 0.5 + 0.375 * lam, phi)
    phi = np.where(singular, -1.0 / np.where(lam > 0, lam, 1.0), phi)
    LW = Lg @ W
    return (LW * phi[..., None, :]) @ np.swapaxes(LW, -1, -2)


def _chunk_size(n: int, k: int, r: int, cov_type: str) -> int:
    per_draw = 8 * n * (3 * k + 3 * r + (k * k + k * r if cov_type == "CR2" else 0))
    return max(1, _MEMORY_BUDGET // max(per_draw, 1))


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
    ok = ev[:, 0] > _SINGULAR_TOL * ev[:, -1]
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
    good = np.ones(Xt.shape[0], dtype=bool)
    if cov_type == "classical":
        g = (np.swapaxes(E, 1, 2) @ E) * (Binv[:, target, target] / (n - k))[:, None, None]
    elif cov_type in ("HC0", "HC1", "HC2", "HC3"):
        U = a[:, :, None] * E
        if cov_type in ("HC2", "HC3"):
            h = np.einsum("bni,bij,bnj->bn", Xt, Binv, Xt, optimize=True)
            one_minus = 1.0 - h
            good = (one_minus >= _LEVERAGE_TOL).all(axis=1)
            one_minus = np.where(one_minus >= _LEVERAGE_TOL, one_minus, 1.0)
            U = U / (np.sqrt(one_minus) if cov_type == "HC2" else one_minus)[:, :, None]
        g = np.swapaxes(U, 1, 2) @ U
        if cov_type == "HC1":
            g = g * (n / (n - k))
    else:
        G = 0 if groups is None else groups.shape[0]
        if cov_type == "CR2":
            cross = (groups @ (Xt[:, :, :, None] * Xt[:, :, None, :]).reshape(-1, n, k * k)).reshape(-1, G, k, k)
            XE = (groups @ (Xt[:, :, :, None] * E[:, :, None, :]).reshape(-1, n, k * r)).reshape(-1, G, k, r)
            L = np.linalg.cholesky(Binv)
            phi = _cr2_phi(cross, L)
            S = XE + cross @ (phi @ XE)  # X_g' A_g e_g
            U = np.einsum("bk,bgkr->bgr", Binv[:, target, :], S)
        else:
            U = groups @ (a[:, :, None] * E)  # (b, G, r)
        g = np.swapaxes(U, 1, 2) @ U
        if cov_type == "CR1":
            g = g * (G / (G - 1) * (n - 1) / (n - k))
    g = 0.5 * (g + np.swapaxes(g, 1, 2))
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
    ok = d > _SINGULAR_TOL * np.einsum("bn,bn->b", Zt, Zt)
    d = np.where(ok, d, 1.0)
    coef = (zr @ yr) / d[:, None]  # (B, r)
    E = yr[None] - zr[:, :, None] * coef[:, None, :]  # (B, n, r)
    a = zr / d[:, None]
    good = ok.copy()
    if cov_type == "classical":
        g = (np.swapaxes(E, 1, 2) @ E) / ((n - k) * d)[:, None, None]
    elif cov_type in ("HC0", "HC1", "HC2", "HC3"):
        U = a[:, :, None] * E
        if cov_type in ("HC2", "HC3"):
            h = np.einsum("ij,ij->i", Q, Q)[None, :] + zr * a
            one_minus = 1.0 - h
            good &= (one_minus >= _LEVERAGE_TOL).all(axis=1)
            one_minus = np.where(one_minus >= _LEVERAGE_TOL, one_minus, 1.0)
            U = U / (np.sqrt(one_minus) if cov_type == "HC2" else one_minus)[:, :, None]
        g = np.swapaxes(U, 1, 2) @ U
        if cov_type == "HC1":
            g = g * (n / (n - k))
    else:  # CR0, CR1
        G = 0 if groups is None else groups.shape[0]
        U = groups @ (a[:, :, None] * E)
        g = np.swapaxes(U, 1, 2) @ U
        if cov_type == "CR1":
            g = g * (G / (G - 1) * (n - 1) / (n - k))
    g = 0.5 * (g + np.swapaxes(g, 1, 2))
    coef[~ok] = np.nan
    g[~good] = np.nan
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
    check_option("cov_type", cov_type, _COV_TYPES)
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 3:
        raise EstimationError(f"X must be a stack of design matrices with shape (B, n, k); got shape {X.shape}.")
    B, n, k = X.shape
    if n <= k:
        raise EstimationError(f"the model has no residual degrees of freedom: {n} observations for {k} coefficients.")
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim == 1:
        Y = Y[:, None]
    if Y.shape[-2] != n:
        raise EstimationError(f"Y has {Y.shape[-2]} rows but X has {n}; they must match.")
    r = Y.shape[-1]
    sw = None if weights is None else np.sqrt(np.asarray(weights, dtype=np.float64))
    groups = _groups_for(cov_type, clusters)
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


# --------------------------------------------------------------------------------------------------------------
# difference in differences: only the treatment-dependent columns change; the fixed ones are projected out once
# --------------------------------------------------------------------------------------------------------------

_DID_ESTIMATORS = ("did", "twfe", "event_study")


def _unit_mean_operator(units: np.ndarray, weights: np.ndarray | None) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    """Sparse ``(U diag(1 / sum_u w) , U' W)`` with ``U`` the (n, N) unit indicators: ``x - A @ (C @ x)`` demeans."""
    codes = np.asarray(units, dtype=np.intp)
    n = codes.size
    n_units = int(codes.max()) + 1
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    total = np.bincount(codes, weights=w, minlength=n_units)
    rows = np.arange(n)
    expand = sparse.csr_matrix((1.0 / total[codes], (rows, codes)), shape=(n, n_units))
    collect = sparse.csr_matrix((w, (codes, rows)), shape=(n_units, n))
    return expand, collect


@dataclass(frozen=True, eq=False)
class DiDTreatmentDesign:
    """The regressors of a difference-in-differences estimator as a function of the treatment regressor ``z``.

    ``X(z) = M [V(z), F]`` in the estimator's column order, where ``V(z)`` are the columns that change with the
    (re-drawn) treatment regressor, ``F`` those that do not, and ``M`` is the within-unit transformation (unit
    effects absorbed; the identity for the 2x2 regression):

    * ``"twfe"`` (:func:`evalkit.estimators.twfe.twfe`): ``V = [z]``, ``F = [covariates, period or block x period
      indicators]``;
    * ``"event_study"`` (:func:`evalkit.estimators.event_study.event_study`): ``V`` = the event-time indicators
      (first treated period of each unit read from ``z``, binned to the event window), ``F`` as for ``"twfe"``;
    * ``"did"`` (:func:`evalkit.estimators.twfe.did_2x2`): ``V = [g(z), z]`` with the group
      ``g(z) = max z`` within each unit of assignment (``[z]`` alone when the group is not re-drawn), ``F = [1,
      post, covariates, block, block x post]``.

    Attributes
    ----------
    estimator : str
        ``"did"``, ``"twfe"`` or ``"event_study"``.
    fixed : ndarray (n, p)
        The columns of ``F``, untransformed, in the estimator's order.
    varying_columns : tuple of int
        Positions of the columns of ``V(z)`` in the estimator's design matrix.
    target : int
        Position of the coefficient of interest (one of ``varying_columns``).
    units : ndarray (n,) of int or None
        Absorbed unit codes (``None``: no within transformation).
    weights : ndarray (n,) or None
        Analytic weights of the within transformation and of the fit.
    assignment_units : ndarray (n,) of int or None
        ``"did"``: units of assignment whose maximum of ``z`` is the group indicator.
    periods : ndarray (n,) of int or None
        ``"event_study"``: period codes.
    event_times : tuple of int
        ``"event_study"``: the event times of the columns of ``V`` (reference period omitted).
    window : tuple of int or None
        ``"event_study"``: event times outside ``[lo, hi]`` are binned into the end points.

    Notes
    -----
    The within transformation is the unit-mean operator :math:`M = I - U(U'WU)^{-1}U'W` (``U`` the unit
    indicators, ``W`` the weights), applied to a whole batch of draws as two sparse products; by
    Frisch-Waugh-Lovell (Frisch and Waugh 1933; Lovell 1963) the coefficients and residuals of
    :math:`My` on :math:`M[V(z), F]` are those of the dummy-variable regression, and the estimator's ``LinearFit``
    is this transformed fit (:func:`evalkit.estimators.twfe.twfe`). Re-drawing a DiD assignment re-draws the
    group, so the treatment regressor is ``g x post`` (Fisher 1935; for clustered DiD randomization inference see
    MacKinnon and Webb 2020, J. Econometrics 218(2)).
    """

    estimator: str
    fixed: np.ndarray = field(repr=False)
    varying_columns: tuple[int, ...]
    target: int
    units: np.ndarray | None = field(default=None, repr=False)
    weights: np.ndarray | None = field(default=None, repr=False)
    assignment_units: np.ndarray | None = field(default=None, repr=False)
    periods: np.ndarray | None = field(default=None, repr=False)
    event_times: tuple[int, ...] = ()
    window: tuple[int, int] | None = None
    _demean: tuple[sparse.csr_matrix, sparse.csr_matrix] | None = field(init=False, repr=False)

    def __post_init__(self) -> None:
        check_option("estimator", self.estimator, _DID_ESTIMATORS)
        if self.target not in self.varying_columns:
            raise EstimationError(
                f"target={self.target} must be one of the treatment-dependent columns {self.varying_columns}."
            )
        demean = None if self.units is None else _unit_mean_operator(self.units, self.weights)
        object.__setattr__(self, "_demean", demean)

    @property
    def n_columns(self) -> int:
        """Number of regressors ``k = m + p`` (absorbed unit effects not counted)."""
        return len(self.varying_columns) + self.fixed.shape[1]

    @property
    def fixed_columns(self) -> tuple[int, ...]:
        """Positions of the columns of ``F`` in the estimator's design matrix."""
        varying = set(self.varying_columns)
        return tuple(j for j in range(self.n_columns) if j not in varying)

    def within(self, values: np.ndarray) -> np.ndarray:
        """``M values`` for ``values`` of shape (n, c): each unit's (weighted) mean subtracted; a new array."""
        values = np.asarray(values, dtype=np.float64)
        if self._demean is None:
            return values.copy()
        expand, collect = self._demean
        return values - expand @ (collect @ values)

    def varying(self, Z: np.ndarray) -> np.ndarray:
        """Untransformed treatment-dependent columns ``V(z)`` for treatment regressors ``Z`` (B, n): (B, n, m)."""
        Z = np.asarray(Z, dtype=np.float64)
        if self.estimator == "twfe":
            return Z[:, :, None].copy()
        if self.estimator == "did":
            if self.assignment_units is None:
                return Z[:, :, None].copy()
            g = _group_max(Z, self.assignment_units)
            return np.stack([g, Z], axis=2)
        assert self.periods is not None and self.units is not None and self.window is not None  # set by the builder
        periods = self.periods.astype(np.float64)
        first = _group_min(np.where(Z > 0, periods[None, :], np.inf), self.units)
        rel = periods[None, :] - first
        treated = np.isfinite(rel)
        lo, hi = self.window
        binned = np.clip(np.where(treated, rel, 0.0), lo, hi)
        ks = np.asarray(self.event_times, dtype=np.float64)
        return (treated[:, :, None] & (binned[:, :, None] == ks)).astype(np.float64)

    def matrices(self, Z: np.ndarray) -> np.ndarray:
        """The estimator's (within-transformed, unweighted) design matrices for treatment regressors ``Z``: (B, n, k).

        Equal, to rounding, to ``fit.X`` of the estimator run on a sample whose treatment is ``Z[b]``.
        """
        V = self.varying(Z)
        B, n, m = V.shape
        X = np.empty((B, n, self.n_columns))
        Vt = self.within(V.transpose(1, 0, 2).reshape(n, B * m)).reshape(n, B, m)
        X[:, :, list(self.varying_columns)] = Vt.transpose(1, 0, 2)
        X[:, :, list(self.fixed_columns)] = self.within(self.fixed)[None]
        return X


def _sorted_starts(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(order sorting the codes, start of each code's run in that order, dense code 0..G-1 of each row)."""
    _, dense = np.unique(np.asarray(codes), return_inverse=True)
    dense = dense.reshape(-1)
    order = np.argsort(dense, kind="stable")
    s = dense[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    return order, starts, dense


def _group_max(Z: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """For each row of ``Z`` (B, n), the maximum over the columns sharing a code, broadcast back: (B, n)."""
    order, starts, dense = _sorted_starts(codes)
    return np.maximum.reduceat(Z[:, order], starts, axis=1)[:, dense]


def _group_min(Z: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """For each row of ``Z`` (B, n), the minimum over the columns sharing a code, broadcast back: (B, n)."""
    order, starts, dense = _sorted_starts(codes)
    return np.minimum.reduceat(Z[:, order], starts, axis=1)[:, dense]


def _did_design(estimator: str, sample: EstimationSample) -> DiDTreatmentDesign | None:
    """The :class:`DiDTreatmentDesign` of ``estimator`` on ``sample`` (observed target), or ``None``."""
    n = sample.n_obs
    if estimator == "did":
        if sample.post is None:
            return None
        post = np.asarray(sample.post, dtype=np.float64)
        blocked = sample.blocks is not None and np.unique(sample.blocks).size > 1
        extra = [sample.covariates]
        if blocked:
            D = block_dummies(sample.blocks)[0]
            extra += [D, D * post[:, None]]
        rest = np.column_stack(extra) if extra else np.empty((n, 0))
        if sample.assignment_units is None:
            if sample.group is None:
                return None
            g = np.asarray(sample.group, dtype=np.float64)
            fixed = np.column_stack([np.ones(n), g, post, rest])
            return DiDTreatmentDesign("did", fixed, (3,), 3, weights=sample.weights)
        fixed = np.column_stack([np.ones(n), post, rest])
        return DiDTreatmentDesign(
            "did", fixed, (1, 3), 3, weights=sample.weights, assignment_units=np.asarray(sample.assignment_units)
        )
    if sample.units is None or sample.periods is None:
        return None
    P = period_effects(sample)[0]
    fixed = np.column_stack([sample.covariates, P])
    units = np.asarray(sample.units)
    if estimator == "twfe":
        return DiDTreatmentDesign("twfe", fixed, (0,), 0, units=units, weights=sample.weights)
    if sample.event_window is None:
        return None  # the window would be read from each draw's event times: leave it to the per-draw loop
    lo, hi = sample.event_window
    ref = sample.reference_period
    if not lo <= ref <= hi:
        return None
    ks = tuple(k for k in range(lo, hi + 1) if k != ref)
    if not ks:
        return None
    post = [j for j, k in enumerate(ks) if k >= 0]
    return DiDTreatmentDesign(
        "event_study",
        fixed,
        tuple(range(len(ks))),
        post[0] if post else 0,
        units=units,
        weights=sample.weights,
        periods=np.asarray(sample.periods),
        event_times=ks,
        window=(int(lo), int(hi)),
    )


@dataclass(frozen=True)
class _FixedPart:
    """What does not change between draws, in the (weighted, transformed, cluster-sorted) space of the fit."""

    Q: np.ndarray  # (n, p) orthonormal basis of sqrt(w) M F
    y: np.ndarray  # (n, r) sqrt(w) M y with the fixed columns projected out
    sw: np.ndarray | None
    order: np.ndarray | None  # rows sorted by cluster (CR types), else None
    starts: np.ndarray | None
    basis: np.ndarray | None  # (n, s): rows of cluster g hold P_g = U_g S_g, with Q_g Q_g' = P_g P_g' (CR2)
    basis_gram: np.ndarray | None  # (G, s, s): P_g'P_g (CR2)
    basis_y: np.ndarray | None  # (G, s, r): P_g'y_g (CR2)


def _cluster_bases(Q: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per cluster, ``P_g = U_g S_g`` from the thin SVD of ``Q_g`` (rank ``s_g``), zero-padded to ``s = max s_g``.

    ``P_g P_g' = Q_g Q_g'``, so ``P_g`` can stand in for ``Q_g`` in the cluster's block of the hat matrix with
    ``s_g <= min(n_g, p)`` columns (one column per cluster for block x period effects of a two-period panel)."""
    n, p = Q.shape
    ends = np.r_[starts[1:], n]
    pieces = []
    for a, b in zip(starts, ends, strict=True):
        if p == 0:
            pieces.append(np.empty((b - a, 0)))
            continue
        U, sv, _ = np.linalg.svd(Q[a:b], full_matrices=False)
        keep = sv > 1e-13 * max(1.0, float(sv[0]) if sv.size else 0.0)
        pieces.append(U[:, keep] * sv[keep])
    s = max(piece.shape[1] for piece in pieces)
    basis = np.zeros((n, s))
    for a, piece in zip(starts, pieces, strict=True):
        basis[a : a + piece.shape[0], : piece.shape[1]] = piece
    return basis


def _fixed_part(design: DiDTreatmentDesign, Y: np.ndarray, cov_type: str, clusters: np.ndarray | None) -> _FixedPart:
    n = Y.shape[0]
    sw = None if design.weights is None else np.sqrt(np.asarray(design.weights, dtype=np.float64))
    F = design.within(design.fixed)
    Yt = design.within(Y)
    if sw is not None:
        F, Yt = F * sw[:, None], Yt * sw[:, None]
    if F.shape[1]:
        norms = np.linalg.norm(F, axis=0)
        Q, R = np.linalg.qr(F / np.where(norms > 0, norms, 1.0))
        bad = np.flatnonzero(np.abs(np.diag(R)) < 1e-10)
        if bad.size:
            cols = ", ".join(str(design.fixed_columns[j]) for j in bad)
            raise EstimationError(
                f"the columns that do not depend on treatment are collinear after absorbing the fixed effects "
                f"(design matrix column(s) {cols}); drop the redundant covariates."
            )
    else:
        Q = np.empty((n, 0))
    y = Yt - Q @ (Q.T @ Yt)
    order = starts = basis = basis_gram = basis_y = None
    groups = _groups_for(cov_type, clusters)  # validates the clusters / cov_type pairing
    if groups is not None:
        order, starts, _ = _sorted_starts(np.asarray(clusters))
        Q, y = Q[order], y[order]
        if cov_type == "CR2":
            basis = _cluster_bases(Q, starts)
            basis_gram = np.add.reduceat(basis[:, :, None] * basis[:, None, :], starts, axis=0)
            basis_y = np.add.reduceat(basis[:, :, None] * y[:, None, :], starts, axis=0)
    return _FixedPart(Q=Q, y=y, sw=sw, order=order, starts=starts, basis=basis, basis_gram=basis_gram, basis_y=basis_y)


def fit_did_design(
    design: DiDTreatmentDesign,
    Z: np.ndarray,
    Y: np.ndarray,
    *,
    cov_type: str,
    weights: np.ndarray | None = None,
    clusters: np.ndarray | None = None,
) -> BatchFit:
    """Fit a difference-in-differences estimator under every treatment regressor in ``Z``, by Frisch-Waugh-Lovell.

    Parameters
    ----------
    design : DiDTreatmentDesign
        From :func:`treatment_design` (``"did"``, ``"twfe"`` or ``"event_study"``).
    Z : ndarray (B, n)
        Treatment regressors (re-drawn group x post), 0/1 or bool.
    Y : ndarray (n,) or (n, r)
        Response columns shared by all draws; transformed here (the within transformation is idempotent, so an
        already transformed outcome such as ``fit.y`` may be passed).
    cov_type : {"classical", "HC0", "HC1", "HC2", "HC3", "CR0", "CR1", "CR2"}
        Covariance type, as in :func:`evalkit.inference.sandwich.sandwich` applied to the estimator's
        (within-transformed) fit.
    weights : ndarray (n,), optional
        Analytic weights; must be the design's (``sample.weights``).
    clusters : ndarray (n,), optional
        Cluster labels (CR types only).

    Returns
    -------
    BatchFit
        Coefficient ``design.target`` and its sandwich variance per draw (NaN for draws whose treatment-dependent
        columns are collinear with the rest, e.g. an empty event time).

    Notes
    -----
    Write the (weighted, within-transformed) regressors as :math:`[V, F]` with :math:`V` the ``m``
    treatment-dependent columns. Once: :math:`Q` = an orthonormal basis of :math:`F` (QR) and
    :math:`\\tilde y = M_Q y`. Per draw: :math:`\\tilde V = M_Q M V` (the within transformation :math:`M` is one
    sparse product with the unit-mean operator, :math:`M_Q` one dense product, for the whole batch),
    :math:`D = \\tilde V'\\tilde V`, :math:`\\hat\\beta_V = D^{-1}\\tilde V'\\tilde y`, residuals
    :math:`e = \\tilde y - \\tilde V\\hat\\beta_V` (Frisch and Waugh 1933; Lovell 1963). Since
    :math:`[\\tilde V, Q]` spans the column space of the full design and :math:`[\\tilde V, Q]'[\\tilde V, Q] =
    \\operatorname{diag}(D, I)`, the row of :math:`(X'X)^{-1}X'` of the target is :math:`a = \\tilde V D^{-1}e_t`,
    the leverages are :math:`h_{ii} = \\lVert q_i\\rVert^2 + \\tilde v_i'D^{-1}\\tilde v_i`, and the CR2
    adjustment :math:`A_g = (I - H_{gg})^{-1/2} = I + X_g\\Phi_g X_g'` (Bell and McCaffrey 2002; Pustejovsky and
    Tipton 2018) needs only the per-cluster :math:`k \\times k` cross products
    :math:`[\\tilde V_g'\\tilde V_g, \\tilde V_g'Q_g; Q_g'\\tilde V_g, Q_g'Q_g]`, with :math:`Q_g'Q_g` and
    :math:`Q_g'\\tilde y_g` fixed. The variances are those of :func:`batch_least_squares` (hence of
    :func:`evalkit.inference.sandwich.sandwich`) on the estimator's fit, with :math:`k` = number of explicit
    columns (absorbed unit effects not counted, as in that fit). Cost per draw :math:`O(n m (p + r) + G k^3)`
    instead of refitting and re-running the sandwich.
    """
    check_option("cov_type", cov_type, _COV_TYPES)
    Z = np.atleast_2d(np.asarray(Z, dtype=np.float64))
    B, n = Z.shape
    k = design.n_columns
    if design.fixed.shape[0] != n:
        raise EstimationError(f"Z has {n} columns but the design has {design.fixed.shape[0]} rows; they must match.")
    if n <= k:
        raise EstimationError(f"the model has no residual degrees of freedom: {n} observations for {k} coefficients.")
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim == 1:
        Y = Y[:, None]
    if Y.ndim != 2 or Y.shape[0] != n:
        raise EstimationError(f"Y must have shape (n, r) with n = {n} rows; got shape {Y.shape}.")
    same = (weights is None and design.weights is None) or (
        weights is not None
        and design.weights is not None
        and np.array_equal(np.asarray(weights, dtype=np.float64), design.weights)
    )
    if not same:
        raise EstimationError(
            "weights must be the design's own (sample.weights): the within transformation was built with them."
        )
    fixed = _fixed_part(design, Y, cov_type, clusters)
    m = len(design.varying_columns)
    r = Y.shape[1]
    s = 0 if fixed.basis is None else fixed.basis.shape[1]
    G = 0 if fixed.starts is None else fixed.starts.size
    per_draw = 8 * (n * (m * (s + m + r + 5) + 3 * r + 3) + G * (4 * (m + s) ** 2 + 4 * (m + s) * r))
    step = max(1, _MEMORY_BUDGET // per_draw)
    coef = np.empty((B, r))
    gram = np.empty((B, r, r))
    for start in range(0, B, step):
        stop = min(B, start + step)
        coef[start:stop], gram[start:stop] = _solve_did_chunk(design, fixed, Z[start:stop], cov_type, n, k)
    return BatchFit(coef=coef, gram=gram, cov_type=cov_type)


def _solve_did_chunk(
    design: DiDTreatmentDesign, fixed: _FixedPart, Z: np.ndarray, cov_type: str, n: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    V = design.varying(Z)  # (b, n, m)
    b, _, m = V.shape
    t = design.varying_columns.index(design.target)
    Q, y, sw = fixed.Q, fixed.y, fixed.sw
    r = y.shape[1]
    V2 = V.transpose(1, 0, 2).reshape(n, b * m)
    if sw is not None:
        raw = np.einsum("nc,n->c", V2 * V2, sw * sw).reshape(b, m)
    else:
        raw = np.einsum("nc,nc->c", V2, V2).reshape(b, m)
    V2 = design.within(V2)
    if sw is not None:
        V2 *= sw[:, None]
    if fixed.order is not None:
        V2 = V2[fixed.order]
    if Q.shape[1]:
        V2 -= Q @ (Q.T @ V2)
    Vq = V2.reshape(n, b, m)
    D = np.einsum("nbi,nbj->bij", Vq, Vq)
    scale = np.sqrt(raw)
    scale[scale == 0] = 1.0
    ev = np.linalg.eigvalsh(D / (scale[:, :, None] * scale[:, None, :]))
    ok = ev[:, 0] > _SINGULAR_TOL
    eye = np.eye(m)
    Dinv = np.linalg.inv(np.where(ok[:, None, None], D, eye))
    Dinv = 0.5 * (Dinv + np.swapaxes(Dinv, 1, 2))
    beta = Dinv @ (V2.T @ y).reshape(b, m, r)  # (b, m, r)
    coef = beta[:, t, :].copy()
    good = ok.copy()
    if cov_type == "CR2":
        g = _did_cr2(fixed, Vq, beta, Dinv, t)
        g = 0.5 * (g + np.swapaxes(g, 1, 2))
        coef[~ok] = np.nan
        g[~good] = np.nan
        return coef, g
    fitted = Vq[:, :, 0, None] * beta[None, :, 0, :] if m == 1 else np.einsum("nbi,bir->nbr", Vq, beta)
    E = y[:, None, :] - fitted  # (n, b, r)
    row = Dinv[:, t, :]  # (b, m)
    a = Vq[:, :, 0] * row[None, :, 0] if m == 1 else np.einsum("nbi,bi->nb", Vq, row)
    if cov_type == "classical":
        g = np.einsum("nbr,nbs->brs", E, E) * (Dinv[:, t, t] / (n - k))[:, None, None]
    elif cov_type in ("HC0", "HC1", "HC2", "HC3"):
        U = a[:, :, None] * E
        if cov_type in ("HC2", "HC3"):
            h = np.einsum("nj,nj->n", Q, Q)[:, None] + np.einsum("nbi,bij,nbj->nb", Vq, Dinv, Vq, optimize=True)
            one_minus = 1.0 - h
            good &= (one_minus >= _LEVERAGE_TOL).all(axis=0)
            one_minus = np.where(one_minus >= _LEVERAGE_TOL, one_minus, 1.0)
            U = U / (np.sqrt(one_minus) if cov_type == "HC2" else one_minus)[:, :, None]
        g = np.einsum("nbr,nbs->brs", U, U)
        if cov_type == "HC1":
            g = g * (n / (n - k))
    else:
        starts = fixed.starts
        assert starts is not None  # _fixed_part sorted the rows by cluster for the CR types
        G = starts.size
        Ug = np.add.reduceat(a[:, :, None] * E, starts, axis=0)  # (G, b, r)
        g = np.einsum("gbr,gbs->brs", Ug, Ug)
        if cov_type == "CR1":
            g = g * (G / (G - 1) * (n - 1) / (n - k))
    g = 0.5 * (g + np.swapaxes(g, 1, 2))
    coef[~ok] = np.nan
    g[~good] = np.nan
    return coef, g


def _did_cr2(fixed: _FixedPart, Vq: np.ndarray, beta: np.ndarray, Dinv: np.ndarray, t: int) -> np.ndarray:
    """CR2 Gram matrices (b, r, r) from per-cluster cross products of ``[V~_g, P_g]`` (see :func:`fit_did_design`).

    ``H_gg = V~_g D^{-1} V~_g' + P_g P_g'``, so the adjustment is computed in the ``m + s`` dimensional space of
    ``X_g = [V~_g, P_g]`` with ``(X'X)^{-1}`` replaced by ``diag(D^{-1}, I_s)``; the score of the target is
    ``e_t'D^{-1} V~_g'A_g e_g`` with ``V~_g'A_g e_g`` the first ``m`` rows of ``X_g'e_g + C_g Phi_g X_g'e_g``.
    """
    starts, P, y = fixed.starts, fixed.basis, fixed.y
    assert starts is not None and P is not None and fixed.basis_gram is not None and fixed.basis_y is not None
    _, b, m = Vq.shape
    s = P.shape[1]
    r = y.shape[1]
    k = m + s
    G = starts.size
    A = np.add.reduceat(Vq[:, :, :, None] * Vq[:, :, None, :], starts, axis=0)  # (G, b, m, m)
    W = np.add.reduceat(Vq[:, :, :, None] * y[:, None, None, :], starts, axis=0)  # (G, b, m, r)
    cross = np.empty((b, G, k, k))
    cross[:, :, :m, :m] = A.transpose(1, 0, 2, 3)
    XE = np.empty((b, G, k, r))
    XE[:, :, :m, :] = (W - A @ beta[None]).transpose(1, 0, 2, 3)  # V~_g'e_g
    if s:
        S = np.add.reduceat(P[:, None, :, None] * Vq[:, :, None, :], starts, axis=0)  # (G, b, s, m)
        St = S.transpose(1, 0, 2, 3)  # (b, G, s, m)
        cross[:, :, m:, :m] = St
        cross[:, :, :m, m:] = np.swapaxes(St, 2, 3)
        cross[:, :, m:, m:] = fixed.basis_gram[None]
        XE[:, :, m:, :] = fixed.basis_y[None] - St @ beta[:, None]  # P_g'e_g
    L = np.zeros((b, k, k))
    L[:, :m, :m] = np.linalg.cholesky(Dinv)
    L[:, m:, m:] = np.eye(s)
    phi = _cr2_phi(cross, L)
    adjusted = XE[:, :, :m, :] + cross[:, :, :m, :] @ (phi @ XE)  # V~_g' A_g e_g
    U = np.einsum("bi,bgir->bgr", Dinv[:, t, :], adjusted)
    return np.swapaxes(U, 1, 2) @ U


def _checked_did_design(estimator: str, sample: EstimationSample, fit: LinearFit | None) -> DiDTreatmentDesign | None:
    design = _did_design(estimator, sample)
    if design is None or fit is None:
        return design
    if fit.X.shape != (sample.n_obs, design.n_columns) or fit.target not in design.varying_columns:
        return None
    design = replace(design, target=fit.target)
    rebuilt = design.matrices(np.asarray(sample.treatment)[None, :])[0]
    tol = 1e-12 * max(1.0, float(np.abs(fit.X).max(initial=0.0)))
    if not np.allclose(rebuilt, fit.X, rtol=0.0, atol=tol):
        return None
    return design
