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

    Equal frames give equal hashes on any machine with the same pandas hashing (``pandas.util.hash_pandas_object``).
    """
    digest = hashlib.sha256()
    digest.update("\x1f".join(map(str, data.columns)).encode())
    digest.update(pd.util.hash_pandas_object(data, index=True).to_numpy().tobytes())
    return digest.hexdigest()[:16]


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
