"""What flows between a design, an estimator and an inference method, and the protocol every method follows."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from evalkit._boundary import KnownKeywords
from evalkit.estimators import EstimationSample, LinearFit
from evalkit.estimators.response_weights import ResponseModel
from evalkit.inference.sandwich import NO_CORRECTION, SmallSampleCorrection

__all__ = ["InferenceContext", "InferenceMethod", "InferenceOutcome", "JointTest"]


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
        ``enumerate(max_count, start=0, stop=None) -> bool array (stop - start, n)``: the possible assignments
        at positions ``start:stop`` of the design's fixed enumeration order (all ``count`` of them by default), on
        the sample's rows; raises :class:`~evalkit.errors.DesignError` when there are more than ``max_count``.
        Consumers read long enumerations range by range, so memory is bounded by the range, not the count.
    count : callable or None
        ``count() -> int``: the number of possible assignments.
    estimator : str
        The estimator's name (``"difference_in_means"``, ``"ols"``, ...).
    rows : ndarray or None
        Positions (0-based) of the sample's rows in the design's data.
    correction : SmallSampleCorrection
        Parameters the fit estimated outside its design matrix (absorbed fixed effects), counted by every
        small-sample factor and df of every inference method.
    response_model : ResponseModel or None
        When the fit is weighted by estimated inverse probabilities of response (``attrition_weights=``): the
        fitted response model, whose estimation the standard errors account for
        (:func:`evalkit.inference.estimated_weights.estimated_weights_adjustment`).
    """

    alpha: float
    clusters: np.ndarray | None = field(default=None, repr=False)
    sample: EstimationSample | None = field(default=None, repr=False)
    refit: Callable[[EstimationSample], LinearFit] | None = field(default=None, repr=False)
    draw: Callable[[np.random.Generator, int], np.ndarray] | None = field(default=None, repr=False)
    enumerate: Callable[..., np.ndarray] | None = field(default=None, repr=False)
    count: Callable[[], int] | None = field(default=None, repr=False)
    estimator: str = ""
    rows: np.ndarray | None = field(default=None, repr=False)
    correction: SmallSampleCorrection = NO_CORRECTION
    response_model: ResponseModel | None = field(default=None, repr=False)


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


@dataclass(frozen=True)
class JointTest:
    """Joint test that several coefficients are zero (e.g. an event study's pre-treatment leads).

    Attributes
    ----------
    statistic : float
        F statistic.
    df_num, df_denom : float
        Numerator (number of coefficients tested) and denominator degrees of freedom.
    p_value : float
        :math:`P(F_{df_{num}, df_{denom}} > F)`.
    terms : tuple of str
        The coefficients tested.
    method : str
        How the F and its df were formed.
    """

    statistic: float
    df_num: float
    df_denom: float
    p_value: float
    terms: tuple[str, ...]
    method: str


class InferenceMethod(KnownKeywords, ABC):
    """The protocol of every inference method: settings only, and the tests they give a fit.

    A design hands a method a fit and an :class:`InferenceContext` (never itself) and gets back one
    :class:`InferenceOutcome` per tested term. Subclasses are frozen dataclasses holding settings; they implement
    :meth:`infer` for the fit's target coefficient and may override :meth:`infer_terms` (several terms at once, e.g.
    one covariance matrix for an event study) and :meth:`joint_test`.
    """

    @property
    @abstractmethod
    def name(self) -> str:
        """The label shown in results' ``inference`` column."""

    @property
    def sandwich_type(self) -> str | None:
        """The sandwich covariance type behind the reported standard errors, when the method is a sandwich."""
        return None

    @property
    def working_model(self) -> str:
        """The working model of a weighted CR2 behind the reported standard errors (``"identity"`` by default)."""
        return "identity"

    @abstractmethod
    def infer(self, fit: LinearFit, ctx: InferenceContext) -> InferenceOutcome:
        """Standard error, test and interval for ``fit``'s target coefficient."""

    def infer_terms(self, fit: LinearFit, ctx: InferenceContext, terms: Sequence[int]) -> tuple[InferenceOutcome, ...]:
        """One outcome per coefficient index in ``terms``: by default :meth:`infer` with each as the target (its
        refits target that term too)."""
        if list(terms) == [fit.target]:
            return (self.infer(fit, ctx),)
        outs = []
        for j in terms:
            refit = ctx.refit
            term_ctx = ctx if refit is None else replace(ctx, refit=lambda s, _j=j, _r=refit: replace(_r(s), target=_j))
            outs.append(self.infer(replace(fit, target=j), term_ctx))
        return tuple(outs)

    def joint_test(self, fit: LinearFit, ctx: InferenceContext, terms: Sequence[int]) -> JointTest | None:
        """A joint test that the coefficients ``terms`` are zero, or None when the method offers none."""
        return None
