"""Immutable, tidy results of a design's ``estimate()``."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evalkit.inference.multiple_testing import AdjustMethod, Within

import numpy as np
import pandas as pd

from evalkit.inference.sandwich import NO_CORRECTION, SmallSampleCorrection

__all__ = ["RESULT_COLUMNS", "EventTimeCovariance", "OutcomeFit", "Results"]

#: Columns every ``Results.to_frame()`` carries, in this order (DESIGN.md contract plus evalkit extras).
RESULT_COLUMNS: tuple[str, ...] = (
    "outcome",
    "domain",
    "term",
    "estimate",
    "std_error",
    "statistic",
    "p_value",
    "conf_low",
    "conf_high",
    "df",
    "n_obs",
    "n_treated",
    "n_control",
    "n_clusters",
    "estimator",
    "inference",
    "control_mean",
    "control_sd",
    "glass_delta",
    "cohens_d",
    "cohens_d_low",
    "cohens_d_high",
    "hedges_g",
    "hedges_g_low",
    "hedges_g_high",
)

DROPPED_COLUMNS: tuple[str, ...] = ("outcome", "column", "n_missing", "n_dropped", "reason")


@dataclass(frozen=True)
class OutcomeFit:
    """What a ``Results`` keeps of one outcome's estimation, for later joint work (corrections, plots).

    Attributes
    ----------
    fit : LinearFit
        The estimator's fit.
    rows : ndarray
        Positions (0-based) of the estimation sample's rows in the design's data.
    clusters : ndarray or None
        Cluster codes of those rows.
    inference : Mapping
        What the inference method left for later use (e.g. ``"null_statistics"`` of a randomization test).
    method : InferenceMethod or None
        The inference method (settings) that produced the reported standard errors and tests.
    correction : SmallSampleCorrection
        The small-sample correction used with it (absorbed fixed effects), so that later joint work (Romano-Wolf,
        Westfall-Young) studentizes with exactly the reported standard errors.

    Notes
    -----
    The arrays of a ``Results`` are read-only (``Results`` makes them so when it is built), so a kept fit cannot be
    changed behind the table's back.
    """

    fit: Any = field(repr=False)
    rows: np.ndarray = field(repr=False)
    clusters: np.ndarray | None = field(default=None, repr=False)
    inference: Mapping[str, Any] = field(default_factory=dict, repr=False)
    method: Any = field(default=None, repr=False)
    correction: SmallSampleCorrection = NO_CORRECTION

    @property
    def cov_type(self) -> str | None:
        """The sandwich covariance type behind the reported standard errors (None for resampling methods)."""
        return None if self.method is None else self.method.sandwich_type

    @property
    def working_model(self) -> str:
        """The working model of weighted CR2 (see :class:`evalkit.inference.Sandwich`); "identity" otherwise."""
        return "identity" if self.method is None else self.method.working_model


@dataclass(frozen=True)
class EventTimeCovariance:
    """What an influence-function estimator keeps of an event-time aggregation for joint work.

    Kept as ``OutcomeFit.fit`` by Callaway-Sant'Anna, Sun-Abraham and imputation results with the dynamic
    aggregation, so that :meth:`Results.vcov` and :meth:`Results.sensitivity` can use the joint covariance of the
    event-time terms.

    Attributes
    ----------
    estimates : ndarray (q,)
    event_times : ndarray (q,)
        Increasing.
    vcov : ndarray (q, q)
        Analytic influence-function covariance :math:`S'S/n^2` (``S``: cluster sums of the influence functions).
    terms : tuple of str
        The table's term of each row.
    sensitivity_refusal : str or None
        Why these terms cannot enter a sensitivity analysis or a pre-trend power calculation (e.g. the imputation
        estimator, which has no pre-period terms estimated jointly with its post-period ones); None if they can.
        :meth:`Results.sensitivity` and :meth:`Results.pretrend_power` raise an EstimationError with this text.
    """

    estimates: np.ndarray = field(repr=False)
    event_times: np.ndarray
    vcov: np.ndarray = field(repr=False)
    terms: tuple[str, ...] = ()
    sensitivity_refusal: str | None = None


def _read_only(value: Any) -> Any:
    """``value`` with the arrays the estimation made inside it flagged read-only and its mappings wrapped read-only.

    Recurses into mappings, tuples and evalkit's own result dataclasses (the kept fit), never into other objects:
    the inference method and any object a caller handed in are settings, and a caller's objects are never changed.
    Arrays are flagged in place; they are the estimation's own copies (the caller's data are never handed down by
    reference).
    """
    if isinstance(value, np.ndarray):
        value.setflags(write=False)
        return value
    if isinstance(value, Mapping):
        return MappingProxyType({k: _read_only(v) for k, v in value.items()})
    if isinstance(value, tuple):
        return tuple(_read_only(v) for v in value)
    if dataclasses.is_dataclass(value) and type(value).__module__.startswith("evalkit.estimators"):
        for f in dataclasses.fields(value):
            frozen = _read_only(getattr(value, f.name))
            if frozen is not getattr(value, f.name):
                object.__setattr__(value, f.name, frozen)
    return value


def _freeze_fit(of: OutcomeFit) -> OutcomeFit:
    """A read-only ``OutcomeFit``: its fit, rows, clusters and inference payload (not its method: settings)."""
    _read_only(of.fit)
    for array in (of.rows, of.clusters):
        _read_only(array)
    return dataclasses.replace(of, inference=_read_only(dict(of.inference)))


def _frozen_frame(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out.flags.allows_duplicate_labels = False
    return out


@dataclass(frozen=True)
class Results:
    """Estimates for one or more outcomes from one design, estimator and inference method.

    Do not build one by hand: designs return it from ``estimate()``. Every accessor returns a copy, so a
    ``Results`` never changes after it is made; methods that change something (``adjust``) return a new one.

    Attributes
    ----------
    estimator : str
        The estimator's name.
    inference : str
        The inference method's name (e.g. ``"HC2"``).
    design : str
        A one-line description of the design (assignment, units, blocks, clusters).
    alpha : float
        One minus the confidence level of the intervals.
    notes : tuple of str
        Plain-language notes: defaults chosen, rows dropped, caveats.
    fits : Mapping[str, OutcomeFit]
        Per outcome, the fit and what inference left for joint corrections.
    provenance : Mapping
        What produced these results: evalkit, numpy and pandas versions, a hash of the design's data, the design
        and its assignment, the ``estimate()`` settings, the inference and its seed.
    """

    _table: pd.DataFrame = field(repr=False)
    estimator: str
    inference: str
    design: str
    alpha: float = 0.05
    _dropped: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=DROPPED_COLUMNS), repr=False)
    notes: tuple[str, ...] = ()
    fits: Mapping[str, OutcomeFit] = field(default_factory=dict, repr=False, compare=False)
    provenance: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_table", _frozen_frame(self._table))
        object.__setattr__(self, "_dropped", _frozen_frame(self._dropped))
        object.__setattr__(self, "fits", MappingProxyType({k: _freeze_fit(v) for k, v in dict(self.fits).items()}))
        object.__setattr__(self, "provenance", MappingProxyType(dict(self.provenance)))

    # ------------------------------------------------------------------ access
    def to_frame(self) -> pd.DataFrame:
        """One row per outcome (and term): a copy of the tidy results table."""
        return self._table.copy()

    @property
    def dropped(self) -> pd.DataFrame:
        """Rows left out: outcome, column, n_missing in that column, n_dropped, reason.

        Rows are left out for missing values (one record per column with missing values, all with the same
        ``n_dropped`` and ``reason``) or by a rule of the design, e.g. units without a pre-treatment period (one
        record per rule). Different reasons count different rows: an outcome's ``n_obs`` plus the ``n_dropped`` of
        its distinct reasons is the number of rows of the data (for designs whose ``n_obs`` counts rows).
        """
        return self._dropped.copy()

    @property
    def outcomes(self) -> tuple[str, ...]:
        """The outcomes, in the order estimated."""
        return tuple(self._table["outcome"])

    def __len__(self) -> int:
        return len(self._table)

    def __getitem__(self, outcome: str) -> pd.Series:
        """The row of one outcome, as a Series."""
        rows = self._table[self._table["outcome"] == outcome]
        if rows.empty:
            from evalkit.errors import DataError

            raise DataError(f"no results for outcome {outcome!r}; outcomes are {', '.join(map(repr, self.outcomes))}.")
        return rows.iloc[0].copy()

    # ------------------------------------------------------------------ every coefficient, covariance
    def _analytic(self, outcome: str) -> tuple[Any, Any, Any]:
        """The fit, the sandwich method and an inference context rebuilt from what the outcome's fit kept."""
        from evalkit.errors import DataError, InferenceError
        from evalkit.inference._base import InferenceContext

        if outcome not in self.fits:
            raise DataError(f"no fit for outcome {outcome!r}; outcomes are {', '.join(map(repr, self.fits))}.")
        of = self.fits[outcome]
        method = of.method
        if method is None or method.sandwich_type is None or not hasattr(method, "covariance"):
            name = getattr(method, "name", method)
            raise InferenceError(
                f"outcome {outcome!r} was estimated with inference {name!r}, which tests the effect only; the "
                "coefficients of every term and their covariance need a sandwich (e.g. inference='CR2' or 'HC2'). "
                "Re-estimate with one."
            )
        ctx = InferenceContext(alpha=self.alpha, clusters=of.clusters, correction=of.correction)
        return of.fit, method, ctx

    def coefficients(self, outcome: str) -> pd.DataFrame:
        """Every coefficient of an outcome's regression, with the reported (sandwich) inference.

        The table reports the effect; this gives the whole regression as the design fitted it (covariates, period
        effects, event-time terms; absorbed fixed effects are not coefficients), each with the standard error,
        t test, df and interval of the same covariance matrix and small-sample correction as the table.

        Parameters
        ----------
        outcome : str
            One of the estimated outcomes.

        Returns
        -------
        DataFrame
            One row per column of the design matrix: ``term``, ``estimate``, ``std_error``, ``statistic``,
            ``p_value``, ``conf_low``, ``conf_high``, ``df``. Centred/scaled internal bases are never shown: the
            coefficients are those of the model on the original columns.

        Raises
        ------
        InferenceError
            If the outcome's inference is not a sandwich (randomization inference or a bootstrap test the effect
            alone).
        """
        fit, method, ctx = self._analytic(outcome)
        outs = method.infer_terms(fit, ctx, list(range(len(fit.coef))))
        return pd.DataFrame(
            {
                "term": [str(t) for t in fit.term_names],
                "estimate": np.asarray(fit.coef, dtype=float),
                **{
                    col: [float(getattr(o, col)) for o in outs]
                    for col in ("std_error", "statistic", "p_value", "conf_low", "conf_high", "df")
                },
            }
        )

    def vcov(self, outcome: str, terms: str = "reported") -> pd.DataFrame:
        """Covariance matrix of an outcome's coefficients, from the reported sandwich.

        Parameters
        ----------
        outcome : str
            One of the estimated outcomes.
        terms : {"reported", "all"}
            ``"reported"``: the terms the results table reports for the outcome (the effect; every event time of an
            event study, in increasing event time); ``"all"``: every column of the design matrix (as
            :meth:`coefficients`). For Sun-Abraham, Callaway-Sant'Anna and imputation dynamic results the covariance
            of the event-time terms (``"event k"``; the aggregation of the sandwich, or the analytic
            influence-function covariance :math:`S'S/n^2` whatever the reported inference -- for the imputation
            estimator that of BJS's Theorem 3 conservative variance) and ``terms`` is ignored.

        Returns
        -------
        DataFrame
            Square, indexed and labelled by term name.
        """
        from evalkit._validation import check_option

        check_option("terms", terms, ("reported", "all"))
        kept = self.fits[outcome].fit if outcome in self.fits else None
        if isinstance(kept, EventTimeCovariance):  # influence-function event study: its event-time terms only
            return pd.DataFrame(np.array(kept.vcov, dtype=float), index=list(kept.terms), columns=list(kept.terms))
        fit, method, ctx = self._analytic(outcome)
        if terms == "all":
            idx = list(range(len(fit.coef)))
        else:
            idx = list(fit.event_columns) or [fit.target]
        V = method.covariance(fit, ctx, idx).vcov[np.ix_(idx, idx)]
        labels = [str(fit.term_names[j]) for j in idx]
        return pd.DataFrame(np.array(V, dtype=float), index=labels, columns=labels)

    # ------------------------------------------------------------------ sensitivity to parallel trends
    def _event_study(
        self, outcome: str | None, need_pre: bool = True
    ) -> tuple[str, np.ndarray, np.ndarray, np.ndarray, int]:
        """An event study's outcome, coefficients, covariance, event times and reference period.

        ``need_pre=False`` accepts an event study without pre-period coefficients (a baseline/endline panel: event
        times from 0, the reference -1 omitted)."""
        from evalkit.errors import EstimationError, OptionError

        if outcome is None:
            if len(set(self.outcomes)) != 1:
                raise OptionError(f"pass outcome=: these results have outcomes {', '.join(map(repr, self.fits))}.")
            outcome = self.outcomes[0]
        fit = self.fits[outcome].fit if outcome in self.fits else None
        if isinstance(fit, EventTimeCovariance):
            if fit.sensitivity_refusal is not None:
                raise EstimationError(f"outcome {outcome!r}: {fit.sensitivity_refusal}")
            beta, times, sigma = np.asarray(fit.estimates), np.asarray(fit.event_times), np.asarray(fit.vcov)
            return self._with_reference(outcome, beta, sigma, times, need_pre)
        if fit is None or not getattr(fit, "event_columns", ()):
            raise EstimationError(
                f"outcome {outcome!r} is not an event study with a kept fit (estimator {self.estimator!r}); "
                "sensitivity analysis needs the joint covariance of the event-time terms: estimate with "
                "DiffInDiff(...).estimate(..., estimator='event_study'), or call "
                "evalkit.inference.sensitivity.honest_sensitivity(betahat, sigma, num_pre) on your own."
            )
        sigma = self.vcov(outcome).to_numpy()
        times = np.asarray(fit.event_times, dtype=float)
        beta = np.asarray(fit.coef, dtype=float)[list(fit.event_columns)]
        return self._with_reference(outcome, beta, sigma, times, need_pre)

    @staticmethod
    def _with_reference(
        outcome: str, beta: np.ndarray, sigma: np.ndarray, times: np.ndarray, need_pre: bool = True
    ) -> tuple[str, np.ndarray, np.ndarray, np.ndarray, int]:
        from evalkit.errors import EstimationError

        gaps = np.flatnonzero(np.diff(times) != 1)
        if gaps.size == 0 and times.size and times[0] == 0:  # no pre-period coefficient: reference -1 only
            if need_pre:
                raise EstimationError(
                    f"outcome {outcome!r}: the event study has no pre-period coefficient (event times "
                    f"{times.astype(int).tolist()}, reference -1 omitted), e.g. a baseline/endline panel. "
                    "Relative magnitudes and smoothness (Rambachan and Roth 2023) and the pre-trend power (Roth "
                    "2022) learn how far parallel trends may fail from the pre-periods, so they need at least one "
                    "besides the reference: add earlier periods, or bound the post-period departure directly with "
                    "sensitivity(method='bounded', m=[...])."
                )
            return outcome, beta, sigma, times, -1
        if gaps.size != 1 or times[gaps[0] + 1] - times[gaps[0]] != 2:
            raise EstimationError(
                f"outcome {outcome!r}: the event times {times.astype(int).tolist()} must be consecutive except for "
                "one omitted reference period between the last pre-period and the first post-period; re-estimate "
                "with reference_period inside the window (e.g. -1) and without binned or dropped event times "
                "(Callaway-Sant'Anna: base_period='universal')."
            )
        return outcome, beta, sigma, times, int(times[gaps[0]] + 1)

    def sensitivity(
        self,
        method: str = "relative_magnitudes",
        *,
        mbar: Any = None,
        m: Any = None,
        outcome: str | None = None,
        e: int | str | None = None,
        l_vec: Any = None,
        alpha: float | None = None,
        interval: str = "C-LF",
        grid_points: int = 1000,
        sims: int = 1000,
        seed: int | None = 0,
    ) -> Any:
        """Rambachan and Roth (2023) robust intervals for an event study's effect when parallel trends may fail.

        Parameters
        ----------
        method : {"relative_magnitudes", "smoothness", "bounded"}
            Bound post-period departures from parallel trends by ``mbar`` times the largest pre-period one, or
            bound the change in slope of the differential trend by ``m`` per period, or bound the departure itself
            by ``m`` (outcome units) in every post period -- Manski and Pepper's bounded variation, the one method
            that needs no pre-period coefficient (a baseline/endline panel).
        mbar, m : float or sequence of float
            The values of ``Mbar`` / ``M`` (>= 0); defaults as HonestDiD (see
            :func:`evalkit.inference.sensitivity.honest_sensitivity`).
        outcome : str, optional
            Needed when the results hold several outcomes.
        e : int or "average", optional
            The target: the effect at event time ``e`` (default the first post period), or ``"average"``, the
            mean of the post-period effects. ``l_vec`` (weights on the post periods) overrides it.
        alpha : float, optional
            Default the results' ``alpha``.
        interval : {"C-LF", "Conditional"}
            For ``relative_magnitudes``: the hybrid (default) or the conditional ARP test.
        grid_points, sims, seed
            The grid of ``theta`` and the least-favourable simulation of ``relative_magnitudes``.

        Returns
        -------
        SensitivityResult
            ``to_frame()``, ``breakdown`` and ``plot()``.

        Notes
        -----
        Uses the event-time coefficients and :meth:`vcov` (the reported sandwich); pre-periods are the event
        times before the omitted reference period, post-periods those after it.
        """
        from evalkit._validation import check_option
        from evalkit.errors import OptionError
        from evalkit.inference.sensitivity import honest_sensitivity

        check_option("method", method, ("relative_magnitudes", "smoothness", "bounded"))
        check_option("interval", interval, ("C-LF", "Conditional"))
        wrong, right = ("m", "mbar") if method == "relative_magnitudes" else ("mbar", "m")
        if (m if wrong == "m" else mbar) is not None:
            raise OptionError(f"{wrong}= belongs to the other method; with method={method!r} pass {right}=.")
        _, beta, sigma, times, ref = self._event_study(outcome, need_pre=method != "bounded")
        pre, post = times[times < ref], times[times > ref]
        if l_vec is None:
            weights = np.zeros(post.size)
            if e is None:
                weights[0] = 1.0
            elif e == "average":
                weights[:] = 1.0 / post.size
            elif isinstance(e, int | np.integer) and e in post:
                weights[int(np.flatnonzero(post == e)[0])] = 1.0
            else:
                raise OptionError(
                    f"e={e!r} must be a post-period event time ({post.astype(int).tolist()}) or 'average'."
                )
            l_vec = weights
        return honest_sensitivity(
            beta,
            sigma,
            int(pre.size),
            method,  # type: ignore[arg-type]
            mbar if method == "relative_magnitudes" else m,
            l_vec=l_vec,
            alpha=self.alpha if alpha is None else alpha,
            interval=interval,  # type: ignore[arg-type]
            grid_points=grid_points,
            sims=sims,
            seed=seed,
        )

    def pretrend_power(self, outcome: str | None = None, slope: float | None = None, alpha: float | None = None) -> Any:
        """Roth (2022): power of the Wald pre-test of an event study's leads against a trend ``slope * t``.

        ``t`` is the event time relative to the omitted reference period. Returns a
        :class:`~evalkit.inference.sensitivity.PretrendPower` with the power at ``slope`` and the slopes the
        pre-test detects with 50% and 80% probability.
        """
        from evalkit.inference.sensitivity import pretrend_power

        _, _, sigma, times, ref = self._event_study(outcome)
        pre = times < ref
        return pretrend_power(
            sigma[np.ix_(pre, pre)], times[pre] - ref, slope=slope, alpha=self.alpha if alpha is None else alpha
        )

    # ------------------------------------------------------------------ corrections
    def adjust(
        self,
        method: AdjustMethod,
        within: Within | None = None,
        *,
        reps: int = 9_999,
        seed: int | np.random.SeedSequence | np.random.Generator | None = None,
        alpha: float | None = None,
    ) -> Results:
        """Correct the p-values for testing several outcomes; returns a new ``Results`` (this one is unchanged).

        Parameters
        ----------
        method : {"bonferroni", "holm", "bh", "by", "sharpened_q", "romano_wolf", "westfall_young"}
            Family-wise error control (``bonferroni``, ``holm``, ``romano_wolf``, ``westfall_young``) or false
            discovery rate control (``bh``, ``by``, ``sharpened_q``; the latter gives Anderson's (2008) sharpened
            q-values).
        within : {"domain"} or None
            ``"domain"`` forms one family per value of the ``domain`` column (``estimate(..., domains=...)``);
            None (default) treats all rows as one family.
        reps : int, default 9_999
            Bootstrap draws for ``romano_wolf`` / ``westfall_young`` after sandwich inference. After randomization
            inference the draws of that inference are reused and ``reps`` / ``seed`` are ignored.
        seed : int, SeedSequence or Generator, optional
            Randomness of the bootstrap; the same seed gives bit-identical adjusted p-values. None draws fresh
            entropy; the seed actually used is recorded in ``provenance["adjustment"]["seed"]`` (an int: pass it
            back as ``seed=`` to repeat the adjustment bit for bit). After randomization inference that entry is
            the randomization's seed.
        alpha : float, optional
            Level for the ``rejected`` column (``p_adjusted <= alpha``); default the results' ``alpha``.

        Returns
        -------
        Results
            A copy with columns ``p_adjusted`` (q-values for ``sharpened_q``), ``family``, ``adjustment`` and
            ``rejected``, and a note saying how they were computed.

        Notes
        -----
        The p-value methods are ``statsmodels.stats.multitest.multipletests`` (Bonferroni, Holm 1979,
        Benjamini–Hochberg 1995, Benjamini–Yekutieli 2001) and Anderson (2008, JASA 103(484):1481)'s grid search for
        the Benjamini–Krieger–Yekutieli (2006) two-stage procedure. The resampling methods — Romano & Wolf (2005)
        step-down max-|t| and Westfall & Young (1993) free step-down min-p — use one set of draws for all outcomes:
        the randomization inference's re-drawn assignments when there are any, otherwise a wild (cluster) bootstrap
        with the null imposed and Rademacher weights shared across outcomes by design row (or cluster); see
        :func:`evalkit.inference.multiple_testing.wild_bootstrap_null`.

        Rows without a p-value (NaN, e.g. a standard error the data cannot estimate) are left out of the p-value
        methods as in R's ``p.adjust``: the others are adjusted among themselves, those rows keep ``p_adjusted``
        NaN, and the note names them. The resampling methods need a statistic on every row and refuse, naming them.
        """
        from evalkit.errors import OptionError
        from evalkit.inference.multiple_testing import adjust_table

        level = self.alpha if alpha is None else alpha
        if not isinstance(level, int | float) or not 0 < level < 1:
            raise OptionError(f"alpha={alpha!r} must be between 0 and 1 (e.g. 0.05).")
        done = adjust_table(self._table, self.fits, method, within, reps=reps, seed=seed)
        table = self._table.copy()
        table["p_adjusted"] = done.p_adjusted
        table["family"] = done.family
        table["adjustment"] = done.method
        table["rejected"] = done.p_adjusted <= level
        notes = (*(n for n in self.notes if not n.startswith("p_adjusted:")), done.note)
        return Results(
            _table=table,
            estimator=self.estimator,
            inference=self.inference,
            design=self.design,
            alpha=self.alpha,
            _dropped=self._dropped,
            notes=notes,
            fits=dict(self.fits),
            provenance={
                **self.provenance,
                "adjustment": {
                    "method": method,
                    "within": within,
                    "reps": reps,
                    "seed": done.seed,  # the seed actually used (drawn when none was given); None if no draws
                },
            },
        )

    # ------------------------------------------------------------------ tables and figures
    def to_markdown(self, **options: Any) -> str:
        """A Markdown table; see :func:`evalkit.reporting.tables.to_markdown` for the options."""
        from evalkit.reporting.tables import to_markdown

        return to_markdown(self, **options)

    def to_latex(self, **options: Any) -> str:
        """A LaTeX (booktabs) table; see :func:`evalkit.reporting.tables.to_latex` for the options."""
        from evalkit.reporting.tables import to_latex

        return to_latex(self, **options)

    def to_html(self, **options: Any) -> str:
        """An HTML table; see :func:`evalkit.reporting.tables.to_html` for the options."""
        from evalkit.reporting.tables import to_html

        return to_html(self, **options)

    def plot(self, kind: str = "coefficients", **options: Any) -> Any:
        """Draw the results with matplotlib and return ``(fig, ax)``.

        ``kind="coefficients"`` (a forest plot across outcomes, :func:`evalkit.reporting.figures.coefficient_plot`),
        ``"event_study"`` (:func:`~evalkit.reporting.figures.event_study_plot`), ``"null_distribution"``
        (:func:`~evalkit.reporting.figures.null_distribution_plot`, after randomization inference) or
        ``"subgroups"`` (:func:`~evalkit.reporting.figures.subgroup_plot`, after ``trial.subgroups``).
        """
        from evalkit._validation import check_option
        from evalkit.reporting import figures

        check_option("kind", kind, ("coefficients", "event_study", "null_distribution", "subgroups"))
        draw = {
            "coefficients": figures.coefficient_plot,
            "event_study": figures.event_study_plot,
            "null_distribution": figures.null_distribution_plot,
            "subgroups": figures.subgroup_plot,
        }[kind]
        return draw(self, **options)

    # ------------------------------------------------------------------ display
    def summary(self, digits: int = 3) -> str:
        """A readable text table with the design, estimator, inference and notes."""
        cols = ["outcome", "estimate", "std_error", "p_value", "conf_low", "conf_high", "n_obs", "cohens_d"]
        if self._table["outcome"].duplicated().any():
            cols.insert(1, "term")
        if self._table["domain"].notna().any():
            cols.insert(1, "domain")
        if "p_adjusted" in self._table:
            cols.insert(cols.index("p_value") + 1, "p_adjusted")
        frame = self._table[[c for c in cols if c in self._table]].copy()
        level = f"{100 * (1 - self.alpha):g}%"
        head = [
            f"Design:     {self.design}",
            f"Estimator:  {self.estimator}",
            f"Inference:  {self.inference} ({level} intervals)",
            "",
            frame.to_string(index=False, float_format=lambda v: f"{v:.{digits}f}"),
        ]
        if len(self._dropped):
            head += ["", "Rows dropped:"]
            head += [
                f"  {r.outcome}: {r.n_dropped} row(s) ({r.reason})"
                for r in self._dropped.drop_duplicates(["outcome", "reason"]).itertuples()
            ]
        if self.notes:
            head += ["", "Notes:", *(f"  - {n}" for n in self.notes)]
        return "\n".join(head)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        cols = [
            c
            for c in (
                "outcome",
                "domain",
                "estimate",
                "std_error",
                "p_value",
                "conf_low",
                "conf_high",
                "n_obs",
            )
            if c in self._table and not (c == "domain" and self._table["domain"].isna().all())
        ]
        table = self._table[cols].to_html(index=False, float_format=lambda v: f"{v:.3f}", na_rep="")
        notes = "".join(f"<li>{_escape(n)}</li>" for n in self.notes)
        return (
            f"<div><p><b>Design:</b> {_escape(self.design)}<br><b>Estimator:</b> {_escape(self.estimator)}"
            f"<br><b>Inference:</b> {_escape(self.inference)}</p>{table}"
            + (f"<ul>{notes}</ul>" if notes else "")
            + "</div>"
        )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def empty_dropped() -> pd.DataFrame:
    """An empty dropped-rows table with the right columns."""
    return pd.DataFrame(
        {c: pd.Series(dtype=object if c in ("outcome", "column", "reason") else np.int64) for c in DROPPED_COLUMNS}
    )
