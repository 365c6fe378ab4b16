"""Difference in means, unblocked or blocked (block-size weighted), as a least-squares fit."""

from __future__ import annotations

import numpy as np

from evalkit.errors import EstimationError
from evalkit.estimators._linear import LinearFit, fit_least_squares
from evalkit.estimators._sample import EstimationSample, block_dummies, weighted_mean

__all__ = ["difference_in_means"]


def difference_in_means(sample: EstimationSample) -> LinearFit:
    """Difference in mean outcomes between treated and control units.

    Parameters
    ----------
    sample : EstimationSample
        Covariates must be empty; blocks, if given, define strata.

    Returns
    -------
    LinearFit
        The target coefficient is the (block-size weighted) difference in means.

    Notes
    -----
    Without blocks the estimate is :math:`\\bar y_1 - \\bar y_0`, the coefficient on :math:`Z` in
    :math:`y = \\alpha + \\tau Z + e`; its HC2 variance equals the Neyman (1923) conservative variance
    :math:`s_1^2/n_1 + s_0^2/n_0`. With blocks :math:`b = 1..B` of sizes :math:`n_b`, the estimate is
    :math:`\\hat\\tau = \\sum_b (n_b/N)(\\bar y_{1b} - \\bar y_{0b})` (Gerber & Green 2012, eq. 4.10), which is the
    coefficient on :math:`Z` in a regression fully interacted with centred block indicators (Lin 2013); its HC2
    variance is :math:`\\sum_b (n_b/N)^2 (s_{1b}^2/n_{1b} + s_{0b}^2/n_{0b})`, the blocked variance of R's
    ``estimatr::difference_in_means``. With clusters the same fit is used with CR2 standard errors.
    """
    if sample.covariates.shape[1]:
        raise EstimationError(
            "estimator='difference_in_means' takes no covariates; use estimator='ols' (ANCOVA) or 'lin' "
            f"to adjust for {', '.join(sample.covariate_names)}."
        )
    z = sample.treatment
    n = sample.n_obs
    if sample.blocks is None or np.unique(sample.blocks).size == 1:
        X = np.column_stack([np.ones(n), z])
        return fit_least_squares(sample.y, X, ("(Intercept)", sample.treatment_name), 1, weights=sample.weights)
    D, names = block_dummies(sample.blocks)
    Dc = D - weighted_mean(D, sample.weights)
    X = np.column_stack([np.ones(n), z, Dc, z[:, None] * Dc])
    terms = ("(Intercept)", sample.treatment_name, *names, *(f"{sample.treatment_name}:{b}" for b in names))
    return fit_least_squares(sample.y, X, terms, 1, weights=sample.weights)
