"""How treatment was assigned: random assignment mechanisms (see :mod:`evalkit.designs.assignment.bound`)."""

from evalkit.designs.assignment.bound import (
    AssignmentMethod,
    AssignmentRecord,
    AssignmentSpec,
    BlockClusterRandomization,
    BlockRandomization,
    BoundAssignment,
    ClusterRandomization,
    CompleteRandomization,
    GeneratedAssignment,
    NotRandomized,
    assign,
    from_observed,
)

__all__ = [
    "AssignmentMethod",
    "AssignmentRecord",
    "AssignmentSpec",
    "BlockClusterRandomization",
    "BlockRandomization",
    "BoundAssignment",
    "ClusterRandomization",
    "CompleteRandomization",
    "GeneratedAssignment",
    "NotRandomized",
    "assign",
    "from_observed",
]
