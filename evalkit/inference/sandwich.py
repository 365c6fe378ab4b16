"""Heteroskedasticity- and cluster-robust (sandwich) covariance with small-sample degrees of freedom.

Pure numpy functions that a fitted linear model (OLS or WLS) hands its design matrix and residuals to. The
conventions follow R's ``estimatr::lm_robust`` (Blair, Cooper, Coppock, Humphreys and Sonnet), so that
``inference="HC2"`` and ``inference="CR2"`` give the numbers users of ``estimatr`` know:

============  ==============================================================  ==================
``cov_type``  variance                                                        t-test df
============  ==============================================================  ==================
classical     :math:`\\hat\\sigma^2 (X'WX)^{-1}`, :math:`\\hat\\sigma^2 = e'We/(n-k)`  :math:`n-k`
HC0 ... HC3   MacKinnon and White (1985)                                      :math:`n-k`
CR0, CR1      Liang-Zeger; CR1 with Stata's :math:`\\frac{G}{G-1}\\frac{n-1}{n-k}`  :math:`G-1`
CR2           Bell and McCaffrey (2002) bias-reduced linearization            Bell-McCaffrey
============  ==============================================================  ==================

The public entry points are :func:`sandwich` (returns a :class:`CovarianceEstimate`),
:func:`bell_mccaffrey_df` for the degrees of freedom of any linear contrast, and the settings object
:class:`Sandwich` used by ``design.estimate(..., inference=Sandwich("CR2"))``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from evalkit._linear_algebra import (
    LEVERAGE_TOL,
    ConditionedDesign,
    check_finite,
    condition_design,
    cr2_phi,
    factorize_clusters,
    group_sum,
)
from evalkit._threads import thin_blas
from evalkit._validation import check_option
from evalkit.errors import EstimationError, InferenceError, OptionError
from evalkit.inference._cr2_identity import cr2_identity_directions, cr2_identity_weighted

__all__ = [
    "NO_CORRECTION",
    "CovType",
    "CovarianceEstimate",
    "DfMethod",
    "SmallSampleCorrection",
    "WorkingModel",
    "bell_mccaffrey_df",
    "check_absorbed_leverage",
    "check_bm_type",
    "coefficient_meat",
    "coefficient_score_weights",
    "cr2_adjusted_scores",
    "leverage_scale",
    "residual_df",
    "sandwich",
    "small_sample_factor",
]

CovType = Literal["classical", "HC0", "HC1", "HC2", "HC3", "CR0", "CR1", "CR2"]
#: How the t-test df are obtained: the type's usual df, or Bell-McCaffrey (HC2 and CR2; CR2's usual df).
DfMethod = Literal["default", "bell_mccaffrey"]
#: The working model of weighted CR2: errors with equal variances (``"identity"``, estimatr's and clubSandwich's
#: default) or with variances proportional to 1/w (``"inverse_variance"``, CR2 of sqrt(w) y on sqrt(w) X).
WorkingModel = Literal["identity", "inverse_variance"]

_CLUSTER_TYPES = ("CR0", "CR1", "CR2")


# ----------------------------------------------------------------------------------------------------------
# the small-sample correction: the one place where n - k, n / (n - k) and G / (G - 1) (n - 1) / (n - k) live
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmallSampleCorrection:
    """Parameters a fit estimated outside its design matrix, counted once by every small-sample factor.

    A within-transformed (FWL) panel fit absorbs the unit effects: its design matrix has ``k`` columns but the model
    estimated ``k + absorbed`` parameters. The residual degrees of freedom and the ``classical``, ``HC1`` and ``CR1``
    factors must count them (as ``linearmodels``' ``extra_df`` does); ``CR1`` follows fixest in not counting effects
    that are nested in the clusters when ``nested`` says so.

    Parameters
    ----------
    absorbed : int, default 0
        Number of parameters projected out of the design matrix (e.g. one per panel unit).
    nested : int, default 0
        How many of the ``absorbed`` parameters are nested within the clusters and left out of the ``CR1`` factor
        (fixest's ``fixef.K = "nested"``). Zero counts every absorbed parameter (the dummy-variable convention).

    Notes
    -----
    With :math:`K` the number of parameters counted, :func:`small_sample_factor` returns :math:`1/(n-K)`
    (classical, multiplying :math:`e'e\\,(X'X)^{-1}`), :math:`n/(n-K)` (HC1),
    :math:`\\frac{G}{G-1}\\frac{n-1}{n-K}` (CR1) and 1 otherwise; the t-test df are :math:`n-K` for the
    heteroskedasticity-robust and classical types. :math:`K = k + \\text{absorbed}`, less ``nested`` for the
    cluster-robust types (Cameron and Miller 2015, J. Human Resources 50(2), section VI; Berge 2018, fixest).
    """

    absorbed: int = 0
    nested: int = 0

    def __post_init__(self) -> None:
        for name in ("absorbed", "nested"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
                raise InferenceError(f"SmallSampleCorrection({name}={value!r}) must be a non-negative int.")
        if self.nested > self.absorbed:
            raise InferenceError(
                f"SmallSampleCorrection(nested={self.nested}) cannot exceed absorbed={self.absorbed}: only absorbed "
                "parameters can be nested in the clusters."
            )

    def n_params(self, k: int, cov_type: str) -> int:
        """The number of parameters :math:`K` that ``cov_type``'s factor and df count for a ``k``-column fit."""
        return int(k) + self.absorbed - (self.nested if cov_type in _CLUSTER_TYPES else 0)


#: No parameters beyond the design matrix's columns.
NO_CORRECTION = SmallSampleCorrection()


def small_sample_factor(
    cov_type: str, n: int, k: int, n_clusters: int | None = None, correction: SmallSampleCorrection = NO_CORRECTION
) -> float:
    """The factor that multiplies the uncorrected sandwich of ``cov_type`` (the only copy of these formulas).

    Parameters
    ----------
    cov_type : {"classical", "HC0", "HC1", "HC2", "HC3", "CR0", "CR1", "CR2"}
        Covariance type.
    n, k : int
        Observations and columns of the design matrix.
    n_clusters : int, optional
        Number of clusters :math:`G` (CR1 only).
    correction : SmallSampleCorrection
        Parameters estimated outside the design matrix.

    Returns
    -------
    float
        :math:`1/(n-K)` for ``classical`` (it multiplies :math:`e'e\\,B`), :math:`n/(n-K)` for HC1,
        :math:`\\frac{G}{G-1}\\frac{n-1}{n-K}` for CR1 (Stata, ``estimatr`` ``"stata"``), 1 for the others.

    Raises
    ------
    EstimationError
        If the model has no residual degrees of freedom (:math:`n \\le K`) for a type that divides by them.
    InferenceError
        For CR1 with fewer than two clusters (as :func:`~evalkit._linear_algebra.factorize_clusters`).
    """
    K = correction.n_params(k, cov_type)
    if cov_type in ("classical", "HC1", "CR1") and n <= K:
        raise EstimationError(f"the model has no residual degrees of freedom: {n} observations for {K} parameters.")
    if cov_type == "classical":
        return 1.0 / (n - K)
    if cov_type == "HC1":
        return n / (n - K)
    if cov_type == "CR1":
        if n_clusters is None:
            raise InferenceError("the CR1 factor needs the number of clusters.")
        if n_clusters < 2:
            raise InferenceError(
                f"CR1 standard errors need at least 2 clusters; found {n_clusters}. With one cluster there is no "
                "between-cluster variation to estimate (G/(G-1) is undefined); use a heteroskedasticity-robust type "
                "such as 'HC2', or randomization inference."
            )
        return n_clusters / (n_clusters - 1) * (n - 1) / (n - K)
    return 1.0


def residual_df(
    cov_type: str, n: int, k: int, n_clusters: int | None = None, correction: SmallSampleCorrection = NO_CORRECTION
) -> float:
    """Degrees of freedom of the t test for ``cov_type``: :math:`n-K`, :math:`G-1` (CR0, CR1), NaN for CR2.

    CR2's df depend on the contrast (Bell-McCaffrey, :func:`bell_mccaffrey_df`), so this returns NaN for it.
    """
    if cov_type in ("CR0", "CR1"):
        if n_clusters is None:
            raise InferenceError(f"{cov_type} df need the number of clusters.")
        return float(n_clusters - 1)
    if cov_type == "CR2":
        return float("nan")
    return float(n - correction.n_params(k, cov_type))


# ----------------------------------------------------------------------------------------------------------
# the meat: the one place where leverage weights, cluster sums of scores and the CR2 score adjustment are computed,
# for sandwich() below, the batched resampling engine (evalkit.inference.batched) and the wild-bootstrap
# studentizer (evalkit.inference.multiple_testing)
# ----------------------------------------------------------------------------------------------------------


def check_absorbed_leverage(cov_type: str, correction: SmallSampleCorrection) -> None:
    """Refuse HC2/HC3 for a fit with absorbed parameters: its leverages are not those of the model."""
    if correction.absorbed and cov_type in ("HC2", "HC3"):
        raise InferenceError(
            f"{cov_type} would need the leverage of the {correction.absorbed} absorbed fixed effects; use 'CR2' "
            "(clustered by unit, the default for panels) or 'HC1'."
        )


def leverage_scale(h: np.ndarray | None, cov_type: str, *, strict: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The factor :math:`s_i` that multiplies each score :math:`a_i e_i` of ``cov_type``, and where it is defined.

    Parameters
    ----------
    h : ndarray (..., n) or None
        Leverages :math:`h_{ii}` of one fit, or of a batch of fits along the leading axes. Needed by HC2 and HC3;
        for the other types the factor is 1 (and ``h`` may be ``None``).
    cov_type : str
        Covariance type.
    strict : bool, default True
        Raise on a leverage of one (``sandwich()``, the wild-bootstrap studentizer). With ``False`` the factor is
        1 there and ``good`` marks the fits that have one (the batched engine makes their variance NaN).

    Returns
    -------
    scale : ndarray (..., n)
        :math:`1/\\sqrt{1-h_{ii}}` (HC2), :math:`1/(1-h_{ii})` (HC3), 1 otherwise.
    good : ndarray (...) of bool
        False for the fits with some :math:`1 - h_{ii}` below :data:`evalkit._linear_algebra.LEVERAGE_TOL`.

    Raises
    ------
    InferenceError
        With ``strict``, if an observation has a leverage of one under HC2/HC3 (the variance is undefined).

    Notes
    -----
    The weights :math:`\\omega_i = s_i^2` of MacKinnon and White (1985, J. Econometrics 29(3)):
    :math:`1/(1-h_{ii})` for HC2 and :math:`1/(1-h_{ii})^2` for HC3.
    """
    if cov_type not in ("HC2", "HC3"):
        shape = () if h is None else np.shape(h)
        return np.ones(shape), np.ones(shape[:-1], dtype=bool)
    if h is None:
        raise InferenceError(f"cov_type={cov_type!r} needs the leverages h_ii of the fit.")
    one_minus = 1.0 - np.asarray(h, dtype=np.float64)
    defined = one_minus >= LEVERAGE_TOL
    if strict and not defined.all():
        bad = np.flatnonzero(~defined.reshape(-1))
        shown = ", ".join(str(i) for i in bad[:5]) + (", ..." if bad.size > 5 else "")
        raise InferenceError(
            f"{cov_type} is undefined: observation(s) {shown} have leverage h_ii = 1 (the model "
            "fits them exactly; usual cause: a block or treatment arm with a single unit, or a "
            "dummy equal to 1 for one observation only). Drop or merge that block/arm, or use "
            "'HC1'."
        )
    one_minus = np.where(defined, one_minus, 1.0)
    return 1.0 / (np.sqrt(one_minus) if cov_type == "HC2" else one_minus), defined.all(axis=-1)


def cr2_adjusted_scores(cross: np.ndarray, phi: np.ndarray, scores: np.ndarray, rows: int | None = None) -> np.ndarray:
    """CR2 scores :math:`\\tilde X_g'A_g\\tilde e_g = \\tilde X_g'\\tilde e_g + C_g\\Phi_g\\tilde X_g'\\tilde e_g`.

    Parameters
    ----------
    cross : ndarray (..., G, k, k)
        :math:`C_g = \\tilde X_g'\\tilde X_g`.
    phi : ndarray (..., G, k, k)
        :math:`\\Phi_g` from :func:`evalkit._linear_algebra.cr2_phi`, so that
        :math:`A_g = I + \\tilde X_g\\Phi_g\\tilde X_g'`.
    scores : ndarray (..., G, k, r)
        :math:`\\tilde X_g'\\tilde e_g` for ``r`` residual vectors.
    rows : int, optional
        Return the adjusted scores of the first ``rows`` coefficients only (default: all ``k``).

    Returns
    -------
    ndarray (..., G, rows, r)

    Notes
    -----
    :math:`A_g = (I - H_{gg})^{-1/2}` (Bell and McCaffrey 2002, Survey Methodology 28(2)), written through the
    :math:`k \\times k` matrix :math:`\\Phi_g` so that no :math:`n_g \\times n_g` matrix is formed.
    """
    rows = scores.shape[-2] if rows is None else rows
    return scores[..., :rows, :] + cross[..., :rows, :] @ (phi @ scores)


def coefficient_meat(
    a: np.ndarray,
    E: np.ndarray,
    cov_type: str,
    n: int,
    k: int,
    btt: np.ndarray | None = None,
    h: np.ndarray | None = None,
    *,
    groups: np.ndarray | None = None,
    starts: np.ndarray | None = None,
    correction: SmallSampleCorrection = NO_CORRECTION,
) -> tuple[np.ndarray, np.ndarray]:
    """Sandwich variance of one coefficient under a batch of fits, as Gram matrices over response columns.

    Serves every covariance type but CR2, whose adjustment needs the regressors and not only ``a`` (the batched
    engine forms its scores with :func:`cr2_adjusted_scores`, as :func:`sandwich` does).

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
    btt : ndarray (b,), optional
        :math:`(\\tilde X'\\tilde X)^{-1}_{tt}` (classical only).
    h : ndarray (b, n), optional
        Leverages :math:`h_{ii}` (HC2 and HC3 only).
    groups : ndarray (G, n), optional
        One-hot cluster matrix (CR0 and CR1); or
    starts : ndarray (G,), optional
        First row of each cluster when the rows are sorted by cluster (CR0 and CR1).
    correction : SmallSampleCorrection
        Parameters estimated outside the design matrix (absorbed fixed effects), counted by the small-sample
        factor.

    Returns
    -------
    gram : ndarray (b, r, r)
        Symmetrized :math:`U'U` (``c' gram c`` is the variance for the response combination ``Y c``).
    good : ndarray (b,) of bool
        False for fits with a leverage of one under HC2/HC3 (their variance is undefined).

    Notes
    -----
    :math:`u_i = a_i e_i s_i` with :math:`s_i` from :func:`leverage_scale` (HC0 ... HC3; MacKinnon and White
    1985, J. Econometrics 29(3)); :math:`u_g = \\sum_{i \\in g} a_i e_i` per cluster (CR0, CR1; Liang and Zeger
    1986, Biometrika 73(1)); classical: :math:`e'e\\,(X'X)^{-1}_{tt}`. The HC1, CR1 and classical factors come from
    :func:`small_sample_factor`, as in :func:`sandwich`.
    """
    check_absorbed_leverage(cov_type, correction)
    good = np.ones(a.shape[0], dtype=bool)
    if cov_type == "classical":
        if btt is None:
            raise InferenceError("the classical variance needs btt, the (X'X)^{-1} entry of the coefficient.")
        g = (np.swapaxes(E, 1, 2) @ E) * (btt * small_sample_factor(cov_type, n, k, correction=correction))[
            :, None, None
        ]
    elif cov_type in ("HC0", "HC1", "HC2", "HC3"):
        U = a[:, :, None] * E
        if cov_type in ("HC2", "HC3"):
            s, good = leverage_scale(h, cov_type, strict=False)
            U = U * s[:, :, None]
        g = (np.swapaxes(U, 1, 2) @ U) * small_sample_factor(cov_type, n, k, correction=correction)
    else:  # CR0, CR1
        scores = a[:, :, None] * E
        if starts is not None:
            U = np.add.reduceat(scores, starts, axis=1)  # (b, G, r)
        elif groups is not None:
            U = groups @ scores  # (b, G, r)
        else:
            raise InferenceError(f"cov_type={cov_type!r} needs the clusters (groups= or starts=).")
        g = (np.swapaxes(U, 1, 2) @ U) * small_sample_factor(cov_type, n, k, U.shape[1], correction)
    return 0.5 * (g + np.swapaxes(g, 1, 2)), good


def coefficient_score_weights(
    design: ConditionedDesign,
    contrast: np.ndarray,
    cov_type: str,
    *,
    codes: np.ndarray | None = None,
    n_clusters: int | None = None,
    h: np.ndarray | None = None,
    working_model: WorkingModel = "identity",
) -> np.ndarray:
    """Per-row weights :math:`d` that turn residuals into the (uncorrected) variance of one contrast.

    Parameters
    ----------
    design : ConditionedDesign
        The conditioned fit (:func:`evalkit._linear_algebra.condition_design`).
    contrast : ndarray (k,)
        The contrast :math:`c` in the conditioned basis (``e_t`` for coefficient ``t`` kept with ``keep=t``).
    cov_type : {"classical", "HC0", "HC1", "HC2", "HC3", "CR0", "CR1", "CR2"}
        Covariance type.
    codes : ndarray (n,) of int, optional
        Cluster codes ``0..G-1`` (CR2 only).
    n_clusters : int, optional
        :math:`G` (CR2 only).
    h : ndarray (n,), optional
        Leverages of the fit (HC2, HC3); computed from the design when not given.
    working_model : {"identity", "inverse_variance"}, default "identity"
        Working model of weighted CR2 (see :func:`sandwich`).

    Returns
    -------
    ndarray (n,)
        :math:`d` such that, for any weighted residual vector :math:`\\tilde e`, the uncorrected variance of
        :math:`c'\\hat\\beta` is :math:`\\sum_i (d_i\\tilde e_i)^2` (HC) or
        :math:`\\sum_g (\\sum_{i \\in g} d_i\\tilde e_i)^2` (CR); the small-sample factor is
        :func:`small_sample_factor`'s.

    Raises
    ------
    InferenceError
        On a leverage of one under HC2/HC3 (as :func:`sandwich`).

    Notes
    -----
    With :math:`a = \\tilde X B c`: :math:`d = a` (classical, HC0, HC1, CR0, CR1), :math:`d_i = a_i s_i` with
    :math:`s_i` from :func:`leverage_scale` (HC2, HC3; MacKinnon and White 1985), and :math:`d_g = A_g a_g`,
    :math:`A_g = I + \\tilde X_g\\Phi_g\\tilde X_g'` (CR2; Bell and McCaffrey 2002), with the identity working model
    of weighted CR2 from :func:`evalkit.inference._cr2_identity.cr2_identity_directions`.
    """
    Xt, B, L, sw = design.Xt, design.B, design.L, design.sw
    c = Xt @ (B @ np.asarray(contrast, dtype=np.float64))
    if cov_type in ("HC2", "HC3"):
        if h is None:
            XL = Xt @ L
            h = np.einsum("ij,ij->i", XL, XL)
        return c * leverage_scale(h, cov_type)[0]
    if cov_type != "CR2":
        return c
    if codes is None or n_clusters is None:
        raise InferenceError("CR2 score weights need the cluster codes and their number.")
    if sw is not None and working_model == "identity":
        # c'Vc = sum_g (a_g'e_g)^2 with unweighted residuals e = e~ / sqrt(w) (see evalkit.inference._cr2_identity)
        return cr2_identity_directions(design.X, sw**2, codes, n_clusters, contrast, L) / sw
    cross = group_sum(np.einsum("ni,nj->nij", Xt, Xt), codes, n_clusters)
    phi = cr2_phi(cross, L)
    s = group_sum(Xt * c[:, None], codes, n_clusters)
    return c + np.einsum("ni,nij,nj->n", Xt, phi[codes], s[codes])


@dataclass(frozen=True)
class CovarianceEstimate:
    """A sandwich covariance matrix of regression coefficients and the df of their t tests.

    Attributes
    ----------
    vcov : ndarray of shape (k, k)
        Estimated covariance matrix of the coefficients.
    df : ndarray of shape (k,)
        Degrees of freedom of the t test of each coefficient (NaN where not computed, see ``df_for``).
    cov_type : str
        One of ``"classical"``, ``"HC0"`` ... ``"HC3"``, ``"CR0"`` ... ``"CR2"``.
    n_obs : int
        Number of observations.
    n_clusters : int or None
        Number of clusters for the ``CR`` types, ``None`` otherwise.
    df_method : str
        How ``df`` was obtained: ``"n - k"``, ``"G - 1"`` or ``"Bell-McCaffrey"``.
    """

    vcov: np.ndarray
    df: np.ndarray
    cov_type: str
    n_obs: int
    n_clusters: int | None
    df_method: str

    @property
    def std_errors(self) -> np.ndarray:
        """Standard errors, the square roots of the diagonal of ``vcov``."""
        return np.sqrt(np.diag(self.vcov))


def check_bm_type(cov_type: str, df: str) -> None:
    """Refuse ``df="bell_mccaffrey"`` for a covariance type other than HC2 and CR2."""
    if df == "bell_mccaffrey" and cov_type not in ("HC2", "CR2"):
        raise OptionError(
            f"df='bell_mccaffrey' is defined for 'HC2' and 'CR2' (Bell and McCaffrey 2002), not cov_type="
            f"{cov_type!r}; use cov_type='HC2' or 'CR2', or df='default'."
        )


# ----------------------------------------------------------------------------------------------------------
# CR2 degrees of freedom (the adjustment matrices Phi_g come from evalkit._linear_algebra.cr2_phi)
# ----------------------------------------------------------------------------------------------------------


def _bm_df_from_pieces(cross: np.ndarray, phi: np.ndarray, B: np.ndarray, C: np.ndarray) -> np.ndarray:
    """Bell-McCaffrey df for each column of the contrast matrix C (k, m).

    With a_g = A_g X_g B c = X_g N_g c, N_g = (I + Phi_g C_g) B, and p_g = (I - H)' D_g a_g,
    P'P = D'(I - H)D = diag(s) - Z'BZ where s_g = a_g'a_g and z_g = X_g'a_g = C_g N_g c. Then
    tr(P'P) = sum s_g - tr(B T) and tr((P'P)^2) = sum s_g^2 - 2 sum s_g z_g'B z_g + tr((B T)^2), T = Z Z',
    so neither the n x n matrix I - H nor the G x G matrix P'P is ever formed.
    """
    k = B.shape[0]
    N = (np.eye(k)[None] + phi @ cross) @ (B @ C)  # (G, k, m)
    Z = cross @ N  # (G, k, m): z_g for each contrast
    s = np.einsum("gkm,gkm->gm", N, Z)  # a_g'a_g = c'N_g' C_g N_g c
    q = np.einsum("gkm,kl,glm->gm", Z, B, Z, optimize=True)  # z_g'B z_g
    T = np.einsum("gkm,glm->mkl", Z, Z)  # (m, k, k)
    BT = B[None] @ T
    tr1 = s.sum(axis=0) - np.trace(BT, axis1=1, axis2=2)
    tr2 = (s**2).sum(axis=0) - 2.0 * (s * q).sum(axis=0) + np.einsum("mij,mji->m", BT, BT)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(tr2 > 0, tr1**2 / tr2, np.nan)


# ----------------------------------------------------------------------------------------------------------
# public functions
# ----------------------------------------------------------------------------------------------------------


def sandwich(
    X: np.ndarray,
    residuals: np.ndarray,
    cov_type: CovType,
    *,
    weights: np.ndarray | None = None,
    clusters: np.ndarray | None = None,
    df_for: Sequence[int] | None = None,
    correction: SmallSampleCorrection = NO_CORRECTION,
    working_model: WorkingModel = "identity",
    df_method: DfMethod = "default",
    design: ConditionedDesign | None = None,
) -> CovarianceEstimate:
    """Sandwich covariance of OLS / WLS coefficients and the degrees of freedom of their t tests.

    Parameters
    ----------
    X : ndarray of shape (n, k)
        Design matrix of the fitted model (with the intercept column, if any). Must have full column rank.
    residuals : ndarray of shape (n,)
        Residuals ``y - X b`` of the fit (unweighted; the weights are applied here).
    cov_type : {"classical", "HC0", "HC1", "HC2", "HC3", "CR0", "CR1", "CR2"}
        Covariance estimator; see Notes.
    weights : ndarray of shape (n,), optional
        Positive WLS weights ``w`` (the model minimised ``sum w_i e_i^2``). ``None`` for OLS.
    clusters : array-like of shape (n,), optional
        Cluster labels (any hashable values) for the ``CR`` types; must be ``None`` for the others.
    df_for : sequence of int, optional
        For ``CR2`` (and ``HC2`` with ``df="bell_mccaffrey"``), the coefficient indices whose Bell-McCaffrey df
        are computed (others are NaN). Default: all. Ignored by the other types, whose df do not depend on the
        coefficient.
    correction : SmallSampleCorrection, optional
        Parameters the fit estimated outside ``X`` (absorbed fixed effects), counted by the small-sample factor
        and the df (:func:`small_sample_factor`, :func:`residual_df`). HC2 and HC3 refuse absorbed parameters:
        their leverages would need the absorbed effects' hat matrix.
    working_model : {"identity", "inverse_variance"}, default "identity"
        Working model of weighted ``CR2`` (see Notes); ignored without weights and by the other types.
    df_method : {"default", "bell_mccaffrey"}, default "default"
        ``"bell_mccaffrey"`` gives ``HC2`` the Bell-McCaffrey df (Imbens and Kolesar 2016) instead of
        :math:`n-k`; ``CR2`` always has them; refused for the other types.
    design : ConditionedDesign, optional
        The conditioned basis the fit of ``X`` was solved on (``LinearFit.design``); used, instead of conditioning
        ``X`` again, only if it was built from this very ``X`` and ``weights`` (see
        :meth:`~evalkit._linear_algebra.ConditionedDesign.reuse_for`). The result is the same.

    Returns
    -------
    CovarianceEstimate

    Raises
    ------
    OptionError
        If ``cov_type`` is not one of the allowed values.
    InferenceError
        On missing values, non-positive weights, a leverage of one under HC2/HC3, fewer than 2 clusters,
        or clusters given (or missing) where the type does not use (needs) them.
    EstimationError
        If X is rank deficient or ill-conditioned (see :func:`evalkit._linear_algebra.condition_design`: the
        sandwich is computed on the centred, unit-scaled design and mapped back, so a covariate's location and
        units do not matter), or has no residual degrees of freedom (n <= k).

    Notes
    -----
    With weights, everything below is computed for :math:`\\tilde X = W^{1/2} X` and
    :math:`\\tilde e = W^{1/2} e` (``estimatr`` and ``statsmodels.WLS`` conventions). Let
    :math:`B = (\\tilde X'\\tilde X)^{-1}`, :math:`H = \\tilde X B \\tilde X'` with diagonal
    :math:`h_{ii}`, and
    :math:`\\hat V = B\\,\\Big(\\sum_i \\omega_i \\tilde x_i \\tilde x_i'\\Big)\\,B`:

    - classical: :math:`\\hat\\sigma^2 B`, :math:`\\hat\\sigma^2 = \\tilde e'\\tilde e/(n-k)`;
    - HC0: :math:`\\omega_i = \\tilde e_i^2`; HC1: HC0 times :math:`n/(n-k)`;
      HC2: :math:`\\omega_i = \\tilde e_i^2/(1-h_{ii})`; HC3: :math:`\\omega_i = \\tilde e_i^2/(1-h_{ii})^2`
      (MacKinnon and White 1985). These and classical use :math:`n-k` df.

    For clusters :math:`g = 1..G` with rows :math:`\\tilde X_g`, residuals :math:`\\tilde e_g`:

    - CR0: :math:`B\\,\\sum_g \\tilde X_g'\\tilde e_g\\tilde e_g'\\tilde X_g\\,B`;
    - CR1: CR0 times :math:`\\frac{G}{G-1}\\frac{n-1}{n-k}` (Stata, ``estimatr`` ``"stata"``,
      ``statsmodels`` ``cov_type="cluster"``); CR0 and CR1 use :math:`G-1` df;
    - CR2 (Bell and McCaffrey 2002; Pustejovsky and Tipton 2018):
      :math:`B\\,\\sum_g \\tilde X_g' A_g \\tilde e_g \\tilde e_g' A_g \\tilde X_g\\,B` with
      :math:`A_g = (I - H_{gg})^{-1/2}`, the symmetric (generalized, for singular blocks) inverse square root.
      The df of coefficient :math:`j` are the Bell-McCaffrey df (Imbens and Kolesar 2016) for the contrast
      :math:`c = e_j` under the working model :math:`\\Omega = I`, see :func:`bell_mccaffrey_df`.

    Weighted CR2 has a working model, the error covariance :math:`\\Phi` under which :math:`A_g` makes the
    estimator exactly unbiased and the df are computed (Pustejovsky and Tipton 2018, eq. 5):

    - ``working_model="identity"`` (default): :math:`\\Phi = I` on the weighted fit,
      :math:`A_g = S_g^{+1/2}` with :math:`S_g = [(I-H)(I-H)']_{gg}`, :math:`H = X(X'WX)^{-1}X'W`, and meat
      :math:`\\sum_g X_g'W_gA_ge_ge_g'A_gW_gX_g` (see :mod:`evalkit.inference._cr2_identity`). This is
      ``estimatr::lm_robust(..., weights =, se_type = "CR2")`` and ``clubSandwich::vcovCR(type = "CR2")``'s
      default for a weighted ``lm`` (clubSandwich 0.5.8: ``inverse_var`` defaults to ``FALSE`` when the fit has
      weights, and the target is then the identity); both checked live to 1e-10 in ``tests/r_reference``.
    - ``working_model="inverse_variance"``: :math:`\\Phi = W^{-1}` (weights as inverse variances), computed as
      CR2 of the regression of :math:`\\tilde y = W^{1/2}y` on :math:`\\tilde X` (identity working model there),
      the formulas above. This equals clubSandwich's ``vcovCR`` on that transformed ``lm`` (checked live), and
      was evalkit's weighted CR2 until issue 8. It is NOT ``vcovCR(..., inverse_var = TRUE)``: that takes the
      symmetric square root :math:`A_g = \\Phi_g^{1/2}(\\Phi_g^{1/2}S_g\\Phi_g^{1/2})^{-1/2}\\Phi_g^{1/2}`,
      another matrix with :math:`A_gS_gA_g' = \\Phi_g`; the two agree when the weights are constant within
      clusters.

    Without weights the two models coincide. HC2 and HC3 always use the leverages of :math:`\\tilde X` (as
    ``estimatr`` and ``statsmodels.WLS``), so with weights HC2 is CR2 with singleton clusters under the
    inverse-variance model, not under the identity; ``df_method="bell_mccaffrey"`` for HC2 uses that model too,
    so that the df belong to the estimator whose standard error is reported. In R this pair (HC2 standard error,
    Bell-McCaffrey df) is ``clubSandwich::vcovCR(fit, cluster = 1:n, type = "CR2", inverse_var = TRUE)`` with
    ``coef_test(test = "Satterthwaite")`` (singleton clusters make its symmetric square root the leverage
    correction). ``vcovCR``'s default for a weighted ``lm`` (clubSandwich 0.5.8: ``inverse_var = FALSE``, identity
    working model) with ``cluster = 1:n`` is another estimator: its standard error is not HC2's, and neither are its
    df (those are ``bell_mccaffrey_df(..., working_model="identity")`` with ``clusters=None``). Both checked live in
    ``tests/r_reference``.

    The CR2 computation never forms an :math:`n \\times n` or :math:`n_g \\times n_g` matrix:
    :math:`A_g` is written as :math:`I + \\tilde X_g \\Phi_g \\tilde X_g'` with a :math:`k \\times k` matrix
    :math:`\\Phi_g`, so the cost is :math:`O(nk^2 + Gk^3)`.

    References
    ----------
    MacKinnon, J. G. and White, H. (1985). Some heteroskedasticity-consistent covariance matrix estimators
    with improved finite sample properties. Journal of Econometrics 29(3), 305-325.

    Bell, R. M. and McCaffrey, D. F. (2002). Bias reduction in standard errors for linear regression with
    multi-stage samples. Survey Methodology 28(2), 169-181.

    Imbens, G. W. and Kolesar, M. (2016). Robust standard errors in small samples: some practical advice.
    Review of Economics and Statistics 98(4), 701-712.

    Pustejovsky, J. E. and Tipton, E. (2018). Small-sample methods for cluster-robust variance estimation and
    hypothesis testing in fixed effects models. Journal of Business & Economic Statistics 36(4), 672-683.
    """
    with thin_blas(np.shape(X)[1] if np.ndim(X) == 2 else 1):  # thin products: one BLAS thread
        return _sandwich(
            X,
            residuals,
            cov_type,
            weights=weights,
            clusters=clusters,
            df_for=df_for,
            correction=correction,
            working_model=working_model,
            df_method=df_method,
            design=design,
        )


def _sandwich(
    X: np.ndarray,
    residuals: np.ndarray,
    cov_type: CovType,
    *,
    weights: np.ndarray | None,
    clusters: np.ndarray | None,
    df_for: Sequence[int] | None,
    correction: SmallSampleCorrection,
    working_model: WorkingModel,
    df_method: DfMethod,
    design: ConditionedDesign | None,
) -> CovarianceEstimate:
    """The body of :func:`sandwich` (which documents it), run under :func:`evalkit._threads.thin_blas`."""
    check_option("cov_type", cov_type, CovType)
    check_option("working_model", working_model, WorkingModel)
    check_option("df_method", df_method, DfMethod)
    check_bm_type(cov_type, df_method)
    if residuals is None:
        raise InferenceError("sandwich() needs the residuals of the fitted model; got residuals=None.")
    if not isinstance(correction, SmallSampleCorrection):
        raise InferenceError(f"correction={correction!r} must be a SmallSampleCorrection.")
    reused = None if design is None else design.reuse_for(X, residuals, weights)
    design = reused or condition_design(X, residuals, weights)  # X T: centred, unit-scaled; mapped back by .vcov
    Xt, et, B, L, sw = design.Xt, np.asarray(design.et), design.B, design.L, design.sw
    n, k = Xt.shape
    check_absorbed_leverage(cov_type, correction)
    if n <= k and cov_type in ("HC0", "HC2", "HC3"):
        raise EstimationError(f"the model has no residual degrees of freedom: {n} observations for {k} coefficients.")

    if cov_type not in _CLUSTER_TYPES:
        if clusters is not None:
            raise InferenceError(
                f"clusters were given but cov_type={cov_type!r} ignores them; use a cluster-robust type "
                "('CR0', 'CR1', 'CR2') or pass clusters=None."
            )
        factor = small_sample_factor(cov_type, n, k, correction=correction)
        df = np.full(k, residual_df(cov_type, n, k, correction=correction))
        if cov_type == "classical":
            vcov = (et @ et) * factor * B
        else:
            h = np.einsum("ij,ij->i", Xt @ L, Xt @ L) if cov_type in ("HC2", "HC3") else None
            u = Xt * (et * leverage_scale(h, cov_type)[0])[:, None]  # rows s_i e_i x_i: omega_i = s_i^2 e_i^2
            meat = u.T @ u
            vcov = B @ meat @ B * factor
        how = "n - k"
        if df_method == "bell_mccaffrey":
            # HC2 is CR2 with singleton clusters on the transformed rows (Imbens and Kolesar 2016).
            idx = _check_df_for(df_for, k)
            df = np.full(k, np.nan)
            if idx.size:
                cross = np.einsum("ni,nj->nij", Xt, Xt)
                df[idx] = _bm_df_from_pieces(cross, cr2_phi(cross, L), B, design.contrasts(np.eye(k)[:, idx]))
            how = "Bell-McCaffrey"
        return CovarianceEstimate(
            vcov=_symmetrize(design.vcov(vcov)), df=df, cov_type=cov_type, n_obs=n, n_clusters=None, df_method=how
        )

    if clusters is None:
        raise InferenceError(
            f"cov_type={cov_type!r} is cluster-robust and needs cluster labels; pass clusters=..., or use a "
            "heteroskedasticity-robust type such as 'HC2'."
        )
    codes, _ = factorize_clusters(clusters, n, any_order=cov_type != "CR2")  # CR2: order kept (its df sum too)
    G = int(codes.max()) + 1
    factor = small_sample_factor(cov_type, n, k, G, correction)
    if cov_type == "CR2" and sw is not None and working_model == "identity":
        idx = _check_df_for(df_for, k)
        vcov, bm = cr2_identity_weighted(design.X, et / sw, sw**2, codes, G, design.contrasts(np.eye(k)[:, idx]), L)
        df = np.full(k, np.nan)
        df[idx] = bm
        return CovarianceEstimate(
            vcov=_symmetrize(design.vcov(vcov * factor)),
            df=df,
            cov_type=cov_type,
            n_obs=n,
            n_clusters=G,
            df_method="Bell-McCaffrey",
        )
    scores = group_sum(Xt * et[:, None], codes, G)  # (G, k): X_g'e_g
    if cov_type == "CR2":
        cross = group_sum(np.einsum("ni,nj->nij", Xt, Xt), codes, G)  # (G, k, k): X_g'X_g
        phi = cr2_phi(cross, L)
        # X_g'A_g e_g = X_g'e_g + C_g Phi_g X_g'e_g
        scores = cr2_adjusted_scores(cross, phi, scores[:, :, None])[:, :, 0]
    vcov = B @ (scores.T @ scores) @ B * factor
    if cov_type != "CR2":
        return CovarianceEstimate(
            vcov=_symmetrize(design.vcov(vcov)),
            df=np.full(k, residual_df(cov_type, n, k, G, correction)),
            cov_type=cov_type,
            n_obs=n,
            n_clusters=G,
            df_method="G - 1",
        )
    idx = _check_df_for(df_for, k)
    df = np.full(k, np.nan)
    if idx.size:
        df[idx] = _bm_df_from_pieces(cross, phi, B, design.contrasts(np.eye(k)[:, idx]))
    return CovarianceEstimate(
        vcov=_symmetrize(design.vcov(vcov)), df=df, cov_type=cov_type, n_obs=n, n_clusters=G, df_method="Bell-McCaffrey"
    )


def bell_mccaffrey_df(
    X: np.ndarray,
    contrast: np.ndarray | Sequence[float],
    *,
    weights: np.ndarray | None = None,
    clusters: np.ndarray | None = None,
    working_model: WorkingModel | None = None,
) -> float:
    """Bell-McCaffrey degrees of freedom for the CR2 (or HC2) t test of the contrast ``c'beta``.

    Parameters
    ----------
    X : ndarray of shape (n, k)
        Design matrix, full column rank.
    contrast : array-like of shape (k,)
        The contrast vector ``c`` (``e_j`` for coefficient ``j``).
    weights : ndarray of shape (n,), optional
        Positive WLS weights.
    clusters : array-like of shape (n,), optional
        Cluster labels; ``None`` means every observation is its own cluster, which by default gives the df of the
        HC2 t test, the same as ``sandwich(X, e, "HC2", weights=weights, df_method="bell_mccaffrey")``.
    working_model : {"identity", "inverse_variance"}, optional
        With weights, the working model of the CR2 estimator whose df are wanted (see :func:`sandwich`); ignored
        without weights. Default: ``"identity"`` with ``clusters`` (CR2's default, as :func:`sandwich`), and
        ``"inverse_variance"`` without (HC2: with weights, HC2 is CR2 with singleton clusters under the
        inverse-variance model, see :func:`sandwich`). ``clusters=None`` with ``"identity"`` gives the df of the
        identity-model CR2 with singleton clusters, which is not HC2 (it is ``clubSandwich::vcovCR``'s default for a
        weighted ``lm`` with ``cluster = 1:n``).

    Returns
    -------
    float
        The degrees of freedom (a real number, not necessarily an integer).

    Notes
    -----
    Under the working model :math:`\\tilde e = (I - H)\\varepsilon`,
    :math:`\\varepsilon \\sim N(0, \\sigma^2 I)` (unweighted, or WLS in the transformed space with
    ``working_model="inverse_variance"``; the weighted identity model is in
    :func:`evalkit.inference._cr2_identity.cr2_identity_weighted`),
    :math:`c'\\hat V^{CR2}c = \\sum_g (p_g'\\varepsilon)^2` with
    :math:`p_g = (I-H)'_{\\cdot g} A_g \\tilde X_g B c`. Matching the first two moments of this
    quadratic form to a scaled :math:`\\chi^2` gives (Bell and McCaffrey 2002, Imbens and Kolesar 2016,
    Pustejovsky and Tipton 2018)

    .. math:: \\nu = \\frac{(\\operatorname{tr} P'P)^2}{\\operatorname{tr}((P'P)^2)},
              \\qquad P = [p_1, \\dots, p_G].

    :math:`P'P = \\operatorname{diag}(a_g'a_g) - Z'BZ` with :math:`a_g = A_g \\tilde X_g B c` and
    :math:`z_g = \\tilde X_g' a_g`, so both traces reduce to :math:`k \\times k` products.
    For ``y ~ 1 + z`` with binary ``z`` and no clusters the df of the coefficient of ``z`` is the
    Welch-type :math:`(1/n_1 + 1/n_0)^2 / (1/(n_1^2(n_1-1)) + 1/(n_0^2(n_0-1)))`.

    References
    ----------
    See :func:`sandwich`.
    """
    if working_model is None:
        working_model = "identity" if clusters is not None else "inverse_variance"
    check_option("working_model", working_model, WorkingModel)
    design = condition_design(X, None, weights)
    Xt, B, L, sw = design.Xt, design.B, design.L, design.sw
    n, k = Xt.shape
    c = np.asarray(contrast, dtype=np.float64).reshape(-1)
    if c.shape[0] != k:
        raise InferenceError(f"contrast has {c.shape[0]} entries but X has {k} columns; they must match.")
    check_finite("contrast", c[:, None])
    if clusters is None:
        codes, G = np.arange(n, dtype=np.intp), n
    else:
        codes, uniques = factorize_clusters(clusters, n)
        G = len(uniques)
    if sw is not None and working_model == "identity":
        _, bm = cr2_identity_weighted(design.X, np.zeros(n), sw**2, codes, G, design.contrasts(c[:, None]), L)
        return float(bm[0])
    cross = group_sum(np.einsum("ni,nj->nij", Xt, Xt), codes, G)
    phi = cr2_phi(cross, L)
    return float(_bm_df_from_pieces(cross, phi, B, design.contrasts(c[:, None]))[0])


def _check_df_for(df_for: Sequence[int] | None, k: int) -> np.ndarray:
    if df_for is None:
        return np.arange(k)
    idx = np.asarray(list(df_for), dtype=np.intp).reshape(-1)
    if ((idx < 0) | (idx >= k)).any():
        raise InferenceError(f"df_for={list(df_for)!r} must hold coefficient indices between 0 and {k - 1}.")
    return np.unique(idx)


def _symmetrize(a: np.ndarray) -> np.ndarray:
    return 0.5 * (a + a.T)


def __getattr__(name: str) -> object:
    # ``Sandwich`` (the analytic inference method) lives in evalkit.inference.analytic, which imports this kernel;
    # the old import path keeps working without an import cycle.
    if name == "Sandwich":
        from evalkit.inference.analytic import Sandwich

        return Sandwich
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
