"""Least squares, and what every linear estimator hands to the inference layer."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

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


def _collinear_columns(X: np.ndarray, tol: float) -> list[int]:
    """Indices of columns that are (numerically) linear combinations of the columns before them."""
    scale = np.linalg.norm(X, axis=0)
    scale[scale == 0] = 1.0
    _, r, _ = np.linalg.svd(X / scale, full_matrices=False)
    if r.size and r[-1] > tol * r[0]:
        return []
    bad: list[int] = []
    kept: list[int] = []
    for j in range(X.shape[1]):
        trial = [*kept, j]
        sub = X[:, trial] / scale[trial]
        if np.linalg.matrix_rank(sub, tol=tol * np.linalg.norm(sub, 2)) < len(trial):
            bad.append(j)
        else:
            kept.append(j)
    return bad


def fit_least_squares(
    y: np.ndarray,
    X: np.ndarray,
    term_names: tuple[str, ...],
    target: int,
    *,
    weights: np.ndarray | None = None,
    tol: float = 1e-10,
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
    tol : float
        Relative singular-value tolerance for declaring columns collinear.

    Returns
    -------
    LinearFit

    Raises
    ------
    EstimationError
        If there are fewer observations than coefficients, or some columns are collinear (the message names them).

    Notes
    -----
    :math:`\\hat\\beta = (X'WX)^{-1}X'Wy`, computed by a least-squares solve on :math:`W^{1/2}X`
    (``numpy.linalg.lstsq``) rather than by inverting :math:`X'WX`.
    """
    n, k = X.shape
    if n <= k:
        raise EstimationError(
            f"{n} observations cannot identify {k} coefficients ({', '.join(term_names)}); "
            "use fewer covariates or more data."
        )
    if weights is not None:
        root = np.sqrt(weights)
        Xw, yw = X * root[:, None], y * root
    else:
        Xw, yw = X, y
    bad = _collinear_columns(Xw, tol)
    if bad:
        names = ", ".join(repr(term_names[j]) for j in bad)
        if target in bad:
            raise EstimationError(
                f"the treatment indicator is collinear with the other regressors ({', '.join(term_names)}); "
                "there is no variation in treatment left to estimate an effect. Check the covariates and blocks."
            )
        raise EstimationError(
            f"regressor(s) {names} are collinear with the others (a linear combination of earlier columns, or "
            "constant within the sample); drop them from covariates."
        )
    coef, *_ = np.linalg.lstsq(Xw, yw, rcond=None)
    residuals = y - X @ coef
    return LinearFit(
        coef=coef, X=X, y=y, residuals=residuals, term_names=tuple(term_names), target=target, weights=weights
    )
