"""Rerandomization, kept importable from its former home.

The module moved to :mod:`evalkit.designs.assignment.rerandomization`; every public name is re-exported here so
that ``from evalkit.designs.rerandomization import Rerandomization`` (and the others) keeps working.
"""

from evalkit.designs.assignment.rerandomization import (
    EXACT_LIMIT,
    MC_DRAWS,
    MC_SEED,
    BoundRerandomization,
    Criterion,
    Rerandomization,
    RerandomizationRecord,
)

__all__ = [
    "EXACT_LIMIT",
    "MC_DRAWS",
    "MC_SEED",
    "BoundRerandomization",
    "Criterion",
    "Rerandomization",
    "RerandomizationRecord",
]
