"""evalkit: small-sample, design-based impact evaluation.

One idea carries the toolkit: a design knows how its treatment was assigned. Estimation, standard errors and
randomization-based inference read that knowledge from the design.

>>> import evalkit as ek
>>> trial = ek.RandomizedTrial(ek.datasets.load_casita(), treatment="treated")
"""

from __future__ import annotations

__version__ = "0.1.0"

from evalkit import datasets, errors, estimators, inference, planning
from evalkit.designs.assignment import (
    BlockClusterRandomization,
    BlockRandomization,
    ClusterRandomization,
    CompleteRandomization,
    NotRandomized,
    assign,
)
from evalkit.designs.assignment.rerandomization import Rerandomization
from evalkit.designs.did import DiffInDiff
from evalkit.designs.staggered import StaggeredDiD
from evalkit.designs.trial import RandomizedTrial
from evalkit.diagnostics.balance import BalanceTable
from evalkit.errors import EvalkitError
from evalkit.results import Results

__all__ = [
    "BalanceTable",
    "BlockClusterRandomization",
    "BlockRandomization",
    "ClusterRandomization",
    "CompleteRandomization",
    "DiffInDiff",
    "EvalkitError",
    "NotRandomized",
    "RandomizedTrial",
    "Rerandomization",
    "Results",
    "StaggeredDiD",
    "__version__",
    "assign",
    "datasets",
    "errors",
    "estimators",
    "inference",
    "planning",
]
