"""The one comparison of resampled statistics with an observed one: "at least as extreme", ties included.

Every resampling p-value in evalkit (randomization inference, the wild cluster bootstrap, the Romano–Wolf and
Westfall–Young step-downs) counts the draws at least as extreme as the observed statistic through
:func:`at_least_as_extreme`, or, for many observed values against the same draws (the p-value of every draw in a
Westfall–Young min-p step-down), through :func:`count_at_least_as_extreme`, which applies the same rule with one
sort; so they all treat ties, and the scale of the data, the same way.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np

from evalkit._validation import check_option

__all__ = ["TIE_RTOL", "Direction", "at_least_as_extreme", "count_at_least_as_extreme", "tie_tolerance"]

Direction = Literal["two-sided", "greater", "less"]

#: Relative tie tolerance (see :func:`tie_tolerance`).
TIE_RTOL = 1e-9
#: The median that sets the scale is taken over evenly spaced draws, at least this many (all when fewer).
_SCALE_DRAWS = 1024


def tie_tolerance(observed: float | np.ndarray, draws: np.ndarray, rtol: float = TIE_RTOL) -> float | np.ndarray:
    """Distance below which a draw counts as tied with the observed statistic, relative to the statistic's scale.

    Parameters
    ----------
    observed : float or ndarray of shape (m,)
        Observed statistic(s).
    draws : ndarray of shape (B,) or (B, m)
        The resampled statistics (one column per observed statistic).
    rtol : float, default 1e-9
        Relative tolerance.

    Returns
    -------
    float or ndarray of shape (m,)
        :math:`\\text{rtol} \\cdot \\max(|T|, \\operatorname{median}_b |T^*_b|)`, the (upper) median over finite
        draws (over 1,024 to 2,047 evenly spaced draws when there are more: the scale only needs the right order
        of magnitude, and the p-value of a test inversion is evaluated many times).

    Notes
    -----
    The tolerance exists because a draw that reproduces the observed data (the identity draw of a restricted
    bootstrap, the observed assignment inside a complete enumeration, an assignment equivalent to it) should give
    exactly the observed statistic, but is computed along a different floating-point path, so it differs by a few
    units of rounding relative to the statistic, :math:`\\kappa\\,\\epsilon` for a design of condition number
    :math:`\\kappa`. ``rtol = 1e-9`` covers condition numbers up to about :math:`10^6` and stays far below the
    spacing of genuinely different statistics.

    An **absolute** tolerance is wrong: multiplying the outcome by :math:`10^{-11}` multiplies an unstudentized
    statistic by :math:`10^{-11}`, and a fixed :math:`10^{-10}` then makes every draw a tie (p = 1). The scale is
    therefore the statistic's own: the larger of :math:`|T|` and the median :math:`|T^*_b|`. Both scale with the data,
    so rescaling the outcome leaves every comparison, and the p-value, unchanged. :math:`|T|` alone would give no
    tolerance at :math:`T = 0`; the median rather than the maximum of the draws keeps one huge draw (a nearly
    singular refit) from widening the tolerance. Ties count as extreme, as a p-value must for the observed draw
    itself (Phipson and Smyth 2010).

    References
    ----------
    Phipson, B. and Smyth, G. K. (2010). Permutation p-values should never be zero. *Statistical Applications in
    Genetics and Molecular Biology* 9(1), article 39.
    """
    values = np.asarray(draws, dtype=np.float64)
    magnitude = np.abs(values[:: max(1, values.shape[0] // _SCALE_DRAWS)])  # evenly spaced, at most ~2 x 1,024
    middle = magnitude.shape[0] // 2
    if magnitude.shape[0] == 0:
        typical = np.zeros(magnitude.shape[1:])
    elif np.isfinite(magnitude).all():
        typical = np.partition(magnitude, middle, axis=0)[middle]  # the (upper) median
    else:  # undefined (NaN) or infinite draws do not set the scale
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a column without finite draws: scale |T| alone
            typical = np.nan_to_num(np.nanmedian(np.where(np.isfinite(magnitude), magnitude, np.nan), axis=0))
    if np.ndim(observed) == 0 and np.ndim(typical) == 0:
        return rtol * max(abs(float(observed)), float(typical))
    return rtol * np.maximum(np.abs(np.asarray(observed, dtype=np.float64)), typical)


def at_least_as_extreme(
    observed: float | np.ndarray,
    draws: np.ndarray,
    direction: Direction,
    *,
    scale_draws: np.ndarray | None = None,
) -> np.ndarray:
    """Which draws are at least as extreme as the observed statistic, ties within :func:`tie_tolerance` included.

    Parameters
    ----------
    observed : float or ndarray of shape (m,)
        Observed statistic(s); an array is compared column by column.
    draws : ndarray of shape (B,) or (B, m)
        Resampled statistics.
    direction : {"two-sided", "greater", "less"}
        :math:`|T^*| \\ge |T|`, :math:`T^* \\ge T` or :math:`T^* \\le T`.
    scale_draws : ndarray, optional
        Draws that set the tolerance's scale (default ``draws``); the step-down methods compare successive maxima
        but measure the scale on the raw draws.

    Returns
    -------
    ndarray of bool, the shape of ``draws``
        NaN draws are False (callers decide how undefined draws count).

    Notes
    -----
    With :math:`\\tau` the tie tolerance, extreme means :math:`|T^*| \\ge |T| - \\tau` (two-sided),
    :math:`T^* \\ge T - \\tau` (greater) or :math:`T^* \\le T + \\tau` (less). An infinite observed statistic
    has no tolerance (:math:`\\tau = 0`): only equally infinite draws tie with it.
    """
    draws = np.asarray(draws, dtype=np.float64)
    t = np.asarray(observed, dtype=np.float64)
    tol = _finite_tolerance(t, draws if scale_draws is None else scale_draws)
    with np.errstate(invalid="ignore"):
        if direction == "two-sided":
            return np.abs(draws) >= np.abs(t) - tol
        if direction == "greater":
            return draws >= t - tol
        return draws <= t + tol


def _finite_tolerance(observed: np.ndarray, scale_draws: np.ndarray) -> float | np.ndarray:
    """:func:`tie_tolerance`, zero where the observed statistic is infinite (``inf - inf`` would be NaN)."""
    tol = tie_tolerance(observed, scale_draws)
    if np.isinf(observed).any():
        tol = np.where(np.isinf(observed), 0.0, tol)
    return tol


def count_at_least_as_extreme(observed: np.ndarray, draws: np.ndarray, direction: Direction) -> np.ndarray:
    """For each of many observed values, how many draws are at least as extreme, ties within the tolerance included.

    The vectorized form of ``at_least_as_extreme(observed[i], draws, direction).sum()`` for every ``i`` (the same
    tolerance, :func:`tie_tolerance` of ``observed[i]`` on the scale of ``draws``), computed with one sort of the
    draws instead of one pass over them per observed value. Westfall–Young's min-p step-down needs it for the
    p-value of every draw against all the draws (:func:`evalkit.inference.multiple_testing.randomization_null`).

    Parameters
    ----------
    observed : ndarray of shape (m,)
        Values to compare with the draws (e.g. the draws themselves).
    draws : ndarray of shape (B,)
        Resampled statistics; NaN draws are never counted (as in :func:`at_least_as_extreme`).
    direction : {"two-sided", "greater", "less"}
        As in :func:`at_least_as_extreme`.

    Returns
    -------
    ndarray of int of shape (m,)
        :math:`\\#\\{b : T^*_b \\succeq t_i\\}`; 0 for a NaN observed value.

    Notes
    -----
    With :math:`\\tau_i` the tie tolerance of :math:`t_i` (:func:`tie_tolerance`, zero for an infinite
    :math:`t_i`), "greater" counts :math:`T^*_b \\ge t_i - \\tau_i`, "less" :math:`T^*_b \\le t_i + \\tau_i` and
    "two-sided" :math:`|T^*_b| \\ge |t_i| - \\tau_i`: a binary search of :math:`t_i \\mp \\tau_i` in the sorted
    draws, :math:`O((B + m) \\log B)`.

    References
    ----------
    Westfall, P. H. and Young, S. S. (1993). *Resampling-Based Multiple Testing*. Wiley, Algorithm 2.8 (each draw's
    p-value against the same draws).
    """
    check_option("direction", direction, Direction)
    draws = np.asarray(draws, dtype=np.float64).reshape(-1)
    t = np.asarray(observed, dtype=np.float64).reshape(-1)
    tol = _finite_tolerance(t, draws)
    if direction == "two-sided":
        draws, t = np.abs(draws), np.abs(t)
    values = np.sort(draws[~np.isnan(draws)])
    with np.errstate(invalid="ignore"):
        if direction == "less":
            counts = np.searchsorted(values, t + tol, side="right")
        else:
            counts = values.size - np.searchsorted(values, t - tol, side="left")
    return np.where(np.isnan(t), 0, counts)
