"""Standardized effect sizes: Glass's delta, Cohen's d and Hedges' g with confidence intervals."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["StandardizedEffects", "standardized_effects"]


@dataclass(frozen=True)
class StandardizedEffects:
    """An effect in standard-deviation units, three ways, with normal-approximation intervals."""

    sd_control: float
    sd_pooled: float
    glass_delta: float
    glass_delta_low: float
    glass_delta_high: float
    cohens_d: float
    cohens_d_low: float
    cohens_d_high: float
    hedges_g: float
    hedges_g_low: float
    hedges_g_high: float


def standardized_effects(
    estimate: float, y: np.ndarray, treatment: np.ndarray, *, alpha: float = 0.05
) -> StandardizedEffects:
    """Standardize a treatment effect by the control-group and the pooled within-arm standard deviation.

    Parameters
    ----------
    estimate : float
        The effect in raw units (a difference in means or an adjusted difference).
    y : ndarray
        The outcome analysed (for the ``change`` estimator, the change), estimation sample.
    treatment : ndarray
        0/1 treatment indicator, same length.
    alpha : float
        One minus the confidence level.

    Returns
    -------
    StandardizedEffects

    Notes
    -----
    With :math:`s_0, s_1` the arms' standard deviations (denominator :math:`n-1`) and
    :math:`s_p = \\sqrt{((n_1-1)s_1^2 + (n_0-1)s_0^2)/(n_1+n_0-2)}`:

    * Glass's :math:`\\Delta = \\hat\\tau / s_0`, :math:`\\operatorname{se}^2 = (n_1+n_0)/(n_1 n_0) +
      \\Delta^2/(2(n_0-1))`;
    * Cohen's :math:`d = \\hat\\tau / s_p`, :math:`\\operatorname{se}^2 = (n_1+n_0)/(n_1 n_0) + d^2/(2(n_1+n_0))`;
    * Hedges' :math:`g = J d`, :math:`J = 1 - 3/(4(n_1+n_0) - 9)`, :math:`\\operatorname{se}(g) = J\\,
      \\operatorname{se}(d)`.

    Intervals are :math:`\\pm z_{1-\\alpha/2}` times the standard error (Hedges & Olkin 1985, *Statistical
    Methods for Meta-Analysis*, ch. 5; Borenstein et al. 2009, *Introduction to Meta-Analysis*, ch. 4). With an
    adjusted estimate the numerator is adjusted and the denominator is the raw SD, as in the Casita pilot.
    """
    treated = treatment == 1
    y1, y0 = y[treated], y[~treated]
    n1, n0 = y1.size, y0.size
    s1 = float(np.std(y1, ddof=1)) if n1 > 1 else np.nan
    s0 = float(np.std(y0, ddof=1)) if n0 > 1 else np.nan
    sp = float(np.sqrt(((n1 - 1) * s1**2 + (n0 - 1) * s0**2) / (n1 + n0 - 2)))
    z = float(stats.norm.ppf(1 - alpha / 2))
    base = (n1 + n0) / (n1 * n0)
    glass = estimate / s0 if s0 > 0 else np.nan
    d = estimate / sp if sp > 0 else np.nan
    se_glass = np.sqrt(base + glass**2 / (2 * (n0 - 1))) if n0 > 1 else np.nan
    se_d = np.sqrt(base + d**2 / (2 * (n1 + n0)))
    J = 1 - 3 / (4 * (n1 + n0) - 9)
    g, se_g = J * d, J * se_d
    return StandardizedEffects(
        sd_control=s0,
        sd_pooled=sp,
        glass_delta=glass,
        glass_delta_low=glass - z * se_glass,
        glass_delta_high=glass + z * se_glass,
        cohens_d=d,
        cohens_d_low=d - z * se_d,
        cohens_d_high=d + z * se_d,
        hedges_g=g,
        hedges_g_low=g - z * se_g,
        hedges_g_high=g + z * se_g,
    )
