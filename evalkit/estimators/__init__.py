"""Point estimators of a treatment effect and what inference needs from them.

Each estimator is one :class:`Estimator` object, registered once in :data:`REGISTRY` under the name designs use
(``estimator="ols"``): it provides ``fit(sample) -> LinearFit`` and ``batch_design(sample)``, how its design
matrix depends on the treatment vector, which randomization inference uses to fit many re-drawn assignments at
once. An estimator without a batched form must say why (``Estimator(..., unbatched_reason=...)``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal, get_args

from evalkit._validation import check_option
from evalkit.estimators._linear import LinearFit, fit_least_squares
from evalkit.estimators._sample import EstimationSample
from evalkit.estimators.base import Estimator
from evalkit.estimators.difference_in_means import DIFFERENCE_IN_MEANS, difference_in_means
from evalkit.estimators.event_study import EVENT_STUDY
from evalkit.estimators.iv import IV, IVFit, two_stage_least_squares
from evalkit.estimators.regression import CHANGE, LIN, OLS, change, lin, ols
from evalkit.estimators.treatment_design import BatchDesign, DiDTreatmentDesign, TreatmentDesign
from evalkit.estimators.twfe import DID, TWFE

__all__ = [
    "ESTIMATORS",
    "REGISTRY",
    "BatchDesign",
    "DiDTreatmentDesign",
    "EstimationSample",
    "Estimator",
    "EstimatorName",
    "IVFit",
    "LinearFit",
    "TreatmentDesign",
    "change",
    "difference_in_means",
    "fit_estimator",
    "fit_least_squares",
    "get_estimator",
    "lin",
    "ols",
    "two_stage_least_squares",
]

EstimatorName = Literal["difference_in_means", "ols", "lin", "change", "iv"]

#: Every least-squares estimator, by name: the trial estimators (2SLS ``"iv"`` among them) and the
#: difference-in-differences ``"did"``, ``"twfe"`` and ``"event_study"``. Read-only; each entry is registered
#: exactly once, here.
REGISTRY: Mapping[str, Estimator] = MappingProxyType(
    {e.name: e for e in (DIFFERENCE_IN_MEANS, OLS, LIN, CHANGE, IV, DID, TWFE, EVENT_STUDY)}
)

#: The trial estimators (``RandomizedTrial.estimate(estimator=...)``); each is callable as ``ESTIMATORS[name](sample)``.
ESTIMATORS: Mapping[str, Estimator] = MappingProxyType({name: REGISTRY[name] for name in get_args(EstimatorName)})


def get_estimator(name: str) -> Estimator:
    """The registered :class:`Estimator` called ``name``.

    Raises
    ------
    OptionError
        If no estimator has that name (the message lists the registered names).
    """
    check_option("estimator", name, tuple(REGISTRY))
    return REGISTRY[name]


def fit_estimator(name: EstimatorName, sample: EstimationSample) -> LinearFit:
    """Run the estimator called ``name`` on ``sample``."""
    check_option("estimator", name, EstimatorName)
    return ESTIMATORS[name].fit(sample)
