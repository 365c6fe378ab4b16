"""A spec joined to the units of a data set: the distribution of possible assignments, and their records.

:meth:`~evalkit.designs.assignment.AssignmentSpec.bind` returns a :class:`BoundAssignment`, which can
:meth:`~BoundAssignment.count`, :meth:`~BoundAssignment.enumerate` and :meth:`~BoundAssignment.draw` the
possible assignments, give each observation's :meth:`~BoundAssignment.probabilities` of treatment,
:meth:`~BoundAssignment.check` an observed assignment and :meth:`~BoundAssignment.generate` a new one, returned
as a :class:`GeneratedAssignment` with the :class:`AssignmentRecord` needed to reproduce and report it.

Notes
-----
All mechanisms are *complete* randomizations: within each block :math:`b` with :math:`M_b` units of assignment
(observations, or clusters), exactly :math:`m_b` units are treated and every subset of size :math:`m_b` is
equally likely, independently across blocks (Gerber & Green 2012, ch. 2-3;
``randomizr::block_and_cluster_ra``). Hence

.. math::

    \\#\\{\\text{assignments}\\} = \\prod_b \\binom{M_b}{m_b}, \\qquad
    \\Pr(Z_i = 1) = m_{b(i)} / M_{b(i)}.

When the number treated is given as a ``share`` :math:`p` and :math:`M_b p` is not a whole number, generation
follows ``randomizr::complete_ra``: the block treats :math:`\\lceil M_b p \\rceil` units with probability
:math:`M_b p - \\lfloor M_b p \\rfloor` and :math:`\\lfloor M_b p \\rfloor` otherwise, so that every unit's
probability of treatment is exactly :math:`p`. The number treated is then random and the possible assignments
are not equally likely, so :meth:`BoundAssignment.count` and :meth:`BoundAssignment.enumerate` refuse such
designs with a :class:`~evalkit.errors.DesignError`; :meth:`~BoundAssignment.draw`,
:meth:`~BoundAssignment.generate`, :meth:`~BoundAssignment.probabilities` and :meth:`~BoundAssignment.check`
work. :math:`M_b p` counts as a whole number when it is within ``1e-9`` of one.

References
----------
Gerber, A. S. and Green, D. P. (2012). *Field Experiments: Design, Analysis, and Interpretation*. Norton.

Coppock, A. (2023). randomizr: Easy-to-Use Tools for Common Forms of Random Assignment and Sampling. R
package.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from evalkit.designs.assignment._base import (
    NOT_RANDOMIZED_HINT,
    WHOLE_TOL,
    AssignmentMethod,
    as_binary,
    factorize,
    is_int,
    readonly,
    seed_sequence,
    show_label,
)
from evalkit.errors import DesignError, OptionError

if TYPE_CHECKING:
    from evalkit.designs.assignment.rerandomization import RerandomizationRecord
    from evalkit.designs.assignment.spec import AssignmentSpec

__all__ = ["AssignmentRecord", "BoundAssignment", "GeneratedAssignment"]

_SMALL_BLOCK = 8  # blocks up to this many units are drawn by pairwise ranking instead of argsort


def _smallest(keys: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Mark the ``m[..., None]`` smallest keys along the last axis of ``keys`` (bool, same shape).

    Short blocks (at most ``_SMALL_BLOCK`` units) are ranked by ``M`` whole-array comparisons, since argsort's
    per-row overhead dominates for many small blocks; longer blocks are argsorted. With distinct keys both pick
    the same units, so the choice never changes a draw.
    """
    width = keys.shape[-1]
    if width <= _SMALL_BLOCK:
        rank = np.zeros(keys.shape, dtype=np.int8)
        for k in range(width):
            rank += keys[..., k, None] < keys
        return rank < m[..., None]
    order = np.argsort(keys, axis=-1)
    take = np.arange(width) < m[..., None]
    out = np.empty_like(take)
    np.put_along_axis(out, order, take, axis=-1)
    return out


@functools.lru_cache(maxsize=256)
def _binomial_column(n: int, k: int) -> np.ndarray:
    """``comb(a, k)`` for ``a = 0 .. n-1`` (non-decreasing, int64, read-only); values beyond int64 are capped,
    which unranking never reaches (its ranks are below ``comb(n, m)``, which fits)."""
    big = np.iinfo(np.int64).max
    return readonly(np.array([min(math.comb(a, k), big) for a in range(n)], dtype=np.int64))


def _unrank_combinations(rank: np.ndarray, n: int, m: int) -> np.ndarray:
    """The ``m``-subsets of ``range(n)`` at positions ``rank`` of ``itertools.combinations(range(n), m)``.

    Returns an int ``(rank.size, m)`` array, each row increasing. Uses the combinatorial number system on the
    reversed co-lexicographic rank (see :meth:`BoundAssignment.enumerate`): one ``searchsorted`` per element, so
    memory and time are linear in ``rank.size * m``.
    """
    out = np.empty((rank.size, m), dtype=np.intp)
    if m == 0:
        return out
    remaining = (math.comb(n, m) - 1) - rank.astype(np.int64)
    for k in range(m, 0, -1):
        table = _binomial_column(n, k)
        e = np.searchsorted(table, remaining, side="right") - 1
        remaining = remaining - table[e]
        out[:, m - k] = (n - 1) - e
    return out


# ----------------------------------------------------------------------------------------------------
# records
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AssignmentRecord:
    """What is needed to reproduce and report a generated assignment.

    No timestamp is stored: the same seed, data and evalkit version give an identical record.

    Attributes
    ----------
    method : str
        ``"complete"``, ``"blocked"``, ``"cluster"`` or ``"blocked-cluster"``.
    spec : AssignmentSpec
        The spec as stated.
    seed : int or tuple of int
        Entropy of the :class:`numpy.random.SeedSequence` that seeded the draw.
    spawn_key : tuple of int
        Spawn key of that seed sequence (empty unless a spawned sequence was passed).
    n_obs, n_units : int
        Observations and units of assignment (clusters, or observations).
    block_labels : tuple
        Block labels (``(None,)`` for an unblocked design).
    treated_counts, unit_counts : tuple of int
        Units treated and units in total in each block, in the order of ``block_labels``.
    evalkit_version : str
        ``evalkit.__version__`` at generation.
    """

    method: AssignmentMethod
    spec: AssignmentSpec
    seed: int | tuple[int, ...]
    spawn_key: tuple[int, ...]
    n_obs: int
    n_units: int
    block_labels: tuple[Hashable, ...]
    treated_counts: tuple[int, ...]
    unit_counts: tuple[int, ...]
    evalkit_version: str

    @property
    def n_treated(self) -> int:
        """Total number of units of assignment treated."""
        return sum(self.treated_counts)

    @property
    def treated_per_block(self) -> dict[Hashable, int]:
        """Block label -> units treated."""
        return dict(zip(self.block_labels, self.treated_counts, strict=True))

    @property
    def units_per_block(self) -> dict[Hashable, int]:
        """Block label -> units of assignment."""
        return dict(zip(self.block_labels, self.unit_counts, strict=True))


@dataclass(frozen=True, eq=False)
class GeneratedAssignment:
    """One generated assignment of a new study.

    Attributes
    ----------
    treatment : numpy.ndarray of bool or pandas.Series of bool
        Treatment of every observation (a read-only array from :meth:`BoundAssignment.generate`, a Series
        aligned to the data's index from :func:`assign`).
    record : AssignmentRecord or RerandomizationRecord
        Method, seed, counts per block and evalkit version (for a rerandomized design also the criterion, the
        assignment's distance and the number of draws needed).
    """

    treatment: np.ndarray | pd.Series
    record: AssignmentRecord | RerandomizationRecord


# ----------------------------------------------------------------------------------------------------
# bound assignment
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class BoundAssignment:
    """An assignment spec joined to the units of a data set. Create it with :meth:`AssignmentSpec.bind`.

    Attributes
    ----------
    spec : AssignmentSpec
        The spec.
    n_obs : int
        Number of observations.
    n_units : int
        Number of units of assignment (clusters for cluster designs, else observations).
    block_labels : tuple
        Block labels in sorted order (``(None,)`` when the design is not blocked).

    Notes
    -----
    Internally observations map to units (``obs_unit``) and units to blocks (``unit_block``); block :math:`b`
    treats
    :math:`\\lfloor e_b \\rfloor` units plus one with probability :math:`e_b - \\lfloor e_b \\rfloor`, where
    :math:`e_b` is the expected number treated (a whole number unless a ``share`` does not divide the block).
    """

    spec: AssignmentSpec
    n_obs: int
    n_units: int
    block_labels: tuple[Hashable, ...]
    unit_labels: tuple[Hashable, ...] | None = field(repr=False)
    _obs_unit: np.ndarray = field(repr=False)
    _unit_block: np.ndarray = field(repr=False)
    _block_units: np.ndarray = field(repr=False)
    _block_floor: np.ndarray = field(repr=False)
    _block_frac: np.ndarray = field(repr=False)
    _groups: tuple[tuple[int, np.ndarray, np.ndarray], ...] = field(repr=False)
    _has_observed: bool = field(repr=False)

    # ---- construction ----

    @classmethod
    def _build(
        cls,
        spec: AssignmentSpec,
        n_obs: int,
        blocks: np.ndarray | None,
        clusters: np.ndarray | None,
        observed: np.ndarray | None,
    ) -> BoundAssignment:
        use_blocks = spec._uses_blocks and blocks is not None
        use_clusters = spec._uses_clusters and clusters is not None
        unit_word = "clusters" if use_clusters else "units"

        if use_blocks:
            obs_block, block_labels = factorize(blocks, "blocks")  # type: ignore[arg-type]
        else:
            obs_block, block_labels = np.zeros(n_obs, dtype=np.intp), [None]
        n_blocks = len(block_labels)

        if use_clusters:
            obs_unit, unit_labels = factorize(clusters, "clusters")  # type: ignore[arg-type]
            n_units = len(unit_labels)
            first = np.unique(obs_unit, return_index=True)[1]
            unit_block = obs_block[first]
            bad = np.flatnonzero(obs_block != unit_block[obs_unit])
            if bad.size:
                pos = int(bad[0])
                raise DesignError(
                    f"cluster {show_label(unit_labels[obs_unit[pos]])} is in block "
                    f"{show_label(block_labels[unit_block[obs_unit[pos]]])} and in block "
                    f"{show_label(block_labels[obs_block[pos]])}; clusters must be nested in blocks (each "
                    f"cluster "
                    "in exactly one block). Check the blocks and clusters columns."
                )
            unit_obs = None
            if observed is not None:
                unit_obs = observed[first]
                bad = np.flatnonzero(observed != unit_obs[obs_unit])
                if bad.size:
                    offending = pd.unique(obs_unit[bad])
                    more = f" (and {offending.size - 1} more)" if offending.size > 1 else ""
                    raise DesignError(
                        f"the observed treatment varies within cluster "
                        f"{show_label(unit_labels[obs_unit[bad[0]]])}"
                        f"{more}; with cluster assignment every observation of a cluster has the same "
                        "treatment. Check the treatment and clusters columns, or state a non-cluster "
                        "assignment."
                    )
        else:
            obs_unit, unit_labels, n_units = np.arange(n_obs, dtype=np.intp), None, n_obs
            unit_block = obs_block
            unit_obs = observed

        units_per_block = np.bincount(unit_block, minlength=n_blocks)
        floor, frac = cls._targets(spec, block_labels, units_per_block, unit_block, unit_obs, unit_word)

        block_units = np.argsort(unit_block, kind="stable").astype(np.intp)
        starts = np.concatenate(([0], np.cumsum(units_per_block)[:-1])).astype(np.intp)
        groups = []
        for size in np.unique(units_per_block):
            bcodes = np.flatnonzero(units_per_block == size).astype(np.intp)
            umat = block_units[starts[bcodes][:, None] + np.arange(size)]
            groups.append((int(size), readonly(bcodes), readonly(umat)))

        bound = cls(
            spec=spec,
            n_obs=n_obs,
            n_units=int(n_units),
            block_labels=tuple(block_labels),
            unit_labels=None if unit_labels is None else tuple(unit_labels),
            _obs_unit=readonly(obs_unit),
            _unit_block=readonly(np.asarray(unit_block, dtype=np.intp)),
            _block_units=readonly(units_per_block.astype(np.intp)),
            _block_floor=readonly(floor),
            _block_frac=readonly(frac),
            _groups=tuple(groups),
            _has_observed=observed is not None,
        )
        if observed is not None and spec._randomized and (spec._n_treated() is not None or spec._share() is not None):
            bound.check(observed, name="observed")
        return bound

    @staticmethod
    def _targets(
        spec: AssignmentSpec,
        block_labels: list[Hashable],
        units_per_block: np.ndarray,
        unit_block: np.ndarray,
        unit_obs: np.ndarray | None,
        unit_word: str,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Whole part and fractional part of the expected number treated in each block."""
        n_blocks = len(block_labels)
        blocked = spec._uses_blocks
        n_treated, share = spec._n_treated(), spec._share()
        frac = np.zeros(n_blocks)
        where = (lambda b: f"block {show_label(block_labels[b])}") if blocked else (lambda b: "the design")

        if not spec._randomized:
            if unit_obs is None:
                return np.zeros(n_blocks, dtype=np.int64), frac
            treated = np.bincount(unit_block, weights=unit_obs, minlength=n_blocks)
            return np.rint(treated).astype(np.int64), frac

        if n_treated is None and share is None:
            if unit_obs is None:
                raise DesignError(
                    f"{type(spec).__name__}() takes the number treated from the observed treatment, but "
                    f"none was "
                    "given; pass observed=... to bind, or state n_treated=... or share=... ."
                )
            floor = np.rint(np.bincount(unit_block, weights=unit_obs, minlength=n_blocks)).astype(np.int64)
            for b in range(n_blocks):
                lack = "treated" if floor[b] == 0 else "control" if floor[b] == units_per_block[b] else None
                if lack is not None:
                    subject = f"block {show_label(block_labels[b])} has" if blocked else "the observed treatment has"
                    raise DesignError(
                        f"{subject} no {lack} {unit_word}; all blocks must contain treated and control "
                        f"{unit_word} for randomization-based inference. Drop or merge that block, or state "
                        f"the "
                        "assignment explicitly."
                    )
            return floor, frac

        if share is not None:
            expected = units_per_block * share
            floor = np.floor(expected + WHOLE_TOL).astype(np.int64)
            frac = expected - floor
            frac[np.abs(frac) < WHOLE_TOL] = 0.0
            frac = np.clip(frac, 0.0, None)
            ceil = floor + (frac > 0)
            for b in range(n_blocks):
                if floor[b] < 1 or ceil[b] > units_per_block[b] - 1:
                    raise DesignError(
                        f"share={share:g} of the {units_per_block[b]} {unit_word} in {where(b)} is "
                        f"{expected[b]:g}, which can leave it without treated or control {unit_word}; every "
                        f"block needs between 1 and {units_per_block[b] - 1} treated {unit_word}. Use a "
                        "different share or state n_treated."
                    )
            return floor, frac

        if isinstance(n_treated, Mapping):
            missing = [b for b in block_labels if b not in n_treated]
            if missing:
                shown = ", ".join(show_label(b) for b in missing[:5])
                raise DesignError(
                    f"n_treated has no count for block {shown}; give a count for every block ({n_blocks} blocks)."
                )
            extra = [k for k in n_treated if k not in set(block_labels)]
            if extra:
                shown = ", ".join(show_label(k) for k in extra[:5])
                raise DesignError(
                    f"n_treated names block {shown}, which is not in the blocks; check the labels "
                    f"(e.g. {show_label(block_labels[0])})."
                )
            floor = np.array([n_treated[b] for b in block_labels], dtype=np.int64)
        else:
            floor = np.full(n_blocks, int(n_treated), dtype=np.int64)  # type: ignore[arg-type]
        for b in range(n_blocks):
            if floor[b] > units_per_block[b] - 1:
                raise DesignError(
                    f"n_treated={int(floor[b])} but {where(b)} has {units_per_block[b]} {unit_word}; "
                    f"n_treated "
                    f"must be between 1 and {units_per_block[b] - 1} so that there are treated and control "
                    f"{unit_word}."
                )
        return floor, frac

    # ---- descriptive properties ----

    @property
    def method(self) -> AssignmentMethod:
        """``"complete"``, ``"blocked"``, ``"cluster"``, ``"blocked-cluster"`` or ``"not randomized"``."""
        return self.spec.method

    @property
    def randomized(self) -> bool:
        """False for :class:`NotRandomized`."""
        return self.spec._randomized

    @property
    def has_fixed_counts(self) -> bool:
        """True when every block treats a fixed number of units (no random rounding of a ``share``)."""
        return not bool(np.any(self._block_frac > 0))

    @property
    def obs_unit(self) -> np.ndarray:
        """Index of each observation's unit of assignment (0 .. n_units - 1), read-only."""
        return self._obs_unit

    @property
    def unit_block(self) -> np.ndarray:
        """Index (into :attr:`block_labels`) of each unit's block, read-only."""
        return self._unit_block

    @property
    def units_per_block(self) -> dict[Hashable, int]:
        """Block label -> number of units of assignment in the block."""
        return {lab: int(n) for lab, n in zip(self.block_labels, self._block_units, strict=True)}

    @property
    def n_treated_per_block(self) -> dict[Hashable, int]:
        """Block label -> number of units treated.

        Raises
        ------
        DesignError
            If the counts are random (a ``share`` that does not give whole numbers), or if the design is not
            randomized and no observed treatment was bound.
        """
        if not self.spec._randomized and not self._has_observed:
            raise DesignError(
                "treatment was not randomized (assignment=NotRandomized()) and no observed treatment was "
                "bound, "
                "so the number treated per block is unknown; pass observed=... to bind."
            )
        if not self.has_fixed_counts:
            raise DesignError(self._not_fixed_message("n_treated_per_block"))
        return {lab: int(n) for lab, n in zip(self.block_labels, self._block_floor, strict=True)}

    @property
    def expected_treated_per_block(self) -> dict[Hashable, float]:
        """Block label -> expected number of units treated (whole unless a share is rounded at random)."""
        expected = self._block_floor + self._block_frac
        return {lab: float(e) for lab, e in zip(self.block_labels, expected, strict=True)}

    def _not_fixed_message(self, what: str) -> str:
        b = int(np.flatnonzero(self._block_frac > 0)[0])
        where = f"block {show_label(self.block_labels[b])}" if self.spec._uses_blocks else "the design"
        expected = self._block_floor[b] + self._block_frac[b]
        return (
            f"{what} needs a fixed number treated in every block, but share={self.spec._share():g} gives "
            f"{expected:g} of the {self._block_units[b]} units in {where}, rounded at random "
            "(randomizr's complete_ra rule), so the possible assignments are not equally likely; state "
            "n_treated (per block) instead."
        )

    def _require_random(self, what: str) -> None:
        if not self.spec._randomized:
            raise DesignError(
                f"treatment was not randomized (assignment=NotRandomized()), so {what} is not "
                f"available; {NOT_RANDOMIZED_HINT}"
            )

    # ---- the assignment distribution ----

    def count(self) -> int:
        """Exact number of possible assignments.

        Returns
        -------
        int
            :math:`\\prod_b \\binom{M_b}{m_b}` as a Python int (no overflow).

        Raises
        ------
        DesignError
            If the design is not randomized or the number treated is random (share with random rounding).
        """
        self._require_random("count()")
        if not self.has_fixed_counts:
            raise DesignError(self._not_fixed_message("count()"))
        return math.prod(
            math.comb(int(m_units), int(m)) for m_units, m in zip(self._block_units, self._block_floor, strict=True)
        )

    def probabilities(self) -> np.ndarray:
        """Each observation's probability of treatment, shape ``(n_obs,)``.

        Returns
        -------
        numpy.ndarray
            :math:`m_b / M_b` for an observation whose unit is in block :math:`b` (``share`` when the spec
            states a share).
        """
        self._require_random("probabilities()")
        share = self.spec._share()
        if share is not None:
            return np.full(self.n_obs, share)
        unit_p = (self._block_floor / self._block_units)[self._unit_block]
        return unit_p[self._obs_unit]

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Draw ``size`` independent assignments.

        Parameters
        ----------
        rng : numpy.random.Generator
            Source of randomness; the result is bit-reproducible given its state.
        size : int
            Number of assignments (rows).

        Returns
        -------
        numpy.ndarray
            Bool array of shape ``(size, n_obs)``, one assignment per row.

        Notes
        -----
        Blocks of equal size :math:`M` are drawn together: in a ``(size, n_blocks, M)`` matrix of uniforms, the
        :math:`m_b` units with the smallest keys of each block are treated (argsort along the last axis, or
        pairwise ranking for blocks of at most 8 units; both pick the same units), which gives every subset of
        size :math:`m_b` the same probability. Units are then expanded to observations
        by fancy indexing. With a fractional share the number treated per block and draw is
        :math:`\\lfloor e_b \\rfloor + \\mathrm{Bernoulli}(e_b - \\lfloor e_b \\rfloor)`.
        """
        self._require_random("draw()")
        if not isinstance(rng, np.random.Generator):
            raise OptionError(
                f"rng must be a numpy.random.Generator, got {type(rng).__name__}; create one with "
                "np.random.default_rng(seed)."
            )
        if not is_int(size) or size < 0:
            raise OptionError(f"size={size!r} must be a non-negative int.")
        return self._draw_units(rng, int(size))[:, self._obs_unit]

    def _draw_units(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """:meth:`draw` on the units of assignment: bool ``(size, n_units)``, same random stream as ``draw``."""
        units = np.zeros((size, self.n_units), dtype=bool)
        for m_size, bcodes, umat in self._groups:
            keys = rng.random((size, bcodes.size, m_size))
            m = np.broadcast_to(self._block_floor[bcodes], (size, bcodes.size))
            frac = self._block_frac[bcodes]
            if np.any(frac > 0):
                m = m + (rng.random((size, bcodes.size)) < frac)
            units[:, umat] = _smallest(keys, m)
        return units

    def enumerate(self, max_count: int | None = None, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Every possible assignment exactly once, or the rows ``start:stop`` of that list.

        Parameters
        ----------
        max_count : int, optional
            Refuse when :meth:`count` exceeds it. ``None`` sets no limit.
        start, stop : int, optional
            Return only the assignments with positions ``start <= i < stop`` in the order below (``stop=None``:
            to the end). Memory is ``(stop - start) * n_obs`` bytes whatever :meth:`count` is, so a long list can
            be consumed in batches.

        Returns
        -------
        numpy.ndarray
            Bool array of shape ``(stop - start, n_obs)`` (``(count(), n_obs)`` by default); rows in
            lexicographic order of the per-block combinations (``itertools.combinations`` within blocks, the
            last block varying fastest).

        Raises
        ------
        DesignError
            If ``count() > max_count``, or the count cannot be enumerated (see :meth:`count`).
        OptionError
            If ``start`` or ``stop`` is not an int with ``0 <= start <= stop <= count()``.

        Notes
        -----
        Row :math:`i` is built directly from its position: :math:`i` is split into one index per block
        (``numpy.unravel_index`` over the blocks' :math:`\\binom{M_b}{m_b}` combinations), and each block's index
        :math:`r` is turned into its combination by the combinatorial number system: with
        :math:`R = \\binom{M}{m} - 1 - r`, for :math:`k = m, \\dots, 1` take the largest :math:`e_k` with
        :math:`\\binom{e_k}{k} \\le R` and subtract it; the units :math:`M - 1 - e_k` are treated (the
        lexicographic rank of a combination is the reversed co-lexicographic rank of its complement-indexed
        set; Knuth, *TAOCP* 4A, 7.2.1.3).
        """
        return self._enumerate_units(max_count, start, stop)[:, self._obs_unit]

    def _enumerate_units(self, max_count: int | None = None, start: int = 0, stop: int | None = None) -> np.ndarray:
        """:meth:`enumerate` on the units of assignment: bool ``(stop - start, n_units)``, same row order."""
        self._require_random("enumerate()")
        if not self.has_fixed_counts:
            raise DesignError(self._not_fixed_message("enumerate()"))
        total = self.count()
        if max_count is not None and total > max_count:
            raise DesignError(
                f"the design has {total:,} possible assignments, more than max_count={max_count:,}; draw a "
                "random sample of assignments instead (e.g. RandomizationInference(reps=...))."
            )
        if total > np.iinfo(np.intp).max:
            raise DesignError(f"the design has {total:,} possible assignments, too many to enumerate.")
        stop = total if stop is None else stop
        if not (is_int(start) and is_int(stop) and 0 <= start <= stop <= total):
            raise OptionError(
                f"start={start!r}, stop={stop!r} must be ints with 0 <= start <= stop <= {total:,} (the number of "
                "possible assignments)."
            )
        shape = tuple(
            math.comb(int(m_units), int(m)) for m_units, m in zip(self._block_units, self._block_floor, strict=True)
        )
        index = np.unravel_index(np.arange(int(start), int(stop), dtype=np.intp), shape)
        units = np.zeros((int(stop) - int(start), self.n_units), dtype=bool)
        order = np.argsort(self._unit_block, kind="stable")
        starts = np.concatenate(([0], np.cumsum(self._block_units)[:-1]))
        for b in range(len(self.block_labels)):
            m_units, m = int(self._block_units[b]), int(self._block_floor[b])
            members = order[starts[b] : starts[b] + m_units]
            treated = _unrank_combinations(index[b], m_units, m)  # (rows, m) positions within the block
            units[np.arange(units.shape[0])[:, None], members[treated]] = True
        return units

    def check(self, treatment: ArrayLike, *, name: str = "treatment") -> None:
        """Raise if ``treatment`` could not have come from this assignment.

        Parameters
        ----------
        treatment : array-like
            0/1 or bool treatment of each observation.
        name : str
            How to call the treatment in messages.

        Raises
        ------
        DesignError
            If it is not binary, varies within a cluster, or the number treated in a block differs from the
            spec (for a randomly rounded share: is neither the floor nor the ceiling of the expected number).
        DataError
            If it has missing values or the wrong length.
        """
        z = as_binary(treatment, self.n_obs, name)
        if not self.spec._randomized:
            return
        clustered = self.unit_labels is not None
        word = "clusters" if clustered else "units"
        first = np.unique(self._obs_unit, return_index=True)[1]
        unit_z = z[first]
        if clustered:
            bad = np.flatnonzero(z != unit_z[self._obs_unit])
            if bad.size:
                raise DesignError(
                    f"{name} varies within cluster {show_label(self.unit_labels[self._obs_unit[bad[0]]])}; with "
                    "cluster assignment every observation of a cluster has the same treatment."
                )
        treated = np.bincount(self._unit_block, weights=unit_z, minlength=len(self.block_labels))
        treated = np.rint(treated).astype(np.int64)
        low = self._block_floor
        high = low + (self._block_frac > 0)
        bad_blocks = np.flatnonzero((treated < low) | (treated > high))
        if bad_blocks.size:
            b = int(bad_blocks[0])
            where = f"block {show_label(self.block_labels[b])}" if self.spec._uses_blocks else "the design"
            wanted = f"{low[b]}" if high[b] == low[b] else f"{low[b]} or {high[b]}"
            raise DesignError(
                f"{name} treats {treated[b]} of the {self._block_units[b]} {word} in {where}, but the "
                f"assignment ({type(self.spec).__name__}) treats {wanted}; state the assignment that was "
                f"used, "
                "or check the data."
            )

    def generate(self, seed: int | np.random.SeedSequence) -> GeneratedAssignment:
        """Draw the assignment of a new study, with a record to reproduce it.

        Parameters
        ----------
        seed : int or numpy.random.SeedSequence
            Seed of ``numpy.random.default_rng``. The same seed gives a bit-identical treatment and record.

        Returns
        -------
        GeneratedAssignment
            Read-only bool treatment of shape ``(n_obs,)`` and its :class:`AssignmentRecord`.
        """
        self._require_random("generate()")
        seq = seed_sequence(seed)
        z = self.draw(np.random.default_rng(seq), 1)[0]
        first = np.unique(self._obs_unit, return_index=True)[1]
        treated = np.bincount(self._unit_block, weights=z[first], minlength=len(self.block_labels))
        entropy = seq.entropy
        from evalkit import __version__

        record = AssignmentRecord(
            method=self.method,
            spec=self.spec,
            seed=int(entropy) if is_int(entropy) else tuple(int(e) for e in entropy),  # type: ignore
            spawn_key=tuple(int(k) for k in seq.spawn_key),
            n_obs=self.n_obs,
            n_units=self.n_units,
            block_labels=self.block_labels,
            treated_counts=tuple(round(float(t)) for t in treated),
            unit_counts=tuple(int(n) for n in self._block_units),
            evalkit_version=__version__,
        )
        return GeneratedAssignment(treatment=readonly(z), record=record)
