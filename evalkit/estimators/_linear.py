"""Least squares, and what every linear estimator hands to the inference layer."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from evalkit._linear_algebra import ConditionedDesign, condition_design
from evalkit._threads import thin_blas
from evalkit.errors import EstimationError

__all__ = ["LinearFit", "fit_least_squares"]


@dataclass(frozen=True)
class LinearFit:
    """A fitted (weighted) least-squares model and the index of the coefficient of interest.

    Attributes
    ----------
    coef : ndarray, shape (k,)
        Coefficients.
    X : ndarray, shape (n, k)
        Regressors, unweighted.
    y : ndarray, shape (n,)
        The outcome the model was fitted to (for the ``change`` estimator, the change).
    residuals : ndarray, shape (n,)
        ``y - X @ coef``, unweighted.
    term_names : tuple of str
        One name per column of ``X``, for display only: nothing identifies a column by its name, so a user's
        column may have any name (even one that looks like evalkit's own, such as ``"event_time::-7"``).
    target : int
        Index of the treatment effect in ``coef``.
    weights : ndarray or None
        Analytic weights, if any.
    event_columns : tuple of int
        Indices of the event-time indicators of an event study (empty otherwise), in increasing event time.
    event_times : tuple of int
        The event time of each of ``event_columns`` (same length).
    moderator_columns : tuple of int
        Indices of the treatment-by-moderator interactions (``estimate(..., moderators=...)``; empty otherwise), in
        the order of ``EstimationSample.moderator_names``.
    design : ConditionedDesign or None
        The conditioned basis of ``X`` the fit was solved on (:func:`fit_least_squares`); the analytic sandwich reuses
        it for this very ``X`` instead of a second SVD (see :meth:`ConditionedDesign.reuse_for`).
    """

    coef: np.ndarray
    X: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)
    residuals: np.ndarray = field(repr=False)
    term_names: tuple[str, ...]
    target: int
    weights: np.ndarray | None = field(default=None, repr=False)
    event_columns: tuple[int, ...] = ()
    event_times: tuple[int, ...] = ()
    moderator_columns: tuple[int, ...] = ()
    design: ConditionedDesign | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.event_columns) != len(self.event_times):
            raise EstimationError(
                f"LinearFit has {len(self.event_columns)} event_columns but {len(self.event_times)} event_times; "
                "give one event time per event-time column."
            )

    @property
    def estimate(self) -> float:
        """The coefficient of interest."""
        return float(self.coef[self.target])

    @property
    def n_obs(self) -> int:
        """Number of observations used."""
        return int(self.X.shape[0])

    @property
    def df_resid(self) -> int:
        """Residual degrees of freedom, ``n - k``."""
        return int(self.X.shape[0] - self.X.shape[1])


def fit_least_squares(
    y: np.ndarray,
    X: np.ndarray,
    term_names: tuple[str, ...],
    target: int,
    *,
    weights: np.ndarray | None = None,
) -> LinearFit:
    """Fit ``y`` on ``X`` by (weighted) least squares.

    Parameters
    ----------
    y, X : ndarray
        Outcome (n,) and regressors (n, k), with no missing values.
    term_names : tuple
        Column names, used in error messages and results; stored as text (``str()`` of each, so a user's integer
        column name ``0`` becomes the term ``"0"``).
    target : int
        Index of the coefficient of interest.
    weights : ndarray, optional
        Positive analytic weights.

    Returns
    -------
    LinearFit

    Raises
    ------
    EstimationError
        If there are fewer observations than coefficients, or the regressors are collinear or so nearly collinear
        that the condition number of the centred, unit-scaled design exceeds
        :data:`evalkit._linear_algebra.CONDITION_LIMIT` (the message names the columns and the condition number).

    Notes
    -----
    :math:`\\hat\\beta = (X'WX)^{-1}X'Wy`, computed without forming :math:`X'WX`: :math:`X` is reparametrised as
    :math:`X_c = XT` (non-constant columns centred at their weighted mean when there is an intercept, every column
    scaled to unit norm; see :func:`evalkit._linear_algebra.condition_design`), :math:`\\hat\\beta_c` is the SVD
    least-squares solution on :math:`W^{1/2}X_c`, :math:`\\hat\\beta = T\\hat\\beta_c` and the residuals are
    :math:`y - X_c\\hat\\beta_c`. Shifting or rescaling a covariate therefore changes the other coefficients and
    the residuals only at rounding level, and a covariate far from zero (a year, an income in cents) is not
    mistaken for a copy of the intercept.
    """
    term_names = tuple(str(t) for t in term_names)
    n, k = X.shape
    if n <= k:
        raise EstimationError(
            f"{n} observations cannot identify {k} coefficients ({', '.join(term_names)}); "
            "use fewer covariates or more data."
        )
    with thin_blas(k):  # an (n, k) SVD and products with small k: one BLAS thread
        design = condition_design(X, None, weights, names=term_names, target=target)
        coef_c = design.solve(y)
        coef = design.coef(coef_c)
        residuals = y - design.X @ coef_c
    return LinearFit(
        coef=coef,
        X=X,
        y=y,
        residuals=residuals,
        term_names=term_names,
        target=target,
        weights=weights,
        design=design,
    )
