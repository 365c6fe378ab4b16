"""Multiple-testing corrections: family-wise error (Bonferroni, Holm, Romano–Wolf, Westfall–Young) and false
discovery rate (Benjamini–Hochberg, Benjamini–Yekutieli, Anderson's sharpened q-values).

The p-value-only methods work on any vector of p-values. The resampling methods (Romano–Wolf, Westfall–Young)
need the joint distribution of the test statistics under the null, built from one set of draws shared by every
outcome:

* after randomization inference, the statistics each outcome kept under the same re-drawn assignments
  (``OutcomeFit.inference["null_statistics"]`` and ``["observed_statistic"]``);
* otherwise a restricted wild (cluster) bootstrap of the studentized coefficients, with one Rademacher weight per
  design row (or per cluster) shared by all outcomes — see :func:`wild_bootstrap_null`.

:func:`adjust_table` is what :meth:`evalkit.results.Results.adjust` calls; it knows nothing about designs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from evalkit._linear_algebra import condition_design
from evalkit._seeds import recordable_seed, seed_to_use
from evalkit._validation import check_option
from evalkit.errors import DataError, InferenceError, OptionError
from evalkit.estimators.iv import IVFit
from evalkit.inference._pvalue import at_least_as_extreme, count_at_least_as_extreme
from evalkit.inference.sandwich import (
    NO_CORRECTION,
    SmallSampleCorrection,
    check_absorbed_leverage,
    coefficient_score_weights,
    small_sample_factor,
)

__all__ = [
    "AdjustMethod",
    "Adjustment",
    "JointNull",
    "Within",
    "adjust_pvalues",
    "adjust_table",
    "randomization_null",
    "romano_wolf",
    "sharpened_qvalues",
    "westfall_young",
    "wild_bootstrap_null",
]

AdjustMethod = Literal["bonferroni", "holm", "bh", "by", "sharpened_q", "romano_wolf", "westfall_young"]
Within = Literal["domain"]

#: statsmodels ``multipletests`` names of the p-value-only methods.
_STATSMODELS = {"bonferroni": "bonferroni", "holm": "holm", "bh": "fdr_bh", "by": "fdr_by"}
_RESAMPLING = ("romano_wolf", "westfall_young")

_LABELS = {
    "bonferroni": "Bonferroni",
    "holm": "Holm (1979) step-down",
    "bh": "Benjamini–Hochberg (1995) FDR",
    "by": "Benjamini–Yekutieli (2001) FDR",
    "sharpened_q": "Anderson (2008) sharpened q-values (Benjamini–Krieger–Yekutieli 2006 two-stage FDR)",
    "romano_wolf": "Romano–Wolf (2005) step-down max-|t|",
    "westfall_young": "Westfall–Young (1993) free step-down min-p",
}

# Bound on the number of doubles in one draws x rows block of the bootstrap (about 32 MB).
_BATCH_ELEMENTS = 4_000_000


# ----------------------------------------------------------------------------------------------------------
# p-value-only methods
# ----------------------------------------------------------------------------------------------------------


def _check_pvalues(p: Any, *, allow_nan: bool = False) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64).reshape(-1)
    if p.size == 0:
        raise DataError("no p-values to adjust; the results have no rows.")
    bad = (np.isinf(p) | (p < 0) | (p > 1)) if allow_nan else (~np.isfinite(p) | (p < 0) | (p > 1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"p-value {p[i]!r} (position {i}) is {'outside [0, 1]' if allow_nan else 'missing or outside [0, 1]'}; "
            "adjust only p-values between 0 and 1"
            + (" (missing ones, NaN, are left out and stay NaN)." if allow_nan else ".")
        )
    return p


def adjust_pvalues(p: Any, method: Literal["bonferroni", "holm", "bh", "by", "sharpened_q"]) -> np.ndarray:
    """Adjusted p-values (or sharpened q-values) of one family of tests.

    Parameters
    ----------
    p : array-like of shape (m,)
        Raw p-values.
    method : {"bonferroni", "holm", "bh", "by", "sharpened_q"}
        The correction.

    Returns
    -------
    ndarray of shape (m,)

    Notes
    -----
    ``bonferroni``, ``holm``, ``bh`` and ``by`` are ``statsmodels.stats.multitest.multipletests`` with methods
    ``"bonferroni"``, ``"holm"``, ``"fdr_bh"`` and ``"fdr_by"``: with ordered p-values :math:`p_{(1)} \\le \\dots
    \\le p_{(m)}`, Holm's adjusted value is :math:`\\max_{j \\le i} \\min(1, (m-j+1)p_{(j)})` (Holm 1979, Scand. J.
    Statist. 6:65), Benjamini–Hochberg's :math:`\\min_{j \\ge i} \\min(1, m p_{(j)}/j)` (Benjamini & Hochberg 1995,
    JRSS-B 57:289) and Benjamini–Yekutieli's the same times :math:`\\sum_{k=1}^m 1/k` (Ann. Statist. 29:1165).
    ``sharpened_q`` is :func:`sharpened_qvalues`. Missing p-values (NaN) are left out, as R's ``p.adjust``: the
    others are adjusted among themselves (:math:`m` = the number of non-missing p-values) and NaN stays NaN.
    """
    check_option("method", method, ("bonferroni", "holm", "bh", "by", "sharpened_q"))
    p = _check_pvalues(p, allow_nan=True)
    out = np.full(p.size, np.nan)
    kept = ~np.isnan(p)
    if not kept.any():
        return out
    if method == "sharpened_q":
        out[kept] = sharpened_qvalues(p[kept])
        return out
    from statsmodels.stats.multitest import multipletests

    out[kept] = np.asarray(multipletests(p[kept], method=_STATSMODELS[method])[1], dtype=np.float64)
    return out


def sharpened_qvalues(p: Any, *, step: float = 0.001) -> np.ndarray:
    """Anderson's (2008) sharpened q-values: two-stage Benjamini–Krieger–Yekutieli (2006) FDR control.

    Parameters
    ----------
    p : array-like of shape (m,)
        Raw p-values.
    step : float, default 0.001
        Spacing of the grid of FDR levels searched (Anderson's code uses 0.001).

    Returns
    -------
    ndarray of shape (m,)
        For each hypothesis, the smallest level :math:`q` on the grid :math:`\\{step, 2\\,step, \\dots, 1\\}` at
        which the two-stage procedure rejects it (1 if it is never rejected).

    Notes
    -----
    At level :math:`q`, with ordered p-values :math:`p_{(1)} \\le \\dots \\le p_{(m)}` and :math:`q' = q/(1+q)`:

    1. first stage: :math:`r_1 = \\max\\{r : p_{(r)} \\le q' r/m\\}` (0 if none), the Benjamini–Hochberg
       rejections at level :math:`q'`; :math:`\\hat m_0 = m - r_1` estimates the number of true nulls;
    2. second stage: :math:`r_2 = \\max\\{r : p_{(r)} \\le q' (m/\\hat m_0) r/m\\}`, every hypothesis when
       :math:`\\hat m_0 = 0`;

    and the hypotheses of rank :math:`\\le r_2` are rejected. This is Benjamini, Krieger & Yekutieli (2006,
    Biometrika 93(3):491, Definition 6) as implemented by Anderson (2008, JASA 103(484):1481, §3.2) in his Stata
    code ``fdr_sharpened_qvalues.do``, which searches :math:`q = 1.000, 0.999, \\dots, 0.001` and keeps the
    smallest level at which each hypothesis is rejected. The grid here is :math:`k \\cdot step` for integer
    :math:`k`, so no rounding error builds up along it.
    """
    p = _check_pvalues(p)
    if not 0 < step < 1:
        raise OptionError(f"step={step!r} must be between 0 and 1 (Anderson uses 0.001).")
    m = p.size
    order = np.argsort(p, kind="stable")
    ps = p[order]
    rank = np.arange(1, m + 1, dtype=np.float64)
    n_grid = round(1.0 / step)
    levels = np.arange(1, n_grid + 1, dtype=np.float64) * step  # ascending grid (q values)
    q_adj = levels / (1.0 + levels)  # (L,)
    meets1 = ps[None, :] <= q_adj[:, None] * rank[None, :] / m  # (L, m)
    r1 = np.where(meets1.any(axis=1), m - np.argmax(meets1[:, ::-1], axis=1), 0)
    all_first = r1 == m
    with np.errstate(divide="ignore"):
        q_two = np.where(all_first, np.inf, q_adj * m / np.where(all_first, 1, m - r1))
    meets2 = ps[None, :] <= q_two[:, None] * rank[None, :] / m
    r2 = np.where(meets2.any(axis=1), m - np.argmax(meets2[:, ::-1], axis=1), 0)
    rejected = rank[None, :] <= r2[:, None]  # (L, m): hypothesis of rank r rejected at level q
    first = np.where(rejected.any(axis=0), levels[np.argmax(rejected, axis=0)], 1.0)
    out = np.empty(m)
    out[order] = first
    return out


# ----------------------------------------------------------------------------------------------------------
# resampling step-down methods
# ----------------------------------------------------------------------------------------------------------


def _tail_count(null: np.ndarray, observed: np.ndarray, *, larger: bool) -> np.ndarray:
    """Step-down counts: for the j-th hypothesis in step-down order, how many draws have the max (min) over the
    hypotheses not yet rejected at least as extreme as the j-th observed value."""
    # Ties count as extreme (the identity draw of a restricted bootstrap, or the observed assignment in an
    # enumeration, reproduces the observed statistic up to rounding); the tolerance's scale is each column's draws.
    if larger:
        succ = np.maximum.accumulate(null[:, ::-1], axis=1)[:, ::-1]
        return at_least_as_extreme(observed, succ, "greater", scale_draws=null).sum(axis=0)
    succ = np.minimum.accumulate(null[:, ::-1], axis=1)[:, ::-1]
    return at_least_as_extreme(observed, succ, "less", scale_draws=null).sum(axis=0)


def romano_wolf(observed: Any, null: Any, *, include_observed: bool = True, two_sided: bool = True) -> np.ndarray:
    """Romano–Wolf step-down adjusted p-values from the joint null distribution of the test statistics.

    Parameters
    ----------
    observed : array-like of shape (m,)
        Observed statistics (two-sided: their absolute values are used).
    null : array-like of shape (B, m)
        The statistics under the null, one row per draw, the same draws for every hypothesis.
    two_sided : bool, default True
        Measure extremeness by absolute values; False takes the values as they are (larger is more extreme).
    include_observed : bool, default True
        Count the observed data as one draw, :math:`(1 + \\#)/(1 + B)` (Davison & Hinkley 1997, eq. 4.11);
        False gives :math:`\\#/B` (for a complete enumeration that already contains the observed assignment).

    Returns
    -------
    ndarray of shape (m,)

    Notes
    -----
    Order the hypotheses by :math:`|t_{(1)}| \\ge \\dots \\ge |t_{(m)}|`. For step :math:`s`,
    :math:`\\tilde p_{(s)} = \\#\\{b : \\max_{j \\ge s} |t^*_{b,(j)}| \\ge |t_{(s)}|\\}` over the number of draws, and
    the adjusted p-values are :math:`\\max_{r \\le s} \\tilde p_{(r)}`; draws within a relative :math:`10^{-9}`
    of the statistic's scale count as ties (:func:`evalkit.inference._pvalue.tie_tolerance`; Romano & Wolf 2005,
    Econometrica 73(4):1237, Algorithm 4.1; Clarke, Romano & Wolf 2020, Stata Journal 20(4):812, ``rwolf``).
    """
    t = np.asarray(observed, dtype=np.float64).reshape(-1)
    tb = np.asarray(null, dtype=np.float64)
    if two_sided:
        t, tb = np.abs(t), np.abs(tb)
    _check_null(t, tb)
    order = np.argsort(-t, kind="stable")
    counts = _tail_count(tb[:, order], t[order], larger=True)
    return _finish(counts, tb.shape[0], order, include_observed)


def westfall_young(observed_p: Any, null_p: Any, *, include_observed: bool = True) -> np.ndarray:
    """Westfall–Young free step-down (min-p) adjusted p-values.

    Parameters
    ----------
    observed_p : array-like of shape (m,)
        Observed p-values.
    null_p : array-like of shape (B, m)
        p-values under the null, one row per draw, the same draws for every hypothesis.
    include_observed : bool, default True
        As in :func:`romano_wolf`.

    Returns
    -------
    ndarray of shape (m,)

    Notes
    -----
    Order :math:`p_{(1)} \\le \\dots \\le p_{(m)}`; for step :math:`s`,
    :math:`\\tilde p_{(s)} = \\#\\{b : \\min_{j \\ge s} p^*_{b,(j)} \\le p_{(s)}\\}` over the number of draws, made
    monotone by :math:`\\max_{r \\le s}` (Westfall & Young 1993, *Resampling-Based Multiple Testing*, Algorithm
    2.8, p. 66).
    """
    p = np.asarray(observed_p, dtype=np.float64).reshape(-1)
    pb = np.asarray(null_p, dtype=np.float64)
    _check_null(p, pb)
    order = np.argsort(p, kind="stable")
    counts = _tail_count(pb[:, order], p[order], larger=False)
    return _finish(counts, pb.shape[0], order, include_observed)


def _check_null(observed: np.ndarray, null: np.ndarray) -> None:
    if null.ndim != 2 or null.shape[1] != observed.size or null.shape[0] == 0:
        raise InferenceError(
            f"the null draws must form a (draws, {observed.size}) matrix, one column per hypothesis; got shape "
            f"{null.shape}."
        )
    if not np.isfinite(observed).all() or np.isnan(null).any():
        raise InferenceError(
            "the observed statistics are missing or infinite, or a resampled one is missing; adjust only rows with "
            "a finite statistic, or use a p-value method such as 'holm'."
        )


def _finish(counts: np.ndarray, n_draws: int, order: np.ndarray, include_observed: bool) -> np.ndarray:
    raw = (counts + 1.0) / (n_draws + 1.0) if include_observed else counts / float(n_draws)
    adjusted = np.minimum(np.maximum.accumulate(raw), 1.0)
    out = np.empty_like(adjusted)
    out[order] = adjusted
    return out


# ----------------------------------------------------------------------------------------------------------
# the joint null distribution
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JointNull:
    """Observed statistics and their joint null distribution for a set of outcomes.

    Attributes
    ----------
    statistics : ndarray (m,)
        Observed statistics.
    null : ndarray (B, m)
        Statistics under the null, the same draws for every outcome.
    p_values : ndarray (m,)
        Observed (marginal) p-values on the same scale as ``null_p_values``.
    null_p_values : ndarray (B, m)
        Marginal p-value of each draw.
    include_observed : bool
        Whether p-values count the observed data as a draw (False for a complete enumeration).
    source : str
        Plain-language description for the results' notes.
    two_sided : bool
        Whether ``statistics`` / ``null`` are signed statistics whose absolute values measure extremeness (True),
        or already extremeness scores, larger meaning more extreme (False).
    seed : int, str or None
        The seed the draws actually used (fresh entropy when none was given; ``repr`` of a Generator or spawned
        SeedSequence), None for a complete enumeration; passing it back as ``seed=`` repeats the draws.
    """

    statistics: np.ndarray
    null: np.ndarray
    p_values: np.ndarray
    null_p_values: np.ndarray
    include_observed: bool
    source: str
    two_sided: bool = True
    seed: int | str | None = None


def randomization_null(fits: Sequence[Any], names: Sequence[str]) -> JointNull:
    """The joint null from randomization inference that re-drew the same assignments for every outcome.

    Each ``fits[j].inference`` must hold ``"null_statistics"`` (B,) and ``"observed_statistic"``; optional keys
    ``"alternative"`` (``"two-sided"`` default, ``"greater"``, ``"less"``) and ``"exact"`` (True when the draws
    enumerate every possible assignment) are honoured, as written by
    :class:`evalkit.inference.randomization.RandomizationInference`.

    Notes
    -----
    Extremeness is measured by :math:`|T|` (two-sided), :math:`T` (greater) or :math:`-T` (less); undefined draws
    (NaN) count as extreme. The marginal p-value of draw :math:`b` for outcome :math:`j` is the share of draws at
    least as extreme, :math:`\\#\\{b' : T_{b'j} \\succeq T_{bj}\\}/B`, and the observed one is
    :math:`(1 + \\#\\{b : T_{bj} \\succeq T_j\\})/(1 + B)` (:math:`\\#/B` for an enumeration), so that min-p
    compares like with like (Westfall & Young 1993, §2.6). Both use the one tie rule of
    :func:`evalkit.inference._pvalue.at_least_as_extreme` (:func:`~evalkit.inference._pvalue.count_at_least_as_extreme`
    for the draws): :math:`T_{b'j} \\succeq x` when :math:`T_{b'j} \\ge x - \\tau`, :math:`\\tau` a relative
    :math:`10^{-9}` of the statistic's scale, so that draws equal up to rounding (equivalent assignments) tie, and
    rescaling the outcome changes no adjusted p-value.
    """
    null_cols, observed, alternatives, exact = [], [], set(), set()
    for of in fits:
        extra = of.inference
        null_cols.append(np.asarray(extra["null_statistics"], dtype=np.float64).reshape(-1))
        observed.append(float(extra["observed_statistic"]))
        alternatives.add(str(extra.get("alternative", "two-sided")))
        exact.add(bool(extra.get("exact", False)))
    sizes = {c.size for c in null_cols}
    if len(sizes) != 1 or len(alternatives) != 1 or len(exact) != 1:
        shown = ", ".join(f"{n}: {c.size}" for n, c in zip(names, null_cols, strict=True))
        raise InferenceError(
            f"the outcomes' randomization draws differ (numbers of draws {shown}; alternatives "
            f"{sorted(alternatives)}); a joint null needs the same draws for every outcome. Estimate all outcomes in "
            "one call with one RandomizationInference."
        )
    alternative = alternatives.pop()
    sign = {"two-sided": None, "greater": 1.0, "less": -1.0}.get(alternative)
    if alternative not in ("two-sided", "greater", "less"):
        raise InferenceError(f"randomization alternative {alternative!r} is not understood by the corrections.")
    null = np.column_stack(null_cols)
    t = np.asarray(observed)
    ext = np.abs(null) if sign is None else sign * null
    ext = np.where(np.isnan(ext), np.inf, ext)
    t_ext = np.abs(t) if sign is None else sign * t
    enumerated = exact.pop()
    n_draws = null.shape[0]
    null_p = np.empty_like(ext)
    p = np.empty(t.size)
    for j in range(ext.shape[1]):
        # every draw's p-value and the observed one by the same tie-tolerant rule (ties within the tolerance count
        # as extreme), so that min-p compares like with like whatever the scale of the statistic
        null_p[:, j] = count_at_least_as_extreme(ext[:, j], ext[:, j], "greater") / n_draws
        count = int(at_least_as_extreme(t_ext[j], ext[:, j], "greater").sum())
        p[j] = count / n_draws if enumerated else (1 + count) / (n_draws + 1)
    how = "all possible assignments (enumeration)" if enumerated else f"the {n_draws} re-drawn assignments"
    return JointNull(
        statistics=t_ext,
        null=ext,
        p_values=p,
        null_p_values=null_p,
        include_observed=not enumerated,
        source=f"{how} of the randomization inference ({alternative}), the same for every outcome",
        two_sided=False,
        seed=None if enumerated else fits[0].inference.get("seed"),
    )


# Above this many units (rows, or clusters) the bootstrap works on residual draws instead of a units x units
# quadratic form.
_QUADRATIC_MAX_ROWS = 3_000


@dataclass(frozen=True)
class _Studentizer:
    """What one outcome needs to turn sign draws into bootstrap t statistics.

    The draws come per *unit* (design row, or cluster): ``units`` are the global unit codes this outcome uses and
    ``position[i]`` the unit of its row ``i``. Every covariance type makes the bootstrap variance a quadratic form
    in the draws, :math:`\\widehat{se}^{*2}_b = \\lVert K v_b \\rVert^2` (and the numerator :math:`g'v_b`); when
    there are few rows, ``K`` and ``g`` are precomputed and a batch costs one matrix product.
    """

    Q: np.ndarray  # (n, k) orthonormal basis of sqrt(w) X
    c: np.ndarray  # (n,) influence of each weighted residual on the target coefficient
    d: np.ndarray  # (n,) c adjusted by the covariance type (A_g c for CR2, c/sqrt(1-h) for HC2, ...)
    resid: np.ndarray  # (n,) weighted residuals that the weights multiply (restricted or not)
    groups: np.ndarray | None  # (n,) 0..G-1 group codes for CR types
    n_groups: int
    scale: float
    classical_btt: float | None  # B_tt for the classical (homoskedastic) variance
    units: np.ndarray  # (U,) global unit codes (columns of the draw matrix)
    position: np.ndarray  # (n,) index into units of each row
    K: np.ndarray | None  # (m, U) with var = ||K v||^2, or None for large n
    g: np.ndarray | None  # (U,) numerator weights

    def t_stats(self, v: np.ndarray) -> np.ndarray:
        """Bootstrap t statistics for sign draws ``v`` (b, n) given per row."""
        u = v * self.resid[None, :]
        num = u @ self.c
        e = u - (u @ self.Q) @ self.Q.T
        if self.classical_btt is not None:
            var = self.classical_btt * np.einsum("bn,bn->b", e, e) * self.scale
        elif self.groups is None:
            var = (e * e) @ (self.d * self.d) * self.scale
        else:
            s = (e * self.d[None, :]) @ _indicator(self.groups, self.n_groups)
            var = np.einsum("bg,bg->b", s, s) * self.scale
        with np.errstate(divide="ignore", invalid="ignore"):
            return num / np.sqrt(var)

    def t_stats_units(self, V: np.ndarray) -> np.ndarray:
        """Bootstrap t statistics for sign draws ``V`` (b, U) given per unit (columns in ``units`` order)."""
        if self.K is None:
            return self.t_stats(V[:, self.position])
        num = V @ self.g
        W = V @ self.K.T
        with np.errstate(divide="ignore", invalid="ignore"):
            return num / np.sqrt(np.einsum("bm,bm->b", W, W))


def _indicator(codes: np.ndarray, n_groups: int) -> np.ndarray:
    ind = np.zeros((codes.size, n_groups))
    ind[np.arange(codes.size), codes] = 1.0
    return ind


def _studentizer(
    fit: Any,
    cov_type: str,
    clusters: np.ndarray | None,
    impose_null: bool,
    unit_codes: np.ndarray | None = None,
    correction: SmallSampleCorrection = NO_CORRECTION,
    working_model: str = "identity",
) -> _Studentizer:
    check_absorbed_leverage(cov_type, correction)
    t = int(fit.target)
    # centred, unit-scaled basis with the target's column (and coefficient) unchanged: shift- and scale-free
    design = condition_design(fit.X, fit.residuals, fit.weights, keep=t)
    Xt, et, B = design.Xt, np.asarray(design.et), design.B
    n, k = Xt.shape
    Q, _ = np.linalg.qr(Xt)
    c = Xt @ B[:, t]
    btt = float(B[t, t])
    # Restricted fit (null beta_t = 0 imposed): e_r = e + c * beta_t / B_tt in the weighted space.
    resid = et + c * (float(fit.coef[t]) / btt) if impose_null else et
    h = np.einsum("nk,nk->n", Q, Q)
    groups, n_groups, scale, classical = None, n, 1.0, None
    if cov_type == "classical":
        classical, scale = btt, small_sample_factor(cov_type, n, k, correction=correction)
    elif cov_type in ("HC0", "HC1"):
        scale = small_sample_factor(cov_type, n, k, correction=correction)
    elif cov_type in ("CR0", "CR1", "CR2"):
        if clusters is None:
            raise InferenceError(f"the results used {cov_type!r} but kept no cluster codes; re-estimate them.")
        groups, uniques = pd.factorize(np.asarray(clusters))
        groups = groups.astype(np.intp)
        n_groups = len(uniques)
        scale = small_sample_factor(cov_type, n, k, n_groups, correction)
    # the sandwich kernel's weights (leverage check for HC2/HC3, A_g for CR2): one copy, shared with sandwich()
    d = coefficient_score_weights(
        design, np.eye(k)[:, t], cov_type, codes=groups, n_clusters=n_groups, h=h, working_model=working_model
    )
    codes = np.arange(n) if unit_codes is None else np.asarray(unit_codes, dtype=np.intp)
    units, position = np.unique(codes, return_inverse=True)
    K = g = None
    if n <= _QUADRATIC_MAX_ROWS:
        # e* = M (r o S v) with M = I - QQ'; var = scale * ||F' D M R S v||^2 with F the cluster indicator (CR),
        # the identity (HC) or sqrt(B_tt) I (classical).
        S = _indicator(position, units.size)
        MRS = (resid[:, None] * S) - Q @ (Q.T @ (resid[:, None] * S))
        if classical is not None:
            K = np.sqrt(classical * scale) * MRS
        elif groups is None:
            K = np.sqrt(scale) * (d[:, None] * MRS)
        else:
            K = np.sqrt(scale) * (_indicator(groups, n_groups).T @ (d[:, None] * MRS))
        g = S.T @ (resid * c)
    return _Studentizer(
        Q=Q,
        c=c,
        d=d,
        resid=resid,
        groups=groups,
        n_groups=n_groups,
        scale=scale,
        classical_btt=classical,
        units=units,
        position=position,
        K=K,
        g=g,
    )


def wild_bootstrap_null(
    fits: Sequence[Any],
    cov_types: Sequence[str],
    dfs: Sequence[float],
    *,
    reps: int = 9_999,
    seed: int | np.random.SeedSequence | np.random.Generator | None = None,
    impose_null: bool = True,
    p_values: bool = True,
) -> JointNull:
    """Joint null distribution of the outcomes' t statistics by a restricted wild (cluster) bootstrap.

    Parameters
    ----------
    fits : sequence of OutcomeFit
        Per outcome: ``fit`` (a LinearFit), ``rows`` (positions in the design's data) and ``clusters`` (codes or
        None). Clustered when every outcome has cluster codes.
    cov_types : sequence of str
        The covariance type each outcome's t statistic used (``"HC2"``, ``"CR2"``, ...).
    dfs : sequence of float
        Degrees of freedom of each outcome's t test (to turn bootstrap t statistics into p-values).
    reps : int
        Number of bootstrap draws. With clusters and :math:`2^G \\le` ``reps`` every sign vector is enumerated.
    seed : int, SeedSequence or Generator, optional
        Randomness for the Rademacher weights. None draws fresh entropy; the seed used is returned in
        ``JointNull.seed`` so that the draws can be repeated bit for bit.
    impose_null : bool, default True
        Bootstrap from the restricted fit (the null :math:`\\beta_t = 0` imposed, "WCR"), as ``wildboottest``
        and ``pyfixest``; False resamples the unrestricted residuals ("WCU").
    p_values : bool, default True
        Also compute each draw's p-value (needed by Westfall–Young only); False leaves ``null_p_values`` empty.

    Returns
    -------
    JointNull

    Notes
    -----
    For outcome :math:`j` with weighted design :math:`\\tilde X = W^{1/2}X`, :math:`B = (\\tilde X'\\tilde X)^{-1}`,
    target coefficient :math:`t` and restricted residuals :math:`\\tilde e^r = \\tilde e + \\tilde X B e_t\\,
    \\hat\\beta_t / B_{tt}` (the least-squares fit with :math:`\\beta_t = 0`), draw :math:`b` sets
    :math:`\\tilde y^* = \\tilde X\\tilde\\beta + v_b \\circ \\tilde e^r` with Rademacher :math:`v_{b,i} = \\pm 1`
    drawn once per *design row* (or per cluster) and shared by every outcome — outcomes estimated on different
    rows (missing values) are aligned by ``rows``. Then :math:`t^*_b = \\hat\\beta^*_{b,t} / \\widehat{se}^*_b`,
    where :math:`\\widehat{se}^*_b` is the same covariance type (HC0–HC3, CR0–CR2, classical) computed on the
    bootstrap residuals. Since :math:`\\tilde\\beta_t = 0` this is :math:`(\\hat\\beta^*_{b,t} -
    \\tilde\\beta_t)/\\widehat{se}^*_b`. Everything is vectorized: for a batch of draws :math:`V` (draws x
    rows), :math:`\\hat\\beta^*_t - \\tilde\\beta_t = (V \\circ \\tilde e^r) c` with :math:`c = \\tilde X B e_t`,
    and the bootstrap residuals are :math:`U - (U Q) Q'` with :math:`U = V \\circ \\tilde e^r`,
    :math:`Q` an orthonormal basis of :math:`\\tilde X`. This is the wild bootstrap of Wu (1986) and Liu (1988) with
    the null imposed (Davidson & MacKinnon 1999; Cameron, Gelbach & Miller 2008, Rev. Econ. Stat. 90(3):414 for
    clusters), as run by ``wildboottest`` (types "11") inside ``pyfixest.rwolf`` / ``pyfixest.wyoung``.
    Bootstrap p-values use the t distribution with the outcome's own degrees of freedom (as pyfixest).
    """
    if int(reps) != reps or reps < 1:
        raise OptionError(f"reps={reps!r} must be a positive whole number of bootstrap draws, e.g. 9_999.")
    reps = int(reps)
    clustered = all(of.clusters is not None and ct.startswith("CR") for of, ct in zip(fits, cov_types, strict=True))
    if clustered:
        units = [np.asarray(of.clusters, dtype=np.intp) for of in fits]
    else:
        units = [np.asarray(of.rows, dtype=np.intp) for of in fits]
    n_units = int(max(u.max() for u in units)) + 1
    prep = [
        _studentizer(
            of.fit, ct, of.clusters if ct.startswith("CR") else None, impose_null, u, of.correction, of.working_model
        )
        for of, ct, u in zip(fits, cov_types, units, strict=True)
    ]
    n_used = np.unique(np.concatenate(units))
    enumerate_all = clustered and 2**n_used.size <= reps
    n_max = max(u.size for u in units)
    if enumerate_all:
        n_draws = 2**n_used.size
        size = max(1, min(n_draws, _BATCH_ELEMENTS // max(n_units, n_max)))

        def signs(lo: int, hi: int) -> np.ndarray:
            """Sign vectors lo..hi-1 of the enumeration (bounded memory: one batch at a time)."""
            bits = (np.arange(lo, hi)[:, None] >> np.arange(n_used.size)[None, :]) & 1
            out = np.ones((hi - lo, n_units))
            out[:, n_used] = 1.0 - 2.0 * bits
            return out

        batches = (signs(lo, min(lo + size, n_draws)) for lo in range(0, n_draws, size))
    else:
        seed = seed_to_use(seed)
        rng = np.random.default_rng(seed)  # a Generator is used as is
        size = max(1, min(reps, _BATCH_ELEMENTS // max(n_units, n_max)))
        batches = (
            rng.integers(0, 2, size=(min(size, reps - start), n_units), dtype=np.int8).astype(np.float64) * 2.0 - 1.0
            for start in range(0, reps, size)
        )
        n_draws = reps
    null = np.empty((n_draws, len(fits)))
    start = 0
    for V in batches:
        stop = start + V.shape[0]
        for j, st in enumerate(prep):
            null[start:stop, j] = st.t_stats_units(V[:, st.units])
        start = stop
    # A draw whose t statistic is undefined (no residual variation left) counts as extreme: conservative.
    null = np.where(np.isnan(null), np.inf, null)
    dfs_arr = np.asarray(dfs, dtype=np.float64)
    null_p = 2.0 * stats.t.sf(np.abs(null), dfs_arr[None, :]) if p_values else np.empty((0, len(fits)))
    how = (
        f"all {n_draws} sign vectors of the {n_used.size} clusters (complete enumeration)"
        if enumerate_all
        else f"{n_draws} Rademacher draws per {'cluster' if clustered else 'design row'}, seed {seed!r}"
    )
    return JointNull(
        statistics=np.array([np.nan] * len(fits)),  # filled by the caller from the results table
        null=null,
        p_values=np.array([np.nan] * len(fits)),
        null_p_values=null_p,
        include_observed=not enumerate_all,
        source=(
            f"a wild {'cluster ' if clustered else ''}bootstrap of the t statistics "
            f"({'null imposed' if impose_null else 'unrestricted residuals'}), {how}, shared by every outcome"
        ),
        seed=None if enumerate_all else recordable_seed(seed),
    )


# ----------------------------------------------------------------------------------------------------------
# the table-level entry point
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Adjustment:
    """Adjusted p-values of a results table, by row, and how they were obtained."""

    p_adjusted: np.ndarray
    family: np.ndarray
    method: str
    note: str
    seed: int | str | None = None


def _row_labels(table: pd.DataFrame, mask: np.ndarray, limit: int = 8) -> str:
    """The rows of a results table picked by ``mask``, named by outcome (and term when there are several)."""
    rows = table.loc[np.asarray(mask, dtype=bool)]
    by_term = "term" in table and table["outcome"].duplicated().any()
    names = [
        f"{o!r}" + (f" [{t}]" if by_term else "")
        for o, t in zip(rows["outcome"], rows.get("term", rows["outcome"]), strict=True)
    ]
    shown = ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")
    return f"{len(names)} row{'s' if len(names) != 1 else ''} ({shown})"


def _families(table: pd.DataFrame, within: str | None) -> np.ndarray:
    if within is None:
        return np.full(len(table), "all", dtype=object)
    check_option("within", within, Within)
    domain = table["domain"]
    if domain.isna().any():
        missing = ", ".join(map(repr, table.loc[domain.isna(), "outcome"].tolist()[:5]))
        raise OptionError(
            f"within='domain' needs a domain for every outcome; {missing} have none. Pass domains={{outcome: domain}} "
            "to estimate(), or use within=None to treat all rows as one family."
        )
    return domain.astype(str).to_numpy(dtype=object)


def _joint_null(
    table: pd.DataFrame, fits: Mapping[str, Any], reps: int, seed: Any, *, p_values: bool = True
) -> JointNull:
    outcomes = table["outcome"].tolist()
    if len(set(outcomes)) != len(outcomes):
        raise InferenceError(
            "Romano–Wolf and Westfall–Young need one tested coefficient per outcome, but some outcomes have several "
            "rows (terms); adjust those with 'holm' or 'bh', or estimate one term per outcome."
        )
    missing = [o for o in outcomes if o not in fits]
    if missing:
        raise InferenceError(
            f"the results keep no regression fit for outcome(s) {', '.join(map(repr, missing))}, which "
            "Romano–Wolf and Westfall–Young refit on resampled data. StaggeredDiD results (every estimator) keep "
            "none; adjust their rows with 'holm' or 'bh'. Trial and DiffInDiff results from estimate() keep them."
        )
    of = [fits[o] for o in outcomes]
    weighted = [o for o, f in zip(outcomes, of, strict=True) if f.inference.get("estimated_weights")]
    if weighted:
        raise InferenceError(
            f"outcome(s) {', '.join(map(repr, weighted))} are weighted by estimated response probabilities "
            "(attrition_weights=); the Romano-Wolf / Westfall-Young bootstrap would treat those weights as known. "
            "Adjust with 'holm', 'bh' or another p-value method, which use the corrected standard errors."
        )
    has_ri = ["null_statistics" in f.inference and "observed_statistic" in f.inference for f in of]
    if all(has_ri):
        return randomization_null(of, outcomes)
    labels = table["inference"].astype(str).tolist()
    cov_types = [f.cov_type or "" for f in of]
    unknown = [f"{o} ({lab})" for o, lab, ct in zip(outcomes, labels, cov_types, strict=True) if not ct]
    if any(has_ri) or unknown:
        raise InferenceError(
            "a joint null needs either randomization inference on every outcome or sandwich (HC/CR/classical) "
            f"inference on every outcome; found {', '.join(unknown) or 'a mix of both'}. Re-estimate all outcomes in "
            "one call with one inference method."
        )
    two_stage = [o for o, f in zip(outcomes, of, strict=True) if isinstance(f.fit, IVFit)]
    if two_stage:
        raise InferenceError(
            f"the wild bootstrap behind this joint null re-fits least squares, and outcome(s) "
            f"{', '.join(map(repr, two_stage[:5]))} were estimated by 2SLS (estimator='iv'), which it does not "
            "bootstrap. Estimate them with RandomizationInference (the joint null then comes from the design's "
            "re-draws of the reduced forms), or adjust with 'holm' or 'bh'."
        )
    joint = wild_bootstrap_null(
        of, cov_types, table["df"].to_numpy(dtype=np.float64), reps=reps, seed=seed, p_values=p_values
    )
    return JointNull(
        statistics=table["statistic"].to_numpy(dtype=np.float64),
        null=joint.null,
        p_values=table["p_value"].to_numpy(dtype=np.float64),
        null_p_values=joint.null_p_values,
        include_observed=joint.include_observed,
        source=joint.source,
        seed=joint.seed,
    )


def adjust_table(
    table: pd.DataFrame,
    fits: Mapping[str, Any],
    method: AdjustMethod,
    within: Within | None = None,
    *,
    reps: int = 9_999,
    seed: int | np.random.SeedSequence | np.random.Generator | None = None,
) -> Adjustment:
    """Adjusted p-values for every row of a results table, family by family.

    Parameters
    ----------
    table : DataFrame
        A ``Results.to_frame()`` table (``outcome``, ``domain``, ``statistic``, ``p_value``, ``df``,
        ``inference``).
    fits : Mapping[str, OutcomeFit]
        ``Results.fits``; used by the resampling methods.
    method : {"bonferroni", "holm", "bh", "by", "sharpened_q", "romano_wolf", "westfall_young"}
        The correction.
    within : {"domain"} or None
        ``"domain"`` adjusts within each domain; None treats all rows as one family.
    reps, seed
        Draws and randomness of the bootstrap (resampling methods without randomization inference).

    Returns
    -------
    Adjustment
    """
    check_option("method", method, AdjustMethod)
    family = _families(table, within)
    seed_used = None
    out = np.empty(len(table))
    if method in _RESAMPLING:
        undefined = ~np.isfinite(table["statistic"].to_numpy(dtype=np.float64)) | np.isnan(
            table["p_value"].to_numpy(dtype=np.float64)
        )
        if undefined.any():
            raise InferenceError(
                f"{_LABELS[method]} needs a finite test statistic on every row; without one: "
                f"{_row_labels(table, undefined)} (the results' notes say why). Adjust with a p-value method "
                "('holm', 'bh', ...), which leaves those rows out, or re-estimate without those outcomes."
            )
        joint = _joint_null(table, fits, reps, seed, p_values=method == "westfall_young")
        for fam in pd.unique(family):
            cols = np.flatnonzero(family == fam)
            if method == "romano_wolf":
                out[cols] = romano_wolf(
                    joint.statistics[cols],
                    joint.null[:, cols],
                    include_observed=joint.include_observed,
                    two_sided=joint.two_sided,
                )
            else:
                out[cols] = westfall_young(
                    joint.p_values[cols], joint.null_p_values[:, cols], include_observed=joint.include_observed
                )
        source = f" Joint null from {joint.source}."
        seed_used = joint.seed
    else:
        p = _check_pvalues(table["p_value"].to_numpy(dtype=np.float64), allow_nan=True)
        for fam in pd.unique(family):
            cols = np.flatnonzero(family == fam)
            out[cols] = adjust_pvalues(p[cols], method)  # type: ignore[arg-type]
        source = ""
        missing = np.isnan(p)
        if missing.any():
            source = (
                f" Left out (no p-value, so p_adjusted is NaN; as R's p.adjust, the other rows are adjusted among "
                f"themselves with m = the number of p-values present): {_row_labels(table, missing)}."
            )
    n_fam = len(pd.unique(family))
    scope = "all rows as one family" if within is None else f"within each {within} ({n_fam} families)"
    what = "q-values" if method == "sharpened_q" else "adjusted p-values"
    note = f"p_adjusted: {_LABELS[method]} {what}, {scope}.{source}"
    return Adjustment(p_adjusted=out, family=family, method=method, note=note, seed=seed_used)
