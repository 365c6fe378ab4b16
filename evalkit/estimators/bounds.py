"""Bounds on a treatment effect when outcomes are missing: Lee (2009) trimming bounds and Manski / Horowitz-Manski
worst-case bounds, with Imbens-Manski (2004) confidence intervals.

Arrays only: the design hands down the outcome, the 0/1 treatment, which outcomes are observed, and (optionally)
cell codes (blocks and discrete covariates), strata and cluster codes for the bootstrap. Nothing here knows which
design it serves; :meth:`evalkit.RandomizedTrial.bounds` is the user-facing entry point.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy import optimize, stats

from evalkit._seeds import recordable_seed, seed_to_use
from evalkit.errors import DataError, EstimationError

__all__ = [
    "BOUNDS_COLUMNS",
    "Bounds",
    "BoundsInference",
    "BoundsMethod",
    "imbens_manski_critical_value",
    "lee_bounds",
    "trimmed_mean",
]

BoundsMethod = Literal["lee", "manski"]
BoundsInference = Literal["analytic", "bootstrap"]

#: Columns of :meth:`Bounds.to_frame`, in order.
BOUNDS_COLUMNS: tuple[str, ...] = (
    "outcome",
    "method",
    "lower",
    "upper",
    "conf_low",
    "conf_high",
    "trim_share",
    "trimmed_arm",
    "lower_std_error",
    "upper_std_error",
    "lower_conf_low",
    "lower_conf_high",
    "upper_conf_low",
    "upper_conf_high",
    "set_conf_low",
    "set_conf_high",
    "critical_value",
    "response_treated",
    "response_control",
    "n_obs",
    "n_treated",
    "n_control",
    "n_observed",
    "inference",
)


@dataclass(frozen=True)
class Bounds:
    """Bounds on the average treatment effect of one outcome, with their confidence intervals.

    Attributes
    ----------
    outcome : str
        The outcome.
    method : {"lee", "manski"}
        Lee (2009) trimming bounds (the effect on the always-observed), or worst-case bounds on the average effect.
    lower, upper : float
        Estimated lower and upper bound.
    conf_low, conf_high : float
        The Imbens-Manski (2004) interval: covers the effect (a point of the identified set) with probability at
        least :math:`1-\\alpha` asymptotically,
        :math:`[\\hat\\theta_l - C\\hat\\sigma_l, \\hat\\theta_u + C\\hat\\sigma_u]`.
    trim_share : float
        Share of the observed outcomes of ``trimmed_arm`` that was trimmed (Lee); NaN for Manski bounds. With cells
        (blocks, ``tighten_by``), the cell-weighted average share.
    trimmed_arm : str
        ``"treated"`` or ``"control"``: the arm with the higher response rate (Lee); ``""`` for Manski bounds.
    lower_std_error, upper_std_error : float
        Standard errors of the two bounds.
    lower_conf_low, lower_conf_high, upper_conf_low, upper_conf_high : float
        Each bound's own :math:`1-\\alpha` interval, :math:`\\hat\\theta \\pm z_{1-\\alpha/2}\\hat\\sigma`.
    set_conf_low, set_conf_high : float
        An interval that covers the whole identified set with probability at least :math:`1-\\alpha`
        (Horowitz and Manski 2000): :math:`[\\hat\\theta_l - z_{1-\\alpha/2}\\hat\\sigma_l,
        \\hat\\theta_u + z_{1-\\alpha/2}\\hat\\sigma_u]`.
    critical_value : float
        The Imbens-Manski :math:`C` (:func:`imbens_manski_critical_value`).
    response_treated, response_control : float
        Share of units with the outcome observed, by arm.
    n_obs, n_treated, n_control, n_observed : int
        Units, by arm, and units with the outcome observed.
    inference : str
        How the standard errors were obtained.
    alpha : float
        One minus the confidence level.
    cells : DataFrame or None
        With cells (blocks, ``tighten_by``): one row per cell with its bounds, trimming share and weight.
    notes : tuple of str
        Plain-language caveats.
    seed : int, str or None
        The bootstrap's seed (pass it back as ``seed=`` to repeat the run), or None.
    """

    outcome: str
    method: str
    lower: float
    upper: float
    conf_low: float
    conf_high: float
    trim_share: float
    trimmed_arm: str
    lower_std_error: float
    upper_std_error: float
    lower_conf_low: float
    lower_conf_high: float
    upper_conf_low: float
    upper_conf_high: float
    set_conf_low: float
    set_conf_high: float
    critical_value: float
    response_treated: float
    response_control: float
    n_obs: int
    n_treated: int
    n_control: int
    n_observed: int
    inference: str
    alpha: float = 0.05
    cells: pd.DataFrame | None = field(default=None, repr=False, compare=False)
    notes: tuple[str, ...] = field(default=(), repr=False)
    seed: int | str | None = field(default=None, repr=False)

    def to_frame(self) -> pd.DataFrame:
        """One tidy row (``BOUNDS_COLUMNS``)."""
        return pd.DataFrame([{c: getattr(self, c) for c in BOUNDS_COLUMNS}], columns=list(BOUNDS_COLUMNS))

    def summary(self, digits: int = 3) -> str:
        """Readable text: the bounds, their intervals and the notes."""
        level = f"{100 * (1 - self.alpha):g}%"
        name = "Lee (2009) trimming bounds" if self.method == "lee" else "Manski worst-case bounds"
        f = f"{{:.{digits}f}}".format
        lines = [
            f"{name} for {self.outcome!r} ({self.inference})",
            f"  bounds:                      [{f(self.lower)}, {f(self.upper)}]",
            f"  {level} Imbens-Manski interval:  [{f(self.conf_low)}, {f(self.conf_high)}]",
            f"  {level} interval for the set:   [{f(self.set_conf_low)}, {f(self.set_conf_high)}]",
            f"  lower bound {f(self.lower)} (se {f(self.lower_std_error)}); "
            f"upper bound {f(self.upper)} (se {f(self.upper_std_error)})",
            f"  response: treated {f(self.response_treated)}, control {f(self.response_control)}; "
            f"{self.n_observed} of {self.n_obs} outcomes observed",
        ]
        if self.method == "lee":
            lines.append(f"  trimmed {f(self.trim_share)} of the observed {self.trimmed_arm} outcomes")
        if self.notes:
            lines += ["", "Notes:", *(f"  - {n}" for n in self.notes)]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        return self.to_frame().to_html(index=False, float_format=lambda v: f"{v:.3f}")


# ----------------------------------------------------------------------------------------------------------
# pieces
# ----------------------------------------------------------------------------------------------------------


def imbens_manski_critical_value(width: float, sigma_lower: float, sigma_upper: float, alpha: float = 0.05) -> float:
    """The Imbens-Manski (2004) critical value :math:`C` for an interval that covers a partially identified parameter.

    Parameters
    ----------
    width : float
        Estimated width of the identified set, :math:`\\hat\\Delta = \\hat\\theta_u - \\hat\\theta_l` (negative
        values count as zero).
    sigma_lower, sigma_upper : float
        Standard errors of the two bounds.
    alpha : float
        One minus the confidence level.

    Returns
    -------
    float
        :math:`C` solving :math:`\\Phi(C + \\hat\\Delta/\\max(\\hat\\sigma_l, \\hat\\sigma_u)) - \\Phi(-C) = 1-\\alpha`;
        it lies between :math:`z_{1-\\alpha}` (a wide set) and :math:`z_{1-\\alpha/2}` (a point).

    Notes
    -----
    Imbens, G. W. and Manski, C. F. (2004). Confidence intervals for partially identified parameters.
    Econometrica 72(6), 1845-1857, eq. (6) (the interval is :math:`[\\hat\\theta_l - C\\hat\\sigma_l,
    \\hat\\theta_u + C\\hat\\sigma_u]`); Lee (2009, Sec. 4) uses it for the trimming bounds.
    """
    sigma = max(float(sigma_lower), float(sigma_upper))
    if not np.isfinite(sigma) or sigma <= 0 or not np.isfinite(width):
        return float("nan")
    ratio = max(float(width), 0.0) / sigma
    lo, hi = stats.norm.ppf(1 - alpha), stats.norm.ppf(1 - alpha / 2)

    def gap(c: float) -> float:
        return float(stats.norm.cdf(c + ratio) - stats.norm.cdf(-c) - (1 - alpha))

    if gap(lo) >= 0:  # numerically a very wide set: C = z_{1-alpha}
        return float(lo)
    return float(optimize.brentq(gap, lo, hi, xtol=1e-14))


def trimmed_mean(
    y_sorted: np.ndarray, counts: np.ndarray, keep: np.ndarray | float, *, side: Literal["low", "high"]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, variance and boundary quantile of the lowest (or highest) ``keep`` share of a weighted sample.

    Parameters
    ----------
    y_sorted : ndarray (m,)
        Values in increasing order.
    counts : ndarray (b, m)
        Non-negative weights of the values, one row per sample (bootstrap counts; a row of ones for the data).
    keep : float or ndarray (b,)
        Share of the total weight kept, in (0, 1].
    side : {"low", "high"}
        Keep the lowest values (the mean is then a lower trimmed mean) or the highest.

    Returns
    -------
    mean, variance, quantile : ndarray (b,)
        The trimmed mean :math:`\\frac{1}{1-p}\\int_0^{1-p} F^{-1}(u)\\,du` (``side="low"``, ``keep = 1-p``), the
        variance of the kept distribution, and the boundary quantile :math:`F^{-1}(1-p)`.

    Notes
    -----
    Exactly the share ``keep`` of the weight is kept: the value at the boundary enters with the fraction of its
    weight needed, so ties and discrete outcomes are trimmed by the share Lee's bounds require rather than by a
    whole value.
    """
    w = np.atleast_2d(np.asarray(counts, dtype=np.float64))
    y = np.asarray(y_sorted, dtype=np.float64)
    if side == "high":
        y, w = y[::-1], w[:, ::-1]
    total = w.sum(axis=1)
    target = np.asarray(keep, dtype=np.float64) * total
    before = np.cumsum(w, axis=1) - w
    kept = np.clip(target[:, None] - before, 0.0, w)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = kept @ y / target
        var = ((y[None, :] - mean[:, None]) ** 2 * kept).sum(axis=1) / target
        last = np.where(kept > 0, np.arange(y.size)[None, :], -1).max(axis=1)
    quantile = np.where(last >= 0, y[np.maximum(last, 0)], np.nan)
    return mean, np.maximum(var, 0.0), quantile


@dataclass(frozen=True)
class _CellBounds:
    lower: np.ndarray
    upper: np.ndarray
    share: np.ndarray
    weight: np.ndarray
    q1: np.ndarray
    q0: np.ndarray


def _cell_bounds(
    y: np.ndarray, z: np.ndarray, s: np.ndarray, counts: np.ndarray, trim_treated: bool
) -> tuple[_CellBounds, dict[str, np.ndarray]]:
    """Lee bounds of one cell under each row of ``counts`` (b, n), and the pieces of Lee's variance."""
    treated, control = z == 1, z == 0
    n1, n0 = counts[:, treated].sum(axis=1), counts[:, control].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        q1 = counts[:, treated & s].sum(axis=1) / n1
        q0 = counts[:, control & s].sum(axis=1) / n0
    hi_arm, lo_arm = (treated, control) if trim_treated else (control, treated)
    q_hi, q_lo = (q1, q0) if trim_treated else (q0, q1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.clip((q_hi - q_lo) / q_hi, 0.0, 1.0)
    hi_rows = np.flatnonzero(hi_arm & s)
    order = hi_rows[np.argsort(y[hi_rows], kind="stable")]
    y_hi, c_hi = y[order], counts[:, order]
    top_mean, top_var, top_q = trimmed_mean(y_hi, c_hi, 1 - share, side="high")  # drop the lowest p
    bottom_mean, bottom_var, bottom_q = trimmed_mean(y_hi, c_hi, 1 - share, side="low")  # drop the highest p
    lo_rows = np.flatnonzero(lo_arm & s)
    c_lo = counts[:, lo_rows]
    m_lo = c_lo.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        lo_mean = c_lo @ y[lo_rows] / m_lo
        lo_var = (c_lo @ (y[lo_rows] ** 2) - m_lo * lo_mean**2) / (m_lo - 1)
    if trim_treated:
        upper, lower = top_mean - lo_mean, bottom_mean - lo_mean
    else:
        upper, lower = lo_mean - bottom_mean, lo_mean - top_mean
    n_cell = counts.sum(axis=1)
    pieces = {
        "n_hi": n1 if trim_treated else n0,
        "n_lo": n0 if trim_treated else n1,
        "m_hi": c_hi.sum(axis=1),
        "m_lo": m_lo,
        "q_hi": q_hi,
        "q_lo": q_lo,
        "share": share,
        "top": (top_mean, top_var, top_q),
        "bottom": (bottom_mean, bottom_var, bottom_q),
        "lo_var": lo_var,
    }
    return _CellBounds(lower, upper, share, n_cell * q_lo, q1, q0), pieces


def _lee_variance(pieces: dict[str, np.ndarray], trim_treated: bool) -> tuple[float, float]:
    """Lee's (2009, Proposition 3) asymptotic variances of the lower and upper bound, with plug-in estimates."""
    p, q_hi, q_lo = (float(pieces[k][0]) for k in ("share", "q_hi", "q_lo"))
    n_hi, n_lo, m_hi, m_lo = (float(pieces[k][0]) for k in ("n_hi", "n_lo", "m_hi", "m_lo"))
    var_p = q_lo**2 * (1 - q_hi) / (q_hi**3 * n_hi) + q_lo * (1 - q_lo) / (q_hi**2 * n_lo)
    out = {}
    for key in ("top", "bottom"):
        mean, var, quantile = (float(a[0]) for a in pieces[key])
        trimmed = (var + p * (quantile - mean) ** 2) / ((1 - p) * m_hi)
        out[key] = trimmed + ((mean - quantile) / (1 - p)) ** 2 * var_p + float(pieces["lo_var"][0]) / m_lo
    # trimming the treated: the upper bound keeps the top; trimming the control: the upper bound keeps its bottom
    return (out["bottom"], out["top"]) if trim_treated else (out["top"], out["bottom"])


def _bootstrap_counts(rng: np.random.Generator, reps: int, strata: np.ndarray, units: np.ndarray | None) -> np.ndarray:
    """(reps, n) counts: units (or clusters, ``units``) drawn with replacement within each stratum."""
    n = strata.size
    unit_codes = np.arange(n) if units is None else units
    counts = np.zeros((reps, n))
    for stratum in np.unique(strata):
        rows = np.flatnonzero(strata == stratum)
        labels, inverse = np.unique(unit_codes[rows], return_inverse=True)
        draws = rng.multinomial(labels.size, np.full(labels.size, 1.0 / labels.size), size=reps)
        counts[:, rows] = draws[:, inverse]
    return counts


def lee_bounds(
    y: np.ndarray,
    treatment: np.ndarray,
    observed: np.ndarray,
    *,
    outcome: str = "y",
    cells: np.ndarray | None = None,
    cell_labels: pd.DataFrame | None = None,
    strata: np.ndarray | None = None,
    clusters: np.ndarray | None = None,
    inference: BoundsInference | None = None,
    reps: int = 999,
    seed: object = None,
    alpha: float = 0.05,
) -> Bounds:
    """Lee (2009) bounds on the effect for units whose outcome is observed whichever arm they are in.

    Parameters
    ----------
    y : ndarray (n,)
        Outcome, NaN where missing.
    treatment : ndarray (n,)
        0/1 assignment.
    observed : ndarray (n,) of bool
        Whether the outcome is observed (the response indicator :math:`S`).
    outcome : str
        Name shown in the result.
    cells : ndarray (n,) of int, optional
        Cell codes ``0..K-1`` (blocks, discrete covariates): bounds are computed within each cell and averaged
        (see Notes).
    cell_labels : DataFrame, optional
        One row per cell code, for the ``cells`` table of the result.
    strata : ndarray (n,), optional
        Strata within which the bootstrap resamples (the arm is always a stratum); default: the arms.
    clusters : ndarray (n,), optional
        Cluster codes: the bootstrap resamples whole clusters; the analytic variance refuses them.
    inference : {"analytic", "bootstrap"}, optional
        Default: ``"analytic"`` (Lee's Proposition 3) without cells and clusters, ``"bootstrap"`` otherwise.
    reps : int
        Bootstrap replications.
    seed : int, SeedSequence, Generator or None
        The bootstrap's random stream (recorded on the result).
    alpha : float
        One minus the confidence level.

    Returns
    -------
    Bounds

    Raises
    ------
    DataError
        If an arm has no observed outcome (in the whole sample or a cell), or outcomes are all observed in
        neither arm.
    EstimationError
        If ``inference="analytic"`` is asked for with cells or clusters.

    Notes
    -----
    Under random assignment and monotonicity (treatment moves response in one direction only), let the treated
    respond at rate :math:`q_1 \\ge q_0`. The observed treated outcomes mix the always-observed (share
    :math:`(1-p)`, :math:`p = (q_1 - q_0)/q_1`) with those observed only when treated. The sharp bounds on the
    average effect for the always-observed are (Lee 2009, Proposition 1)

    .. math:: \\theta_l = E[Y \\mid D=1, S=1, Y \\le y_{1-p}] - E[Y \\mid D=0, S=1], \\quad
              \\theta_u = E[Y \\mid D=1, S=1, Y \\ge y_{p}] - E[Y \\mid D=0, S=1],

    with :math:`y_u` the :math:`u` quantile of the observed treated outcomes; when the control arm responds more,
    its outcomes are trimmed instead (the roles swap). Trimming removes exactly the share :math:`p` of the weight,
    the boundary value entering with a fraction (:func:`trimmed_mean`).

    The analytic standard errors are Lee's (2009) Proposition 3 with plug-in estimates (here for the upper bound
    with the treated trimmed; :math:`m_1` observed treated, :math:`n_a` assigned to arm :math:`a`,
    :math:`\\mu, \\sigma^2` mean and variance of the kept outcomes, :math:`y_p` the trimming quantile):

    .. math:: \\widehat{V} = \\frac{\\sigma^2 + p (y_p - \\mu)^2}{(1-p) m_1}
              + \\Big(\\frac{\\mu - y_p}{1-p}\\Big)^2 \\widehat{V}_p + \\frac{s_0^2}{m_0}, \\qquad
              \\widehat{V}_p = \\frac{q_0^2 (1-q_1)}{q_1^3 n_1} + \\frac{q_0 (1-q_0)}{q_1^2 n_0},

    the first term the variance of a trimmed mean at a known share, the second the effect of estimating
    :math:`p = 1 - q_0/q_1` (delta method), the third the untrimmed arm's mean.

    With cells :math:`x` (blocks, discrete covariates; Lee 2009, Sec. 3.3 "narrower bounds" with covariates),
    the bounds are computed within each cell with its own trimming share and averaged with weights proportional to
    the cell's number of always-observed units, :math:`n_x \\hat q_{lo}(x)` (:math:`q_{lo}` the lower response
    rate, of the arm that is not trimmed overall); a cell whose estimated share is negative is not trimmed. Within a
    block this respects how treatment was assigned (the assignment probability may differ between blocks); the
    averaged bounds are never wider than the pooled ones in large samples when the covariates predict the outcome.
    Their standard errors come from a bootstrap that resamples units (whole clusters, if any) within arm and
    stratum, which keeps the design's arm and block sizes.

    References
    ----------
    Lee, D. S. (2009). Training, wages, and sample selection: estimating sharp bounds on treatment effects.
    Review of Economic Studies 76(3), 1071-1102.

    Imbens, G. W. and Manski, C. F. (2004). Confidence intervals for partially identified parameters.
    Econometrica 72(6), 1845-1857.
    """
    y = np.asarray(y, dtype=np.float64)
    z = np.asarray(treatment).astype(int)
    s = np.asarray(observed, dtype=bool)
    n = y.size
    cells = np.zeros(n, dtype=int) if cells is None else np.asarray(cells, dtype=int)
    n_cells = int(cells.max()) + 1
    for arm, label in ((1, "treated"), (0, "control")):
        if not (s & (z == arm)).any():
            raise DataError(f"outcome {outcome!r} is observed for no {label} unit; there is nothing to bound.")
    q1_all, q0_all = s[z == 1].mean(), s[z == 0].mean()
    trim_treated = bool(q1_all >= q0_all)
    use_cells = n_cells > 1
    if inference is None:
        inference = "bootstrap" if use_cells or clusters is not None else "analytic"
    if inference == "analytic" and (use_cells or clusters is not None):
        raise EstimationError(
            "inference='analytic' (Lee's Proposition 3) is for bounds without cells and clusters; with blocks, "
            "tighten_by= or clusters use inference='bootstrap' (which resamples clusters within blocks)."
        )
    ones = np.ones((1, n))

    def combine(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[_CellBounds]]:
        per_cell = []
        for cell in range(n_cells):
            rows = cells == cell
            hi = (z[rows] == (1 if trim_treated else 0)) & s[rows]
            lo = (z[rows] == (0 if trim_treated else 1)) & s[rows]
            if counts is ones and (not hi.any() or not lo.any()):
                label = cell if cell_labels is None else cell_labels.iloc[cell].to_dict()
                raise DataError(
                    f"cell {label} has no observed outcome of {outcome!r} in one arm, so its bounds are not "
                    "defined; use coarser tighten_by= cells (or merge blocks)."
                )
            cb, _ = _cell_bounds(y[rows], z[rows], s[rows], counts[:, rows], trim_treated)
            per_cell.append(cb)
        weights = np.column_stack([c.weight for c in per_cell])
        weights = weights / weights.sum(axis=1, keepdims=True)
        lower = (weights * np.column_stack([c.lower for c in per_cell])).sum(axis=1)
        upper = (weights * np.column_stack([c.upper for c in per_cell])).sum(axis=1)
        share = (weights * np.column_stack([c.share for c in per_cell])).sum(axis=1)
        return lower, upper, share, per_cell

    lower_a, upper_a, share_a, per_cell = combine(ones)
    lower, upper, share = float(lower_a[0]), float(upper_a[0]), float(share_a[0])
    notes: list[str] = []
    used_seed = None
    if inference == "analytic":
        _, pieces = _cell_bounds(y, z, s, ones, trim_treated)
        var_l, var_u = _lee_variance(pieces, trim_treated)
        se_l, se_u = float(np.sqrt(var_l)), float(np.sqrt(var_u))
        label = "analytic (Lee 2009, Proposition 3)"
    else:
        used_seed = seed_to_use(seed)
        rng = np.random.default_rng(used_seed)
        by = np.column_stack([z, np.zeros(n, int) if strata is None else np.asarray(strata)])
        strata_codes = np.unique(by, axis=0, return_inverse=True)[1].ravel()
        counts = _bootstrap_counts(rng, reps, strata_codes, None if clusters is None else np.asarray(clusters))
        b_lower, b_upper, _, _ = combine(counts)
        good = np.isfinite(b_lower) & np.isfinite(b_upper)
        if (~good).any():
            notes.append(
                f"{int((~good).sum())} of {reps} bootstrap samples left a cell without observed outcomes in an arm "
                "and were skipped."
            )
        se_l, se_u = float(np.std(b_lower[good], ddof=1)), float(np.std(b_upper[good], ddof=1))
        unit = "clusters" if clusters is not None else "units"
        label = f"bootstrap ({reps} draws of {unit} within arm{' and stratum' if strata is not None else ''})"
    if use_cells:
        notes.append(
            f"Bounds computed within {n_cells} cells (blocks and/or tighten_by covariates) and averaged with weights "
            "proportional to each cell's number of always-observed units (n_x times the lower response rate)."
        )
    notes.append(
        f"Lee bounds assume monotonicity: assignment to treatment can only {'raise' if trim_treated else 'lower'} "
        "response. They bound the effect for units whose outcome would be observed in either arm, not the average "
        "effect on everyone."
    )
    cell_table = None
    if use_cells:
        cell_table = pd.DataFrame(
            {
                "lower": [float(c.lower[0]) for c in per_cell],
                "upper": [float(c.upper[0]) for c in per_cell],
                "trim_share": [float(c.share[0]) for c in per_cell],
                "response_treated": [float(c.q1[0]) for c in per_cell],
                "response_control": [float(c.q0[0]) for c in per_cell],
                "weight": [float(c.weight[0]) for c in per_cell],
            }
        )
        cell_table["weight"] /= cell_table["weight"].sum()
        if cell_labels is not None:
            cell_table = pd.concat([cell_labels.reset_index(drop=True), cell_table], axis=1)
    return finish_bounds(
        outcome=outcome,
        method="lee",
        lower=lower,
        upper=upper,
        se_lower=se_l,
        se_upper=se_u,
        alpha=alpha,
        trim_share=share,
        trimmed_arm="treated" if trim_treated else "control",
        z=z,
        s=s,
        inference=label,
        cells=cell_table,
        notes=tuple(notes),
        seed=recordable_seed(used_seed),
    )


def finish_bounds(
    *,
    outcome: str,
    method: str,
    lower: float,
    upper: float,
    se_lower: float,
    se_upper: float,
    alpha: float,
    trim_share: float,
    trimmed_arm: str,
    z: np.ndarray,
    s: np.ndarray,
    inference: str,
    cells: pd.DataFrame | None = None,
    notes: tuple[str, ...] = (),
    seed: int | str | None = None,
) -> Bounds:
    """A :class:`Bounds` from the two bounds and their standard errors: every interval in one place.

    Notes
    -----
    Each bound's own interval is :math:`\\hat\\theta \\pm z_{1-\\alpha/2}\\hat\\sigma`; the interval for the
    identified set is :math:`[\\hat\\theta_l - z_{1-\\alpha/2}\\hat\\sigma_l, \\hat\\theta_u +
    z_{1-\\alpha/2}\\hat\\sigma_u]`; the Imbens-Manski interval for the effect replaces :math:`z_{1-\\alpha/2}` by
    :math:`C` (:func:`imbens_manski_critical_value`).
    """
    z_crit = float(stats.norm.ppf(1 - alpha / 2))
    c = imbens_manski_critical_value(upper - lower, se_lower, se_upper, alpha)
    return Bounds(
        outcome=str(outcome),
        method=method,
        lower=lower,
        upper=upper,
        conf_low=lower - c * se_lower,
        conf_high=upper + c * se_upper,
        trim_share=trim_share,
        trimmed_arm=trimmed_arm,
        lower_std_error=se_lower,
        upper_std_error=se_upper,
        lower_conf_low=lower - z_crit * se_lower,
        lower_conf_high=lower + z_crit * se_lower,
        upper_conf_low=upper - z_crit * se_upper,
        upper_conf_high=upper + z_crit * se_upper,
        set_conf_low=lower - z_crit * se_lower,
        set_conf_high=upper + z_crit * se_upper,
        critical_value=c,
        response_treated=float(s[z == 1].mean()),
        response_control=float(s[z == 0].mean()),
        n_obs=int(z.size),
        n_treated=int((z == 1).sum()),
        n_control=int((z == 0).sum()),
        n_observed=int(s.sum()),
        inference=inference,
        alpha=alpha,
        cells=cells,
        notes=notes,
        seed=seed,
    )
