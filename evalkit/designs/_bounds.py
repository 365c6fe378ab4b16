"""A randomized trial's bounds under attrition: the design's arrays handed to :mod:`evalkit.estimators.bounds`
(Lee) or to the one estimation loop on imputed outcomes (Manski)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from evalkit._validation import as_list, check_alpha, check_int, check_option, require_columns, to_float_array
from evalkit.designs._outcomes import estimate_outcomes
from evalkit.errors import DataError, OptionError
from evalkit.estimators.bounds import Bounds, BoundsInference, BoundsMethod, finish_bounds, lee_bounds

if TYPE_CHECKING:
    from evalkit.designs.trial import RandomizedTrial

__all__ = ["trial_bounds"]


def trial_bounds(
    trial: RandomizedTrial,
    outcome: str,
    *,
    method: BoundsMethod,
    tighten_by: str | Sequence[str] | None,
    support: tuple[float, float] | None,
    inference: BoundsInference | None,
    reps: int,
    seed: object,
    alpha: float,
) -> Bounds:
    """Bounds on ``trial``'s effect on ``outcome`` (see :meth:`evalkit.RandomizedTrial.bounds`)."""
    check_option("method", method, BoundsMethod)
    check_alpha(alpha)
    if inference is not None:
        check_option("inference", inference, BoundsInference)
    check_int("reps", reps, minimum=2)
    data = trial._data
    require_columns(data, [outcome], "outcome")
    if outcome in trial._roles:
        raise DataError(f"column {outcome!r} is a role of the design and cannot be bounded as an outcome.")
    y = to_float_array(data, [outcome], "outcome")[:, 0]
    observed = ~np.isnan(y)
    z = trial._z
    notes: list[str] = []
    if not trial.is_randomized:
        notes.append(
            "Assignment declared not randomized: bounds rest on the arms being comparable, which randomization "
            "would guarantee."
        )
    if method == "manski":
        if tighten_by is not None:
            raise OptionError(
                "tighten_by= is for method='lee'; worst-case (Manski) bounds on the average effect are not narrowed "
                "by conditioning on covariates. Drop tighten_by=."
            )
        return _manski(trial, outcome, y, observed, support, alpha, notes)
    if support is not None:
        raise OptionError("support= is for method='manski' (worst-case bounds); Lee bounds need no support.")
    if trial.weights is not None:
        raise OptionError(
            f"Lee bounds with analytic weights ({trial.weights!r}) are not implemented: the trimming quantiles would "
            "need weighted quantiles. Build the trial without weights= to compute unweighted bounds."
        )
    by = as_list(tighten_by)
    require_columns(data, by, "tighten_by")
    cell_columns: dict[str, np.ndarray] = {}
    if trial.blocks is not None:
        cell_columns[trial.blocks] = data[trial.blocks].to_numpy()
    for column in by:
        values = data[column]
        if values.isna().any():
            raise DataError(
                f"tighten_by column {column!r} has {int(values.isna().sum())} missing value(s); cells need a value "
                "for every unit. Fill them (e.g. with a 'missing' category) or drop the rows before building the trial."
            )
        cell_columns[column] = values.to_numpy()
    cells = labels = None
    if cell_columns:
        frame = pd.DataFrame(cell_columns)
        codes = frame.groupby(list(cell_columns), sort=True).ngroup().to_numpy()
        labels = frame.drop_duplicates().assign(_code=codes[~frame.duplicated().to_numpy()])
        labels = labels.sort_values("_code").drop(columns="_code").reset_index(drop=True)
        cells = codes
    result = lee_bounds(
        y,
        z,
        observed,
        outcome=outcome,
        cells=cells,
        cell_labels=labels,
        strata=trial._block_codes,
        clusters=trial._cluster_codes,
        inference=inference,
        reps=reps,
        seed=seed,
        alpha=alpha,
    )
    if trial._cluster_codes is not None:
        notes.append("Standard errors resample whole clusters (the units of assignment) within arm and block.")
    return _with_notes(result, notes)


def _with_notes(result: Bounds, notes: list[str]) -> Bounds:
    from dataclasses import replace

    return replace(result, notes=(*notes, *result.notes)) if notes else result


def _manski(
    trial: RandomizedTrial,
    outcome: str,
    y: np.ndarray,
    observed: np.ndarray,
    support: tuple[float, float] | None,
    alpha: float,
    notes: list[str],
) -> Bounds:
    if support is None or len(support) != 2:
        raise OptionError(
            "method='manski' needs support=(lo, hi), the smallest and largest values the outcome can take "
            "(e.g. support=(0, 1) for a binary outcome, (0, 60) for a 0-60 score)."
        )
    lo, hi = float(support[0]), float(support[1])
    if not lo < hi:
        raise OptionError(f"support={support!r} must be (lo, hi) with lo < hi.")
    outside = observed & ((y < lo) | (y > hi))
    if outside.any():
        raise DataError(
            f"{int(outside.sum())} observed value(s) of {outcome!r} lie outside support=({lo:g}, {hi:g}) (range "
            f"{np.nanmin(y):g} to {np.nanmax(y):g}); give the outcome's true logical range."
        )
    z = trial._z
    lower_column, upper_column = "__evalkit_manski_lower__", "__evalkit_manski_upper__"
    frame = trial._data.copy()
    # worst case: missing treated outcomes at the bottom of the support and missing control ones at the top, and
    # the reverse; each bound is then a difference in means of an imputed outcome (Horowitz and Manski 2000)
    frame[lower_column] = np.where(observed, y, np.where(z == 1, lo, hi))
    frame[upper_column] = np.where(observed, y, np.where(z == 1, hi, lo))
    res = estimate_outcomes(
        frame,
        [lower_column, upper_column],
        treatment=z,
        treatment_name=trial.treatment,
        estimator="difference_in_means",
        covariates=[],
        baseline=None,
        domains=None,
        inference=None,
        default_inference=trial._default_inference,
        alpha=alpha,
        block_codes=trial._block_codes,
        block_labels=trial._block_labels,
        block_column=trial.blocks,
        cluster_codes=trial._cluster_codes,
        weights=trial._w,
        draw=None,
        design=trial.describe(),
        roles=trial._roles,
    )
    table = res.to_frame().set_index("outcome")
    low, up = table.loc[lower_column], table.loc[upper_column]
    notes.append(
        f"Worst-case bounds: missing outcomes set to {lo:g} or {hi:g}, whichever is least (lower bound) or most "
        "(upper bound) favourable to treatment; each bound is the design's difference in means of the imputed "
        f"outcome with its {low['inference']} standard error (normal critical values)."
    )
    return finish_bounds(
        outcome=outcome,
        method="manski",
        lower=float(low["estimate"]),
        upper=float(up["estimate"]),
        se_lower=float(low["std_error"]),
        se_upper=float(up["std_error"]),
        alpha=alpha,
        trim_share=float("nan"),
        trimmed_arm="",
        z=z,
        s=observed,
        inference=f"design's difference in means ({low['inference']})",
        notes=tuple(notes),
    )
