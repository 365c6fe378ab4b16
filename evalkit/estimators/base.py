"""An estimator as one small object: its fit and its batched form, registered together."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from evalkit.errors import EstimationError
from evalkit.estimators._linear import LinearFit
from evalkit.estimators._sample import EstimationSample
from evalkit.estimators.treatment_design import BatchDesign, matches_fit

__all__ = ["Estimator"]


@dataclass(frozen=True)
class Estimator:
    """A least-squares estimator of a treatment effect: ``fit`` and its batched form ``batch_design``.

    Parameters
    ----------
    name : str
        The name designs look it up by (``estimator="ols"``).
    fit_function : callable
        ``fit_function(sample) -> LinearFit``: the estimator on one estimation sample.
    design_function : callable or None
        ``design_function(sample) -> TreatmentDesign | DiDTreatmentDesign | None``: how the estimator's design
        matrix depends on the treatment vector (see :mod:`evalkit.estimators.treatment_design`). It raises what
        ``fit_function`` raises on a sample the estimator refuses, and returns ``None`` only for a sample whose
        regressors are not a fixed function of the treatment vector (documented by each estimator).
    unbatched_reason : str, default ""
        Required when ``design_function`` is None, and forbidden otherwise: why the estimator has no batched form.
        Randomization inference then re-runs it draw by draw and says so, with this reason, in the results' notes.

    Raises
    ------
    EstimationError
        If ``design_function`` is None without an ``unbatched_reason`` (an estimator cannot forget its batched form
        silently), or both are given.

    Notes
    -----
    Every estimator of :mod:`evalkit.estimators` is least squares of a (transformed) outcome on a design matrix
    :math:`X(z)` in which only the treatment vector :math:`z` changes between re-drawn assignments. Describing
    :math:`X(z)` once lets the inference layer fit a whole batch of draws at once
    (:func:`evalkit.inference.batched.fit_treatment_design`) with the same kernel as a single fit; :meth:`batch_design`
    with ``fit=`` refuses (returns ``None``) a form that does not rebuild the estimator's own ``fit.X``, so a form
    that drifted from its estimator sends randomization inference to the per-draw loop instead of giving other
    numbers.
    """

    name: str
    fit_function: Callable[[EstimationSample], LinearFit] = field(repr=False)
    design_function: Callable[[EstimationSample], BatchDesign | None] | None = field(repr=False)
    unbatched_reason: str = ""

    def __post_init__(self) -> None:
        if self.design_function is None and not self.unbatched_reason:
            raise EstimationError(
                f"estimator {self.name!r} is registered without a batched form (design_function=None) and without "
                "saying why; give design_function=... (how its design matrix depends on the treatment vector) or "
                "state unbatched_reason='...' so that randomization inference can report why it loops per draw."
            )
        if self.design_function is not None and self.unbatched_reason:
            raise EstimationError(
                f"estimator {self.name!r} has a batched form (design_function) and unbatched_reason="
                f"{self.unbatched_reason!r}; give one or the other."
            )

    @property
    def batched(self) -> bool:
        """Whether the estimator has a batched form."""
        return self.design_function is not None

    def fit(self, sample: EstimationSample) -> LinearFit:
        """The estimator's least-squares fit on ``sample``."""
        return self.fit_function(sample)

    def __call__(self, sample: EstimationSample) -> LinearFit:
        """Same as :meth:`fit` (registries map names to callables ``sample -> LinearFit``)."""
        return self.fit_function(sample)

    def batch_design(self, sample: EstimationSample, fit: LinearFit | None = None) -> BatchDesign | None:
        """How the estimator's design matrix depends on the treatment vector, on ``sample``.

        Parameters
        ----------
        sample : EstimationSample
            The estimation sample.
        fit : LinearFit, optional
            The estimator's fit on ``sample`` (its ``target`` may be another treatment-dependent column, e.g. an
            event time). When given, the design must rebuild ``fit.X`` (see
            :func:`evalkit.estimators.treatment_design.matches_fit`).

        Returns
        -------
        TreatmentDesign, DiDTreatmentDesign or None
            ``None`` when the estimator has no batched form (``unbatched_reason``), the sample is one the
            estimator documents as unbatched, or the form does not rebuild ``fit.X``.
        """
        if self.design_function is None:
            return None
        design = self.design_function(sample)
        if design is None or fit is None:
            return design
        return matches_fit(design, np.asarray(sample.treatment), fit)
