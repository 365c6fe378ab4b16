"""Callaway and Sant'Anna (2021) group-time average treatment effects for staggered adoption (panel data).

Pure numpy: the design hands down a wide outcome matrix (units x periods), each unit's cohort (first treated
period, ``inf`` for never treated), covariates and weights; this module returns ATT(g,t), their influence
functions, aggregations, analytic and multiplier-bootstrap standard errors, and the pre-test of parallel trends.
The conventions (cells, base periods, control groups, aggregation weights, bootstrap) are those of the R package
``did`` (Callaway and Sant'Anna), whose numbers the tests reproduce.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy import special

from evalkit._linear_algebra import condition_design, standardize_columns
from evalkit._threads import single_threaded_blas
from evalkit._validation import check_option
from evalkit.errors import DataError, EstimationError

__all__ = [
    "AggregateKind",
    "Aggregation",
    "BaseKind",
    "ControlKind",
    "DidMethod",
    "GroupTimeFit",
    "aggregate",
    "aggregations",
    "did_2x2_panel",
    "did_2x2_rcs",
    "group_time_att",
    "group_time_att_rcs",
]

ControlKind = Literal["never_treated", "not_yet_treated"]
DidMethod = Literal["dr", "ipw", "reg"]
AggregateKind = Literal["simple", "group", "dynamic", "calendar"]
BaseKind = Literal["varying", "universal"]

_PS_MAX = 1 - 1e-6  # propensity scores are capped here, as DRDID
_TRIM_CONTROL = 0.995  # control units with a propensity score above this get weight zero, as DRDID


def _wls(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least squares; returns coefficients and ``(X'WX)^{-1}``."""
    xtwx = (X * w[:, None]).T @ X
    try:
        inv = np.linalg.inv(xtwx)
    except np.linalg.LinAlgError as exc:
        raise EstimationError(
            "the covariates are collinear among the comparison units (the outcome regression X'WX is singular); "
            "drop some covariates, or use coarser cohorts."
        ) from exc
    return inv @ ((X * w[:, None]).T @ y), inv


#: A fitted probability within this of 0 or 1 is "numerically 0 or 1" (R's glm.fit warns at the same 10 eps).
_PS_EDGE = 10 * np.finfo(np.float64).eps
_LOGIT_MAX_ITER = 100
_SEPARATION_FIX = (
    "Use fewer or coarser covariates, method='reg' (outcome regression, which needs no propensity score), or "
    "coarser cohorts (merge small adjacent cohorts) so that every cell has treated and comparison units with "
    "overlapping covariates."
)


def _logit(X: np.ndarray, d: np.ndarray, w: np.ndarray, names: Sequence[str] | None = None) -> tuple:
    """Weighted logit by Newton-Raphson with step halving; returns fitted probabilities and ``(X' W p(1-p) X)^{-1}``.

    Parameters
    ----------
    X : ndarray (n, k)
        Design, first column the intercept.
    d : ndarray (n,)
        0/1 outcome (1 = the cell's treated cohort).
    w : ndarray (n,)
        Positive weights.
    names : sequence of str, optional
        Names of the columns after the intercept, for error messages.

    Raises
    ------
    EstimationError
        If the covariates are collinear in the cell (:func:`~evalkit._linear_algebra.condition_design`), or the
        maximum-likelihood estimate does not exist: a fitted probability reaches 0 or 1 numerically (within
        10 machine epsilons, R's ``glm.fit`` rule), the information matrix becomes singular, or Newton's method
        does not converge in 100 iterations -- perfect or quasi-complete separation of the cohort from its
        comparison group by the covariates.

    Notes
    -----
    The iterations run on the orthonormal basis :math:`X_c = XT` of :func:`condition_design` (in the weighted
    space), so the information matrix :math:`X_c'\\,\\mathrm{diag}(w\\,p(1-p))X_c` is as well conditioned as the
    probabilities allow; the fitted probabilities do not depend on the basis and the inverse information maps back
    as :math:`T\\,I_c^{-1}T'`. Each Newton step is halved (up to 30 times) until the weighted log-likelihood does
    not decrease, which makes the iteration converge from :math:`\\beta_c = 0` whenever the maximum-likelihood
    estimate exists (Albert and Anderson 1984, Biometrika 71(1):1-10: it exists exactly when the two groups
    overlap, i.e. there is neither complete nor quasi-complete separation). Under separation the likelihood keeps
    increasing along the separating direction, so some probability goes to 0 or 1; that is refused rather than
    reported as an estimate.
    """
    if X.shape[1] == 1:  # intercept only: closed form
        p = float(w @ d / w.sum())
        ps = np.full(d.shape, p)
        return ps, np.array([[1.0 / (w.sum() * p * (1 - p))]])
    labels = ["(intercept)", *(names if names is not None else [f"covariate {j}" for j in range(1, X.shape[1])])]
    basis = condition_design(X, weights=w, names=labels)
    Xc = basis.X

    def loglik(beta: np.ndarray) -> float:
        eta = Xc @ beta
        return float(w @ (d * eta - np.logaddexp(0.0, eta)))

    beta = np.zeros(Xc.shape[1])
    ll = loglik(beta)
    for _ in range(_LOGIT_MAX_ITER):
        ps = special.expit(Xc @ beta)
        _refuse_edge(ps, labels)
        info = (Xc * (w * ps * (1 - ps))[:, None]).T @ Xc
        step = _solve_information(info, Xc.T @ (w * (d - ps)), labels)
        for _halving in range(30):
            candidate = loglik(beta + step)
            if candidate >= ll - 1e-12 * abs(ll):
                break
            step = step / 2
        beta = beta + step
        ll = loglik(beta)
        if np.max(np.abs(step)) < 1e-10 * (1 + np.max(np.abs(beta))):
            break
    else:
        raise EstimationError(
            f"the propensity-score logit on {', '.join(labels[1:])} did not converge in {_LOGIT_MAX_ITER} Newton "
            "iterations, the sign of (quasi-complete) separation of the cohort from its comparison group. "
            + _SEPARATION_FIX
        )
    ps = special.expit(Xc @ beta)
    _refuse_edge(ps, labels)
    info = (Xc * (w * ps * (1 - ps))[:, None]).T @ Xc
    inv_c = _solve_information(info, np.eye(info.shape[0]), labels)
    return ps, basis.vcov(inv_c)


def _refuse_edge(ps: np.ndarray, labels: Sequence[str]) -> None:
    """Refuse fitted probabilities numerically 0 or 1 (perfect or quasi-complete separation)."""
    edge = (ps < _PS_EDGE) | (ps > 1 - _PS_EDGE)
    if edge.any():
        raise EstimationError(
            f"the propensity-score logit on {', '.join(labels[1:])} has fitted probabilities numerically 0 or 1 "
            f"for {int(edge.sum())} unit(s): the covariates separate the cohort from its comparison group "
            "(perfect or quasi-complete separation), so the propensity score has no maximum-likelihood estimate "
            "and inverse probability weights do not exist. " + _SEPARATION_FIX
        )


def _solve_information(info: np.ndarray, rhs: np.ndarray, labels: Sequence[str]) -> np.ndarray:
    """Solve with the logit's information matrix, refusing it when singular up to rounding."""
    s = np.linalg.svd(info, compute_uv=False)
    if not s.size or s[-1] <= s[0] * info.shape[0] * np.finfo(np.float64).eps:
        raise EstimationError(
            f"the information matrix of the propensity-score logit on {', '.join(labels[1:])} is singular: the "
            "weights p(1-p) vanish for the units that carry a covariate's variation (separation of the cohort from "
            "its comparison group). " + _SEPARATION_FIX
        )
    return np.linalg.solve(info, rhs)


def did_2x2_panel(
    dy: np.ndarray,
    d: np.ndarray,
    X: np.ndarray,
    w: np.ndarray,
    method: DidMethod,
    covariate_names: Sequence[str] | None = None,
) -> tuple[float, np.ndarray]:
    """ATT of a two-period, two-group panel DiD and its influence function.

    Parameters
    ----------
    dy : ndarray (n,)
        Change in the outcome between the base and the current period.
    d : ndarray (n,)
        1 for treated units, 0 for comparison units.
    X : ndarray (n, k)
        Covariates at the base period, first column the intercept.
    w : ndarray (n,)
        Unit weights (normalized here to mean one).
    method : {"dr", "ipw", "reg"}
        Doubly robust (Sant'Anna and Zhao 2020, eq. 3.1, logit propensity score and linear outcome regression of
        the comparison units' change, as ``DRDID::drdid_panel``), normalized IPW (Abadie 2005;
        ``DRDID::std_ipw_did_panel``) or outcome regression (Heckman, Ichimura and Todd 1997;
        ``DRDID::reg_did_panel``).
    covariate_names : sequence of str, optional
        Names of the columns of ``X`` after the intercept, for error messages.

    Returns
    -------
    att : float
    influence : ndarray (n,)
        Influence function, such that :math:`\\sqrt n(\\hat\\tau - \\tau) = n^{-1/2}\\sum_i \\psi_i + o_p(1)`.

    Raises
    ------
    EstimationError
        If the comparison units' covariates are collinear (``"dr"``, ``"reg"``) or the propensity-score logit has
        no maximum-likelihood estimate (``"dr"``, ``"ipw"``: separation; see :func:`_logit`). There is no fallback
        to another method: the caller chooses (``method="reg"`` needs no propensity score).

    Notes
    -----
    With :math:`\\hat p(X)` the propensity score, :math:`\\hat\\mu_0(X)` the comparison units' regression of
    :math:`\\Delta Y`, :math:`w_1 = D`, :math:`w_0 = \\hat p(X)(1-D)/(1-\\hat p(X))`:
    :math:`\\hat\\tau^{dr} = E_n[w_1(\\Delta Y - \\hat\\mu_0)]/E_n[w_1] - E_n[w_0(\\Delta Y - \\hat\\mu_0)]/E_n[w_0]`.
    The influence functions add the estimation effect of :math:`\\hat p` and :math:`\\hat\\mu_0` (Sant'Anna and
    Zhao 2020, J. Econometrics 219(1):101-122, Appendix).
    """
    n = dy.size
    w = w / w.mean()
    treat = w * d
    if method in ("dr", "reg"):
        ctrl_w = w * (1 - d)
        beta, xtwx_inv = _wls(X, dy, ctrl_w)
        mu0 = X @ beta
        lin_ols = (ctrl_w * (dy - mu0))[:, None] * X @ (xtwx_inv * n)  # (n, k) asymptotic linear rep. of beta
    if method in ("dr", "ipw"):
        ps, vcov_ps = _logit(X, d, w, covariate_names)
        ps = np.minimum(ps, _PS_MAX)
        keep = np.where(d == 1, ps < 1.01, ps < _TRIM_CONTROL)
        treat = treat * keep
        cont = keep * w * ps * (1 - d) / (1 - ps)
        lin_ps = (w * (d - ps))[:, None] * X @ (vcov_ps * n)  # (n, k) asymptotic linear rep. of the logit
    mt = treat.mean()
    if method == "reg":
        cont = treat
        eta_t = (treat * dy).mean() / mt
        eta_c = (cont * mu0).mean() / mt
        inf_t = (treat * dy - treat * eta_t) / mt
        inf_c = (cont * mu0 - cont * eta_c + lin_ols @ (cont[:, None] * X).mean(axis=0)) / mt
        return float(eta_t - eta_c), inf_t - inf_c
    mc = cont.mean()
    if method == "ipw":
        eta_t = (treat * dy).mean() / mt
        eta_c = (cont * dy).mean() / mc
        inf_t = (treat * dy - treat * eta_t) / mt
        m2 = ((cont * (dy - eta_c))[:, None] * X).mean(axis=0)
        inf_c = (cont * dy - cont * eta_c + lin_ps @ m2) / mc
        return float(eta_t - eta_c), inf_t - inf_c
    resid = dy - mu0
    eta_t = (treat * resid).mean() / mt
    eta_c = (cont * resid).mean() / mc
    inf_t = (treat * resid - treat * eta_t - lin_ols @ (treat[:, None] * X).mean(axis=0)) / mt
    m2 = ((cont * (resid - eta_c))[:, None] * X).mean(axis=0)
    m3 = (cont[:, None] * X).mean(axis=0)
    inf_c = (cont * resid - cont * eta_c + lin_ps @ m2 - lin_ols @ m3) / mc
    return float(eta_t - eta_c), inf_t - inf_c


def did_2x2_rcs(
    y: np.ndarray,
    post: np.ndarray,
    d: np.ndarray,
    X: np.ndarray,
    w: np.ndarray,
    method: DidMethod,
    covariate_names: Sequence[str] | None = None,
) -> tuple[float, np.ndarray]:
    r"""ATT of a two-period, two-group DiD from repeated cross-sections, with covariates, and its influence function.

    Parameters
    ----------
    y : ndarray (n,)
        Outcome of each observation.
    post : ndarray (n,)
        1 for observations of the current period, 0 for the base period.
    d : ndarray (n,)
        1 for the cohort's observations, 0 for the comparison group's.
    X : ndarray (n, k)
        Covariates, first column the intercept.
    w : ndarray (n,)
        Observation weights (normalized here to mean one).
    method : {"dr", "reg", "ipw"}
        The locally efficient doubly robust estimator (Sant'Anna and Zhao 2020, Sec. 3.2; ``DRDID::drdid_rc``,
        :func:`_dr_rcs`); outcome regression (Heckman, Ichimura and Todd 1997; ``DRDID::reg_did_rc``): the
        comparison group's regressions of the outcome on X in each period, averaged over the cohort's
        observations; or normalized IPW (Abadie 2005; ``DRDID::std_ipw_did_rc``) with a logit propensity score of
        the cohort on X over both periods (comparison observations with a score above 0.995 get weight zero).
    covariate_names : sequence of str, optional
        Names of the columns of ``X`` after the intercept, for error messages.

    Returns
    -------
    att : float
    influence : ndarray (n,)

    Notes
    -----
    Regression: :math:`\hat	au = ar Y_{1,1} - ar Y_{1,0} - E_n[w D(\hat\mu_{0,1}(X) - \hat\mu_{0,0}(X))] /
    E_n[wD]`, :math:`\hat\mu_{0,s}` the weighted least-squares fit on the comparison observations of period s.
    IPW: :math:`\hat	au = \sum_{s} (-1)^{1-s}(E_n[w_{1s}Y]/E_n[w_{1s}] - E_n[w_{0s}Y]/E_n[w_{0s}])` with
    :math:`w_{1s} = wD1\{P=s\}`, :math:`w_{0s} = w\hat p(X)(1-D)1\{P=s\}/(1-\hat p(X))`. The influence functions
    add the estimation effect of the regressions or of the logit (Sant'Anna and Zhao 2020, J. Econometrics
    219(1):101-122, Sec. 3 and Appendix).
    """
    n = y.size
    w = w / w.mean()

    def normalized_mean(weight: np.ndarray, values: np.ndarray) -> tuple[float, np.ndarray]:
        """E_n[weight * values] / E_n[weight] and its influence function (weights taken as known)."""
        m_w = weight.mean()
        est = float((weight * values).mean() / m_w)
        return est, weight * (values - est) / m_w

    treat_post, treat_pre = w * d * post, w * d * (1 - post)
    att_tp, inf_tp = normalized_mean(treat_post, y)
    att_tq, inf_tq = normalized_mean(treat_pre, y)

    def ols(cell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fitted values of the outcome regression on the observations weighted by ``cell`` and the asymptotic
        linear representation of its coefficients (n, k)."""
        beta, inv = _wls(X, y, cell)
        return X @ beta, (cell * (y - X @ beta))[:, None] * X @ (inv * n)

    if method == "reg":
        fits = [ols(w * (1 - d) * (post == s)) for s in (1, 0)]
        fitted, lin = [f[0] for f in fits], [f[1] for f in fits]
        treat = w * d
        att_c, inf_c = normalized_mean(treat, fitted[0] - fitted[1])
        m1 = (treat[:, None] * X).mean(axis=0) / treat.mean()
        inf_c = inf_c + (lin[0] - lin[1]) @ m1
        return att_tp - att_tq - att_c, (inf_tp - inf_tq) - inf_c
    ps, vcov_ps = _logit(X, d, w, covariate_names)
    ps = np.minimum(ps, _PS_MAX)
    keep = (d == 1) | (ps < _TRIM_CONTROL)  # comparison observations with a score above 0.995 dropped, as DRDID
    odds = keep * w * ps * (1 - d) / (1 - ps)
    lin_ps = (w * (d - ps))[:, None] * X @ (vcov_ps * n)
    if method == "dr":
        return _dr_rcs(y, post, d, X, w, odds, lin_ps, ols)
    att_cp, inf_cp = normalized_mean(odds * post, y)
    att_cq, inf_cq = normalized_mean(odds * (1 - post), y)
    m2_post = ((odds * post * (y - att_cp))[:, None] * X).mean(axis=0) / (odds * post).mean()
    m2_pre = ((odds * (1 - post) * (y - att_cq))[:, None] * X).mean(axis=0) / (odds * (1 - post)).mean()
    inf_cont = (inf_cp - inf_cq) + lin_ps @ (m2_post - m2_pre)
    return (att_tp - att_tq) - (att_cp - att_cq), (inf_tp - inf_tq) - inf_cont


def _dr_rcs(
    y: np.ndarray,
    post: np.ndarray,
    d: np.ndarray,
    X: np.ndarray,
    w: np.ndarray,
    odds: np.ndarray,
    lin_ps: np.ndarray,
    ols: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
) -> tuple[float, np.ndarray]:
    r"""The locally efficient doubly robust ATT of repeated cross-sections and its influence function.

    Notes
    -----
    Sant'Anna and Zhao (2020, eq. 3.4; ``DRDID::drdid_rc``): with :math:`\mu_{d,s}` the outcome regressions of
    group d in period s and :math:`\mu_0 = P\mu_{0,1} + (1-P)\mu_{0,0}`,
    :math:`\hat	au = \sum_s (-1)^{1-s}\{E[w_{1s}(Y-\mu_0)]/E[w_{1s}] - E[w_{0s}(Y-\mu_0)]/E[w_{0s}]\}
    + \sum_s (-1)^{1-s}\{E[wD(\mu_{1,s}-\mu_{0,s})]/E[wD] - E[w_{1s}(\mu_{1,s}-\mu_{0,s})]/E[w_{1s}]\}`,
    the weights as in :func:`did_2x2_rcs` (IPW). The influence function adds the estimation effect of the four
    regressions and of the logit (their asymptotic linear representations times the derivative of each term).
    """

    def normalized(weight: np.ndarray, values: np.ndarray) -> tuple[float, np.ndarray]:
        m_w = weight.mean()
        est = float((weight * values).mean() / m_w)
        return est, weight * (values - est) / m_w

    def moment(weight: np.ndarray, values: np.ndarray | float = 1.0) -> np.ndarray:
        return ((weight * values)[:, None] * X).mean(axis=0) / weight.mean()

    (mu0_1, lin0_1), (mu0_0, lin0_0) = ols(w * (1 - d) * post), ols(w * (1 - d) * (1 - post))
    (mu1_1, lin1_1), (mu1_0, lin1_0) = ols(w * d * post), ols(w * d * (1 - post))
    mu0 = post * mu0_1 + (1 - post) * mu0_0
    resid = y - mu0
    w_tp, w_tq, w_d = w * d * post, w * d * (1 - post), w * d
    w_cp, w_cq = odds * post, odds * (1 - post)
    att_tp, inf_tp = normalized(w_tp, resid)
    att_tq, inf_tq = normalized(w_tq, resid)
    att_cp, inf_cp = normalized(w_cp, resid)
    att_cq, inf_cq = normalized(w_cq, resid)
    inf_treat = inf_tp - inf_tq - lin0_1 @ moment(w_tp) - lin0_0 @ moment(w_tq)
    inf_cont = (
        inf_cp
        - inf_cq
        + lin_ps @ (moment(w_cp, resid - att_cp) - moment(w_cq, resid - att_cq))
        - lin0_1 @ moment(w_cp)
        - lin0_0 @ moment(w_cq)
    )
    gap_1, gap_0 = mu1_1 - mu0_1, mu1_0 - mu0_0
    att_d1, inf_d1 = normalized(w_d, gap_1)
    att_t1, inf_t1 = normalized(w_tp, gap_1)
    att_d0, inf_d0 = normalized(w_d, gap_0)
    att_t0, inf_t0 = normalized(w_tq, gap_0)
    inf_eff = (inf_d1 - inf_t1) - (inf_d0 - inf_t0)
    inf_or = (lin1_1 - lin0_1) @ (moment(w_d) - moment(w_tp)) - (lin1_0 - lin0_0) @ (moment(w_d) - moment(w_tq))
    att = (att_tp - att_tq) - (att_cp - att_cq) + (att_d1 - att_t1) - (att_d0 - att_t0)
    return att, inf_treat - inf_cont + inf_eff + inf_or


# --------------------------------------------------------------------------------------------- group-time effects
@dataclass(frozen=True)
class GroupTimeFit:
    """ATT(g,t) for every cohort g and period t, with influence functions on the units.

    Attributes
    ----------
    groups, times, base_times : ndarray (m,)
        Cohort, period and base (comparison) period of each cell.
    att : ndarray (m,)
        Estimates.
    influence : ndarray (n, m)
        Influence functions of the estimates on the n units (zero for units outside a cell's comparison).
    n_treated, n_control : ndarray (m,)
        Units in each cell's treated cohort and comparison group.
    pre : ndarray of bool (m,)
        Pre-treatment cells (``t < g - anticipation``), used by the pre-test.
    identified : ndarray of bool (m,)
        False for the base cells of a universal base period (zero by construction, no standard error).
    cohort : ndarray (n,)
        Each unit's cohort (``inf`` for never treated).
    unit_weights : ndarray (n,)
        Unit weights, normalized to mean one.
    """

    groups: np.ndarray
    times: np.ndarray
    base_times: np.ndarray
    att: np.ndarray
    influence: np.ndarray = field(repr=False)
    n_treated: np.ndarray = field(repr=False)
    n_control: np.ndarray = field(repr=False)
    pre: np.ndarray = field(repr=False)
    identified: np.ndarray = field(repr=False)
    cohort: np.ndarray = field(repr=False)
    unit_weights: np.ndarray = field(repr=False)

    @property
    def n_units(self) -> int:
        """Number of units."""
        return int(self.cohort.size)


def group_time_att(
    Y: np.ndarray,
    cohort: np.ndarray,
    periods: np.ndarray,
    *,
    covariates: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    control: ControlKind = "never_treated",
    method: DidMethod = "dr",
    base_period: BaseKind = "varying",
    anticipation: int = 0,
    covariate_names: Sequence[str] | None = None,
) -> GroupTimeFit:
    """Estimate every ATT(g,t) of a balanced panel.

    Parameters
    ----------
    Y : ndarray (n, T)
        Outcome of each unit (row) in each period (column, sorted as ``periods``).
    cohort : ndarray (n,)
        First treated period of each unit, ``inf`` for never treated. Every cohort must have a period before
        ``g - anticipation`` in ``periods`` (the design drops those that do not).
    periods : ndarray (T,)
        Sorted periods.
    covariates : ndarray (n, T, p), optional
        Covariates in each period; each cell uses their values at its base period.
    weights : ndarray (n,), optional
        Unit weights (normalized to mean one).
    control : {"never_treated", "not_yet_treated"}
        Comparison units: never treated, or never treated plus those not yet treated by ``max(t, base) +
        anticipation``.
    method : {"dr", "ipw", "reg"}
        2x2 estimator (see :func:`did_2x2_panel`).
    base_period : {"varying", "universal"}
        Pre-treatment cells compare period t with t-1 ("varying") or every cell compares with ``g - 1 -
        anticipation`` ("universal").
    anticipation : int
        Number of periods before ``g`` in which units may already respond.
    covariate_names : sequence of str, optional
        Names of the covariates (the last axis of ``covariates``), for error messages.

    Returns
    -------
    GroupTimeFit

    Raises
    ------
    EstimationError
        If a cell cannot be estimated (no comparison units, collinear covariates, separation in the propensity
        score); the message names the cell ATT(g,t), its units and base period, the covariates and the fix.

    Notes
    -----
    :math:`ATT(g,t) = E[Y_t - Y_{b} \\mid G=g] - E[Y_t - Y_{b} \\mid C]` (with covariates: the doubly robust,
    IPW or regression version), :math:`b` the base period; the cell's influence function is scaled by
    :math:`n / n_{gt}` to live on all n units. Callaway and Sant'Anna (2021), J. Econometrics 225(2):200-230,
    Theorems 1 and 2.
    """
    check_option("control", control, ControlKind)
    check_option("method", method, DidMethod)
    check_option("base_period", base_period, BaseKind)
    for name, arr in (("Y", Y), ("covariates", covariates), ("weights", weights)):
        if arr is not None and not np.all(np.isfinite(arr)):
            raise DataError(
                f"{name} holds {int((~np.isfinite(arr)).sum())} NaN or infinite value(s); group_time_att needs a "
                "balanced panel of finite values. Drop or fix those units first (StaggeredDiD does this for you)."
            )
    n, T = Y.shape
    if covariates is not None:
        # ATT(g,t) does not depend on a covariate's location or units (regression and logit with an intercept):
        # standardize each once, so that a covariate far from zero does not make X'WX numerically singular
        covariates = standardize_columns(covariates.reshape(n * T, -1)).reshape(covariates.shape)
    w_all = np.ones(n) if weights is None else weights / weights.mean()
    names = None
    if covariates is not None:
        k = covariates.shape[2]
        names = [str(c) for c in covariate_names] if covariate_names is not None else [f"x{j}" for j in range(k)]
    glist = np.unique(cohort[np.isfinite(cohort)])
    if covariates is None:
        return _group_time_att_means(Y, cohort, periods, glist, w_all, control, method, base_period, anticipation)
    rows: list[tuple] = []
    infl: list[np.ndarray] = []
    ones = np.ones((n, 1))
    for g in glist:
        is_g = cohort == g
        for ti, bi, is_pre in _cell_plan(periods, g, base_period, anticipation):
            t = periods[ti]
            if ti == bi:  # the universal base period's own cell: zero by construction
                rows.append((g, t, periods[bi], 0.0, int(is_g.sum()), 0, is_pre, False))
                infl.append(np.zeros(n))
                continue
            is_c = _comparison(cohort, g, max(t, periods[bi]) + anticipation, control)
            use = is_g | is_c
            n_t, n_c = int(is_g.sum()), int(is_c.sum())
            if n_c == 0:
                raise EstimationError(
                    f"cohort {g:g} in period {t:g} has no comparison units under control={control!r}; "
                    "use control='not_yet_treated' or drop the late periods."
                )
            dy = Y[use, ti] - Y[use, bi]
            d = is_g[use].astype(np.float64)
            X = ones[use] if covariates is None else np.column_stack([ones[use], covariates[use, bi, :]])
            try:
                att, inf = did_2x2_panel(dy, d, X, w_all[use], method, names)
            except EstimationError as exc:
                raise EstimationError(
                    f"ATT({g:g},{t:g}) (cohort {g:g}: {n_t} unit(s); comparison: {n_c} {control.replace('_', '-')} "
                    f"unit(s); base period {periods[bi]:g}; method={method!r}"
                    + (f"; covariates {', '.join(names)}" if names else "")
                    + f") cannot be estimated: {exc}"
                ) from exc
            full = np.zeros(n)
            full[use] = inf * (n / use.sum())
            rows.append((g, t, periods[bi], att, n_t, n_c, is_pre, True))
            infl.append(full)
    return _group_time_fit(rows, np.column_stack(infl), cohort, w_all)


def _group_time_att_means(
    Y: np.ndarray,
    cohort: np.ndarray,
    periods: np.ndarray,
    glist: np.ndarray,
    w_all: np.ndarray,
    control: ControlKind,
    method: DidMethod,
    base_period: BaseKind,
    anticipation: int,
) -> GroupTimeFit:
    r"""Every ATT(g,t) of a balanced panel without covariates, from cohort means (all cells at once).

    Notes
    -----
    With an intercept only, the regression, IPW and doubly robust 2x2 estimators of :func:`did_2x2_panel` all
    reduce to the difference of the weighted mean changes of the cohort and its comparison group,
    :math:`\widehat{ATT}(g,t) = \bar{\Delta Y}_g - \bar{\Delta Y}_C` (the outcome regression is the comparison
    mean, the propensity score the cohort's weight share, whose odds reweight every comparison unit alike), with
    influence function :math:`\psi_i = n w_i [D_i(\Delta Y_i - \bar{\Delta Y}_g)/S_g - C_i(\Delta Y_i -
    \bar{\Delta Y}_C)/S_C]`, :math:`S_g, S_C` the weight sums of the cohort and the comparison group
    (Sant'Anna and Zhao 2020, J. Econometrics 219(1):101-122, Sec. 3, with :math:`X = 1`). Every cell's changes
    form one (cells x units) array, whose product with the units' weighted cohort indicators gives the weighted
    sums of every cohort in every cell; that array, centred and scaled in place, is the influence functions
    (returned as its (units x cells) transpose), so no per-cell unit mask or 2x2 fit is needed.

    A cell of ``"dr"`` or ``"ipw"`` whose cohort holds at least 99.5% of the weight of its cell (the propensity
    score at DRDID's trimming bound, which gives every comparison unit weight zero) is left to
    :func:`did_2x2_panel`, as is any cell with a non-finite result, so that those keep its exact behaviour.
    """
    n = Y.shape[0]
    K = glist.size
    code = np.full(n, K, dtype=np.intp)  # class of each unit: its cohort's index in glist, K for never treated
    finite = np.isfinite(cohort)
    code[finite] = np.searchsorted(glist, cohort[finite])
    class_w = np.bincount(code, weights=w_all, minlength=K + 1)  # weight sum of each class
    class_n = np.bincount(code, minlength=K + 1)
    class_g = np.append(glist, np.inf)
    rows: list[tuple] = []
    cells_t: list[int] = []
    cells_b: list[int] = []
    members: list[tuple[int, np.ndarray | None]] = []  # per cell: the cohort's class and the comparison classes
    for k, g in enumerate(glist):
        for ti, bi, is_pre in _cell_plan(periods, g, base_period, anticipation):
            t = periods[ti]
            cells_t.append(ti)
            cells_b.append(bi)
            if ti == bi:  # the universal base period's own cell: zero by construction
                rows.append((g, t, periods[bi], 0.0, int(class_n[k]), 0, is_pre, False))
                members.append((k, None))
                continue
            comp = _comparison(class_g, g, max(t, periods[bi]) + anticipation, control)
            n_c = int(class_n[comp].sum())
            if n_c == 0:
                raise EstimationError(
                    f"cohort {g:g} in period {t:g} has no comparison units under control={control!r}; "
                    "use control='not_yet_treated' or drop the late periods."
                )
            rows.append((g, t, periods[bi], np.nan, int(class_n[k]), n_c, is_pre, True))
            members.append((k, comp))
    Y_rows = np.ascontiguousarray(Y.T)
    change = Y_rows[cells_t] - Y_rows[cells_b]  # (m, n): each cell's outcome changes, one contiguous row per cell
    one_hot = np.zeros((n, K + 1))
    one_hot[np.arange(n), code] = w_all
    with single_threaded_blas():  # a thin product: one thread is as fast, and does not wait for a busy core
        class_change = change @ one_hot  # (m, K + 1): weighted sums of the changes of each class in each cell
    fallback = []
    coef = np.zeros((len(rows), K + 1))  # per cell and class: 1/S_g for the cohort, -1/S_C for the comparison
    centre = np.zeros((len(rows), K + 1))  # per cell and class: the mean change it is centred at
    for j, (k, comp) in enumerate(members):
        if comp is None:  # a universal base period's own cell: coefficient 0
            continue
        s_g, s_c = class_w[k], class_w[comp].sum()
        mean_g, mean_c = class_change[j, k] / s_g, class_change[j, comp].sum() / s_c
        att = float(mean_g - mean_c)
        rows[j] = (*rows[j][:3], att, *rows[j][4:])
        if (method != "reg" and s_g / (s_g + s_c) >= _TRIM_CONTROL - 1e-9) or not np.isfinite(att):
            fallback.append(j)
        coef[j, comp], centre[j, comp] = -1.0 / s_c, mean_c
        coef[j, k], centre[j, k] = 1.0 / s_g, mean_g
    change -= np.take(centre, code, axis=1)
    change *= np.take(coef, code, axis=1)
    change *= n * w_all
    influence = change.T  # (n, m)
    ones = np.ones((n, 1))
    for j in fallback:  # a propensity score at the trimming bound: the 2x2 estimator itself
        g, t, base = rows[j][:3]
        ti, bi = cells_t[j], cells_b[j]
        is_g = cohort == g
        use = is_g | _comparison(cohort, g, max(t, base) + anticipation, control)
        att, inf = did_2x2_panel(Y[use, ti] - Y[use, bi], is_g[use].astype(np.float64), ones[use], w_all[use], method)
        influence[:, j] = 0.0
        influence[use, j] = inf * (n / use.sum())
        rows[j] = (g, t, base, att, *rows[j][4:])
    return _group_time_fit(rows, influence, cohort, w_all)


def _group_time_fit(
    rows: Sequence[tuple], influence: np.ndarray, cohort: np.ndarray, w_all: np.ndarray
) -> GroupTimeFit:
    """A :class:`GroupTimeFit` from per-cell rows ``(g, t, base, att, n_treated, n_control, pre, identified)``."""
    cols = list(zip(*rows, strict=True))
    return GroupTimeFit(
        groups=np.asarray(cols[0], dtype=np.float64),
        times=np.asarray(cols[1], dtype=np.float64),
        base_times=np.asarray(cols[2], dtype=np.float64),
        att=np.asarray(cols[3], dtype=np.float64),
        influence=influence,
        n_treated=np.asarray(cols[4]),
        n_control=np.asarray(cols[5]),
        pre=np.asarray(cols[6], dtype=bool),
        identified=np.asarray(cols[7], dtype=bool),
        cohort=cohort,
        unit_weights=w_all,
    )


def _cell_plan(periods: np.ndarray, g: float, base_period: BaseKind, anticipation: int) -> list[tuple[int, int, bool]]:
    """The cells of cohort ``g``: (period index, base period index, pre-treatment) in ``did::att_gt``'s order.

    Pre-treatment cells compare period t with t-1 ("varying") or every cell compares with the last period before
    ``g - anticipation`` ("universal"), whose own cell (t = base) is listed with t == base.
    """
    pre_idx = np.flatnonzero(periods + anticipation < g)
    if pre_idx.size == 0:
        raise EstimationError(f"cohort {g:g} has no period before {g - anticipation:g} to compare with; drop it first.")
    g_base = int(pre_idx[-1])
    plan = []
    for ti in range(1, periods.size) if base_period == "varying" else range(periods.size):
        is_pre = bool(periods[ti] + anticipation < g)
        plan.append((ti, ti - 1 if base_period == "varying" and is_pre else g_base, is_pre))
    return plan


def _comparison(cohort: np.ndarray, g: float, horizon: float, control: ControlKind) -> np.ndarray:
    """Comparison units of cohort ``g``: never treated, or also not yet treated by ``horizon``."""
    if control == "never_treated":
        return ~np.isfinite(cohort)
    return (~np.isfinite(cohort) | (cohort > horizon)) & (cohort != g)


def group_time_att_rcs(
    y: np.ndarray,
    time_codes: np.ndarray,
    cohort: np.ndarray,
    periods: np.ndarray,
    *,
    weights: np.ndarray | None = None,
    control: ControlKind = "never_treated",
    base_period: BaseKind = "varying",
    anticipation: int = 0,
    covariates: np.ndarray | None = None,
    method: DidMethod = "reg",
    covariate_names: Sequence[str] | None = None,
) -> GroupTimeFit:
    r"""Estimate every ATT(g,t) from repeated cross-sections (each observation seen once).

    Parameters
    ----------
    y : ndarray (N,)
        Outcome of each observation.
    time_codes : ndarray of int (N,)
        Index into ``periods`` of each observation's period.
    cohort : ndarray (N,)
        First treated period of the observation's group, ``inf`` for never treated.
    periods : ndarray (T,)
        Sorted periods.
    weights : ndarray (N,), optional
        Observation (sampling) weights.
    control, base_period, anticipation
        As :func:`group_time_att`.
    covariates : ndarray (N, p), optional
        Covariates of each observation; each cell then uses :func:`did_2x2_rcs` with ``method``. Without
        covariates every method is the difference of the four cell means below.
    method : {"dr", "reg", "ipw"}
        2x2 estimator with covariates (:func:`did_2x2_rcs`).
    covariate_names : sequence of str, optional
        Names of the covariates, for error messages.

    Returns
    -------
    GroupTimeFit
        With one "unit" per observation: ``influence`` is (N, m) and ``cohort``, ``unit_weights`` are per
        observation, so that aggregation weights are observation shares (as ``did`` with ``panel=FALSE``).
        ``n_treated`` and ``n_control`` count the observations of the cell's two periods. A cell with an empty
        treated or comparison cell mean is NaN (its aggregates too).

    Notes
    -----
    With :math:`\bar Y_{d,s}` the weighted mean outcome of group :math:`d` (1: cohort g; 0: the comparison
    group) in period :math:`s`,
    :math:`ATT(g,t) = (\bar Y_{1,t} - \bar Y_{1,b}) - (\bar Y_{0,t} - \bar Y_{0,b})`, :math:`b` the base period.
    Each mean's influence function is :math:`N w_i (Y_i - \bar Y_{d,s}) / \sum_{j \in (d,s)} w_j` on its own
    observations, so that :math:`\widehat{se} = \sqrt{\sum_i \psi_i^2}/N` (or clustered sums). Without
    covariates this is what the regression, IPW and doubly robust estimators of Sant'Anna and Zhao (2020),
    J. Econometrics 219(1):101-122, Sec. 3 (``DRDID::reg_did_rc``, ``std_ipw_did_rc``, ``drdid_rc``) reduce to;
    Callaway and Sant'Anna (2021), J. Econometrics 225(2):200-230, Sec. 4 (repeated cross-sections).
    """
    check_option("control", control, ControlKind)
    check_option("base_period", base_period, BaseKind)
    if not (np.all(np.isfinite(y)) and (weights is None or np.all(np.isfinite(weights)))):
        raise DataError("y and weights must be finite; drop the observations with missing values first.")
    N = y.size
    w_all = np.ones(N) if weights is None else weights / weights.mean()
    names = None
    if covariates is not None:
        covariates = standardize_columns(covariates)  # ATT(g,t) does not depend on their location or units
        names = [str(c) for c in covariate_names] if covariate_names is not None else None
    rows: list[tuple] = []
    infl: list[np.ndarray] = []
    at_period = [time_codes == s for s in range(periods.size)]  # each period's observations, found once
    for g in np.unique(cohort[np.isfinite(cohort)]):
        is_g = cohort == g
        for ti, bi, is_pre in _cell_plan(periods, g, base_period, anticipation):
            t = periods[ti]
            if ti == bi:  # the universal base period's own cell: zero by construction
                rows.append((g, t, periods[bi], 0.0, 0, 0, is_pre, False))
                infl.append(np.zeros(N))
                continue
            is_c = _comparison(cohort, g, max(t, periods[bi]) + anticipation, control)
            full = np.zeros(N)
            att = 0.0
            for group, sign_d in ((is_g, 1.0), (is_c, -1.0)):
                for s, sign_s in ((ti, 1.0), (bi, -1.0)):
                    cell = np.flatnonzero(group & at_period[s])
                    w_cell, y_cell = w_all[cell], y[cell]
                    total = w_cell.sum()
                    if total <= 0:
                        att = np.nan
                        continue
                    mean = float(w_cell @ y_cell) / total
                    att += sign_d * sign_s * mean
                    full[cell] += sign_d * sign_s * N * w_cell * (y_cell - mean) / total
            two = at_period[ti] | at_period[bi]
            if covariates is not None and np.isfinite(att):
                use = two & (is_g | is_c)
                X = np.column_stack([np.ones(int(use.sum())), covariates[use]])
                try:
                    att, inf = did_2x2_rcs(
                        y[use], (time_codes[use] == ti).astype(np.float64), is_g[use].astype(np.float64), X,
                        w_all[use], method, names,
                    )  # fmt: skip
                except EstimationError as exc:
                    raise EstimationError(
                        f"ATT({g:g},{t:g}) (cohort {g:g}; base period {periods[bi]:g}; method={method!r}"
                        + (f"; covariates {', '.join(names)}" if names else "")
                        + f") cannot be estimated: {exc}"
                    ) from exc
                full = np.zeros(N)
                full[use] = inf * (N / use.sum())
            if not np.isfinite(att):
                full[:] = np.nan
            rows.append((g, t, periods[bi], att, int((is_g & two).sum()), int((is_c & two).sum()), is_pre, True))
            infl.append(full)
    return _group_time_fit(rows, np.column_stack(infl), cohort, w_all)


# --------------------------------------------------------------------------------------------- aggregation
@dataclass(frozen=True)
class Aggregation:
    """Aggregated effects and their influence functions.

    Attributes
    ----------
    kind : str
        ``"simple"``, ``"group"``, ``"dynamic"`` or ``"calendar"``.
    keys : ndarray (q,)
        Cohort, event time or calendar period of each term (empty for ``"simple"``).
    estimates : ndarray (q,)
    influence : ndarray (n, q)
    overall : float
        The overall summary (for ``"simple"``, the one estimate).
    overall_influence : ndarray (n,)
    """

    kind: str
    keys: np.ndarray
    estimates: np.ndarray
    influence: np.ndarray = field(repr=False)
    overall: float = np.nan
    overall_influence: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)


def _share_influence(
    n_classes: int, cell_class: np.ndarray, pg_cell: np.ndarray, att: np.ndarray, member: np.ndarray
) -> np.ndarray:
    """Influence of the estimated cohort shares on terms :math:`\\sum_j p_j ATT_j / \\sum_j p_j` (``did``'s ``wif``),
    as a per-cohort table: unit i's influence on term q is ``w_i * table[G_i, q]``.

    Term q averages the cells ``member[:, q]`` with weights their cohort shares ``pg_cell``; the shares are unit
    means :math:`p_g = E_n[w_i 1\\{G_i = g\\}]`, so their influence is :math:`w_i 1\\{G_i = g\\} - p_g` and that of
    the normalized weights :math:`p_j / s` (:math:`s = \\sum_j p_j`) is
    :math:`(w_i 1\\{G_i = g_j\\} - p_j)/s - \\sum_l (w_i 1\\{G_i = g_l\\} - p_l)\\, p_j / s^2`. Summed against the
    ATT(g,t), the :math:`p_j` terms cancel and this is :math:`w_i (A_{G_i}/s - c_{G_i}\\, a/s^2)`, with
    :math:`a = \\sum_j p_j ATT_j`, :math:`A_g` the sum of the term's ATT(g,t) of cohort g and :math:`c_g` their
    number (zero for units of no cohort), so no (units x cells) array is built per term.

    ``cell_class`` is each cell's cohort class (index into the cohorts; ``n_classes - 1`` is the class of units
    of no cohort, which has no cell); returns (n_classes, q).
    """
    by_class = np.zeros((n_classes, cell_class.size))
    by_class[cell_class, np.arange(cell_class.size)] = 1.0
    weighted = pg_cell[:, None] * member
    s = weighted.sum(axis=0)
    a = att @ weighted
    total = by_class @ (att[:, None] * member)  # (classes, q): A_g
    count = by_class @ member  # (classes, q): c_g
    return total / s - count * (a / s**2)


def _terms(
    att: np.ndarray, influence: np.ndarray, weights: np.ndarray, bad: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Estimates and influence functions of the terms averaging the ATT(g,t) with ``weights`` (cells x terms), by
    one (units x cells) @ (cells x terms) product; a term that uses a NaN cell (``bad``, whose ``att`` and
    ``influence`` are zeroed) is NaN, with a NaN influence function."""
    with single_threaded_blas():  # a thin product: one thread is as fast, and does not wait for a busy core
        est, inf = att @ weights, influence @ weights
    term_bad = (weights != 0)[bad].any(axis=0)
    est[term_bad] = np.nan
    inf[:, term_bad] = np.nan
    return est, inf


def aggregate(
    fit: GroupTimeFit,
    kind: AggregateKind,
    *,
    balance_e: int | None = None,
    min_e: float = -np.inf,
    max_e: float = np.inf,
) -> Aggregation:
    """Aggregate ATT(g,t) into an overall, per-cohort, per-event-time or per-period effect.

    Parameters
    ----------
    fit : GroupTimeFit
    kind : {"simple", "group", "dynamic", "calendar"}
    balance_e : int, optional
        ``"dynamic"`` only: keep only the cohorts observed for at least ``balance_e`` periods after adoption
        (``t_max - g >= balance_e``, ``t_max`` the last period with an ATT(g,t)), and only event times from
        ``balance_e - (t_max - t_min)`` to ``balance_e``, so that every event time averages the same cohorts
        (``did::aggte``'s ``balance_e``; a composition-balanced event study).
    min_e, max_e : float
        ``"dynamic"`` only: keep the event times in ``[min_e, max_e]`` (``did::aggte``'s ``min_e``, ``max_e``);
        the overall summary averages the kept event times from 0 on.

    Notes
    -----
    Weights are cohort shares :math:`P(G=g)` (Callaway and Sant'Anna 2021, Sec. 3.1.1, and ``did::aggte``):
    simple :math:`\\theta = \\sum_{t \\ge g} ATT(g,t) P(G=g) / \\sum_{t\\ge g} P(G=g)`; group
    :math:`\\theta(g) = \\frac{1}{T-g+1}\\sum_{t\\ge g} ATT(g,t)` and overall :math:`\\sum_g \\theta(g) P(G=g \\mid
    G \\le T)`; dynamic :math:`\\theta(e) = \\sum_g 1\\{g+e \\le T\\} ATT(g,g+e) P(G=g \\mid G+e \\le T)` and overall
    the mean of :math:`\\theta(e)` over :math:`e \\ge 0`; calendar :math:`\\theta(t) = \\sum_{g \\le t} ATT(g,t)
    P(G=g \\mid G \\le t)` and overall their mean. Influence functions include the estimation of the weights.

    NaN cells are never skipped: a term (and an overall summary) that averages a NaN ATT(g,t) is NaN, with a NaN
    influence function, so that no aggregate is silently computed from a subset of its cells.
    """
    check_option("aggregate", kind, AggregateKind)
    return _aggregate(fit, _Basis.of(fit), kind, balance_e, min_e, max_e)


def aggregations(
    fit: GroupTimeFit,
    kinds: Sequence[AggregateKind],
    *,
    balance_e: int | None = None,
    min_e: float = -np.inf,
    max_e: float = np.inf,
) -> dict[str, Aggregation]:
    """Several aggregations of one fit: :func:`aggregate` of each kind (``balance_e``, ``min_e``, ``max_e`` apply
    to ``"dynamic"``), computing once the per-unit tables they share."""
    for kind in kinds:
        check_option("aggregate", kind, AggregateKind)
    basis = _Basis.of(fit)
    window = {"dynamic": (balance_e, min_e, max_e)}
    return {kind: _aggregate(fit, basis, kind, *window.get(kind, (None, -np.inf, np.inf))) for kind in kinds}


@dataclass(frozen=True)
class _Basis:
    """What every aggregation of a :class:`GroupTimeFit` uses.

    Attributes
    ----------
    glist : ndarray (G,)
        The cohorts.
    code : ndarray of int (n,)
        Each unit's cohort class (index into ``glist``; ``G`` for units of no cohort).
    unit_class : ndarray (n, G + 1)
        Unit i's weight in the column of its cohort class (zero elsewhere).
    cell_class : ndarray of int (m,)
        Each cell's cohort class.
    pg_group, pg_cell : ndarray (G,), (m,)
        Cohort shares :math:`E_n[w_i 1\\{G_i = g\\}]`, of each cohort and of each cell's cohort.
    post : ndarray of bool (m,)
        Post-treatment cells (``g <= t``).
    bad : ndarray of bool (m,)
        Cells whose estimate or influence function is not finite (NaN cells).
    att, influence : ndarray (m,), (n, m)
        The fit's, with the NaN cells set to zero (their terms are set NaN apart).
    """

    glist: np.ndarray
    code: np.ndarray
    unit_class: np.ndarray
    cell_class: np.ndarray
    pg_group: np.ndarray
    pg_cell: np.ndarray
    post: np.ndarray
    bad: np.ndarray
    att: np.ndarray
    influence: np.ndarray

    @classmethod
    def of(cls, fit: GroupTimeFit) -> _Basis:
        """The tables of ``fit``."""
        w, n = fit.unit_weights, fit.n_units
        glist = np.unique(fit.groups)
        clipped = np.minimum(np.searchsorted(glist, fit.cohort), glist.size - 1)
        code = np.where(glist[clipped] == fit.cohort, clipped, glist.size)
        unit_class = np.zeros((n, glist.size + 1))
        unit_class[np.arange(n), code] = w
        cell_class = np.searchsorted(glist, fit.groups)
        pg_group = np.bincount(code, weights=w, minlength=glist.size + 1)[: glist.size] / n
        bad = ~(np.isfinite(fit.att) & np.isfinite(fit.influence).all(axis=0))
        return cls(
            glist=glist,
            code=code,
            unit_class=unit_class,
            cell_class=cell_class,
            pg_group=pg_group,
            pg_cell=pg_group[cell_class],
            post=fit.groups <= fit.times,
            bad=bad,
            att=np.where(bad, 0.0, fit.att),
            influence=np.where(bad[None, :], 0.0, fit.influence) if bad.any() else fit.influence,
        )


def _aggregate(
    fit: GroupTimeFit, basis: _Basis, kind: str, balance_e: int | None, min_e: float, max_e: float
) -> Aggregation:
    """:func:`aggregate`, from the fit's shared tables."""
    n = fit.n_units
    glist, n_classes, unit_class, cell_class = basis.glist, basis.glist.size + 1, basis.unit_class, basis.cell_class
    pg_group, pg_cell, post, bad, att, influence = (
        basis.pg_group,
        basis.pg_cell,
        basis.post,
        basis.bad,
        basis.att,
        basis.influence,
    )
    if kind == "group":
        member = (post[:, None] & (fit.groups[:, None] == glist[None, :])).astype(np.float64)
        est, inf = _terms(att, influence, member / member.sum(axis=0), bad)
        wts = pg_group / pg_group.sum()
        overall = float(est @ wts)
        table = _share_influence(n_classes, np.arange(glist.size), pg_group, est, np.ones((glist.size, 1)))
        with single_threaded_blas():  # thin products: one thread is as fast, and does not wait for a busy core
            overall_inf = inf @ wts + (unit_class @ table)[:, 0]
        return Aggregation(kind, glist, est, inf, overall, _nan_if(overall_inf, overall))
    if kind == "simple":
        keys = np.zeros(0)
        masks = post[:, None]
    elif kind == "dynamic":
        event = fit.times - fit.groups
        include = np.ones(event.size, dtype=bool)
        keys = np.unique(event)
        if balance_e is not None:
            t_max, t_min = fit.times.max(), fit.times.min()
            include = t_max - fit.groups >= balance_e
            if not include.any():
                raise DataError(
                    f"balance_e={balance_e}: no cohort is observed for {balance_e} periods after adoption (the last "
                    f"period is {t_max:g}); use a smaller balance_e."
                )
            keys = np.unique(event[include])
            keys = keys[(keys <= balance_e) & (keys >= balance_e - t_max + t_min)]
        keys = keys[(keys >= min_e) & (keys <= max_e)]
        if keys.size == 0:
            raise DataError(
                f"no event time is left in the window min_e={min_e:g}, max_e={max_e:g}"
                + (f", balance_e={balance_e}" if balance_e is not None else "")
                + f" (event times: {', '.join(f'{e:g}' for e in np.unique(event))}); widen it."
            )
        masks = (event[:, None] == keys[None, :]) & include[:, None]
    else:
        keys = np.unique(fit.times[fit.times >= glist.min()])
        masks = post[:, None] & (fit.times[:, None] == keys[None, :])
    member = masks.astype(np.float64)
    weighted = pg_cell[:, None] * member
    est, inf = _terms(att, influence, weighted / weighted.sum(axis=0), bad)
    table = _share_influence(n_classes, cell_class, pg_cell, att, member)
    with single_threaded_blas():
        inf += unit_class @ table
    inf[:, ~np.isfinite(est)] = np.nan
    if kind == "simple":
        return Aggregation(kind, keys, est, inf, float(est[0]), inf[:, 0])
    summary = keys >= 0 if kind == "dynamic" else np.ones(keys.size, dtype=bool)
    if not summary.any():  # a window of pre-treatment event times only: no post-treatment summary
        return Aggregation(kind, keys, est, inf, np.nan, np.full(n, np.nan))
    overall = float(est[summary].mean())
    return Aggregation(kind, keys, est, inf, overall, _nan_if(inf[:, summary].mean(axis=1), overall))


def _nan_if(influence: np.ndarray, estimate: float) -> np.ndarray:
    """The influence function, or NaN everywhere when the estimate is NaN (a NaN cell entered it)."""
    return influence if np.isfinite(estimate) else np.full_like(influence, np.nan)
