"""Missing data in a trial's estimation: complete cases, inverse-probability-of-response weights
(``attrition_weights=``) and the missing-indicator method for baseline covariates (``missing_covariates=``)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from evalkit._validation import to_float_array
from evalkit.errors import DataError

__all__ = ["AttritionCases", "MissingCovariates", "attrition_cases", "covariate_means", "fill_with_indicators"]

#: How missing baseline covariates are handled: drop the rows (default, reported) or fill and add indicators.
MissingCovariates = Literal["listwise", "indicator"]


@dataclass(frozen=True)
class AttritionCases:
    """Which rows an outcome's analysis uses.

    Attributes
    ----------
    mask : ndarray of bool
        Rows of the estimate.
    population : ndarray of bool or None
        With attrition weights: rows of the response model (the estimate's rows and the non-respondents).
    dropped : list of dict
        Records of the rows left out of the estimate (``DROPPED_COLUMNS``).
    """

    mask: np.ndarray
    population: np.ndarray | None
    dropped: list[dict[str, object]]


def attrition_cases(
    data: pd.DataFrame, outcome: Hashable, columns: Sequence[Hashable], *, weighted: bool
) -> AttritionCases:
    """Rows with every value of ``columns`` (the outcome first); with ``weighted``, rows missing only the outcome
    stay in the response model's population and are reported as such."""
    missing = data[list(columns)].isna().to_numpy()
    mask = ~missing.any(axis=1)
    population = ~missing[:, 1:].any(axis=1) if weighted else None
    n_dropped = int((~mask).sum())
    rows: list[dict[str, object]] = []
    if n_dropped:
        counts = missing.sum(axis=0)
        parts = []
        for j, (c, k) in enumerate(zip(columns, counts, strict=True)):
            if k:
                kept = ""
                if weighted and j == 0:
                    kept = f"; {int((missing[:, 0] & population).sum())} kept as non-respondents in the response model"
                parts.append(f"{c!r} ({int(k)}{kept})")
        reason = "missing values in " + ", ".join(parts)
        for c, k in zip(columns, counts, strict=True):
            if k:
                rows.append(
                    {"outcome": outcome, "column": c, "n_missing": int(k), "n_dropped": n_dropped, "reason": reason}
                )
    return AttritionCases(mask=mask, population=population, dropped=rows)


def covariate_means(data: pd.DataFrame, columns: Sequence[Hashable]) -> dict[Hashable, float]:
    """The mean of each column over every row of the design that has a value (the missing-indicator fill).

    Raises
    ------
    DataError
        If a column has no value at all.
    """
    means: dict[Hashable, float] = {}
    for column in dict.fromkeys(columns):
        values = to_float_array(data, [column], "covariate")[:, 0]
        if np.isnan(values).all():
            raise DataError(f"covariate {column!r} has no non-missing value; drop it from the covariates.")
        means[column] = float(np.nanmean(values))
    return means


def fill_with_indicators(
    values: np.ndarray, names: Sequence[Hashable], means: Mapping[Hashable, float]
) -> tuple[np.ndarray, tuple[Hashable, ...], dict[Hashable, int]]:
    """The missing-indicator method: missing values set to the column's mean, and a 0/1 column
    ``"<name>_missing"`` added for every column with missing values among these rows.

    Returns
    -------
    values : ndarray (n, p + m)
        Filled columns, then the indicators.
    names : tuple
        Their names.
    filled : dict
        Number of values filled, by column.

    Notes
    -----
    With random assignment the covariates are independent of treatment, so filling them and adding indicators
    keeps the adjusted estimator consistent for the average effect (White and Thompson 2005, Stat. Med. 24(7);
    Puma, Olsen, Bell and Price 2009, NCEE 2009-0049), unlike in observational studies.
    """
    out = np.array(values, dtype=np.float64, copy=True)
    indicators, indicator_names, filled = [], [], {}
    for j, name in enumerate(names):
        missing = np.isnan(out[:, j])
        if missing.any():
            out[missing, j] = means[name]
            indicators.append(missing.astype(np.float64))
            indicator_names.append(f"{name}_missing")
            filled[name] = int(missing.sum())
    if indicators:
        out = np.column_stack([out, *indicators])
    return out, (*names, *indicator_names), filled
