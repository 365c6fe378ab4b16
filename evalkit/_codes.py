"""Linear-time operations on integer group codes (units, periods, clusters, blocks).

A design factorizes each identifier column once (:func:`evalkit.designs._roles.encode_labels`) into codes
``0..G-1``; everything after that works on the codes with ``numpy.bincount`` (:math:`O(n + G)`) instead of
``numpy.unique`` (a hash or a sort of all ``n`` rows on every call), which dominated two-way fixed-effects fits on
millions of rows.
"""

from __future__ import annotations

import numpy as np

__all__ = ["dense_codes", "first_rows", "n_distinct"]


def n_distinct(codes: np.ndarray) -> int:
    """Number of distinct values among non-negative integer ``codes`` (``np.unique(codes).size``), in
    :math:`O(n + \\max c)`."""
    codes = np.asarray(codes)
    return int(np.count_nonzero(np.bincount(codes))) if codes.size else 0


def dense_codes(codes: np.ndarray, minlength: int = 0) -> np.ndarray:
    """Relabel non-negative integer ``codes`` to ``0..m-1`` in increasing order of the code, ``m`` the number of
    distinct codes present: ``np.unique(codes, return_inverse=True)[1]``, in :math:`O(n + \\max c)`; ``codes`` itself
    (not a copy) when it already is ``0..m-1`` of dtype intp."""
    codes = np.asarray(codes)
    present = np.bincount(codes, minlength=minlength) > 0
    if present.all() and codes.dtype == np.intp:
        return codes  # already 0..m-1
    new = np.cumsum(present, dtype=np.intp) - 1
    return new[codes]


def first_rows(codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Position of the first row of each code ``0..n_groups-1`` (-1 for a code without rows)."""
    codes = np.asarray(codes)
    first = np.full(n_groups, codes.size, dtype=np.intp)
    np.minimum.at(first, codes, np.arange(codes.size, dtype=np.intp))
    first[first == codes.size] = -1
    return first
