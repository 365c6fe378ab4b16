"""Publication tables (Markdown, LaTeX, HTML) and matplotlib figures drawn from results.

matplotlib is imported only inside the plotting functions, so importing this package stays cheap.
"""

from __future__ import annotations

from evalkit.reporting.figures import (
    adjusted_intervals,
    balance_plot,
    coefficient_plot,
    event_study_plot,
    null_distribution_plot,
    subgroup_plot,
)
from evalkit.reporting.tables import (
    DEFAULT_STARS,
    balance_table_to,
    escape_latex,
    regression_table,
    to_html,
    to_latex,
    to_markdown,
)

__all__ = [
    "DEFAULT_STARS",
    "adjusted_intervals",
    "balance_plot",
    "balance_table_to",
    "coefficient_plot",
    "escape_latex",
    "event_study_plot",
    "null_distribution_plot",
    "regression_table",
    "subgroup_plot",
    "to_html",
    "to_latex",
    "to_markdown",
]
