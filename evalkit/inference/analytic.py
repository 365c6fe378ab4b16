"""t tests and intervals from a standard error, with small-sample degrees of freedom; the degenerate-SE rule.

Every analytic test in evalkit goes through :func:`t_tests` (one coefficient: :func:`t_inference`): trials, DiD,
Callaway-Sant'Anna, Sun-Abraham and TWFE. It is also where a standard error that is zero up to rounding is
turned into NaN with a note (:func:`degenerate_se`), so no estimator reports p = 0 from a variance it could not
estimate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from evalkit.errors import InferenceError
from evalkit.estimators import LinearFit
from evalkit.inference._base import InferenceContext, InferenceOutcome
from evalkit.inference.sandwich import Sandwich, sandwich

__all__ = [
    "DEGENERATE_RTOL",
    "TTests",
    "analytic_inference",
    "degenerate_note",
    "degenerate_se",
    "resolve_inference",
    "t_inference",
    "t_tests",
]

#: A standard error at or below this fraction of the estimate's scale is zero up to rounding (see degenerate_se).
DEGENERATE_RTOL = 1e-10


def degenerate_se(std_errors: np.ndarray | float, estimates: np.ndarray | float, scale: float = 0.0) -> np.ndarray:
    """Which standard errors are zero up to rounding, relative to the scale of their estimates.

    Parameters
    ----------
    std_errors, estimates : array-like
        Standard errors and the estimates they belong to (broadcast together).
    scale : float, default 0
        A scale of the data the estimates are measured in (e.g. the outcome's standard deviation), used when an
        estimate is itself (close to) zero.

    Returns
    -------
    ndarray of bool
        True where :math:`\\widehat{se} \\le \\epsilon_{rel} \\max(|\\hat\\tau|, s)` with
        :math:`\\epsilon_{rel}` = :data:`DEGENERATE_RTOL` (1e-10). NaN standard errors are not flagged.

    Notes
    -----
    A variance that is zero in exact arithmetic (one cluster, a cell whose units sit in one cluster, an exact fit)
    comes out of floating point as a sum of rounding errors, :math:`O(\\epsilon_{mach}\\sqrt n)` times the data's
    scale (about 1e-17 in the Callaway-Sant'Anna one-cluster case of issue 8), while a genuine standard error of
    :math:`\\sigma/\\sqrt n` stays above 1e-10 of the scale for any :math:`n < 10^{20}`. The threshold sits between the
    two, with six orders of magnitude to spare on either side.
    """
    se = np.asarray(std_errors, dtype=np.float64)
    reference = np.maximum(np.abs(np.asarray(estimates, dtype=np.float64)), float(scale))
    with np.errstate(invalid="ignore"):
        return np.isfinite(se) & (se <= DEGENERATE_RTOL * reference)


def degenerate_note(terms: Sequence[str]) -> str:
    """The note that goes with standard errors set to NaN by :func:`degenerate_se`."""
    shown = ", ".join(map(str, terms[:5])) + (f" and {len(terms) - 5} more" if len(terms) > 5 else "")
    return (
        f"The standard error of {shown} is zero up to rounding (at most {DEGENERATE_RTOL:g} of the estimate's scale): "
        "the data cannot estimate that variance (usual causes: a single cluster, every unit of a cell in one "
        "cluster, or an exact fit). It is reported as NaN, with no test or interval; use more clusters, "
        "randomization inference, or a coarser aggregation."
    )


@dataclass(frozen=True)
class TTests:
    """Vectorized t (or normal, ``df = inf``) tests of zero and intervals, with degenerate SEs set to NaN.

    Attributes
    ----------
    std_error, statistic, p_value, conf_low, conf_high, df : ndarray
        One entry per estimate.
    degenerate : ndarray of bool
        Which standard errors were zero up to rounding (now NaN).
    """

    std_error: np.ndarray
    statistic: np.ndarray
    p_value: np.ndarray
    conf_low: np.ndarray
    conf_high: np.ndarray
    df: np.ndarray
    degenerate: np.ndarray

    def notes(self, terms: Sequence[str]) -> tuple[str, ...]:
        """The degenerate-SE note naming the affected ``terms`` (one name per estimate), or nothing."""
        bad = [t for t, d in zip(terms, self.degenerate, strict=True) if d]
        return (degenerate_note(bad),) if bad else ()


def t_tests(
    estimates: np.ndarray | float,
    std_errors: np.ndarray | float,
    df: np.ndarray | float,
    *,
    alpha: float,
    scale: float = 0.0,
) -> TTests:
    """Two-sided tests of zero and :math:`1-\\alpha` intervals for estimates with standard errors.

    Notes
    -----
    :math:`t = \\hat\\tau / \\widehat{se}`; :math:`p = 2\\,P(T_\\nu > |t|)` and the interval
    :math:`\\hat\\tau \\pm t_{\\nu, 1-\\alpha/2}\\,\\widehat{se}`; :math:`\\nu = \\infty` gives the normal
    distribution (influence-function inference). Standard errors that are zero up to rounding
    (:func:`degenerate_se`) become NaN, and so do their statistic, p-value and interval.
    """
    est = np.atleast_1d(np.asarray(estimates, dtype=np.float64))
    se = np.atleast_1d(np.asarray(std_errors, dtype=np.float64)).copy()
    nu = np.broadcast_to(np.asarray(df, dtype=np.float64), est.shape).copy()
    bad = degenerate_se(se, est, scale) | (se <= 0)
    se[bad] = np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        t = est / se
        crit = np.where(np.isinf(nu), stats.norm.ppf(1 - alpha / 2), stats.t.ppf(1 - alpha / 2, nu))
        p = np.where(np.isinf(nu), 2 * stats.norm.sf(np.abs(t)), 2 * stats.t.sf(np.abs(t), nu))
    return TTests(
        std_error=se,
        statistic=t,
        p_value=p,
        conf_low=est - crit * se,
        conf_high=est + crit * se,
        df=nu,
        degenerate=bad & np.isfinite(est),
    )


def resolve_inference(inference: object, *, clustered: bool) -> object:
    """Turn the ``inference=`` argument of ``estimate()`` into an inference object.

    ``None`` gives the default, HC2, or CR2 when the design is clustered (as ``estimatr::lm_robust``); a string
    names a covariance type; an inference object is returned as it is.
    """
    if inference is None:
        return Sandwich("CR2" if clustered else "HC2")
    if isinstance(inference, str):
        return Sandwich(inference)  # validates the name
    if isinstance(inference, Sandwich):
        return inference
    if not hasattr(inference, "infer"):
        raise InferenceError(
            f"inference={inference!r} is not understood; pass a covariance type such as 'HC2' or 'CR2', or an "
            "object from evalkit.inference (e.g. ek.inference.Sandwich('CR2'))."
        )
    return inference


def analytic_inference(fit: LinearFit, spec: Sandwich, context: InferenceContext) -> InferenceOutcome:
    """Standard error, t statistic, p-value and interval for the fit's target coefficient.

    Notes
    -----
    :math:`t = \\hat\\tau / \\widehat{se}`; two-sided :math:`p = 2\\,P(T_\\nu > |t|)` and interval
    :math:`\\hat\\tau \\pm t_{\\nu, 1-\\alpha/2}\\,\\widehat{se}`, with :math:`\\nu` the degrees of freedom of the
    covariance type (:math:`n-k`; :math:`G-1` for CR0/CR1; Bell–McCaffrey for CR2, and for HC2 with
    ``df="bell_mccaffrey"``), as ``estimatr::lm_robust``.

    The difference in means without blocks, clusters or weights, with HC2 (its Neyman / Welch variance
    :math:`s_1^2/n_1 + s_0^2/n_0`) and ``df="default"``, uses the Welch (1947)-Satterthwaite df
    :math:`\\nu = (v_1 + v_0)^2 / (v_1^2/(n_1-1) + v_0^2/(n_0-1))`, :math:`v_j = s_j^2/n_j`, as
    ``estimatr::difference_in_means``. With blocks it keeps :math:`n - 2B` (the fully interacted regression's
    :math:`n - k`, estimatr's blocked df), with weights :math:`n - 2` (estimatr runs ``lm_robust`` HC2), with
    matched pairs :math:`B - 1`; with clusters, CR2's Bell-McCaffrey df (see
    :func:`evalkit.estimators.difference_in_means`).
    """
    cov_type = spec.cov_type
    clustered_type = cov_type.startswith("CR")
    if clustered_type and context.clusters is None:
        raise InferenceError(
            f"inference={cov_type!r} needs clusters, and this design has none; declare clusters= in the design "
            "or use 'HC2'."
        )
    cov = sandwich(
        fit.X,
        fit.residuals,
        cov_type,
        weights=fit.weights,
        clusters=context.clusters if clustered_type else None,
        df_for=[fit.target],
        working_model=spec.working_model,
        df_method=spec.df,
    )
    df, how = float(cov.df[fit.target]), cov.df_method
    welch = _welch_df(fit, spec, context)
    if welch is not None:
        df, how = welch, "Welch-Satterthwaite"
    label = cov_type if cov_type == "classical" else f"{cov_type} ({how} df)"
    if cov_type == "CR2" and fit.weights is not None and spec.working_model == "inverse_variance":
        label = f"CR2 ({how} df, inverse-variance working model)"
    return t_inference(
        fit.estimate,
        float(np.sqrt(cov.vcov[fit.target, fit.target])),
        df,
        alpha=context.alpha,
        n_clusters=cov.n_clusters,
        label=label,
        scale=_outcome_scale(fit),
    )


def _welch_df(fit: LinearFit, spec: Sandwich, context: InferenceContext) -> float | None:
    """The Welch-Satterthwaite df of an unblocked, unclustered, unweighted difference in means with HC2, else None."""
    sample = context.sample
    if (
        context.estimator != "difference_in_means"
        or spec.cov_type != "HC2"
        or spec.df != "default"
        or fit.weights is not None
        or context.clusters is not None
        or sample is None
        or (sample.blocks is not None and np.unique(sample.blocks).size > 1)
        or fit.X.shape[1] != 2
    ):
        return None
    z = fit.X[:, fit.target] == 1
    v1 = fit.y[z].var(ddof=1) / z.sum()
    v0 = fit.y[~z].var(ddof=1) / (~z).sum()
    return float((v1 + v0) ** 2 / (v1**2 / (z.sum() - 1) + v0**2 / ((~z).sum() - 1)))


def _outcome_scale(fit: LinearFit) -> float:
    """The outcome's standard deviation, the scale against which a standard error is judged degenerate."""
    y = np.asarray(fit.y, dtype=np.float64)
    return float(y.std()) if y.size > 1 else 0.0


def t_inference(
    estimate: float,
    std_error: float,
    df: float,
    *,
    alpha: float,
    n_clusters: int | None,
    label: str,
    scale: float = 0.0,
    term: str = "the treatment effect",
) -> InferenceOutcome:
    """Two-sided t test of zero and the :math:`1-\\alpha` interval for one coefficient (see :func:`t_tests`)."""
    out = t_tests(estimate, std_error, df, alpha=alpha, scale=scale)
    return InferenceOutcome(
        std_error=float(out.std_error[0]),
        statistic=float(out.statistic[0]),
        p_value=float(out.p_value[0]),
        conf_low=float(out.conf_low[0]),
        conf_high=float(out.conf_high[0]),
        df=df,
        n_clusters=n_clusters,
        label=label,
        notes=out.notes([term]),
    )
