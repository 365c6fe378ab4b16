"""Checks and encodings of the columns that play a role in a design (treatment, blocks, clusters, weights)."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
import pandas as pd

from evalkit._validation import check_binary, require_columns, to_float_array
from evalkit.errors import DataError, DesignError

__all__ = [
    "check_column_names",
    "check_period_order",
    "encode_labels",
    "no_missing",
    "read_treatment",
    "read_weights",
    "require_hashable",
    "treatment_constant_within",
]

#: ``pandas.api.types.infer_dtype`` kinds of an object column whose values sort in their natural (time) order.
_ORDERED_KINDS = frozenset(
    {
        "integer",
        "floating",
        "mixed-integer-float",
        "decimal",
        "boolean",
        "datetime",
        "datetime64",
        "date",
        "period",
        "timedelta",
        "timedelta64",
    }
)


def check_column_names(data: pd.DataFrame) -> None:
    """Refuse a frame whose column names are not unique.

    A design refuses duplicated names anywhere in the frame, used or not: ``data[name]`` is then a DataFrame,
    not a column, and which of the copies a later outcome, covariate or balance check would read is ambiguous.
    Column names need not be strings; any hashable label pandas accepts (``0``, ``("wave", 1)``) works, and is
    shown with ``str()`` in tables.

    Raises
    ------
    DataError
        Naming the duplicated names and how to fix them.
    """
    duplicated = data.columns[data.columns.duplicated()]
    if len(duplicated):
        names = list(dict.fromkeys(duplicated))
        shown = ", ".join(repr(c) for c in names[:8]) + (", ..." if len(names) > 8 else "")
        counts = ", ".join(f"{c!r} x{int((data.columns == c).sum())}" for c in names[:8])
        raise DataError(
            f"column name(s) {shown} appear more than once in the data ({counts}); a design needs unique column "
            "names, since it cannot tell which copy is meant. Rename them (e.g. pandas' "
            "data.columns = [...]) or drop the copies: data.loc[:, ~data.columns.duplicated()]."
        )


def require_hashable(data: pd.DataFrame, column: Hashable, role: str) -> None:
    """Refuse a label column (blocks, clusters, unit, time, cohort) holding an unhashable cell (list, dict, set).

    Labels are grouped by equality (``pandas.factorize``), which needs hashable values; a list-valued cell (a
    survey export's multi-select, a JSON array) is no label.

    Raises
    ------
    DataError
        Naming the column, the first offending row (its index and value) and the fix.
    """
    series = data[column]
    if series.dtype != object:
        return
    try:
        pd.unique(series)
        return
    except TypeError:
        pass
    values = series.to_numpy()
    bad = [i for i, v in enumerate(values) if not _is_hashable(v)]
    if not bad:
        return
    value = values[bad[0]]
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    raise DataError(
        f"{role} {column!r} holds {len(bad)} unhashable value(s) ({type(value).__name__}, e.g. {shown} at index "
        f"{series.index[bad[0]]!r}); the labels of {role} must be single values (numbers or text) that can be compared "
        f"for equality. Convert them, e.g. data[{column!r}].map(str) or one element of each list, before building "
        "the design."
    )


def _is_hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def no_missing(data: pd.DataFrame, column: str, role: str) -> None:
    """Raise a DataError naming the rows where a role column is missing."""
    missing = data[column].isna().to_numpy()
    if missing.any():
        rows = ", ".join(map(str, data.index[missing][:5]))
        more = ", ..." if missing.sum() > 5 else ""
        raise DataError(
            f"{role} {column!r} has {int(missing.sum())} missing value(s) (index {rows}{more}); every row "
            f"needs its {role}. Drop or fill those rows before building the design."
        )


def read_treatment(data: pd.DataFrame, column: str) -> np.ndarray:
    """The treatment column as a 0/1 float array (checked binary, non-constant, complete)."""
    require_columns(data, [column], "treatment column")
    no_missing(data, column, "treatment")
    return check_binary(to_float_array(data, [column], "treatment")[:, 0], column)


def read_weights(data: pd.DataFrame, column: str | None) -> np.ndarray | None:
    """Analytic weights, checked positive and complete."""
    if column is None:
        return None
    require_columns(data, [column], "weights column")
    no_missing(data, column, "weights")
    w = to_float_array(data, [column], "weights")[:, 0]
    if np.any(w <= 0) or not np.all(np.isfinite(w)):
        raise DataError(f"weights {column!r} must be positive and finite; found min {np.min(w):g}.")
    return w / w.mean()  # analytic weights: only relative sizes matter; mean 1 keeps the arithmetic well scaled


def check_period_order(data: pd.DataFrame, column: str, role: str, *, numeric_only: bool = False) -> None:
    """Refuse a period column whose sort order is not the time order (text labels, unordered categoricals).

    Parameters
    ----------
    data : DataFrame
        The design's data.
    column : str
        The period column (``time``, or a ``cohort`` of first treated periods).
    role : str
        Its role, for the message.
    numeric_only : bool, default False
        Accept only numeric columns (a design that does arithmetic on periods, e.g. cohort - anticipation).

    Raises
    ------
    DataError
        Naming the column, its dtype, a few values and the fix.

    Notes
    -----
    A design orders periods by sorting their values (``pandas.factorize(..., sort=True)``). That is the time order
    for numbers, datetimes, ``pandas.Period`` and timedeltas, and for an **ordered** categorical (sorted by its
    category order, not by label). Text is sorted lexically ('10' < '2', 'Q12012' < 'Q22011'), and the category
    order of an unordered categorical is arbitrary (``pd.Categorical`` sorts string labels lexically), so both would
    silently relabel event times; they are refused rather than guessed.
    """
    require_hashable(data, column, role)
    series = data[column]
    dtype = series.dtype
    numeric = pd.api.types.is_numeric_dtype(series) and not isinstance(dtype, pd.CategoricalDtype)
    if isinstance(dtype, pd.CategoricalDtype):
        has_order = bool(dtype.ordered)
        kind = "an ordered categorical" if has_order else "an unordered categorical"
    elif (
        numeric
        or pd.api.types.is_datetime64_any_dtype(series)
        or pd.api.types.is_timedelta64_dtype(series)
        or isinstance(dtype, pd.PeriodDtype)
    ):
        has_order, kind = True, f"dtype {dtype}"
    else:
        inferred = pd.api.types.infer_dtype(series, skipna=True)
        has_order = inferred in _ORDERED_KINDS
        numeric = inferred in ("integer", "floating", "mixed-integer-float")
        kind = "text" if inferred == "string" else f"values of kind {inferred!r}"
    if has_order and (numeric or not numeric_only):
        return
    shown = ", ".join(repr(v) for v in pd.unique(series.dropna())[:4])
    code = f"a numeric code in time order (e.g. year * 12 + month, or data[{column!r}].astype(int) for digit strings)"
    if not has_order and isinstance(dtype, pd.CategoricalDtype):
        why = (
            "which has no time order: the category order of an unordered categorical is arbitrary (pd.Categorical "
            "sorts text labels as text), so the periods could be silently misordered and event times mislabelled."
        )
    elif not has_order:
        why = (
            "which has no time order: text sorts as text ('10' before '2', 'Q12012' before 'Q22011'), so the "
            "periods would be silently misordered and event times mislabelled."
        )
    else:
        why = "but this design does arithmetic on periods (cohort - anticipation, event time = period - cohort)."
    if numeric_only:
        fix = f"Convert {role} to {code}."
    else:
        fix = (
            f"Convert it to {code}, or to an ordered categorical listing the periods in time order: "
            f"pd.Categorical(data[{column!r}], categories=[...periods in time order...], ordered=True)."
        )
    raise DataError(f"{role} {column!r} holds {kind} ({shown}, ...), {why} {fix}")


def encode_labels(data: pd.DataFrame, column: str, role: str) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes ``0..G-1`` (in sorted order of the labels) and the labels of an identifier column (checked
    complete).

    An integer column whose values span at most a few times its length (ids, years, codes) is coded by counting
    (``numpy.bincount``, :math:`O(n + \text{range})`), the same codes and labels as ``pandas.factorize(sort=True)``
    without hashing every row; anything else by ``pandas.factorize``.
    """
    require_columns(data, [column], f"{role} column")
    no_missing(data, column, role)
    require_hashable(data, column, role)
    series = data[column]
    if isinstance(series.dtype, np.dtype) and series.dtype.kind in "iu" and len(series):  # not nullable Int64
        values = series.to_numpy()
        low = int(values.min())
        if int(values.max()) - low <= 4 * values.size:
            present = np.bincount((values - low).astype(np.intp)) > 0
            codes = (np.cumsum(present, dtype=np.intp) - 1)[values - low]
            return codes, (np.flatnonzero(present) + low).astype(values.dtype).astype(object)
    codes, labels = pd.factorize(series, sort=True)
    return codes.astype(np.intp), np.asarray(labels, dtype=object)


def treatment_constant_within(
    treatment: np.ndarray, codes: np.ndarray, labels: Sequence[Hashable], column: str
) -> None:
    """Raise a DesignError if treatment varies within any cluster."""
    lo = np.full(len(labels), np.inf)
    hi = np.full(len(labels), -np.inf)
    np.minimum.at(lo, codes, treatment)
    np.maximum.at(hi, codes, treatment)
    bad = np.flatnonzero(lo != hi)
    if bad.size:
        shown = ", ".join(repr(labels[b]) for b in bad[:5])
        raise DesignError(
            f"treatment varies within cluster(s) {shown} of {column!r}; in a cluster design every unit of a "
            "cluster shares its assignment. Check the treatment column, or drop clusters= if assignment was "
            "individual. A column that varies within the units of assignment looks like take-up (the treatment "
            "received), not assignment: pass the assignment as treatment= and this column to "
            "estimate(..., estimator='iv', take_up=...)."
        )


def arms_in_every_group(
    treatment: np.ndarray, codes: np.ndarray, labels: Sequence[Hashable], column: str, context: str = ""
) -> None:
    """Raise a DesignError if some block lacks treated or control units."""
    n_groups = len(labels)
    treated = np.bincount(codes, weights=treatment, minlength=n_groups)
    total = np.bincount(codes, minlength=n_groups)
    for g in range(n_groups):
        if total[g] == 0:
            continue
        if treated[g] == 0 or treated[g] == total[g]:
            missing = "treated" if treated[g] == 0 else "control"
            raise DesignError(
                f"{context}block {labels[g]!r} of {column!r} has no {missing} units; all blocks must contain "
                "treated and control units. Merge it with a similar block, or drop it and say so."
            )
