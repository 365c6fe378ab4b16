"""Borusyak, Jaravel and Spiess (2024) imputation estimator for staggered adoption (panel data).

Pure numpy: the design hands down a wide outcome matrix (units x periods), each unit's cohort (first treated
period, ``inf`` for never treated), time-varying covariates and unit weights. The untreated observations (never
treated, and not yet treated before ``g - anticipation``) fit :math:`Y_{it} = \\alpha_i + \\lambda_t +
X_{it}'\\beta + \\varepsilon_{it}`; every treated observation's :math:`Y_{it}(0)` is imputed from it and
:math:`\\hat\\tau_{it} = Y_{it} - \\hat Y_{it}(0)`. Every reported effect is a weighted sum of the
:math:`\\hat\\tau_{it}` with weights constant within a cohort x period cell (times the unit weight), so it is a
linear combination of cell sums; its conservative variance (BJS Theorem 3) is returned as a per-unit influence
function that the inference layer (:mod:`evalkit.inference.influence`) sums within clusters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse

from evalkit._validation import check_option
from evalkit.errors import DataError, EstimationError
from evalkit.estimators.callaway_santanna import AggregateKind, Aggregation

__all__ = ["ImputationFit", "PretrendRegression", "imputation_aggregate", "imputation_att", "pretrend_regression"]


@dataclass(frozen=True)
class ImputationFit:
    """Imputed effects of every treated observation, and what their linear combinations need for a variance.

    Attributes
    ----------
    tau : ndarray (n, T)
        :math:`\\hat\\tau_{it} = Y_{it} - \\hat Y_{it}(0)` for imputable treated observations, NaN elsewhere.
    untreated : ndarray of bool (n, T)
        The estimation sample of the untreated model, :math:`\\Omega_0` (:math:`t < g_i - ` anticipation).
    not_imputable : ndarray of bool (n, T)
        Treated observations whose unit has no untreated observation or whose period has no untreated unit
        (their :math:`Y_{it}(0)` is not identified; they enter no estimate).
    groups, times : ndarray (m,)
        Cohort and period of each cell of imputable treated observations (sorted by cohort, then period).
    cell_weight : ndarray (m,)
        Sum of the unit weights of the cell's units.
    cell_sum : ndarray (m,)
        Weighted sum of the cell's :math:`\\hat\\tau_{it}`.
    n_units_cell, n_untreated_period : ndarray (m,)
        Units in the cell; units untreated in the cell's period.
    cohort, periods, unit_weights
        Each unit's cohort (``inf`` = never treated), the sorted periods, unit weights normalized to mean one.
    coef : ndarray (k,)
        Period effects (relative to the first period with untreated units), then covariate coefficients.
    """

    tau: np.ndarray = field(repr=False)
    untreated: np.ndarray = field(repr=False)
    not_imputable: np.ndarray = field(repr=False)
    groups: np.ndarray
    times: np.ndarray
    cell_weight: np.ndarray = field(repr=False)
    cell_sum: np.ndarray = field(repr=False)
    n_units_cell: np.ndarray = field(repr=False)
    n_untreated_period: np.ndarray = field(repr=False)
    cohort: np.ndarray = field(repr=False)
    periods: np.ndarray = field(repr=False)
    unit_weights: np.ndarray = field(repr=False)
    coef: np.ndarray = field(repr=False)
    _treated_resid: sparse.csr_matrix = field(repr=False)  # (n, m): w_i * (tau_it - tau_tilde_gt) at (i, cell)
    _untreated_load: np.ndarray = field(repr=False)  # (n, k): w_i * sum_s e_is z_is @ A^{-1}
    _cell_z: np.ndarray = field(repr=False)  # (m, k): sum over the cell of w_i (z_it - zbar_i)

    @property
    def n_units(self) -> int:
        """Number of units."""
        return int(self.cohort.size)

    def linear(self, cell_weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Estimates :math:`\\sum_{it} w_i c_j(g_i,t)\\,\\hat\\tau_{it}` and their influence functions.

        Parameters
        ----------
        cell_weights : ndarray (m, J)
            :math:`c_j` of each cell and estimate; the weight of observation :math:`(i,t)` is :math:`w_i c_j`.

        Returns
        -------
        estimates : ndarray (J,)
        influence : ndarray (n, J)
            :math:`n\\,\\psi_{ij}` with :math:`\\psi_{ij} = \\sum_t v_{j,it}\\tilde\\varepsilon_{it}` (BJS Theorem 3),
            so that :func:`evalkit.inference.influence.analytic_se` (which divides by n) returns
            :math:`\\sqrt{\\sum_c (\\sum_{i\\in c}\\psi_{ij})^2}`.

        Notes
        -----
        The weights of the estimator on the untreated outcomes are
        :math:`v_{j,is} = -(W_{ji}/|S_i| + w_i\\,\\tilde z_{is}'A^{-1}c_j)`, with :math:`W_{ji}` unit i's total
        treated weight, :math:`S_i` its untreated periods, :math:`\\tilde z` the period dummies and covariates
        demeaned within unit on :math:`\\Omega_0`, :math:`A = \\sum w_i\\tilde z\\tilde z'` and :math:`c_j =
        \\sum_{treated} w_i c_j(g_i,t)(z_{it} - \\bar z_i)` (Frisch-Waugh-Lovell; never an N x N matrix). The
        first term drops out of :math:`\\psi` because the untreated residuals sum to zero within each unit.
        """
        C = np.asarray(cell_weights, dtype=np.float64)
        est = self.cell_sum @ C
        psi = np.asarray(self._treated_resid @ C) - self._untreated_load @ (self._cell_z.T @ C)
        return est, psi * self.n_units


def imputation_att(
    Y: np.ndarray,
    cohort: np.ndarray,
    periods: np.ndarray,
    *,
    covariates: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    anticipation: int = 0,
    covariate_names: Sequence[str] | None = None,
) -> ImputationFit:
    """Impute :math:`Y_{it}(0)` for every treated observation of a balanced panel (BJS 2024, Theorem 2).

    Parameters
    ----------
    Y : ndarray (n, T)
        Outcome of each unit (row) in each period (column, sorted as ``periods``); finite.
    cohort : ndarray (n,)
        First treated period of each unit, ``inf`` for never treated.
    periods : ndarray (T,)
        Sorted periods.
    covariates : ndarray (n, T, p), optional
        Time-varying covariates, entering the untreated model linearly.
    weights : ndarray (n,), optional
        Unit weights: the untreated model is weighted least squares and every estimate weights the
        observations by them.
    anticipation : int
        Observations from ``g - anticipation`` on are treated (excluded from the untreated model).
    covariate_names : sequence of str, optional
        Names of the covariates, for error messages.

    Returns
    -------
    ImputationFit

    Raises
    ------
    EstimationError
        If the untreated model is not identified (collinear covariates, or period and unit effects that the
        untreated observations do not pin down).

    Notes
    -----
    Borusyak, Jaravel and Spiess (2024), "Revisiting Event-Study Designs: Robust and Efficient Estimation",
    Review of Economic Studies 91(6):3253-3285, Sec. 4 and Theorem 3. Treated observations whose unit or period
    has no untreated observation are not imputable and are left out (``not_imputable``), as the paper does.
    The auxiliary effects of the conservative variance are :math:`\\tilde\\tau_{gt} = \\sum w_i^2\\hat\\tau_{it} /
    \\sum w_i^2` over the cohort x period cell (eq. 8 with one observation per unit and cell); the leave-one-out
    refinement (Supplementary Appendix A.9) is not applied.
    """
    Y = np.asarray(Y, dtype=np.float64)
    n, T = Y.shape
    for name, arr in (("Y", Y), ("covariates", covariates), ("weights", weights)):
        if arr is not None and not np.all(np.isfinite(arr)):
            raise DataError(
                f"{name} holds {int((~np.isfinite(arr)).sum())} NaN or infinite value(s); imputation_att needs a "
                "balanced panel of finite values. Drop or fix those units first (StaggeredDiD does this for you)."
            )
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64) / np.mean(weights)
    treated = periods[None, :] >= cohort[:, None] - anticipation
    untreated = ~treated
    unit_ok = untreated.any(axis=1)
    period_ok = untreated.any(axis=0)
    imputable = treated & unit_ok[:, None] & period_ok[None, :]
    if not imputable.any():
        raise EstimationError(
            "no treated observation has an untreated observation of its unit and period to impute from."
        )

    # regressors z_it: dummies of the periods with untreated units (the first left out), then covariates
    dummy_periods = np.flatnonzero(period_ok)[1:]
    Z = np.zeros((n, T, dummy_periods.size))
    Z[:, dummy_periods, np.arange(dummy_periods.size)] = 1.0
    names = [f"period {periods[t]:g}" for t in dummy_periods]
    if covariates is not None:
        Z = np.concatenate([Z, np.asarray(covariates, dtype=np.float64)], axis=2)
        p = covariates.shape[2]
        names += [str(c) for c in covariate_names] if covariate_names is not None else [f"x{j}" for j in range(p)]
    k = Z.shape[2]
    n_s = untreated.sum(axis=1)
    safe = np.maximum(n_s, 1)
    ybar = np.where(untreated, Y, 0.0).sum(axis=1) / safe
    zbar = (Z * untreated[:, :, None]).sum(axis=1) / safe[:, None]
    rows_i, rows_t = np.nonzero(untreated)
    Zt = Z[rows_i, rows_t] - zbar[rows_i]
    yt = Y[rows_i, rows_t] - ybar[rows_i]
    sw = np.sqrt(w[rows_i])
    if k:
        U, s, Vt = np.linalg.svd(Zt * sw[:, None], full_matrices=False)
        if s[-1] <= s[0] * max(Zt.shape) * np.finfo(np.float64).eps * 1e3:
            covs = ", covariates " + ", ".join(names[dummy_periods.size :]) if covariates is not None else ""
            raise EstimationError(
                f"the untreated model (unit and period effects{covs}) is not identified on the untreated "
                "observations: a covariate is constant within units or collinear with the period effects, or the "
                "untreated observations do not connect units and periods. Drop the offending covariates."
            )
        coef = Vt.T @ ((U.T @ (yt * sw)) / s)
        a_inv = (Vt.T / s**2) @ Vt
    else:
        coef, a_inv = np.zeros(0), np.zeros((0, 0))
    yhat0 = ybar[:, None] + (Z - zbar[:, None, :]) @ coef
    resid = Y - yhat0
    tau = np.where(imputable, resid, np.nan)

    # cells of imputable treated observations
    gi = np.broadcast_to(cohort[:, None], (n, T))[imputable]
    ti = np.broadcast_to(np.arange(T)[None, :], (n, T))[imputable]
    keys, cell_of = np.unique(np.column_stack([gi, ti]), axis=0, return_inverse=True)
    cell_of = cell_of.ravel()
    m = keys.shape[0]
    ui = np.nonzero(imputable)[0]
    tau_obs = tau[imputable]
    wi = w[ui]
    cell_weight = np.bincount(cell_of, weights=wi, minlength=m)
    cell_sum = np.bincount(cell_of, weights=wi * tau_obs, minlength=m)
    tau_tilde = np.bincount(cell_of, weights=wi**2 * tau_obs, minlength=m) / np.bincount(
        cell_of, weights=wi**2, minlength=m
    )
    treated_resid = sparse.csr_matrix((wi * (tau_obs - tau_tilde[cell_of]), (ui, cell_of)), shape=(n, m))
    cell_z = np.zeros((m, k))
    np.add.at(cell_z, cell_of, wi[:, None] * (Z[imputable] - zbar[ui]))
    e0 = np.where(untreated, resid, 0.0)
    untreated_load = (w[:, None] * np.einsum("it,itk->ik", e0, Z)) @ a_inv
    return ImputationFit(
        tau=tau,
        untreated=untreated,
        not_imputable=treated & ~imputable,
        groups=keys[:, 0].astype(np.float64),
        times=periods[keys[:, 1].astype(np.intp)].astype(np.float64),
        cell_weight=cell_weight,
        cell_sum=cell_sum,
        n_units_cell=np.bincount(cell_of, minlength=m),
        n_untreated_period=untreated.sum(axis=0)[keys[:, 1].astype(np.intp)],
        cohort=cohort,
        periods=periods,
        unit_weights=w,
        coef=coef,
        _treated_resid=treated_resid,
        _untreated_load=untreated_load,
        _cell_z=cell_z,
    )


def imputation_aggregate(fit: ImputationFit, kind: AggregateKind | None) -> Aggregation:
    """Cohort x period effects (``kind=None``) or one of the four aggregations of the imputed effects.

    Notes
    -----
    Every term weights the treated observations it averages by their unit weights (equally without weights), as
    BJS's :math:`w_{it}`; the kinds and overall summaries are those of
    :func:`evalkit.estimators.callaway_santanna.aggregate`, on effects from ``g`` on (anticipation periods
    only enter the event times below zero): simple, the mean over all treated observations; group
    :math:`\\theta(g)`, the mean over cohort g, overall :math:`\\sum_g\\theta(g)P(G=g)`; dynamic
    :math:`\\theta(e)`, the mean over observations e periods after adoption, overall the mean of
    :math:`\\theta(e)` over :math:`e \\ge 0`; calendar :math:`\\theta(t)`, the mean over period t, overall their
    mean. The cohort shares are taken as fixed (BJS condition on treatment timing), so unlike Callaway and
    Sant'Anna no influence of estimated weights is added. ``overall`` of ``kind=None`` is NaN.
    """
    if kind is not None:
        check_option("aggregate", kind, AggregateKind)
    m = fit.groups.size
    post = fit.times >= fit.groups
    cw = fit.cell_weight

    def share(masks: list[np.ndarray]) -> np.ndarray:
        C = np.zeros((m, len(masks)))
        for j, mask in enumerate(masks):
            C[mask, j] = 1.0 / cw[mask].sum()
        return C

    if kind is None:
        est, infl = fit.linear(np.diag(1.0 / cw))
        return Aggregation("att_gt", np.zeros(0), est, infl)
    if kind == "simple":
        est, infl = fit.linear(share([post]))
        return Aggregation(kind, np.zeros(0), est, infl, float(est[0]), infl[:, 0])
    if kind == "group":
        keys = np.unique(fit.groups[post])
        C = share([post & (fit.groups == g) for g in keys])
        pg = np.array([fit.unit_weights[fit.cohort == g].sum() for g in keys])
        summary = pg / pg.sum()
    elif kind == "dynamic":
        event = fit.times - fit.groups
        keys = np.unique(event)
        C = share([event == e for e in keys])
        summary = (keys >= 0) / np.sum(keys >= 0)
    else:
        keys = np.unique(fit.times[post])
        C = share([post & (fit.times == t) for t in keys])
        summary = np.full(keys.size, 1.0 / keys.size)
    est, infl = fit.linear(np.column_stack([C, C @ summary]))
    return Aggregation(kind, keys, est[:-1], infl[:, :-1], float(est[-1]), infl[:, -1])


@dataclass(frozen=True)
class PretrendRegression:
    """The untreated model with leads of treatment (BJS 2024, Sec. 4.5, Test 1), within-unit transformed.

    Attributes
    ----------
    y, X : ndarray
        Outcome and regressors of the untreated observations after subtracting unit means; the first
        ``len(leads)`` columns of ``X`` are the lead indicators, then period dummies and covariates.
    unit : ndarray (N0,)
        Unit index of each untreated observation.
    leads : ndarray (q,)
        Event times :math:`t - g` of the leads (the last pre-period ``-1 - anticipation`` is the reference).
    names : tuple of str
        Column names of ``X``.
    weights : ndarray (N0,) or None
    """

    y: np.ndarray = field(repr=False)
    X: np.ndarray = field(repr=False)
    unit: np.ndarray = field(repr=False)
    leads: np.ndarray
    names: tuple[str, ...]
    weights: np.ndarray | None = field(repr=False)


def pretrend_regression(
    Y: np.ndarray,
    cohort: np.ndarray,
    periods: np.ndarray,
    *,
    covariates: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    anticipation: int = 0,
    covariate_names: Sequence[str] | None = None,
) -> PretrendRegression:
    """The regression of BJS's pre-trend test on the untreated observations.

    Notes
    -----
    :math:`Y_{it} = \\alpha_i + \\lambda_t + X_{it}'\\delta + \\sum_{h} \\gamma_h 1\\{t - g_i = h\\} + u_{it}` on
    :math:`\\Omega_0`, one lead for every pre-treatment event time :math:`h < -1 -` anticipation (the last one is
    the reference, as ``diff_diff.ImputationDiD.pretrend_test``); unit effects are absorbed by subtracting unit
    means on :math:`\\Omega_0` (exact, Frisch-Waugh-Lovell). Test 1 of Borusyak, Jaravel and Spiess (2024),
    Sec. 4.5: the Wald test of :math:`\\gamma = 0` with cluster-robust variance; the test is separate from
    the imputation, whose estimates do not use the leads.
    """
    n = Y.shape[0]
    untreated = ~(periods[None, :] >= cohort[:, None] - anticipation)
    event = periods[None, :] - cohort[:, None]  # -inf for never treated
    rows_i, rows_t = np.nonzero(untreated)
    ev0 = event[rows_i, rows_t]
    leads = np.unique(ev0[np.isfinite(ev0) & (ev0 < -1 - anticipation)])
    dummy_periods = np.unique(rows_t)[1:]
    cols = [(ev0[:, None] == leads[None, :]).astype(np.float64)]
    cols.append((rows_t[:, None] == dummy_periods[None, :]).astype(np.float64))
    names = [f"lead {h:g}" for h in leads] + [f"period {periods[t]:g}" for t in dummy_periods]
    if covariates is not None:
        cols.append(np.asarray(covariates, dtype=np.float64)[rows_i, rows_t])
        p = covariates.shape[2]
        names += [str(c) for c in covariate_names] if covariate_names is not None else [f"x{j}" for j in range(p)]
    X = np.column_stack([*cols, Y[rows_i, rows_t]])
    counts = np.bincount(rows_i, minlength=n)[rows_i]
    means = np.zeros((n, X.shape[1]))
    np.add.at(means, rows_i, X)
    X = X - means[rows_i] / counts[:, None]
    return PretrendRegression(
        y=X[:, -1],
        X=X[:, :-1],
        unit=rows_i,
        leads=leads,
        names=tuple(names),
        weights=None if weights is None else np.asarray(weights, dtype=np.float64)[rows_i],
    )
