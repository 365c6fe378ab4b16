"""Least squares, and what every linear estimator hands to the inference layer."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from evalkit._linear_algebra import condition_design
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
        One name per column of ``X``.
    target : int
        Index of the treatment effect in ``coef``.
    weights : ndarray or None
        Analytic weights, if any.
    """

    coef: np.ndarray
    X: np.ndarray = field(repr=False)
    y: np.ndarray = field(repr=False)
    residuals: np.ndarray = field(repr=False)
    term_names: tuple[str, ...]
    target: int
    weights: np.ndarray | None = field(default=None, repr=False)

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
    term_names : tuple of str
        Column names, used in error messages and results.
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
    n, k = X.shape
    if n <= k:
        raise EstimationError(
            f"{n} observations cannot identify {k} coefficients ({', '.join(term_names)}); "
            "use fewer covariates or more data."
        )
    design = condition_design(X, None, weights, names=term_names, target=target)
    coef_c = design.solve(y)
    coef = design.coef(coef_c)
    residuals = y - design.X @ coef_c
    return LinearFit(
        coef=coef, X=X, y=y, residuals=residuals, term_names=tuple(term_names), target=target, weights=weights
    )
