"""Input checks shared by every layer.

One helper, :func:`check_option`, validates every ``typing.Literal`` option, so that all option errors look alike
and name the allowed values.
"""

from __future__ import annotations

import numbers
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any, get_args

import numpy as np
import pandas as pd

from evalkit.errors import ColumnNotFoundError, DataError, OptionError

__all__ = [
    "as_list",
    "check_alpha",
    "check_binary",
    "check_bool",
    "check_int",
    "check_option",
    "require_columns",
    "to_float_array",
]


def check_option(name: str, value: Any, allowed: Any) -> Any:
    """Return ``value`` if it is one of the values of the ``Literal`` type (or sequence) ``allowed``.

    Raises
    ------
    OptionError
        Naming the option, the value given and the values allowed.
    """
    choices = get_args(allowed) or tuple(allowed)
    if value not in choices:
        shown = ", ".join(repr(c) for c in choices)
        raise OptionError(f"{name}={value!r} is not a valid option; choose one of {shown}.")
    return value


def check_int(name: str, value: Any, *, minimum: int) -> int:
    """Return ``value`` as an int if it is an integer (not a bool) of at least ``minimum``.

    Raises
    ------
    OptionError
        Naming the option, the value given and the minimum.
    """
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral) or value < minimum:
        raise OptionError(f"{name}={value!r} must be an integer of at least {minimum}.")
    return int(value)


def check_bool(name: str, value: Any) -> bool:
    """Return ``value`` as a bool if it is True or False (Python or numpy); raise :class:`OptionError` otherwise."""
    if not isinstance(value, bool | np.bool_):
        raise OptionError(f"{name}={value!r} must be True or False.")
    return bool(value)


def as_list(value: Hashable | Iterable[Hashable] | None) -> list[Hashable]:
    """Turn ``None``, one column name or an iterable of names into a list of names.

    A column name is any hashable label pandas accepts: text, or a number such as ``0`` (frames read without a
    header, or built from arrays). A tuple is read as a list of names, as elsewhere in evalkit. Booleans are
    refused: ``covariates=True`` is a mistake far more often than a column named ``True``.
    """
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable) and not isinstance(value, bytes | Mapping):
        return list(value)
    if isinstance(value, bool | np.bool_ | bytes | Mapping) or not isinstance(value, Hashable):
        raise OptionError(f"expected a column name or a list of column names, got {value!r}.")
    return [value]


def check_alpha(alpha: Any) -> float:
    """Return ``alpha`` if it is a number strictly between 0 and 1; raise :class:`OptionError` otherwise."""
    if isinstance(alpha, bool) or not isinstance(alpha, int | float | np.floating) or not 0 < alpha < 1:
        raise OptionError(f"alpha={alpha!r} must be a number between 0 and 1 (e.g. 0.05 for 95% intervals).")
    return float(alpha)


def require_columns(data: pd.DataFrame, columns: Sequence[str], role: str = "column") -> None:
    """Raise :class:`ColumnNotFoundError` naming every column of ``columns`` that ``data`` lacks."""
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"data must be a pandas DataFrame, got {type(data).__name__}.")
    unhashable = [c for c in columns if not isinstance(c, Hashable)]
    if unhashable:
        raise OptionError(
            f"{role} name {unhashable[0]!r} is not a column name (a {type(unhashable[0]).__name__}); pass names as a "
            "flat list, e.g. ['y1', 'y2']."
        )
    missing = [c for c in columns if c not in data.columns]
    if missing:
        available = ", ".join(map(str, list(data.columns)[:20]))
        more = ", ..." if data.shape[1] > 20 else ""
        raise ColumnNotFoundError(
            f"{role} {', '.join(repr(c) for c in missing)} not found in the data; available columns: {available}{more}."
        )


def to_float_array(data: pd.DataFrame, columns: Sequence[str], role: str) -> np.ndarray:
    """Return ``data[columns]`` as a float64 array, with a clear error for non-numeric columns."""
    out = np.empty((len(data), len(columns)), dtype=np.float64)
    for j, col in enumerate(columns):
        series = data[col]
        if isinstance(series, pd.DataFrame):
            raise DataError(
                f"{role} {col!r} names {series.shape[1]} columns of the data (the name is duplicated); rename the "
                "copies or drop them: data.loc[:, ~data.columns.duplicated()]."
            )
        if isinstance(series.dtype, pd.CategoricalDtype) or not (
            pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)
        ):
            raise DataError(
                f"{role} {col!r} is not numeric (dtype {series.dtype}); convert it to numbers or to "
                "indicator columns first."
            )
        out[:, j] = series.to_numpy(dtype=np.float64, na_value=np.nan)
        infinite = np.isinf(out[:, j])
        if infinite.any():
            rows = ", ".join(map(str, data.index[infinite][:5]))
            more = ", ..." if infinite.sum() > 5 else ""
            raise DataError(
                f"{role} {col!r} has {int(infinite.sum())} infinite value(s) (index {rows}{more}); replace them with "
                "finite values or with NaN (missing values are dropped and reported)."
            )
    return out


def check_binary(values: np.ndarray, column: str) -> np.ndarray:
    """Return a 0/1 float array; raise if ``values`` holds anything but 0/1 (or False/True) or has one value."""
    uniques = np.unique(values[~np.isnan(values)])
    if not np.all(np.isin(uniques, (0.0, 1.0))):
        shown = ", ".join(f"{u:g}" for u in uniques[:6])
        raise DataError(
            f"treatment {column!r} must be binary (0/1 or False/True); found values {shown}. "
            "Recode it, e.g. data[col] == 'treated'."
        )
    if uniques.size < 2:
        which = "treated" if uniques.size and uniques[0] == 1 else "control"
        raise DataError(
            f"treatment {column!r} is constant: every unit is {which}. A comparison needs both treated "
            "and control units."
        )
    return values
