"""Linear algebra shared by the sandwich, wild bootstrap, multiple-testing and batched estimators (internal).

This module sits below every layer (like :mod:`evalkit._validation`), so that
:mod:`evalkit.inference.sandwich`, :mod:`evalkit.inference.wild_bootstrap`,
:mod:`evalkit.inference.multiple_testing` and the batched fits of :mod:`evalkit.inference.batched` compute the
same pieces with the same code:

* :func:`weighted_design` -- checked ``sqrt(w) X``, ``sqrt(w) e`` and ``sqrt(w)``;
* :func:`condition_design` -- the same, for a centred and unit-scaled reparametrisation ``X T`` of the design,
  with its bread, its condition number (refusing ill-conditioned designs) and a stable least-squares solve:
  every fit and sandwich goes through it, so shifting or rescaling a covariate changes nothing;
* :func:`centre_columns` / :func:`standardize_columns` -- two-pass centring (and scaling) of columns;
* :func:`bread` -- :math:`(X'X)^{-1}` and a square-root factor of a design as given, refusing collinear regressors
  (prefer :func:`condition_design`, which first removes the location and units of the columns);
* :func:`factorize_clusters` and :func:`group_sum` -- cluster codes and within-cluster sums;
* :func:`cr2_phi` -- the CR2 (Bell-McCaffrey) adjustment matrices in low-rank form, for one fit or a batch.

The names carry no underscore because other modules import them; they are not part of the public API
(``evalkit`` does not re-export them) and may change without notice.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg

from evalkit._threads import single_threaded_blas
from evalkit.errors import DataError, EstimationError, InferenceError

__all__ = [
    "CONDITION_LIMIT",
    "LEVERAGE_TOL",
    "ConditionedDesign",
    "acceptable_condition",
    "bread",
    "centre_columns",
    "check_finite",
    "condition_design",
    "cr2_phi",
    "design_condition_number",
    "factorize_clusters",
    "group_sum",
    "standardize_columns",
    "weighted_design",
]

#: ``1 - h_ii`` (or an eigenvalue of ``I - H_gg``) below this counts as zero: a leverage of one.
LEVERAGE_TOL = 1e-10

#: Largest condition number :math:`\kappa = s_{max}/s_{min}` accepted for the centred, unit-scaled (weighted)
#: design: :math:`\epsilon^{-1/2} \approx 6.7 \times 10^7` for float64. A backward-stable least-squares solve
#: loses about :math:`\log_{10}\kappa` of the 16 significant digits, so at :math:`\kappa = \epsilon^{-1/2}` half of
#: them; and the perturbation bound of least squares has a :math:`\kappa^2\epsilon` term (Higham 2002, Accuracy and
#: Stability of Numerical Algorithms, 2nd ed., section 20.1), which reaches 1 there: a change of the data at
#: rounding level could change the coefficients and variances by 100%. Beyond it the numbers are not the data's.
CONDITION_LIMIT = float(1.0 / np.sqrt(np.finfo(np.float64).eps))
#: A design with at most this many entries is "thin": its SVD runs with one BLAS thread
#: (:func:`evalkit._threads.single_threaded_blas`). Measured on a 5,040 x 16 design with the other core busy:
#: 0.68 s with the default threads, 0.002 s with one.
THIN_ENTRIES = 2**22

#: A column's weight in the near-null direction above this share of the largest weight names it as involved.
_INVOLVED_SHARE = 1e-3


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
    X, e, w = _checked_inputs(X, residuals, weights)
    sw = None
    if w is not None:
        sw = np.sqrt(w)
        X = X * sw[:, None]
        if e is not None:
            e = e * sw
    return X, e, sw


def _checked_inputs(
    X: Any, residuals: Any | None, weights: Any | None
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """``X`` as a finite (n, k) float array, and the checked residuals and positive weights (or ``None``)."""
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
    w = None
    if weights is not None:
        w = _checked_vector("weights", weights, n)
        if (w <= 0).any():
            i = int(np.flatnonzero(w <= 0)[0])
            raise InferenceError(
                f"weights must be positive; observation {i} has weight {w[i]:g}. Drop observations with "
                "zero weight before estimating."
            )
    return X, e, w


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


@dataclass(frozen=True, eq=False)
class ConditionedDesign:
    """A well-conditioned basis :math:`X_c = XT` of the column space of a design, in the weighted space.

    Built by :func:`condition_design`. Every quantity of a linear fit that does not depend on the basis of the
    column space of :math:`X` (fitted values, residuals, leverages :math:`h_{ii}`, the CR2 adjustments
    :math:`A_g`, the Bell-McCaffrey df of a contrast) is computed on :math:`X_c`; coefficients and covariances are
    mapped back with :meth:`coef` and :meth:`vcov`, contrasts forward with :meth:`contrasts`.

    Attributes
    ----------
    X : ndarray of shape (n, k)
        :math:`X_c = XT`, unweighted.
    Xt : ndarray of shape (n, k)
        :math:`W^{1/2}X_c` (``X`` itself without weights): orthonormal columns by default.
    et : ndarray of shape (n,) or None
        :math:`W^{1/2}e` for the residuals given (``None`` if none were given).
    sw : ndarray of shape (n,) or None
        :math:`\\sqrt{w}` (``None`` without weights).
    T : ndarray of shape (k, k)
        The reparametrisation: :math:`\\beta = T\\beta_c`, :math:`V(\\hat\\beta) = T V(\\hat\\beta_c) T'`.
    B : ndarray of shape (k, k)
        :math:`(\\tilde X_c'\\tilde X_c)^{-1}` with :math:`\\tilde X_c` = ``Xt`` (the identity for an orthonormal
        basis).
    L : ndarray of shape (k, k)
        A factor with :math:`LL' = B`.
    condition_number : float
        :math:`s_{max}/s_{min}` of the centred design with every column scaled to unit (weighted) norm.
    centred : bool
        Whether the non-constant columns were centred (the design has a constant column).
    source : tuple
        The ``X`` and ``weights`` objects it was built from (default basis only; see :meth:`reuse_for`).
    """

    X: np.ndarray = field(repr=False)
    Xt: np.ndarray = field(repr=False)
    et: np.ndarray | None = field(repr=False)
    sw: np.ndarray | None = field(repr=False)
    T: np.ndarray = field(repr=False)
    B: np.ndarray = field(repr=False)
    L: np.ndarray = field(repr=False)
    condition_number: float
    centred: bool
    _u: np.ndarray = field(repr=False)  # orthonormal basis U of Xt's column space
    _solve: np.ndarray = field(repr=False)  # beta_c = _solve @ U' W^1/2 y
    source: tuple[object, object] = field(default=(None, None), repr=False)

    def reuse_for(self, X: Any, residuals: Any, weights: Any) -> ConditionedDesign | None:
        """This design with the residuals ``residuals`` (checked, weighted), if it was built by
        :func:`condition_design` from these very ``X`` and ``weights`` objects in the default basis, else None.

        A fit's design serves its sandwich (:func:`evalkit.inference.sandwich.sandwich`) without a second SVD of
        :math:`X`; identity (not equality) of the arrays is what is checked, so a design is never applied to another
        matrix.
        """
        if self.source[0] is None or self.source[0] is not X or self.source[1] is not weights:
            return None
        e = _checked_vector("residuals", residuals, self.X.shape[0])
        return replace(self, et=e if self.sw is None else e * self.sw)

    def solve(self, y: np.ndarray) -> np.ndarray:
        """Least-squares coefficients :math:`\\hat\\beta_c` of (unweighted) ``y`` on ``X`` (weighted), shape (k,).

        Notes
        -----
        :math:`\\hat\\beta_c = VS^{-1}U'W^{1/2}y` from the thin SVD :math:`W^{1/2}X_c = USV'` (just
        :math:`U'W^{1/2}y` for the orthonormal basis :math:`X_c = U`), a backward-stable solve whose error grows
        with :math:`\\kappa(X_c)`, not with :math:`\\kappa(X_c)^2` as the normal equations (Golub and Van Loan
        2013, Matrix Computations, 4th ed., section 5.5).
        """
        yt = np.asarray(y, dtype=np.float64)
        if self.sw is not None:
            yt = yt * self.sw
        return self._solve @ (self._u.T @ yt)

    def coef(self, beta_c: np.ndarray) -> np.ndarray:
        """Coefficients of the original columns, :math:`T\\beta_c`."""
        return self.T @ beta_c

    def vcov(self, V_c: np.ndarray) -> np.ndarray:
        """Covariance of the original coefficients, :math:`T V_c T'`."""
        return self.T @ V_c @ self.T.T

    def contrasts(self, C: np.ndarray) -> np.ndarray:
        """Contrasts of the original coefficients (columns of ``C``) written for :math:`\\beta_c`: :math:`T'C`."""
        return self.T.T @ C


def _mean(A: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    return A.mean(axis=0) if w is None else (w @ A) / w.sum()


def centre_columns(A: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The columns of ``A`` (n, k) minus their (weighted) means, to full relative precision; and the means.

    Returns
    -------
    centred : ndarray of shape (n, k)
        A new array, :math:`a_{ij} - \\bar a_j`.
    means : ndarray of shape (k,)
        :math:`\\bar a_j = \\sum_i w_ia_{ij}/\\sum_i w_i`.

    Notes
    -----
    Corrected two-pass algorithm: :math:`(a_{ij} - m_1) - m_2` with :math:`m_1` the mean and :math:`m_2` the mean
    of the deviations :math:`a_{ij} - m_1` (Higham 2002, Accuracy and Stability of Numerical Algorithms, 2nd ed.,
    section 1.9). Subtracting the mean as one number cannot be as accurate: the mean of a column shifted by
    :math:`10^{10}` is only representable to :math:`2 \\times 10^{-6}`, while :math:`a_{ij} - m_1` is exact
    (Sterbenz's lemma) and :math:`m_2` is small.
    """
    m1 = _mean(A, weights)
    r = A - m1
    m2 = _mean(r, weights)
    return r - m2, m1 + m2


def standardize_columns(A: np.ndarray) -> np.ndarray:
    """The columns of ``A`` (n, k) centred (see :func:`centre_columns`) and divided by their standard deviation.

    Notes
    -----
    For estimators that are invariant to an affine map of each covariate (a regression or a logit with an
    intercept), this is a reparametrisation that puts every covariate on the scale of its spread, so that a
    covariate far from zero does not make :math:`X'WX` numerically singular. Constant columns are left at zero.
    """
    centred, _ = centre_columns(A)
    sd = np.sqrt(_mean(centred**2, None))
    return centred / np.where(sd > 0, sd, 1.0)


def _centre_and_scale(
    X: np.ndarray, w: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
    """The centring and scaling of :func:`condition_design` (see its Notes), shared with
    :func:`design_condition_number`.

    Returns ``(Xc, Z, T0, D, fixed, constant, centred)``: the centred design :math:`X_c = XT_0`, the unit-scaled
    weighted design :math:`Z = W^{1/2}X_cD^{-1}`, :math:`T_0`, the column norms :math:`D` (1 for a zero column),
    the columns constant in the sample, the constant nonzero ones, and whether anything was centred.
    """
    k = X.shape[1]
    T = np.eye(k)
    first = X[0]
    fixed = X.max(axis=0) == X.min(axis=0)  # (X == first).all(axis=0) for finite X, without an (n, k) temporary
    constant = np.flatnonzero(fixed & (first != 0))
    centred = bool(constant.size)
    Xc = X  # not modified unless copied first
    if centred:
        Xc = X.copy()
        c = int(constant[0])
        moving = np.flatnonzero(~fixed)
        if moving.size:
            Xc[:, moving], means = centre_columns(X[:, moving], w)
            T[c, moving] = -means / first[c]
    Xt = Xc if w is None else Xc * np.sqrt(w)[:, None]
    norms = column_norms(Xt)
    norms[norms == 0] = 1.0
    return Xc, Xt / norms, T, norms, fixed, constant, centred


def column_norms(A: np.ndarray) -> np.ndarray:
    """Euclidean norm of each column of ``A`` (n, k): ``np.linalg.norm(A, axis=0)`` without its (n, k) temporary."""
    return np.sqrt(np.einsum("ij,ij->j", A, A))


def thin_svd(A: np.ndarray, *, overwrite: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thin SVD ``A = U diag(s) V'`` of an (n, k) matrix, as ``np.linalg.svd(A, full_matrices=False)``; with
    ``overwrite`` a tall Fortran-ordered ``A`` is overwritten (one (n, k) array less at the peak).

    Notes
    -----
    For a tall matrix (:math:`n \\ge 2k`) the R-SVD: a Householder QR :math:`A = QR`, the SVD
    :math:`R = U_R S V'` of the small triangle, and :math:`U = QU_R` (Chan 1982, ACM TOMS 8(1); Golub and Van Loan
    2013, Matrix Computations, 4th ed., section 8.6.3). It is backward stable like the direct SVD (LAPACK's own
    driver takes this route internally for such shapes) and, on one thread, about twice as fast for small ``k``.
    """
    n, k = A.shape
    if n < 2 * k or k == 0:
        return np.linalg.svd(A, full_matrices=False)
    q, r = scipy.linalg.qr(A, mode="economic", check_finite=False, overwrite_a=overwrite)
    ur, s, vt = np.linalg.svd(r)
    return q @ ur, s, vt


def _condition_from_singular_values(s: np.ndarray, n: int, k: int) -> float:
    """:math:`s_{max}/s_{min}`; infinite when the design is rank deficient by the ``matrix_rank`` rule."""
    rank_tol = s.max(initial=0.0) * max(n, k) * np.finfo(np.float64).eps
    if s.size < k or s[-1] <= rank_tol:
        return np.inf
    return float(s[0] / s[-1])


def acceptable_condition(cond: Any) -> Any:
    """Whether a condition number (float or array) is accepted: finite and at most :data:`CONDITION_LIMIT`.

    The one collinearity rule of evalkit: :func:`condition_design` refuses a design, and the batched fits of
    :mod:`evalkit.inference.batched` mark a re-drawn assignment undefined, exactly when this is False for the
    condition number of the centred, unit-scaled (weighted) design (:func:`design_condition_number`).
    """
    return np.isfinite(cond) & (np.asarray(cond) <= CONDITION_LIMIT)


def design_condition_number(X: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Condition number of the centred, unit-scaled (weighted) design, as :func:`condition_design` computes it.

    Parameters
    ----------
    X : ndarray of shape (n, k)
        Design matrix, unweighted, finite.
    weights : ndarray of shape (n,), optional
        Positive weights.

    Returns
    -------
    float
        :math:`s_{max}/s_{min}` of :math:`W^{1/2}XT_0D^{-1}` (see :func:`condition_design`, Notes; Belsley, Kuh and
        Welsch 1980, Regression Diagnostics, ch. 3); ``inf`` when rank deficient.
    """
    X = np.asarray(X, dtype=np.float64)
    w = None if weights is None else np.asarray(weights, dtype=np.float64)
    _, Xt, _, _, _, _, _ = _centre_and_scale(X, w)
    s = np.linalg.svd(Xt, compute_uv=False)
    return _condition_from_singular_values(s, *X.shape)


def condition_design(
    X: Any,
    residuals: Any | None = None,
    weights: Any | None = None,
    *,
    names: Sequence[str] | None = None,
    target: int | None = None,
    keep: int | None = None,
) -> ConditionedDesign:
    """Check a design, give it a well-conditioned basis, and refuse it when it is collinear or ill-conditioned.

    Parameters
    ----------
    X : array-like of shape (n, k) or (n,)
        Design matrix, unweighted.
    residuals : array-like of shape (n,), optional
        Unweighted residuals ``y - X b`` (returned weighted as ``et``).
    weights : array-like of shape (n,), optional
        Positive WLS weights; ``None`` for OLS.
    names : sequence of str, optional
        Column names for error messages (default: column indices).
    target : int, optional
        Index of the coefficient of interest (the treatment), named first in a refusal that involves it.
    keep : int, optional
        A column whose coefficient must be the same in both bases (for code that reads one coefficient of
        :math:`\\beta_c`, such as the wild bootstrap): the basis is then only centred and scaled, with this column
        left at its scale (centring it moves only the intercept). Default: the orthonormal basis.

    Returns
    -------
    ConditionedDesign

    Raises
    ------
    InferenceError
        On a wrong shape, missing or infinite values, or a non-positive weight.
    EstimationError
        If the centred, unit-scaled design is rank deficient or its condition number exceeds
        :data:`CONDITION_LIMIT`; the message names the columns involved and the condition number.

    Notes
    -----
    When :math:`X` has a constant column (an intercept), every non-constant column is centred at its weighted mean
    :math:`\\bar x_j = \\sum_i w_ix_{ij}/\\sum_i w_i`, subtracted in two passes (the mean of the deviations from a
    first mean corrects its rounding error; Higham 2002, Accuracy and Stability of Numerical Algorithms, 2nd ed.,
    section 1.9); without one (e.g. a regression on within-unit deviations, whose fixed effects are already
    absorbed) nothing is centred. Every column is then scaled to unit norm in the weighted space, giving
    :math:`Z = W^{1/2}XT_0` with :math:`T_0 = (I - e_0\\bar x')D^{-1}` for the constant column :math:`e_0` and the
    norms :math:`D`. Its thin SVD :math:`Z = USV'` gives the condition number :math:`s_{max}/s_{min}` and the
    orthonormal basis :math:`W^{1/2}X_c = U`, :math:`T = T_0VS^{-1}` (with ``keep``: :math:`X_c = XT_0`,
    :math:`B = VS^{-2}V'`). In either basis :math:`\\beta = T\\beta_c` and :math:`V(\\hat\\beta) =
    TV(\\hat\\beta_c)T'`, while fitted values, residuals, leverages and the CR2 adjustment matrices are the same.

    Why this matters: the subtractions :math:`x_{ij} - \\bar x_j` are exact when :math:`\\bar x_j` is within a
    factor two of :math:`x_{ij}` (Sterbenz's lemma), so a covariate shifted by :math:`10^{10}` gives the same
    centred column up to a constant, which the intercept absorbs, and scaling removes its units: the coefficients
    other than the intercept, the residuals and every standard error do not depend on the location or the units
    of a covariate. On the orthonormal basis the sandwich :math:`B(\\sum\\dots)B` has :math:`B = I`, so its error
    grows with :math:`\\kappa` rather than :math:`\\kappa^2`. The collinearity check uses the condition number of
    the centred, scaled design (Belsley, Kuh and Welsch 1980, Regression Diagnostics, ch. 3, scale the columns;
    centring removes the spurious collinearity of a covariate far from zero with the intercept), refused above
    :data:`CONDITION_LIMIT` :math:`= \\epsilon^{-1/2}`; the columns named are those with weight in the right
    singular vector of the smallest singular value.
    """
    X_in = X
    X, e, w = _checked_inputs(X, residuals, weights)
    n, k = X.shape
    Xc, Xt, T, norms, fixed, constant, centred = _centre_and_scale(X, w)
    sw = None if w is None else np.sqrt(w)
    with single_threaded_blas() if n * k <= THIN_ENTRIES else contextlib.nullcontext():
        u, s, vt = thin_svd(Xt, overwrite=keep is None)  # Z is not read again in the default basis
    cond = _condition_from_singular_values(s, n, k)
    if not acceptable_condition(cond):
        rank_tol = s.max(initial=0.0) * max(n, k) * np.finfo(np.float64).eps
        null = vt[-1] if s.size == k else np.linalg.svd(Xt)[2][-1]
        extra_constant = fixed & centred  # constant columns other than the intercept
        extra_constant[constant[:1]] = False
        ratio = float(s[0] / s[-1]) if s.size == k and s[-1] > 0 else np.inf
        _refuse(null, int((s > rank_tol).sum()), k, ratio, extra_constant, names, target)
    if keep is None:  # orthonormal basis U: T = T0 D^-1 V S^-1, B = L = I
        T = (T / norms) @ (vt.T / s)
        Xt, Xc = u, (u if sw is None else u / sw[:, None])
        B = L = solve = np.eye(k)
    else:  # centred and scaled, column `keep` at its scale: Z_keep = Z d, B = d^-1 V S^-2 V' d^-1
        d = np.ones(k)
        d[keep] = norms[keep]
        norms = norms / d
        Xc, Xt, T = Xc / norms, Xt * d, T / norms
        L = (vt / d).T / s
        B, solve = L @ L.T, L
    return ConditionedDesign(
        X=Xc,
        Xt=Xt,
        et=None if e is None else (e if sw is None else e * sw),
        sw=sw,
        T=T,
        B=B,
        L=L,
        condition_number=cond,
        centred=centred,
        _u=u,
        _solve=solve,
        source=(X_in, weights) if keep is None else (None, None),
    )


def _refuse(
    null: np.ndarray,
    rank: int,
    k: int,
    cond: float,
    constant: np.ndarray,
    names: Sequence[str] | None,
    target: int | None,
) -> None:
    """Raise the EstimationError for a rank-deficient or ill-conditioned design (see :func:`condition_design`)."""
    a = np.abs(null)
    cols = [int(j) for j in np.flatnonzero(a > _INVOLVED_SHARE * a.max())]
    size = "infinite" if not np.isfinite(cond) else f"{cond:.3g}"
    why = (
        f"the condition number of the centred, unit-scaled design is {size} (rank {rank} of {k} columns), above "
        f"the limit {CONDITION_LIMIT:.3g} = 1/sqrt(machine epsilon), where half of the 16 significant digits of "
        "the coefficients and standard errors are lost to rounding"
    )
    if names is None:
        shown = ", ".join(str(j) for j in cols)
        raise EstimationError(
            f"the regressors are collinear: columns {shown} of X are (nearly) linearly dependent; {why}. Drop one "
            "of them, e.g. a duplicated covariate or a dummy for every category of a factor."
        )
    const = [repr(names[j]) for j in cols if constant[j]]
    hint = f" ({', '.join(const)} constant within the sample)" if const else ""
    if target is not None and target in cols:
        others = ", ".join(repr(names[j]) for j in cols if j != target)
        raise EstimationError(
            f"the treatment indicator {names[target]!r} is collinear with the other regressors ({others}){hint}: "
            f"{why}. There is no variation in treatment left to estimate an effect; check the covariates and blocks."
        )
    shown = ", ".join(repr(names[j]) for j in cols)
    raise EstimationError(
        f"regressor(s) {shown} are collinear (nearly linearly dependent){hint}: {why}. Drop one of them from the "
        "covariates (a near-duplicate, or a linear combination of the others)."
    )


def factorize_clusters(
    clusters: Any,
    n: int,
    *,
    needs: str = "cluster-robust standard errors need",
    because: str = "there is no between-cluster variation to estimate",
    any_order: bool = False,
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
    any_order : bool, default False
        For callers that only sum within clusters (the CR0/CR1 meat): non-negative integer labels spanning at most
        a few times ``n`` (a design's codes) are then numbered in increasing order by counting, :math:`O(n)`,
        instead of hashed in order of first appearance.

    Returns
    -------
    codes : ndarray of shape (n,) of intp
    uniques : ndarray of shape (G,)

    Raises
    ------
    InferenceError
        On a wrong shape, a missing label, or fewer than 2 clusters.
    DataError
        On an unhashable label (a list or dict).

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
    if any_order and labels.dtype.kind in "iu" and n and labels.min() >= 0 and labels.max() <= 4 * n:
        present = np.bincount(labels) > 0
        if np.count_nonzero(present) >= 2:  # fewer: the checks and messages below
            return (np.cumsum(present, dtype=np.intp) - 1)[labels], np.flatnonzero(present)
    try:
        codes, uniques = pd.factorize(labels, use_na_sentinel=True)
    except TypeError:  # an unhashable label (a list or dict cell) cannot be grouped
        at = next(i for i, v in enumerate(labels) if not _hashable(v))
        raise DataError(
            f"clusters has an unhashable label ({type(labels[at]).__name__} {labels[at]!r} at observation {at}); "
            "cluster labels must be single values (numbers or text). Convert them, e.g. with .map(str), first."
        ) from None
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


def _hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


#: Widest values (columns after flattening) that :func:`group_sum` sums by one ``numpy.bincount`` per column.
BINCOUNT_COLUMNS = 16


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
    No ``(G, n)`` indicator matrix, as in the cluster sums of the sandwich (Cameron and Miller 2015, J. Human
    Resources 50(2), eq. 11). Up to :data:`BINCOUNT_COLUMNS` columns (after flattening the trailing dimensions):
    one ``numpy.bincount`` per column, :math:`O(n)` each; wider values: one stable sort and one
    ``numpy.add.reduceat``, :math:`O(n \\log n)` once.
    """
    flat = values.reshape(values.shape[0], -1)
    if flat.shape[1] <= BINCOUNT_COLUMNS:
        out = np.empty((n_groups, flat.shape[1]), dtype=np.float64)
        for j in range(flat.shape[1]):
            out[:, j] = np.bincount(codes, weights=flat[:, j], minlength=n_groups)
        return out.reshape((n_groups, *values.shape[1:]))
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
