"""Moderators of a trial's treatment effect: their columns in the estimation sample, and the hand-made interaction
covariate that silently changes what the treatment row means.

``trial.estimate(..., moderators=["female"])`` hands the estimator the moderator columns (a categorical moderator
expanded to indicators of its levels but the first); the regression estimators centre them and interact them with
treatment (:func:`evalkit.estimators.regression.ols`, :func:`~evalkit.estimators.regression.lin`).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from evalkit.errors import DataError

__all__ = ["ModeratorColumns", "encode_moderators", "interaction_covariate_notes", "is_categorical", "levels_of"]


@dataclass(frozen=True)
class ModeratorColumns:
    """Moderator columns of one estimation sample.

    Attributes
    ----------
    values : ndarray (n, m)
        Numeric moderators as they are; a categorical moderator as indicators of every level but the first.
    names : tuple of str
        ``"female"`` for a numeric moderator, ``"age_group[2]"`` for level ``2`` of a categorical one.
    """

    values: np.ndarray
    names: tuple[str, ...]


def is_categorical(series: pd.Series) -> bool:
    """Whether a moderator is expanded to its levels: text, object or categorical columns (not numbers, not bool)."""
    return not (pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype))


def levels_of(series: pd.Series) -> list[object]:
    """The levels present in ``series``: in category order for a categorical, sorted otherwise (as text if mixed)."""
    present = pd.unique(series.dropna())
    if isinstance(series.dtype, pd.CategoricalDtype):
        return [c for c in series.cat.categories if c in set(present)]
    try:
        return sorted(present)
    except TypeError:
        return sorted(present, key=str)


def encode_moderators(sub: pd.DataFrame, moderators: Sequence[Hashable], outcome: Hashable) -> ModeratorColumns:
    """The moderator columns of an estimation sample (complete cases of ``outcome``).

    Raises
    ------
    DataError
        If a moderator does not vary in the sample (nothing to interact), naming it and the outcome.
    """
    blocks: list[np.ndarray] = []
    names: list[str] = []
    for moderator in moderators:
        series = sub[moderator]
        if is_categorical(series):
            levels = levels_of(series)
            if len(levels) < 2:
                raise DataError(
                    f"moderator {moderator!r} has a single level ({levels[0]!r}) among the complete cases of outcome "
                    f"{outcome!r}; the effect cannot vary with it. Remove it from moderators=."
                )
            values = series.to_numpy(dtype=object)
            blocks.append(np.column_stack([(values == level).astype(np.float64) for level in levels[1:]]))
            names.extend(f"{moderator}[{level}]" for level in levels[1:])
            continue
        column = series.to_numpy(dtype=np.float64)
        if np.ptp(column) == 0:
            raise DataError(
                f"moderator {moderator!r} does not vary among the complete cases of outcome {outcome!r} (every value "
                f"is {column[0]:g}); the effect cannot vary with it. Remove it from moderators=."
            )
        blocks.append(column[:, None])
        names.append(str(moderator))
    values = np.column_stack(blocks) if blocks else np.empty((len(sub), 0))
    return ModeratorColumns(values=values, names=tuple(names))


def interaction_covariate_notes(
    data: pd.DataFrame,
    treatment: np.ndarray,
    covariates: Sequence[Hashable],
    values: np.ndarray,
    treatment_name: str,
) -> list[str]:
    """Notes for covariates that look like hand-made interactions of the treatment with something.

    A covariate that is zero for every unit of one arm and varies within the other (``treated_x_female`` is zero
    for every control child) is a function of treatment, not a pre-treatment covariate: with it in the regression
    the treatment coefficient becomes the effect where the covariate is zero (the effect for boys), not the
    average effect. When the covariate equals the treatment (or the control indicator) times another numeric column
    of ``data``, the note names that column.

    Parameters
    ----------
    data : DataFrame
        The estimation sample's rows (all columns, to name the other factor).
    treatment : ndarray (n,)
        0/1 treatment of those rows.
    covariates : sequence
        The covariate columns.
    values : ndarray (n, p)
        Their values (as the estimation sample holds them).
    treatment_name : str
        The treatment's name, for the message.

    Returns
    -------
    list of str
        One note per suspicious covariate (empty when there is none).
    """
    z = np.asarray(treatment) == 1
    notes = []
    numeric = [c for c in data.columns if pd.api.types.is_numeric_dtype(data[c].dtype)]
    for covariate, x in zip(covariates, np.asarray(values, dtype=np.float64).T, strict=True):
        for arm, other, label in ((~z, z, treatment_name), (z, ~z, f"(1 - {treatment_name})")):
            if arm.sum() < 2 or other.sum() < 2 or np.any(x[arm] != 0) or np.ptp(x[other]) == 0:
                continue
            indicator = other.astype(np.float64)
            factor = next(
                (
                    c
                    for c in numeric
                    if c not in (treatment_name, covariate)
                    and np.array_equal(indicator * data[c].to_numpy(dtype=np.float64, na_value=np.nan), x)
                ),
                None,
            )
            if factor is not None:
                what = f"equals {label} x {factor!r}: it is an interaction with treatment"
            else:
                what = (
                    f"is zero in every unit with {label} = 0 and varies where {label} = 1: it looks like an "
                    "interaction with treatment (if it is a pre-treatment characteristic that happens to be zero in "
                    "that arm, ignore this)"
                )
            suggestion = f"[{factor!r}]" if factor is not None else "[<the moderator column>]"
            notes.append(
                f"covariate {covariate!r} {what}. An interaction is not a pre-treatment covariate: with it in the "
                f"regression the {treatment_name!r} row is the effect where {covariate!r} is zero, not the average "
                f"effect. Remove it and pass moderators={suggestion} instead (the moderator enters centred, so the "
                "treatment row stays the average effect)."
            )
            break
    return notes
