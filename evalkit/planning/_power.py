"""Power and minimum detectable effect of a t test with known degrees of freedom, two ways.

``"exact"``: power from the noncentral t distribution, ``P(|T| > t_{1-a/2,df})`` with ``T ~ t(df, ncp = effect/SE)``
(both tails for a two-sided test), the computation of R's ``pwr.t2n.test``. Under normal errors this is the exact
power of the two-sample t test, and of the t test on cluster means (equal cluster sizes, no covariates); with
covariates it is the usual approximation that treats their R^2 as known.

``"multiplier"``: the minimum-detectable-effect multiplier ``M = t_{1-a/2,df} + t_{power,df}`` of Bloom (1995, 2005)
and PowerUp! (Dong & Maynard, 2013), ``MDE = M * SE``; power is the matching central-t approximation
``power = F_t(effect/SE - t_{1-a/2,df}; df)``, so that ``power(mde(p)) = p`` within the method.
"""

from __future__ import annotations

import math
from typing import Literal

from scipy import optimize, stats

__all__ = ["Alternative", "Method", "critical", "multiplier", "power_of_test", "solve_ncp"]

Method = Literal["exact", "multiplier"]
Alternative = Literal["two-sided", "one-sided"]


def critical(alpha: float, df: float, alternative: Alternative) -> float:
    """Critical value of the t test: ``t_{1-a/2,df}`` (two-sided) or ``t_{1-a,df}`` (one-sided)."""
    return float(stats.t.ppf(1 - alpha / 2 if alternative == "two-sided" else 1 - alpha, df))


def multiplier(alpha: float, power: float, df: float, alternative: Alternative) -> float:
    """Bloom's (2005) multiplier ``M = t_{1-a/2,df} + t_{power,df}`` (``t_{1-a,df}`` one-sided)."""
    return critical(alpha, df, alternative) + float(stats.t.ppf(power, df))


def power_of_test(ncp: float, alpha: float, df: float, alternative: Alternative, method: Method) -> float:
    """Power of the t test when the true effect is ``ncp`` standard errors."""
    c = critical(alpha, df, alternative)
    if method == "multiplier":
        return float(stats.t.cdf(ncp - c, df))
    # scipy's noncentral t returns NaN in some far tails (e.g. nct.cdf(-1.74, 17, 14)); a NaN there is a tail
    # probability below 1e-15, so it is replaced by its limit.
    upper = float(stats.nct.sf(c, df, ncp))
    if not math.isfinite(upper):
        upper = 1.0 if ncp > c else 0.0
    if alternative == "two-sided":
        lower = float(stats.nct.sf(c, df, -ncp))  # P(T < -c) for ncp, by the symmetry T(-ncp) = -T(ncp)
        upper += lower if math.isfinite(lower) else 0.0
    return upper


def solve_ncp(alpha: float, power: float, df: float, alternative: Alternative, method: Method) -> float:
    """The effect, in standard errors, that the test detects with probability ``power``."""
    if method == "multiplier":
        return multiplier(alpha, power, df, alternative)
    start = multiplier(alpha, power, df, alternative)
    hi = max(start, 1.0) * 2
    while power_of_test(hi, alpha, df, alternative, method) < power:
        hi *= 2
        if not math.isfinite(hi) or hi > 1e8:  # pragma: no cover - power < 1 is always reachable
            raise ArithmeticError("no effect size reaches the requested power")
    return float(
        optimize.brentq(lambda x: power_of_test(x, alpha, df, alternative, method) - power, 0.0, hi, xtol=1e-12)
    )
