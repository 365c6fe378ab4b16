"""The spec of a treatment that was not randomly assigned."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from evalkit.designs.assignment._base import AssignmentMethod
from evalkit.designs.assignment.spec import AssignmentSpec

__all__ = ["NotRandomized"]


@dataclass(frozen=True)
class NotRandomized(AssignmentSpec):
    """Treatment was not randomly assigned.

    Binding works (the design can still estimate with model-based standard errors), but every method that
    needs the assignment mechanism -- :meth:`BoundAssignment.draw`, :meth:`~BoundAssignment.enumerate`,
    :meth:`~BoundAssignment.count`, :meth:`~BoundAssignment.probabilities`, :meth:`~BoundAssignment.generate`
    -- raises :class:`~evalkit.errors.DesignError`.
    """

    _randomized: ClassVar[bool] = False
    _method: ClassVar[AssignmentMethod] = "not randomized"
