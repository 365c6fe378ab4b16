"""Regression estimators of a treatment effect: ANCOVA (``ols``), Lin (2013) (``lin``) and change from baseline."""

from __future__ import annotations

import numpy as np

from evalkit.errors import EstimationError
from evalkit.estimators._linear import LinearFit, fit_least_squares
from evalkit.estimators._sample import EstimationSample, block_dummies, centre
from evalkit.estimators.base import Estimator
from evalkit.estimators.treatment_design import TreatmentDesign

__all__ = ["CHANGE", "LIN", "OLS", "change", "change_design", "lin", "lin_design", "ols", "ols_design"]


def _blocks(sample: EstimationSample) -> tuple[np.ndarray, tuple[str, ...]]:
    if sample.blocks is None or np.unique(sample.blocks).size == 1:
        return np.empty((sample.n_obs, 0)), ()
    return block_dummies(sample.blocks)


def ols(sample: EstimationSample) -> LinearFit:
    """ANCOVA: least squares of the outcome on treatment, covariates and block fixed effects.

    Notes
    -----
    :math:`y_i = \\alpha + \\tau Z_i + X_i'\\beta + \\sum_b \\gamma_b 1[b_i = b] + e_i`; the estimate is
    :math:`\\hat\\tau`. With blocks of unequal treated shares this weights blocks by
    :math:`n_b p_b (1-p_b)`, not by size (Angrist 1998); use ``lin`` for block-size weights.
    """
    design, terms = _ols_columns(sample)
    return fit_least_squares(sample.y, design.matrix(sample.treatment), terms, 1, weights=sample.weights)


def _ols_columns(sample: EstimationSample) -> tuple[TreatmentDesign, tuple[str, ...]]:
    D, dnames = _blocks(sample)
    design = TreatmentDesign(np.column_stack([sample.covariates, D]), np.empty((sample.n_obs, 0)))
    return design, ("(Intercept)", sample.treatment_name, *sample.covariate_names, *dnames)


def ols_design(sample: EstimationSample) -> TreatmentDesign:
    """The batched form of :func:`ols`: ``[1, z, X, D]`` with only ``z`` depending on treatment."""
    return _ols_columns(sample)[0]


def lin(sample: EstimationSample) -> LinearFit:
    """Lin's (2013) estimator: treatment interacted with centred covariates (and centred block indicators).

    Notes
    -----
    :math:`y_i = \\alpha + \\tau Z_i + (X_i - \\bar X)'\\beta + Z_i (X_i - \\bar X)'\\gamma + e_i`, with
    :math:`\\bar X` the (weighted) sample mean; :math:`\\hat\\tau` is consistent for the average treatment effect
    and never less precise asymptotically than the difference in means; HC2 standard errors are conservative
    (Lin 2013, Ann. Appl. Stat. 7(1):295-318). Block indicators enter the same way, which gives block-size
    weights (as ``estimatr::lm_lin``).
    """
    design, terms = _lin_columns(sample)
    return fit_least_squares(sample.y, design.matrix(sample.treatment), terms, 1, weights=sample.weights)


def _lin_columns(sample: EstimationSample) -> tuple[TreatmentDesign, tuple[str, ...]]:
    D, dnames = _blocks(sample)
    W = np.column_stack([sample.covariates, D])
    names = (*sample.covariate_names, *dnames)
    if W.shape[1] == 0:
        raise EstimationError(
            "estimator='lin' needs covariates (or blocks) to interact with treatment; pass covariates=[...] "
            "or use estimator='difference_in_means'."
        )
    Wc = centre(W, sample.weights)
    t = sample.treatment_name
    terms = ("(Intercept)", t, *(f"{c}_c" for c in names), *(f"{t}:{c}_c" for c in names))
    return TreatmentDesign(Wc, Wc), terms


def lin_design(sample: EstimationSample) -> TreatmentDesign:
    """The batched form of :func:`lin`: ``[1, z, W_c, z W_c]``; the centring of ``W`` does not depend on ``z``."""
    return _lin_columns(sample)[0]


def change(sample: EstimationSample) -> LinearFit:
    """Difference in change from baseline: ANCOVA on :math:`\\Delta y = y_{end} - y_{base}`.

    Notes
    -----
    :math:`\\Delta y_i = \\alpha + \\tau Z_i + X_i'\\beta + e_i`; with the baseline value among the covariates
    this equals ANCOVA on the endline level (same :math:`\\hat\\tau` and standard error), without it it is the
    "gain score" analysis. This is the analysis of the Casita pilot (Nelson et al. 2018, BMJ Paediatrics Open
    2:e000268): mean adjusted difference in change from baseline to three months.
    """
    return ols(_change_sample(sample))


def change_design(sample: EstimationSample) -> TreatmentDesign:
    """The batched form of :func:`change`: that of :func:`ols` (only the response, the change, differs)."""
    return ols_design(_change_sample(sample))


def _change_sample(sample: EstimationSample) -> EstimationSample:
    if sample.baseline is None:
        raise EstimationError(
            "estimator='change' needs the outcome's baseline column; pass baseline={'outcome': 'outcome_bl'} "
            "or a template such as baseline='{outcome}_bl'."
        )
    return EstimationSample(
        y=sample.y - sample.baseline,
        treatment=sample.treatment,
        covariates=sample.covariates,
        covariate_names=sample.covariate_names,
        blocks=sample.blocks,
        weights=sample.weights,
        treatment_name=sample.treatment_name,
    )


#: ANCOVA, Lin (2013) and change from baseline, each registered with its batched form.
OLS = Estimator("ols", ols, ols_design)
LIN = Estimator("lin", lin, lin_design)
CHANGE = Estimator("change", change, change_design)
