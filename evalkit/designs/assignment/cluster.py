"""Cluster randomization: whole clusters assigned completely at random, overall or within blocks."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import ClassVar

from evalkit.designs.assignment._base import AssignmentMethod
from evalkit.designs.assignment.spec import AssignmentSpec, spec_hash, validate_counts

__all__ = ["BlockClusterRandomization", "ClusterRandomization"]


@dataclass(frozen=True)
class ClusterRandomization(AssignmentSpec):
    """Cluster randomization: ``n_treated`` whole clusters are treated, completely at random.

    Parameters
    ----------
    n_treated : int, optional
        Number of clusters treated, between 1 and the number of clusters minus 1.
    share : float, optional
        Share of clusters treated, strictly between 0 and 1.

    Notes
    -----
    Clusters are the units of assignment: with :math:`G` clusters and :math:`g` treated there are
    :math:`\\binom{G}{g}` possible assignments and every observation has :math:`\\Pr(Z_i = 1) = g / G`
    (Gerber & Green 2012, sec. 3.6.2; ``randomizr::cluster_ra``).
    """

    n_treated: int | None = None
    share: float | None = None

    _uses_clusters: ClassVar[bool] = True
    _method: ClassVar[AssignmentMethod] = "cluster"

    def __post_init__(self) -> None:
        validate_counts(self, allow_mapping=False)


@dataclass(frozen=True)
class BlockClusterRandomization(AssignmentSpec):
    """Blocked cluster randomization: whole clusters assigned completely at random within each block.

    Parameters
    ----------
    n_treated : int or mapping, optional
        Number of clusters treated in each block: one int for every block, or a mapping block label -> count.
    share : float, optional
        Share of clusters treated in each block, strictly between 0 and 1.

    Notes
    -----
    Clusters must be nested in blocks. With :math:`G_b` clusters in block :math:`b` and :math:`g_b` treated
    there are :math:`\\prod_b \\binom{G_b}{g_b}` possible assignments and :math:`\\Pr(Z_i = 1) = g_b / G_b`
    (``randomizr::block_and_cluster_ra``).
    """

    n_treated: int | Mapping[Hashable, int] | None = None
    share: float | None = None

    _uses_blocks: ClassVar[bool] = True
    _uses_clusters: ClassVar[bool] = True
    _method: ClassVar[AssignmentMethod] = "blocked-cluster"

    def __post_init__(self) -> None:
        validate_counts(self, allow_mapping=True)

    def __hash__(self) -> int:
        return spec_hash(self)
