"""Standard errors of an estimate weighted by estimated inverse probabilities of response (two-step M-estimation).

The weights :math:`w_i/\\hat p_i` come from a logit (:mod:`evalkit.estimators.response_weights`); treating them as
known misstates the variance. :func:`estimated_weights_adjustment` gives the term that the covariance kernel's
sandwich (:func:`evalkit.inference.sandwich.sandwich`, computed as if the weights were known) must be corrected by.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from evalkit.errors import InferenceError
from evalkit.estimators import LinearFit
from evalkit.estimators._sample import EstimationSample
from evalkit.estimators.response_weights import ResponseModel

__all__ = ["estimated_weights_adjustment", "weights_jacobian"]


def weights_jacobian(model: ResponseModel, sample: EstimationSample, refit, step: float = 1e-5) -> np.ndarray:
    """:math:`G = \\partial\\hat\\beta/\\partial\\gamma'`, the estimator's coefficients as a function of the logit's.

    Central differences of the estimator refitted with the weights :math:`w_i/\\Lambda(v_i'\\gamma)` at
    :math:`\\hat\\gamma \\pm h e_j`, :math:`h = 10^{-5}\\max(1, |\\hat\\gamma_j|)`: exact up to :math:`O(h^2)` for
    any registered estimator, including those whose design matrix depends on the weights (the weighted centring of
    Lin's estimator and of the blocked difference in means). For weighted least squares with a fixed design matrix it
    is :math:`-(X'WX)^{-1}\\sum_i w_i(1-\\hat p_i)e_i x_i v_i'` (checked in the tests).
    """
    k = model.coef.size
    columns = []
    for j in range(k):
        h = step * max(1.0, abs(float(model.coef[j])))
        e = np.zeros(k)
        e[j] = h
        plus = refit(replace(sample, weights=model.weights(model.coef + e))).coef
        minus = refit(replace(sample, weights=model.weights(model.coef - e))).coef
        columns.append((plus - minus) / (2 * h))
    return np.column_stack(columns)


def estimated_weights_adjustment(
    fit: LinearFit, model: ResponseModel, sample: EstimationSample, refit, *, clustered: bool
) -> np.ndarray:
    """The (k, k) matrix to add to the known-weights sandwich covariance of ``fit``'s coefficients.

    Parameters
    ----------
    fit : LinearFit
        The weighted fit on the respondents (its weights are ``model.weights()``).
    model : ResponseModel
        The fitted response model, on every analysed unit.
    sample : EstimationSample
        The estimation sample behind ``fit`` (the respondents).
    refit : callable
        The estimator, ``refit(sample) -> LinearFit``.
    clustered : bool
        Sum the influence within the model's clusters (the covariance type is cluster-robust).

    Returns
    -------
    ndarray (k, k)
        :math:`\\Delta = \\sum_g (S_g Q_g' + Q_g S_g' + Q_g Q_g')` (see Notes).

    Notes
    -----
    Stack the estimator's estimating equations :math:`\\sum_i R_i\\,w_i(\\gamma)\\,x_i(y_i - x_i'\\beta) = 0` with the
    logit's score :math:`\\sum_i \\psi_i(\\gamma) = \\sum_i (R_i - p_i)v_i = 0`. Expanding both (Newey and McFadden
    1994, Handbook of Econometrics IV, Sec. 6; Wooldridge 2010, Econometric Analysis of Cross Section and Panel
    Data, 2nd ed., Sec. 12.4 and 19.8), the influence of unit :math:`i` on :math:`\\hat\\beta` is

    .. math:: \\phi_i = S_i + Q_i, \\quad S_i = (X'WX)^{-1} R_i w_i x_i e_i, \\quad Q_i = G H^{-1}\\psi_i,

    with :math:`G = \\partial\\hat\\beta/\\partial\\gamma'` (:func:`weights_jacobian`) and
    :math:`H = \\sum_i p_i(1-p_i)v_iv_i'`. Non-respondents enter through :math:`\\psi_i` only. The variance is
    :math:`\\sum_g \\phi_g\\phi_g'` over units (or clusters :math:`g`); the kernel's sandwich estimates
    :math:`\\sum_g S_gS_g'` (with its small-sample correction, e.g. HC2's leverages or CR2's adjustment), and this
    function adds the rest, :math:`\\sum_g (S_gQ_g' + Q_gS_g' + Q_gQ_g')`, without a small-sample correction. As
    :math:`\\sum_i S_i\\psi_i' = -G` for least squares and :math:`\\sum_i\\psi_i\\psi_i' \\approx H`, the adjustment
    is about :math:`-GH^{-1}G'`: estimating the weights lowers the variance (Hirano, Imbens and Ridder 2003,
    Econometrica 71(4); Wooldridge 2007).
    """
    if fit.weights is None:
        raise InferenceError("the estimated-weights correction needs a weighted fit; the fit has no weights.")
    X, w, e = fit.X, fit.weights, fit.residuals
    bread = np.linalg.inv((X * w[:, None]).T @ X)
    respondents = np.flatnonzero(model.response)
    N = model.response.size
    S = np.zeros((N, X.shape[1]))
    S[respondents] = (X * (w * e)[:, None]) @ bread
    G = weights_jacobian(model, sample, refit)
    Q = model.scores @ np.linalg.solve(model.information, G.T)
    if clustered:
        if model.clusters is None:
            raise InferenceError("a cluster-robust correction for estimated weights needs the units' clusters.")
        G_count = int(model.clusters.max()) + 1
        S = np.array([np.bincount(model.clusters, weights=S[:, j], minlength=G_count) for j in range(S.shape[1])]).T
        Q = np.array([np.bincount(model.clusters, weights=Q[:, j], minlength=G_count) for j in range(Q.shape[1])]).T
    return S.T @ Q + Q.T @ S + Q.T @ Q
