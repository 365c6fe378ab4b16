"""Matplotlib figures from results: forest (coefficient) plots, randomization null distributions, event studies
and Love plots of covariate balance.

matplotlib is imported inside each function, so ``import evalkit`` does not pay for it. Every function draws on
``ax`` when given (and returns its figure) or on a new figure, and returns ``(fig, ax)``. Artists carry labels
(``"estimate"``, ``"ci"``, ``"adjusted ci"``, ...) so that callers and tests can find what was drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from evalkit._validation import check_option
from evalkit.errors import ColumnNotFoundError, DataError, InferenceError, OptionError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from evalkit.diagnostics.balance import BalanceTable
    from evalkit.results import Results

__all__ = [
    "AdjustedIntervals",
    "adjusted_intervals",
    "balance_plot",
    "coefficient_plot",
    "event_study_plot",
    "null_distribution_plot",
    "subgroup_plot",
]

#: How :func:`coefficient_plot` widens intervals when the adjusted results carry none of their own.
AdjustedIntervals = Literal["bonferroni", "sidak"]


def _figure_and_axes(ax: Axes | None, size: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    import matplotlib.pyplot as plt

    fig, new_ax = plt.subplots(figsize=size, layout="constrained")
    return fig, new_ax


def _critical(alpha: np.ndarray, df: np.ndarray) -> np.ndarray:
    """Two-sided critical values: Student t with ``df`` where finite and positive, the normal otherwise."""
    q = 1 - alpha / 2
    finite = np.isfinite(df) & (df > 0)
    out = np.asarray(stats.norm.ppf(q), dtype=float) * np.ones_like(df, dtype=float)
    out[finite] = stats.t.ppf(q[finite] if np.ndim(q) else q, df[finite])
    return out


def adjusted_intervals(
    frame: pd.DataFrame,
    alpha: float,
    method: AdjustedIntervals = "bonferroni",
    *,
    estimate: str = "estimate",
    std_error: str = "std_error",
    df: str | None = "df",
) -> tuple[np.ndarray, np.ndarray]:
    """Simultaneous intervals for a family of estimates, widened by Bonferroni or Šidák.

    Parameters
    ----------
    frame : DataFrame
        Rows of ``Results.to_frame()``. The family is the column ``family`` when present, else all rows.
    alpha : float
        Familywise error rate (one minus the simultaneous coverage).
    method : {"bonferroni", "sidak"}
        How the per-interval level is set from the family size :math:`m`.
    estimate, std_error : str
        Columns of the point estimate and its standard error.
    df : str or None
        Column of degrees of freedom (Student t critical values); ``None`` or missing values use the normal.

    Returns
    -------
    low, high : ndarray

    Notes
    -----
    Each interval is :math:`\\hat\\tau_j \\pm c_j \\widehat{SE}_j` with :math:`c_j = t_{df_j}^{-1}(1-\\alpha_m/2)`,
    where :math:`\\alpha_m = \\alpha/m` (Bonferroni) or :math:`1-(1-\\alpha)^{1/m}` (Šidák 1967). Both cover all
    :math:`m` effects at once with probability at least :math:`1-\\alpha` (Šidák's under independence or positive
    dependence of the t statistics); see Westfall & Young (1993, ch. 2). Rows with no standard error (e.g.
    randomization-based intervals) get missing bounds.
    """
    method = check_option("method", method, AdjustedIntervals)
    if "family" in frame:
        m = frame.groupby("family", dropna=False, sort=False)["family"].transform("size").to_numpy(dtype=float)
    else:
        m = np.full(len(frame), float(len(frame)))
    a = alpha / m if method == "bonferroni" else 1 - (1 - alpha) ** (1 / m)
    dfs = (
        frame[df].to_numpy(dtype=float, na_value=np.nan)
        if df is not None and df in frame
        else np.full(len(frame), np.nan)
    )
    crit = _critical(a, dfs)
    est = frame[estimate].to_numpy(dtype=float, na_value=np.nan)
    se = frame[std_error].to_numpy(dtype=float, na_value=np.nan)
    return est - crit * se, est + crit * se


def _row_labels(frame: pd.DataFrame) -> list[str]:
    labels = []
    many_terms = frame.duplicated("outcome").any()
    has_domain = "domain" in frame and frame["domain"].notna().any()
    for rec in frame.to_dict("records"):
        text = str(rec["outcome"])
        if many_terms:
            text += f" [{rec['term']}]"
        if has_domain and isinstance(rec.get("domain"), str):
            text = f"{rec['domain']}: {text}"
        labels.append(text)
    return labels


def coefficient_plot(
    results: Results,
    *,
    adjusted: Results | bool | None = None,
    standardized: bool = False,
    method: AdjustedIntervals = "bonferroni",
    ax: Axes | None = None,
) -> tuple[Figure, Axes]:
    """A forest plot: each outcome's (and domain's) estimate with its confidence interval.

    Parameters
    ----------
    results : Results
        Estimates to plot, one row per outcome (and term); the first row is drawn at the top.
    adjusted : Results or bool, optional
        Draw multiplicity-adjusted intervals beside the unadjusted ones. A ``Results`` (e.g. from
        ``results.adjust(...)``) or ``True`` (use ``results`` itself). Its own adjusted intervals are used when
        it has columns ``conf_low_adjusted`` / ``conf_high_adjusted``; otherwise the intervals are widened with
        ``method`` (see :func:`adjusted_intervals`) over the family (column ``family``, else all rows).
    standardized : bool
        Plot Cohen's d and its interval (``cohens_d``, ``cohens_d_low``, ``cohens_d_high``) instead of raw units.
        Adjusted intervals for d are widened the same way, with :math:`SE_d` read from the interval's half-width.
    method : {"bonferroni", "sidak"}
        How to widen intervals when the adjusted results carry none.
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure otherwise.

    Returns
    -------
    fig, ax

    Notes
    -----
    Drawn: a marker at :math:`\\hat\\tau_j` (``Line2D`` labelled ``"estimate"``), a horizontal segment from
    ``conf_low`` to ``conf_high`` (``LineCollection`` labelled ``"ci"``), and, with ``adjusted``, a second,
    lighter segment and marker just below (``"adjusted ci"``, ``"adjusted estimate"``); a vertical line at zero.
    Rows sit at :math:`y = n-1, \\dots, 0` from the top. The forest plot follows Lewis & Clarke (2001, *BMJ*
    322:1479); the adjusted intervals are Bonferroni or Šidák simultaneous intervals (Šidák 1967, *JASA*
    62:626).
    """
    method = check_option("method", method, AdjustedIntervals)
    frame = results.to_frame()
    if frame.empty:
        raise DataError("results have no rows to plot.")
    if standardized:
        cols = ("cohens_d", "cohens_d_low", "cohens_d_high")
        if frame[list(cols)].isna().all().all():
            raise DataError(
                "standardized=True needs cohens_d, cohens_d_low and cohens_d_high in the results; they are all "
                "missing. Plot raw effects with standardized=False."
            )
    else:
        cols = ("estimate", "conf_low", "conf_high")
    est, low, high = (frame[c].to_numpy(dtype=float, na_value=np.nan) for c in cols)
    n = len(frame)
    y = np.arange(n - 1, -1, -1, dtype=float)

    adj = None
    if adjusted is not None and adjusted is not False:
        adj = _adjusted_bounds(results, frame, adjusted, standardized, method)

    fig, ax = _figure_and_axes(ax, (6.4, 1.2 + 0.45 * n))
    offset = 0.15 if adj is not None else 0.0
    level = f"{100 * (1 - results.alpha):g}%"
    ax.hlines(y + offset, low, high, colors="C0", linewidth=2, label="ci")
    ax.plot(est, y + offset, "o", color="C0", label="estimate", zorder=3)
    if adj is not None:
        a_est, a_low, a_high, how = adj
        ax.hlines(y - offset, a_low, a_high, colors="C1", linewidth=2, label="adjusted ci")
        ax.plot(a_est, y - offset, "s", color="C1", label="adjusted estimate", zorder=3)
        from matplotlib.lines import Line2D

        ax.legend(
            handles=[
                Line2D([], [], color="C0", marker="o", label=f"{level} CI"),
                Line2D([], [], color="C1", marker="s", label=f"adjusted CI ({how})"),
            ],
            loc="lower center",
            bbox_to_anchor=(0.5, 1.0),
            ncols=2,
            frameon=False,
            fontsize="small",
        )
    ax.axvline(0.0, color="0.5", linewidth=0.8, linestyle="--", label="zero")
    ax.set_yticks(y)
    ax.set_yticklabels(_row_labels(frame))
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_xlabel("Cohen's d" if standardized else f"Estimate ({level} CI)")
    return fig, ax


def _adjusted_bounds(
    results: Results, frame: pd.DataFrame, adjusted: Any, standardized: bool, method: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    from evalkit.results import Results

    source = results if adjusted is True else adjusted
    if not isinstance(source, Results):
        raise OptionError(f"adjusted={adjusted!r} must be a Results (e.g. results.adjust('holm')), True or None.")
    other = source.to_frame()
    keys = ["outcome", "term"]
    merged = frame[keys].merge(other, on=keys, how="left", validate="one_to_one", sort=False)
    if merged["estimate"].isna().all():
        raise DataError(
            "the adjusted results share no outcome/term with the results plotted; pass results.adjust(...) of the "
            "same results."
        )
    if standardized:
        est = merged["cohens_d"].to_numpy(dtype=float, na_value=np.nan)
        half = (merged["cohens_d_high"] - merged["cohens_d_low"]).to_numpy(dtype=float, na_value=np.nan) / 2
        se = half / stats.norm.ppf(1 - source.alpha / 2)
        widen = pd.DataFrame({"estimate": est, "std_error": se})
        if "family" in merged:
            widen["family"] = merged["family"].to_numpy()
        low, high = adjusted_intervals(widen, source.alpha, method, df=None)  # type: ignore[arg-type]
        return est, low, high, method.capitalize() if method == "bonferroni" else "Šidák"
    est = merged["estimate"].to_numpy(dtype=float, na_value=np.nan)
    if {"conf_low_adjusted", "conf_high_adjusted"} <= set(merged.columns):
        low = merged["conf_low_adjusted"].to_numpy(dtype=float, na_value=np.nan)
        high = merged["conf_high_adjusted"].to_numpy(dtype=float, na_value=np.nan)
        return est, low, high, "as reported"
    low, high = adjusted_intervals(merged, source.alpha, method)  # type: ignore[arg-type]
    return est, low, high, "Bonferroni" if method == "bonferroni" else "Šidák"


def null_distribution_plot(
    results: Results,
    outcome: str | None = None,
    *,
    bins: int | str = "auto",
    ax: Axes | None = None,
) -> tuple[Figure, Axes]:
    """Histogram of a randomization test's null distribution with the observed statistic marked.

    Parameters
    ----------
    results : Results
        Results of randomization inference: ``results.fits[outcome].inference`` holds ``"null_statistics"``
        (or ``"null_distribution"``) and ``"observed_statistic"``.
    outcome : str, optional
        Which outcome; may be left out when the results hold one.
    bins : int or str
        Passed to :meth:`matplotlib.axes.Axes.hist`.
    ax : matplotlib Axes, optional

    Returns
    -------
    fig, ax

    Notes
    -----
    Drawn: the histogram of the statistics :math:`T(Z^{(b)})` over the assignments :math:`Z^{(b)}` re-drawn from
    the design (a density, ``BarContainer`` labelled ``"null"``), a solid vertical line at the observed
    :math:`T(Z)` (``"observed"``) and a dotted one at :math:`-T(Z)` (``"mirror"``) marking the two-sided tail.
    The two-sided p-value is :math:`\\#\\{b: |T^{(b)}| \\ge |T|\\}/B`
    (Imbens & Rubin 2015, ch. 5).
    """
    if outcome is None:
        if len(results.outcomes) != 1:
            raise OptionError(
                f"the results hold {len(results.outcomes)} outcomes; name one with outcome=, from "
                f"{', '.join(map(repr, results.outcomes))}."
            )
        outcome = results.outcomes[0]
    if outcome not in results.fits:
        raise ColumnNotFoundError(
            f"outcome {outcome!r} is not in the results; outcomes are {', '.join(map(repr, results.outcomes))}."
        )
    extra = results.fits[outcome].inference or {}
    null = extra.get("null_statistics", extra.get("null_distribution"))
    observed = extra.get("observed_statistic")
    if null is None or observed is None:
        raise InferenceError(
            f"outcome {outcome!r} carries no randomization null distribution; estimate it with "
            "inference=ek.inference.RandomizationInference(...)."
        )
    null = np.asarray(null, dtype=float).ravel()
    observed = float(observed)

    fig, ax = _figure_and_axes(ax, (6.4, 4.0))
    ax.hist(null[np.isfinite(null)], bins=bins, density=True, color="0.75", edgecolor="white", label="null")
    ax.axvline(observed, color="C3", linewidth=2, label="observed")
    if observed != 0:
        ax.axvline(-observed, color="C3", linewidth=1, linestyle=":", label="mirror")
    row = results.to_frame()
    p = row.loc[row["outcome"] == outcome, "p_value"]
    title = f"{outcome}: randomization distribution ({null.size:,} draws)"
    if len(p) and np.isfinite(p.iloc[0]):
        title += f", p = {p.iloc[0]:.3f}"
    ax.set_title(title, fontsize="medium")
    ax.set_xlabel("test statistic")
    ax.set_ylabel("density")
    return fig, ax


def event_study_plot(
    results: Results,
    *,
    outcome: str | None = None,
    uniform_band: float | bool | None = None,
    reference_period: float | None = -1,
    ax: Axes | None = None,
) -> tuple[Figure, Axes]:
    """Dynamic effects by event time with pointwise intervals and, optionally, a uniform band.

    Parameters
    ----------
    results : Results
        Results with a numeric ``event_time`` column (one row per event time and outcome).
    outcome : str, optional
        Which outcome; may be left out when the results hold one.
    uniform_band : float, bool or None
        ``None`` (default): draw the uniform band when the results have ``uniform_low`` / ``uniform_high``.
        ``False``: never. ``True``: require those columns. A number :math:`c`: draw
        :math:`\\hat\\tau_e \\pm c\\,\\widehat{SE}_e` (a sup-t critical value).
    reference_period : float or None
        The omitted event time, drawn as an open marker at zero when it has no row, with a dashed vertical line
        half a period after it (where treatment starts). ``None`` draws neither.
    ax : matplotlib Axes, optional

    Returns
    -------
    fig, ax

    Notes
    -----
    Drawn: markers at :math:`(e, \\hat\\tau_e)` (``"estimate"``), vertical pointwise intervals ``conf_low`` to
    ``conf_high`` (``LineCollection`` ``"ci"``), the uniform band as a shaded area (``"uniform band"``), and the
    reference point (``"reference"``). A uniform band covers the whole path with probability
    :math:`1-\\alpha`, pointwise intervals do not (Montiel Olea & Plagborg-Møller 2019, *J. Appl. Econometrics*
    34:1; Callaway & Sant'Anna 2021 use sup-t bands from the multiplier bootstrap).
    """
    frame = results.to_frame()
    if "event_time" not in frame:
        raise ColumnNotFoundError(
            "event_study_plot needs an 'event_time' column in results.to_frame(); estimate an event study "
            "(estimator='event_study' or aggregate='dynamic')."
        )
    if outcome is None:
        outcomes = list(dict.fromkeys(frame["outcome"]))
        if len(outcomes) != 1:
            raise OptionError(f"the results hold several outcomes; name one with outcome=, from {outcomes}.")
        outcome = outcomes[0]
    frame = frame[frame["outcome"] == outcome]
    if frame.empty:
        raise ColumnNotFoundError(f"outcome {outcome!r} is not in the results.")
    frame = frame.sort_values("event_time", kind="stable")
    e = frame["event_time"].to_numpy(dtype=float, na_value=np.nan)
    est = frame["estimate"].to_numpy(dtype=float, na_value=np.nan)
    low = frame["conf_low"].to_numpy(dtype=float, na_value=np.nan)
    high = frame["conf_high"].to_numpy(dtype=float, na_value=np.nan)

    band = None
    has_cols = {"uniform_low", "uniform_high"} <= set(frame.columns)
    if uniform_band is True and not has_cols:
        raise ColumnNotFoundError(
            "uniform_band=True needs columns 'uniform_low' and 'uniform_high'; pass a critical value instead, "
            "e.g. uniform_band=2.8."
        )
    if isinstance(uniform_band, bool | type(None)):
        if has_cols and uniform_band is not False:
            band = (
                frame["uniform_low"].to_numpy(dtype=float, na_value=np.nan),
                frame["uniform_high"].to_numpy(dtype=float, na_value=np.nan),
            )
    else:
        crit = float(uniform_band)
        if not np.isfinite(crit) or crit <= 0:
            raise OptionError(f"uniform_band={uniform_band!r} must be a positive critical value, True, False or None.")
        se = frame["std_error"].to_numpy(dtype=float, na_value=np.nan)
        band = (est - crit * se, est + crit * se)

    fig, ax = _figure_and_axes(ax, (7.0, 4.0))
    level = f"{100 * (1 - results.alpha):g}%"
    if band is not None:
        ax.fill_between(e, band[0], band[1], color="C0", alpha=0.15, linewidth=0, label="uniform band")
    ax.vlines(e, low, high, colors="C0", linewidth=1.8, label="ci")
    ax.plot(e, est, "o", color="C0", label="estimate", zorder=3)
    ax.axhline(0.0, color="0.5", linewidth=0.8, label="zero")
    if reference_period is not None:
        if not np.any(e == reference_period):
            ax.plot([reference_period], [0.0], "o", markerfacecolor="white", color="C0", label="reference", zorder=3)
        ax.axvline(reference_period + 0.5, color="0.5", linewidth=0.8, linestyle="--", label="treatment start")
    if band is not None:
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch

        ax.legend(
            handles=[
                Line2D([], [], color="C0", marker="o", label=f"{level} pointwise CI"),
                Patch(color="C0", alpha=0.15, label="uniform band"),
            ],
            loc="best",
            fontsize="small",
        )
    ax.set_xlabel("event time")
    ax.set_ylabel(f"estimate ({level} CI)")
    ax.set_title(str(outcome), fontsize="medium")
    return fig, ax


def balance_plot(
    balance: BalanceTable,
    *,
    threshold: float | Sequence[float] | None = 0.1,
    absolute: bool = False,
    ax: Axes | None = None,
) -> tuple[Figure, Axes]:
    """A Love plot: each covariate's standardized difference in means, with reference lines.

    Parameters
    ----------
    balance : BalanceTable
        What a design's ``balance()`` returned.
    threshold : float, sequence of float or None
        Reference lines at :math:`\\pm` each threshold (0.1 after Austin 2009; 0.25 after the What Works
        Clearinghouse and Imbens & Rubin 2015). ``None`` draws none.
    absolute : bool
        Plot :math:`|d|` (thresholds on the right only).
    ax : matplotlib Axes, optional

    Returns
    -------
    fig, ax

    Notes
    -----
    Drawn: a marker at :math:`d_k = (\\bar x_{1k} - \\bar x_{0k}) / \\sqrt{(s_{1k}^2 + s_{0k}^2)/2}` per covariate
    (``Line2D`` ``"std difference"``, first covariate at the top, :math:`y = K-1, \\dots, 0`), a solid line at 0 and
    dashed lines at the thresholds (``"threshold"``). Love plots: Ahmed et al. (2006); Austin (2009, *Stat. Med.*
    28:3083) for the 0.1 rule.
    """
    frame = balance.to_frame()
    d = frame["std_difference"].to_numpy(dtype=float, na_value=np.nan)
    if absolute:
        d = np.abs(d)
    if threshold is None:
        cuts: list[float] = []
    else:
        cuts = [float(threshold)] if np.ndim(threshold) == 0 else [float(t) for t in threshold]  # type: ignore[union-attr]
    if any(not np.isfinite(c) or c <= 0 for c in cuts):
        raise OptionError(f"threshold={threshold!r} must be positive numbers, e.g. 0.1 or (0.1, 0.25).")
    k = len(frame)
    y = np.arange(k - 1, -1, -1, dtype=float)
    fig, ax = _figure_and_axes(ax, (6.0, 1.2 + 0.4 * k))
    ax.axvline(0.0, color="0.3", linewidth=0.8, label="zero")
    for cut in cuts:
        for x in (cut,) if absolute else (-cut, cut):
            ax.axvline(x, color="0.5", linewidth=0.8, linestyle="--", label="threshold")
    ax.plot(d, y, "o", color="C0", label="std difference", zorder=3)
    ax.set_yticks(y)
    ax.set_yticklabels([str(c) for c in frame["covariate"]])
    ax.set_ylim(-0.7, k - 0.3)
    ax.set_xlabel("absolute standardized difference" if absolute else "standardized difference")
    return fig, ax


def subgroup_plot(results: Results, *, ax: Axes | None = None, **options: Any) -> tuple[Figure, Axes]:
    """A forest plot of subgroup effects (``trial.subgroups(...)``) with each outcome's test of equal effects.

    Parameters
    ----------
    results : Results
        From :meth:`evalkit.RandomizedTrial.subgroups` (columns ``by``, ``subgroup``, ``equality_p``).
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure otherwise.
    **options
        Passed to :func:`coefficient_plot` (``adjusted=``, ``standardized=``, ``method=``).

    Returns
    -------
    fig, ax

    Notes
    -----
    The rows are drawn as by :func:`coefficient_plot` (markers ``"estimate"``, segments ``"ci"``), one per outcome
    and subgroup, labelled ``"<by> = <level> (n = <n_obs>)"`` (prefixed by the outcome when there are several); the
    title gives each outcome's Wald test that its subgroup effects are equal,
    :math:`\\chi^2_{G-1}` and its p-value (:func:`evalkit.designs.subgroups.equality_test`).
    """
    frame = results.to_frame()
    needed = [c for c in ("by", "subgroup", "equality_chi2", "equality_df", "equality_p") if c not in frame]
    if needed:
        raise ColumnNotFoundError(
            f"results have no column {', '.join(map(repr, needed))}: a subgroup plot draws the results of "
            "trial.subgroups(outcomes, by=...); use results.plot('coefficients') for other results."
        )
    fig, ax = coefficient_plot(results, ax=ax, **options)
    several = frame["outcome"].nunique() > 1
    labels = [
        (f"{rec['outcome']}: " if several else "") + f"{rec['by']} = {rec['subgroup']} (n = {rec['n_obs']})"
        for rec in frame.to_dict("records")
    ]
    ax.set_yticklabels(labels)
    tests = []
    for outcome, rows in frame.groupby("outcome", sort=False):
        first = rows.iloc[0]
        if pd.isna(first["equality_p"]):
            text = "equality test not available"
        else:
            text = f"equal effects: chi2({int(first['equality_df'])}) = {first['equality_chi2']:.2f}, "
            text += f"p = {first['equality_p']:.3g}"
        tests.append(f"{outcome}: {text}" if several else text)
    ax.set_title("\n".join(tests), fontsize="small")
    return fig, ax
