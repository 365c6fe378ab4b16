"""Block randomization: complete randomization of observations within each block."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import ClassVar

from evalkit.designs.assignment._base import AssignmentMethod
from evalkit.designs.assignment.spec import AssignmentSpec, spec_hash, validate_counts

__all__ = ["BlockRandomization"]


@dataclass(frozen=True)
class BlockRandomization(AssignmentSpec):
    """Block randomization: complete randomization of observations within each block.

    Parameters
    ----------
    n_treated : int or mapping, optional
        Number treated in each block: one int for every block, or a mapping from block label to count.
    share : float, optional
        Share treated in each block, strictly between 0 and 1 (random rounding per block as in
        ``randomizr::block_ra``, see the Notes of :mod:`evalkit.designs.assignment.bound`).

    Notes
    -----
    Blocks are randomized independently, so the number of possible assignments is
    :math:`\\prod_b \\binom{M_b}{m_b}` and :math:`\\Pr(Z_i = 1) = m_b / M_b` for :math:`i` in block :math:`b`
    (Gerber & Green 2012, sec. 3.6.1).
    """

    n_treated: int | Mapping[Hashable, int] | None = None
    share: float | None = None

    _uses_blocks: ClassVar[bool] = True
    _method: ClassVar[AssignmentMethod] = "blocked"

    def __post_init__(self) -> None:
        validate_counts(self, allow_mapping=True)

    def __hash__(self) -> int:
        return spec_hash(self)
