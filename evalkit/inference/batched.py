"""Batched least squares and sandwich variances: one estimator fitted to many treatment vectors at once.

Randomization inference re-runs the same estimator under thousands of re-drawn assignments. Every estimator
describes how its design matrix depends on the treatment vector (its batched form,
:meth:`evalkit.estimators.Estimator.batch_design`); this module fits a whole batch of draws with that form:
the design matrices are stacked into a ``(B, n, k)`` array and solved with batched BLAS (``numpy.matmul`` on
stacks), or, when only the treatment-dependent columns change, the fixed columns (and absorbed unit effects) are
projected out once (Frisch and Waugh 1933; Lovell 1963).

Public entry points:

* :func:`fit_treatment_design` -- coefficient of interest and its sandwich variance under a stack of treatment
  vectors, for a :class:`~evalkit.estimators.TreatmentDesign` or a :class:`~evalkit.estimators.DiDTreatmentDesign`
  (:func:`fit_did_design`);
* :func:`batch_least_squares` -- the same for a stack of explicit design matrices and one or more responses;
* :func:`batch_estimates` -- estimates and standard errors of a registered estimator under a stack of treatment
  vectors.

The sandwich formulas are those of :func:`evalkit.inference.sandwich.sandwich`, restricted to one coefficient.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from evalkit._linear_algebra import (
    CONDITION_LIMIT,
    acceptable_condition,
    centre_columns,
    cr2_phi,
    design_condition_number,
)
from evalkit._validation import check_option
from evalkit.errors import EstimationError, InferenceError
from evalkit.estimators import EstimationSample, Estimator, get_estimator
from evalkit.estimators.treatment_design import DiDTreatmentDesign, TreatmentDesign, sorted_starts
from evalkit.inference.sandwich import (
    NO_CORRECTION,
    CovType,
    SmallSampleCorrection,
    coefficient_meat,
    cr2_adjusted_scores,
)

__all__ = [
    "BatchFit",
    "batch_estimates",
    "batch_least_squares",
    "check_residual_df",
    "did_design_fitter",
    "fit_did_design",
    "fit_treatment_design",
    "groups_for",
    "target_gram",
    "treatment_design_fitter",
]

CLUSTER_TYPES = ("CR0", "CR1", "CR2")
#: A draw whose condition number estimated from its (centred, unit-scaled) Gram matrix exceeds this share of
#: CONDITION_LIMIT is checked with the SVD of its design (design_condition_number): near the limit the eigenvalues
#: of the Gram matrix are rounding noise (kappa^2 ~ 1/eps), and the decision must be condition_design's.
_RECHECK_SHARE = 1e-3
MEMORY_BUDGET = 64 * 2**20  # bytes of float64 work arrays per chunk of draws
_CLUSTER_CHUNK = 2**13  # draws x clusters per chunk of the cluster-level path


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


def check_residual_df(n: int, k: int) -> None:
    """Raise unless a model with ``n`` observations and ``k`` coefficients has residual degrees of freedom.

    Raises
    ------
    EstimationError
        If :math:`n - k \\le 0`: every sandwich variance divides by, or needs, :math:`n - k > 0`
        (MacKinnon and White 1985, J. Econometrics 29(3)).
    """
    if n <= k:
        raise EstimationError(f"the model has no residual degrees of freedom: {n} observations for {k} coefficients.")


def _defined_draws(estimate: np.ndarray, exact: Callable[[int], float]) -> np.ndarray:
    """Which draws have an acceptable design, by the one rule of :func:`evalkit._linear_algebra.condition_design`.

    ``estimate`` (b,) is an estimate of (or bounds on) each draw's condition number; where it is within
    :data:`_RECHECK_SHARE` of :data:`~evalkit._linear_algebra.CONDITION_LIMIT` (or not finite), ``exact(i)``
    computes the condition number of draw ``i`` from its design matrix
    (:func:`~evalkit._linear_algebra.design_condition_number`), so that a draw is undefined exactly when the
    per-draw fit would refuse it.
    """
    ok = acceptable_condition(estimate)
    for i in np.flatnonzero(~(np.isfinite(estimate) & (estimate <= _RECHECK_SHARE * CONDITION_LIMIT))):
        ok[i] = bool(acceptable_condition(exact(int(i))))
    return ok


def _schur_condition_bounds(
    fixed_eigenvalues: np.ndarray, schur_min: np.ndarray, m: int
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds on the condition number of ``[A, V]`` from ``A``'s and a Schur complement's.

    ``A`` (fixed, Gram eigenvalues ``fixed_eigenvalues``) and ``V`` (``m`` columns of unit norm) are the
    centred, unit-scaled columns; ``schur_min`` (b,) is the smallest eigenvalue of :math:`S = V'M_AV`. With
    :math:`C = [A, V]'[A, V]`: :math:`\\lambda_{min}(C) \\le \\lambda_{min}(S)` and :math:`\\lambda_{max}(C) \\ge
    \\max(1, \\lambda_{max}(A'A))` (interlacing), and from the block inverse :math:`\\lVert C^{-1}\\rVert \\le
    1/\\lambda_{min}(A'A) + (1 + \\sqrt{m/\\lambda_{min}(A'A)})^2/\\lambda_{min}(S)` with
    :math:`\\lambda_{max}(C) \\le \\lambda_{max}(A'A) + m` (Horn and Johnson 2013, Matrix Analysis, 2nd ed.,
    sections 0.7 and 4.3).
    """
    lo_a = float(fixed_eigenvalues[0]) if fixed_eigenvalues.size else np.inf
    hi_a = float(fixed_eigenvalues[-1]) if fixed_eigenvalues.size else 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        safe = np.where(schur_min > 0, schur_min, np.nan)
        lower = np.sqrt(max(1.0, hi_a) / safe)
        upper = np.sqrt((hi_a + m) * (1.0 / lo_a + (1.0 + np.sqrt(m / lo_a)) ** 2 / safe))
    lower = np.where(np.isfinite(lower), lower, np.inf)
    upper = np.where(np.isfinite(upper), upper, np.inf)
    return lower, upper


def _bounded_draws(lower: np.ndarray, upper: np.ndarray, exact: Callable[[int], float]) -> np.ndarray:
    """:func:`_defined_draws` from bounds: accepted below, refused above, the SVD in between."""
    ok = acceptable_condition(upper)
    refused = ~acceptable_condition(lower)
    for i in np.flatnonzero(~ok & ~refused):
        ok[i] = bool(acceptable_condition(exact(int(i))))
    return ok


def _centre_scale_stack(X: np.ndarray, w: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Per draw, the centring and unit scaling of :func:`evalkit._linear_algebra.condition_design`, weighted.

    Returns ``(Z, norms)``: :math:`Z_b = W^{1/2}X_bT_{0b}D_b^{-1}` (b, n, k) and :math:`D_b` (b, k). When a column is
    constant and nonzero in every draw (the intercept), every column that is not constant in a draw is centred at
    its weighted mean in two passes; centring only moves the intercept's coefficient, scaling column ``j`` divides
    its coefficient by ``D_bj``, and everything else of the fit (residuals, leverages, the CR2 adjustment) does not
    depend on the basis.
    """
    first = X[:, :1, :]
    const = (X == first).all(axis=1)  # (b, k)
    intercept = const.all(axis=0) & (first[:, 0, :] != 0).all(axis=0)
    Xc = X
    if intercept.any():
        total = X.shape[1] if w is None else float(w.sum())
        m1 = (X.sum(axis=1) if w is None else np.einsum("n,bnk->bk", w, X)) / total
        R = X - m1[:, None, :]
        m2 = (R.sum(axis=1) if w is None else np.einsum("n,bnk->bk", w, R)) / total
        Xc = np.where(const[:, None, :], X, R - m2[:, None, :])
    Xt = Xc if w is None else Xc * np.sqrt(w)[None, :, None]
    norms = np.linalg.norm(Xt, axis=1)
    norms[norms == 0] = 1.0
    return Xt / norms[:, None, :], norms


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


def groups_for(cov_type: str, clusters: np.ndarray | None) -> np.ndarray | None:
    """The one-hot (G, n) cluster matrix for the CR types, ``None`` for the others.

    Parameters
    ----------
    cov_type : str
        One of :data:`CovType`.
    clusters : ndarray (n,), optional
        Cluster labels; required by the CR types and refused by the others.

    Returns
    -------
    ndarray (G, n) or None
        :math:`F_{gi} = 1` when observation :math:`i` is in cluster :math:`g`, so :math:`F u` sums scores within
        clusters (Liang and Zeger 1986, Biometrika 73(1)).

    Raises
    ------
    InferenceError
        If clusters are missing for a CR type, given for another type, or fewer than 2.
    """
    if cov_type in CLUSTER_TYPES:
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


#: The batched engine's name for :func:`evalkit.inference.sandwich.coefficient_meat`, the one copy of the HC/CR meat
#: (leverage weights, cluster sums, small-sample factors) that :func:`~evalkit.inference.sandwich.sandwich` uses too.
target_gram = coefficient_meat


def fit_treatment_design(
    design: TreatmentDesign | DiDTreatmentDesign,
    Z: np.ndarray,
    Y: np.ndarray,
    *,
    cov_type: str,
    weights: np.ndarray | None,
    clusters: np.ndarray | None,
    correction: SmallSampleCorrection = NO_CORRECTION,
    variance: bool = True,
) -> BatchFit:
    """Fit ``X(z) = [1, z, fixed, z * interacted]`` for every treatment vector in ``Z``.

    Parameters
    ----------
    design : TreatmentDesign or DiDTreatmentDesign
        How the regressors depend on treatment (:meth:`evalkit.estimators.Estimator.batch_design`); a
        :class:`DiDTreatmentDesign` is handed to :func:`fit_did_design`.
    Z : ndarray (B, n)
        Treatment vectors.
    Y : ndarray (n, r)
        Response columns shared by all draws.
    cov_type : str
        Covariance type (see :func:`batch_least_squares`).
    weights, clusters : ndarray (n,), optional
        Analytic weights; cluster labels for the CR types.
    correction : SmallSampleCorrection
        Parameters the estimator's fit estimated outside its design matrix (absorbed unit effects), counted by the
        HC1, CR1 and classical factors as in :func:`evalkit.inference.sandwich.sandwich`.
    variance : bool, default True
        False: coefficients only (``gram`` is NaN), for a statistic that does not use the variance (randomization
        inference with ``statistic="estimate"``). The collinearity rule is the same.

    Returns
    -------
    BatchFit
        Coefficient of the treatment (column 1) and its sandwich variance.

    Notes
    -----
    When no column is interacted with treatment (difference in means with or without blocks, ``ols``,
    ``change``), only the treatment column changes between draws and the fit uses Frisch-Waugh-Lovell (Frisch and
    Waugh 1933; Lovell 1963) through the engine of :func:`fit_did_design` (with no absorbed effects): the fixed
    columns are projected out once (a QR decomposition), each draw costs :math:`O(n p)`, cluster sums are segment
    sums over rows sorted by cluster once, and CR2 works in each cluster's :math:`(1 + s_g)`-dimensional span
    (:math:`s_g` = rank of the fixed columns within the cluster). Otherwise the design matrices of each chunk of
    draws are built and solved as in :func:`batch_least_squares` (the stack of all draws is never formed). Both
    give the numbers of :func:`evalkit.inference.sandwich.sandwich` to rounding.
    """
    return treatment_design_fitter(
        design, Y, cov_type=cov_type, weights=weights, clusters=clusters, correction=correction, variance=variance
    )(Z)


def treatment_design_fitter(
    design: TreatmentDesign | DiDTreatmentDesign,
    Y: np.ndarray,
    *,
    cov_type: str,
    weights: np.ndarray | None,
    clusters: np.ndarray | None,
    correction: SmallSampleCorrection = NO_CORRECTION,
    variance: bool = True,
) -> Callable[[np.ndarray], BatchFit]:
    """:func:`fit_treatment_design` as a function of the treatment vectors ``Z`` alone (B, n).

    What does not depend on the draws (the projection of the fixed columns, the cluster sort, the CR2 bases and
    cluster sums) is computed once here, not once per batch (:func:`did_design_fitter`). Parameters as in
    :func:`fit_treatment_design`.
    """
    if isinstance(design, DiDTreatmentDesign):
        return did_design_fitter(
            design, Y, cov_type=cov_type, weights=weights, clusters=clusters, correction=correction, variance=variance
        )
    Y = np.asarray(Y, dtype=np.float64)
    if design.interacted.shape[1] or Y.ndim != 2:
        check_option("cov_type", cov_type, CovType)
        n = design.fixed.shape[0]
        k = design.n_columns
        check_residual_df(n, k)

        def stacked(Z: np.ndarray) -> BatchFit:
            Z = np.asarray(Z, dtype=np.float64)
            return _least_squares_chunks(
                lambda start, stop: design.matrices(Z[start:stop]),
                Z.shape[0],
                n,
                k,
                Y,
                target=1,
                cov_type=cov_type,
                weights=weights,
                clusters=clusters,
                correction=correction,
            )

        return stacked
    return did_design_fitter(
        _projected_form(design, weights),
        Y,
        cov_type=cov_type,
        weights=weights,
        clusters=clusters,
        correction=correction,
        variance=variance,
    )


def _projected_form(design: TreatmentDesign, weights: np.ndarray | None) -> DiDTreatmentDesign:
    """``X(z) = [1, z, fixed]`` in the form of the Frisch-Waugh-Lovell engine of :func:`fit_did_design`.

    That engine fits ``X = M[V(z), F]``; a trial design without interacted columns is the case ``M = I`` (no
    absorbed effects), ``V(z) = [z]`` (the form ``"twfe"`` gives the treatment regressor) and ``F = [1, fixed]`` in
    column positions ``0, 2, 3, ...``: :meth:`DiDTreatmentDesign.matrices` rebuilds :meth:`TreatmentDesign.matrices`.
    """
    n = design.fixed.shape[0]
    fixed = np.column_stack([np.ones(n), np.asarray(design.fixed, dtype=np.float64)])
    w = None if weights is None else np.asarray(weights, dtype=np.float64)
    return DiDTreatmentDesign(estimator="twfe", fixed=fixed, varying_columns=(1,), target=1, weights=w)


def _chunk_size(n: int, k: int, r: int, cov_type: str) -> int:
    per_draw = 8 * n * (3 * k + 3 * r + (k * k + k * r if cov_type == "CR2" else 0))
    return max(1, MEMORY_BUDGET // max(per_draw, 1))


def _solve_chunk(
    X: np.ndarray,
    Y: np.ndarray,
    target: int,
    cov_type: str,
    sw: np.ndarray | None,
    starts: np.ndarray | None,
    correction: SmallSampleCorrection,
) -> tuple[np.ndarray, np.ndarray]:
    """One chunk of :func:`batch_least_squares`; for the CR types the rows are sorted by cluster (``starts``)."""
    B, n, k = X.shape
    r = Y.shape[-1]
    w = None if sw is None else sw * sw
    Xs, norms = _centre_scale_stack(X, w)  # condition_design's basis: same fit, same collinearity rule
    Yt = Y if sw is None else Y * sw[..., :, None]
    Qs, R = np.linalg.qr(Xs)  # (b, n, k), (b, k, k): a backward-stable solve, as condition_design's SVD
    sv = np.linalg.svd(R, compute_uv=False)  # the singular values of the centred, unit-scaled design
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = np.where(sv[:, -1] > 0, sv[:, 0] / sv[:, -1], np.inf)
    ok = _defined_draws(kappa, lambda i: design_condition_number(X[i], w))
    coef = np.full((B, r), np.nan)
    gram = np.full((B, r, r), np.nan)
    if not ok.any():
        return coef, gram
    scale = norms[:, target]
    if not ok.all():
        Qs, R, scale = Qs[ok], R[ok], scale[ok]
        Yt = Yt[ok] if Yt.ndim == 3 else Yt
    # In the orthonormal basis Q of the column space (X_s = QR): (Q'Q)^{-1} = I, the coefficients of Q are Q'y,
    # and the target's coefficient is c'Q'y with c = R^{-T} e_t (row t of R^{-1}); residuals, leverages and the CR2
    # adjustments do not depend on the basis.
    c = np.linalg.inv(R)[:, target, :]  # (b, k)
    theta = np.swapaxes(Qs, 1, 2) @ Yt  # (b, k, r)
    E = Yt - Qs @ theta  # (b, n, r)
    a = np.einsum("bnk,bk->bn", Qs, c)  # (b, n): row `target` of (X'X)^{-1} X'
    if cov_type == "CR2":
        assert starts is not None  # _cluster_order sorts the rows for the CR types
        cross = np.add.reduceat(Qs[:, :, :, None] * Qs[:, :, None, :], starts, axis=1)  # (b, G, k, k): Q_g'Q_g
        XE = np.add.reduceat(Qs[:, :, :, None] * E[:, :, None, :], starts, axis=1)  # (b, G, k, r): Q_g'e_g
        phi = cr2_phi(cross, np.broadcast_to(np.eye(k), (Qs.shape[0], k, k)))
        S = cr2_adjusted_scores(cross, phi, XE)  # Q_g' A_g e_g
        U = np.einsum("bk,bgkr->bgr", c, S)
        g = np.swapaxes(U, 1, 2) @ U
        g = 0.5 * (g + np.swapaxes(g, 1, 2))
    else:
        h = np.einsum("bnk,bnk->bn", Qs, Qs) if cov_type in ("HC2", "HC3") else None
        btt = np.einsum("bk,bk->b", c, c)
        g, good = target_gram(a, E, cov_type, n, k, btt, h, starts=starts, correction=correction)
        g[~good] = np.nan
    # column `target` was divided by its norm: its coefficient and variance are those of the original column times
    # the norm (centring moved only the intercept's coefficient)
    coef[ok] = np.einsum("bk,bkr->br", c, theta) / scale[:, None]
    gram[ok] = g / (scale * scale)[:, None, None]
    return coef, gram


def batch_least_squares(
    X: np.ndarray,
    Y: np.ndarray,
    *,
    target: int,
    cov_type: str,
    weights: np.ndarray | None = None,
    clusters: np.ndarray | None = None,
    correction: SmallSampleCorrection = NO_CORRECTION,
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
    correction : SmallSampleCorrection
        Parameters estimated outside ``X`` (absorbed fixed effects), counted by the HC1, CR1 and classical factors.

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

    Every draw is fitted on the basis of :func:`evalkit._linear_algebra.condition_design`: with an intercept the
    other columns are centred (two-pass, weighted), every column is scaled to unit weighted norm, and the
    least-squares problem is solved by a QR decomposition of that matrix, so that shifting or rescaling a
    covariate changes nothing. A draw is undefined (NaN) exactly when ``condition_design`` would refuse its design:
    condition number of the centred, unit-scaled design above
    :data:`~evalkit._linear_algebra.CONDITION_LIMIT` (:func:`~evalkit._linear_algebra.acceptable_condition`; draws
    near the limit are decided by :func:`~evalkit._linear_algebra.design_condition_number`).
    """
    check_option("cov_type", cov_type, CovType)
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
    return _least_squares_chunks(
        lambda start, stop: X[start:stop],
        B,
        n,
        k,
        Y,
        target=target,
        cov_type=cov_type,
        weights=weights,
        clusters=clusters,
        correction=correction,
    )


def _cluster_order(cov_type: str, clusters: np.ndarray | None) -> tuple[np.ndarray, np.ndarray] | None:
    """``(order, starts)`` sorting the rows by cluster for the CR types (validated as :func:`groups_for`), else None.

    Cluster sums are then segment sums (``np.add.reduceat`` over ``starts``): :math:`O(n)` per column instead of the
    :math:`O(Gn)` of a product with the one-hot cluster matrix.
    """
    if cov_type in CLUSTER_TYPES:
        if clusters is None:
            raise InferenceError(
                f"cov_type={cov_type!r} is cluster-robust and needs cluster labels; pass clusters=..., or use 'HC2'."
            )
        order, starts, _ = sorted_starts(np.asarray(clusters).reshape(-1))
        if starts.size < 2:
            raise InferenceError(
                f"cluster-robust standard errors need at least 2 clusters; found {starts.size}. Use 'HC2' or a design "
                "with more clusters."
            )
        return order, starts
    groups_for(cov_type, clusters)  # refuses clusters given to a non-cluster type
    return None


def _least_squares_chunks(
    make_X: Callable[[int, int], np.ndarray],
    B: int,
    n: int,
    k: int,
    Y: np.ndarray,
    *,
    target: int,
    cov_type: str,
    weights: np.ndarray | None,
    clusters: np.ndarray | None,
    correction: SmallSampleCorrection,
) -> BatchFit:
    """:func:`batch_least_squares` with the design matrices of draws ``start:stop`` built by ``make_X(start, stop)``
    chunk by chunk (memory: one chunk of work arrays, never the stack of all draws)."""
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim == 1:
        Y = Y[:, None]
    if Y.shape[-2] != n:
        raise EstimationError(f"Y has {Y.shape[-2]} rows but X has {n}; they must match.")
    r = Y.shape[-1]
    sw = None if weights is None else np.sqrt(np.asarray(weights, dtype=np.float64))
    sort = _cluster_order(cov_type, clusters)
    starts = None
    if sort is not None:  # rows sorted by cluster once; the fit does not depend on the order of the rows
        order, starts = sort
        Y = Y[..., order, :]
        sw = None if sw is None else sw[order]
    coef = np.empty((B, r))
    gram = np.empty((B, r, r))
    step = _chunk_size(n, k, r, cov_type)
    for start in range(0, B, step):
        stop = min(B, start + step)
        X = np.asarray(make_X(start, stop), dtype=np.float64)
        if sort is not None:
            X = X[:, sort[0], :]
        Yc = Y[start:stop] if Y.ndim == 3 else Y
        coef[start:stop], gram[start:stop] = _solve_chunk(X, Yc, target, cov_type, sw, starts, correction)
    return BatchFit(coef=coef, gram=gram, cov_type=cov_type)


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
    centred: bool  # the design has an intercept: condition_design centres the other columns
    eigenvalues: np.ndarray  # eigenvalues of the Gram matrix of the centred, unit-scaled fixed columns


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
    # condition_design's basis: with a constant column (the intercept of the 2x2 regression) the others are centred
    # (two-pass, weighted), then every column is scaled to unit weighted norm; the span, hence the fit, is the same
    centred = False
    if F.shape[1]:
        const = (F == F[:1]).all(axis=0)
        centred = bool((const & (F[0] != 0)).any())
        if centred and (~const).any():
            F[:, ~const] = centre_columns(F[:, ~const], design.weights)[0]
    if sw is not None:
        F, Yt = F * sw[:, None], Yt * sw[:, None]
    eigenvalues = np.empty(0)
    if F.shape[1]:
        norms = np.linalg.norm(F, axis=0)
        F = F / np.where(norms > 0, norms, 1.0)
        eigenvalues = np.linalg.eigvalsh(F.T @ F)
        Q, R = np.linalg.qr(F)
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
    sort = _cluster_order(cov_type, clusters)  # validates the clusters / cov_type pairing
    if sort is not None:
        order, starts = sort
        Q, y = Q[order], y[order]
        if cov_type == "CR2":
            basis = _cluster_bases(Q, starts)
            basis_gram = np.add.reduceat(basis[:, :, None] * basis[:, None, :], starts, axis=0)
            basis_y = np.add.reduceat(basis[:, :, None] * y[:, None, :], starts, axis=0)
    return _FixedPart(
        Q=Q,
        y=y,
        sw=sw,
        order=order,
        starts=starts,
        basis=basis,
        basis_gram=basis_gram,
        basis_y=basis_y,
        centred=centred,
        eigenvalues=eigenvalues,
    )


def fit_did_design(
    design: DiDTreatmentDesign,
    Z: np.ndarray,
    Y: np.ndarray,
    *,
    cov_type: str,
    weights: np.ndarray | None = None,
    clusters: np.ndarray | None = None,
    correction: SmallSampleCorrection = NO_CORRECTION,
    variance: bool = True,
) -> BatchFit:
    """Fit a difference-in-differences estimator under every treatment regressor in ``Z``, by Frisch-Waugh-Lovell.

    Parameters
    ----------
    design : DiDTreatmentDesign
        The batched form of ``"did"``, ``"twfe"`` or ``"event_study"``
        (:meth:`evalkit.estimators.Estimator.batch_design`).
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
    correction : SmallSampleCorrection
        The absorbed unit effects as the design counts them (``InferenceContext.correction``), for the HC1, CR1 and
        classical factors.
    variance : bool, default True
        False: coefficients only (``gram`` is NaN); same collinearity rule.

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
    :math:`Q_g'\\tilde y_g` fixed. The variances are those of
    :func:`batch_least_squares` (hence of
    :func:`evalkit.inference.sandwich.sandwich`) on the estimator's fit, with :math:`k` = number of explicit
    columns (absorbed unit effects not counted, as in that fit). Cost per draw :math:`O(n m (p + r) + G k^3)`
    instead of refitting and re-running the sandwich. :math:`F` is first put on the basis of
    :func:`evalkit._linear_algebra.condition_design` (centred when it holds an intercept, unit-scaled), and a draw is
    undefined exactly when ``condition_design`` would refuse its design (bounds on the condition number from the
    Schur complement :math:`D`, the SVD of the draw's design matrix where they do not decide).
    """
    Z = np.atleast_2d(np.asarray(Z, dtype=np.float64))
    if design.fixed.shape[0] != Z.shape[1]:
        raise EstimationError(
            f"Z has {Z.shape[1]} columns but the design has {design.fixed.shape[0]} rows; they must match."
        )
    fitter = did_design_fitter(
        design, Y, cov_type=cov_type, weights=weights, clusters=clusters, correction=correction, variance=variance
    )
    return fitter(Z)


def did_design_fitter(
    design: DiDTreatmentDesign,
    Y: np.ndarray,
    *,
    cov_type: str,
    weights: np.ndarray | None = None,
    clusters: np.ndarray | None = None,
    correction: SmallSampleCorrection = NO_CORRECTION,
    variance: bool = True,
) -> Callable[[np.ndarray], BatchFit]:
    """:func:`fit_did_design` as a function of ``Z`` alone, with the work that does not depend on the draws done once.

    The projection of the fixed columns, the cluster sort, the per-cluster bases of the CR2 adjustment and the
    cluster sums of the cluster-level path are computed here; the returned function fits batches of draws ``Z``
    (B, n), so that randomization inference pays for them once and not once per batch. Parameters as in
    :func:`fit_did_design`.
    """
    check_option("cov_type", cov_type, CovType)
    n = design.fixed.shape[0]
    k = design.n_columns
    check_residual_df(n, k)
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
    # X = [1, z, fixed] (no absorbed effects, V = [z]) with clusters: the draw's fit is a cluster-level function of
    # z whenever z is constant within clusters (checked chunk by chunk)
    cluster_level = (
        design.estimator == "twfe"
        and design.units is None
        and clusters is not None
        and (cov_type == "CR2" or not variance)
    )
    part_cov = cov_type if variance else ("CR0" if cluster_level else "none")
    fixed = _fixed_part(design, Y, part_cov, clusters if variance or cluster_level else None)
    moments = _cluster_moments(fixed, n, cr2=variance) if cluster_level else None
    chunk_cov = cov_type if variance else "none"
    m = len(design.varying_columns)
    r = Y.shape[1]
    s = 0 if fixed.basis is None else fixed.basis.shape[1]
    G = 0 if fixed.starts is None else fixed.starts.size
    per_draw = 8 * (n * (m * (s + m + r + 5) + 3 * r + 3) + G * (4 * (m + s) ** 2 + 4 * (m + s) * r))
    if not variance:
        per_draw = 8 * n * (3 * m + 3)
    step = max(1, MEMORY_BUDGET // per_draw)
    if moments is not None:
        # the cluster-level path works on (b, G, 1 + s, 1 + s) blocks: chunks of about _CLUSTER_CHUNK blocks keep
        # them in cache (measured fastest between 5,000 and 10,000 blocks of 5 x 5 on 180 clusters)
        step = max(1, min(step, _CLUSTER_CHUNK // max(G, 1)))

    def fit(Z: np.ndarray) -> BatchFit:
        Z = np.atleast_2d(np.asarray(Z, dtype=np.float64))
        if Z.shape[1] != n:
            raise EstimationError(f"Z has {Z.shape[1]} columns but the design has {n} rows; they must match.")
        B = Z.shape[0]
        coef = np.empty((B, r))
        gram = np.empty((B, r, r))
        for start in range(0, B, step):
            stop = min(B, start + step)
            Zc = Z[start:stop]
            if moments is not None:
                zeta = Zc[:, moments.first]  # (b, G)
                if np.array_equal(Zc, zeta[:, moments.dense]):
                    coef[start:stop], gram[start:stop] = _solve_cluster_chunk(
                        design, fixed, moments, Zc, zeta, chunk_cov
                    )
                    continue
            coef[start:stop], gram[start:stop] = _solve_did_chunk(design, fixed, Zc, chunk_cov, n, k, correction)
        return BatchFit(coef=coef, gram=gram, cov_type=cov_type)

    return fit


def _solve_did_chunk(
    design: DiDTreatmentDesign,
    fixed: _FixedPart,
    Z: np.ndarray,
    cov_type: str,
    n: int,
    k: int,
    correction: SmallSampleCorrection,
) -> tuple[np.ndarray, np.ndarray]:
    V = design.varying(Z)  # (b, n, m)
    b, _, m = V.shape
    t = design.varying_columns.index(design.target)
    Q, y, sw = fixed.Q, fixed.y, fixed.sw
    r = y.shape[1]
    V2 = V.transpose(1, 0, 2).reshape(n, b * m)
    V2 = design.within(V2)
    if sw is not None:
        V2 *= sw[:, None]
    # squared norms of the columns of the draw's design as condition_design scales them (centred with an intercept)
    norm2 = np.einsum("nc,nc->c", V2, V2)
    if fixed.centred:
        root = np.ones(n) if sw is None else sw
        norm2 = norm2 - (root @ V2) ** 2 / float(root @ root)
    norm2 = norm2.reshape(b, m)
    if fixed.order is not None:
        V2 = V2[fixed.order]
    if Q.shape[1]:
        V2 -= Q @ (Q.T @ V2)
    Vq = V2.reshape(n, b, m)
    D = np.einsum("nbi,nbj->bij", Vq, Vq)
    # the collinearity rule of condition_design: bounds from the Schur complement of the scaled varying columns,
    # the SVD of the draw's design matrix where they do not decide
    live = (norm2 > 0).all(axis=1)
    scale = np.sqrt(np.where(norm2 > 0, norm2, 1.0))
    schur = np.linalg.eigvalsh(np.where(live[:, None, None], D / (scale[:, :, None] * scale[:, None, :]), np.eye(m)))
    lower, upper = _schur_condition_bounds(fixed.eigenvalues, np.where(live, schur[:, 0], 0.0), m)
    ok = _bounded_draws(
        lower, upper, lambda i: design_condition_number(design.matrices(Z[i : i + 1])[0], design.weights)
    )
    eye = np.eye(m)
    Dinv = np.linalg.inv(np.where(ok[:, None, None], D, eye))
    Dinv = 0.5 * (Dinv + np.swapaxes(Dinv, 1, 2))
    beta = Dinv @ (V2.T @ y).reshape(b, m, r)  # (b, m, r)
    coef = beta[:, t, :].copy()
    if cov_type == "none":  # coefficients only (fit_did_design(variance=False))
        coef[~ok] = np.nan
        return coef, np.full((b, r, r), np.nan)
    if cov_type == "CR2":
        g = _did_cr2(fixed, Vq, beta, Dinv, t)
        g = 0.5 * (g + np.swapaxes(g, 1, 2))
        coef[~ok] = np.nan
        g[~ok] = np.nan
        return coef, g
    fitted = Vq[:, :, 0, None] * beta[None, :, 0, :] if m == 1 else np.einsum("nbi,bir->nbr", Vq, beta)
    E = y[:, None, :] - fitted  # (n, b, r)
    row = Dinv[:, t, :]  # (b, m)
    a = Vq[:, :, 0] * row[None, :, 0] if m == 1 else np.einsum("nbi,bi->nb", Vq, row)
    h = None
    if cov_type in ("HC2", "HC3"):
        h = np.einsum("nj,nj->n", Q, Q)[:, None] + np.einsum("nbi,bij,nbj->nb", Vq, Dinv, Vq, optimize=True)
        h = h.T
    # _fixed_part sorted the rows by cluster for the CR types (fixed.starts)
    g, good = target_gram(
        a.T, E.transpose(1, 0, 2), cov_type, n, k, Dinv[:, t, t], h, starts=fixed.starts, correction=correction
    )
    coef[~ok] = np.nan
    g[~(good & ok)] = np.nan
    return coef, g


def _did_cr2(fixed: _FixedPart, Vq: np.ndarray, beta: np.ndarray, Dinv: np.ndarray, t: int) -> np.ndarray:
    """CR2 Gram matrices (b, r, r) from per-cluster cross products of ``[V~_g, P_g]`` (see :func:`fit_did_design`).

    ``H_gg = V~_g D^{-1} V~_g' + P_g P_g'``, so the adjustment is computed in the ``m + s`` dimensional space of
    ``X_g = [V~_g, P_g]`` with ``(X'X)^{-1}`` replaced by ``diag(D^{-1}, I_s)``; the score of the target is
    ``e_t'D^{-1} V~_g'A_g e_g`` with ``V~_g'A_g e_g`` the first ``m`` rows of ``X_g'e_g + C_g Phi_g X_g'e_g``.
    """
    starts, P, y = fixed.starts, fixed.basis, fixed.y
    assert starts is not None and P is not None
    A = np.add.reduceat(Vq[:, :, :, None] * Vq[:, :, None, :], starts, axis=0)  # (G, b, m, m)
    W = np.add.reduceat(Vq[:, :, :, None] * y[:, None, None, :], starts, axis=0)  # (G, b, m, r)
    S = np.add.reduceat(P[:, None, :, None] * Vq[:, :, None, :], starts, axis=0) if P.shape[1] else None
    return _cr2_from_moments(
        fixed,
        A.transpose(1, 0, 2, 3),
        W.transpose(1, 0, 2, 3),
        None if S is None else S.transpose(1, 0, 2, 3),
        beta,
        Dinv,
        t,
    )


def _cr2_from_moments(
    fixed: _FixedPart,
    A: np.ndarray,
    W: np.ndarray,
    S: np.ndarray | None,
    beta: np.ndarray,
    Dinv: np.ndarray,
    t: int,
) -> np.ndarray:
    """CR2 Gram matrices (b, r, r) from the per-cluster moments of the projected treatment-dependent columns.

    ``A`` (b, G, m, m) = :math:`\\tilde V_g'\\tilde V_g`, ``W`` (b, G, m, r) = :math:`\\tilde V_g'\\tilde y_g`,
    ``S`` (b, G, s, m) = :math:`P_g'\\tilde V_g` (None when ``s = 0``); see :func:`_did_cr2`.
    """
    assert fixed.basis_gram is not None and fixed.basis_y is not None
    b, G, m, _ = A.shape
    s = 0 if S is None else S.shape[2]
    r = W.shape[3]
    k = m + s
    cross = np.empty((b, G, k, k))
    cross[:, :, :m, :m] = A
    XE = np.empty((b, G, k, r))
    # with m = 1 the products with beta are broadcasts (the same numbers as the stacked 1-column matmul, faster)
    fitted = (lambda C: C * beta[:, None]) if m == 1 else (lambda C: C @ beta[:, None])
    XE[:, :, :m, :] = W - fitted(A)  # V~_g'e_g
    if S is not None:
        cross[:, :, m:, :m] = S
        cross[:, :, :m, m:] = np.swapaxes(S, 2, 3)
        cross[:, :, m:, m:] = fixed.basis_gram[None]
        XE[:, :, m:, :] = fixed.basis_y[None] - fitted(S)  # P_g'e_g
    if m == 1:  # L = diag(1/sqrt(D), 1, ..., 1)
        scale = np.ones((b, k))
        scale[:, 0] = np.sqrt(Dinv[:, 0, 0])
        adjusted = _cr2_first_scores(cross, scale, XE)
    else:
        L = np.zeros((b, k, k))
        L[:, :m, :m] = np.linalg.cholesky(Dinv)
        L[:, m:, m:] = np.eye(s)
        phi = cr2_phi(cross, L)
        adjusted = cr2_adjusted_scores(cross, phi, XE, rows=m)  # V~_g' A_g e_g
    U = np.einsum("bi,bgir->bgr", Dinv[:, t, :], adjusted)
    return np.swapaxes(U, 1, 2) @ U


#: The power series of the CR2 adjustment is used where a bound on the largest eigenvalue of the cluster's leverage
#: block is at most this; larger blocks (a leverage near one needs the generalized inverse square root) use the
#: eigen-decomposition.
_SERIES_BOUND = 0.5
#: log of the relative size of the first omitted term of that series (2^-53, the unit roundoff).
_SERIES_TOL = -53.0 * np.log(2.0)


def _cr2_first_scores(cross: np.ndarray, scale: np.ndarray, XE: np.ndarray) -> np.ndarray:
    """The first row of :math:`X_g'A_ge_g` (b, G, 1, r) for :math:`(X'X)^{-1} = LL'` with diagonal :math:`L`.

    ``cross`` (b, G, k, k) = :math:`C_g = X_g'X_g`, ``scale`` (b, k) the diagonal of :math:`L`, ``XE`` (b, G, k, r)
    = :math:`X_g'e_g`. With :math:`M_g = L'C_gL` (its non-zero eigenvalues are those of :math:`H_{gg}`) and
    :math:`A_g = (I - H_{gg})^{-1/2}`, :math:`X_g'A_ge_g = L^{-T}(I - M_g)^{-1/2}L'X_g'e_g` (Bell and McCaffrey
    2002; the form of :func:`evalkit._linear_algebra.cr2_phi`, since :math:`C_gL = L^{-T}M_g`). Where
    :math:`\\rho = \\lVert M_g\\rVert_F \\le` :data:`_SERIES_BOUND` (every eigenvalue lies in :math:`[0, \\rho]`),
    :math:`(I - M)^{-1/2}` is the binomial series about :math:`\\mu = \\rho/2`:
    :math:`(1-\\mu)^{-1/2}\\sum_j c_jN^j` with :math:`N = (M - \\mu I)/(1 - \\mu)`, :math:`c_j = \\binom{2j}{j}4^{-j}`,
    whose terms shrink as :math:`q^j`, :math:`q = \\mu/(1-\\mu)`; it is summed by Horner's rule to :math:`J` terms
    with :math:`q^{J+1} \\le 2^{-53}` (rounding), with products of :math:`k \\times k` matrices and vectors laid
    out batch-last, and no per-cluster eigen-decomposition. The other clusters use
    :func:`~evalkit._linear_algebra.cr2_phi`.
    """
    b, G, k, r = XE.shape
    # M_g in the batch-last layout (k, k, b, G) of the series, written there directly (no transposed copy)
    Mt = np.empty((k, k, b, G))
    np.multiply(cross, (scale[:, :, None] * scale[:, None, :])[:, None], out=Mt.transpose(2, 3, 0, 1))
    bound = np.sqrt(np.einsum("ijbg,ijbg->bg", Mt, Mt))
    series = bound <= _SERIES_BOUND
    out = np.empty((b, G, 1, r))
    if (~series).any():
        rows = np.nonzero(~series)
        L = np.zeros((rows[0].size, k, k))
        L[:, np.arange(k), np.arange(k)] = scale[rows[0]]
        Cf = cross[rows][:, None]
        phi = cr2_phi(Cf, L)
        out[rows] = cr2_adjusted_scores(Cf, phi, XE[rows][:, None], rows=1)[:, 0]
    if not series.any():
        return out
    mu = 0.5 * float(bound[series].max(initial=0.0))
    q = mu / (1.0 - mu)
    J = 1 if q <= 0.0 else max(1, int(np.ceil(_SERIES_TOL / np.log(q))) - 1)
    coefs = [1.0]
    for j in range(1, J + 1):
        coefs.append(coefs[-1] * (2 * j - 1) / (2 * j))
    # batch-last layout (k, k, items), so that every step is a few long vector operations
    if series.all():
        which: tuple[np.ndarray, ...] | tuple[slice, slice] = (slice(None), slice(None))
        N = Mt.reshape(k, k, b * G)
        t = (scale[:, None, :, None] * XE).reshape(-1, k, r)  # L'X_g'e_g
        first_scale = np.repeat(scale[:, 0], G)
    else:
        which = np.nonzero(series)
        N = Mt[:, :, which[0], which[1]]
        t = (scale[:, None, :, None] * XE)[which]
        first_scale = scale[which[0], 0]
    N *= 1.0 / (1.0 - mu)
    N[np.arange(k), np.arange(k)] -= mu / (1.0 - mu)
    # only row 0 is needed: the row e_0'(sum_j c_j N^j) by Horner's rule (N is symmetric), then its product with
    # L'X_g'e_g
    acc = np.zeros((k, N.shape[2]))
    acc[0] = coefs[-1]
    new = np.empty_like(acc)
    for c in reversed(coefs[:-1]):
        np.einsum("ijn,jn->in", N, acc, out=new)  # one pass per step: faster than k products and sums
        new[0] += c
        acc, new = new, acc
    first = np.einsum("kn,nkr->nr", acc, t)
    # row 0 of L^{-T}(I - M)^{-1/2}L'X_g'e_g
    out[which] = (first / ((1.0 - mu) ** 0.5 * first_scale)[:, None]).reshape(out[which].shape)
    return out


@dataclass(frozen=True)
class _ClusterMoments:
    """Per-cluster sums that make the fit of ``[1, z, fixed]`` a cluster-level function of ``z`` when ``z`` is
    constant within clusters (rows sorted by cluster, weighted space: ``v = sqrt(w) z``, ``Q``, ``y~`` and ``P`` of
    :class:`_FixedPart`)."""

    first: np.ndarray  # (G,) a row of each cluster (original order): zeta_g = z[first[g]]
    dense: np.ndarray  # (n,) cluster code 0..G-1 of each row (original order)
    t: np.ndarray  # (G,) sum of w_i
    C: np.ndarray  # (G, p) sum of sqrt(w_i) q_i: Q'v = zeta @ C
    ys: np.ndarray  # (G, r) sum of sqrt(w_i) y~_i: v'y~ = zeta @ ys (Q'y~ = 0)
    QQ: np.ndarray | None  # (G, p, p) Q_g'Q_g (CR2)
    Qy: np.ndarray | None  # (G, p, r) Q_g'y~_g (CR2)
    Ps: np.ndarray | None  # (G, s) sum of sqrt(w_i) P_i (CR2)
    PQ: np.ndarray | None  # (G, s, p) P_g'Q_g (CR2)
    total: float  # sum of w


def _cluster_moments(fixed: _FixedPart, n: int, cr2: bool) -> _ClusterMoments:
    assert fixed.order is not None and fixed.starts is not None
    order, starts = fixed.order, fixed.starts
    G = starts.size
    sizes = np.diff(np.r_[starts, n])
    dense = np.empty(n, dtype=np.intp)
    dense[order] = np.repeat(np.arange(G), sizes)
    sws = np.ones(n) if fixed.sw is None else fixed.sw[order]
    Q, y, P = fixed.Q, fixed.y, fixed.basis
    moments = {"QQ": None, "Qy": None, "Ps": None, "PQ": None}
    if cr2:
        assert P is not None
        moments = {
            "QQ": np.add.reduceat(Q[:, :, None] * Q[:, None, :], starts, axis=0),
            "Qy": np.add.reduceat(Q[:, :, None] * y[:, None, :], starts, axis=0),
            "Ps": np.add.reduceat(sws[:, None] * P, starts, axis=0),
            "PQ": np.add.reduceat(P[:, :, None] * Q[:, None, :], starts, axis=0),
        }
    return _ClusterMoments(
        first=order[starts],
        dense=dense,
        t=np.add.reduceat(sws * sws, starts),
        C=np.add.reduceat(sws[:, None] * Q, starts, axis=0) if Q.shape[1] else np.zeros((G, 0)),
        ys=np.add.reduceat(sws[:, None] * y, starts, axis=0),
        total=float(sws @ sws),
        **moments,
    )


def _solve_cluster_chunk(
    design: DiDTreatmentDesign,
    fixed: _FixedPart,
    cm: _ClusterMoments,
    Z: np.ndarray,
    zeta: np.ndarray,
    cov_type: str,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_solve_did_chunk` for ``X = [1, z, fixed]`` with ``z`` constant within clusters (``zeta`` (b, G)).

    With :math:`v = W^{1/2}z` and :math:`\\tilde z = M_Qv`: :math:`Q'v = \\sum_g\\zeta_g c_g`,
    :math:`\\tilde z'\\tilde z = \\sum_g\\zeta_g^2t_g - \\lVert Q'v\\rVert^2`,
    :math:`\\tilde z'\\tilde y = \\sum_g\\zeta_g s_g` (:math:`s_g` the cluster sum of :math:`\\sqrt{w_i}\\tilde y_i`;
    :math:`Q'\\tilde y = 0`), and per cluster :math:`\\tilde z_g'\\tilde z_g`,
    :math:`\\tilde z_g'\\tilde y_g` and :math:`P_g'\\tilde z_g` are the fixed cluster sums of
    :class:`_ClusterMoments` combined with :math:`\\zeta_g` and :math:`Q'v`; every quantity of the draw costs
    :math:`O(Gp^2)` instead of :math:`O(np)` (Frisch and Waugh 1933; Lovell 1963).
    """
    b = Z.shape[0]
    r = fixed.y.shape[1]
    w = zeta @ cm.C  # (b, p): Q'v
    z2 = (zeta * zeta) @ cm.t  # |v|^2
    d = z2 - np.einsum("bp,bp->b", w, w)
    norm2 = z2 - (zeta @ cm.t) ** 2 / cm.total if fixed.centred else z2
    live = norm2 > 0
    schur = np.where(live, d / np.where(live, norm2, 1.0), 0.0)
    lower, upper = _schur_condition_bounds(fixed.eigenvalues, schur, 1)
    ok = _bounded_draws(
        lower, upper, lambda i: design_condition_number(design.matrices(Z[i : i + 1])[0], design.weights)
    )
    d = np.where(ok, d, 1.0)
    beta = (zeta @ cm.ys) / d[:, None]  # (b, r)
    coef = beta.copy()
    coef[~ok] = np.nan
    if cov_type == "none":
        return coef, np.full((b, r, r), np.nan)
    assert cm.QQ is not None and cm.Qy is not None and cm.PQ is not None and cm.Ps is not None
    G, p = cm.C.shape
    r_ = cm.ys.shape[1]
    t_C = w @ cm.C.T  # (b, G): c_g'Q'v
    # w'Q_g'Q_g w, w'Q_g'y~_g and P_g'Q_g w as BLAS products over all clusters at once
    quad = (w[:, :, None] * w[:, None, :]).reshape(b, p * p) @ cm.QQ.reshape(G, p * p).T
    zz = (zeta * zeta) * cm.t - 2.0 * zeta * t_C + quad
    zy = zeta[:, :, None] * cm.ys[None] - (w @ cm.Qy.transpose(1, 0, 2).reshape(p, G * r_)).reshape(b, G, r_)
    A = zz[:, :, None, None]
    W = zy[:, :, None, :]
    S = None
    s_ = cm.Ps.shape[1]
    if s_:
        PQw = (w @ cm.PQ.transpose(2, 0, 1).reshape(p, G * s_)).reshape(b, G, s_)
        S = (zeta[:, :, None] * cm.Ps[None] - PQw)[:, :, :, None]
    g = _cr2_from_moments(fixed, A, W, S, beta[:, None, :], (1.0 / d)[:, None, None], 0)
    g = 0.5 * (g + np.swapaxes(g, 1, 2))
    g[~ok] = np.nan
    return coef, g


def batch_estimates(
    estimator: str | Estimator,
    sample: EstimationSample,
    Z: np.ndarray,
    *,
    cov_type: str,
    clusters: np.ndarray | None = None,
    correction: SmallSampleCorrection = NO_CORRECTION,
) -> BatchFit:
    """Estimates and sandwich standard errors of a registered estimator under each treatment vector in ``Z``.

    Parameters
    ----------
    estimator : str or Estimator
        A name in :data:`evalkit.estimators.REGISTRY` (``"difference_in_means"``, ``"ols"``, ``"lin"``,
        ``"change"``, ``"did"``, ``"twfe"``, ``"event_study"``) or an :class:`~evalkit.estimators.Estimator`.
    sample : EstimationSample
        The estimation sample; its ``treatment`` is replaced by each row of ``Z``.
    Z : ndarray (B, n)
        Treatment vectors (0/1 or bool).
    cov_type : str
        Covariance type (see :func:`batch_least_squares`).
    clusters : ndarray (n,), optional
        Cluster labels for the CR types.
    correction : SmallSampleCorrection
        As in :func:`evalkit.inference.sandwich.sandwich` (absorbed fixed effects of the panel estimators).

    Returns
    -------
    BatchFit
        ``estimates`` and ``std_errors`` equal, to rounding, ``estimator.fit(sample_b)`` and
        ``sandwich(fit.X, fit.residuals, cov_type, ..., correction=correction)`` on each ``sample_b`` with
        treatment ``Z[b]``.

    Raises
    ------
    EstimationError
        If the estimator refuses the sample, or has no batched form for it (the message says why).

    Notes
    -----
    The response is the estimator's own fitted outcome ``fit.y`` on ``sample`` (the change from baseline for
    ``"change"``, the within-transformed outcome for the panel estimators, which the within transformation leaves
    unchanged), and the batched form must rebuild ``fit.X``
    (:meth:`~evalkit.estimators.Estimator.batch_design` with ``fit=``).
    """
    est = estimator if isinstance(estimator, Estimator) else get_estimator(estimator)
    fit = est.fit(sample)
    design = est.batch_design(sample, fit)
    if design is None:
        why = est.unbatched_reason or "its batched form does not rebuild the estimator's design matrix on this sample"
        raise EstimationError(f"estimator={est.name!r} has no batched form for this sample: {why}.")
    return fit_treatment_design(
        design,
        np.atleast_2d(Z),
        fit.y[:, None],
        cov_type=cov_type,
        weights=sample.weights,
        clusters=clusters,
        correction=correction,
    )
