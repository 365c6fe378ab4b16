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
    L: np.ndarray,
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
    L : ndarray of shape (k, k)
        A factor with :math:`LL' = (X'WX)^{-1}`, from :func:`evalkit._linear_algebra.bread` of :math:`W^{1/2}X`.

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

    Everything is invariant to a reparametrization :math:`X \\to XL` (same :math:`H`, :math:`A_g` and
    :math:`c'\\hat Vc` for the contrast :math:`L'c`), so it is computed for :math:`\\hat X = XL`, whose
    :math:`\\hat X'W\\hat X = I` (:math:`W^{1/2}\\hat X` has orthonormal columns): the terms of :math:`S_g`
    then stay of the order of the weights however the columns of :math:`X` are scaled or shifted, and
    :math:`\\hat V = L\\hat V_{\\hat X}L'`.

    References
    ----------
    Bell, R. M. and McCaffrey, D. F. (2002). Bias reduction in standard errors for linear regression with
    multi-stage samples. Survey Methodology 28(2), 169-181.

    Pustejovsky, J. E. and Tipton, E. (2018). Small-sample methods for cluster-robust variance estimation and
    hypothesis testing in fixed effects models. Journal of Business & Economic Statistics 36(4), 672-683.
    """
    X = X @ L
    contrasts = L.T @ contrasts
    p = _pieces(X, weights, codes, n_clusters)
    G = n_clusters
    Ue = np.concatenate(
        [group_sum(X * residuals[:, None], codes, G), group_sum(X * (p.dw * residuals)[:, None], codes, G) / p.scale],
        axis=1,
    )  # U_g'e_g
    scores = group_sum(X * (weights * residuals)[:, None], codes, G) + np.einsum(
        "gij,gjl,gl->gi", p.XWU, p.phi, Ue, optimize=True
    )  # X_g'W_gA_ge_g
    vcov = L @ (scores.T @ scores) @ L.T  # M = I in the X L basis

    m = contrasts.shape[1]
    if m == 0:
        return vcov, np.empty(0)
    t = np.swapaxes(p.XWU, 1, 2) @ contrasts  # (G, 2k, m): U_g'W_gX_gMc
    pt = p.phi @ t
    z = p.C1 @ contrasts + p.XU @ pt  # X_g'a_g
    fw = p.C2 @ contrasts + p.XWU @ pt  # X_g'W_ga_g
    s = (
        np.einsum("km,gkl,lm->gm", contrasts, p.C2, contrasts)
        + 2.0 * np.einsum("gim,gim->gm", t, pt)
        + np.einsum("gim,gij,gjm->gm", pt, p.gram, pt, optimize=True)
    )  # a_g'a_g
    rows = np.concatenate([z, fw], axis=1)  # (G, 2k, m): the rows of L in P'P = diag(s) + L K L'
    K = p.K
    LKL = np.einsum("gim,ij,gjm->gm", rows, K, rows, optimize=True)
    LtL = np.einsum("gim,gjm->mij", rows, rows)  # (m, 2k, 2k)
    KLtL = K[None] @ LtL
    tr1 = s.sum(axis=0) + LKL.sum(axis=0)
    tr2 = (s**2).sum(axis=0) + 2.0 * (s * LKL).sum(axis=0) + np.einsum("mij,mji->m", KLtL, KLtL)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = np.where(tr2 > 0, tr1**2 / tr2, np.nan)
    return vcov, df


@dataclass(frozen=True)
class _Pieces:
    """Per-cluster pieces in the basis :math:`U_g = [X_g, D_gS_g^{-1}]` (see :func:`_pieces`)."""

    phi: np.ndarray  # (G, 2k, 2k): A_g = I + U_g phi_g U_g'
    C1: np.ndarray  # (G, k, k): X_g'W_gX_g
    C2: np.ndarray  # X_g'W_g^2X_g
    XU: np.ndarray  # (G, k, 2k): X_g'U_g
    XWU: np.ndarray  # (G, k, 2k): X_g'W_gU_g
    gram: np.ndarray  # (G, 2k, 2k): U_g'U_g
    K: np.ndarray  # (2k, 2k): S_g = I + [X_g, W_gX_g] K [X_g, W_gX_g]'
    dw: np.ndarray  # (n,): w_i - mean of w in i's cluster (0 where the weights are constant up to rounding)
    scale: np.ndarray  # (G, k): S_g, the norms of the columns of D_g (1 where zero)


def _pieces(X: np.ndarray, weights: np.ndarray, codes: np.ndarray, n_clusters: int) -> _Pieces:
    """The adjustment matrices of :func:`cr2_identity_weighted` for regressors with :math:`X'WX = I`.

    :math:`S_g = I + [X_g, W_gX_g]K[X_g, W_gX_g]'`. The columns :math:`W_gX_g` are nearly those of :math:`X_g`
    when the weights vary little within a cluster, so the span is written with
    :math:`D_g = (W_g - \\bar w_gI)X_g`, computed from the deviations :math:`w_i - \\bar w_g` directly, with
    columns scaled to unit norm: :math:`[X_g, W_gX_g] = U_gP_g`, :math:`U_g = [X_g, D_gS_g^{-1}]`,
    :math:`P_g = \\begin{pmatrix} I & \\bar w_gI \\\\ 0 & S_g \\end{pmatrix}`. Then :math:`S_g = I + U_gK_gU_g'`
    with :math:`K_g = P_gKP_g'`; from :math:`U_g'U_g = V\\Lambda V'` and :math:`R = V\\Lambda^{1/2}`,
    :math:`U_g V\\Lambda^{-1/2}` is orthonormal and :math:`A_g = I + U_g\\Phi_gU_g'` with
    :math:`\\Phi_g = V\\Lambda^{-1/2}(f(I + R'K_gR) - I)\\Lambda^{-1/2}V'`, :math:`f(s) = s^{-1/2}` (0 for
    :math:`s = 0`).
    """
    k = X.shape[1]
    G = n_clusters
    M = np.eye(k)
    size = np.bincount(codes, minlength=G).astype(np.float64)
    wbar = np.bincount(codes, weights=weights, minlength=G) / size
    dw = weights - wbar[codes]
    dw = np.where(np.abs(dw) > 1e-13 * wbar[codes], dw, 0.0)
    # Six within-cluster moment matrices X_g' diag(v) X_g: sort the rows by cluster once, then one reduceat each.
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    present = sorted_codes[starts]
    outer = np.einsum("ni,nj->nij", X[order], X[order])

    def moment(v: np.ndarray | None) -> np.ndarray:
        out = np.zeros((G, k, k))
        out[present] = np.add.reduceat(outer if v is None else outer * v[order][:, None, None], starts, axis=0)
        return out

    C0 = moment(None)  # X_g'X_g
    C1 = moment(weights)  # X_g'W_gX_g
    C2 = moment(weights**2)  # X_g'W_g^2X_g
    XD = moment(dw)  # X_g'D_g
    XWD = moment(weights * dw)  # X_g'W_gD_g
    DD = moment(dw**2)  # D_g'D_g
    scale = np.sqrt(np.einsum("gii->gi", DD))
    scale = np.where(scale > 0, scale, 1.0)
    XD = XD / scale[:, None, :]
    XWD = XWD / scale[:, None, :]
    DD = DD / scale[:, :, None] / scale[:, None, :]
    K = np.block([[M @ C2.sum(axis=0) @ M, -M], [-M, np.zeros((k, k))]])
    P = np.zeros((G, 2 * k, 2 * k))
    P[:, :k, :k] = np.eye(k)
    P[:, :k, k:] = wbar[:, None, None] * np.eye(k)
    P[:, k:, k:] = scale[:, :, None] * np.eye(k)
    Kg = P @ K @ np.swapaxes(P, 1, 2)
    gram = np.block([[C0, XD], [np.swapaxes(XD, 1, 2), DD]])
    gram = 0.5 * (gram + np.swapaxes(gram, 1, 2))
    lam, V = np.linalg.eigh(gram)
    keep = lam > 1e-13 * lam.max(axis=-1, keepdims=True)
    safe = np.where(keep, lam, 1.0)
    R = V * np.where(keep, np.sqrt(safe), 0.0)[:, None, :]
    Vi = V * np.where(keep, 1.0 / np.sqrt(safe), 0.0)[:, None, :]
    K0 = np.swapaxes(R, 1, 2) @ Kg @ R  # S_g = I + Q_g K0_g Q_g' on span(U_g)
    K0 = 0.5 * (K0 + np.swapaxes(K0, 1, 2))
    mu, Y = np.linalg.eigh(K0)
    eig = 1.0 + mu  # eigenvalues of S_g in span(U_g); 0 where an observation is fitted exactly
    f = np.where(eig > LEVERAGE_TOL, 1.0 / np.sqrt(np.clip(eig, LEVERAGE_TOL, None)), 0.0) - 1.0
    phi = Vi @ ((Y * f[:, None, :]) @ np.swapaxes(Y, 1, 2)) @ np.swapaxes(Vi, 1, 2)
    return _Pieces(
        phi=phi,
        C1=C1,
        C2=C2,
        XU=np.concatenate([C0, XD], axis=2),
        XWU=np.concatenate([C1, XWD], axis=2),
        gram=gram,
        K=K,
        dw=dw,
        scale=scale,
    )


def cr2_identity_directions(
    X: np.ndarray, weights: np.ndarray, codes: np.ndarray, n_clusters: int, contrast: np.ndarray, L: np.ndarray
) -> np.ndarray:
    """The vector :math:`a` with :math:`c'\\hat V c = \\sum_g (a_g'e_g)^2` (unweighted residuals :math:`e`).

    :math:`a_g = A_gW_gX_gMc = W_gX_gMc + U_g\\Phi_gU_g'W_gX_gMc`, row by row; see :func:`cr2_identity_weighted`.
    """
    X = X @ L
    p = _pieces(X, weights, codes, n_clusters)
    c = L.T @ contrast
    pt = np.einsum("gij,gj->gi", p.phi, np.swapaxes(p.XWU, 1, 2) @ c)[codes]  # (n, 2k): phi_g U_g'W_gX_gMc
    Urow = np.concatenate([X, X * (p.dw[:, None] / p.scale[codes])], axis=1)  # rows of U_g
    return weights * (X @ c) + np.einsum("ni,ni->n", Urow, pt)
