"""Inverse-probability-of-response weights for attrition: a logit of response on treatment and baseline covariates.

Arrays only. The design fits :func:`fit_response_model` on every unit it analyses (respondents and non-respondents),
weights each respondent by :math:`w_i / \\hat p_i`, runs its estimator with those weights, and hands the model to the
inference layer, which corrects the standard errors for the estimated weights
(:func:`evalkit.inference.estimated_weights.estimated_weights_adjustment`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from evalkit.errors import EstimationError

__all__ = ["ResponseModel", "fit_response_model"]


@dataclass(frozen=True)
class ResponseModel:
    """A fitted logit of response, :math:`P(R_i = 1 \\mid v_i) = \\Lambda(v_i'\\gamma)`, and what the two-step
    variance correction needs from it.

    Attributes
    ----------
    term_names : tuple of str
        Names of the columns of ``design``: ``"(Intercept)"``, the treatment, the covariates.
    design : ndarray (N, k)
        :math:`v_i` for every analysed unit, respondents and non-respondents.
    response : ndarray (N,) of bool
        :math:`R_i`, whether the outcome is observed.
    coef : ndarray (k,)
        :math:`\\hat\\gamma` (maximum likelihood, ``statsmodels.Logit``).
    base_weights : ndarray (N,) or None
        The design's own analytic weights, multiplied by :math:`1/\\hat p`.
    clusters : ndarray (N,) of int or None
        Cluster codes of the analysed units (for the clustered correction).
    """

    term_names: tuple[str, ...]
    design: np.ndarray = field(repr=False)
    response: np.ndarray = field(repr=False)
    coef: np.ndarray
    base_weights: np.ndarray | None = field(default=None, repr=False)
    clusters: np.ndarray | None = field(default=None, repr=False)

    def probability(self, coef: np.ndarray | None = None) -> np.ndarray:
        """:math:`\\Lambda(v_i'\\gamma)` for every analysed unit (at ``coef``, default :math:`\\hat\\gamma`)."""
        eta = self.design @ (self.coef if coef is None else coef)
        return 1.0 / (1.0 + np.exp(-eta))

    def weights(self, coef: np.ndarray | None = None) -> np.ndarray:
        """The respondents' weights :math:`w_i/\\Lambda(v_i'\\gamma)`, in the order of the analysed rows."""
        p = self.probability(coef)[self.response]
        base = 1.0 if self.base_weights is None else self.base_weights[self.response]
        return base / p

    @property
    def scores(self) -> np.ndarray:
        """(N, k) score contributions :math:`\\psi_i = (R_i - \\hat p_i) v_i` of the logit."""
        return (self.response - self.probability())[:, None] * self.design

    @property
    def information(self) -> np.ndarray:
        """(k, k) :math:`H = \\sum_i \\hat p_i (1 - \\hat p_i) v_i v_i'` (minus the log-likelihood's Hessian)."""
        p = self.probability()
        return (self.design * (p * (1 - p))[:, None]).T @ self.design

    def describe(self) -> str:
        """One line for the results' notes."""
        w = self.weights()
        covariates = ", ".join(self.term_names[1:])
        return (
            f"logit of response on {covariates}, fitted on {self.response.size} units of which "
            f"{int(self.response.sum())} responded; weights 1/p range from {w.min():.3g} to {w.max():.3g}"
        )


def fit_response_model(
    response: np.ndarray,
    regressors: np.ndarray,
    term_names: tuple[str, ...],
    *,
    outcome: str,
    base_weights: np.ndarray | None = None,
    clusters: np.ndarray | None = None,
) -> ResponseModel:
    """Fit the logit of response on ``regressors`` (an intercept is added) with ``statsmodels.Logit``.

    Parameters
    ----------
    response : ndarray (N,) of bool
        Whether each analysed unit's outcome is observed.
    regressors : ndarray (N, q)
        Treatment and baseline covariates, no missing values.
    term_names : tuple of str
        Their names (``q`` of them).
    outcome : str
        The outcome, for error messages.
    base_weights, clusters : ndarray, optional
        The design's analytic weights and cluster codes of the analysed units.

    Returns
    -------
    ResponseModel

    Raises
    ------
    EstimationError
        If every unit responded (there is no attrition to weight for), the logit does not converge, or it
        separates respondents from non-respondents (a fitted probability below 1e-6 or above 1 - 1e-10 among
        respondents: the weights would be unbounded).

    Notes
    -----
    Maximum likelihood of :math:`\\sum_i R_i\\log\\Lambda(v_i'\\gamma) + (1-R_i)\\log(1-\\Lambda(v_i'\\gamma))`
    (Newton's method as ``statsmodels.discrete.discrete_model.Logit``). Under missingness at random given
    :math:`v`, :math:`E[R_i y_i / p_i] = E[y_i]` within each arm, so the weighted estimator is consistent for the
    effect on everyone analysed (Robins, Rotnitzky and Zhao 1995, JASA 90(429); Wooldridge 2007, J. Econometrics
    141(2), "Inverse probability weighted estimation for general missing data problems").
    """
    import statsmodels.api as sm

    r = np.asarray(response, dtype=bool)
    if r.all():
        raise EstimationError(
            f"outcome {outcome!r} is observed for every analysed unit: there is no attrition to weight for. Drop "
            "attrition_weights=."
        )
    if not r.any():
        raise EstimationError(f"outcome {outcome!r} is observed for no analysed unit; nothing can be estimated.")
    V = np.column_stack([np.ones(r.size), np.asarray(regressors, dtype=np.float64)])
    names = ("(Intercept)", *map(str, term_names))
    try:
        result = sm.Logit(r.astype(np.float64), V).fit(disp=0, maxiter=100)
    except (np.linalg.LinAlgError, ValueError) as exc:  # perfect separation, singular Hessian
        raise EstimationError(
            f"the response model for {outcome!r} ({', '.join(names[1:])}) could not be fitted: {exc}. Use fewer or "
            "coarser covariates in attrition_weights=."
        ) from exc
    if not result.mle_retvals.get("converged", False):
        raise EstimationError(
            f"the response model (logit of response on {', '.join(names[1:])}) for {outcome!r} did not converge; "
            "use fewer or coarser covariates in attrition_weights=."
        )
    model = ResponseModel(
        term_names=names,
        design=V,
        response=r,
        coef=np.asarray(result.params, dtype=np.float64),
        base_weights=None if base_weights is None else np.asarray(base_weights, dtype=np.float64),
        clusters=clusters,
    )
    p = model.probability()[r]
    if p.min() < 1e-6:
        raise EstimationError(
            f"the response model for {outcome!r} gives a respondent a response probability of {p.min():.2g}: the "
            "covariates nearly separate respondents from non-respondents and the weights 1/p are unbounded. Use "
            "fewer or coarser covariates in attrition_weights=."
        )
    return model
