"""Provenance: what produced a ``Results`` — evalkit's version, the data, the design, the settings and the seed."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import platform
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import numpy as np
import pandas as pd

__all__ = ["data_hash", "records_provenance"]

F = TypeVar("F", bound=Callable[..., Any])


def data_hash(data: pd.DataFrame) -> str:
    """SHA-256 (first 16 hex digits) of a DataFrame's column names, index and values.

    Every column is hashed, used by the design or not (the hash identifies the data set, not one analysis).
    Equal frames give equal hashes on any machine with the same pandas hashing
    (``pandas.util.hash_pandas_object``).

    Parameters
    ----------
    data : DataFrame
        Any frame: cells may be unhashable (lists, dicts, sets, arrays from JSON or survey exports) and column
        names need not be strings or unique.

    Returns
    -------
    str
        16 hexadecimal digits.

    Notes
    -----
    The digest covers (1) the column names, joined by ``"\\x1f"`` (a non-string name, e.g. the integer ``1``, enters
    as ``type:repr``, so that it differs from the string ``"1"``); (2) pandas' 64-bit row hashes of the index and
    values. ``hash_pandas_object`` hashes the cells of an object column, so a column holding an unhashable cell is
    hashed through a stable text form of each cell instead (:func:`_stable_repr`: type name and ``repr``, with
    dict and set items sorted by their text), and the positions of those columns are added to the digest, so that
    a list column ``[1]`` and a text column ``"list:[1]"`` still differ. Frames without unhashable cells and with
    string names hash as before (the same bytes are digested).
    """
    digest = hashlib.sha256()
    digest.update("\x1f".join(c if isinstance(c, str) else f"{type(c).__name__}:{c!r}" for c in data.columns).encode())
    try:
        row_hashes = pd.util.hash_pandas_object(data, index=True)
    except TypeError:  # an unhashable cell (list, dict, set, ndarray) in some column
        texts, positions = _with_stable_text(data)
        digest.update(("\x1frepr-columns:" + ",".join(map(str, positions))).encode())
        row_hashes = pd.util.hash_pandas_object(texts, index=True)
    digest.update(row_hashes.to_numpy().tobytes())
    return digest.hexdigest()[:16]


def _stable_repr(value: Any) -> str:
    """A text form of a cell that does not depend on dict or set insertion order: ``type:repr`` (recursively)."""
    if isinstance(value, Mapping):
        items = sorted(f"{_stable_repr(k)}={_stable_repr(v)}" for k, v in value.items())
        return f"{type(value).__name__}:{{{', '.join(items)}}}"
    if isinstance(value, set | frozenset):
        return f"{type(value).__name__}:{{{', '.join(sorted(_stable_repr(v) for v in value))}}}"
    if isinstance(value, list | tuple):
        return f"{type(value).__name__}:[{', '.join(_stable_repr(v) for v in value)}]"
    if isinstance(value, np.ndarray):
        return f"ndarray:{value.dtype.str}:{value.shape}:{_stable_repr(value.tolist())}"
    return f"{type(value).__name__}:{value!r}"


def _with_stable_text(data: pd.DataFrame) -> tuple[pd.DataFrame, list[int]]:
    """A copy of ``data`` (by position, so duplicated names are fine) whose columns that pandas cannot hash hold
    :func:`_stable_repr` text; and the positions of those columns."""
    columns: dict[int, pd.Series] = {}
    positions: list[int] = []
    for j in range(data.shape[1]):
        series = data.iloc[:, j]
        try:
            pd.util.hash_pandas_object(series, index=False)
        except TypeError:
            series = series.map(_stable_repr)
            positions.append(j)
        columns[j] = series
    frame = pd.DataFrame(columns, index=data.index)
    return frame, positions


def _describe(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Mapping):
        return {str(k): _describe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_describe(v) for v in value]
    return repr(value)


def _seed_of(inference: Any) -> Any:
    for attribute in ("seed_used", "seed"):
        seed = getattr(inference, attribute, None)
        if seed is not None:
            return int(seed) if isinstance(seed, int | np.integer) else repr(seed)
    return None


def records_provenance(method: F) -> F:
    """Decorate a design's ``estimate`` so that the ``Results`` it returns carry their provenance.

    The design must hold its data in ``self._data``; the hash is computed once per design and cached.
    """
    signature = inspect.signature(method)

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        results = method(self, *args, **kwargs)
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        settings = {k: _describe(v) for k, v in bound.arguments.items() if k != "self"}
        cached = getattr(self, "_provenance_hash", None)
        if cached is None:
            cached = data_hash(self._data)
            self._provenance_hash = cached
        from evalkit import __version__

        assignment = getattr(self, "assignment", None)
        record = {
            "evalkit_version": __version__,
            "python_version": platform.python_version(),
            "numpy_version": np.__version__,
            "pandas_version": pd.__version__,
            "data_hash": cached,
            "n_rows": len(self._data),
            "design": type(self).__name__,
            "design_description": results.design,
            "assignment": None if assignment is None else getattr(assignment, "method", repr(assignment)),
            "inference": results.inference,
            "seed": _seed_of(bound.arguments.get("inference")),
            "settings": settings,
        }
        return dataclasses.replace(results, provenance=record)

    return wrapper  # type: ignore[return-value]
