"""Rerandomization: assignments drawn from a base design and kept only when the covariates are balanced.

:class:`Rerandomization` wraps a base spec (:class:`~evalkit.designs.assignment.CompleteRandomization`,
:class:`~evalkit.designs.assignment.BlockRandomization`, :class:`~evalkit.designs.assignment.ClusterRandomization`
or :class:`~evalkit.designs.assignment.BlockClusterRandomization`) and a list of baseline covariates. An assignment
of the base design is *acceptable* when the Mahalanobis distance :math:`M` between the covariate means of the
treated and control arms is at most a threshold :math:`a`; the rerandomized design is the base design restricted to
acceptable assignments, each equally likely (Morgan & Rubin 2012). Binding the spec to a data set gives a
:class:`BoundRerandomization`, which has the interface of :class:`~evalkit.designs.assignment.BoundAssignment`
(``draw``, ``enumerate``, ``count``, ``probabilities``, ``check``, ``generate``), so that
:meth:`~evalkit.RandomizedTrial.draw_assignment` and randomization inference re-draw from the restricted design.

Notes
-----
**The distance.** Let the units of assignment (observations, or clusters) be :math:`u = 1..N` in blocks
:math:`b` with :math:`N_b` units of which :math:`n_b` are treated, :math:`w_b = N_b / N`, and let :math:`x_u` be
the :math:`k` covariates of unit :math:`u` (for a cluster: the unweighted mean of its observations). The balance
statistic is the block-weighted difference in covariate means and :math:`V` its exact covariance over the base
design,

.. math::

    \\hat\\tau_x = \\sum_b w_b (\\bar x_{T,b} - \\bar x_{C,b}), \\qquad
    V = \\sum_b w_b^2 \\Big(\\frac{1}{n_b} + \\frac{1}{N_b - n_b}\\Big) S_b, \\qquad
    M = \\hat\\tau_x^\\top V^{-1} \\hat\\tau_x,

where :math:`S_b` is the sample covariance (divisor :math:`N_b - 1`) of the covariates in block :math:`b`. With one
block this is Morgan & Rubin's (2012, eq. 3.1)
:math:`M = N p (1 - p) (\\bar x_T - \\bar x_C)^\\top S^{-1} (\\bar x_T - \\bar x_C)`, :math:`p = n / N`; with blocks
it is the overall Mahalanobis distance of stratified rerandomization (Wang, Wang & Liu 2023, sec. 3). Because
:math:`V` is the exact covariance of :math:`\\hat\\tau_x` over the base design, :math:`E[M] = k` exactly, and
:math:`M` is asymptotically :math:`\\chi^2_k` (Morgan & Rubin 2012, Theorem 3.1), so the threshold
:math:`a = \\chi^2_{k}(p_a)`, the :math:`p_a` quantile, accepts a share close to :math:`p_a` of the base
assignments.

**Cluster designs** use cluster-level covariate means, clusters counting equally: the clusters are the units of
assignment, and the distance is that of the clusters' means (not of the observations), so that the
:math:`\\chi^2_k` approximation holds as the number of clusters grows. For observation-weighted balance, give a
covariate already aggregated as you want it (e.g. cluster totals) -- it is averaged within clusters unchanged.

**Computation.** Centering the covariates within blocks makes :math:`\\hat\\tau_x` linear in the treatment
indicator: :math:`\\hat\\tau_x = \\sum_u z_u \\lambda_u \\tilde x_u` with
:math:`\\lambda_u = w_b N_b / (n_b (N_b - n_b))`. With the Cholesky factor :math:`V = L L^\\top` and
:math:`B = L^{-1} (\\lambda \\tilde x)^\\top`, the distances of a batch of assignments :math:`Z` (draws by units) are
the row sums of squares of :math:`Z B^\\top`: one matrix product per batch. An assignment is accepted when
:math:`M \\le a (1 + 10^{-9})` (the small relative tolerance keeps an assignment at the threshold from flipping
with rounding); every method uses the same test.

References
----------
Morgan, K. L. and Rubin, D. B. (2012). Rerandomization to improve covariate balance in experiments. *Annals of
Statistics* 40(2), 1263-1282.

Wang, X., Wang, T. and Liu, H. (2023). Rerandomization in stratified randomized experiments. *Journal of the
American Statistical Association* 118(542), 1295-1304.

Li, X., Ding, P. and Rubin, D. B. (2018). Asymptotic theory of rerandomization in treatment-control experiments.
*PNAS* 115(37), 9157-9162.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import linalg, stats

from evalkit._validation import check_option, require_columns, to_float_array
from evalkit.designs.assignment._base import as_binary, is_int, readonly, seed_sequence
from evalkit.designs.assignment.bound import AssignmentRecord, BoundAssignment, GeneratedAssignment
from evalkit.designs.assignment.not_randomized import NotRandomized
from evalkit.designs.assignment.spec import AssignmentSpec
from evalkit.errors import DataError, DesignError, OptionError

__all__ = ["BoundRerandomization", "Criterion", "Rerandomization", "RerandomizationRecord"]

Criterion = Literal["mahalanobis"]

EXACT_LIMIT = 10**6
"""Largest base design (number of assignments) that is enumerated and filtered."""

MC_DRAWS = 10_000
"""Acceptable assignments drawn to estimate :meth:`BoundRerandomization.probabilities` of a large design."""

MC_SEED = 20120801
"""Seed of those draws (fixed, so that ``probabilities()`` is reproducible)."""

_REL_TOL = 1e-9
_BATCH_CELLS = 2**21  # draws x units per batch: 2 MB of bools, 16 MB of float64
_CHUNK_CELLS = 2**21


# ----------------------------------------------------------------------------------------------------
# spec
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rerandomization(AssignmentSpec):
    """Rerandomization (Morgan & Rubin 2012): base-design assignments accepted only when covariates balance.

    Parameters
    ----------
    base : AssignmentSpec
        The design assignments are drawn from: :class:`CompleteRandomization`, :class:`BlockRandomization`,
        :class:`ClusterRandomization` or :class:`BlockClusterRandomization`, with a fixed number treated per
        block (``n_treated``, or taken from the observed treatment; a ``share`` must give whole numbers).
    covariates : sequence of str
        Numeric baseline columns to balance (one name is accepted as a string).
    criterion : {"mahalanobis"}
        Balance criterion; the Mahalanobis distance of the covariate means (see the module Notes).
    threshold : float, optional
        Largest acceptable distance :math:`a`. Takes precedence over ``acceptance``, which is then set to the
        asymptotic acceptance probability :math:`\\Pr(\\chi^2_k \\le a)`.
    acceptance : float, optional
        Asymptotic share of base assignments to accept, strictly between 0 and 1 (default 0.1); used when
        ``threshold`` is None to set :math:`a = \\chi^2_k(\\text{acceptance})`, the quantile of the chi-square
        distribution with :math:`k` = number of covariates degrees of freedom.
    max_draws : int
        Most base assignments one call to ``draw`` (or ``generate``) may examine; a design that accepts too few
        stops with a :class:`~evalkit.errors.DesignError` reporting the observed acceptance rate. Randomization
        inference with ``reps`` re-draws needs about ``reps / acceptance`` base draws.

    Notes
    -----
    After construction both ``threshold`` and ``acceptance`` hold values: the one given and the one implied by
    :math:`M \\sim \\chi^2_k` (Morgan & Rubin 2012, Theorem 3.1). The real acceptance rate of a finite design
    differs a little; :meth:`BoundRerandomization.count` gives it exactly for small designs.

    Examples
    --------
    >>> import evalkit as ek
    >>> spec = Rerandomization(ek.CompleteRandomization(n_treated=41), ["age_months", "female"], acceptance=0.05)
    >>> round(spec.threshold, 4)
    0.1026
    """

    base: AssignmentSpec
    covariates: Sequence[str]
    _: KW_ONLY
    criterion: Criterion = "mahalanobis"
    threshold: float | None = None
    acceptance: float | None = 0.1
    max_draws: int = 1_000_000

    def __post_init__(self) -> None:
        base = self.base
        if not isinstance(base, AssignmentSpec):
            raise OptionError(
                f"base={base!r} is not an assignment spec; use e.g. ek.CompleteRandomization(n_treated=...), "
                "ek.BlockRandomization(), ek.ClusterRandomization() or ek.BlockClusterRandomization()."
            )
        if isinstance(base, NotRandomized):
            raise DesignError(
                "base=NotRandomized() cannot be rerandomized: rerandomization draws from a random assignment; "
                "state the base design, e.g. ek.CompleteRandomization()."
            )
        if isinstance(base, Rerandomization):
            raise DesignError(
                "base is already a Rerandomization; list all covariates in one Rerandomization(base, covariates) "
                "instead of nesting them."
            )
        covariates = (self.covariates,) if isinstance(self.covariates, str) else self.covariates
        try:
            covariates = tuple(covariates)
        except TypeError:
            raise OptionError(
                f"covariates={self.covariates!r} must be a list of column names, e.g. ['age_months', 'female']."
            ) from None
        if not covariates:
            raise OptionError("covariates is empty; name at least one baseline column to balance.")
        bad = [c for c in covariates if isinstance(c, bool | bytes) or not isinstance(c, Hashable)]
        if bad:
            raise OptionError(
                f"covariates must be column names (text, or numbers for unnamed columns); got {bad[0]!r}."
            )
        dupes = list(dict.fromkeys(c for c in covariates if covariates.count(c) > 1))
        if dupes:
            raise OptionError(f"covariate {dupes[0]!r} is listed twice; name each column once.")
        object.__setattr__(self, "covariates", covariates)
        check_option("criterion", self.criterion, Criterion)
        if not is_int(self.max_draws) or self.max_draws < 1:
            raise OptionError(f"max_draws={self.max_draws!r} must be a positive int, e.g. max_draws=1_000_000.")
        object.__setattr__(self, "max_draws", int(self.max_draws))
        k = len(covariates)
        if self.threshold is not None:
            a = _number(self.threshold, "threshold")
            if not (math.isfinite(a) and a > 0):
                raise OptionError(
                    f"threshold={self.threshold!r} must be a positive finite number (a Mahalanobis distance), "
                    f"e.g. threshold={stats.chi2.ppf(0.1, k):.3g} accepts about 10% with {k} covariate(s)."
                )
            object.__setattr__(self, "threshold", a)
            object.__setattr__(self, "acceptance", float(stats.chi2.cdf(a, k)))
        elif self.acceptance is not None:
            p = _number(self.acceptance, "acceptance")
            if not (0.0 < p < 1.0):
                raise OptionError(
                    f"acceptance={self.acceptance!r} must be strictly between 0 and 1 (the share of base "
                    "assignments to accept), e.g. acceptance=0.1."
                )
            object.__setattr__(self, "acceptance", p)
            object.__setattr__(self, "threshold", float(stats.chi2.ppf(p, k)))
        else:
            raise OptionError(
                "give threshold=... (largest acceptable Mahalanobis distance) or acceptance=... (share of base "
                "assignments to accept, e.g. 0.1); both are None."
            )

    # ---- what the generic code reads from a spec ----

    @property
    def method(self) -> str:  # type: ignore[override]
        """``"rerandomized "`` followed by the base method, e.g. ``"rerandomized blocked"``."""
        return f"rerandomized {self.base.method}"

    def _n_treated(self) -> int | Mapping[Hashable, int] | None:
        return self.base._n_treated()

    def _share(self) -> float | None:
        return self.base._share()

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.base, self.covariates, self.criterion, self.threshold, self.max_draws))

    def bind(  # type: ignore[override]
        self,
        n_obs: int | None = None,
        *,
        blocks: ArrayLike | None = None,
        clusters: ArrayLike | None = None,
        observed: ArrayLike | None = None,
        data: pd.DataFrame | None = None,
    ) -> BoundRerandomization:
        """Join the spec to a data set: bind the base, read the covariates, prepare the distance.

        Parameters
        ----------
        n_obs, blocks, clusters, observed
            As for :meth:`AssignmentSpec.bind` (passed to the base spec).
        data : pandas.DataFrame
            The design's data, one row per observation in the same order as ``blocks``/``clusters``/``observed``;
            must hold the covariate columns, numeric and without missing values. Not changed.

        Returns
        -------
        BoundRerandomization

        Raises
        ------
        DesignError
            If ``data`` is missing, the base draws a random number treated (a ``share`` that does not give
            whole numbers), a covariate does not vary within blocks or the covariates are collinear, or
            ``observed`` does not satisfy the criterion.
        DataError, ColumnNotFoundError
            If a covariate is missing from ``data``, not numeric or has missing values, or ``data`` has the
            wrong number of rows.
        """
        if data is None:
            raise DesignError(
                f"Rerandomization balances covariates {', '.join(map(repr, self.covariates))}, so bind needs the "
                "data: pass data=... (the DataFrame with those columns, one row per observation)."
            )
        base = self.base.bind(n_obs, blocks=blocks, clusters=clusters, observed=observed, data=data)
        if not base.has_fixed_counts:
            raise DesignError(
                f"rerandomization needs a fixed number treated in every block, but the base "
                f"{type(self.base).__name__}(share={self.base._share():g}) rounds it at random; state n_treated "
                "(per block) instead."
            )
        require_columns(data, list(self.covariates), role="covariate")
        if len(data) != base.n_obs:
            raise DataError(
                f"data has {len(data)} rows but the design has {base.n_obs} observations; pass the design's data."
            )
        x = to_float_array(data, list(self.covariates), role="covariate")
        missing = np.isnan(x)
        if missing.any():
            j = int(np.flatnonzero(missing.any(axis=0))[0])
            rows = np.flatnonzero(missing[:, j])
            raise DataError(
                f"covariate {self.covariates[j]!r} has {rows.size} missing value(s) (first in row "
                f"{data.index[rows[0]]!r}); rerandomization needs every unit's baseline values. Impute them (and "
                "record how) or drop the covariate."
            )
        bound = BoundRerandomization._build(self, base, x)
        if observed is not None:
            bound.check(observed, name="observed")
        return bound


def _number(value: object, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise OptionError(f"{name}={value!r} must be a number.")
    return float(value)


# ----------------------------------------------------------------------------------------------------
# record
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RerandomizationRecord:
    """What is needed to reproduce and report a rerandomized assignment.

    Attributes
    ----------
    base : AssignmentRecord
        Record of the base design (method, base spec, seed, counts per block, evalkit version).
    spec : Rerandomization
        The rerandomization spec as stated.
    covariates : tuple of str
        Balanced covariates.
    criterion : str
        ``"mahalanobis"``.
    threshold : float
        Largest acceptable distance.
    acceptance : float
        Asymptotic acceptance probability :math:`\\Pr(\\chi^2_k \\le \\text{threshold})`.
    distance : float
        Mahalanobis distance :math:`M` of the generated assignment.
    n_draws : int
        Base assignments examined until the first acceptable one (this one), counting it.
    """

    base: AssignmentRecord
    spec: Rerandomization
    covariates: tuple[str, ...]
    criterion: Criterion
    threshold: float
    acceptance: float
    distance: float
    n_draws: int

    @property
    def method(self) -> str:
        """``"rerandomized "`` + the base method."""
        return f"rerandomized {self.base.method}"

    @property
    def seed(self) -> int | tuple[int, ...]:
        """Entropy of the seed sequence (as in the base record)."""
        return self.base.seed

    @property
    def n_treated(self) -> int:
        """Total number of units of assignment treated."""
        return self.base.n_treated

    @property
    def treated_per_block(self) -> dict[Hashable, int]:
        """Block label -> units treated."""
        return self.base.treated_per_block

    @property
    def units_per_block(self) -> dict[Hashable, int]:
        """Block label -> units of assignment."""
        return self.base.units_per_block


# ----------------------------------------------------------------------------------------------------
# bound rerandomization
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class BoundRerandomization:
    """A :class:`Rerandomization` joined to a data set. Create it with :meth:`Rerandomization.bind`.

    It offers the methods of :class:`~evalkit.designs.assignment.BoundAssignment`, restricted to acceptable
    assignments, plus :meth:`distance`.

    Attributes
    ----------
    spec : Rerandomization
        The spec.
    base : BoundAssignment
        The bound base design.
    n_obs, n_units : int
        Observations and units of assignment.
    block_labels : tuple
        Block labels (``(None,)`` when not blocked).
    threshold, acceptance : float
        The spec's threshold and asymptotic acceptance probability.
    """

    spec: Rerandomization
    base: BoundAssignment
    _whitened: np.ndarray = field(repr=False)  # (k, n_units): M(z) = ||_whitened @ z||^2
    _first_obs: np.ndarray = field(repr=False)

    @classmethod
    def _build(cls, spec: Rerandomization, base: BoundAssignment, x: np.ndarray) -> BoundRerandomization:
        obs_unit, unit_block = base.obs_unit, base.unit_block
        n_units, k = base.n_units, x.shape[1]
        per_unit = np.bincount(obs_unit, minlength=n_units).astype(np.float64)
        units_x = np.column_stack([np.bincount(obs_unit, weights=x[:, j], minlength=n_units) for j in range(k)])
        units_x /= per_unit[:, None]
        n_blocks = len(base.block_labels)
        size = np.bincount(unit_block, minlength=n_blocks).astype(np.float64)  # N_b
        treated = np.array(list(base.n_treated_per_block.values()), dtype=np.float64)  # n_b
        block_mean = (
            np.column_stack([np.bincount(unit_block, weights=units_x[:, j], minlength=n_blocks) for j in range(k)])
            / size[:, None]
        )
        centred = units_x - block_mean[unit_block]
        w = size / n_units
        lam = (w * size / (treated * (size - treated)))[unit_block]
        var_coef = (w**2 * (1 / treated + 1 / (size - treated)) / np.maximum(size - 1, 1))[unit_block]
        cov = (centred * var_coef[:, None]).T @ centred
        _check_covariance(spec, cov, centred, units_x, base)
        chol = linalg.cholesky(cov, lower=True)
        whitened = linalg.solve_triangular(chol, (centred * lam[:, None]).T, lower=True)
        first = np.unique(obs_unit, return_index=True)[1]
        return cls(spec=spec, base=base, _whitened=readonly(np.ascontiguousarray(whitened)), _first_obs=first)

    # ---- descriptive properties (as BoundAssignment) ----

    @property
    def method(self) -> str:
        """``"rerandomized "`` + the base method, e.g. ``"rerandomized complete"``."""
        return self.spec.method

    @property
    def n_obs(self) -> int:
        """Number of observations."""
        return self.base.n_obs

    @property
    def n_units(self) -> int:
        """Number of units of assignment."""
        return self.base.n_units

    @property
    def block_labels(self) -> tuple[Hashable, ...]:
        """Block labels (``(None,)`` when not blocked)."""
        return self.base.block_labels

    @property
    def unit_labels(self) -> tuple[Hashable, ...] | None:
        """Cluster labels of the units, or None when observations are the units."""
        return self.base.unit_labels

    @property
    def randomized(self) -> bool:
        """Always True."""
        return True

    @property
    def has_fixed_counts(self) -> bool:
        """Always True (rerandomization requires fixed counts)."""
        return True

    @property
    def obs_unit(self) -> np.ndarray:
        """Index of each observation's unit of assignment, read-only."""
        return self.base.obs_unit

    @property
    def unit_block(self) -> np.ndarray:
        """Index of each unit's block, read-only."""
        return self.base.unit_block

    @property
    def units_per_block(self) -> dict[Hashable, int]:
        """Block label -> units of assignment."""
        return self.base.units_per_block

    @property
    def n_treated_per_block(self) -> dict[Hashable, int]:
        """Block label -> units treated."""
        return self.base.n_treated_per_block

    @property
    def expected_treated_per_block(self) -> dict[Hashable, float]:
        """Block label -> units treated (fixed)."""
        return self.base.expected_treated_per_block

    @property
    def covariates(self) -> tuple[str, ...]:
        """Balanced covariates."""
        return tuple(self.spec.covariates)

    @property
    def threshold(self) -> float:
        """Largest acceptable Mahalanobis distance."""
        return float(self.spec.threshold)  # type: ignore[arg-type]

    @property
    def acceptance(self) -> float:
        """Asymptotic acceptance probability :math:`\\Pr(\\chi^2_k \\le \\text{threshold})`."""
        return float(self.spec.acceptance)  # type: ignore[arg-type]

    # ---- the distance ----

    def _distance_units(self, units: np.ndarray) -> np.ndarray:
        """Mahalanobis distance of each row of a bool ``(r, n_units)`` array, in bounded-memory chunks."""
        out = np.empty(units.shape[0])
        step = max(1, _CHUNK_CELLS // max(self.n_units, 1))
        for start in range(0, units.shape[0], step):
            proj = units[start : start + step].astype(np.float64) @ self._whitened.T
            out[start : start + step] = np.einsum("ij,ij->i", proj, proj)
        return out

    def _accept(self, distances: np.ndarray) -> np.ndarray:
        return distances <= self.threshold * (1.0 + _REL_TOL)

    def distance(self, treatment: ArrayLike) -> float | np.ndarray:
        """Mahalanobis distance :math:`M` of one assignment or of each row of a stack of assignments.

        Parameters
        ----------
        treatment : array-like
            0/1 treatment of shape ``(n_obs,)``, or bool/0-1 array ``(r, n_obs)``. Each must treat the base
            design's number of units in every block, and clusters as wholes.

        Returns
        -------
        float or numpy.ndarray
            :math:`M = \\hat\\tau_x^\\top V^{-1} \\hat\\tau_x` (module Notes); an array of length ``r`` for 2-D input.

        Raises
        ------
        DesignError
            If an assignment does not have the base design's counts per block or varies within a cluster.
        """
        arr = np.asarray(treatment)
        if arr.ndim == 1:
            self.base.check(arr)
            z = as_binary(arr, self.n_obs, "treatment")
            return float(self._distance_units(z[self._first_obs][None, :])[0])
        if arr.ndim != 2 or arr.shape[1] != self.n_obs:
            raise DataError(
                f"treatment must have shape (n_obs,) or (r, n_obs) with n_obs={self.n_obs}; got {arr.shape}."
            )
        if not (arr.dtype == np.bool_ or np.isin(arr, (0, 1)).all()):
            raise DesignError("treatment must be binary (0/1 or False/True) in every row.")
        z = arr.astype(bool)
        units = z[:, self._first_obs]
        if self.unit_labels is not None and not np.array_equal(z, units[:, self.obs_unit]):
            row = int(np.flatnonzero((z != units[:, self.obs_unit]).any(axis=1))[0])
            raise DesignError(f"row {row} of treatment varies within a cluster; clusters are assigned as wholes.")
        wanted = np.array(list(self.n_treated_per_block.values()))
        counts = np.stack([units[:, self.unit_block == b].sum(axis=1) for b in range(wanted.size)], axis=1)
        bad = np.flatnonzero((counts != wanted).any(axis=1))
        if bad.size:
            raise DesignError(
                f"row {int(bad[0])} of treatment treats {counts[bad[0]].tolist()} units per block but the base "
                f"design treats {wanted.tolist()}; the distance is defined for the base design's assignments."
            )
        return self._distance_units(units)

    # ---- the restricted assignment distribution ----

    def _base_count(self) -> int:
        return self.base.count()

    @cached_property
    def _acceptable_units(self) -> np.ndarray:
        """Every acceptable assignment on the units (enumerate the base and filter); base count <= EXACT_LIMIT."""
        total = self._base_count()
        if total > EXACT_LIMIT:
            raise DesignError(
                f"the base design ({self.base.method}) has {total:,} possible assignments, more than "
                f"{EXACT_LIMIT:,} that rerandomization enumerates and filters; draw a random sample of acceptable "
                "assignments instead (e.g. RandomizationInference(reps=...))."
            )
        step = max(1, _CHUNK_CELLS // max(self.n_units, 1))  # base assignments filtered per batch
        kept = []
        for start in range(0, total, step):
            units = self.base._enumerate_units(None, start, min(start + step, total))
            kept.append(units[self._accept(self._distance_units(units))])
        return readonly(np.concatenate(kept) if kept else np.zeros((0, self.n_units), dtype=bool))

    def count(self) -> int:
        """Number of acceptable assignments, exact for small designs and an upper bound otherwise.

        Returns
        -------
        int
            When the base design has at most :data:`EXACT_LIMIT` (10**6) assignments: the exact number of
            acceptable ones (enumerate and filter; cached). Otherwise the base design's count, an upper bound.
            Randomization inference enumerates when ``count() <= reps`` and draws otherwise, so it stays
            correct: it enumerates only small bases, which the exact count covers.
        """
        total = self._base_count()
        if total > EXACT_LIMIT:
            return total
        return int(self._acceptable_units.shape[0])

    def enumerate(self, max_count: int | None = None, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Every acceptable assignment exactly once, or the rows ``start:stop`` of that list.

        Parameters
        ----------
        max_count : int, optional
            Refuse when there are more acceptable assignments than this.
        start, stop : int, optional
            Return only the acceptable assignments at positions ``start <= i < stop`` (``stop=None``: to the
            end), so that a long list can be consumed in batches of ``(stop - start) * n_obs`` bytes.

        Returns
        -------
        numpy.ndarray
            Bool ``(stop - start, n_obs)`` (``(count(), n_obs)`` by default), in the base design's enumeration
            order.

        Raises
        ------
        DesignError
            If the base design has more than :data:`EXACT_LIMIT` assignments (too many to filter), or there are
            more than ``max_count`` acceptable ones.
        OptionError
            If ``start`` or ``stop`` is not an int with ``0 <= start <= stop <= count()``.
        """
        rows = self._acceptable_units
        if max_count is not None and rows.shape[0] > max_count:
            raise DesignError(
                f"the rerandomized design has {rows.shape[0]:,} acceptable assignments, more than "
                f"max_count={max_count:,}; draw a random sample of assignments instead (e.g. "
                "RandomizationInference(reps=...))."
            )
        if rows.shape[0] == 0:
            raise DesignError(
                f"no assignment of the base design has a Mahalanobis distance at most threshold={self.threshold:.4g}"
                "; raise the threshold (or acceptance=)."
            )
        stop = rows.shape[0] if stop is None else stop
        if not (is_int(start) and is_int(stop) and 0 <= start <= stop <= rows.shape[0]):
            raise OptionError(
                f"start={start!r}, stop={stop!r} must be ints with 0 <= start <= stop <= {rows.shape[0]:,} (the "
                "number of acceptable assignments)."
            )
        return rows[int(start) : int(stop), self.obs_unit]

    def _draw_units(self, rng: np.random.Generator, size: int) -> tuple[np.ndarray, int, int]:
        """Acceptable assignments on the units, base draws examined, and index (1-based) of the first kept."""
        out = np.empty((size, self.n_units), dtype=bool)
        filled = drawn = first = 0
        cap = max(1, _BATCH_CELLS // max(self.n_units, 1))
        limit = self.spec.max_draws
        while filled < size:
            if drawn >= limit:
                rate = filled / drawn
                raise DesignError(
                    f"rerandomization found {filled:,} acceptable assignment(s) in {drawn:,} base draws (acceptance "
                    f"rate {rate:.3%}; threshold={self.threshold:.4g} was meant to accept about "
                    f"{self.acceptance:.1%}), short of the {size:,} requested within max_draws={limit:,}. Raise "
                    "the threshold (or acceptance=), balance fewer covariates, or raise max_draws."
                )
            rate = filled / drawn if filled else self.acceptance / (1 + drawn // 1000)
            batch = int(min(cap, limit - drawn, math.ceil((size - filled) / max(rate, 1e-9) * 1.1) + 16))
            units = self.base._draw_units(rng, batch)
            keep = np.flatnonzero(self._accept(self._distance_units(units)))[: size - filled]
            if keep.size and not filled:
                first = drawn + int(keep[0]) + 1
            out[filled : filled + keep.size] = units[keep]
            filled += keep.size
            drawn += batch
        return out, drawn, first

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Draw ``size`` independent acceptable assignments (rejection sampling from the base design).

        Parameters
        ----------
        rng : numpy.random.Generator
            Source of randomness; the result is bit-reproducible given its state.
        size : int
            Number of assignments (rows).

        Returns
        -------
        numpy.ndarray
            Bool ``(size, n_obs)``; each row is uniform over the acceptable assignments.

        Raises
        ------
        DesignError
            If ``max_draws`` base draws do not yield ``size`` acceptable assignments (the message gives the
            acceptance rate observed).

        Notes
        -----
        Base assignments are drawn in batches (``base.draw`` on the units), their distances computed with one
        matrix product per batch, and acceptable rows kept in the order drawn until ``size`` are collected.
        Accepting i.i.d. uniform base draws that fall in the acceptable set gives i.i.d. uniform draws from that
        set (Morgan & Rubin 2012, sec. 2). Batch sizes follow the acceptance rate seen so far, bounded by about
        2**21 draw-by-unit cells.
        """
        if not isinstance(rng, np.random.Generator):
            raise OptionError(
                f"rng must be a numpy.random.Generator, got {type(rng).__name__}; create one with "
                "np.random.default_rng(seed)."
            )
        if not is_int(size) or size < 0:
            raise OptionError(f"size={size!r} must be a non-negative int.")
        return self._draw_units(rng, int(size))[0][:, self.obs_unit]

    def probabilities(self) -> np.ndarray:
        """Each observation's probability of treatment under the rerandomized design, shape ``(n_obs,)``.

        Returns
        -------
        numpy.ndarray
            Exact (the mean over every acceptable assignment) when the base design has at most
            :data:`EXACT_LIMIT` assignments. Otherwise a Monte Carlo estimate from :data:`MC_DRAWS` (10,000)
            acceptable draws with the fixed seed :data:`MC_SEED` (reproducible; standard error at most 0.005).

        Notes
        -----
        Rerandomization need not keep the base design's probabilities: an acceptable set can favour some units
        in the treated arm (e.g. with unequal arms), so they are computed, not assumed.
        """
        if self._base_count() <= EXACT_LIMIT:
            rows = self._acceptable_units
            if rows.shape[0] == 0:
                self.enumerate()  # raises the no-acceptable-assignment error
            unit_p = rows.mean(axis=0)
        else:
            unit_p = self._draw_units(np.random.default_rng(MC_SEED), MC_DRAWS)[0].mean(axis=0)
        return unit_p[self.obs_unit]

    def check(self, treatment: ArrayLike, *, name: str = "treatment") -> None:
        """Raise if ``treatment`` could not have come from the rerandomized design.

        Parameters
        ----------
        treatment : array-like
            0/1 treatment of each observation.
        name : str
            How to call the treatment in messages.

        Raises
        ------
        DesignError
            If the base design's checks fail (counts per block, constancy within clusters) or the Mahalanobis
            distance exceeds the threshold.
        DataError
            If it has missing values or the wrong length.
        """
        self.base.check(treatment, name=name)
        z = as_binary(treatment, self.n_obs, name)
        m = float(self._distance_units(z[self._first_obs][None, :])[0])
        if not self._accept(np.array([m]))[0]:
            raise DesignError(
                f"{name} has Mahalanobis distance M={m:.4g} on covariates {', '.join(map(repr, self.covariates))}, "
                f"above the rerandomization threshold {self.threshold:.4g}; it could not have come from this "
                "rerandomization. Check that the covariates are the baseline values used at assignment and the "
                "threshold (or acceptance) that was used."
            )

    def generate(self, seed: int | np.random.SeedSequence) -> GeneratedAssignment:
        """Draw an acceptable assignment for a new study, with a record to reproduce and report it.

        Parameters
        ----------
        seed : int or numpy.random.SeedSequence
            Seed of ``numpy.random.default_rng``; the same seed gives a bit-identical treatment and record.

        Returns
        -------
        GeneratedAssignment
            Read-only bool treatment ``(n_obs,)`` and a :class:`RerandomizationRecord` (base record, criterion,
            threshold, acceptance, the assignment's distance and the number of base draws examined).
        """
        seq = seed_sequence(seed)
        units, _, first = self._draw_units(np.random.default_rng(seq), 1)
        unit_z = units[0]
        z = unit_z[self.obs_unit]
        treated = np.bincount(self.unit_block, weights=unit_z, minlength=len(self.block_labels))
        entropy = seq.entropy
        from evalkit import __version__

        base_record = AssignmentRecord(
            method=self.base.method,
            spec=self.base.spec,
            seed=int(entropy) if is_int(entropy) else tuple(int(e) for e in entropy),  # type: ignore[union-attr]
            spawn_key=tuple(int(k) for k in seq.spawn_key),
            n_obs=self.n_obs,
            n_units=self.n_units,
            block_labels=self.block_labels,
            treated_counts=tuple(round(float(t)) for t in treated),
            unit_counts=tuple(self.units_per_block.values()),
            evalkit_version=__version__,
        )
        record = RerandomizationRecord(
            base=base_record,
            spec=self.spec,
            covariates=self.covariates,
            criterion=self.spec.criterion,
            threshold=self.threshold,
            acceptance=self.acceptance,
            distance=float(self._distance_units(units)[0]),
            n_draws=first,
        )
        return GeneratedAssignment(treatment=readonly(z), record=record)


def _check_covariance(
    spec: Rerandomization, cov: np.ndarray, centred: np.ndarray, units_x: np.ndarray, base: BoundAssignment
) -> None:
    """Refuse covariates that do not vary within blocks or are collinear (V singular)."""
    names = spec.covariates
    within = "within blocks" if base.spec._uses_blocks else "across units"
    level = "cluster means" if base.unit_labels is not None else "values"
    scale = np.max(np.abs(units_x), axis=0)
    spread = np.sqrt(np.mean(centred**2, axis=0))
    flat = np.flatnonzero(spread <= 1e-10 * np.where(scale > 0, scale, 1.0))
    if flat.size:
        j = int(flat[0])
        raise DesignError(
            f"covariate {names[j]!r} does not vary {within} (its {level} are constant), so it cannot be balanced "
            "by rerandomization (a blocked design balances it already); drop it from covariates."
        )
    sd = np.sqrt(np.diag(cov))
    corr = cov / np.outer(sd, sd)
    values, vectors = np.linalg.eigh(corr)
    if values[0] <= 1e-10:
        involved = [names[j] for j in np.flatnonzero(np.abs(vectors[:, 0]) > 1e-6)]
        raise DesignError(
            f"covariates {', '.join(map(repr, involved))} are collinear ({within}, using their {level}): one is a "
            "linear combination of the others, so the Mahalanobis distance is undefined. Drop one of them."
        )
