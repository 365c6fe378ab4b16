"""Batched least squares: one estimator fitted to many treatment vectors at once, with sandwich standard errors.

Randomization inference re-runs the same estimator under thousands of re-drawn assignments. For the trial
estimators only the treatment column (and its interactions) changes between draws, so the design matrices of a
batch of draws are stacked into a ``(B, n, k)`` array and solved with batched BLAS (``numpy.matmul`` on stacks)
instead of a Python loop over draws.

Public entry points:

* :func:`treatment_design` -- how an estimator builds its regressors from a treatment vector, or ``None`` for an
  estimator this module does not know (the caller then loops over draws);
* :func:`batch_least_squares` -- coefficient of interest and its sandwich variance for a stack of design
  matrices and one or more response columns;
* :func:`batch_estimates` -- the two combined: estimates and standard errors of a named estimator under a stack
  of treatment vectors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from evalkit._validation import check_option
from evalkit.errors import EstimationError, InferenceError
from evalkit.estimators._linear import LinearFit
from evalkit.estimators._sample import EstimationSample, block_dummies, weighted_mean

__all__ = [
    "BatchFit",
    "TreatmentDesign",
    "batch_estimates",
    "batch_least_squares",
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
    design: TreatmentDesign,
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
    design : TreatmentDesign
        How the regressors depend on treatment (from :func:`treatment_design`).
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


def treatment_design(estimator: str, sample: EstimationSample, fit: LinearFit | None = None) -> TreatmentDesign | None:
    """How ``estimator`` builds its regressors from the treatment, or ``None`` if this module does not know it.

    Parameters
    ----------
    estimator : str
        ``"difference_in_means"``, ``"ols"``, ``"lin"`` or ``"change"``; anything else returns ``None``.
    sample : EstimationSample
        The estimation sample.
    fit : LinearFit, optional
        The estimator's fit on the observed treatment. When given, the rebuilt design matrix must equal
        ``fit.X`` (to 1e-12) and ``fit.target`` must be 1, otherwise ``None`` is returned so that the caller
        falls back to re-running the estimator itself.

    Notes
    -----
    Mirrors :mod:`evalkit.estimators.difference_in_means` and :mod:`evalkit.estimators.regression`: the
    difference in means is ``[1, z]`` (blocked: ``[1, z, D_c, z D_c]`` with centred block dummies), ``ols`` and
    ``change`` are ``[1, z, X, D]`` and ``lin`` is ``[1, z, W_c, z W_c]`` with ``W = [X, D]`` centred at its
    (weighted) mean. The centring does not depend on treatment, so only ``z`` changes between draws.
    """
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
    estimator : {"difference_in_means", "ols", "lin", "change"}
        The estimator (as in :func:`evalkit.estimators.fit_estimator`).
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
        If ``estimator`` is not one of the four trial estimators, or ``change`` has no baseline.
    """
    design = treatment_design(estimator, sample)
    if design is None:
        raise EstimationError(
            f"estimator={estimator!r} has no batched form for this sample; batched estimation covers "
            "'difference_in_means' (without covariates), 'ols', 'lin' (with covariates or blocks) and 'change'."
        )
    y = sample.y
    if estimator == "change":
        if sample.baseline is None:
            raise EstimationError("estimator='change' needs the outcome's baseline; pass baseline= to estimate().")
        y = sample.y - sample.baseline
    return fit_treatment_design(
        design, np.atleast_2d(Z), y[:, None], cov_type=cov_type, weights=sample.weights, clusters=clusters
    )
