"""Sun and Abraham (2021) interaction-weighted event study, and the static TWFE regression, for staggered adoption.

Both are least-squares fits with unit and period fixed effects. Unit effects are absorbed by within-unit
demeaning (exact for unbalanced panels too, by Frisch-Waugh-Lovell); period effects enter as dummies. Each fit
hands the inference layer its within-transformed regression (:class:`~evalkit.estimators.LinearFit`), the cluster
codes and the number of absorbed unit effects; the design computes CR1 standard errors with the one covariance
kernel (:func:`evalkit.inference.sandwich.sandwich`), counting the unit effects as nested in the clusters, as
``fixest``/``pyfixest`` do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from evalkit.errors import DataError, DesignError, EstimationError
from evalkit.estimators._linear import LinearFit, fit_least_squares

__all__ = ["StaticTWFEFit", "SunAbrahamFit", "sun_abraham", "twfe_static"]


def _demean_by(values: np.ndarray, groups: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """Subtract each group's (weighted) mean from the rows of ``values`` (n, k)."""
    n_g = int(groups.max()) + 1
    w = np.ones(values.shape[0]) if weights is None else weights
    sums = np.zeros((n_g, values.shape[1]))
    np.add.at(sums, groups, values * w[:, None])
    tot = np.bincount(groups, weights=w, minlength=n_g)
    return values - (sums / tot[:, None])[groups]


def _require_finite(y: np.ndarray, weights: np.ndarray | None = None) -> None:
    """Refuse NaN or infinite outcomes (and weights): one would turn every coefficient into NaN."""
    for name, arr in (("y", y), ("weights", weights)):
        if arr is not None and not np.all(np.isfinite(arr)):
            raise DataError(
                f"{name} holds {int((~np.isfinite(arr)).sum())} NaN or infinite value(s); drop or fix those "
                "observations first (StaggeredDiD refuses infinite values and drops units with missing ones)."
            )


@dataclass(frozen=True)
class StaticTWFEFit:
    """Static two-way fixed effects estimate of the effect of adoption.

    Attributes
    ----------
    regression : LinearFit
        The within-transformed regression (target: the adoption indicator, column 0).
    clusters : ndarray (N,)
        Cluster code of each observation, ``0..G-1``.
    n_units : int
        Number of absorbed unit effects.
    """

    regression: LinearFit = field(repr=False)
    clusters: np.ndarray = field(repr=False)
    n_units: int

    @property
    def estimate(self) -> float:
        """The coefficient of the adoption indicator."""
        return self.regression.estimate

    @property
    def n_obs(self) -> int:
        """Number of observations."""
        return self.regression.n_obs


def twfe_static(
    y: np.ndarray,
    unit: np.ndarray,
    tcode: np.ndarray,
    cohort: np.ndarray,
    periods: np.ndarray,
    clusters: np.ndarray,
    *,
    weights: np.ndarray | None = None,
) -> StaticTWFEFit:
    """Regress the outcome on :math:`D_{it} = 1\\{t \\ge G_i\\}` with unit and period fixed effects.

    Parameters
    ----------
    y, unit, tcode, cohort, clusters : ndarray (N,)
        Long arrays: outcome, unit code, period code (index into ``periods``), cohort (``inf`` = never) and cluster
        code of each observation.
    periods : ndarray (T,)
        Sorted periods.
    weights : ndarray (N,), optional
        Analytic weights.

    Notes
    -----
    :math:`y_{it} = \\alpha_i + \\lambda_t + \\beta D_{it} + \\varepsilon_{it}`; :math:`\\hat\\beta` is the
    variance-weighted average of all 2x2 comparisons (Goodman-Bacon 2021, J. Econometrics 225(2):254-277).
    """
    _require_finite(y, weights)
    D = (periods[tcode] >= cohort).astype(np.float64)
    if np.ptp(D) == 0:
        raise DesignError("the adoption indicator is constant in the sample; nothing to estimate.")
    T = periods.size
    time_dummies = (tcode[:, None] == np.arange(1, T)[None, :]).astype(np.float64)
    Z = _demean_by(np.column_stack([D, time_dummies, y]), unit, weights)
    X, yd = Z[:, :-1], Z[:, -1]
    names = ("treated", *(f"time[{periods[t]}]" for t in range(1, T)))
    regression = fit_least_squares(yd, X, names, 0, weights=weights)
    return StaticTWFEFit(
        regression=regression,
        clusters=np.unique(clusters, return_inverse=True)[1].astype(np.intp),
        n_units=int(np.unique(unit).size),
    )


@dataclass(frozen=True)
class SunAbrahamFit:
    """Interaction-weighted event-study estimates.

    Attributes
    ----------
    event_times : ndarray (q,)
        Relative periods (the reference period -1 excluded).
    estimates : ndarray (q,)
    aggregation : ndarray (q, k)
        The event-time estimates as linear combinations of the regression's coefficients,
        ``estimates = aggregation @ regression.coef``, so their covariance is ``aggregation V aggregation'``.
    regression : LinearFit
        The within-transformed regression on the cohort x relative-period interactions and period dummies.
    clusters : ndarray (N,)
        Cluster code of each observation of the regression, ``0..G-1``.
    n_units : int
        Number of absorbed unit effects.
    weights : ndarray (q, c)
        Cohort shares used for each event time (rows sum to one), columns as ``cohorts``.
    cohorts : ndarray (c,)
    cell_coef : ndarray
        The cohort x relative-period interaction coefficients, in the order of ``cells``.
    cells : ndarray (m, 2)
        (cohort, relative period) of each interaction.
    """

    event_times: np.ndarray
    estimates: np.ndarray
    aggregation: np.ndarray = field(repr=False)
    regression: LinearFit = field(repr=False)
    clusters: np.ndarray = field(repr=False)
    n_units: int
    weights: np.ndarray = field(repr=False)
    cohorts: np.ndarray = field(repr=False)
    cell_coef: np.ndarray = field(repr=False)
    cells: np.ndarray = field(repr=False)
    n_obs: int = 0
    n_treated: int = 0
    n_control: int = 0
    control_label: str = ""


def sun_abraham(
    y: np.ndarray,
    unit: np.ndarray,
    tcode: np.ndarray,
    cohort: np.ndarray,
    periods: np.ndarray,
    clusters: np.ndarray,
    *,
    control: Literal["never_treated", "not_yet_treated"] = "never_treated",
) -> SunAbrahamFit:
    """Sun and Abraham's interaction-weighted (IW) estimator of dynamic effects.

    Parameters
    ----------
    y, unit, tcode, cohort, clusters : ndarray (N,)
        Long arrays as in :func:`twfe_static`.
    periods : ndarray (T,)
        Sorted periods.
    control : {"never_treated", "not_yet_treated"}
        Comparison cohort: the never treated, or the last-treated cohort (with the never treated, if any), in which
        case the periods from the last cohort's adoption on are dropped.

    Notes
    -----
    Step 1 fits :math:`y_{it} = \\alpha_i + \\lambda_t + \\sum_{g \\notin C}\\sum_{e \\ne -1} \\delta_{g,e}
    1\\{G_i = g\\}1\\{t - g = e\\} + \\varepsilon_{it}`; step 2 averages
    :math:`\\hat\\nu_e = \\sum_g \\hat\\delta_{g,e}\\,\\widehat{Pr}(G = g \\mid G \\in \\mathcal G_e)`, the shares of
    cohorts observed at relative period e (Sun and Abraham 2021, J. Econometrics 225(2):175-199, Sec. 4). The
    variance treats the shares as fixed: :math:`V(\\hat\\nu) = W V(\\hat\\delta) W'` with CR1
    :math:`V(\\hat\\delta)`, as ``fixest::sunab``'s aggregation.
    """
    _require_finite(y)
    keep = np.ones(y.size, dtype=bool)
    cohort = cohort.copy()
    if control == "never_treated":
        if np.isfinite(cohort).all():
            raise DesignError(
                "no never-treated units to serve as the comparison cohort; use control='not_yet_treated' (the "
                "last-treated cohort becomes the comparison)."
            )
        label = "never treated"
    else:
        g_last = cohort[np.isfinite(cohort)].max()
        keep = periods[tcode] < g_last
        cohort[cohort == g_last] = np.inf
        label = f"last treated (cohort {g_last:g}; periods from {g_last:g} on dropped)"
    y, unit, tcode, cohort, clusters = y[keep], unit[keep], tcode[keep], cohort[keep], clusters[keep]
    unit = np.unique(unit, return_inverse=True)[1]
    clusters = np.unique(clusters, return_inverse=True)[1]
    treated = np.isfinite(cohort)
    rel = np.where(treated, periods[tcode] - np.where(treated, cohort, 0), np.nan)
    cell_keys = np.unique(np.column_stack([cohort[treated], rel[treated]]), axis=0)
    cell_keys = cell_keys[cell_keys[:, 1] != -1]
    if cell_keys.shape[0] == 0:
        raise EstimationError("no cohort has a relative period other than -1 in the sample; nothing to estimate.")
    m = cell_keys.shape[0]
    inter = np.zeros((y.size, m))
    idx = np.flatnonzero(treated)
    # position of each treated observation's (cohort, rel) in cell_keys, or -1 for the reference period
    lookup = {(g, e): j for j, (g, e) in enumerate(cell_keys.tolist())}
    pos = np.array([lookup.get((g, e), -1) for g, e in zip(cohort[idx].tolist(), rel[idx].tolist(), strict=True)])
    has = pos >= 0
    inter[idx[has], pos[has]] = 1.0
    T_used = np.unique(tcode)
    time_dummies = (tcode[:, None] == T_used[1:][None, :]).astype(np.float64)
    Z = _demean_by(np.column_stack([inter, time_dummies, y]), unit, None)
    X, yd = Z[:, :-1], Z[:, -1]
    names = (*(f"cohort[{g:g}]:event[{e:g}]" for g, e in cell_keys.tolist()), *(f"time[{t}]" for t in T_used[1:]))
    regression = fit_least_squares(yd, X, names, 0)
    delta = regression.coef[:m]
    counts = inter.sum(axis=0)  # observations in each cohort x relative period cell
    events = np.unique(cell_keys[:, 1])
    W = np.zeros((events.size, m))
    for i, e in enumerate(events):
        sel = cell_keys[:, 1] == e
        W[i, sel] = counts[sel] / counts[sel].sum()
    cohorts = np.unique(cell_keys[:, 0])
    shares = np.zeros((events.size, cohorts.size))
    for j, g in enumerate(cohorts):
        shares[:, j] = W[:, cell_keys[:, 0] == g].sum(axis=1)
    return SunAbrahamFit(
        event_times=events,
        estimates=W @ delta,
        aggregation=np.column_stack([W, np.zeros((events.size, X.shape[1] - m))]),
        regression=regression,
        clusters=clusters.astype(np.intp),
        n_units=int(np.unique(unit).size),
        weights=shares,
        cohorts=cohorts,
        cell_coef=delta,
        cells=cell_keys,
        n_obs=int(y.size),
        n_treated=int(np.unique(unit[treated]).size),
        n_control=int(np.unique(unit[~treated]).size),
        control_label=label,
    )
