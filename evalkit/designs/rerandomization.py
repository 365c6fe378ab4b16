"""Rerandomization, kept importable from its former home.

The module moved to :mod:`evalkit.designs.assignment.rerandomization`; every public name is re-exported here so
that ``from evalkit.designs.rerandomization import Rerandomization`` (and the others, including the constants
:data:`EXACT_LIMIT`, :data:`MC_DRAWS` and :data:`MC_SEED`) keeps working. They are the same objects; to change a
constant (e.g. in a test), set it on :mod:`evalkit.designs.assignment.rerandomization`, which reads it.
"""

from evalkit.designs.assignment import rerandomization as _moved
from evalkit.designs.assignment.rerandomization import (
    BoundRerandomization,
    Criterion,
    Rerandomization,
    RerandomizationRecord,
)

EXACT_LIMIT = _moved.EXACT_LIMIT
MC_DRAWS = _moved.MC_DRAWS
MC_SEED = _moved.MC_SEED

__all__ = ["BoundRerandomization", "Criterion", "Rerandomization", "RerandomizationRecord"]
