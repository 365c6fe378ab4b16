"""t tests and intervals from a sandwich covariance, with small-sample degrees of freedom."""

from __future__ import annotations

import numpy as np
from scipy import stats

from evalkit.errors import InferenceError
from evalkit.estimators import LinearFit
from evalkit.inference._base import InferenceContext, InferenceOutcome
from evalkit.inference.sandwich import Sandwich, sandwich

__all__ = ["analytic_inference", "resolve_inference", "t_inference"]


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


def t_inference(
    estimate: float, std_error: float, df: float, *, alpha: float, n_clusters: int | None, label: str
) -> InferenceOutcome:
    """Two-sided t test of zero and the :math:`1-\\alpha` interval :math:`\\hat\\tau \\pm t_{\\nu,1-\\alpha/2}
    \\widehat{se}` for one coefficient."""
    t = estimate / std_error if std_error > 0 else np.nan
    p = float(2 * stats.t.sf(abs(t), df)) if np.isfinite(t) else np.nan
    crit = float(stats.t.ppf(1 - alpha / 2, df))
    return InferenceOutcome(
        std_error=std_error,
        statistic=t,
        p_value=p,
        conf_low=estimate - crit * std_error,
        conf_high=estimate + crit * std_error,
        df=df,
        n_clusters=n_clusters,
        label=label,
    )
