"""Publication tables from :class:`~evalkit.results.Results` and balance tables: Markdown, LaTeX, HTML.

Every table is first built as a small grid of plain-text cells (:class:`_Grid`) and then rendered by one of three
writers, so the same numbers appear in every format. No optional dependency is needed: Markdown, LaTeX (booktabs)
and HTML are written here, not through ``tabulate`` or ``jinja2``.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np
import pandas as pd

from evalkit._validation import check_option
from evalkit.errors import ColumnNotFoundError, DataError, OptionError

if TYPE_CHECKING:
    from evalkit.diagnostics.balance import BalanceTable
    from evalkit.results import Results

__all__ = [
    "DEFAULT_STARS",
    "TableFormat",
    "TableStatistic",
    "balance_table_to",
    "escape_latex",
    "regression_table",
    "to_html",
    "to_latex",
    "to_markdown",
]

#: Output formats of :func:`regression_table` and :func:`balance_table_to`.
TableFormat = Literal["markdown", "latex", "html", "frame"]
#: What :func:`regression_table` prints beneath each estimate.
TableStatistic = Literal["std_error", "conf_int", "p_value"]

#: Significance stars used by ``stars=True``: symbol -> p-value threshold (the economics convention of
#: fixest's ``etable`` and Stata's ``esttab``).
DEFAULT_STARS: Mapping[str, float] = {"*": 0.10, "**": 0.05, "***": 0.01}

_LABELS: dict[str, str] = {
    "outcome": "Outcome",
    "domain": "Domain",
    "term": "Term",
    "estimate": "Estimate",
    "std_error": "Std. error",
    "statistic": "Statistic",
    "p_value": "p-value",
    "p_adjusted": "Adjusted p",
    "conf_low": "CI low",
    "conf_high": "CI high",
    "df": "df",
    "n_obs": "N",
    "n_treated": "N treated",
    "n_control": "N control",
    "n_clusters": "Clusters",
    "estimator": "Estimator",
    "inference": "Inference",
    "control_mean": "Control mean",
    "control_sd": "Control SD",
    "glass_delta": "Glass's delta",
    "cohens_d": "Cohen's d",
    "cohens_d_low": "d low",
    "cohens_d_high": "d high",
    "hedges_g": "Hedges' g",
    "hedges_g_low": "g low",
    "hedges_g_high": "g high",
    "covariate": "Covariate",
    "mean_treated": "Mean (treated)",
    "mean_control": "Mean (control)",
    "sd_treated": "SD (treated)",
    "sd_control": "SD (control)",
    "difference": "Difference",
    "std_difference": "Std. difference",
    "n_missing": "N missing",
}

_SUMMARY_LABELS: dict[str, str] = {
    "n_obs": "Observations",
    "n_treated": "Treated",
    "n_control": "Control",
    "n_clusters": "Clusters",
    "control_mean": "Control mean",
    "control_sd": "Control SD",
    "domain": "Domain",
    "estimator": "Estimator",
    "inference": "Inference",
}
SummaryRow = Literal[
    "n_obs", "n_treated", "n_control", "n_clusters", "control_mean", "control_sd", "domain", "estimator", "inference"
]

_BALANCE_DEFAULT = ("covariate", "mean_treated", "mean_control", "difference", "std_difference", "p_value")


# ---------------------------------------------------------------------------------------------- the grid
class _Starred(NamedTuple):
    """A number followed by significance stars, which each format typesets differently."""

    number: str
    stars: str


Cell = str | _Starred


@dataclass(frozen=True)
class _Grid:
    """A table as plain-text cells: header, body rows, alignment ("l"/"c"/"r"), rules and notes."""

    header: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    align: tuple[str, ...]
    rules: tuple[int, ...] = ()  # body row indices before which a horizontal rule is drawn
    notes: tuple[str, ...] = ()
    caption: str | None = None
    label: str | None = None
    index: tuple[str, ...] | None = field(default=None)  # row labels when the first column is a stub


def _plain(cell: Cell) -> str:
    return cell.number + cell.stars if isinstance(cell, _Starred) else cell


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, Real) and not isinstance(value, Integral) and math.isnan(float(value))


def _fmt(value: Any, digits: int) -> str:
    """Fixed ``digits`` for real numbers, integers as integers, missing values blank."""
    if _is_missing(value):
        return ""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, Real):
        v = float(value)
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return f"{v:.{digits}f}"
    return str(value)


#: Columns holding names (of outcomes, terms, covariates): shown as text, left-aligned, whatever their type, so that
#: a column named ``2`` or ``2.5`` is shown as ``2`` / ``2.5`` (not ``2.500``).
_NAME_COLUMNS = frozenset({"outcome", "domain", "term", "covariate", "family"})


def _cell_text(value: Any, column: str, digits: int) -> str:
    """A table cell: names as ``str()`` (blank when missing), numbers by :func:`_fmt`."""
    if column in _NAME_COLUMNS:
        return "" if _is_missing(value) else str(value)
    return _fmt(value, digits)


def _align(frame: pd.DataFrame, column: str) -> str:
    numeric = pd.api.types.is_numeric_dtype(frame[column]) and not pd.api.types.is_bool_dtype(frame[column])
    return "r" if numeric and column not in _NAME_COLUMNS else "l"


def _check_digits(digits: int) -> int:
    if isinstance(digits, bool) or not isinstance(digits, Integral) or digits < 0:
        raise OptionError(f"digits={digits!r} must be a non-negative integer, e.g. digits=3.")
    return int(digits)


def _level(alpha: float) -> str:
    return f"{100 * (1 - alpha):g}%"


# ---------------------------------------------------------------------------------------------- writers
_LATEX_SPECIAL = {
    ord("\\"): r"\textbackslash{}",
    ord("&"): r"\&",
    ord("%"): r"\%",
    ord("$"): r"\$",
    ord("#"): r"\#",
    ord("_"): r"\_",
    ord("{"): r"\{",
    ord("}"): r"\}",
    ord("~"): r"\textasciitilde{}",
    ord("^"): r"\textasciicircum{}",
    ord("<"): r"\textless{}",
    ord(">"): r"\textgreater{}",
}


def escape_latex(text: str) -> str:
    """Escape LaTeX's special characters (``\\ & % $ # _ { } ~ ^ < >``) so ``text`` prints as written."""
    return " ".join(str(text).split("\n")).translate(_LATEX_SPECIAL)


def _escape_markdown(text: str) -> str:
    return " ".join(str(text).split()).replace("|", r"\|")


def _render_markdown(grid: _Grid) -> str:
    def cell(c: Cell) -> str:
        return _escape_markdown(_plain(c))

    rule = {"l": ":---", "c": ":---:", "r": "---:"}
    lines = []
    if grid.caption:
        lines += [f"Table: {_escape_markdown(grid.caption)}", ""]
    lines.append("| " + " | ".join(_escape_markdown(h) for h in grid.header) + " |")
    lines.append("| " + " | ".join(rule[a] for a in grid.align) + " |")
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in grid.rows]
    if grid.notes:
        lines += ["", "Notes: " + " ".join(_escape_markdown(n) for n in grid.notes)]
    return "\n".join(lines) + "\n"


def _render_latex(grid: _Grid, booktabs: bool) -> str:
    def cell(c: Cell) -> str:
        if isinstance(c, _Starred):
            return escape_latex(c.number) + (f"$^{{{c.stars}}}$" if c.stars else "")
        return escape_latex(c)

    top, mid, bottom = (r"\toprule", r"\midrule", r"\bottomrule") if booktabs else (r"\hline", r"\hline", r"\hline")
    lines = [r"\begin{table}[htbp]", r"\centering"]
    if grid.caption:
        lines.append(r"\caption{" + escape_latex(grid.caption) + "}")
    if grid.label:
        # Labels are identifiers: keep ':' and '-', drop characters that would break \label.
        lines.append(r"\label{" + "".join(ch for ch in grid.label if ch.isalnum() or ch in ":-._/") + "}")
    lines.append(r"\begin{tabular}{" + "".join(grid.align) + "}")
    lines.append(top)
    lines.append(" & ".join(escape_latex(h) for h in grid.header) + r" \\")
    lines.append(mid)
    for i, row in enumerate(grid.rows):
        if i in grid.rules and i > 0:
            lines.append(mid)
        lines.append(" & ".join(cell(c) for c in row) + r" \\")
    lines.append(bottom)
    lines.append(r"\end{tabular}")
    if grid.notes:
        lines.append(r"\par\smallskip")
        lines.append(r"\begin{minipage}{\linewidth}\footnotesize")
        lines.append(r"\textit{Notes:} " + " ".join(escape_latex(n) for n in grid.notes))
        lines.append(r"\end{minipage}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def _render_html(grid: _Grid) -> str:
    def cell(c: Cell) -> str:
        if isinstance(c, _Starred):
            return html.escape(c.number) + (f"<sup>{html.escape(c.stars)}</sup>" if c.stars else "")
        return html.escape(c)

    style = {"l": "left", "c": "center", "r": "right"}
    out = ['<table class="evalkit-table">']
    if grid.caption:
        out.append(f"<caption>{html.escape(grid.caption)}</caption>")
    out.append("<thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in grid.header) + "</tr></thead>")
    out.append("<tbody>")
    for i, row in enumerate(grid.rows):
        border = ' style="border-top: 1px solid"' if i in grid.rules and i > 0 else ""
        tds = "".join(
            f'<td style="text-align: {style[a]}">{cell(c)}</td>' for a, c in zip(grid.align, row, strict=True)
        )
        out.append(f"<tr{border}>{tds}</tr>")
    out.append("</tbody>")
    if grid.notes:
        notes = " ".join(html.escape(n) for n in grid.notes)
        out.append(f'<tfoot><tr><td colspan="{len(grid.header)}"><em>Notes:</em> {notes}</td></tr></tfoot>')
    out.append("</table>")
    return "\n".join(out) + "\n"


def _render(grid: _Grid, fmt: str, booktabs: bool = True) -> str | pd.DataFrame:
    fmt = check_option("fmt", fmt, TableFormat)
    if fmt == "markdown":
        return _render_markdown(grid)
    if fmt == "latex":
        return _render_latex(grid, booktabs)
    if fmt == "html":
        return _render_html(grid)
    body = [[_plain(c) for c in row] for row in grid.rows]
    if grid.index is not None:
        frame = pd.DataFrame([row[1:] for row in body], columns=list(grid.header[1:]), index=list(grid.index))
        frame.index.name = grid.header[0] or None
        return frame
    return pd.DataFrame(body, columns=list(grid.header))


# ---------------------------------------------------------------------------------------------- one Results
def _default_columns(frame: pd.DataFrame) -> list[str]:
    cols = ["outcome"]
    if frame["domain"].notna().any():
        cols.append("domain")
    if frame.duplicated("outcome").any():
        cols.append("term")
    cols += ["estimate", "std_error", "conf_int", "p_value"]
    if "p_adjusted" in frame:
        cols.append("p_adjusted")
    cols.append("n_obs")
    return cols


def _results_grid(results: Results, columns: Sequence[str] | None, digits: int, notes: bool, caption: str | None):
    digits = _check_digits(digits)
    frame = results.to_frame()
    cols = _default_columns(frame) if columns is None else list(columns)
    if not cols:
        raise OptionError("columns is empty; name at least one column of Results.to_frame(), or pass None.")
    missing = [c for c in cols if c != "conf_int" and c not in frame.columns]
    if missing:
        raise ColumnNotFoundError(
            f"column {', '.join(map(repr, missing))} is not in the results; available: "
            f"{', '.join(['conf_int', *frame.columns])}."
        )
    header, align = [], []
    for c in cols:
        if c == "conf_int":
            header.append(f"{_level(results.alpha)} CI")
            align.append("c")
        else:
            header.append(_LABELS.get(c, c))
            align.append(_align(frame, c))
    rows = []
    for rec in frame.to_dict("records"):
        row: list[Cell] = []
        for c in cols:
            if c == "conf_int":
                lo, hi = _fmt(rec["conf_low"], digits), _fmt(rec["conf_high"], digits)
                row.append(f"[{lo}, {hi}]" if lo or hi else "")
            else:
                row.append(_cell_text(rec[c], c, digits))
        rows.append(tuple(row))
    grid_notes: tuple[str, ...] = ()
    if notes:
        grid_notes = (
            f"Design: {results.design}. Estimator: {results.estimator}. Inference: {results.inference}; "
            f"{_level(results.alpha)} confidence intervals.",
            *_ri_notes([results]),
            *results.notes,
        )
    return _Grid(header=tuple(header), rows=tuple(rows), align=tuple(align), notes=grid_notes, caption=caption)


def to_markdown(
    results: Results,
    columns: Sequence[str] | None = None,
    digits: int = 3,
    *,
    notes: bool = True,
    caption: str | None = None,
) -> str:
    """A GitHub/pandoc Markdown table of one :class:`~evalkit.results.Results`, one row per outcome (and term).

    Parameters
    ----------
    results : Results
        What a design's ``estimate()`` returned.
    columns : sequence of str, optional
        Columns of ``results.to_frame()`` to show, plus ``"conf_int"`` for the interval as ``[low, high]``.
        Default: outcome, domain (if any), term (if an outcome has several), estimate, std_error, conf_int,
        p_value, p_adjusted (if present), n_obs.
    digits : int
        Digits after the decimal point for every real number (fixed, not significant); integers print whole and
        missing values blank.
    notes : bool
        Append the design, estimator, inference and the results' notes below the table.
    caption : str, optional
        Written as a pandoc ``Table:`` caption above the table.

    Returns
    -------
    str

    Notes
    -----
    The table is written here (no ``tabulate``): a pipe table with numbers right-aligned, ``|`` in cells escaped.
    An estimate :math:`\\hat\\tau` is shown with its standard error and its :math:`100(1-\\alpha)\\%` interval as
    stored in the results, following the reporting checklist of CONSORT 2010 (Moher et al. 2010, item 17a:
    "estimated effect size and its precision").
    """
    return _render_markdown(_results_grid(results, columns, digits, notes, caption))


def to_latex(
    results: Results,
    columns: Sequence[str] | None = None,
    digits: int = 3,
    *,
    booktabs: bool = True,
    caption: str | None = None,
    label: str | None = None,
    notes: bool = True,
) -> str:
    """A LaTeX ``table`` (booktabs rules by default) of one :class:`~evalkit.results.Results`.

    Parameters
    ----------
    results, columns, digits, notes
        As in :func:`to_markdown`.
    booktabs : bool
        ``\\toprule``/``\\midrule``/``\\bottomrule`` (needs ``\\usepackage{booktabs}``); ``False`` uses ``\\hline``.
    caption, label : str, optional
        ``\\caption`` and ``\\label`` of the float.

    Returns
    -------
    str

    Notes
    -----
    Names and notes are escaped (``_ % & # $ { } ~ ^ < >``), so outcome names such as ``easq_comm`` compile as
    written. The layout (rules only at top, below the header and at the bottom; no vertical rules) follows the
    booktabs guidelines (Fear 2020, *Publication quality tables in LaTeX*).
    """
    grid = _results_grid(results, columns, digits, notes, caption)
    return _render_latex(_with_label(grid, label), booktabs)


def to_html(
    results: Results,
    columns: Sequence[str] | None = None,
    digits: int = 3,
    *,
    caption: str | None = None,
    notes: bool = True,
) -> str:
    """An HTML ``<table>`` of one :class:`~evalkit.results.Results` (notes in ``<tfoot>``).

    Parameters
    ----------
    results, columns, digits, notes, caption
        As in :func:`to_markdown`.

    Returns
    -------
    str

    Notes
    -----
    Cells are HTML-escaped; the numbers are those of :func:`to_markdown` (same formatting,
    :math:`\\hat\\tau`, SE and :math:`100(1-\\alpha)\\%` interval; CONSORT 2010 item 17a, Moher et al. 2010).
    """
    return _render_html(_results_grid(results, columns, digits, notes, caption))


def _with_label(grid: _Grid, label: str | None) -> _Grid:
    return grid if label is None else replace(grid, label=label)


# ---------------------------------------------------------------------------------------------- side by side
def _as_models(results: Any) -> list[tuple[str | None, Results]]:
    from evalkit.results import Results

    if isinstance(results, Results):
        return [(None, results)]
    if isinstance(results, Mapping):
        items = [(str(k), v) for k, v in results.items()]
    elif isinstance(results, Sequence) and not isinstance(results, str):
        items = [(None, v) for v in results]
    else:
        raise DataError(
            f"regression_table needs a Results, a list of Results or a dict name -> Results; got "
            f"{type(results).__name__}."
        )
    if not items:
        raise DataError("regression_table got no results; pass at least one Results.")
    for name, res in items:
        if not isinstance(res, Results):
            where = f"entry {name!r}" if name is not None else "an entry"
            raise DataError(f"{where} is a {type(res).__name__}, not a Results; pass what estimate() returned.")
    return items


def _star_thresholds(stars: bool | Mapping[str, float]) -> list[tuple[str, float]]:
    if stars is False or stars is None:
        return []
    chosen = DEFAULT_STARS if stars is True else stars
    if not isinstance(chosen, Mapping) or not chosen:
        raise OptionError(
            f"stars={stars!r} must be True, False or a mapping symbol -> threshold such as {{'*': 0.05, '**': 0.01}}."
        )
    for sym, thr in chosen.items():
        if not isinstance(thr, Real) or not 0 < float(thr) < 1:
            raise OptionError(f"stars threshold {sym!r}: {thr!r} must be a p-value between 0 and 1.")
    return sorted(((str(s), float(t)) for s, t in chosen.items()), key=lambda st: -st[1])


def _stars_for(p: Any, thresholds: list[tuple[str, float]]) -> str:
    if _is_missing(p):
        return ""
    mark = ""
    for sym, thr in thresholds:  # loosest first, so the last one passed is the strictest
        if float(p) < thr:
            mark = sym
    return mark


def _null_draws(results: Results) -> list[int]:
    draws = []
    for fit in results.fits.values():
        extra = getattr(fit, "inference", {}) or {}
        for key in ("null_statistics", "null_distribution"):
            if key in extra and extra[key] is not None:
                draws.append(int(np.size(extra[key])))
                break
    return draws


def _ri_notes(models: Sequence[Results]) -> list[str]:
    draws = sorted({d for res in models for d in _null_draws(res)})
    if not draws:
        return []
    shown = " or ".join(f"{d:,}" for d in draws)
    return [f"Randomization p-values from {shown} draws of the design's assignment."]


def regression_table(
    results: Results | Sequence[Results] | Mapping[str, Results],
    *,
    statistic: TableStatistic = "std_error",
    stars: bool | Mapping[str, float] = False,
    star_p: Literal["p_value", "p_adjusted"] = "p_value",
    digits: int = 3,
    fmt: TableFormat = "markdown",
    summary_rows: Sequence[SummaryRow] = ("n_obs", "n_clusters", "estimator", "inference"),
    notes: Sequence[str] = (),
    result_notes: bool = True,
    caption: str | None = None,
    label: str | None = None,
    booktabs: bool = True,
) -> str | pd.DataFrame:
    """Several results side by side, one column per outcome and specification (like modelsummary / etable).

    Parameters
    ----------
    results : Results, list of Results or dict name -> Results
        Each outcome of each Results becomes a column. With a dict the columns are headed by its keys
        (``"key: outcome"`` when a Results holds several outcomes); otherwise by ``(1)``, ``(2)``, ...
    statistic : {"std_error", "conf_int", "p_value"}
        Printed beneath each estimate: ``(SE)``, ``[low, high]`` or ``(p)``.
    stars : bool or mapping
        ``True`` marks estimates with ``*`` p < 0.10, ``**`` p < 0.05, ``***`` p < 0.01 (:data:`DEFAULT_STARS`,
        using each column's own ``p_value``); a mapping symbol -> threshold sets others, e.g.
        ``{"+": 0.1, "*": 0.05, "**": 0.01}``. Default ``False``: small trials are better read from intervals.
    star_p : {"p_value", "p_adjusted"}
        Which p-value the stars read; ``"p_adjusted"`` needs results from ``.adjust(...)``.
    digits : int
        Fixed digits after the decimal point.
    fmt : {"markdown", "latex", "html", "frame"}
        The output: a string, or a DataFrame of the formatted cells (index = row labels).
    summary_rows : sequence of str
        Rows below the estimates, from ``"n_obs"``, ``"n_treated"``, ``"n_control"``, ``"n_clusters"``,
        ``"control_mean"``, ``"control_sd"``, ``"domain"``, ``"estimator"``, ``"inference"``. A row whose
        values are all missing (e.g. clusters in an unclustered trial) is left out.
    notes : sequence of str
        Extra notes, printed after the generated ones.
    result_notes : bool
        Also print the notes the results carry (defaults chosen, rows dropped), without repeats.
    caption, label : str, optional
        Table caption (all formats) and LaTeX label.
    booktabs : bool
        LaTeX rules from booktabs (default) or ``\\hline``.

    Returns
    -------
    str or DataFrame

    Notes
    -----
    Rows are the union of the terms (usually the treatment), each estimate :math:`\\hat\\tau_j` above
    :math:`(\\widehat{SE}_j)`, :math:`[\\hat\\tau_j^{lo}, \\hat\\tau_j^{hi}]` or :math:`(p_j)`; a star symbol
    :math:`s` is attached when :math:`p_j < c_s` for the strictest threshold :math:`c_s` met. The layout follows
    the regression tables of modelsummary (Arel-Bundock 2022, *J. Stat. Softw.* 103(1)) and fixest's ``etable``
    (Bergé 2018): a dependent-variable row, coefficients with their uncertainty beneath, then fit statistics and
    notes that say how the uncertainty was computed.
    """
    statistic = check_option("statistic", statistic, TableStatistic)
    fmt = check_option("fmt", fmt, TableFormat)
    digits = _check_digits(digits)
    thresholds = _star_thresholds(stars)
    star_p = check_option("star_p", star_p, Literal["p_value", "p_adjusted"])
    for row in summary_rows:
        check_option("summary_rows", row, SummaryRow)
    models = _as_models(results)

    # one column per (model, outcome)
    columns: list[tuple[str, pd.DataFrame, Results]] = []
    for name, res in models:
        frame = res.to_frame()
        outcomes = list(dict.fromkeys(frame["outcome"]))
        for outcome in outcomes:
            sub = frame[frame["outcome"] == outcome]
            if name is None:
                head = f"({len(columns) + 1})"
            else:
                head = name if len(outcomes) == 1 else f"{name}: {outcome}"
            columns.append((head, sub, res))
    terms = list(dict.fromkeys(t for _, sub, _ in columns for t in sub["term"]))

    body: list[tuple[Cell, ...]] = []
    index: list[str] = []
    rules: list[int] = []
    body.append(tuple(str(sub["outcome"].iloc[0]) for _, sub, _ in columns))
    index.append("Outcome")
    rules.append(len(body))
    for term in terms:
        est_row: list[Cell] = []
        stat_row: list[Cell] = []
        for _, sub, _ in columns:
            hit = sub[sub["term"] == term]
            if hit.empty:
                est_row.append("")
                stat_row.append("")
                continue
            rec = hit.iloc[0]
            number = _fmt(rec["estimate"], digits)
            est_row.append(_Starred(number, _stars_for(rec.get(star_p), thresholds)) if number else "")
            if statistic == "std_error":
                s = _fmt(rec["std_error"], digits)
                stat_row.append(f"({s})" if s else "")
            elif statistic == "p_value":
                s = _fmt(rec["p_value"], digits)
                stat_row.append(f"({s})" if s else "")
            else:
                lo, hi = _fmt(rec["conf_low"], digits), _fmt(rec["conf_high"], digits)
                stat_row.append(f"[{lo}, {hi}]" if lo or hi else "")
        body += [tuple(est_row), tuple(stat_row)]
        index += [str(term), ""]
    rules.append(len(body))
    for key in summary_rows:
        values = []
        for _, sub, _ in columns:
            if key not in sub:
                values.append("")
                continue
            uniq = sub[key].dropna().unique()
            values.append(_fmt(uniq[0], digits) if len(uniq) == 1 else "")
        if any(values):
            body.append(tuple(values))
            index.append(_SUMMARY_LABELS[key])

    if thresholds and star_p == "p_adjusted":
        lacking = [head for head, sub, _ in columns if "p_adjusted" not in sub]
        if lacking:
            raise ColumnNotFoundError(
                f"star_p='p_adjusted' but column(s) {', '.join(lacking)} have no p_adjusted; pass results from "
                ".adjust(...), or star_p='p_value'."
            )
    all_notes = _table_notes([res for _, _, res in columns], statistic, thresholds, models, result_notes, star_p)
    grid = _Grid(
        header=("", *(head for head, _, _ in columns)),
        rows=tuple((lab, *row) for lab, row in zip(index, body, strict=True)),
        align=("l", *("c" for _ in columns)),
        rules=tuple(rules),
        notes=(*all_notes, *map(str, notes)),
        caption=caption,
        label=label,
        index=tuple(index),
    )
    return _render(grid, fmt, booktabs)


def _table_notes(
    per_column: Sequence[Results],
    statistic: str,
    thresholds: list[tuple[str, float]],
    models: Sequence[tuple[str | None, Results]],
    result_notes: bool,
    star_p: str = "p_value",
) -> list[str]:
    labels = list(dict.fromkeys(res.inference for res in per_column))
    if statistic == "std_error":
        how = f": {labels[0]}" if len(labels) == 1 else " (inference per column)"
        out = [f"Standard errors in parentheses{how}."]
    elif statistic == "p_value":
        how = f": {labels[0]}" if len(labels) == 1 else " (inference per column)"
        out = [f"p-values in parentheses{how}."]
    else:
        levels = " / ".join(dict.fromkeys(_level(res.alpha) for res in per_column))
        how = f", {labels[0]}" if len(labels) == 1 else ""
        out = [f"{levels} confidence intervals in brackets{how}."]
    out += _ri_notes([res for _, res in models])
    if thresholds:
        which = "adjusted p" if star_p == "p_adjusted" else "p"
        out.append(", ".join(f"{sym} {which} < {thr:g}" for sym, thr in thresholds) + ".")
    if result_notes:
        out += list(dict.fromkeys(n for _, res in models for n in res.notes))
    return out


# ---------------------------------------------------------------------------------------------- balance
def balance_table_to(
    balance: BalanceTable,
    fmt: TableFormat = "markdown",
    *,
    columns: Sequence[str] | None = None,
    digits: int = 3,
    caption: str | None = None,
    label: str | None = None,
    booktabs: bool = True,
    notes: bool = True,
) -> str | pd.DataFrame:
    """A baseline balance table (:class:`~evalkit.diagnostics.balance.BalanceTable`) as Markdown, LaTeX or HTML.

    Parameters
    ----------
    balance : BalanceTable
        What a design's ``balance()`` returned.
    fmt : {"markdown", "latex", "html", "frame"}
        Output format.
    columns : sequence of str, optional
        Columns of ``balance.to_frame()``; default covariate, arm means, difference, standardized difference,
        p-value.
    digits : int
        Fixed digits after the decimal point.
    caption, label : str, optional
        Caption (all formats) and LaTeX label.
    booktabs : bool
        LaTeX booktabs rules (default) or ``\\hline``.
    notes : bool
        Print the arm sizes, the definition of the standardized difference, the joint test and the balance
        table's own notes (e.g. a standard error that is zero up to rounding) below the table.

    Returns
    -------
    str or DataFrame

    Notes
    -----
    The standardized difference is :math:`(\\bar x_1 - \\bar x_0)/\\sqrt{(s_1^2 + s_0^2)/2}` (Imbens & Rubin
    2015, eq. 14.2); the joint test is the Wald F test of the covariates in a regression of treatment on them
    (the Hotelling approximation with Bell-McCaffrey df when clustered), as computed by
    :func:`evalkit.diagnostics.balance.balance_table`.
    """
    fmt = check_option("fmt", fmt, TableFormat)
    digits = _check_digits(digits)
    frame = balance.to_frame()
    cols = list(_BALANCE_DEFAULT if columns is None else columns)
    missing = [c for c in cols if c not in frame.columns]
    if missing or not cols:
        raise ColumnNotFoundError(
            f"balance column {', '.join(map(repr, missing)) or '(none given)'} is not in the balance table; "
            f"available: {', '.join(frame.columns)}."
        )
    align = tuple(_align(frame, c) for c in cols)
    rows = tuple(tuple(_cell_text(rec[c], c, digits) for c in cols) for rec in frame.to_dict("records"))
    grid_notes: tuple[str, ...] = ()
    if notes:
        n1, n0 = int(frame["n_treated"].max()), int(frame["n_control"].max())
        joint = (
            f"Joint test ({balance.inference}): F({balance.joint_df[0]:g}, {balance.joint_df[1]:g}) = "
            f"{_fmt(balance.joint_statistic, digits)}, p = {_fmt(balance.joint_p_value, digits)}, "
            f"n = {balance.joint_n_obs}."
        )
        grid_notes = (
            f"{n1} treated and {n0} control units (available cases per covariate). Standardized difference: "
            "difference in means over sqrt((s1^2 + s0^2)/2). Per-covariate p-values from "
            f"{balance.inference} t tests.",
            joint,
            *balance.notes,
        )
    grid = _Grid(
        header=tuple(_LABELS.get(c, c) for c in cols),
        rows=rows,
        align=align,
        notes=grid_notes,
        caption=caption,
        label=label,
    )
    return _render(grid, fmt, booktabs)
