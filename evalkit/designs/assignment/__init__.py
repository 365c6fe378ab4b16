"""How treatment was assigned: random assignment mechanisms.

An assignment is stated in two steps.

1. A *spec* holds settings only and is written by the user: :class:`CompleteRandomization`,
   :class:`BlockRandomization`, :class:`ClusterRandomization`, :class:`BlockClusterRandomization`,
   :class:`NotRandomized` or :class:`~evalkit.designs.assignment.rerandomization.Rerandomization`.
2. :meth:`AssignmentSpec.bind` joins the spec to the units of a data set (observations, their blocks and
   clusters, and optionally the observed treatment) and returns a :class:`BoundAssignment`, which can
   :meth:`~BoundAssignment.count`, :meth:`~BoundAssignment.enumerate` and :meth:`~BoundAssignment.draw` the
   possible assignments, give each observation's :meth:`~BoundAssignment.probabilities` of treatment and
   :meth:`~BoundAssignment.check` an observed assignment.

:func:`assign` draws the assignment of a new study from a DataFrame, and :func:`from_observed` builds the
default assignment of a :class:`~evalkit.RandomizedTrial` (complete randomization within blocks, clusters as
the units of assignment, the observed number treated).

Modules (each imports only modules listed above it). The names in this package's ``__all__`` are importable from
it; the helpers of ``_base`` (for the package's own use) and ``rerandomization`` are not re-exported here:

==================== ===============================================================================================
``_base``            shared checks and conversions (labels, counts, shares, binary treatment, seeds), constants
``bound``            :class:`BoundAssignment`: count, enumerate, draw, probabilities, check, generate; the
                     mathematics of the mechanisms (Notes); :class:`AssignmentRecord`, :class:`GeneratedAssignment`
``spec``             :class:`AssignmentSpec` (the base class with ``bind``) and the count checks specs share
``complete``         :class:`CompleteRandomization`
``blocked``          :class:`BlockRandomization`
``cluster``          :class:`ClusterRandomization`, :class:`BlockClusterRandomization`
``not_randomized``   :class:`NotRandomized`
``rerandomization``  :class:`~evalkit.designs.assignment.rerandomization.Rerandomization` and its bound form
                     (importable from :mod:`evalkit.designs.rerandomization` and ``evalkit``, not from here)
``convenience``      :func:`assign`, :func:`from_observed`
==================== ===============================================================================================
"""

from evalkit.designs.assignment._base import AssignmentMethod
from evalkit.designs.assignment.blocked import BlockRandomization
from evalkit.designs.assignment.bound import AssignmentRecord, BoundAssignment, GeneratedAssignment
from evalkit.designs.assignment.cluster import BlockClusterRandomization, ClusterRandomization
from evalkit.designs.assignment.complete import CompleteRandomization
from evalkit.designs.assignment.convenience import assign, from_observed
from evalkit.designs.assignment.not_randomized import NotRandomized
from evalkit.designs.assignment.spec import AssignmentSpec

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
