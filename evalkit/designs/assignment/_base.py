"""Shared pieces of the assignment package: option and label checks, conversions, seeds, constants.

Every name here is public within :mod:`evalkit.designs.assignment` (the specs, the bound assignment and
rerandomization import them); none is part of evalkit's user-facing API.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from evalkit.errors import DataError, DesignError, OptionError

AssignmentMethod = Literal["complete", "blocked", "cluster", "blocked-cluster", "not randomized"]

WHOLE_TOL = 1e-9

NOT_RANDOMIZED_HINT = (
    "randomization inference and draw_assignment need a random assignment; state one with "
    "assignment=ek.CompleteRandomization(...) if treatment was assigned completely at random (or "
    "ek.BlockRandomization, ek.ClusterRandomization, ek.BlockClusterRandomization for blocked or clustered "
    "assignment)."
)


def show_label(value: Hashable) -> str:
    """Show a label in a message: strings quoted, numbers bare."""
    return repr(value)


def is_int(value: Any) -> bool:
    """True for a Python or numpy integer (bools excluded)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_count(value: Any, name: str) -> int:
    """A number treated as an int of at least 1; DesignError otherwise (naming ``name``)."""
    if not is_int(value):
        raise DesignError(f"{name}={value!r} must be a whole number of units (an int), e.g. {name}=20.")
    if value < 1:
        raise DesignError(f"{name}={value!r} must be at least 1: every block needs treated units.")
    return int(value)


def check_share(share: Any) -> float | None:
    """A share as a float strictly between 0 and 1 (None passes through); DesignError otherwise."""
    if share is None:
        return None
    if isinstance(share, (bool, np.bool_)) or not isinstance(share, (int, float, np.integer, np.floating)):
        raise DesignError(f"share={share!r} must be a number strictly between 0 and 1, e.g. share=0.5.")
    value = float(share)
    if not (0.0 < value < 1.0):
        raise DesignError(
            f"share={share!r} must be strictly between 0 and 1: every block needs treated and control units."
        )
    return value


def to_1d(values: ArrayLike, name: str) -> np.ndarray:
    """One value per observation as a 1-D array (string labels kept as objects); DataError if not 1-D."""
    if isinstance(values, (pd.Series, pd.Index)):
        arr = values.to_numpy()
    elif isinstance(values, np.ndarray):
        arr = values
    else:
        arr = np.asarray(values)
        if arr.ndim == 1 and arr.dtype.kind in "US":  # keep mixed labels such as ["a", 2] as they are
            arr = np.array(list(values), dtype=object)
    if arr.ndim != 1:
        raise DataError(f"{name} must be one-dimensional (one value per observation); got shape {arr.shape}.")
    return arr


def check_length(arr: np.ndarray, n_obs: int, name: str) -> None:
    """DataError unless ``arr`` has one value per observation."""
    if arr.shape[0] != n_obs:
        raise DataError(f"{name} has {arr.shape[0]} values but there are {n_obs} observations; give one per row.")


def _hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def factorize(values: np.ndarray, name: str) -> tuple[np.ndarray, list[Hashable]]:
    """Integer codes (labels in sorted order when sortable) and the original labels; DataError on missing."""
    try:
        codes, uniques = pd.factorize(values, sort=True)
    except TypeError:  # labels of mixed types cannot be sorted; keep order of appearance
        try:
            codes, uniques = pd.factorize(values, sort=False)
        except TypeError:  # an unhashable label (a list or dict cell) cannot be grouped at all
            at = next(i for i, v in enumerate(values) if not _hashable(v))
            raise DataError(
                f"{name} has an unhashable label ({type(values[at]).__name__} {values[at]!r} at position {at}); "
                f"{name} labels must be single values (numbers or text). Convert them, e.g. with .map(str), first."
            ) from None
    missing = np.flatnonzero(codes < 0)
    if missing.size:
        raise DataError(
            f"{name} has {missing.size} missing value(s) (first at position {int(missing[0])}); every "
            f"observation needs a {name[:-1] if name.endswith('s') else name} label. Drop or fill those rows "
            "first."
        )
    labels = uniques.tolist() if hasattr(uniques, "tolist") else list(uniques)
    return codes.astype(np.intp, copy=False), labels


def as_binary(values: ArrayLike, n_obs: int, name: str) -> np.ndarray:
    """Return a bool array; DataError for missing values or a wrong length, DesignError if not binary."""
    arr = to_1d(values, name)
    check_length(arr, n_obs, name)
    if arr.dtype == np.bool_:
        return arr.astype(bool, copy=True)
    missing = np.flatnonzero(pd.isna(arr))
    if missing.size:
        raise DataError(
            f"{name} has {missing.size} missing value(s) (first at position {int(missing[0])}); an "
            f"assignment "
            "gives every observation a treatment of 0 or 1."
        )
    try:
        num = arr.astype(np.float64)
    except (TypeError, ValueError):
        shown = ", ".join(repr(v) for v in pd.unique(arr)[:6])
        raise DesignError(
            f"{name} must be binary (0/1 or False/True); found values {shown}. Recode it, e.g. data[col] == 'treated'."
        ) from None
    bad = ~np.isin(num, (0.0, 1.0))
    if bad.any():
        shown = ", ".join(f"{v:g}" for v in np.unique(num[bad])[:6])
        raise DesignError(
            f"{name} must be binary (0/1 or False/True); found values {shown}. Recode it, e.g. data[col] == 'treated'."
        )
    return num == 1.0


def seed_sequence(seed: int | np.random.SeedSequence) -> np.random.SeedSequence:
    """A :class:`numpy.random.SeedSequence` from a non-negative int (or the sequence itself); OptionError otherwise."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if is_int(seed) and seed >= 0:
        return np.random.SeedSequence(int(seed))
    raise OptionError(
        f"seed={seed!r} is not valid; give a non-negative int or a numpy.random.SeedSequence, e.g. seed=20240101."
    )


def readonly(arr: np.ndarray) -> np.ndarray:
    """Mark ``arr`` read-only in place and return it."""
    arr.setflags(write=False)
    return arr
