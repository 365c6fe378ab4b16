"""Goodman-Bacon (2021) decomposition of the static two-way fixed effects estimate into 2x2 comparisons."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from evalkit.errors import DataError, DesignError

__all__ = ["BaconDecomposition", "bacon_decomposition"]


@dataclass(frozen=True)
class BaconDecomposition:
    """The 2x2 comparisons behind a TWFE estimate.

    Attributes
    ----------
    comparisons : DataFrame
        One row per comparison: ``type`` ("treated vs never treated", "earlier vs later treated", "later vs
        earlier treated", "later vs always treated"), ``treated`` and ``control`` cohorts (inf = never,
        -inf = always treated), ``estimate`` (the 2x2 DiD) and ``weight``.
    twfe : float
        The TWFE coefficient, computed by regression (two-way demeaning).
    """

    _comparisons: pd.DataFrame = field(repr=False)
    twfe: float

    @property
    def comparisons(self) -> pd.DataFrame:
        """A copy of the comparisons table."""
        return self._comparisons.copy()

    def by_type(self) -> pd.DataFrame:
        """Total weight and weighted-average estimate of each comparison type."""
        c = self._comparisons
        weight = c.groupby("type", sort=False)["weight"].sum()
        est = (c["estimate"] * c["weight"]).groupby(c["type"], sort=False).sum() / weight
        return pd.DataFrame({"weight": weight, "estimate": est}).reset_index()


def bacon_decomposition(
    Y: np.ndarray, cohort: np.ndarray, periods: np.ndarray, *, weights: np.ndarray | None = None
) -> BaconDecomposition:
    """Decompose the TWFE estimate of a balanced staggered-adoption panel (Goodman-Bacon 2021, Theorem 1).

    Parameters
    ----------
    Y : ndarray (n, T)
        Outcomes, units x sorted periods; no missing values.
    cohort : ndarray (n,)
        First treated period (``inf`` never treated; a value at or before ``periods[0]`` means always treated).
    periods : ndarray (T,)
    weights : ndarray (n,), optional
        Unit weights (shares and means are then weighted).

    Returns
    -------
    BaconDecomposition

    Notes
    -----
    With :math:`n_k` the share of units in timing group k, :math:`\\bar D_k` its share of treated periods,
    :math:`n_{kl} = n_k/(n_k+n_l)` and :math:`\\hat V^D` the variance of the two-way demeaned treatment,

    .. math::
        s_{kU} = \\frac{(n_k+n_U)^2 n_{kU}(1-n_{kU})\\bar D_k(1-\\bar D_k)}{\\hat V^D},\\quad
        s^k_{kl} = \\frac{((n_k+n_l)(1-\\bar D_l))^2 n_{kl}(1-n_{kl})\\frac{\\bar D_k-\\bar D_l}{1-\\bar D_l}
        \\frac{1-\\bar D_k}{1-\\bar D_l}}{\\hat V^D},\\quad
        s^l_{kl} = \\frac{((n_k+n_l)\\bar D_k)^2 n_{kl}(1-n_{kl})\\frac{\\bar D_l}{\\bar D_k}
        \\frac{\\bar D_k-\\bar D_l}{\\bar D_k}}{\\hat V^D}

    (Goodman-Bacon 2021, J. Econometrics 225(2):254-277, eq. 10a-c); they sum to one and
    :math:`\\hat\\beta^{DD} = \\sum s\\,\\hat\\beta^{2x2}`. Units treated before the sample form a group with
    :math:`\\bar D = 1` (only "later vs always treated" comparisons carry weight).
    """
    for name, arr in (("Y", Y), ("weights", weights)):
        if arr is not None and not np.all(np.isfinite(arr)):
            raise DataError(
                f"{name} holds {int((~np.isfinite(arr)).sum())} NaN or infinite value(s); the decomposition needs "
                "a balanced panel of finite values. Drop or fix those units first."
            )
    n, T = Y.shape
    w = np.ones(n) if weights is None else weights / weights.mean()
    first = periods[0]
    cohort = np.where(np.isfinite(cohort) & (cohort <= first), -np.inf, cohort)
    D = (periods[None, :] >= cohort[:, None]).astype(np.float64)
    if np.ptp(D) == 0:
        raise DesignError("treatment does not vary in the panel; there is no TWFE estimate to decompose.")
    # TWFE by two-way demeaning (exact for a balanced panel with unit-constant weights)
    sw = w.sum()
    Dt = D - D.mean(axis=1, keepdims=True) - (w @ D / sw)[None, :] + (w @ D.mean(axis=1)) / sw
    twfe = float((w[:, None] * Dt * Y).sum() / (w[:, None] * Dt * Dt).sum())
    VD = float((w[:, None] * Dt * Dt).sum() / (sw * T))
    groups = np.unique(cohort)
    share = {g: w[cohort == g].sum() / sw for g in groups}
    dbar = {g: float(D[cohort == g][0].mean()) for g in groups}

    def mean(g: float, window: np.ndarray) -> float:
        rows = cohort == g
        return float(w[rows] @ Y[rows][:, window].mean(axis=1) / w[rows].sum())

    rows: list[dict[str, object]] = []
    timing = [g for g in groups if np.isfinite(g)]
    if np.inf in share:
        for k in timing:
            pre, post = periods < k, periods >= k
            nk, nu = share[k], share[np.inf]
            nku = nk / (nk + nu)
            s = (nk + nu) ** 2 * nku * (1 - nku) * dbar[k] * (1 - dbar[k]) / VD
            est = (mean(k, post) - mean(k, pre)) - (mean(np.inf, post) - mean(np.inf, pre))
            rows.append(
                {"type": "treated vs never treated", "treated": k, "control": np.inf, "estimate": est, "weight": s}
            )
    always = -np.inf in share
    earlier = ([-np.inf] if always else []) + timing
    for k in earlier:
        for l_ in timing:
            if l_ <= k:
                continue
            nk, nl = share[k], share[l_]
            nkl = nk / (nk + nl)
            pre, mid, post = periods < k, (periods >= k) & (periods < l_), periods >= l_
            if np.isfinite(k):
                s_k = (
                    ((nk + nl) * (1 - dbar[l_])) ** 2
                    * nkl
                    * (1 - nkl)
                    * (dbar[k] - dbar[l_])
                    / (1 - dbar[l_])
                    * (1 - dbar[k])
                    / (1 - dbar[l_])
                    / VD
                )
                est_k = (mean(k, mid) - mean(k, pre)) - (mean(l_, mid) - mean(l_, pre))
                rows.append(
                    {"type": "earlier vs later treated", "treated": k, "control": l_, "estimate": est_k, "weight": s_k}
                )
            s_l = (
                ((nk + nl) * dbar[k]) ** 2 * nkl * (1 - nkl) * dbar[l_] / dbar[k] * (dbar[k] - dbar[l_]) / dbar[k] / VD
            )
            est_l = (mean(l_, post) - mean(l_, mid)) - (mean(k, post) - mean(k, mid))
            kind = "later vs earlier treated" if np.isfinite(k) else "later vs always treated"
            rows.append({"type": kind, "treated": l_, "control": k, "estimate": est_l, "weight": s_l})
    table = pd.DataFrame(rows, columns=["type", "treated", "control", "estimate", "weight"])
    return BaconDecomposition(_comparisons=table, twfe=twfe)
