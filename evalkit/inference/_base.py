"""What flows between a design, an estimator and an inference method."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evalkit.estimators import EstimationSample, LinearFit

__all__ = ["InferenceContext", "InferenceOutcome"]


@dataclass(frozen=True)
class InferenceContext:
    """Everything an inference method may need, handed down by the design (never the design itself).

    Attributes
    ----------
    alpha : float
        One minus the confidence level.
    clusters : ndarray or None
        Cluster codes of the estimation sample's rows, when the design is clustered.
    sample : EstimationSample
        The estimation sample the fit came from.
    refit : callable
        The estimator, ``refit(sample) -> LinearFit``, for methods that re-estimate.
    draw : callable or None
        ``draw(rng, size) -> bool array (size, n)``: treatment re-drawn from the design's assignment, on the
        sample's rows; None when the design is not randomized.
    """

    alpha: float
    clusters: np.ndarray | None = field(default=None, repr=False)
    sample: EstimationSample | None = field(default=None, repr=False)
    refit: Callable[[EstimationSample], LinearFit] | None = field(default=None, repr=False)
    draw: Callable[[np.random.Generator, int], np.ndarray] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class InferenceOutcome:
    """Standard error, test and interval for the coefficient of interest."""

    std_error: float
    statistic: float
    p_value: float
    conf_low: float
    conf_high: float
    df: float
    n_clusters: int | None
    label: str
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)
