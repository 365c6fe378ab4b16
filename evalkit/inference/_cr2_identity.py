"""CR2 and its Bell-McCaffrey df for weighted least squares under the identity working model (internal).

Used by :func:`evalkit.inference.sandwich.sandwich` for ``cov_type="CR2"`` with weights and
``working_model="identity"`` (the default, as ``estimatr::lm_robust`` and ``clubSandwich::vcovCR``). Unweighted
CR2, and weighted CR2 under the inverse-variance working model (CR2 of the regression of :math:`W^{1/2}y` on
:math:`W^{1/2}X`), use :func:`evalkit._linear_algebra.cr2_phi` instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evalkit._linear_algebra import LEVERAGE_TOL, group_sum

__all__ = ["cr2_identity_directions", "cr2_identity_weighted"]


def cr2_identity_weighted(
    X: np.ndarray,
    residuals: np.ndarray,
    weights: np.ndarray,
    codes: np.ndarray,
    n_clusters: int,
    contrasts: np.ndarray,
    M: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """CR2 covariance of WLS coefficients and Bell-McCaffrey df of contrasts, identity working model.

    Parameters
    ----------
    X : ndarray of shape (n, k)
        Regressors (unweighted), full column rank.
    residuals : ndarray of shape (n,)
        Unweighted residuals :math:`e = y - X\\hat\\beta`.
    weights : ndarray of shape (n,)
        Positive weights :math:`w` (the fit minimised :math:`\\sum_i w_i e_i^2`).
    codes : ndarray of shape (n,)
        Cluster codes ``0..G-1``.
    n_clusters : int
        :math:`G`.
    contrasts : ndarray of shape (k, m)
        Columns :math:`c` whose df are computed (may have ``m = 0`` columns).
    M : ndarray of shape (k, k)
        :math:`(X'WX)^{-1}`, from :func:`evalkit._linear_algebra.bread` of :math:`W^{1/2}X`.

    Returns
    -------
    vcov : ndarray of shape (k, k)
    df : ndarray of shape (m,)

    Notes
    -----
    With :math:`M = (X'WX)^{-1}` and :math:`H = XMX'W`, the residuals are :math:`e = (I-H)\\varepsilon`. Under
    the working model :math:`\\operatorname{Var}(\\varepsilon) = \\sigma^2 I` (Pustejovsky and Tipton 2018,
    eq. 5, with :math:`\\Phi = I`), :math:`S_g = [(I-H)(I-H)']_{gg}` and :math:`A_g = S_g^{+1/2}`, the symmetric
    (generalized) inverse square root, so that :math:`A_g S_g A_g = I` (up to the null space), and

    .. math:: \\hat V = M \\Big(\\sum_g X_g'W_gA_ge_g e_g'A_gW_gX_g\\Big) M.

    :math:`S_g = I + U_g K U_g'` with :math:`U_g = [X_g, W_gX_g]` and
    :math:`K = \\begin{pmatrix} MQM & -M \\\\ -M & 0 \\end{pmatrix}`, :math:`Q = X'W^2X`, so
    :math:`A_g = I + U_g\\Phi_gU_g'` with a :math:`2k \\times 2k` matrix :math:`\\Phi_g` from the eigen-
    decompositions of :math:`U_g'U_g` and of :math:`K` in that basis; no :math:`n_g \\times n_g` matrix is formed.

    Bell-McCaffrey df of :math:`c'\\beta`: :math:`c'\\hat Vc = \\sum_g (a_g'e_g)^2` with
    :math:`a_g = A_gW_gX_gMc`, i.e. :math:`\\varepsilon'PP'\\varepsilon` with columns
    :math:`p_g = (I-H)'D_ga_g`, and :math:`\\nu = \\operatorname{tr}(P'P)^2/\\operatorname{tr}((P'P)^2)`
    (Satterthwaite; Bell and McCaffrey 2002). Here
    :math:`P'P = \\operatorname{diag}(s) + LKL'` with :math:`s_g = a_g'a_g` and the rows of :math:`L` being
    :math:`(X_g'a_g, X_g'W_ga_g)`, so the traces cost :math:`O(Gk^2 + k^3)`.

    References
    ----------
    Bell, R. M. and McCaffrey, D. F. (2002). Bias reduction in standard errors for linear regression with
    multi-stage samples. Survey Methodology 28(2), 169-181.

    Pustejovsky, J. E. and Tipton, E. (2018). Small-sample methods for cluster-robust variance estimation and
    hypothesis testing in fixed effects models. Journal of Business & Economic Statistics 36(4), 672-683.
    """
    p = _pieces(X, weights, codes, n_clusters, M)
    k = X.shape[1]
    M, phi, C0, C1, C2, gram, K = p.M, p.phi, p.C0, p.C1, p.C2, p.gram, p.K
    G = n_clusters
    XWU = np.concatenate([C1, C2], axis=2)  # X_g'W_gU_g
    Ue = np.concatenate(
        [group_sum(X * residuals[:, None], codes, G), group_sum(X * (weights * residuals)[:, None], codes, G)], axis=1
    )
    scores = Ue[:, k:] + np.einsum("gij,gjl,gl->gi", XWU, phi, Ue, optimize=True)  # X_g'W_gA_ge_g
    vcov = M @ (scores.T @ scores) @ M

    m = contrasts.shape[1]
    if m == 0:
        return vcov, np.empty(0)
    MC = M @ contrasts  # (k, m)
    t = np.swapaxes(XWU, 1, 2) @ MC  # (G, 2k, m): U_g'W_gX_gMc
    pt = phi @ t
    XU = np.concatenate([C0, C1], axis=2)  # X_g'U_g
    z = C1 @ MC + XU @ pt  # X_g'a_g
    fw = C2 @ MC + XWU @ pt  # X_g'W_ga_g
    s = (
        np.einsum("km,gkl,lm->gm", MC, C2, MC)
        + 2.0 * np.einsum("gim,gim->gm", t, pt)
        + np.einsum("gim,gij,gjm->gm", pt, gram, pt, optimize=True)
    )
    L = np.concatenate([z, fw], axis=1)  # (G, 2k, m)
    LKL = np.einsum("gim,ij,gjm->gm", L, K, L, optimize=True)  # diagonal of L K L'
    LtL = np.einsum("gim,gjm->mij", L, L)  # (m, 2k, 2k)
    KLtL = K[None] @ LtL
    tr1 = s.sum(axis=0) + LKL.sum(axis=0)
    tr2 = (s**2).sum(axis=0) + 2.0 * (s * LKL).sum(axis=0) + np.einsum("mij,mji->m", KLtL, KLtL)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = np.where(tr2 > 0, tr1**2 / tr2, np.nan)
    return vcov, df


@dataclass(frozen=True)
class _Pieces:
    M: np.ndarray  # (X'WX)^-1
    phi: np.ndarray  # (G, 2k, 2k): A_g = I + U_g phi_g U_g'
    C0: np.ndarray  # (G, k, k): X_g'X_g
    C1: np.ndarray  # X_g'W_gX_g
    C2: np.ndarray  # X_g'W_g^2X_g
    gram: np.ndarray  # (G, 2k, 2k): U_g'U_g
    K: np.ndarray  # (2k, 2k)


def _pieces(X: np.ndarray, weights: np.ndarray, codes: np.ndarray, n_clusters: int, M: np.ndarray) -> _Pieces:
    """The adjustment matrices of :func:`cr2_identity_weighted` (see its Notes)."""
    k = X.shape[1]
    G = n_clusters
    M = 0.5 * (M + M.T)
    outer = np.einsum("ni,nj->nij", X, X)
    C0 = group_sum(outer, codes, G)  # X_g'X_g
    C1 = group_sum(outer * weights[:, None, None], codes, G)  # X_g'W_gX_g
    C2 = group_sum(outer * (weights**2)[:, None, None], codes, G)  # X_g'W_g^2X_g
    MQM = M @ C2.sum(axis=0) @ M
    K = np.block([[MQM, -M], [-M, np.zeros((k, k))]])
    gram = np.block([[C0, C1], [C1, C2]])  # (G, 2k, 2k): U_g'U_g
    gram = 0.5 * (gram + np.swapaxes(gram, 1, 2))
    lam, V = np.linalg.eigh(gram)
    keep = lam > 1e-12 * lam.max(axis=-1, keepdims=True)
    safe = np.where(keep, lam, 1.0)
    R = V * np.where(keep, np.sqrt(safe), 0.0)[:, None, :]  # U_g = Q_g R_g' with Q_g orthonormal
    Vi = V * np.where(keep, 1.0 / np.sqrt(safe), 0.0)[:, None, :]
    K0 = np.swapaxes(R, 1, 2) @ K @ R  # S_g = I + Q_g K0_g Q_g'
    K0 = 0.5 * (K0 + np.swapaxes(K0, 1, 2))
    mu, Y = np.linalg.eigh(K0)
    eig = 1.0 + mu  # eigenvalues of S_g in span(U_g); 0 where an observation is fitted exactly
    f = np.where(eig > LEVERAGE_TOL, 1.0 / np.sqrt(np.clip(eig, LEVERAGE_TOL, None)), 0.0) - 1.0
    phi = Vi @ ((Y * f[:, None, :]) @ np.swapaxes(Y, 1, 2)) @ np.swapaxes(Vi, 1, 2)  # A_g = I + U_g phi_g U_g'

    return _Pieces(M=M, phi=phi, C0=C0, C1=C1, C2=C2, gram=gram, K=K)


def cr2_identity_directions(
    X: np.ndarray, weights: np.ndarray, codes: np.ndarray, n_clusters: int, contrast: np.ndarray, M: np.ndarray
) -> np.ndarray:
    """The vector :math:`a` with :math:`c'\\hat V c = \\sum_g (a_g'e_g)^2` (unweighted residuals :math:`e`).

    :math:`a_g = A_gW_gX_gMc = W_gX_gMc + U_g\\Phi_gU_g'W_gX_gMc`, row by row; see :func:`cr2_identity_weighted`.
    """
    p = _pieces(X, weights, codes, n_clusters, M)
    Mc = p.M @ contrast
    t = np.concatenate([p.C1, p.C2], axis=2).swapaxes(1, 2) @ Mc  # (G, 2k): U_g'W_gX_gMc
    pt = np.einsum("gij,gj->gi", p.phi, t)[codes]  # (n, 2k)
    k = X.shape[1]
    return weights * (X @ Mc) + np.einsum("ni,ni->n", X, pt[:, :k]) + weights * np.einsum("ni,ni->n", X, pt[:, k:])
