"""Randomized trials: complete, blocked, cluster and blocked-cluster designs."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd

from evalkit._boundary import as_pandas, code_treatment, known_keywords
from evalkit._validation import as_list, require_columns
from evalkit.designs._attrition import MissingCovariates
from evalkit.designs._bounds import trial_bounds
from evalkit.designs._outcomes import estimate_outcomes, is_template
from evalkit.designs._roles import (
    arms_in_every_group,
    check_column_names,
    encode_labels,
    read_treatment,
    read_weights,
    treatment_constant_within,
)
from evalkit.designs.assignment import NotRandomized, from_observed
from evalkit.diagnostics.attrition import AttritionTable, attrition_table
from evalkit.diagnostics.balance import BalanceTable, balance_table
from evalkit.diagnostics.diagnose import Diagnosis
from evalkit.errors import DataError, DesignError
from evalkit.estimators import EstimatorName
from evalkit.estimators.bounds import Bounds, BoundsInference, BoundsMethod
from evalkit.estimators.indices import IndexMethod, IndexReference, summary_index
from evalkit.inference.analytic import Sandwich
from evalkit.provenance import records_provenance
from evalkit.results import Results

__all__ = ["RandomizedTrial"]


class RandomizedTrial:
    """A randomized trial: data, the treatment column and how treatment was assigned.

    Parameters
    ----------
    data : DataFrame
        One row per unit (child, household). Copied; the caller's frame is never changed.
        Column names must be unique (duplicates raise a DataError naming them); a name may be text or any other
        hashable label, e.g. an integer, shown with ``str()`` in results and tables.
        A polars (or pyarrow, or any) frame with ``to_pandas()``, the Arrow stream or the dataframe interchange
        protocol is converted.
    treatment : str
        Column with the 0/1 (or False/True) assignment, or two labels with ``treated_value``.
    blocks : str, optional
        Column of blocks (strata) within which treatment was assigned.
    clusters : str, optional
        Column of clusters assigned as wholes (all units of a cluster share treatment).
    assignment : assignment spec, optional
        How treatment was assigned. Default: complete randomization within each block, clusters as units of
        assignment, with the observed number treated. ``ek.NotRandomized()`` states that it was not random:
        estimates are still computed but randomization-based inference refuses.
    weights : str, optional
        Column of analytic weights.
    treated_value : str, number or bool, optional
        For a treatment stored as labels (``"treatment"``/``"control"``, Stata value labels, a categorical): the
        label of the treated arm; the column must have exactly two values and is recoded 0/1 (the caller's frame
        is not changed). Not needed for 0/1 columns, nor for an ordered categorical with two levels (the later
        level is the treated arm).

    Examples
    --------
    >>> import evalkit as ek
    >>> trial = ek.RandomizedTrial(ek.datasets.load_casita(), treatment="treated")
    >>> res = trial.estimate("home_total", estimator="change", baseline="{outcome}_bl",
    ...                      covariates=["home_total_bl", "age_months", "female"])
    """

    @known_keywords
    def __init__(
        self,
        data: pd.DataFrame,
        treatment: str,
        *,
        blocks: str | None = None,
        clusters: str | None = None,
        assignment: object | None = None,
        weights: str | None = None,
        treated_value: object | None = None,
    ) -> None:
        data = as_pandas(data)
        if len(data) == 0:
            raise DataError("data has no rows.")
        check_column_names(data)
        self._data = code_treatment(data.copy(deep=True), treatment, treated_value)
        self.treatment = treatment
        self.blocks = blocks
        self.clusters = clusters
        self.weights = weights
        self._z = read_treatment(self._data, treatment)
        self._w = read_weights(self._data, weights)
        self._block_codes = self._block_labels = None
        self._cluster_codes = self._cluster_labels = None
        if clusters is not None:
            self._cluster_codes, self._cluster_labels = encode_labels(self._data, clusters, "clusters")
            if len(self._cluster_labels) < 2:
                raise DesignError(
                    f"clusters {clusters!r} has a single value ({self._cluster_labels[0]!r}); a cluster design "
                    "needs at least two clusters, one treated and one control. Drop clusters= if assignment was "
                    "individual."
                )
            treatment_constant_within(self._z, self._cluster_codes, self._cluster_labels, clusters)
        if blocks is not None:
            self._block_codes, self._block_labels = encode_labels(self._data, blocks, "blocks")
            arms_in_every_group(self._z, self._block_codes, self._block_labels, blocks)
        self._assignment_spec = assignment
        self._assignment = self._bind(assignment)

    @property
    def _roles(self) -> tuple[str, ...]:
        return tuple(c for c in (self.treatment, self.blocks, self.clusters, self.weights) if c is not None)

    def _bind(self, spec: object | None):
        blocks = None if self.blocks is None else self._data[self.blocks].to_numpy()
        clusters = None if self.clusters is None else self._data[self.clusters].to_numpy()
        observed = self._z.astype(bool)
        if spec is None:
            return from_observed(observed, blocks=blocks, clusters=clusters)
        if not hasattr(spec, "bind"):
            raise DesignError(
                f"assignment={spec!r} is not an assignment; use ek.CompleteRandomization(), "
                "ek.BlockRandomization(), ek.ClusterRandomization(), ek.BlockClusterRandomization() or "
                "ek.NotRandomized()."
            )
        bound = spec.bind(len(self._data), blocks=blocks, clusters=clusters, observed=observed, data=self._data)
        if not isinstance(spec, NotRandomized):
            bound.check(observed)
        return bound

    # ------------------------------------------------------------------ description
    @property
    def data(self) -> pd.DataFrame:
        """A copy of the design's data."""
        return self._data.copy()

    @property
    def assignment(self):
        """The assignment mechanism, bound to this trial's units."""
        return self._assignment

    @property
    def is_randomized(self) -> bool:
        """False when the assignment was declared ``NotRandomized``."""
        return self._assignment.method != "not randomized"

    @property
    def n_treated(self) -> int:
        """Number of treated rows."""
        return int(self._z.sum())

    @property
    def n_control(self) -> int:
        """Number of control rows."""
        return int(len(self._z) - self._z.sum())

    def describe(self) -> str:
        """One line: the assignment, the units, blocks and clusters."""
        parts = [
            f"randomized trial ({self._assignment.method})"
            if self.is_randomized
            else "comparison of treated and control units (assignment declared not randomized)"
        ]
        parts.append(f"{self.n_treated} treated / {self.n_control} control rows")
        if self.blocks is not None:
            parts.append(f"{len(self._block_labels)} blocks ({self.blocks})")
        if self.clusters is not None:
            n_treated_clusters = int(np.unique(self._cluster_codes[self._z == 1]).size)
            parts.append(f"{len(self._cluster_labels)} clusters ({self.clusters}; {n_treated_clusters} treated)")
        return ", ".join(parts)

    def __repr__(self) -> str:
        return f"RandomizedTrial({self.describe()})"

    # ------------------------------------------------------------------ analysis
    @known_keywords
    @records_provenance
    def estimate(
        self,
        outcomes: str | Sequence[str],
        *,
        estimator: EstimatorName = "difference_in_means",
        covariates: str | Sequence[str] | None = None,
        inference: object | None = None,
        baseline: str | Mapping[str, str] | None = None,
        domains: Mapping[str, str] | None = None,
        alpha: float = 0.05,
        moderators: str | Sequence[str] | None = None,
        take_up: str | None = None,
        attrition_weights: str | Sequence[str] | None = None,
        missing_covariates: MissingCovariates = "listwise",
    ) -> Results:
        """Estimate the average treatment effect on one or more outcomes (or, with ``take_up``, the complier effect).

        Parameters
        ----------
        outcomes : str or list of str
            Outcome columns; each is analysed on its own complete cases.
        estimator : {"difference_in_means", "ols", "lin", "change", "iv"}
            ``difference_in_means`` (block-size weighted within blocks), ``ols`` (ANCOVA, block fixed effects),
            ``lin`` (Lin 2013, treatment interacted with centred covariates and blocks), ``change`` (ANCOVA on the
            change from baseline; needs ``baseline``) or ``iv`` (non-compliance: 2SLS with the design's treatment,
            the assignment, as the instrument for ``take_up``; covariates and block fixed effects in both stages,
            see :func:`evalkit.estimators.iv.two_stage_least_squares`).
        covariates : str or list of str, optional
            Numeric pre-treatment covariates. A name containing ``{outcome}`` is a template filled in per
            outcome, e.g. ``"{outcome}_bl"`` adjusts each outcome for its own baseline value.
        inference : str or inference object, optional
            ``"classical"``, ``"HC0"``..``"HC3"``, ``"CR0"``..``"CR2"``, or an object from
            :mod:`evalkit.inference`. Default HC2, or CR2 with Bell–McCaffrey degrees of freedom when clustered
            (the difference in means without blocks, clusters or weights uses Welch–Satterthwaite df, as
            ``estimatr::difference_in_means``; see :func:`evalkit.estimators.difference_in_means`). Weighted CR2
            uses the identity working model, as estimatr and clubSandwich; ``Sandwich("CR2",
            working_model="inverse_variance")`` for the other.
        baseline : str or mapping, optional
            For ``estimator="change"``: a template such as ``"{outcome}_bl"``, a column name (one outcome), or a
            mapping outcome -> baseline column.
        domains : mapping, optional
            Outcome -> domain label, copied to the ``domain`` column of the results.
        alpha : float
            One minus the confidence level.
        moderators : str or list of str, optional
            Pre-treatment columns the effect may vary with (``estimator="ols"``, ``"lin"`` or ``"change"``). Each
            enters centred at its sample mean, with its main effect and its interaction with treatment; the
            treatment row stays the average effect, and a row ``"<treatment>:<moderator>"`` per moderator gives how
            the effect changes per unit of it, with its standard error. A text or categorical moderator expands to
            its levels: rows ``"<treatment>:<moderator>[<level>]"``, each the difference between that level's effect
            and the first level's. Columns ``heterogeneity_F`` / ``heterogeneity_p`` hold the joint test that every
            interaction is zero (the method's Wald test, e.g. Hotelling's T2 with Bell-McCaffrey df for CR2; also
            in ``results.fits[outcome].inference["heterogeneity_test"]``). With ``"lin"``, whose covariates are
            already centred and interacted, a moderator is one more covariate of Lin's regression whose
            interaction is reported. Randomization inference re-draws treatment and rebuilds the interactions.
        take_up : str, optional
            With ``estimator="iv"`` (required there, refused otherwise): the column of the treatment actually
            received (0/1, or a numeric dose). The row's ``term`` is this column and its estimate the complier
            average causal effect (``estimand`` = ``"CACE (2SLS)"``), with the sandwich of ``estimatr::iv_robust``
            (HC2, or CR2 with Bell-McCaffrey df when clustered). The same row carries the intention-to-treat effect
            (``itt``, ``itt_std_error``, ``itt_p_value``, ``itt_conf_low``, ``itt_conf_high``), the first stage
            (``first_stage``: the compliance rate, ``first_stage_std_error``, ``first_stage_f``), the
            Anderson-Rubin set (``ar_conf_low``, ``ar_conf_high``, ``ar_set``; valid however weak compliance is),
            the take-up rates by arm and ``one_sided`` (no control took up; a note says so).
            ``RandomizationInference`` tests the sharp null of no effect of assignment on the reduced form.
            Passing the assignment column as ``take_up`` is refused: the design's ``treatment`` must be the
            assignment.
        attrition_weights : str or list of str, optional
            Baseline covariates of a response model: a logit of "outcome observed" on treatment and these columns,
            fitted on every row with the covariates (rows missing the outcome included, as non-respondents), weights
            each respondent by :math:`1/\\hat p` (times ``weights``). The estimator runs with those weights and
            the sandwich standard errors account for their estimation (a two-step M-estimation correction,
            :func:`evalkit.inference.estimated_weights.estimated_weights_adjustment`). Consistent when outcomes are
            missing at random given treatment and these covariates. Sandwich inference only.
        missing_covariates : {"listwise", "indicator"}, default "listwise"
            Rows with a missing covariate (``covariates`` and ``attrition_weights``) are dropped and reported
            (``"listwise"``), or kept with the value set to the column's mean over all rows and a
            ``<covariate>_missing`` indicator added (``"indicator"``, reported in the notes).

        Returns
        -------
        Results

        Notes
        -----
        A covariate that is zero for every control unit and varies among the treated (a hand-made
        ``treated_x_female``) is an interaction with treatment: it turns the treatment row into the effect where it
        is zero. evalkit warns, adds a note and points to ``moderators=``.
        """
        outcome_list = as_list(outcomes)
        moderator_list = as_list(moderators)
        require_columns(self._data, moderator_list, "moderator")
        if not outcome_list:
            raise DataError("no outcomes given; pass a column name or a list of column names.")
        covariate_list = as_list(covariates)
        require_columns(self._data, outcome_list, "outcome")
        require_columns(self._data, [c for c in covariate_list if not is_template(c)], "covariate")
        return estimate_outcomes(
            self._data,
            outcome_list,
            treatment=self._z,
            treatment_name=self.treatment,
            estimator=estimator,
            covariates=covariate_list,
            baseline=baseline,
            domains=domains,
            inference=inference,
            default_inference=self._default_inference,
            alpha=alpha,
            block_codes=self._block_codes,
            block_labels=self._block_labels,
            block_column=self.blocks,
            cluster_codes=self._cluster_codes,
            weights=self._w,
            draw=self._assignment.draw if self.is_randomized else None,
            enumerate_all=self._assignment.enumerate if self.is_randomized else None,
            count=self._assignment.count if self.is_randomized else None,
            design=self.describe(),
            roles=self._roles,
            moderators=moderator_list,
            take_up=take_up,
            attrition_weights=as_list(attrition_weights),
            missing_covariates=missing_covariates,
            notes=()
            if self.is_randomized
            else (
                "Assignment declared not randomized: the estimates compare treated and control units and rest on "
                "the assumption that they are comparable given the covariates; randomization inference is "
                "unavailable.",
            ),
        )

    @known_keywords
    @records_provenance
    def subgroups(
        self,
        outcomes: str | Sequence[str],
        *,
        by: str,
        estimator: EstimatorName = "difference_in_means",
        covariates: str | Sequence[str] | None = None,
        inference: object | None = None,
        baseline: str | Mapping[str, str] | None = None,
        alpha: float = 0.05,
    ) -> Results:
        """Effects by subgroup: one row per outcome and level of ``by``, and a test that they are all equal.

        Each subgroup is analysed as a trial of its own, the design restricted to its rows: the same treatment,
        blocks, clusters, weights, estimator, covariates and inference (see :meth:`estimate`). A subgroup without
        treated or without control units, or whose blocks lose an arm, is refused with its name.

        Parameters
        ----------
        outcomes : str or list of str
            Outcome columns.
        by : str
            A pre-treatment column whose levels define the subgroups (rows with a missing value are in no subgroup
            and are reported in ``Results.dropped``). Levels are sorted, or in category order for a categorical.
        estimator, covariates, inference, baseline, alpha
            As for :meth:`estimate`.

        Returns
        -------
        Results
            Rows with ``term`` ``"<by>=<level>"`` and columns ``by`` and ``subgroup`` (the level); every row of an
            outcome carries the test of equal effects, ``equality_chi2``, ``equality_df``, ``equality_p``, also
            stated in the notes (and so under every table). ``results.adjust("holm")`` (or ``"bh"``, ...) corrects
            across subgroups and outcomes; ``results.plot("subgroups")`` draws the forest plot.

        Notes
        -----
        The test of equal effects is the Wald test of independent estimates, :math:`W = \\sum_g w_g(\\hat\\tau_g -
        \\bar\\tau_w)^2`, :math:`w_g = 1/se_g^2`, on :math:`\\chi^2_{G-1}` (for two subgroups
        :math:`(\\hat\\tau_1-\\hat\\tau_2)^2/(se_1^2+se_2^2)`; see :func:`evalkit.designs.subgroups.equality_test`).
        Subgroups sharing no cluster are independent; when a cluster has units in two subgroups the test is not
        reported (NaN, with a note) and ``estimate(..., moderators=[by])`` is the test to use. Randomization
        inference within a subgroup re-draws treatment by complete randomization within its blocks (clusters as
        units) holding its numbers treated: the design conditional on the subgroup's counts, valid when ``by`` is
        a pre-treatment characteristic.

        Examples
        --------
        >>> import evalkit as ek
        >>> trial = ek.RandomizedTrial(ek.datasets.load_casita(), treatment="treated")
        >>> res = trial.subgroups("home_total", by="female")
        """
        from evalkit.designs.subgroups import estimate_subgroups

        outcome_list = as_list(outcomes)
        if not outcome_list:
            raise DataError("no outcomes given; pass a column name or a list of column names.")
        require_columns(self._data, [by], "subgroup (by=)")
        return estimate_subgroups(
            self,
            outcome_list,
            by,
            estimate_options={
                "estimator": estimator,
                "covariates": covariates,
                "inference": inference,
                "baseline": baseline,
            },
            alpha=alpha,
        )

    def _default_inference(self) -> tuple[Sandwich, str]:
        """The trial's default inference, stated once: HC2, or CR2 when clustered (``estimatr::lm_robust``)."""
        if self._cluster_codes is not None:
            return Sandwich(
                "CR2"
            ), "Inference defaulted to CR2 with Bell-McCaffrey degrees of freedom (clustered design)."
        return Sandwich("HC2"), (
            "Inference defaulted to HC2, as estimatr: Welch-Satterthwaite degrees of freedom for the unblocked "
            "difference in means, n - k otherwise."
        )

    @known_keywords
    def bounds(
        self,
        outcome: str,
        *,
        method: BoundsMethod = "lee",
        tighten_by: str | Sequence[str] | None = None,
        support: tuple[float, float] | None = None,
        inference: BoundsInference | None = None,
        reps: int = 999,
        seed: object = None,
        alpha: float = 0.05,
    ) -> Bounds:
        """Bounds on the effect on an outcome with missing values (attrition), with confidence intervals.

        Parameters
        ----------
        outcome : str
            The outcome column; missing values are the attrition being bounded.
        method : {"lee", "manski"}
            ``"lee"``: Lee (2009) trimming bounds on the effect for units observed in either arm (trims the arm
            with the higher response rate); ``"manski"``: worst-case bounds on the average effect for a bounded
            outcome (needs ``support``).
        tighten_by : str or list of str, optional
            Discrete baseline covariates (Lee only): bounds are computed within their cells and averaged, which
            narrows them. Blocks are always cells.
        support : (lo, hi), optional
            The outcome's logical range (Manski only).
        inference : {"analytic", "bootstrap"}, optional
            Lee only. Default ``"analytic"`` (Lee's Proposition 3) without blocks, ``tighten_by`` and clusters, the
            bootstrap otherwise (resampling units, or whole clusters, within arm and block). Manski bounds use the
            design's own difference in means and its default standard errors (HC2, CR2 when clustered).
        reps : int, default 999
            Bootstrap replications.
        seed : int, SeedSequence, Generator or None
            The bootstrap's random stream; recorded on the result.
        alpha : float
            One minus the confidence level.

        Returns
        -------
        Bounds
            ``lower``, ``upper``, the Imbens-Manski interval ``conf_low``/``conf_high``, ``trim_share``, each
            bound's own interval and the interval for the identified set; ``to_frame()`` gives one tidy row.

        See :func:`evalkit.estimators.bounds.lee_bounds` for the formulas and references.
        """
        return trial_bounds(
            self,
            outcome,
            method=method,
            tighten_by=tighten_by,
            support=support,
            inference=inference,
            reps=reps,
            seed=seed,
            alpha=alpha,
        )

    @known_keywords
    def balance(self, covariates: str | Sequence[str], *, alpha: float = 0.05) -> BalanceTable:
        """Baseline balance of covariates between arms: means, differences, standardized differences, tests.

        See :func:`evalkit.diagnostics.balance.balance_table`.
        """
        covariate_list = as_list(covariates)
        require_columns(self._data, covariate_list, "covariate")
        if roles := [c for c in covariate_list if c in self._roles]:
            raise DataError(
                f"column(s) {', '.join(map(repr, roles))} are roles of the design (treatment, blocks, clusters or "
                "weights), not covariates to balance."
            )
        return balance_table(
            self._data,
            covariate_list,
            treatment=self._z,
            block_codes=self._block_codes,
            cluster_codes=self._cluster_codes,
            alpha=alpha,
            block_labels=self._block_labels,
        )

    @known_keywords
    def attrition(
        self, outcomes: str | Sequence[str], *, covariates: str | Sequence[str] | None = None
    ) -> AttritionTable:
        """Missing outcomes by arm, a test of differential attrition and, with covariates, balance among retained.

        See :func:`evalkit.diagnostics.attrition.attrition_table`.
        """
        outcome_list, covariate_list = as_list(outcomes), as_list(covariates)
        require_columns(self._data, outcome_list, "outcome")
        require_columns(self._data, covariate_list, "covariate")
        return attrition_table(
            self._data,
            outcome_list,
            treatment=self._z,
            covariates=covariate_list or None,
            block_codes=self._block_codes,
            cluster_codes=self._cluster_codes,
            block_labels=self._block_labels,
        )

    @known_keywords
    def with_index(
        self,
        name: str,
        outcomes: Sequence[str],
        *,
        method: IndexMethod = "anderson",
        higher_is_better: bool | Mapping[str, bool] = True,
        reference: IndexReference = "control",
    ) -> RandomizedTrial:
        """A new trial whose data carry a summary index of ``outcomes`` as column ``name``.

        The index is an outcome like any other: ``trial.with_index("easq_index", domains).estimate("easq_index")``.
        This trial is unchanged. See :func:`evalkit.estimators.indices.summary_index` (Anderson 2008 inverse-
        covariance weights, or the Kling, Liebman & Katz 2007 mean of standardized outcomes).

        Raises
        ------
        DataError
            If ``name`` is already a column.
        """
        if name in self._data.columns:
            raise DataError(f"column {name!r} already exists; choose another name for the index.")
        outcomes = as_list(outcomes)
        require_columns(self._data, outcomes, "index component")
        index = summary_index(
            self._data,
            list(outcomes),
            treatment=self.treatment,
            method=method,
            higher_is_better=higher_is_better,
            reference=reference,
            name=name,
        )
        data = self._data.copy()
        data[name] = index.to_numpy()  # not DataFrame.assign(**...): a column name need not be text
        return RandomizedTrial(
            data,
            self.treatment,
            blocks=self.blocks,
            clusters=self.clusters,
            assignment=self._assignment_spec,
            weights=self.weights,
        )

    @known_keywords
    def diagnose(
        self,
        outcome: str | Callable[[pd.DataFrame, np.random.Generator], object],
        *,
        effect: float | Callable[[pd.DataFrame], object] = 0.0,
        sims: int = 1_000,
        seed: int | np.random.SeedSequence | None = None,
        client: object | None = None,
        estimator: EstimatorName = "difference_in_means",
        covariates: str | Sequence[str] | None = None,
        inference: object | None = None,
        baseline: str | None = None,
        alpha: float = 0.05,
        engine: Literal["auto", "batched", "loop"] = "auto",
        task_size: int | None = None,
        progress: bool | None = None,
    ) -> Diagnosis:
        """Diagnose the declared design by simulation: bias, RMSE, power, coverage, type-I error, SE/SD ratio.

        Each simulation re-draws treatment with this trial's assignment, builds the observed outcome
        :math:`y = y(0) + \\tau Z^*` and runs the same estimator and inference as :meth:`estimate` (randomization
        inference and the wild bootstrap get a seed spawned per simulation).

        Parameters
        ----------
        outcome : str or callable
            The control potential outcomes :math:`y(0)`: a column (held fixed, the sharp null), or a function
            ``outcome(data, rng) -> array`` drawing them anew in every simulation (a superpopulation).
        effect : float or callable
            The effect :math:`\\tau_i`: a constant, or ``effect(data) -> array`` (one per row). The estimand is
            its mean over the estimation sample (weighted with the design's weights).
        sims, seed : int
            Number of simulations and root seed (task ``k`` uses the ``k``-th ``SeedSequence`` spawned from it).
        client : dask.distributed.Client, optional
            Run the simulations on the client's workers; the numbers are identical to ``client=None``.
        estimator, covariates, inference, baseline, alpha
            As in :meth:`estimate`.
        engine : {"auto", "batched", "loop"}
            ``"batched"`` fits each task's assignments as one stack (constant effect, difference in means / ols /
            lin, non-clustered sandwich); ``"loop"`` runs :meth:`estimate`'s path per simulation; ``"auto"`` picks
            the batched engine when it applies.
        task_size : int, optional
            Simulations per task (default 100); it fixes the random streams.
        progress : bool, optional
            Progress bar; None shows it when interactive and long.

        Returns
        -------
        Diagnosis
            See :class:`evalkit.diagnostics.diagnose.Diagnosis` for the diagnosands and their Monte Carlo SEs.
        """
        from evalkit.designs._simulate import diagnose_trial

        settings = dict(locals())
        del settings["self"], settings["diagnose_trial"]
        return diagnose_trial(self, **settings)

    @known_keywords
    def draw_assignment(self, seed: int | np.random.SeedSequence) -> pd.Series:
        """A new assignment drawn from the design's mechanism, as a 0/1 Series aligned with the data.

        Raises
        ------
        DesignError
            When the assignment was declared not randomized.
        """
        rng = np.random.default_rng(seed)
        draw = self._assignment.draw(rng, 1)[0]
        return pd.Series(draw.astype(np.int64), index=self._data.index, name=self.treatment)
