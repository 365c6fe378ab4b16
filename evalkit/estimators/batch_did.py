"""Batched difference-in-differences fits: one DiD estimator under many re-drawn treatment regressors at once.

Randomization inference for a difference-in-differences design re-draws the group (or the units' treatment
paths) and re-runs ``"did"``, ``"twfe"`` or ``"event_study"``. Only the treatment-dependent columns change between
draws, so the fixed columns and the absorbed unit effects are projected out once and each batch of draws costs a
few stacked matrix products (Frisch and Waugh 1933; Lovell 1963).

Public entry points (also importable from :mod:`evalkit.estimators.batch`, which dispatches to them):

* :class:`DiDTreatmentDesign` -- the regressors of a DiD estimator as a function of the treatment regressor;
* :func:`did_treatment_design` -- build it from an estimation sample (and check it against the estimator's fit);
* :func:`fit_did_design` -- estimates and sandwich variances under a stack of treatment regressors.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy import sparse

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
from evalkit.estimators._sample import EstimationSample, block_dummies
from evalkit.estimators.twfe import period_effects

__all__ = ["DID_ESTIMATORS", "DiDTreatmentDesign", "did_treatment_design", "fit_did_design"]

#: The estimators with a batched difference-in-differences form.
DID_ESTIMATORS = ("did", "twfe", "event_study")


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
        check_option("estimator", self.estimator, DID_ESTIMATORS)
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
    groups = groups_for(cov_type, clusters)  # validates the clusters / cov_type pairing
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
        From :func:`did_treatment_design` or :func:`evalkit.estimators.batch.treatment_design` (``"did"``,
        ``"twfe"`` or ``"event_study"``).
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
    :math:`Q_g'\\tilde y_g` fixed. The variances are those of
    :func:`evalkit.estimators.batch.batch_least_squares` (hence of
    :func:`evalkit.inference.sandwich.sandwich`) on the estimator's fit, with :math:`k` = number of explicit
    columns (absorbed unit effects not counted, as in that fit). Cost per draw :math:`O(n m (p + r) + G k^3)`
    instead of refitting and re-running the sandwich.
    """
    check_option("cov_type", cov_type, COV_TYPES)
    Z = np.atleast_2d(np.asarray(Z, dtype=np.float64))
    B, n = Z.shape
    k = design.n_columns
    if design.fixed.shape[0] != n:
        raise EstimationError(f"Z has {n} columns but the design has {design.fixed.shape[0]} rows; they must match.")
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
    fixed = _fixed_part(design, Y, cov_type, clusters)
    m = len(design.varying_columns)
    r = Y.shape[1]
    s = 0 if fixed.basis is None else fixed.basis.shape[1]
    G = 0 if fixed.starts is None else fixed.starts.size
    per_draw = 8 * (n * (m * (s + m + r + 5) + 3 * r + 3) + G * (4 * (m + s) ** 2 + 4 * (m + s) * r))
    step = max(1, MEMORY_BUDGET // per_draw)
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
    ok = ev[:, 0] > SINGULAR_TOL
    eye = np.eye(m)
    Dinv = np.linalg.inv(np.where(ok[:, None, None], D, eye))
    Dinv = 0.5 * (Dinv + np.swapaxes(Dinv, 1, 2))
    beta = Dinv @ (V2.T @ y).reshape(b, m, r)  # (b, m, r)
    coef = beta[:, t, :].copy()
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
    g, good = target_gram(a.T, E.transpose(1, 0, 2), cov_type, n, k, Dinv[:, t, t], h, starts=fixed.starts)
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
    phi = cr2_phi(cross, L)
    adjusted = XE[:, :, :m, :] + cross[:, :, :m, :] @ (phi @ XE)  # V~_g' A_g e_g
    U = np.einsum("bi,bgir->bgr", Dinv[:, t, :], adjusted)
    return np.swapaxes(U, 1, 2) @ U


def did_treatment_design(
    estimator: str, sample: EstimationSample, fit: LinearFit | None = None
) -> DiDTreatmentDesign | None:
    """The :class:`DiDTreatmentDesign` of a difference-in-differences estimator, or ``None``.

    Parameters
    ----------
    estimator : {"did", "twfe", "event_study"}
        The estimator (:func:`evalkit.estimators.twfe.did_2x2`, :func:`evalkit.estimators.twfe.twfe`,
        :func:`evalkit.estimators.event_study.event_study`).
    sample : EstimationSample
        The estimation sample.
    fit : LinearFit, optional
        The estimator's fit on the observed treatment. When given, ``fit.target`` must be one of the
        treatment-dependent columns (it becomes the design's ``target``) and the rebuilt design matrix must equal
        ``fit.X`` to ``1e-12`` relative to its largest entry; otherwise ``None`` is returned.

    Returns
    -------
    DiDTreatmentDesign or None
        ``None`` when the sample lacks what the estimator needs (``post`` and the group for ``"did"``, panel
        units and periods for ``"twfe"``, a fixed event window containing the reference period for
        ``"event_study"``) or the rebuilt matrix does not match ``fit``.

    Notes
    -----
    The design matrices are those of the dummy-variable regressions, written as ``M [V(z), F]`` (see
    :class:`DiDTreatmentDesign`; Frisch and Waugh 1933, Lovell 1963).
    """
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
