"""Regression estimators of a treatment effect: ANCOVA (``ols``), Lin (2013) (``lin``) and change from baseline."""

from __future__ import annotations

from dataclasses import replace

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

    With moderators :math:`M` (``sample.moderators``) the model adds their centred main effects and interactions,
    :math:`+ (M_i - \\bar M)'\\delta + Z_i (M_i - \\bar M)'\\gamma`, with :math:`\\bar M` the (weighted) sample
    mean: :math:`\\hat\\gamma` (terms ``"<treatment>:<moderator>"``) is how the effect changes with each moderator
    and :math:`\\hat\\tau` stays the effect at the moderators' means, i.e. the average effect (the coefficients
    are those of ``lm(y ~ z * I(m - mean(m)) + x)``).
    """
    design, terms = _ols_columns(sample)
    fit = fit_least_squares(sample.y, design.matrix(sample.treatment), terms, 1, weights=sample.weights)
    return _with_moderator_columns(fit, design, sample)


def _moderators(sample: EstimationSample) -> tuple[np.ndarray, tuple[str, ...]]:
    """The centred moderator columns and their names (none: an (n, 0) array)."""
    if sample.moderators is None or sample.moderators.shape[1] == 0:
        return np.empty((sample.n_obs, 0)), ()
    return centre(sample.moderators, sample.weights), tuple(map(str, sample.moderator_names))


def _with_moderator_columns(fit: LinearFit, design: TreatmentDesign, sample: EstimationSample) -> LinearFit:
    """``fit`` with the positions of its treatment-by-moderator interactions: the last ``m`` interacted columns."""
    m = 0 if sample.moderators is None else sample.moderators.shape[1]
    if m == 0:
        return fit
    k = design.n_columns
    return replace(fit, moderator_columns=tuple(range(k - m, k)))


def _ols_columns(sample: EstimationSample) -> tuple[TreatmentDesign, tuple[str, ...]]:
    D, dnames = _blocks(sample)
    Mc, mnames = _moderators(sample)
    t = sample.treatment_name
    design = TreatmentDesign(np.column_stack([sample.covariates, D, Mc]), Mc)
    terms = (
        "(Intercept)",
        t,
        *sample.covariate_names,
        *dnames,
        *(f"{m}_c" for m in mnames),
        *(f"{t}:{m}" for m in mnames),
    )
    return design, terms


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

    Moderators (``sample.moderators``) need nothing new: Lin's regression already centres every covariate and
    interacts it with treatment, so a moderator simply joins the covariates (after them, before the blocks), and its
    interaction is reported under the name ``"<treatment>:<moderator>"`` (the other interactions keep
    ``"<treatment>:<covariate>_c"``). Its coefficient is the change in the effect per unit of the moderator holding
    the other covariates fixed, and :math:`\\hat\\tau` stays the average effect.
    """
    design, terms = _lin_columns(sample)
    fit = fit_least_squares(sample.y, design.matrix(sample.treatment), terms, 1, weights=sample.weights)
    if sample.moderators is None or sample.moderators.shape[1] == 0:
        return fit
    p, m = sample.covariates.shape[1], sample.moderators.shape[1]
    first = 2 + design.fixed.shape[1] + p
    return replace(fit, moderator_columns=tuple(range(first, first + m)))


def _lin_columns(sample: EstimationSample) -> tuple[TreatmentDesign, tuple[str, ...]]:
    D, dnames = _blocks(sample)
    M = np.empty((sample.n_obs, 0)) if sample.moderators is None else sample.moderators
    mnames = tuple(map(str, sample.moderator_names)) if M.shape[1] else ()
    W = np.column_stack([sample.covariates, M, D])
    names = (*sample.covariate_names, *mnames, *dnames)
    if W.shape[1] == 0:
        raise EstimationError(
            "estimator='lin' needs covariates (or blocks) to interact with treatment; pass covariates=[...] "
            "or use estimator='difference_in_means'."
        )
    Wc = centre(W, sample.weights)
    t = sample.treatment_name
    moderators = set(range(sample.covariates.shape[1], sample.covariates.shape[1] + len(mnames)))
    terms = (
        "(Intercept)",
        t,
        *(f"{c}_c" for c in names),
        *(f"{t}:{c}" if j in moderators else f"{t}:{c}_c" for j, c in enumerate(names)),
    )
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
        moderators=sample.moderators,
        moderator_names=sample.moderator_names,
    )


#: ANCOVA, Lin (2013) and change from baseline, each registered with its batched form.
OLS = Estimator("ols", ols, ols_design)
LIN = Estimator("lin", lin, lin_design)
CHANGE = Estimator("change", change, change_design)
