"""How an estimator's regressors depend on the treatment vector: its *batched form*.

Randomization inference re-runs an estimator under thousands of re-drawn assignments. For every least-squares
estimator of evalkit only the treatment column (and what is built from it) changes between draws, so an estimator
describes its design matrix as a function of the treatment vector once, and the inference layer
(:mod:`evalkit.inference.batched`) fits a whole stack of draws with batched BLAS. Each estimator owns its form
(:class:`evalkit.estimators.Estimator` pairs ``fit`` with ``batch_design``); this module holds the two shapes those
forms take:

* :class:`TreatmentDesign` -- trial estimators: ``X(z) = [1, z, fixed, z * interacted]``;
* :class:`DiDTreatmentDesign` -- difference-in-differences estimators: ``X(z) = M [V(z), F]`` with the unit fixed
  effects absorbed by the within transformation ``M``.

Nothing here fits or computes a variance (estimators sit below inference); :func:`matches_fit` checks a design
against the estimator's own fit, so a batched form that drifted from its estimator is never used.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy import sparse

from evalkit._validation import check_option
from evalkit.errors import EstimationError
from evalkit.estimators._linear import LinearFit

__all__ = [
    "DID_ESTIMATORS",
    "BatchDesign",
    "DiDTreatmentDesign",
    "TreatmentDesign",
    "group_max",
    "group_min",
    "matches_fit",
    "sorted_starts",
]

#: The estimators whose batched form is a :class:`DiDTreatmentDesign`.
DID_ESTIMATORS = ("did", "twfe", "event_study")


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
    def target(self) -> int:
        """Position of the treatment's coefficient, always 1."""
        return 1

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

    def matrix(self, z: np.ndarray) -> np.ndarray:
        """The design matrix (n, k) for one treatment vector ``z`` (n,); what the estimator itself fits."""
        return self.matrices(np.asarray(z, dtype=np.float64)[None, :])[0]


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
        if np.ndim(self.fixed) != 2:
            raise EstimationError(
                f"DiDTreatmentDesign: fixed must be a 2-d array (rows x columns), got {np.ndim(self.fixed)} "
                "dimension(s); pass np.column_stack of the treatment-independent columns."
            )
        if self.target not in self.varying_columns:
            raise EstimationError(
                f"target={self.target} must be one of the treatment-dependent columns {self.varying_columns}."
            )
        if len(set(self.varying_columns)) != len(self.varying_columns):
            raise EstimationError(f"varying_columns={self.varying_columns} repeats a column; list each position once.")
        n = np.shape(self.fixed)[0]
        for name in ("units", "weights", "assignment_units", "periods"):
            value = getattr(self, name)
            if value is not None and np.shape(value) != (n,):
                raise EstimationError(
                    f"DiDTreatmentDesign: {name} has shape {np.shape(value)} but fixed has {n} rows; give one value "
                    "per row."
                )
        if self.estimator == "event_study":
            missing = [name for name in ("units", "periods", "window") if getattr(self, name) is None]
            if missing:
                raise EstimationError(
                    f"DiDTreatmentDesign('event_study') needs {', '.join(missing)} (the event-time columns are built "
                    "from each unit's first treated period and binned to the window); pass them."
                )
            lo, hi = self.window  # type: ignore[misc]  # checked above
            if lo > hi:
                raise EstimationError(f"DiDTreatmentDesign: window=({lo}, {hi}) must have lo <= hi.")
            if len(self.event_times) != len(self.varying_columns):
                raise EstimationError(
                    f"DiDTreatmentDesign('event_study') has {len(self.event_times)} event_times for "
                    f"{len(self.varying_columns)} varying_columns; give one event time per column."
                )
        else:
            expected = 2 if self.estimator == "did" and self.assignment_units is not None else 1
            if len(self.varying_columns) != expected:
                raise EstimationError(
                    f"DiDTreatmentDesign({self.estimator!r}) builds {expected} treatment-dependent column(s) "
                    f"({'[g(z), z]' if expected == 2 else '[z]'}) but varying_columns={self.varying_columns}."
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
            g = group_max(Z, self.assignment_units)
            return np.stack([g, Z], axis=2)
        # "event_study": periods, units and window are present (checked in __post_init__)
        periods = np.asarray(self.periods, dtype=np.float64)
        first = group_min(np.where(Z > 0, periods[None, :], np.inf), np.asarray(self.units))
        rel = periods[None, :] - first
        treated = np.isfinite(rel)
        lo, hi = self.window  # type: ignore[misc]
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


def sorted_starts(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(order sorting the codes, start of each code's run in that order, dense code 0..G-1 of each row)."""
    _, dense = np.unique(np.asarray(codes), return_inverse=True)
    dense = dense.reshape(-1)
    order = np.argsort(dense, kind="stable")
    s = dense[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    return order, starts, dense


def group_max(Z: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """For each row of ``Z`` (B, n), the maximum over the columns sharing a code, broadcast back: (B, n)."""
    order, starts, dense = sorted_starts(codes)
    return np.maximum.reduceat(Z[:, order], starts, axis=1)[:, dense]


def group_min(Z: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """For each row of ``Z`` (B, n), the minimum over the columns sharing a code, broadcast back: (B, n)."""
    order, starts, dense = sorted_starts(codes)
    return np.minimum.reduceat(Z[:, order], starts, axis=1)[:, dense]


#: The batched form of an estimator: how its design matrix depends on the treatment vector.
BatchDesign = TreatmentDesign | DiDTreatmentDesign


def matches_fit(design: BatchDesign, treatment: np.ndarray, fit: LinearFit) -> BatchDesign | None:
    """``design`` (targeting ``fit.target``) if it rebuilds ``fit.X`` from ``treatment``, else ``None``.

    Parameters
    ----------
    design : TreatmentDesign or DiDTreatmentDesign
        The estimator's batched form on the sample ``fit`` came from.
    treatment : ndarray (n,)
        The treatment vector of that sample.
    fit : LinearFit
        The estimator's fit on the observed treatment (its ``target`` may be any treatment-dependent column of a
        :class:`DiDTreatmentDesign`, e.g. one event time; it must be 1 for a :class:`TreatmentDesign`).

    Returns
    -------
    TreatmentDesign, DiDTreatmentDesign or None
        ``None`` when the rebuilt design matrix differs from ``fit.X`` by more than ``1e-12`` relative to its largest
        entry, or the target is not a treatment-dependent column: the batched form would not reproduce the fit,
        so the caller must re-run the estimator draw by draw.
    """
    n = np.asarray(treatment).shape[0]
    if fit.X.shape != (n, design.n_columns):
        return None
    if isinstance(design, DiDTreatmentDesign):
        if fit.target not in design.varying_columns:
            return None
        design = replace(design, target=fit.target)
    elif fit.target != design.target:
        return None
    rebuilt = design.matrices(np.asarray(treatment, dtype=np.float64)[None, :])[0]
    tol = 1e-12 * max(1.0, float(np.abs(fit.X).max(initial=0.0)))
    if not np.allclose(rebuilt, fit.X, rtol=0.0, atol=tol):
        return None
    return design
