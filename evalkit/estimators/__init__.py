"""Point estimators of a treatment effect and what inference needs from them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from evalkit._validation import check_option
from evalkit.estimators._linear import LinearFit, fit_least_squares
from evalkit.estimators._sample import EstimationSample
from evalkit.estimators.difference_in_means import difference_in_means
from evalkit.estimators.regression import change, lin, ols

__all__ = [
    "ESTIMATORS",
    "EstimationSample",
    "EstimatorName",
    "LinearFit",
    "change",
    "difference_in_means",
    "fit_estimator",
    "fit_least_squares",
    "lin",
    "ols",
]

EstimatorName = Literal["difference_in_means", "ols", "lin", "change"]

ESTIMATORS: dict[str, Callable[[EstimationSample], LinearFit]] = {
    "difference_in_means": difference_in_means,
    "ols": ols,
    "lin": lin,
    "change": change,
}


def fit_estimator(name: EstimatorName, sample: EstimationSample) -> LinearFit:
    """Run the estimator called ``name`` on ``sample``."""
    check_option("estimator", name, EstimatorName)
    return ESTIMATORS[name](sample)
