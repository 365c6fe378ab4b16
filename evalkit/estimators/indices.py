"""Summary indices of several outcomes: Anderson's (2008) inverse-covariance weighted index and the
Kling–Liebman–Katz (2007) equally weighted index.

An index is an outcome like any other: add the returned Series to the data as a column and pass it to
``estimate()``. Testing one index instead of each of its components is the other answer to multiple testing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd

from evalkit._validation import as_list, check_binary, check_option, require_columns, to_float_array
from evalkit.errors import DataError, OptionError

__all__ = ["IndexMethod", "IndexReference", "summary_index"]

IndexMethod = Literal["anderson", "klk"]
IndexReference = Literal["control", "all"]


def _directions(higher_is_better: bool | Mapping[str, bool], outcomes: Sequence[str]) -> np.ndarray:
    if isinstance(higher_is_better, bool | np.bool_):
        return np.full(len(outcomes), 1.0 if higher_is_better else -1.0)
    if not isinstance(higher_is_better, Mapping):
        raise OptionError(
            f"higher_is_better={higher_is_better!r} must be True/False or a mapping outcome -> True/False."
        )
    missing = [o for o in outcomes if o not in higher_is_better]
    if missing:
        raise OptionError(
            f"higher_is_better has no entry for outcome(s) {', '.join(map(repr, missing))}; give every outcome "
            "True (higher is better) or False (lower is better)."
        )
    return np.array([1.0 if higher_is_better[o] else -1.0 for o in outcomes])


def _standardize(values: np.ndarray, ref: np.ndarray, names: Sequence[str], what: str) -> np.ndarray:
    """(values - mean_ref) / sd_ref column by column, ignoring missing values; sd with denominator n - 1."""
    out = np.empty_like(values)
    for j, name in enumerate(names):
        col = values[ref, j]
        col = col[~np.isnan(col)]
        if col.size < 2:
            raise DataError(
                f"{name!r} has {col.size} non-missing value(s) in the {what}; at least 2 are needed to standardize "
                "it. Use reference='all' or drop the outcome."
            )
        sd = float(np.std(col, ddof=1))
        if not sd > 0:
            raise DataError(
                f"{name!r} does not vary in the {what} (every value is {col[0]:g}), so it cannot be standardized; "
                "drop it from the index or use reference='all'."
            )
        out[:, j] = (values[:, j] - col.mean()) / sd
    return out


def _pairwise_cov(z: np.ndarray) -> np.ndarray:
    """Covariance matrix (denominator n - 1) from pairwise complete observations."""
    return pd.DataFrame(z).cov(min_periods=2).to_numpy()


def summary_index(
    data: pd.DataFrame,
    outcomes: Sequence[str],
    *,
    treatment: str,
    method: IndexMethod = "anderson",
    higher_is_better: bool | Mapping[str, bool] = True,
    reference: IndexReference = "control",
    name: str | None = None,
) -> pd.Series:
    """A summary index of several outcomes, standardized so that the reference group has mean 0 and SD 1.

    Parameters
    ----------
    data : DataFrame
        One row per unit; not modified.
    outcomes : sequence of str
        The index's components (numeric columns; missing values allowed).
    treatment : str
        The 0/1 treatment column; its 0 rows are the control group.
    method : {"anderson", "klk"}, default "anderson"
        ``"anderson"``: inverse-covariance weighted mean (Anderson 2008); ``"klk"``: equally weighted mean
        (Kling, Liebman & Katz 2007).
    higher_is_better : bool or mapping, default True
        Direction of each outcome; outcomes where lower is better (e.g. a problem score) enter with their sign
        flipped, so that a higher index is always better.
    reference : {"control", "all"}, default "control"
        Group whose mean and SD standardize the components and the index: the control group (effects on the
        index are then in control-group SD units) or all rows.
    name : str, optional
        Name of the returned Series (default ``"anderson_index"`` or ``"klk_index"``).

    Returns
    -------
    Series
        Aligned with ``data.index``; missing where every component is missing. ``Series.attrs["weights"]`` holds
        the components' weights (normalised to sum to one over all components) and ``attrs["method"]`` the method.

    Raises
    ------
    DataError
        If a component does not vary (or has fewer than 2 values) in the reference group, or is not numeric.
    OptionError
        For an unknown method or reference, or a ``higher_is_better`` mapping that misses an outcome.

    Notes
    -----
    Let :math:`\\mu_k, \\sigma_k` be the mean and SD (denominator :math:`n-1`) of outcome :math:`k` in the
    reference group and :math:`s_k = \\pm 1` its direction; the standardized components are
    :math:`z_{ik} = s_k (y_{ik} - \\mu_k)/\\sigma_k`.

    * Anderson (2008, JASA 103(484):1481, §3.1): with :math:`\\hat\\Sigma` the covariance matrix of the
      :math:`z_{\\cdot k}` (all rows, pairwise complete observations), the weights are the row sums of its
      inverse, :math:`w = \\hat\\Sigma^{-1}\\mathbf 1`, and
      :math:`\\bar s_i = \\sum_{k \\in K_i} w_k z_{ik} / \\sum_{k \\in K_i} w_k` over the components
      :math:`K_i` observed for unit :math:`i` — a unit with missing components keeps the weights of the ones it has.
      Highly correlated components share weight; a component that adds new information gets more. The
      Moore–Penrose inverse is used, so that an exact duplicate of a component splits that component's weight
      instead of failing.
    * Kling, Liebman & Katz (2007, Econometrica 75(1):83, §II.B): :math:`\\bar s_i` is the plain mean of the
      observed :math:`z_{ik}`.

    Either index is finally re-standardized by the reference group's mean and SD of :math:`\\bar s`, so a
    treatment effect on it is measured in reference-group standard deviations.
    """
    check_option("method", method, IndexMethod)
    check_option("reference", reference, IndexReference)
    names = as_list(outcomes)
    if not names:
        raise DataError("summary_index needs at least one outcome column; pass outcomes=[...].")
    if len(set(names)) != len(names):
        raise DataError(f"outcomes {names!r} name a column twice; list each component once.")
    require_columns(data, [*names, treatment], "column")
    if treatment in names:
        raise DataError(f"treatment {treatment!r} cannot also be a component of the index.")
    z_raw = to_float_array(data, [treatment], "treatment")[:, 0]
    check_binary(z_raw, treatment)
    Y = to_float_array(data, names, "outcome")
    ref = (z_raw == 0) if reference == "control" else np.ones(len(data), dtype=bool)
    what = "control group" if reference == "control" else "data"
    Z = _standardize(Y, ref, names, what) * _directions(higher_is_better, names)[None, :]
    observed = ~np.isnan(Z)
    if method == "anderson":
        cov = _pairwise_cov(Z)
        if np.isnan(cov).any():
            i, j = np.argwhere(np.isnan(cov))[0]
            raise DataError(
                f"outcomes {names[i]!r} and {names[j]!r} are never observed together (fewer than 2 rows), so their "
                "covariance is unknown; use method='klk' or drop one of them."
            )
        weights = np.linalg.pinv(cov, hermitian=True).sum(axis=1)
    else:
        weights = np.ones(len(names))
    W = np.where(observed, weights[None, :], 0.0)
    total = W.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        raw = np.where(observed.any(axis=1), (W * np.nan_to_num(Z)).sum(axis=1) / total, np.nan)
    ref_vals = raw[ref & ~np.isnan(raw)]
    sd = float(np.std(ref_vals, ddof=1)) if ref_vals.size > 1 else np.nan
    if not sd > 0:
        raise DataError(
            f"the index of {', '.join(map(repr, names))} does not vary in the {what}; it cannot be standardized."
        )
    index = (raw - ref_vals.mean()) / sd
    out = pd.Series(index, index=data.index.copy(), name=name or f"{method}_index", dtype=np.float64)
    out.attrs["weights"] = dict(zip(names, (weights / weights.sum()).tolist(), strict=True))
    out.attrs["method"] = method
    return out
