"""Staggered adoption: units adopt treatment at different periods (cohorts) and stay treated.

``StaggeredDiD`` holds a long panel (one row per unit and period) and the column giving each unit's first treated
period (its cohort; 0 for never treated). ``estimate()`` offers Callaway and Sant'Anna (2021) group-time effects
and their aggregations, the imputation estimator of Borusyak, Jaravel and Spiess (2024) with the same aggregations,
Sun and Abraham (2021) interaction-weighted event studies, and the static two-way fixed effects regression;
``bacon()`` decomposes the latter (Goodman-Bacon 2021).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from evalkit._boundary import as_pandas, known_keywords
from evalkit._validation import as_list, check_option, require_columns, to_float_array
from evalkit.designs._loop import assemble_results, tidy_table
from evalkit.designs._roles import check_column_names, check_period_order, no_missing, require_hashable
from evalkit.errors import DataError, DesignError, EstimationError, InferenceError, OptionError
from evalkit.estimators import LinearFit, fit_least_squares
from evalkit.estimators.bacon import BaconDecomposition, bacon_decomposition
from evalkit.estimators.callaway_santanna import (
    AggregateKind,
    Aggregation,
    BaseKind,
    ControlKind,
    DidMethod,
    GroupTimeFit,
    aggregate,
    aggregations,
    group_time_att,
    group_time_att_rcs,
)
from evalkit.estimators.imputation import imputation_aggregate, imputation_att, pretrend_regression
from evalkit.estimators.sun_abraham import sun_abraham, twfe_static
from evalkit.inference.analytic import Sandwich, degenerate_se, resolve_inference, t_tests
from evalkit.inference.influence import (
    AnalyticInfluence,
    InfluenceInference,
    MultiplierBootstrap,
    PreTest,
    analytic_se,
    pretest,
    resolve_influence_inference,
)
from evalkit.inference.sandwich import CovarianceEstimate, SmallSampleCorrection, bell_mccaffrey_df, sandwich
from evalkit.provenance import records_provenance
from evalkit.results import Results, empty_dropped

__all__ = ["StaggeredDiD", "StaggeredEstimator"]

StaggeredEstimator = Literal["callaway_santanna", "sun_abraham", "twfe", "imputation"]
_AGGREGATES = (None, "simple", "group", "dynamic", "calendar", "all")
#: The blocks of an ``aggregate="all"`` table, named as its ``type`` column (less " overall"); a list selects some.
_BLOCKS = ("att_gt", "simple", "group", "dynamic", "calendar")
_CLUSTER_SANDWICHES = ("CR0", "CR1", "CR2")


@dataclass(frozen=True)
class _Panel:
    """The balanced unit x period panel of one outcome, after the design's checks and drops."""

    Y: np.ndarray  # (n, T)
    X: np.ndarray | None  # (n, T, p)
    cohort: np.ndarray  # (n,), inf = never treated
    periods: np.ndarray  # (T,)
    unit_labels: np.ndarray  # (n,)
    clusters: np.ndarray | None  # (n,) codes 0..G-1
    weights: np.ndarray | None  # (n,)
    notes: tuple[str, ...]
    dropped: list[dict[str, object]]
    #: Repeated cross-sections (and unbalanced panels estimated as such): Y is (N,) -- one value per observation --,
    #: X (N, p), cohort, clusters and weights are per observation and this is each one's index into ``periods``.
    time_codes: np.ndarray | None = None
    #: Unbalanced panel estimated as repeated cross-sections: each observation's unit (codes 0..n_units-1).
    obs_units: np.ndarray | None = None
    #: No never-treated units: the last-treated cohort, recoded to inf in ``cohort``, is the not-yet-treated
    #: comparison group (its periods from adoption on were dropped); None when never-treated units exist.
    comparison_cohort: float | None = None


class StaggeredDiD:
    """A panel in which units adopt treatment at different periods and stay treated (staggered adoption).

    Parameters
    ----------
    data : DataFrame
        One row per unit and period (long format). Copied; the caller's frame is never changed.
        Column names must be unique (duplicates raise a DataError naming them); a name may be text or any other
        hashable label, e.g. an integer, shown with ``str()`` in results and tables.
        A polars (or pyarrow, or any) frame with ``to_pandas()``, the Arrow stream or the dataframe interchange
        protocol is converted.
    unit : str or None
        Unit identifier. None: the rows are repeated cross-sections (each observation seen once, e.g. survey rounds
        with new respondents); cohort, clusters and weights are then per row, and only
        ``estimator="callaway_santanna"`` applies: without covariates each ATT(g,t) is the difference in
        differences of the four weighted cell means (as R ``did`` with ``panel=FALSE``); with covariates the
        ``"dr"``, ``"reg"`` and ``"ipw"`` estimators for repeated cross-sections of Sant'Anna and Zhao (2020).
    time : str
        Period (numeric and finite; consecutive periods are consecutive values of the sorted unique periods). Text
        periods ('1'..'12', 'Q12011') sort lexically, not in time order, and raise a DataError: convert them to a
        numeric code in time order.
    cohort : str
        First period in which the unit is treated; 0 for never-treated units. Must be constant within a unit and,
        when it falls inside the observed range of ``time``, be one of the observed periods (a cohort of 2003.5 in
        a yearly panel raises a DataError). The three columns must be different.
    clusters : str, optional
        A coarser cluster (e.g. state) for standard errors; constant within a unit. Default: the unit.
    weights : str, optional
        Unit sampling weights (constant within a unit).

    Notes
    -----
    As R's ``did`` (``panel=TRUE``): cohorts later than the last period count as never treated; units treated in
    or before the first period (``g - anticipation <= min(time)``) have no pre-treatment period and are dropped;
    units not observed (or with a missing outcome or covariate) in every period are dropped so that the panel is
    balanced. Every drop is reported in ``Results.notes`` and ``Results.dropped``. Infinite values of the
    outcome, the covariates, the weights or the time column are refused with a DataError naming the unit and
    period (replace them by NaN to have the unit dropped instead). If a group-time effect cannot be estimated
    (NaN), every aggregate that would use it is NaN as well (with a note) rather than an average of the remaining
    cells.

    Degenerate designs give a named error or an answer with a note, never a crash: Sun and Abraham and TWFE refuse
    a panel with one cluster (InferenceError), Callaway and Sant'Anna and the imputation estimator report its
    standard errors NaN with the degenerate-SE note; a standard error zero up to rounding (a constant outcome,
    effects resting on single-unit cohorts with a single comparison unit) is NaN with that note; cohorts with fewer
    than 5 units plus one per covariate (R did's threshold) are named in a note; a propensity score whose
    covariates separate a cohort from its comparison group (no maximum-likelihood estimate) raises an
    EstimationError naming the cell ATT(g,t), the covariates and the fix (fewer covariates, ``method="reg"``,
    coarser cohorts) -- there is no silent fallback to another method.

    Examples
    --------
    >>> stag = StaggeredDiD(mpdta, unit="countyreal", time="year", cohort="first.treat")  # doctest: +SKIP
    >>> stag.estimate("lemp", aggregate="group")  # doctest: +SKIP
    """

    @known_keywords
    def __init__(
        self,
        data: pd.DataFrame,
        unit: str | None,
        time: str,
        cohort: str,
        *,
        clusters: str | None = None,
        weights: str | None = None,
    ) -> None:
        data = as_pandas(data)
        if len(data) == 0:
            raise DataError("data has no rows.")
        check_column_names(data)
        roles = [*as_list(unit), time, cohort, *as_list(clusters), *as_list(weights)]
        require_columns(data, roles, "column")
        if unit is not None and unit == time:
            raise DesignError(
                f"unit and time are both {unit!r}; a panel needs two different columns, one identifying the unit "
                "and one the period. Pass e.g. unit='county', time='year'."
            )
        for other, role in ((unit, "unit"), (time, "time")):
            if cohort == other:
                raise DesignError(
                    f"cohort and {role} are both {cohort!r}; the cohort (first treated period, 0 = never treated) "
                    f"must be its own column, different from the {role} column."
                )
        for col, role in ((unit, "unit"), (time, "time"), (cohort, "cohort")):
            if col is None:  # repeated cross-sections: no unit column
                continue
            no_missing(data, col, role)
            require_hashable(data, col, role)
        for col, role in ((time, "time"), (cohort, "cohort")):
            check_period_order(data, col, role, numeric_only=True)
        self._data = data.copy(deep=True)
        self.unit, self.time, self.cohort = unit, time, cohort
        self.clusters, self.weights = clusters, weights
        if unit is None:  # repeated cross-sections: every row is its own "unit" (labelled by its position)
            self._unit_codes, self._unit_labels = np.arange(len(self._data)), pd.RangeIndex(len(self._data))
        else:
            self._unit_codes, self._unit_labels = pd.factorize(self._data[unit], sort=True)
        self._t = self._floats([time], "time")[:, 0]
        self._periods = np.unique(self._t)
        self._time_codes = np.searchsorted(self._periods, self._t)
        if unit is not None and _has_duplicate_pairs(self._unit_codes, self._time_codes, self._periods.size):
            dup = self._data.duplicated([unit, time])
            at = int(np.flatnonzero(dup.to_numpy())[0])
            u_val, t_val = _plain(self._data[unit].iloc[at]), _plain(self._data[time].iloc[at])
            raise DataError(
                f"{int(dup.sum())} duplicated ({unit!r}, {time!r}) row(s), e.g. unit {u_val!r} in period "
                f"{t_val!r}; a panel has one row per unit and period. Aggregate or drop the duplicates."
            )
        n_units = len(self._unit_labels)
        g = to_float_array(self._data, [cohort], "cohort")[:, 0]
        self._cohort = self._unit_constant(g, cohort, "cohort", n_units)
        if np.any(self._cohort < 0):
            raise DataError(f"cohort {cohort!r} has negative values; use 0 for never treated.")
        self._check_cohort_periods()
        self._cluster_codes: np.ndarray | None = None
        if clusters is not None:
            no_missing(self._data, clusters, "clusters")
            require_hashable(self._data, clusters, "clusters")
            codes, _ = pd.factorize(self._data[clusters], sort=True)
            unit_cl = self._unit_constant(codes.astype(np.float64), clusters, "clusters", n_units)
            self._cluster_codes = unit_cl.astype(np.intp)
        self._w: np.ndarray | None = None
        if weights is not None:
            no_missing(self._data, weights, "weights")
            w = self._floats([weights], "weights")[:, 0]
            if np.any(w <= 0):
                raise DataError(f"weights {weights!r} must be positive and finite; found min {np.min(w):g}.")
            self._w = self._unit_constant(w, weights, "weights", n_units)

    def _floats(self, columns: Sequence[Hashable], role: str) -> np.ndarray:
        """``to_float_array`` of ``columns``, refusing +-inf first with the unit and period that hold it."""
        for col in columns:
            series = self._data[col]
            if pd.api.types.is_float_dtype(series) or pd.api.types.is_integer_dtype(series):
                self._refuse_infinite(series.to_numpy(dtype=np.float64, na_value=np.nan), col, role)
        return to_float_array(self._data, columns, role)  # type: ignore[arg-type]

    def _refuse_infinite(self, values: np.ndarray, column: Hashable, role: str) -> None:
        """Raise a DataError naming the first unit and period where ``values`` (one per row) is +-inf."""
        bad = np.isinf(values)
        if not bad.any():
            return
        at = int(np.flatnonzero(bad)[0])
        label = _plain(self._unit_labels[self._unit_codes[at]])
        where = f"unit {label!r} of {self.unit!r}"
        if role != "time":
            where += f" in period {_plain(self._data[self.time].iloc[at])!r} of {self.time!r}"
        fix = "Fix them (e.g. a log of zero)"
        if role in ("outcome", "covariate"):
            fix += " or set them to NaN, which drops the unit from the balanced panel with a note"
        raise DataError(
            f"{role} {column!r} is {values[at]:g} for {where} (row index {_plain(self._data.index[at])!r}; "
            f"{int(bad.sum())} infinite value(s) in all); infinite values cannot enter an estimate. {fix}."
        )

    def _check_cohort_periods(self) -> None:
        """Refuse nonzero cohorts inside the observed time range that are not observed periods."""
        g, periods = self._cohort, self._periods
        inside = (g > 0) & (g >= periods[0]) & (g <= periods[-1])
        off = inside & ~np.isin(g, periods)
        if off.any():
            values = np.unique(g[off])
            shown = ", ".join(f"{v:g}" for v in values[:6]) + (", ..." if values.size > 6 else "")
            first_unit = _plain(self._unit_labels[np.flatnonzero(off)[0]])
            observed = ", ".join(f"{p:g}" for p in periods[:8]) + (", ..." if periods.size > 8 else "")
            raise DataError(
                f"cohort {self.cohort!r} has value(s) {shown} (e.g. unit {first_unit!r} of {self.unit!r}) that are "
                f"not periods of {self.time!r} (observed: {observed}); a cohort is the first treated period, i.e. "
                "one of the observed periods, a value after the last period or 0 (never treated). Recode those "
                "units' cohorts to their first treated period."
            )

    def _check_not_role(self, columns: Sequence[Hashable]) -> None:
        """Refuse an outcome or covariate that is one of the design's role columns."""
        roles = {self.unit, self.time, self.cohort, *as_list(self.clusters), *as_list(self.weights)}
        for col in columns:
            if col in roles:
                raise DataError(
                    f"column {col!r} is a role of the design (unit, time, cohort, clusters or weights) and cannot "
                    "be the outcome or a covariate; choose another column (copy it under a new name if you really "
                    "mean to use it)."
                )

    def _unit_constant(self, values: np.ndarray, column: str, role: str, n_units: int) -> np.ndarray:
        first = np.full(n_units, np.nan)
        first[self._unit_codes[::-1]] = values[::-1]
        bad = values != first[self._unit_codes]
        if bad.any():
            label = self._unit_labels[self._unit_codes[np.flatnonzero(bad)[0]]]
            label = label.item() if isinstance(label, np.generic) else label
            raise DesignError(
                f"{role} {column!r} varies within unit {label!r} of {self.unit!r}; it must be constant within a "
                "unit. Fix the column (e.g. take each unit's first value)."
            )
        return first

    def __repr__(self) -> str:
        return (
            f"StaggeredDiD(units={len(self._unit_labels)}, periods={self._periods.size}, unit={self.unit!r}, "
            f"time={self.time!r}, cohort={self.cohort!r}, clusters={self.clusters!r})"
        )

    # ------------------------------------------------------------------ panel assembly
    def _panel(self, outcome: str, covariates: Sequence[str], control: str, anticipation: int) -> _Panel:
        require_columns(self._data, [outcome], "outcome")
        require_columns(self._data, covariates, "covariate")
        self._check_not_role([outcome, *covariates])
        notes: list[str] = []
        dropped: list[dict[str, object]] = []
        n_units, T = len(self._unit_labels), self._periods.size
        y = self._floats([outcome], "outcome")[:, 0]
        Y = np.full((n_units, T), np.nan)
        Y[self._unit_codes, self._time_codes] = y
        X = None
        missing = np.isnan(Y)
        if covariates:
            xs = self._floats(covariates, "covariate")
            X = np.full((n_units, T, len(covariates)), np.nan)
            X[self._unit_codes, self._time_codes, :] = xs
            missing |= np.isnan(X).any(axis=2)
        keep = ~missing.any(axis=1)
        n_unbalanced = int((~keep).sum())
        if n_unbalanced:
            notes.append(
                f"{n_unbalanced} unit(s) not observed with {outcome!r}"
                + (" and covariates" if covariates else "")
                + f" in all {T} periods were dropped to balance the panel (as did with panel=TRUE). Callaway and "
                "Sant'Anna can keep them: estimate(..., allow_unbalanced_panel=True)."
            )
            dropped.append(
                {
                    "outcome": outcome,
                    "column": outcome,
                    "n_missing": int(missing.sum()),
                    "n_dropped": int(np.isin(self._unit_codes, np.flatnonzero(~keep)).sum()),
                    "reason": f"unbalanced panel: {n_unbalanced} unit(s) without all periods",
                }
            )
        cohort = self._cohort.copy()
        periods = self._periods.copy()
        comparison_cohort = None
        late = (cohort > periods[-1]) & (cohort > 0)
        if late.any():
            notes.append(f"{int(late.sum())} unit(s) first treated after the last period count as never treated.")
        cohort[(cohort == 0) | late] = np.inf
        early = np.isfinite(cohort) & (cohort - anticipation <= periods[0])
        if (early & keep).any():
            k = int((early & keep).sum())
            notes.append(
                f"{k} unit(s) treated in or before the first period {periods[0]:g} (cohort - anticipation <= "
                f"{periods[0]:g}) have no pre-treatment period and were dropped (as did)."
            )
            dropped.append(
                {
                    "outcome": outcome,
                    "column": self.cohort,
                    "n_missing": 0,
                    "n_dropped": int(np.isin(self._unit_codes, np.flatnonzero(early & keep)).sum()),
                    "reason": f"{k} unit(s) already treated in the first period",
                }
            )
        keep &= ~early
        if not keep.any():
            raise DataError(f"no unit of {self.unit!r} is left after balancing the panel for {outcome!r}.")
        Y, cohort = Y[keep], cohort[keep]
        X = None if X is None else X[keep]
        if not np.isfinite(cohort).any():
            raise DesignError(f"no unit of {self.unit!r} is ever treated (cohort {self.cohort!r}); nothing to do.")
        if np.isfinite(cohort).all():
            if control == "never_treated":
                raise DesignError(
                    f"no never-treated units (cohort {self.cohort!r} = 0) are left, so control='never_treated' "
                    "has no comparison group; use control='not_yet_treated'."
                )
            g_last = cohort.max()
            _require_two_cohorts(cohort, g_last, self.unit, self.cohort)
            t_keep = periods < g_last - anticipation
            late_rows = int((keep[self._unit_codes] & (self._t >= g_last - anticipation)).sum())
            notes.append(
                f"No never-treated units: the {late_rows} observation(s) of periods from {g_last - anticipation:g} "
                f"on were dropped and cohort {g_last:g} serves as the not-yet-treated comparison (as did)."
            )
            dropped.append(
                {
                    "outcome": outcome,
                    "column": self.time,
                    "n_missing": 0,
                    "n_dropped": late_rows,
                    "reason": f"periods from {g_last - anticipation:g} on (no never-treated comparison)",
                }
            )
            comparison_cohort = float(g_last)
            periods, Y = periods[t_keep], Y[:, t_keep]
            X = None if X is None else X[:, t_keep]
            cohort = np.where(cohort == g_last, np.inf, cohort)
        return _Panel(
            Y=Y,
            X=X,
            cohort=cohort,
            periods=periods,
            unit_labels=np.asarray(self._unit_labels)[keep],
            clusters=None if self._cluster_codes is None else _recode(self._cluster_codes[keep]),
            weights=None if self._w is None else self._w[keep],
            notes=tuple(notes),
            dropped=dropped,
            comparison_cohort=comparison_cohort,
        )

    def _cross_sections(self, outcome: str, covariates: Sequence[str], control: str, anticipation: int) -> _Panel:
        """The observations of one outcome as repeated cross-sections (``unit=None``, or an unbalanced panel with
        ``allow_unbalanced_panel=True``): per-observation arrays, the same cohort rules as :meth:`_panel`, every
        dropped row reported."""
        require_columns(self._data, [outcome], "outcome")
        require_columns(self._data, covariates, "covariate")
        self._check_not_role([outcome, *covariates])
        notes: list[str] = []
        dropped: list[dict[str, object]] = []
        y = self._floats([outcome], "outcome")[:, 0]
        X = self._floats(covariates, "covariate") if covariates else None
        missing = np.isnan(y) if X is None else np.isnan(y) | np.isnan(X).any(axis=1)
        keep = ~missing
        if missing.any():
            k = int(missing.sum())
            notes.append(
                f"{k} observation(s) with a missing {outcome!r}" + (" or covariate" if covariates else "") + " were "
                "dropped (as did)."
            )
            dropped.append(
                {"outcome": outcome, "column": outcome, "n_missing": k, "n_dropped": k, "reason": "missing values"}
            )
        periods = self._periods.copy()
        cohort = self._cohort[self._unit_codes].copy()
        comparison_cohort = None
        late = (cohort > periods[-1]) & (cohort > 0)
        if (late & keep).any():
            notes.append(
                f"{int((late & keep).sum())} observation(s) of cohorts first treated after the last period count as "
                "never treated."
            )
        cohort[(cohort == 0) | late] = np.inf
        early = np.isfinite(cohort) & (cohort - anticipation <= periods[0]) & keep
        if early.any():
            k = int(early.sum())
            notes.append(
                f"{k} observation(s) of cohorts treated in or before the first period {periods[0]:g} (cohort - "
                f"anticipation <= {periods[0]:g}) have no pre-treatment period and were dropped (as did)."
            )
            dropped.append(
                {
                    "outcome": outcome,
                    "column": self.cohort,
                    "n_missing": 0,
                    "n_dropped": k,
                    "reason": f"{k} observation(s) already treated in the first period",
                }
            )
        keep &= ~early
        if not np.isfinite(cohort[keep]).any():
            raise DesignError(f"no observation is ever treated (cohort {self.cohort!r}); nothing to do.")
        if np.isfinite(cohort[keep]).all():
            if control == "never_treated":
                raise DesignError(
                    f"no never-treated observations (cohort {self.cohort!r} = 0) are left, so "
                    "control='never_treated' has no comparison group; use control='not_yet_treated'."
                )
            g_last = cohort[keep].max()
            _require_two_cohorts(cohort[keep], g_last, "observation", self.cohort)
            late_rows = keep & (self._t >= g_last - anticipation)
            notes.append(
                f"No never-treated units: the {int(late_rows.sum())} observation(s) of periods from "
                f"{g_last - anticipation:g} on were dropped and cohort {g_last:g} serves as the not-yet-treated "
                "comparison (as did)."
            )
            dropped.append(
                {
                    "outcome": outcome,
                    "column": self.time,
                    "n_missing": 0,
                    "n_dropped": int(late_rows.sum()),
                    "reason": f"periods from {g_last - anticipation:g} on (no never-treated comparison)",
                }
            )
            keep &= ~late_rows
            periods = periods[periods < g_last - anticipation]
            cohort = np.where(cohort == g_last, np.inf, cohort)
            comparison_cohort = float(g_last)
        rows = np.flatnonzero(keep)
        time_codes = np.searchsorted(periods, self._t[rows])
        obs_units = None if self.unit is None else _recode(self._unit_codes[rows])
        clusters = None if self._cluster_codes is None else _recode(self._cluster_codes[self._unit_codes[rows]])
        return _Panel(
            Y=y[rows],
            X=None if X is None else X[rows],
            cohort=cohort[rows],
            periods=periods,
            unit_labels=np.asarray(self._unit_labels)[np.unique(self._unit_codes[rows])],
            clusters=clusters,
            weights=None if self._w is None else self._w[self._unit_codes[rows]],
            notes=tuple(notes),
            dropped=dropped,
            time_codes=time_codes,
            obs_units=obs_units,
            comparison_cohort=comparison_cohort,
        )

    # ------------------------------------------------------------------ estimation
    @known_keywords
    @records_provenance
    def estimate(
        self,
        outcome: str,
        estimator: StaggeredEstimator = "callaway_santanna",
        *,
        control: ControlKind = "never_treated",
        covariates: str | Sequence[str] | None = None,
        method: DidMethod = "dr",
        aggregate: AggregateKind | Literal["all"] | Sequence[str] | None = None,
        base_period: BaseKind = "varying",
        anticipation: int = 0,
        allow_unbalanced_panel: bool = False,
        balance_e: int | None = None,
        min_e: float = -np.inf,
        max_e: float = np.inf,
        inference: Literal["analytic", "CR0", "CR1", "CR2"]
        | AnalyticInfluence
        | MultiplierBootstrap
        | Sandwich
        | None = None,
        alpha: float = 0.05,
    ) -> Results:
        """Estimate the effects of staggered adoption on one outcome.

        Parameters
        ----------
        outcome : str
            One outcome column (a list raises an OptionError: call ``estimate`` once per outcome). It may not be
            a role column (unit, time, cohort, clusters, weights), nor hold infinite values.
        estimator : {"callaway_santanna", "sun_abraham", "twfe", "imputation"}
            Group-time effects (Callaway and Sant'Anna 2021), the interaction-weighted event study (Sun and
            Abraham 2021), the static two-way fixed effects regression of the outcome on the treated-and-
            adopted indicator, or the imputation estimator (Borusyak, Jaravel and Spiess 2024): unit and period
            effects (and covariates) fitted on every untreated observation -- never-treated units and periods
            before ``cohort - anticipation`` (``control`` and ``method`` do not apply) --, each treated
            observation's untreated outcome imputed, and the imputed effects averaged. Its rows are the
            cohort x period effects ``ATT(g,t)`` from ``g - anticipation`` on (``aggregate=None``) or the same four
            aggregations as Callaway and Sant'Anna, with BJS's conservative standard errors (Theorem 3) and
            their pre-trend test (Test 1) in the ``pretest_*`` columns. With ``aggregate="dynamic"`` (or ``"all"``)
            ``Results.vcov`` is the joint covariance of its event-time effects from the same influence functions
            (diagonal: the squared analytic SEs); ``Results.sensitivity`` and ``pretrend_power`` refuse it, since
            its pre-trend coefficients come from the separate lead regression, normalized at event time -1 rather
            than against each unit's untreated mean, and are not jointly estimated with the effects.
        control : {"never_treated", "not_yet_treated"}
            Comparison units. For Sun and Abraham, "never_treated" uses the never-treated cohort and
            "not_yet_treated" the last-treated cohort (periods in which it is treated are dropped).
        covariates : str or list of str, optional
            Covariates: Callaway and Sant'Anna use them at each cell's base period (repeated cross-sections and
            ``allow_unbalanced_panel=True``: each observation's own values, in the repeated cross-section 2x2);
            the imputation estimator adds them, time-varying, to its untreated model. Other estimators refuse them.
        method : {"dr", "ipw", "reg"}
            Callaway and Sant'Anna 2x2 estimator: doubly robust (default), inverse probability weighting, or
            outcome regression.
        aggregate : {None, "simple", "group", "dynamic", "calendar", "all"} or list of str
            None: every ATT(g,t). Otherwise the aggregated terms and an "overall" row (as ``did::aggte``);
            "all": the ATT(g,t) and every aggregation in one table (column ``type`` tells them apart). A list of
            block names among "att_gt" (the ATT(g,t)), "simple", "group", "dynamic", "calendar" gives those blocks
            of the "all" table, in its order, e.g. ``["att_gt", "simple", "dynamic"]``.
            Sun and Abraham always report event times (None or "dynamic"). The imputation estimator's terms
            weight every treated observation they average equally (by the unit weights, if any); its group overall
            takes the cohort shares as fixed.
        base_period : {"varying", "universal"}
            Base period of pre-treatment cells (Callaway and Sant'Anna).
        anticipation : int
            Periods before adoption in which units may respond (an int >= 0; booleans are refused).
        allow_unbalanced_panel : bool
            Callaway and Sant'Anna only. False (default): units not observed in every period are dropped (with a
            note and a ``Results.dropped`` row) so that the panel is balanced. True: when the panel is unbalanced,
            every observation is kept and the ATT(g,t) are estimated as from repeated cross-sections (difference
            of the four cell means), their influence functions summed within units and the aggregation weights
            taken over units -- R ``did``'s ``allow_unbalanced_panel=TRUE``. On a balanced panel it changes
            nothing (as in ``did``).
        balance_e : int, optional
            Callaway and Sant'Anna, ``aggregate="dynamic"`` (or ``"all"`` or a list with "dynamic", for its dynamic
            block) only: keep the
            cohorts observed for at least ``balance_e`` periods after adoption and the event times up to
            ``balance_e``, so every event time averages the same cohorts (``did::aggte``'s ``balance_e``).
        min_e, max_e : float
            Callaway and Sant'Anna dynamic aggregation only: the event times kept (``did::aggte``'s ``min_e``,
            ``max_e``); the overall row averages the kept event times from 0 on.
        inference : None, "analytic", AnalyticInfluence, MultiplierBootstrap, "CR0", "CR1", "CR2" or Sandwich
            Standard errors clustered by unit or by ``clusters``. None (default): analytic, stated with a note.
            Callaway and Sant'Anna: ``"analytic"`` (short for ``AnalyticInfluence()``, influence-function standard
            errors) or ``MultiplierBootstrap(...)`` (with a simultaneous band); any
            :class:`~evalkit.inference.influence.InfluenceInference`. Imputation: the same influence-function
            methods, applied to the per-unit terms of BJS's conservative variance (``"analytic"`` is their
            Theorem 3 standard error, as R ``didimputation``). Sun and Abraham, TWFE: ``"analytic"`` means
            CR1 with G - 1 df; ``"CR0"``, ``"CR1"``, ``"CR2"`` (Bell-McCaffrey df) or a cluster-robust
            ``Sandwich`` are computed by the covariance kernel with the unit effects nested in the clusters.
        alpha : float
            One minus the confidence level.

        Returns
        -------
        Results
            One row per ATT(g,t) or aggregated term with the usual columns plus ``type``, ``group``, ``time``,
            ``event_time``, ``base_time``, ``crit_uniform``, ``conf_low_uniform``, ``conf_high_uniform`` and the
            parallel-trends pre-test ``pretest_statistic``, ``pretest_df``, ``pretest_p_value`` (repeated on every
            row; NaN where not applicable). Callaway and Sant'Anna: the Wald statistic of the pre-treatment ATT(g,t),
            chi-squared p-value. Imputation: BJS's Test 1, the CR1 Wald statistic W of the leads (event times below
            ``-1 - anticipation``) added to the untreated model, p-value from F(q, G - 1) of W / q (as
            ``diff_diff``).
        """
        check_option("estimator", estimator, StaggeredEstimator)
        check_option("control", control, ControlKind)
        check_option("method", method, DidMethod)
        _aggregate_kinds(aggregate)
        check_option("base_period", base_period, BaseKind)
        outcome = _one_outcome(outcome)
        if isinstance(alpha, bool | np.bool_) or not isinstance(alpha, numbers.Real) or not 0 < alpha < 1:
            raise OptionError(f"alpha={alpha!r} must be a number between 0 and 1 (e.g. 0.05 for 95% intervals).")
        alpha = float(alpha)
        if (
            isinstance(anticipation, bool | np.bool_)
            or not isinstance(anticipation, int | np.integer)
            or anticipation < 0
        ):
            raise OptionError(
                f"anticipation={anticipation!r} must be a non-negative integer number of periods (e.g. 0 or 1)."
            )
        anticipation = int(anticipation)
        spec, note = self._resolve_inference(inference, estimator)
        covs = as_list(covariates)
        window = _dynamic_window(estimator, aggregate, balance_e, min_e, max_e)
        if not isinstance(allow_unbalanced_panel, bool | np.bool_):
            raise OptionError(f"allow_unbalanced_panel={allow_unbalanced_panel!r} must be True or False.")
        if self.unit is None or allow_unbalanced_panel:
            what = "repeated cross-sections (unit=None)" if self.unit is None else "allow_unbalanced_panel=True"
            if estimator != "callaway_santanna":
                raise OptionError(
                    f"estimator={estimator!r} needs a panel of units; {what} is only available with "
                    "estimator='callaway_santanna'."
                )
            panel = self._cross_sections(outcome, covs, control, anticipation)
            balanced = self.unit is not None and _is_balanced(panel)
            if not balanced:
                return self._callaway_santanna(
                    outcome,
                    panel,
                    covs,
                    control,
                    method,
                    aggregate,
                    base_period,
                    anticipation,
                    spec,
                    alpha,
                    note,
                    window=window,
                )
        if estimator == "imputation":  # every untreated observation is a comparison: no never-treated units needed
            panel = self._panel(outcome, covs, "not_yet_treated", anticipation)
            return self._imputation(outcome, panel, covs, aggregate, anticipation, spec, alpha, note)
        panel = self._panel(outcome, covs, control, anticipation)
        if estimator == "callaway_santanna":
            return self._callaway_santanna(
                outcome,
                panel,
                covs,
                control,
                method,
                aggregate,
                base_period,
                anticipation,
                spec,
                alpha,
                note,
                window=window,
            )
        if covs:
            raise OptionError(
                f"covariates are only supported with estimator='callaway_santanna', not {estimator!r}; drop them."
            )
        self._require_two_clusters(panel, estimator, spec)
        if estimator == "sun_abraham":
            if aggregate not in (None, "dynamic"):
                raise OptionError(
                    f"aggregate={aggregate!r} is not available for estimator='sun_abraham', which reports event "
                    "times; use aggregate=None or 'dynamic'."
                )
            return self._sun_abraham(outcome, panel, control, spec, alpha, note)
        if aggregate is not None:
            raise OptionError(f"aggregate={aggregate!r} does not apply to estimator='twfe'; use aggregate=None.")
        return self._twfe(outcome, panel, spec, alpha, note)

    def _resolve_inference(self, inference: object, estimator: str) -> tuple[Any, str | None]:
        """The one place ``inference=`` becomes a method, and where each estimator's default is stated with its note.

        Callaway and Sant'Anna take an :class:`~evalkit.inference.influence.InfluenceInference` (default
        :class:`~evalkit.inference.influence.AnalyticInfluence`); Sun and Abraham and TWFE a cluster-robust
        :class:`~evalkit.inference.analytic.Sandwich` (default CR1). Anything else is refused, naming what is
        accepted.
        """
        if estimator == "callaway_santanna":
            return resolve_influence_inference(inference, self._default_influence_inference)
        if estimator == "imputation":
            try:
                return resolve_influence_inference(inference, self._default_imputation_inference)
            except InferenceError as exc:
                raise OptionError(
                    f"inference={inference!r} is not available with estimator='imputation', whose standard errors "
                    "are the conservative ones of Borusyak, Jaravel and Spiess (2024, Theorem 3), built from "
                    "per-unit influence functions: use 'analytic' (the default, ek.inference.AnalyticInfluence()) "
                    "or ek.inference.MultiplierBootstrap(...)."
                ) from exc
        return _cluster_sandwich(inference, estimator, self._default_sandwich)

    def _require_two_clusters(self, panel: _Panel, estimator: str, spec: Sandwich) -> None:
        """Refuse Sun and Abraham or TWFE when the panel has one cluster, before any fit (as DiffInDiff refuses a
        cluster-robust sandwich with one cluster in an arm): their cluster-robust standard errors, the only
        inference they offer, cannot be estimated, and CR1's G/(G-1) is undefined."""
        if panel.clusters is None or np.unique(panel.clusters).size >= 2:
            return
        raise InferenceError(
            f"estimator={estimator!r} with inference={spec.cov_type!r} needs at least 2 clusters of "
            f"{self.clusters!r}; the panel has 1, so there is no between-cluster variation to estimate a "
            "cluster-robust standard error from. Drop clusters= to cluster by unit, declare finer clusters, or use "
            "estimator='callaway_santanna' (whose standard errors are then reported NaN with a note)."
        )

    def _clustered_by(self) -> str:
        return f"clusters of {self.clusters!r}" if self.clusters else f"unit ({self.unit!r})"

    def _default_influence_inference(self) -> tuple[InfluenceInference, str]:
        """The design's default for Callaway and Sant'Anna, stated once: analytic influence-function SEs."""
        return AnalyticInfluence(), (
            "Inference defaulted to analytic influence-function standard errors (normal, no simultaneous band), "
            f"clustered by {self._clustered_by()}, as did::att_gt(bstrap = FALSE). did's own default is the "
            "multiplier bootstrap with a simultaneous band: pass inference=ek.inference.MultiplierBootstrap(seed=1)."
        )

    def _default_imputation_inference(self) -> tuple[InfluenceInference, str]:
        """The design's default for the imputation estimator, stated once: BJS's conservative analytic SEs."""
        return AnalyticInfluence(), (
            "Inference defaulted to the conservative standard errors of Borusyak, Jaravel and Spiess (2024, "
            f"Theorem 3; normal, no leave-one-out refinement), clustered by {self._clustered_by()}, as R "
            "didimputation and diff_diff.ImputationDiD."
        )

    def _default_sandwich(self) -> tuple[Sandwich, str]:
        """The design's default for Sun and Abraham and TWFE, stated once: CR1 with G - 1 df (fixest's)."""
        return Sandwich("CR1"), (
            f"Inference defaulted to CR1 with G - 1 df, clustered by {self._clustered_by()}, the unit effects "
            "nested in the clusters left out of the small-sample factor (fixest's convention). With few clusters "
            "pass inference='CR2' (Bell-McCaffrey df)."
        )

    @known_keywords
    def bacon(self, outcome: str) -> BaconDecomposition:
        """Goodman-Bacon (2021) decomposition of the static TWFE estimate into 2x2 comparisons.

        Uses the balanced panel of ``outcome`` (cohorts as in ``estimate``; units treated before the first
        period enter as an always-treated group). See :func:`evalkit.estimators.bacon.bacon_decomposition`.
        """
        outcome = _one_outcome(outcome)
        if self.unit is None:
            raise DesignError(
                "the Goodman-Bacon decomposition needs a panel of units; this design holds repeated cross-sections "
                "(unit=None)."
            )
        require_columns(self._data, [outcome], "outcome")
        self._check_not_role([outcome])
        n_units, T = len(self._unit_labels), self._periods.size
        y = self._floats([outcome], "outcome")[:, 0]
        Y = np.full((n_units, T), np.nan)
        Y[self._unit_codes, self._time_codes] = y
        keep = ~np.isnan(Y).any(axis=1)
        if not keep.all():
            raise DataError(
                f"the Goodman-Bacon decomposition needs a balanced panel; {int((~keep).sum())} unit(s) miss "
                f"{outcome!r} in some period. Drop them first."
            )
        cohort = self._cohort.copy()
        cohort[(cohort == 0) | (cohort > self._periods[-1])] = np.inf
        return bacon_decomposition(Y, cohort, self._periods, weights=self._w)

    # ------------------------------------------------------------------ estimator back ends
    def _design_label(self, panel: _Panel) -> str:
        cl = f", clusters {self.clusters!r}" if self.clusters else ""
        if panel.time_codes is not None:
            kind = "repeated cross-sections" if self.unit is None else f"unbalanced panel of {self.unit!r}"
            return (
                f"staggered adoption, {kind}: {panel.Y.size} observations x {panel.periods.size} periods "
                f"({self.time!r}), cohorts {self.cohort!r}{cl}"
            )
        return (
            f"staggered adoption panel: {panel.Y.shape[0]} units ({self.unit!r}) x {panel.periods.size} periods "
            f"({self.time!r}), cohorts {self.cohort!r}{cl}"
        )

    def _callaway_santanna(
        self,
        outcome: str,
        panel: _Panel,
        covs: list[str],
        control: str,
        method: str,
        agg: str | None,
        base_period: str,
        anticipation: int,
        inference: InfluenceInference,
        alpha: float,
        default_note: str | None,
        *,
        window: tuple[int | None, float, float] = (None, -np.inf, np.inf),
    ) -> Results:
        clusters = panel.clusters
        if panel.time_codes is None:
            fit = group_time_att(
                panel.Y,
                panel.cohort,
                panel.periods,
                covariates=panel.X,
                weights=panel.weights,
                control=control,  # type: ignore[arg-type]
                method=method,  # type: ignore[arg-type]
                base_period=base_period,  # type: ignore[arg-type]
                anticipation=anticipation,
                covariate_names=[str(c) for c in covs],
            )
        else:
            fit = group_time_att_rcs(
                panel.Y,
                panel.time_codes,
                panel.cohort,
                panel.periods,
                weights=panel.weights,
                control=control,  # type: ignore[arg-type]
                base_period=base_period,  # type: ignore[arg-type]
                anticipation=anticipation,
                covariates=panel.X,
                method=method,  # type: ignore[arg-type]
                covariate_names=[str(c) for c in covs],
            )
            if panel.obs_units is not None:
                fit, clusters = _units_of(fit, panel)
        scale = float(np.nanstd(panel.Y))  # the outcome's scale: the one degenerate-SE rule of table and pre-test
        test = pretest(fit, clusters, scale=scale)
        kinds = _aggregate_kinds(agg)
        rng = inference.generator()
        balance_e, min_e, max_e = window
        aggs = aggregations(fit, [k for k in kinds if k is not None], balance_e=balance_e, min_e=min_e, max_e=max_e)
        blocks = [_cs_block(fit, kind, clusters, inference, alpha, rng, scale, ag=aggs.get(kind)) for kind in kinds]
        block = {key: np.concatenate([np.asarray(b[key]) for b in blocks]) for key in blocks[0]}
        table, tests = self._influence_table(
            outcome, block, clusters, fit.n_units, inference, alpha, scale, test, f"callaway_santanna ({method})"
        )
        notes = [*panel.notes, *tests.notes([str(t) for t in block["term"]]), *_small_cohort_notes(panel, len(covs))]
        if default_note is not None:
            notes.append(default_note)
        notes.append(
            f"Comparison group: {control.replace('_', '-')} units; {base_period} base period; anticipation "
            f"{anticipation}; 2x2 estimator {method!r}"
            + (f" with covariates {', '.join(map(str, covs))}." if covs else ".")
        )
        missing = ~np.isfinite(fit.att)
        if missing.any():
            cells = ", ".join(f"ATT({g:g},{t:g})" for g, t in zip(fit.groups[missing], fit.times[missing], strict=True))
            notes.append(
                f"{int(missing.sum())} group-time effect(s) could not be estimated (NaN): {cells}. Every aggregate "
                "and pre-test that uses them is NaN too; none is computed from the remaining cells only."
            )
        if np.isfinite(test.p_value):
            notes.append(
                f"Pre-test of parallel trends (Wald, all {test.df} pre-treatment ATT(g,t) = 0): "
                f"W = {test.statistic:.4f}, p = {test.p_value:.5f}."
            )
        if inference.simultaneous:
            notes.append(
                f"Simultaneous {100 * (1 - alpha):g}% bands (conf_low_uniform, conf_high_uniform) use the sup-t "
                "critical value crit_uniform, computed separately for the ATT(g,t) and for each aggregation's terms."
            )
        return assemble_results(
            table,
            estimator=f"callaway_santanna ({method})",
            design=self._design_label(panel),
            alpha=alpha,
            notes=tuple(notes),
            dropped=_dropped_frame(panel),
            dropped_note=None,  # the panel's own notes say which units were dropped and why
            fits=_dynamic_covariance(outcome, fit, clusters, aggs["dynamic"] if window == _NO_WINDOW else None)
            if "dynamic" in kinds
            else None,
        )

    def _imputation(
        self,
        outcome: str,
        panel: _Panel,
        covs: list[str],
        agg: str | None,
        anticipation: int,
        inference: InfluenceInference,
        alpha: float,
        default_note: str | None,
    ) -> Results:
        names = [str(c) for c in covs]
        fit = imputation_att(
            panel.Y,
            panel.cohort,
            panel.periods,
            covariates=panel.X,
            weights=panel.weights,
            anticipation=anticipation,
            covariate_names=names,
        )
        clusters = panel.clusters
        one_cluster = clusters is not None and np.unique(clusters).size < 2
        scale = float(np.nanstd(panel.Y))
        kinds = _aggregate_kinds(agg)
        rng = inference.generator()
        blocks = []
        for kind in kinds:
            ag = imputation_aggregate(fit, kind)  # type: ignore[arg-type]
            if kind is None:
                est, infl = ag.estimates, ag.influence
                cols: dict[str, object] = {
                    "type": ["att_gt"] * est.size,
                    "term": [f"ATT({g:g},{t:g})" for g, t in zip(fit.groups, fit.times, strict=True)],
                    "group": fit.groups,
                    "time": fit.times,
                    "event_time": fit.times - fit.groups,
                    "base_time": np.full(est.size, np.nan),
                    "n_treated": fit.n_units_cell,
                    "n_control": fit.n_untreated_period,
                    "n_obs": fit.n_units_cell + fit.n_untreated_period,
                }
            else:
                est, infl, cols = _aggregation_columns(ag, kind, fit.cohort)
            if one_cluster:  # no variation between clusters: every SE is NaN with the degenerate-SE note
                infl = np.zeros_like(infl)
            blocks.append(
                _influence_block(est, infl, np.ones(est.size, dtype=bool), cols, clusters, inference, alpha, rng, scale)
            )
        block = {key: np.concatenate([np.asarray(b[key]) for b in blocks]) for key in blocks[0]}
        test, leads = self._imputation_pretest(panel, names, anticipation)
        table, tests = self._influence_table(
            outcome, block, clusters, fit.n_units, inference, alpha, scale, test, "imputation"
        )
        notes = [*panel.notes, *tests.notes([str(t) for t in block["term"]]), *_small_cohort_notes(panel, len(covs))]
        if default_note is not None:
            notes.append(default_note)
        n0 = int(fit.untreated.sum())
        notes.append(
            "Imputation estimator (Borusyak, Jaravel and Spiess 2024): unit and period effects"
            + (f" and covariates {', '.join(names)}" if names else "")
            + f" fitted on the {n0} untreated observations (never-treated units, and periods before cohort - "
            f"anticipation {anticipation}; control=, method= and base_period= do not apply); Y(0) imputed for each "
            "treated observation and the effects averaged with "
            + ("unit weights" if panel.weights is not None else "equal weights")
            + " within each term; the cohort shares of the group overall are taken as fixed. Conservative "
            "variance of Theorem 3 with cohort x period auxiliary effects (no leave-one-out refinement)."
        )
        if panel.periods.size < self._periods.size:  # no never-treated units: the panel dropped the late periods
            notes.append(
                f"Imputation: in the periods from {self._periods[panel.periods.size]:g} on every unit is treated (or "
                "anticipating), so no period effect identifies Y(0) there; those treated observations are left out "
                "(as BJS) and the last cohort's earlier periods enter the untreated model."
            )
        if fit.not_imputable.any():
            rows, cols_t = np.nonzero(fit.not_imputable)
            cells = sorted({(panel.cohort[i], panel.periods[t]) for i, t in zip(rows, cols_t, strict=True)})
            shown = ", ".join(f"cohort {g:g} in {t:g}" for g, t in cells[:8]) + (", ..." if len(cells) > 8 else "")
            notes.append(
                f"{rows.size} treated observation(s) have no untreated observation of their unit or period to impute "
                f"Y(0) from and enter no estimate (as BJS): {shown}."
            )
        if one_cluster:
            notes.append(
                f"The panel has one cluster of {self.clusters!r}: the conservative variance has no between-cluster "
                "variation to estimate from, so every standard error is reported NaN."
            )
        if test.df and not np.isfinite(test.p_value):
            notes.append(
                f"The pre-trend test (BJS 2024 Test 1, {test.df} leads) is NaN: the leads are collinear with the unit "
                "and period effects (as without never-treated units, when every pre-period is a lead), the panel has "
                "one cluster, or their covariance is singular."
            )
        if np.isfinite(test.p_value):
            notes.append(
                f"Pre-trend test (BJS 2024 Test 1): leads at event times {', '.join(f'{h:g}' for h in leads)} added "
                f"to the untreated model (reference {-1 - anticipation}), cluster-robust CR1 Wald W = "
                f"{test.statistic:.4f} on {test.df} restrictions, p = {test.p_value:.5f} from F({test.df}, G - 1) "
                "of W / df."
            )
        if inference.simultaneous:
            notes.append(
                f"Simultaneous {100 * (1 - alpha):g}% bands (conf_low_uniform, conf_high_uniform) use the sup-t "
                "critical value crit_uniform, computed separately for the ATT(g,t) and for each aggregation's terms."
            )
        return assemble_results(
            table,
            estimator="imputation",
            design=self._design_label(panel),
            alpha=alpha,
            notes=tuple(notes),
            dropped=_dropped_frame(panel),
            dropped_note=None,  # the panel's own notes say which units were dropped and why
            fits=_imputation_covariance(outcome, fit, clusters, anticipation) if "dynamic" in kinds else None,
        )

    def _influence_table(
        self,
        outcome: object,
        block: dict,
        clusters: np.ndarray | None,
        n_units: int,
        inference: Any,
        alpha: float,
        scale: float,
        test: Any,
        estimator: str,
    ) -> tuple[pd.DataFrame, Any]:
        """The tidy table of influence-function terms (Callaway-Sant'Anna, imputation): t tests through
        :func:`t_tests` (the degenerate-SE rule), uniform bands and the pre-test columns."""
        est, crit_u = block["estimate"], block["crit_uniform"]
        label = inference.name + ", clustered by " + ("units" if clusters is None else f"clusters of {self.clusters!r}")
        tests = t_tests(est, block["std_error"], np.inf, alpha=alpha, scale=scale)
        se = tests.std_error
        table = tidy_table(
            {
                "outcome": outcome,
                "term": block["term"],
                "estimate": est,
                "std_error": se,
                "statistic": tests.statistic,
                "p_value": tests.p_value,
                "conf_low": tests.conf_low,
                "conf_high": tests.conf_high,
                "df": np.inf,
                "n_obs": block["n_obs"],
                "n_treated": block["n_treated"],
                "n_control": block["n_control"],
                "n_clusters": len(np.unique(clusters)) if clusters is not None else n_units,
                "estimator": estimator,
                "inference": label,
                "type": block["type"],
                **{key: block[key] for key in ("group", "time", "event_time", "base_time")},
                "crit_uniform": crit_u,
                "conf_low_uniform": est - crit_u * se,
                "conf_high_uniform": est + crit_u * se,
                "pretest_statistic": test.statistic,
                "pretest_df": test.df,
                "pretest_p_value": test.p_value,
            },
            est.size,
        )
        return table, tests

    def _imputation_pretest(self, panel: _Panel, names: list[str], anticipation: int) -> tuple[PreTest, np.ndarray]:
        """BJS's Test 1: Wald test of the leads added to the untreated model, CR1 by the design's clusters (the unit
        effects nested in them); NaN when there are no leads, one cluster or a singular covariance."""
        cohort = panel.cohort
        if panel.periods.size < self._periods.size:  # the last cohort, recoded never treated by _panel, has leads too
            original = self._cohort[np.searchsorted(np.asarray(self._unit_labels), panel.unit_labels)]
            cohort = np.where(np.isfinite(cohort), cohort, np.where(original > 0, original, np.inf))
        reg = pretrend_regression(
            panel.Y,
            cohort,
            panel.periods,
            covariates=panel.X,
            weights=panel.weights,
            anticipation=anticipation,
            covariate_names=names,
        )
        q = int(reg.leads.size)
        clusters = reg.unit if panel.clusters is None else panel.clusters[reg.unit]
        n_clusters = np.unique(clusters).size
        if q == 0 or n_clusters < 2:
            return PreTest(np.nan, q, np.nan), reg.leads
        try:
            fit = fit_least_squares(reg.y, reg.X, reg.names, 0, weights=reg.weights)
        except EstimationError:
            return PreTest(np.nan, q, np.nan), reg.leads
        cov = _unit_fe_sandwich(fit, clusters, int(np.unique(reg.unit).size), Sandwich("CR1"), df_for=[])
        gamma, V = fit.coef[:q], cov.vcov[:q, :q]
        if not np.all(np.isfinite(V)) or np.linalg.cond(V) > 1 / np.finfo(np.float64).eps:
            return PreTest(np.nan, q, np.nan), reg.leads
        W = float(gamma @ np.linalg.solve(V, gamma))
        return PreTest(W, q, float(stats.f.sf(W / q, q, n_clusters - 1))), reg.leads

    def _long(self, panel: _Panel) -> tuple[np.ndarray, ...]:
        n, T = panel.Y.shape
        unit = np.repeat(np.arange(n), T)
        tcode = np.tile(np.arange(T), n)
        clusters = unit if panel.clusters is None else panel.clusters[unit]
        return panel.Y.ravel(), unit, tcode, panel.cohort[unit], clusters

    def _sun_abraham(
        self, outcome: str, panel: _Panel, control: str, spec: Sandwich, alpha: float, default_note: str | None
    ) -> Results:
        if panel.weights is not None:
            raise OptionError("weights are not supported with estimator='sun_abraham'; drop weights=.")
        y, unit, tcode, cohort, clusters = self._long(panel)
        fit = sun_abraham(y, unit, tcode, cohort, panel.periods, clusters, control=control)  # type: ignore[arg-type]
        late: list[
            dict[str, object]
        ] = []  # control="not_yet_treated": the periods from the last cohort's adoption on were left out
        if y.size > fit.n_obs:
            late.append(
                {
                    "outcome": outcome,
                    "column": self.time,
                    "n_missing": 0,
                    "n_dropped": int(y.size - fit.n_obs),
                    "reason": f"Sun-Abraham comparison: {fit.control_label}",
                }
            )
        cov = _unit_fe_sandwich(fit.regression, fit.clusters, fit.n_units, spec, df_for=[])
        se = _contrast_se(fit.aggregation, cov.vcov)
        if spec.cov_type == "CR2":  # Bell-McCaffrey df of each event time's contrast of the coefficients
            df = np.array([bell_mccaffrey_df(fit.regression.X, a, clusters=fit.clusters) for a in fit.aggregation])
        else:
            df = np.full(se.size, float(cov.df[0]))
        label = _sandwich_label(cov)
        terms = [f"event {e:g}" for e in fit.event_times]
        tests = t_tests(fit.estimates, se, df, alpha=alpha, scale=float(np.nanstd(panel.Y)))
        table = tidy_table(
            {
                "outcome": outcome,
                "term": terms,
                "estimate": fit.estimates,
                "std_error": tests.std_error,
                "statistic": tests.statistic,
                "p_value": tests.p_value,
                "conf_low": tests.conf_low,
                "conf_high": tests.conf_high,
                "df": df,
                "n_obs": fit.n_obs,
                "n_treated": fit.n_treated,
                "n_control": fit.n_control,
                "n_clusters": cov.n_clusters,
                "estimator": "sun_abraham",
                "inference": label,
                "type": "dynamic",
                "event_time": fit.event_times,
            },
            fit.event_times.size,
        )
        notes = [
            *panel.notes,
            *tests.notes(terms),
            *_small_cohort_notes(panel, 0),
            *([] if default_note is None else [default_note]),
            f"Sun and Abraham interaction-weighted event study; comparison cohort: {fit.control_label}; "
            "reference period -1; weights are cohort shares at each event time.",
        ]
        return assemble_results(
            table,
            estimator="sun_abraham",
            design=self._design_label(panel),
            alpha=alpha,
            notes=tuple(notes),
            dropped=_dropped_frame(panel, *late),
            dropped_note=None,  # the panel's own notes say which units were dropped and why
            fits=_event_covariance(
                outcome, fit.estimates, fit.event_times, fit.aggregation @ cov.vcov @ fit.aggregation.T, terms, clusters
            ),
        )

    def _twfe(self, outcome: str, panel: _Panel, spec: Sandwich, alpha: float, default_note: str | None) -> Results:
        y, unit, tcode, cohort, clusters = self._long(panel)
        w = None if panel.weights is None else panel.weights[unit]
        fit = twfe_static(y, unit, tcode, cohort, panel.periods, clusters, weights=w)
        cov = _unit_fe_sandwich(fit.regression, fit.clusters, fit.n_units, spec, df_for=[0])
        label = _sandwich_label(cov)
        se = _contrast_se(np.eye(1, cov.vcov.shape[0]), cov.vcov)
        tests = t_tests(fit.estimate, se, cov.df[0], alpha=alpha, scale=float(np.nanstd(panel.Y)))
        table = tidy_table(
            {
                "outcome": [outcome],
                "term": ["treated"],
                "estimate": [fit.estimate],
                "std_error": tests.std_error,
                "statistic": tests.statistic,
                "p_value": tests.p_value,
                "conf_low": tests.conf_low,
                "conf_high": tests.conf_high,
                "df": [float(cov.df[0])],
                "n_obs": [fit.n_obs],
                "n_treated": [int(np.isfinite(panel.cohort).sum())],
                "n_control": [int((~np.isfinite(panel.cohort)).sum())],
                "n_clusters": [cov.n_clusters],
                "estimator": ["twfe"],
                "inference": [label],
            },
            1,
        )
        return assemble_results(
            table,
            estimator="twfe",
            design=self._design_label(panel),
            alpha=alpha,
            notes=(
                *panel.notes,
                *tests.notes(["treated"]),
                *_small_cohort_notes(panel, 0, exact_fit=False),
                *(() if default_note is None else (default_note,)),
                "Static TWFE: y ~ treated | unit + period; with staggered adoption and heterogeneous effects it is "
                "a weighted average with possibly negative weights (see bacon()).",
            ),
            dropped=_dropped_frame(panel),
            dropped_note=None,  # the panel's own notes say which units were dropped and why
        )


def _cluster_sandwich(
    inference: object, estimator: str, default: Callable[[], tuple[Sandwich, str]]
) -> tuple[Sandwich, str | None]:
    """The cluster-robust sandwich of Sun and Abraham or TWFE: ``"analytic"`` is CR1; influence-function methods
    (and any non-cluster-robust method) are refused, naming what is accepted."""
    spec = "CR1" if inference == "analytic" else inference
    try:
        method, note = resolve_inference(spec, default)
    except (InferenceError, OptionError):  # not a method, or not a covariance type: refused below
        method, note = None, None
    if method is None or method.sandwich_type not in _CLUSTER_SANDWICHES:
        raise OptionError(
            f"inference={inference!r} is not available with estimator={estimator!r}, which takes 'analytic' (CR1 "
            "with G - 1 df, the default), 'CR0', 'CR1', 'CR2' or a cluster-robust ek.inference.Sandwich; "
            "influence-function inference (AnalyticInfluence(), MultiplierBootstrap(...)) is only available with "
            "estimator='callaway_santanna' or 'imputation'."
        )
    return method, note  # type: ignore[return-value]


def _unit_fe_sandwich(
    regression: LinearFit, clusters: np.ndarray, n_units: int, spec: Sandwich, df_for: Sequence[int]
) -> CovarianceEstimate:
    """Cluster-robust covariance of a within-unit regression, the unit effects counted as nested in the clusters
    (fixest's convention: only the intercept they replace counts in K)."""
    correction = SmallSampleCorrection(absorbed=n_units, nested=n_units - 1)
    return sandwich(
        regression.X,
        regression.residuals,
        spec.cov_type,
        weights=regression.weights,
        clusters=clusters,
        df_for=df_for,
        correction=correction,
        working_model=spec.working_model,
        df_method=spec.df,
    )


def _sandwich_label(cov: CovarianceEstimate) -> str:
    """E.g. ``"CR1 (G - 1 df)"``, ``"CR2 (Bell-McCaffrey df)"``."""
    return f"{cov.cov_type} ({cov.df_method} df)"


_NO_WINDOW: tuple[int | None, float, float] = (None, -np.inf, np.inf)


def _cs_aggregate(fit: GroupTimeFit, kind: str, window: tuple[int | None, float, float]) -> Aggregation:
    """One Callaway-Sant'Anna aggregation; ``window`` (``balance_e``, ``min_e``, ``max_e``) applies to "dynamic"."""
    balance_e, min_e, max_e = window if kind == "dynamic" else _NO_WINDOW
    return aggregate(fit, kind, balance_e=balance_e, min_e=min_e, max_e=max_e)  # type: ignore[arg-type]


def _cs_block(
    fit: GroupTimeFit,
    kind: str | None,
    clusters: np.ndarray | None,
    inference: InfluenceInference,
    alpha: float,
    rng: np.random.Generator | None,
    scale: float,
    window: tuple[int | None, float, float] = (None, -np.inf, np.inf),
    *,
    ag: Aggregation | None = None,
) -> dict[str, object]:
    """Rows of one Callaway-Sant'Anna table block: every ATT(g,t) (kind None) or one aggregation.

    ``window`` is ``(balance_e, min_e, max_e)`` of the dynamic aggregation (:func:`aggregate`); ``ag`` the
    aggregation when the caller has computed it already (:func:`_cs_aggregate`).

    ``scale`` is the outcome's standard deviation. An estimate whose analytic standard error is zero up to
    rounding against it (the one rule, :func:`~evalkit.inference.analytic.degenerate_se`; the bootstrap's draws
    are multiples of the same cluster sums, so they are zero too) is not handed to the inference method: its
    standard error is 0, which the caller's ``t_tests`` reports as NaN with a note, and it stays out of the
    simultaneous band.
    """
    if kind is None:
        est, infl, identified = fit.att, fit.influence, fit.identified
        cols: dict[str, object] = {
            "type": ["att_gt"] * est.size,
            "term": [f"ATT({g:g},{t:g})" for g, t in zip(fit.groups, fit.times, strict=True)],
            "group": fit.groups,
            "time": fit.times,
            "event_time": fit.times - fit.groups,
            "base_time": fit.base_times,
            "n_treated": fit.n_treated,
            "n_control": fit.n_control,
            "n_obs": fit.n_treated + fit.n_control,
        }
    else:
        ag = _cs_aggregate(fit, kind, window) if ag is None else ag
        est, infl, cols = _aggregation_columns(ag, kind, fit.cohort)
        identified = np.ones(est.size, dtype=bool)
    return _influence_block(est, infl, identified, cols, clusters, inference, alpha, rng, scale)


def _aggregation_columns(
    ag: Aggregation, kind: str, cohort: np.ndarray
) -> tuple[np.ndarray, np.ndarray, dict[str, object]]:
    """Estimates, influence functions and table columns of one aggregation's terms and its "overall" row (the one
    row of ``"simple"``), shared by Callaway and Sant'Anna and the imputation estimator."""
    if kind == "simple":
        est, infl, keys = ag.estimates, ag.influence, [np.nan]
    else:
        est = np.append(ag.estimates, ag.overall)
        infl = np.column_stack([ag.influence, ag.overall_influence])
        keys = [*ag.keys.tolist(), np.nan]
    word = {"group": "group", "dynamic": "event", "calendar": "period"}.get(kind, "")
    key_vals = np.asarray(keys, dtype=np.float64)
    nan = np.full(est.size, np.nan)
    is_overall = np.isnan(key_vals)
    cols: dict[str, object] = {
        "type": [f"{kind} overall" if o else kind for o in is_overall],
        "term": ["overall" if o else f"{word} {k:g}" for o, k in zip(is_overall, key_vals, strict=True)],
        "group": key_vals if kind == "group" else nan,
        "time": key_vals if kind == "calendar" else nan,
        "event_time": key_vals if kind == "dynamic" else nan,
        "base_time": nan,
        "n_treated": np.full(est.size, int(np.isfinite(cohort).sum())),
        "n_control": np.full(est.size, int((~np.isfinite(cohort)).sum())),
        "n_obs": np.full(est.size, cohort.size),
    }
    return est, infl, cols


def _influence_block(
    est: np.ndarray,
    infl: np.ndarray,
    identified: np.ndarray,
    cols: dict[str, object],
    clusters: np.ndarray | None,
    inference: InfluenceInference,
    alpha: float,
    rng: np.random.Generator | None,
    scale: float,
) -> dict[str, object]:
    """Standard errors of one block of estimates from their influence functions (see :func:`_cs_block`).

    The simultaneous band (sup-t critical value) of an aggregation covers its terms (cohorts, event times or
    periods), not its "overall" row -- as ``did::aggte``, whose uniform band is computed from the terms'
    influence functions alone and whose overall standard error comes from its own bootstrap. The overall row's
    standard error and ``crit_uniform`` come from a separate call: the critical value of its own one-term band
    (close to the normal one), as the one row of ``"simple"``.
    """
    analytic = analytic_se(infl, clusters)  # NaN for a column with a NaN (a NaN cell or aggregate): no SE
    finite = np.isfinite(analytic)
    finite[~finite] = np.isfinite(infl[:, ~finite]).all(axis=0)  # finite values whose squares overflow
    identified = identified & np.isfinite(est) & finite
    flat = np.zeros(est.size, dtype=bool)
    flat[identified] = degenerate_se(analytic[identified], est[identified], scale)
    usable = identified & ~flat
    se = np.full(est.size, np.nan)
    se[flat] = 0.0  # t_tests: NaN and the degenerate-SE note
    crit = np.full(est.size, np.nan)
    overall = np.asarray(cols["term"]) == "overall"
    for part in (~overall, overall):
        cols_in = usable & part
        if cols_in.any():
            se[cols_in], crit_part = inference.standard_errors(_columns(infl, cols_in), clusters, alpha, rng)
            crit[part] = crit_part
    return {"estimate": est, "std_error": se, "crit_uniform": crit, **cols}


def _columns(a: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``a[:, mask]``, as a view (no copy of the units x estimates array) when the columns are consecutive."""
    where = np.flatnonzero(mask)
    if where[-1] - where[0] + 1 == where.size:
        return a[:, where[0] : where[-1] + 1]
    return a[:, mask]


def _dynamic_window(
    estimator: str, aggregate: str | None, balance_e: object, min_e: object, max_e: object
) -> tuple[int | None, float, float]:
    """Check ``balance_e``, ``min_e``, ``max_e`` and return them as the dynamic aggregation's window."""
    for name, value in (("min_e", min_e), ("max_e", max_e)):
        if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real) or np.isnan(value):
            raise OptionError(f"{name}={value!r} must be a number of periods (an event time).")
    if balance_e is not None and (
        isinstance(balance_e, bool | np.bool_) or not isinstance(balance_e, int | np.integer) or balance_e < 0
    ):
        raise OptionError(f"balance_e={balance_e!r} must be a non-negative integer number of periods, or None.")
    if balance_e is not None or np.isfinite(min_e) or np.isfinite(max_e):  # type: ignore[arg-type]
        if estimator != "callaway_santanna" or "dynamic" not in _aggregate_kinds(aggregate):
            raise OptionError(
                "balance_e, min_e and max_e select the event times of the Callaway-Sant'Anna dynamic aggregation; "
                f"they need estimator='callaway_santanna' and aggregate='dynamic' (or 'all'), not "
                f"estimator={estimator!r}, aggregate={aggregate!r}."
            )
    return (None if balance_e is None else int(balance_e)), float(min_e), float(max_e)  # type: ignore[arg-type]


def _aggregate_kinds(aggregate: object) -> list[str | None]:
    """The table blocks that ``aggregate=`` asks for, in the order of ``"all"`` (None: the ATT(g,t)).

    Raises
    ------
    OptionError
        For a value that is not one of ``_AGGREGATES`` nor a list of distinct names from ``_BLOCKS``.
    """
    if isinstance(aggregate, list | tuple):
        if not aggregate or len(set(map(repr, aggregate))) < len(aggregate) or any(k not in _BLOCKS for k in aggregate):
            raise OptionError(
                f"aggregate={aggregate!r}: a list of blocks takes distinct names among "
                f"{', '.join(map(repr, _BLOCKS))} (the table's type column, less ' overall'), e.g. "
                "['att_gt', 'simple', 'dynamic']; or pass one of None, 'simple', 'group', 'dynamic', 'calendar', 'all'."
            )
        return [None if k == "att_gt" else k for k in _BLOCKS if k in aggregate]
    check_option("aggregate", aggregate, _AGGREGATES)
    if aggregate == "all":
        return [None, "simple", "group", "dynamic", "calendar"]
    return [aggregate]  # type: ignore[list-item]


def _is_balanced(panel: _Panel) -> bool:
    """Whether the observations of a panel in cross-section form cover every unit in every period."""
    n_units = int(panel.obs_units.max()) + 1  # type: ignore[union-attr]
    return bool(panel.Y.size == n_units * panel.periods.size)


def _units_of(fit: GroupTimeFit, panel: _Panel) -> tuple[GroupTimeFit, np.ndarray | None]:
    r"""The ATT(g,t) of an unbalanced panel estimated from its observations, carried to its units.

    Notes
    -----
    As R ``did`` with ``allow_unbalanced_panel=TRUE``: a unit's influence function is the sum of its observations'
    (rescaled from N observations to n units, :math:`\psi_u = \frac{n}{N}\sum_{i \in u}\psi_i`, so that
    :math:`\sqrt{\sum_u \psi_u^2}/n` is the observation-level standard error clustered by unit), and the cohort
    shares that weight the aggregations are shares of units.
    """
    units = panel.obs_units
    n_units, N = int(units.max()) + 1, units.size  # type: ignore[union-attr]
    influence = np.zeros((n_units, fit.influence.shape[1]))
    np.add.at(influence, units, fit.influence * (n_units / N))
    first = np.unique(units, return_index=True)[1]  # one observation of each unit
    cohort = panel.cohort[first]
    w = np.ones(n_units) if panel.weights is None else panel.weights[first] / panel.weights[first].mean()
    clusters = None if panel.clusters is None else _recode(panel.clusters[first])
    by_unit = GroupTimeFit(
        groups=fit.groups,
        times=fit.times,
        base_times=fit.base_times,
        att=fit.att,
        influence=influence,
        n_treated=fit.n_treated,
        n_control=fit.n_control,
        pre=fit.pre,
        identified=fit.identified,
        cohort=cohort,
        unit_weights=w,
    )
    return by_unit, clusters


def _contrast_se(contrasts: np.ndarray, vcov: np.ndarray) -> np.ndarray:
    """Standard errors of the contrasts (rows of ``contrasts``) of coefficients with covariance ``vcov``, a variance
    lost to rounding set to 0 -- which :func:`~evalkit.inference.analytic.t_tests` then reports as NaN with the
    degenerate-SE note (the one rule), instead of a NaN from ``sqrt`` of a negative rounding with no note, or a
    spurious 1e-9 standard error.

    Notes
    -----
    :math:`v = a'Va` is computed from entries of :math:`V` that carry rounding errors of order
    :math:`\\epsilon \\max_j V_{jj}`, so :math:`v` is known only up to :math:`k\\,\\epsilon\\,(\\sum_j |a_j|)^2
    \\max_j V_{jj}` (:math:`k` coefficients; Higham 2002, Accuracy and Stability of Numerical Algorithms, 2nd ed.,
    section 3.1). A variance at or below that is zero up to rounding: e.g. a Sun-Abraham event time resting only
    on single-unit cohorts whose comparison group is one unit, where the exact variance is zero (measured below
    0.2 epsilon of the bound, while genuine variances of the same fits sit above 1e12 epsilon).
    """
    var = np.einsum("ij,jk,ik->i", contrasts, vcov, contrasts)
    k = vcov.shape[0]
    rounding = k * np.finfo(np.float64).eps * np.abs(contrasts).sum(axis=1) ** 2 * np.abs(np.diag(vcov)).max()
    return np.sqrt(np.where(var <= rounding, 0.0, var))


#: did::pre_process_did warns about cohorts with fewer than this many units plus one per covariate.
_SMALL_COHORT = 5


def _small_cohort_notes(panel: _Panel, n_covariates: int, *, exact_fit: bool = True) -> tuple[str, ...]:
    """A note naming the cohorts (and the never-treated group) with fewer than 5 + ``n_covariates`` units.

    The threshold is the one of R ``did`` (``pre_process_did``: "Be aware that there are some small groups in your
    dataset"). A cohort of one unit is named apart: its own variation cannot enter the standard error of the
    effects that rest on it (its deviation from the cohort mean is zero), so their standard error comes from the
    comparison units alone, and is zero -- reported NaN with the degenerate-SE note -- when those are a single
    unit as well. ``exact_fit=False`` (the static TWFE regression, which does not fit a single unit exactly) leaves
    that sentence out.
    """
    need = _SMALL_COHORT + n_covariates
    groups, counts = np.unique(panel.cohort, return_counts=True)
    small = [(g, int(c)) for g, c in zip(groups, counts, strict=True) if c < need]
    if not small:
        return ()

    def label(g: float) -> str:
        if np.isfinite(g):
            return f"cohort {g:g}"
        if panel.comparison_cohort is not None:  # no never-treated units: the last cohort is the comparison
            return f"cohort {panel.comparison_cohort:g} (the not-yet-treated comparison group)"
        return "never treated"

    shown = ", ".join(f"{label(g)} ({c} unit{'s' if c > 1 else ''})" for g, c in small)
    note = (
        f"Small groups: {shown} have fewer than {need} units (R did's warning threshold, 5 plus one per "
        "covariate); effects and standard errors that rest on them are imprecise and their normal or t "
        "approximations unreliable."
    )
    single = [label(g) for g, c in small if c == 1]
    if single and exact_fit:
        note += (
            f" {', '.join(single)} {'has' if len(single) == 1 else 'have'} a single unit, whose own variation cannot "
            "enter the standard errors: those of the effects resting on it come from the comparison units alone "
            "(zero, and reported NaN, when those are one unit too). Consider merging it with an adjacent cohort."
        )
    return (note,)


def _has_duplicate_pairs(unit_codes: np.ndarray, time_codes: np.ndarray, n_periods: int) -> bool:
    """Whether some (unit, period) pair occurs in more than one row (what ``DataFrame.duplicated`` on the two
    columns finds, without its cost): a count per pair when the pairs fit a table a few times the number of rows,
    else a sort."""
    key = unit_codes.astype(np.int64) * n_periods + time_codes
    if not key.size:
        return False
    if (int(unit_codes.max()) + 1) * n_periods <= 8 * key.size + 1024:
        return bool(np.bincount(key).max() > 1)
    return bool(np.unique(key).size < key.size)


def _plain(value: object) -> object:
    """A numpy scalar as the matching Python scalar (for readable messages); anything else unchanged."""
    return value.item() if isinstance(value, np.generic) else value


def _one_outcome(outcome: object) -> Hashable:
    """Return ``outcome`` if it names one column; a list (or other collection) raises an OptionError."""
    if isinstance(outcome, str):
        return outcome
    if isinstance(outcome, list | tuple | set | frozenset | dict | np.ndarray | pd.Index | pd.Series):
        names = list(outcome)
        raise OptionError(
            f"outcome={names!r}: StaggeredDiD.estimate takes one outcome column (a string), not a list; call it "
            f"once per outcome, e.g. [design.estimate(y) for y in {names!r}]."
        )
    if not isinstance(outcome, Hashable):
        raise OptionError(f"outcome={outcome!r} is not a column name; pass the outcome column as a string.")
    return outcome


def _recode(codes: np.ndarray) -> np.ndarray:
    return np.unique(codes, return_inverse=True)[1].astype(np.intp)


_EMPTY_DROPPED = empty_dropped()  # never mutated: Results copies it


def _dropped_frame(panel: _Panel, *extra: dict[str, object]) -> pd.DataFrame:
    """The panel's drops (plus an estimator's own, ``extra``) as a ``Results.dropped`` table."""
    if not panel.dropped and not extra:
        return _EMPTY_DROPPED
    return pd.DataFrame([*panel.dropped, *extra], columns=list(empty_dropped().columns))


def _dynamic_covariance(
    outcome: str, fit: GroupTimeFit, clusters: np.ndarray | None, ag: Aggregation | None = None
) -> dict[str, Any]:
    """The event-time (dynamic) aggregation's estimates and analytic influence covariance, kept for
    ``Results.vcov`` / ``Results.sensitivity`` (a universal base period's reference row, 0 by construction, is
    left out). ``ag``: the dynamic aggregation without a window, when the caller has it already."""
    from evalkit.inference.influence import analytic_vcov
    from evalkit.results import EventTimeCovariance, OutcomeFit

    ag = aggregate(fit, "dynamic") if ag is None else ag
    keep = np.isfinite(ag.estimates) & np.isfinite(ag.influence).all(axis=0) & np.any(ag.influence != 0, axis=0)
    cov = EventTimeCovariance(
        estimates=ag.estimates[keep],
        event_times=ag.keys[keep].astype(np.float64),
        vcov=analytic_vcov(ag.influence[:, keep], clusters),
        terms=tuple(f"event {k:g}" for k in ag.keys[keep]),
    )
    return {outcome: OutcomeFit(fit=cov, rows=np.arange(fit.n_units), clusters=clusters)}


#: Why Results.sensitivity / pretrend_power refuse the imputation event study (see _imputation_covariance).
_IMPUTATION_NOT_HONEST = (
    "the imputation event study (Borusyak, Jaravel and Spiess 2024) has no pre-period terms estimated jointly with "
    "its post-period ones, which a sensitivity analysis (Rambachan and Roth 2023) or a pre-trend power calculation "
    "(Roth 2022) needs. BJS's pre-trend coefficients (Test 1, summarized in the pretest_* columns) come from a "
    "separate regression of the untreated observations on leads, measured against event time {ref}, whereas each "
    "imputed effect is measured against the unit's mean over all its untreated periods: the two are neither on the "
    "same normalization (HonestDiD's reference period with delta = 0) nor jointly estimated, so no covariance of pre-"
    " and post-period terms is reported and none is invented. Results.vcov gives the joint covariance of the event-"
    "time effects themselves. For a sensitivity analysis, estimate the event study with estimator='sun_abraham' or "
    "estimator='callaway_santanna' with base_period='universal'."
)


def _imputation_covariance(outcome: str, fit: Any, clusters: np.ndarray | None, anticipation: int) -> dict[str, Any]:
    """The imputation estimator's event-time effects and their joint covariance, kept for ``Results.vcov``.

    Notes
    -----
    :math:`V = S'S/n^2` of the per-unit influence functions of BJS's Theorem 3 (``S``: their cluster sums), the
    covariance whose diagonal is the square of the reported analytic standard errors. The terms are every event
    time the dynamic aggregation reports (from ``-anticipation``; event times of non-imputable observations have
    no term). The imputation has no pre-period terms jointly estimated with these (its pre-trend test is a
    separate regression, normalized differently), so the kept covariance refuses ``Results.sensitivity`` and
    ``Results.pretrend_power`` with :data:`_IMPUTATION_NOT_HONEST` rather than pairing it with a covariance of
    the leads it does not estimate.
    """
    from evalkit.inference.influence import analytic_vcov
    from evalkit.results import EventTimeCovariance, OutcomeFit

    ag = imputation_aggregate(fit, "dynamic")
    keep = np.isfinite(ag.estimates) & np.isfinite(ag.influence).all(axis=0)
    vcov = analytic_vcov(ag.influence[:, keep], clusters)
    if clusters is not None and np.unique(clusters).size < 2:  # as the table: no between-cluster variation
        vcov = np.full_like(vcov, np.nan)
    cov = EventTimeCovariance(
        estimates=ag.estimates[keep],
        event_times=ag.keys[keep].astype(np.float64),
        vcov=vcov,
        terms=tuple(f"event {k:g}" for k in ag.keys[keep]),
        sensitivity_refusal=_IMPUTATION_NOT_HONEST.format(ref=-1 - anticipation),
    )
    return {outcome: OutcomeFit(fit=cov, rows=np.arange(fit.n_units), clusters=clusters)}


def _event_covariance(
    outcome: str,
    estimates: np.ndarray,
    event_times: np.ndarray,
    vcov: np.ndarray,
    terms: Sequence[str],
    clusters: np.ndarray | None,
) -> dict[str, Any]:
    """Sun-Abraham's event-time estimates and their joint covariance (the aggregation of the interaction
    coefficients' sandwich), kept for ``Results.vcov`` / ``Results.sensitivity``."""
    from evalkit.results import EventTimeCovariance, OutcomeFit

    cov = EventTimeCovariance(
        estimates=np.asarray(estimates, dtype=np.float64),
        event_times=np.asarray(event_times, dtype=np.float64),
        vcov=np.asarray(vcov, dtype=np.float64),
        terms=tuple(terms),
    )
    return {outcome: OutcomeFit(fit=cov, rows=np.arange(0), clusters=clusters)}


def _require_two_cohorts(cohort: np.ndarray, g_last: float, unit: object, cohort_column: object) -> None:
    """Refuse a design with one treatment cohort and no never-treated units: the last cohort serves as the
    comparison, so no cohort is left to estimate an effect for."""
    if not (cohort < g_last).any():
        raise DesignError(
            f"every {unit!s} is in cohort {g_last:g} of {cohort_column!r} and none is never treated: with one "
            "treatment date and no never-treated units there is no comparison group for any period from "
            f"{g_last:g} on, so no effect can be estimated. Add never-treated units (cohort 0) or units treated "
            "later, or use DiffInDiff on the periods before and after."
        )
