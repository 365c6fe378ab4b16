"""Sensitivity of an event study to violations of parallel trends (Rambachan and Roth 2023; Roth 2022).

An event study's coefficients are ``beta = delta + (0, tau)``: ``T_pre`` leads whose mean ``delta_pre`` is the
pre-trend and ``T_post`` lags whose mean is the effect ``tau`` plus the post-period trend ``delta_post``. The
target is ``theta = l' tau``. Parallel trends says ``delta_post = 0``; Rambachan and Roth let ``delta`` lie in a
set ``Delta`` indexed by how far post-period trends may depart from what the pre-period shows:

* ``"smoothness"`` (``Delta^SD(M)``): every second difference of ``delta`` (the reference period's ``delta_0 = 0``
  included) is at most ``M`` in absolute value; ``M = 0`` allows linear trends only. Intervals: the optimal
  fixed-length confidence interval (FLCI) of Armstrong and Kolesar (2018), Rambachan and Roth Sec. 4.1.
* ``"relative_magnitudes"`` (``Delta^RM(Mbar)``): every post-period first difference of ``delta`` is at most
  ``Mbar`` times the largest pre-period first difference. Intervals: the conditional moment-inequality test of
  Andrews, Roth and Pakes (2023, ARP) inverted over a grid of ``theta``, or its hybrid with a least-favourable
  first stage at size ``kappa = alpha / 10`` (the default, ``"C-LF"``); ``Delta^RM`` is a finite union of
  polyhedra (which pre-period difference is largest, and its sign) and the interval is the union of theirs.
* ``"bounded"`` (``|delta_t| <= M`` in every post period, Manski and Pepper's 2018 bounded variation): the
  departure from parallel trends is bounded directly, in outcome units, without reference to pre-periods -- the
  one analysis a baseline/endline panel (no pre-period coefficient) supports. Interval: the FLCI with worst-case
  bias ``M sum_t |l_t|`` (Armstrong and Kolesar 2018); :func:`bounded_breakdown` solves for the ``M`` at which
  it first contains zero.

:func:`pretrend_power` is Roth (2022)'s question the other way round: how likely the pre-test is to notice a
linear trend of a given slope, and which slope it notices with 50% or 80% probability.

References
----------
Rambachan, A. and Roth, J. (2023). A more credible approach to parallel trends. Rev. Econ. Stud. 90(5), 2555-2591.
Andrews, I., Roth, J. and Pakes, A. (2023). Inference for linear conditional moment inequalities. Rev. Econ. Stud.
Armstrong, T. and Kolesar, M. (2018). Optimal inference in a class of regression models. Econometrica 86(2).
Manski, C. and Pepper, J. (2018). How do right-to-carry laws affect crime rates? Coping with ambiguity using
bounded-variation assumptions. Rev. Econ. Stat. 100(2), 232-244.
Roth, J. (2022). Pretest with caution: event-study estimates after testing for parallel trends. AER: Insights 4(3).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import optimize, stats

from evalkit._validation import check_option
from evalkit.errors import OptionError

__all__ = [
    "PretrendPower",
    "SensitivityMethod",
    "SensitivityResult",
    "bounded_breakdown",
    "bounded_ci",
    "flci",
    "honest_sensitivity",
    "pretrend_power",
    "relative_magnitudes_ci",
]

SensitivityMethod = Literal["relative_magnitudes", "smoothness", "bounded"]
RMInterval = Literal["C-LF", "Conditional"]


# --------------------------------------------------------------------------- inputs
def _inputs(
    betahat: Any, sigma: Any, num_pre: int, l_vec: Any, min_pre: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    b = np.asarray(betahat, dtype=float).ravel()
    S = np.asarray(sigma, dtype=float)
    if S.shape != (b.size, b.size):
        raise OptionError(f"sigma has shape {S.shape}; it must be {b.size} x {b.size} like betahat.")
    if not (np.isfinite(b).all() and np.isfinite(S).all()):
        raise OptionError("betahat and sigma must be finite; re-estimate or drop the event times with NaN.")
    if not isinstance(num_pre, int | np.integer) or not min_pre <= num_pre < b.size:
        need = "at least one pre-period and one" if min_pre else "at least one"
        raise OptionError(f"num_pre={num_pre!r}: need {need} post-period coefficient among {b.size}.")
    num_post = b.size - int(num_pre)
    lv = np.zeros(num_post) if l_vec is None else np.asarray(l_vec, dtype=float).ravel()
    if l_vec is None:
        lv[0] = 1.0
    if lv.size != num_post or not np.isfinite(lv).all() or not lv.any():
        raise OptionError(f"l_vec must be {num_post} finite weights on the post periods, not all zero; got {l_vec!r}.")
    return b, (S + S.T) / 2, lv


def _check_grid(name: str, values: Any) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(values, dtype=float)).ravel()
    if arr.size == 0 or not np.isfinite(arr).all() or (arr < 0).any():
        raise OptionError(f"{name}={values!r} must be one or more finite numbers >= 0 (e.g. {name}=[0.5, 1]).")
    return arr


# --------------------------------------------------------------------------- smoothness: FLCI
def _folded_normal_cv(b: float, alpha: float) -> float:
    """``cv_alpha(b)``: the 1 - alpha quantile of ``|N(b, 1)|``."""
    b = abs(b)

    def excess(c: float) -> float:
        return stats.norm.sf(c - b) + stats.norm.cdf(-c - b) - alpha

    return float(optimize.brentq(excess, b, b + 10.0, xtol=1e-14, rtol=1e-15))


def _cv_slope(c: float, b: float) -> float:
    """``d cv_alpha(b) / db`` by implicit differentiation."""
    lo, hi = stats.norm.pdf(c - b), stats.norm.pdf(c + b)
    return float((lo - hi) / (lo + hi))


def _second_differences(num_pre: int, num_post: int) -> np.ndarray:
    """Second differences of ``(delta_-T_pre, ..., delta_-1, 0, delta_1, ..., delta_T_post)`` (reference dropped)."""
    T = num_pre + num_post
    full = np.zeros((T - 1, T + 1))
    for j in range(T - 1):
        full[j, j : j + 3] = (1.0, -2.0, 1.0)
    return np.delete(full, num_pre, axis=1)


@dataclass(frozen=True)
class FLCI:
    """An optimal fixed-length confidence interval: ``v' betahat +/- half_length``."""

    lb: float
    ub: float
    weights: np.ndarray = field(repr=False)
    half_length: float
    max_bias: float
    std_error: float


def flci(betahat: Any, sigma: Any, num_pre: int, m: float, l_vec: Any = None, alpha: float = 0.05) -> FLCI:
    """Optimal FLCI for ``theta = l' tau`` under ``Delta^SD(M)`` (Rambachan and Roth 2023, Sec. 4.1).

    Parameters
    ----------
    betahat : array of length T_pre + T_post
        Event-study coefficients in increasing event time, the reference period (just before the first post
        period) omitted.
    sigma : (T, T) array
        Their covariance.
    num_pre : int
        Number of pre-period coefficients (the first ``num_pre`` of ``betahat``).
    m : float
        ``M``: the largest change in slope of the differential trend between consecutive periods.
    l_vec : array of length T_post, optional
        Weights of the target; default the first post period.
    alpha : float
        One minus the coverage.

    Notes
    -----
    Among affine estimators ``v' betahat`` (``v_post = l`` so the bias does not depend on ``tau``), the worst-case
    bias over ``Delta^SD(M)`` is finite only if ``v`` is orthogonal to linear trends and is then
    ``M ||mu||_1`` with ``A' mu = v`` (``A``: the second-difference matrix; LP duality, the solution unique because
    ``A`` has full row rank). The interval ``v' betahat +/- cv_alpha(bias / sd) sd`` (``cv_alpha(b)``: the
    1 - alpha quantile of ``|N(b, 1)|``) is as short as possible over ``mu``: a convex problem (the perspective of
    the convex ``cv_alpha``), solved with SLSQP on ``(mu, u)``, ``-u <= mu <= u``, with analytic gradients.
    """
    b, S, lv = _inputs(betahat, sigma, num_pre, l_vec)
    m = float(_check_grid("m", m)[0])
    num_post = b.size - num_pre
    A = _second_differences(num_pre, num_post)
    k = A.shape[0]
    Q = A @ S @ A.T
    z = stats.norm.ppf(1 - alpha / 2)
    E = A.T[num_pre:]  # post rows of v = A' mu must equal l

    def parts(x: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray]:
        mu, u = x[:k], x[k:]
        s = float(np.sqrt(max(mu @ Q @ mu, 1e-300)))
        return s, m * float(u.sum()), mu, u

    def objective(x: np.ndarray) -> tuple[float, np.ndarray]:
        s, bias, mu, _ = parts(x)
        t = bias / s
        c = _folded_normal_cv(t, alpha) if t > 0 else z
        dc = _cv_slope(c, t) if t > 0 else 0.0
        ds = c - t * dc
        grad = np.concatenate([ds * (Q @ mu) / s, np.full(k, m * dc)])
        return s * c, grad

    mu0 = np.linalg.lstsq(E, lv, rcond=None)[0]
    x0 = np.concatenate([mu0, np.abs(mu0) + 1e-3])
    cons = [
        {"type": "eq", "fun": lambda x: E @ x[:k] - lv, "jac": lambda x: np.hstack([E, np.zeros_like(E)])},
        {
            "type": "ineq",
            "fun": lambda x: np.concatenate([x[k:] - x[:k], x[k:] + x[:k]]),
            "jac": lambda x: np.block([[-np.eye(k), np.eye(k)], [np.eye(k), np.eye(k)]]),
        },
    ]
    best = None
    for start in (x0, np.concatenate([mu0, np.abs(mu0)]) * 1.0):
        sol = optimize.minimize(
            objective, start, jac=True, method="SLSQP", constraints=cons, options={"ftol": 1e-15, "maxiter": 2000}
        )
        if best is None or sol.fun < best.fun:
            best = sol
    mu = best.x[:k]  # type: ignore[union-attr]
    v = A.T @ mu
    v[num_pre:] = lv
    s = float(np.sqrt(v @ S @ v))
    bias = m * float(np.abs(mu).sum())
    half = s * (_folded_normal_cv(bias / s, alpha) if bias > 0 else z)
    centre = float(v @ b)
    return FLCI(centre - half, centre + half, v, half, bias, s)


# --------------------------------------------------------------------------- bounded variation
def bounded_ci(betahat: Any, sigma: Any, num_pre: int, m: float, l_vec: Any = None, alpha: float = 0.05) -> FLCI:
    """FLCI for ``theta = l' tau`` when every post-period ``|delta_t| <= M`` (bounded variation).

    Parameters
    ----------
    betahat, sigma, l_vec, alpha
        As :func:`flci`.
    num_pre : int
        Number of pre-period coefficients; may be 0 (they are not used).
    m : float
        ``M``: the largest departure from parallel trends in any post period, in the outcome's units.

    Notes
    -----
    ``l' betahat_post`` has bias ``l' delta_post``, at most ``M sum_t |l_t|`` in absolute value; the interval is
    ``l' betahat_post +/- cv_alpha(bias / sd) sd`` with ``cv_alpha(b)`` the 1 - alpha quantile of ``|N(b, 1)|``, the
    shortest fixed-length interval with this bias bound (Armstrong and Kolesar 2018; Imbens and Manski 2004 for
    the idea). ``M = 0`` gives the usual normal interval. Manski and Pepper (2018) call the restriction bounded
    variation; unlike ``Delta^SD`` and ``Delta^RM`` it does not learn ``M`` from the pre-periods.
    """
    b, S, lv = _inputs(betahat, sigma, num_pre, l_vec, min_pre=0)
    m = float(_check_grid("m", m)[0])
    v = np.zeros(b.size)
    v[num_pre:] = lv
    sd = float(np.sqrt(v @ S @ v))
    bias = m * float(np.abs(lv).sum())
    half = sd * (_folded_normal_cv(bias / sd, alpha) if bias > 0 else float(stats.norm.ppf(1 - alpha / 2)))
    centre = float(v @ b)
    return FLCI(centre - half, centre + half, v, half, bias, sd)


def bounded_breakdown(betahat: Any, sigma: Any, num_pre: int, l_vec: Any = None, alpha: float = 0.05) -> float:
    """The ``M`` at which the :func:`bounded_ci` interval first contains 0 (0 if the normal interval already does).

    Notes
    -----
    Solves ``sd cv_alpha(M sum|l| / sd) = |l' betahat_post|`` for ``M`` (the half-length grows strictly with
    ``M``), by Brent's method to 1e-12 relative.
    """
    b, S, lv = _inputs(betahat, sigma, num_pre, l_vec, min_pre=0)
    est = abs(float(lv @ b[num_pre:]))
    sd = float(np.sqrt(lv @ S[num_pre:, num_pre:] @ lv))
    z = float(stats.norm.ppf(1 - alpha / 2))
    if est <= z * sd:
        return 0.0
    scale = float(np.abs(lv).sum())
    root = optimize.brentq(lambda t: _folded_normal_cv(t, alpha) - est / sd, 0.0, est / sd, xtol=1e-14, rtol=1e-13)
    return float(root * sd / scale)


# --------------------------------------------------------------------------- relative magnitudes: ARP
def _eta(y: np.ndarray, X: np.ndarray, sd: np.ndarray) -> tuple[float, np.ndarray] | None:
    """``min_tau max_j (y_j - X_j tau) / sd_j`` and its dual weights ``gamma`` (``gamma >= 0``, ``W' gamma = e1``)."""
    if X.shape[1] == 0:
        ratio = y / sd
        j = int(np.argmax(ratio))
        gamma = np.zeros(y.size)
        gamma[j] = 1.0 / sd[j]
        return float(ratio[j]), gamma
    c = np.zeros(1 + X.shape[1])
    c[0] = 1.0
    sol = optimize.linprog(c, A_ub=np.column_stack([-sd, -X]), b_ub=-y, bounds=[(None, None)] * c.size, method="highs")
    if sol.status != 0:
        return None
    return float(sol.x[0]), np.maximum(-np.asarray(sol.ineqlin.marginals, dtype=float), 0.0)


def _dual_max(f: np.ndarray, W: np.ndarray) -> tuple[float, np.ndarray] | None:
    """``max f' gamma`` over ``gamma >= 0``, ``W' gamma = e1`` (the vertices of the dual of :func:`_eta`)."""
    rhs = np.zeros(W.shape[1])
    rhs[0] = 1.0
    sol = optimize.linprog(-f, A_eq=W.T, b_eq=rhs, bounds=[(0, None)] * f.size, method="highs")
    if sol.status != 0:
        return None
    return float(-sol.fun), np.asarray(sol.x, dtype=float)


def _truncation_dual(
    eta: float, s_vec: np.ndarray, c_vec: np.ndarray, W: np.ndarray, sd_b: float
) -> tuple[float, float]:
    """Interval of ``eta'`` over which ``g(eta') = max_gamma gamma'(s + c eta') - eta'`` stays 0 (ARP App. D).

    ``g`` is convex, piecewise linear and >= 0 with ``g(eta) = 0``; Newton steps on its linear pieces, started far
    out on either side, stop exactly at the ends of its zero set.
    """
    tol = 1e-7 * max(1.0, abs(eta), sd_b)

    def g(x: float) -> tuple[float, np.ndarray] | None:
        out = _dual_max(s_vec + c_vec * x, W)
        return None if out is None else (out[0] - x, out[1])

    ends = []
    for side in (-1.0, 1.0):
        x = eta + side * max(100.0, 20 * sd_b)
        end = np.inf * side  # g still 0 (or the LP unbounded) that far out: no truncation on this side
        for _ in range(100):
            out = g(x)
            if out is None or out[0] <= tol:
                end = x if out is not None and x != eta + side * max(100.0, 20 * sd_b) else end
                break
            gamma = out[1]
            slope = float(gamma @ c_vec) - 1.0
            if slope * side <= 0:  # impossible for a convex g with g(eta) = 0; stop at eta to be safe
                end = eta
                break
            x = -float(gamma @ s_vec) / slope
        else:
            end = x
        ends.append(float(end))
    return ends[0], ends[1]


def _dual_vertices(W: np.ndarray, limit: int = 20_000) -> np.ndarray | None:
    """Every vertex of ``{gamma >= 0, W' gamma = e1}`` (rows), or None when there are too many subsets to try."""
    from itertools import combinations
    from math import comb

    m, r = W.shape
    rank = int(np.linalg.matrix_rank(W))
    if rank < r or comb(m, r) > limit:
        return None
    e1 = np.eye(r)[0]
    found = []
    for subset in combinations(range(m), r):
        WB = W[list(subset)]
        if abs(np.linalg.det(WB)) < 1e-12 * max(1.0, np.abs(WB).max() ** r):
            continue
        gB = np.linalg.solve(WB.T, e1)
        if (gB >= -1e-12).all():
            g = np.zeros(m)
            g[list(subset)] = np.clip(gB, 0, None)
            found.append(g)
    if not found:
        return None
    V = np.array(found)
    scale = np.abs(V).max()
    _, idx = np.unique(np.round(V / scale, 10), axis=0, return_index=True)
    return V[np.sort(idx)]


def _arp_reject_vertices(
    y: np.ndarray, V: np.ndarray, Sy: np.ndarray, alpha: float, lf_cv: float | None, kappa: float
) -> bool:
    """:func:`_arp_reject` given the dual's vertices ``V``: ``eta = max_v V y``, the truncation in closed form."""
    values = V @ y
    best = int(np.argmax(values))
    eta, gamma = float(values[best]), V[best]
    size = alpha
    if lf_cv is not None:
        if eta > lf_cv:
            return True
        size = (alpha - kappa) / (1 - kappa)
    var_b = float(gamma @ Sy @ gamma)
    if var_b < np.finfo(float).eps:
        return eta > 0
    sd_b = np.sqrt(var_b)
    c_vec = Sy @ gamma / var_b
    s_vec = y - c_vec * eta
    # gamma stays optimal at eta' while every vertex v has v's + eta' (v'c - 1) <= 0
    vs, slope = V @ s_vec, V @ c_vec - 1.0
    tol = 1e-10
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = -vs / slope
    vlo = float(bound[slope < -tol].max()) if (slope < -tol).any() else -np.inf
    vup = float(bound[slope > tol].min()) if (slope > tol).any() else np.inf
    if lf_cv is not None:
        vup = min(vup, lf_cv)
    zlo, zup, stat = vlo / sd_b, vup / sd_b, eta / sd_b
    if not zlo <= stat <= zup:
        return False
    return bool(stat > max(0.0, _truncnorm_quantile(1 - size, zlo, zup)))


def _truncnorm_quantile(p: float, lo: float, hi: float) -> float:
    if lo >= hi:
        return lo
    if np.isinf(lo) and np.isinf(hi):
        return float(stats.norm.ppf(p))
    return float(stats.truncnorm.ppf(p, lo, hi))


def _arp_reject(y: np.ndarray, X: np.ndarray, Sy: np.ndarray, alpha: float, lf_cv: float | None, kappa: float) -> bool:
    """The ARP conditional (or, with ``lf_cv``, hybrid) test of ``E[y] - X tau <= 0`` for some ``tau``."""
    sd = np.sqrt(np.diag(Sy))
    out = _eta(y, X, sd)
    if out is None:
        return False
    eta, gamma = out
    size = alpha
    if lf_cv is not None:
        if eta > lf_cv:
            return True
        size = (alpha - kappa) / (1 - kappa)
    W = np.column_stack([sd, X])
    k = X.shape[1]
    basis = gamma > 1e-6
    square = W[basis]
    nondegenerate = basis.sum() == k + 1 and np.linalg.matrix_rank(square) == k + 1
    if nondegenerate:
        gamma = np.zeros(y.size)
        gamma[basis] = np.linalg.solve(square.T, np.eye(k + 1)[0])
    var_b = float(gamma @ Sy @ gamma)
    if var_b < np.finfo(float).eps:
        return eta > 0
    sd_b = np.sqrt(var_b)
    c_vec = Sy @ gamma / var_b
    s_vec = y - c_vec * float(gamma @ y)
    if nondegenerate:
        # non-basic rows stay slack while (eta', tau') solves the basic rows: G (s + c eta') >= 0
        G = W[~basis] @ np.linalg.solve(square, np.eye(y.size)[basis]) - np.eye(y.size)[~basis]
        gs, gc = G @ s_vec, G @ c_vec
        with np.errstate(divide="ignore", invalid="ignore"):
            bound = -gs / gc
        vlo = float(bound[gc > 0].max()) if (gc > 0).any() else -np.inf
        vup = float(bound[gc < 0].min()) if (gc < 0).any() else np.inf
    else:
        vlo, vup = _truncation_dual(eta, s_vec, c_vec, W, sd_b)
    if lf_cv is not None:
        vup = min(vup, lf_cv)
    zlo, zup, stat = vlo / sd_b, vup / sd_b, eta / sd_b
    if not zlo <= stat <= zup:
        return False
    return bool(stat > max(0.0, _truncnorm_quantile(1 - size, zlo, zup)))


def _least_favourable_cv(
    X: np.ndarray, Sy: np.ndarray, kappa: float, sims: int, rng: np.random.Generator, V: np.ndarray | None = None
) -> float:
    """The 1 - kappa quantile of ``eta`` when every moment is at its bound (``E[y] = 0``), by simulation."""
    vals, vecs = np.linalg.eigh(Sy)
    root = vecs * np.sqrt(np.clip(vals, 0, None))
    draws = rng.standard_normal((sims, Sy.shape[0])) @ root.T
    sd = np.sqrt(np.diag(Sy))
    if V is not None:
        return float(np.quantile((draws @ V.T).max(axis=1), 1 - kappa))
    etas = np.array([o[0] for xi in draws if (o := _eta(xi, X, sd)) is not None])
    return float(np.quantile(etas, 1 - kappa)) if etas.size else np.inf


def _rm_rows(num_pre: int, num_post: int, mbar: float, s: int, sign: float) -> np.ndarray:
    """Moments of ``Delta^RM_{s,sign}(Mbar)`` that involve post periods: ``|post diff| <= Mbar sign diff_s``."""
    T = num_pre + num_post
    diff = np.zeros((T, T + 1))
    for r in range(T):
        diff[r, r], diff[r, r + 1] = -1.0, 1.0
    base = sign * mbar * diff[s]
    rows = [row for r in range(num_pre, T) for row in (diff[r] - base, -diff[r] - base)]
    return np.delete(np.array(rows), num_pre, axis=1)


def _theta_basis(lv: np.ndarray) -> np.ndarray:
    """An invertible ``Gamma`` with first row ``l'`` (then unit vectors): ``tau = Gamma^-1 (theta, nuisance)``."""
    pivot = int(np.flatnonzero(lv)[0])
    rows = [lv] + [np.eye(lv.size)[j] for j in range(lv.size) if j != pivot]
    return np.array(rows)


def _rm_default_grid(b: np.ndarray, S: np.ndarray, num_pre: int, lv: np.ndarray, mbar: float, n: int) -> np.ndarray:
    sd_theta = float(np.sqrt(lv @ S[num_pre:, num_pre:] @ lv))
    max_pre = float(np.abs(np.diff(np.append(b[:num_pre], 0.0))).max()) if num_pre > 1 else abs(float(b[0]))
    half = mbar * float(np.arange(1, lv.size + 1) @ np.abs(lv)) * max_pre + 20 * sd_theta
    centre = float(lv @ b[num_pre:])
    return np.linspace(centre - half, centre + half, n)


def relative_magnitudes_ci(
    betahat: Any,
    sigma: Any,
    num_pre: int,
    mbar: float,
    l_vec: Any = None,
    alpha: float = 0.05,
    interval: RMInterval = "C-LF",
    grid: Any = None,
    grid_points: int = 1000,
    sims: int = 1000,
    seed: int | np.random.Generator | None = 0,
) -> tuple[float, float]:
    """Confidence interval for ``theta = l' tau`` under ``Delta^RM(Mbar)`` (Rambachan and Roth 2023, Sec. 4.2).

    Parameters
    ----------
    betahat, sigma, num_pre, l_vec, alpha
        As :func:`flci`.
    mbar : float
        ``Mbar``: post-period differences of trend at most ``Mbar`` times the largest pre-period one.
    interval : {"C-LF", "Conditional"}
        The hybrid test with a least-favourable first stage at ``kappa = alpha / 10`` (default), or the
        conditional test alone.
    grid : array, optional
        Values of ``theta`` tested; default ``grid_points`` equally spaced points on ``l' betahat_post +/- h``,
        ``h = Mbar (sum_t t |l_t|) max_s |betahat_s - betahat_{s-1}| + 20 sd(l' betahat_post)`` (pre periods,
        ``betahat_0 = 0``), the grid of the R package HonestDiD.
    sims, seed
        Draws and seed of the least-favourable critical value (``"C-LF"`` only).

    Returns
    -------
    (lb, ub)
        The smallest and largest accepted grid values (NaN, NaN if none is accepted).

    Notes
    -----
    ``Delta^RM(Mbar)`` is the union over pre-period differences ``s`` and signs of the polyhedra
    ``|delta_t - delta_{t-1}| <= Mbar sign (delta_s - delta_{s-1})`` for every post period ``t`` (``delta_0 = 0``);
    as in HonestDiD only these post-period moments enter the test. For each, ``y = A betahat - A_post
    Gamma^-1 (theta, 0)``, the nuisance directions ``X = A_post Gamma^-1[:, 1:]``, and ARP's statistic
    ``eta = min_tau max_j (y_j - X_j tau) / sd_j`` is compared with its normal distribution truncated to where the
    LP's optimal vertex stays optimal (closed form at a non-degenerate vertex, Newton steps on the dual LP
    otherwise). ``theta`` is accepted if some polyhedron accepts it.
    """
    b, S, lv = _inputs(betahat, sigma, num_pre, l_vec)
    mbar = float(_check_grid("mbar", mbar)[0])
    check_option("interval", interval, RMInterval)
    num_post = b.size - num_pre
    if grid is None:
        grid = _rm_default_grid(b, S, num_pre, lv, mbar, int(grid_points))
    grid = np.asarray(grid, dtype=float)
    kappa = alpha / 10
    Ginv = np.linalg.inv(_theta_basis(lv))
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    accept = np.zeros(grid.size, dtype=bool)
    for s in range(num_pre):
        for sign in (1.0, -1.0):
            A = _rm_rows(num_pre, num_post, mbar, s, sign)
            keep = np.abs(A).sum(axis=1) > 1e-12
            A = A[keep]
            AG = A[:, num_pre:] @ Ginv
            Y, Sy = A @ b, A @ S @ A.T
            X = AG[:, 1:]
            V = _dual_vertices(np.column_stack([np.sqrt(np.diag(Sy)), X]))
            lf = _least_favourable_cv(X, Sy, kappa, sims, rng, V) if interval == "C-LF" else None
            for i, theta in enumerate(grid):
                if accept[i]:
                    continue
                y = Y - AG[:, 0] * theta
                if V is not None:
                    accept[i] = not _arp_reject_vertices(y, V, Sy, alpha, lf, kappa)
                else:
                    accept[i] = not _arp_reject(y, X, Sy, alpha, lf, kappa)
    if not accept.any():
        return np.nan, np.nan
    return float(grid[accept].min()), float(grid[accept].max())


# --------------------------------------------------------------------------- the sensitivity analysis
@dataclass(frozen=True)
class SensitivityResult:
    """Robust confidence intervals over a range of ``M`` (smoothness, bounded) or ``Mbar`` (relative magnitudes).

    Attributes
    ----------
    method : {"smoothness", "relative_magnitudes", "bounded"}
    interval : str
        ``"FLCI"``, ``"C-LF"`` or ``"Conditional"``.
    values : tuple of float
        The ``M`` or ``Mbar`` values.
    lb, ub : tuple of float
        The robust interval at each value.
    original : tuple of float
        ``(estimate, std_error, conf_low, conf_high)`` of ``l' betahat_post`` under parallel trends.
    l_vec : tuple of float
        Weights of the target on the post periods.
    alpha : float
    exact_breakdown : float or None
        ``"bounded"``: the ``M`` at which the interval first contains 0, solved exactly
        (:func:`bounded_breakdown`); None for the other methods, whose breakdown is the grid read-off
        :attr:`breakdown`.
    """

    method: str
    interval: str
    values: tuple[float, ...]
    lb: tuple[float, ...]
    ub: tuple[float, ...]
    original: tuple[float, float, float, float]
    l_vec: tuple[float, ...]
    alpha: float = 0.05
    exact_breakdown: float | None = None

    @property
    def parameter(self) -> str:
        """``"M"`` or ``"Mbar"``: the name of the sensitivity parameter."""
        return "Mbar" if self.method == "relative_magnitudes" else "M"

    @property
    def breakdown(self) -> float | None:
        """The smallest ``M``/``Mbar`` of the grid whose robust interval contains 0 (None: none does).

        A grid read-off: the true breakdown value lies between this value and the one before it.
        """
        for value, lo, hi in sorted(zip(self.values, self.lb, self.ub, strict=True)):
            if not (lo > 0 or hi < 0):  # NaN (nothing accepted) counts as excluding 0
                if np.isnan(lo):
                    continue
                return float(value)
        return None

    def to_frame(self) -> pd.DataFrame:
        """One row per value (``method``, ``M`` or ``Mbar``, ``lb``, ``ub``) after the original interval's row."""
        rows = [{"method": "Original", self.parameter: np.nan, "lb": self.original[2], "ub": self.original[3]}]
        rows += [
            {"method": self.interval, self.parameter: v, "lb": lo, "ub": hi}
            for v, lo, hi in zip(self.values, self.lb, self.ub, strict=True)
        ]
        return pd.DataFrame(rows, columns=["method", self.parameter, "lb", "ub"])

    def plot(self, ax: Any = None) -> Any:
        """Draw the intervals against ``M``/``Mbar`` with the original one at the left; returns ``(fig, ax)``."""
        import matplotlib.pyplot as plt

        if ax is None:
            fig, ax = plt.subplots(figsize=(6, 4))
        else:
            fig = ax.figure
        vals = np.asarray(self.values, dtype=float)
        step = float(np.diff(np.sort(vals)).min()) if vals.size > 1 else max(float(vals[0]), 1.0) * 0.5
        x0 = float(vals.min()) - step
        ax.vlines(x0, self.original[2], self.original[3], color="tab:red", lw=2, label="Original")
        ax.vlines(vals, self.lb, self.ub, color="tab:blue", lw=2, label=self.interval)
        ax.axhline(0.0, color="grey", lw=0.8, ls="--")
        ax.set_xlabel(r"$\bar{M}$" if self.parameter == "Mbar" else "M")
        ax.set_ylabel(f"{100 * (1 - self.alpha):g}% confidence interval")
        ax.legend(frameon=False)
        return fig, ax


def honest_sensitivity(
    betahat: Any,
    sigma: Any,
    num_pre: int,
    method: SensitivityMethod = "relative_magnitudes",
    values: Sequence[float] | float | None = None,
    l_vec: Any = None,
    alpha: float = 0.05,
    interval: RMInterval = "C-LF",
    grid_points: int = 1000,
    sims: int = 1000,
    seed: int | None = 0,
) -> SensitivityResult:
    """Robust intervals for ``l' tau`` over ``values`` of ``M`` (smoothness, bounded) or ``Mbar`` (relative magnitudes).

    Default ``values``: ``Mbar`` = 0, 0.5, ..., 2 (as HonestDiD); ``M`` = 11 equally spaced values from 0 to the
    standard error of the first post-period coefficient (HonestDiD instead bounds ``M`` from the pre-periods), for
    ``"bounded"`` to the larger of that and ``|l' betahat_post|``.
    The original interval is the normal one, ``l' betahat_post +/- z sd`` (HonestDiD's ``constructOriginalCS``).
    See :func:`flci`, :func:`relative_magnitudes_ci` and :func:`bounded_ci` (``num_pre`` may then be 0; the result's
    ``exact_breakdown`` is :func:`bounded_breakdown`).
    """
    check_option("method", method, SensitivityMethod)
    b, S, lv = _inputs(betahat, sigma, num_pre, l_vec, min_pre=0 if method == "bounded" else 1)
    if not 0 < alpha < 1:
        raise OptionError(f"alpha={alpha!r} must be between 0 and 1 (e.g. 0.05).")
    name = "mbar" if method == "relative_magnitudes" else "m"
    if values is None:
        top = float(np.sqrt(S[num_pre, num_pre]))
        if method == "bounded":  # up to the estimate's size: the breakdown lies inside when the effect is significant
            top = max(abs(float(lv @ b[num_pre:])), top)
        values = np.arange(5) * 0.5 if method == "relative_magnitudes" else np.linspace(0, top, 11)
    vals = _check_grid(name, values)
    sd = float(np.sqrt(lv @ S[num_pre:, num_pre:] @ lv))
    est = float(lv @ b[num_pre:])
    z = float(stats.norm.ppf(1 - alpha / 2))
    lbs, ubs = [], []
    for v in vals:
        if method != "relative_magnitudes":
            r = (flci if method == "smoothness" else bounded_ci)(b, S, num_pre, float(v), lv, alpha)
            lo, hi = r.lb, r.ub
        else:
            lo, hi = relative_magnitudes_ci(
                b, S, num_pre, float(v), lv, alpha, interval, grid_points=grid_points, sims=sims, seed=seed
            )
        lbs.append(lo)
        ubs.append(hi)
    return SensitivityResult(
        method=method,
        interval=interval if method == "relative_magnitudes" else "FLCI",
        values=tuple(float(v) for v in vals),
        lb=tuple(lbs),
        ub=tuple(ubs),
        original=(est, sd, est - z * sd, est + z * sd),
        l_vec=tuple(float(x) for x in lv),
        alpha=alpha,
        exact_breakdown=bounded_breakdown(b, S, num_pre, lv, alpha) if method == "bounded" else None,
    )


# --------------------------------------------------------------------------- Roth (2022) pre-trend power
@dataclass(frozen=True)
class PretrendPower:
    """Power of the Wald pre-test against a linear pre-trend ``delta_t = slope * t``.

    Attributes
    ----------
    slope : float
        The slope asked about (NaN if none).
    power : float
        Probability that the pre-test rejects at level ``alpha`` under that trend.
    slope_50, slope_80 : float
        The slopes (> 0) the pre-test detects with 50% and 80% probability.
    df : int
        Number of pre-period coefficients.
    alpha : float
    """

    slope: float
    power: float
    slope_50: float
    slope_80: float
    df: int
    alpha: float


def pretrend_power(sigma_pre: Any, event_times: Any, slope: float | None = None, alpha: float = 0.05) -> PretrendPower:
    """Roth (2022): how likely the Wald pre-test ``b' Sigma_pre^-1 b > chi2_{1-alpha}(T_pre)`` is to notice a trend.

    Parameters
    ----------
    sigma_pre : (T_pre, T_pre) array
        Covariance of the pre-period coefficients.
    event_times : array of T_pre numbers
        Their event times relative to the reference period (e.g. -5, ..., -1).
    slope : float, optional
        The trend's slope per period.
    alpha : float
        The pre-test's level.

    Notes
    -----
    Under ``delta_t = slope * t`` the statistic is noncentral chi-square with ``T_pre`` degrees of freedom and
    noncentrality ``slope^2 t' Sigma_pre^-1 t``; the slopes for 50% / 80% power invert it.
    """
    S = np.atleast_2d(np.asarray(sigma_pre, dtype=float))
    t = np.asarray(event_times, dtype=float).ravel()
    if S.shape != (t.size, t.size) or t.size == 0:
        raise OptionError(f"sigma_pre has shape {S.shape}; it must be square with one row per event time ({t.size}).")
    if not 0 < alpha < 1:
        raise OptionError(f"alpha={alpha!r} must be between 0 and 1 (e.g. 0.05).")
    info = float(t @ np.linalg.solve(S, t))
    df = t.size
    crit = float(stats.chi2.ppf(1 - alpha, df))

    def power(nc: float) -> float:
        return float(stats.ncx2.sf(crit, df, nc)) if nc > 0 else alpha

    def slope_for(target: float) -> float:
        nc = optimize.brentq(lambda x: power(x) - target, 1e-12, 1e4, xtol=1e-13, rtol=1e-14)
        return float(np.sqrt(nc / info))

    s = np.nan if slope is None else float(slope)
    return PretrendPower(
        slope=s,
        power=np.nan if slope is None else power(s * s * info),
        slope_50=slope_for(0.5),
        slope_80=slope_for(0.8),
        df=df,
        alpha=alpha,
    )
