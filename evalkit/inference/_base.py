"""What flows between a design, an estimator and an inference method."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evalkit.estimators import EstimationSample, LinearFit
from evalkit.inference.sandwich import NO_CORRECTION, SmallSampleCorrection

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
    enumerate : callable or None
        ``enumerate(max_count) -> bool array (count, n)``: every possible assignment, on the sample's rows;
        raises :class:`~evalkit.errors.DesignError` when there are more than ``max_count``.
    count : callable or None
        ``count() -> int``: the number of possible assignments.
    estimator : str
        The estimator's name (``"difference_in_means"``, ``"ols"``, ...).
    rows : ndarray or None
        Positions (0-based) of the sample's rows in the design's data.
    correction : SmallSampleCorrection
        Parameters the fit estimated outside its design matrix (absorbed fixed effects), counted by every
        small-sample factor and df of every inference method.
    """

    alpha: float
    clusters: np.ndarray | None = field(default=None, repr=False)
    sample: EstimationSample | None = field(default=None, repr=False)
    refit: Callable[[EstimationSample], LinearFit] | None = field(default=None, repr=False)
    draw: Callable[[np.random.Generator, int], np.ndarray] | None = field(default=None, repr=False)
    enumerate: Callable[[int | None], np.ndarray] | None = field(default=None, repr=False)
    count: Callable[[], int] | None = field(default=None, repr=False)
    estimator: str = ""
    rows: np.ndarray | None = field(default=None, repr=False)
    correction: SmallSampleCorrection = NO_CORRECTION


@dataclass(frozen=True)
class InferenceOutcome:
    """Standard error, test and interval for the coefficient of interest.

    ``extra`` holds arrays kept on the results for later joint work (e.g. ``"null_statistics"``, the statistic
    under each re-drawn assignment); ``columns`` holds scalars added to the tidy results row (e.g.
    ``"p_value_mc_se"``); ``notes`` holds plain-language caveats copied to ``Results.notes`` (once each).
    """

    std_error: float
    statistic: float
    p_value: float
    conf_low: float
    conf_high: float
    df: float
    n_clusters: int | None
    label: str
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)
    columns: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
