"""Complete randomization: a fixed number of all observations treated, every such set equally likely."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from evalkit.designs.assignment._base import AssignmentMethod
from evalkit.designs.assignment.spec import AssignmentSpec, validate_counts

__all__ = ["CompleteRandomization"]


@dataclass(frozen=True)
class CompleteRandomization(AssignmentSpec):
    """Complete randomization: exactly ``n_treated`` of all observations are treated.

    Parameters
    ----------
    n_treated : int, optional
        Number of observations treated, between 1 and ``n_obs - 1``.
    share : float, optional
        Share treated, strictly between 0 and 1. When ``n_obs * share`` is not whole, the number treated is
        rounded at random (``randomizr::complete_ra``; see the Notes of :mod:`evalkit.designs.assignment.bound`)
        so that each probability is ``share``.

    Notes
    -----
    With neither ``n_treated`` nor ``share`` the observed number treated is used (``observed`` must then be
    given to :meth:`bind`). Every set of :math:`m` treated among :math:`N` is equally likely, so there are
    :math:`\\binom{N}{m}` possible assignments and :math:`\\Pr(Z_i = 1) = m / N` (Gerber & Green 2012, sec.
    2.7).

    Examples
    --------
    >>> from math import comb
    >>> CompleteRandomization(n_treated=41).bind(60).count() == comb(60, 41)
    True
    """

    n_treated: int | None = None
    share: float | None = None

    _method: ClassVar[AssignmentMethod] = "complete"

    def __post_init__(self) -> None:
        validate_counts(self, allow_mapping=False)
