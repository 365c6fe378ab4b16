"""What the batched estimators of :mod:`evalkit.estimators.batch` and :mod:`evalkit.estimators.batch_did` share.

Internal: the result type :class:`BatchFit` (re-exported by :mod:`evalkit.estimators.batch`, its public home),
the covariance-type names, the numerical tolerances and memory budget, and the cluster-matrix helper. Kept apart so
that ``batch`` (which dispatches to the difference-in-differences fits) and ``batch_did`` (which returns
:class:`BatchFit`) both import it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from evalkit._linear_algebra import LEVERAGE_TOL
from evalkit.errors import EstimationError, InferenceError

__all__ = [
    "CLUSTER_TYPES",
    "COV_TYPES",
    "MEMORY_BUDGET",
    "SINGULAR_TOL",
    "BatchFit",
    "check_residual_df",
    "groups_for",
    "target_gram",
]

# Same set of names as evalkit.inference.sandwich.CovType (not imported: estimators sit below inference).
COV_TYPES = ("classical", "HC0", "HC1", "HC2", "HC3", "CR0", "CR1", "CR2")
CLUSTER_TYPES = ("CR0", "CR1", "CR2")
SINGULAR_TOL = 1e-14  # smallest / largest eigenvalue of the scaled X'WX below this: collinear draw
MEMORY_BUDGET = 64 * 2**20  # bytes of float64 work arrays per chunk of draws


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
        One of :data:`COV_TYPES`.
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


def target_gram(
    a: np.ndarray,
    E: np.ndarray,
    cov_type: str,
    n: int,
    k: int,
    btt: np.ndarray,
    h: np.ndarray | None,
    *,
    groups: np.ndarray | None = None,
    starts: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Sandwich variance of one coefficient under a batch of fits, as Gram matrices over response columns.

    Serves every covariance type but CR2 (whose adjustment needs the regressors, not only ``a``).

    Parameters
    ----------
    a : ndarray (b, n)
        Row ``t`` of :math:`(\\tilde X'\\tilde X)^{-1}\\tilde X'` for each fit (so that
        :math:`\\hat\\beta_t = a'\\tilde y`).
    E : ndarray (b, n, r)
        Residuals (weighted space) of each fit and response column.
    cov_type : {"classical", "HC0", "HC1", "HC2", "HC3", "CR0", "CR1"}
        Covariance type.
    n, k : int
        Observations and coefficients of each fit.
    btt : ndarray (b,)
        :math:`(\\tilde X'\\tilde X)^{-1}_{tt}` (classical only).
    h : ndarray (b, n) or None
        Leverages :math:`h_{ii}` (HC2 and HC3 only).
    groups : ndarray (G, n), optional
        One-hot cluster matrix (CR0 and CR1), as from :func:`groups_for`; or
    starts : ndarray (G,), optional
        First row of each cluster when the rows are sorted by cluster (CR0 and CR1).

    Returns
    -------
    gram : ndarray (b, r, r)
        Symmetrized :math:`U'U` (``c' gram c`` is the variance for the response combination ``Y c``).
    good : ndarray (b,) of bool
        False for fits with a leverage of one under HC2/HC3 (their variance is undefined).

    Notes
    -----
    :math:`u_i = a_i e_i \\sqrt{\\omega_i}` with :math:`\\omega_i = 1` (HC0, HC1 times :math:`n/(n-k)`),
    :math:`1/(1-h_{ii})` (HC2) or :math:`1/(1-h_{ii})^2` (HC3) (MacKinnon and White 1985, J. Econometrics 29(3));
    :math:`u_g = \\sum_{i \\in g} a_i e_i` per cluster (CR0; CR1 times :math:`\\frac{G}{G-1}\\frac{n-1}{n-k}`,
    Liang and Zeger 1986); classical: :math:`\\hat\\sigma^2 (X'X)^{-1}_{tt}` with
    :math:`\\hat\\sigma^2 = e'e/(n-k)`.
    """
    good = np.ones(a.shape[0], dtype=bool)
    if cov_type == "classical":
        g = (np.swapaxes(E, 1, 2) @ E) * (btt / (n - k))[:, None, None]
    elif cov_type in ("HC0", "HC1", "HC2", "HC3"):
        U = a[:, :, None] * E
        if h is not None:
            one_minus = 1.0 - h
            good = (one_minus >= LEVERAGE_TOL).all(axis=1)
            one_minus = np.where(one_minus >= LEVERAGE_TOL, one_minus, 1.0)
            U = U / (np.sqrt(one_minus) if cov_type == "HC2" else one_minus)[:, :, None]
        g = np.swapaxes(U, 1, 2) @ U
        if cov_type == "HC1":
            g = g * (n / (n - k))
    else:  # CR0, CR1
        scores = a[:, :, None] * E
        if starts is not None:
            U = np.add.reduceat(scores, starts, axis=1)  # (b, G, r)
        elif groups is not None:
            U = groups @ scores  # (b, G, r)
        else:
            raise InferenceError(f"cov_type={cov_type!r} needs the clusters (groups= or starts=).")
        G = U.shape[1]
        g = np.swapaxes(U, 1, 2) @ U
        if cov_type == "CR1":
            g = g * (G / (G - 1) * (n - 1) / (n - k))
    return 0.5 * (g + np.swapaxes(g, 1, 2)), good
