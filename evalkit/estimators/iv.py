"""Non-compliance: the complier average causal effect by two-stage least squares, assignment as the instrument."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from evalkit.errors import EstimationError
from evalkit.estimators._linear import LinearFit, fit_least_squares
from evalkit.estimators._sample import EstimationSample
from evalkit.estimators.base import Estimator
from evalkit.estimators.regression import ols, ols_design

__all__ = ["IV", "IVFit", "first_stage_sample", "two_stage_least_squares"]


@dataclass(frozen=True)
class IVFit(LinearFit):
    """A two-stage least-squares fit, laid out as the covariance kernel reads it.

    ``X`` is the **second-stage** design: the instruments' columns with take-up replaced by its first-stage fitted
    values :math:`\\hat D`; ``residuals`` are the **structural** residuals :math:`y - X_D\\hat\\beta` with the take-up
    actually observed (``structural_X`` is :math:`X_D`). Handing these two to
    :func:`evalkit.inference.sandwich.sandwich` gives the 2SLS sandwich of ``estimatr::iv_robust`` (bread and
    leverages from :math:`\\hat X`, meat from the structural residuals), so ``residuals`` is *not*
    ``y - X @ coef`` here.

    Attributes
    ----------
    structural_X : ndarray (n, k)
        The structural regressors: ``X`` with the take-up column observed instead of fitted.
    reduced_form : LinearFit
        Least squares of the outcome on assignment and the exogenous regressors (the intention-to-treat fit).
    first_stage : LinearFit
        Least squares of take-up on the same regressors (the compliance fit).
    """

    structural_X: np.ndarray | None = field(default=None, repr=False)
    reduced_form: LinearFit | None = field(default=None, repr=False)
    first_stage: LinearFit | None = field(default=None, repr=False)


def first_stage_sample(sample: EstimationSample) -> EstimationSample:
    """``sample`` with take-up as the response: the first stage is the ``ols`` estimator on it."""
    if sample.take_up is None:
        raise EstimationError(
            "estimator='iv' needs the take-up column (the treatment actually received); pass take_up='column'."
        )
    return dataclasses.replace(sample, y=np.asarray(sample.take_up, dtype=np.float64), baseline=None)


def two_stage_least_squares(sample: EstimationSample) -> IVFit:
    """The complier average causal effect (CACE, Wald / LATE) by 2SLS, with assignment as the instrument.

    Parameters
    ----------
    sample : EstimationSample
        ``treatment`` is the random assignment (the instrument), ``take_up`` the treatment received; covariates and
        block indicators enter both stages, as in :func:`evalkit.estimators.regression.ols`.

    Returns
    -------
    IVFit
        Coefficients ``[(Intercept), take-up, covariates..., blocks...]``, target the take-up coefficient.

    Raises
    ------
    EstimationError
        Without take-up, or when take-up does not vary with assignment given the covariates (no first stage).

    Notes
    -----
    With :math:`Z` the assignment, :math:`D` take-up and :math:`W` the intercept, covariates and block indicators,
    the first stage :math:`D = \\pi Z + W'\\gamma + v` gives :math:`\\hat D`, and the 2SLS estimate is the
    coefficient of :math:`\\hat D` in the least-squares fit of :math:`y` on :math:`(\\hat D, W)`. Without covariates
    or blocks it is the Wald (1940) ratio :math:`\\widehat{ITT}/\\hat\\pi` of the intention-to-treat effect to the
    difference in take-up rates. Under independence of assignment, the exclusion restriction (assignment moves the
    outcome only through take-up) and monotonicity (no defiers), it estimates the average effect of take-up among
    compliers (Imbens and Angrist 1994; Angrist, Imbens and Rubin 1996). Weights enter both stages as in weighted
    least squares (``estimatr::iv_robust``).

    References
    ----------
    Imbens, G. W. and Angrist, J. D. (1994). Identification and estimation of local average treatment effects.
    Econometrica 62(2), 467-475.

    Angrist, J. D., Imbens, G. W. and Rubin, D. B. (1996). Identification of causal effects using instrumental
    variables. Journal of the American Statistical Association 91(434), 444-455.
    """
    first = ols(first_stage_sample(sample))
    reduced = ols(dataclasses.replace(sample, baseline=None))
    d = np.asarray(sample.take_up, dtype=np.float64)
    scale = max(float(np.std(d)), 1e-300)
    if abs(first.estimate) <= 1e-10 * scale:
        raise EstimationError(
            f"take-up does not vary with assignment ({sample.treatment_name!r}) given the covariates and blocks: "
            "the first stage is zero, so the complier effect is not identified. Check the take-up column."
        )
    instruments = ols_design(sample).matrix(sample.treatment)  # [1, z, W, D_blocks]
    fitted = first.y - first.residuals
    X_hat = instruments.copy()
    X_hat[:, 1] = fitted
    X_d = instruments.copy()
    X_d[:, 1] = d
    terms = (first.term_names[0], str(sample.take_up_name), *first.term_names[2:])
    second = fit_least_squares(sample.y, X_hat, terms, 1, weights=sample.weights)
    return IVFit(
        coef=second.coef,
        X=X_hat,
        y=sample.y,
        residuals=sample.y - X_d @ second.coef,
        term_names=second.term_names,
        target=1,
        weights=sample.weights,
        structural_X=X_d,
        reduced_form=reduced,
        first_stage=first,
    )


#: 2SLS registered without a batched form: randomization inference for it runs on the reduced form.
IV = Estimator(
    "iv",
    two_stage_least_squares,
    None,
    unbatched_reason=(
        "2SLS is not least squares on a fixed function of the assignment (the fitted take-up moves with each "
        "re-draw); randomization inference under estimator='iv' re-draws the reduced form instead"
    ),
)
