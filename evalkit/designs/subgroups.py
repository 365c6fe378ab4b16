"""Effects by subgroup: the design's estimator on each subgroup, and a test that all subgroup effects are equal.

``trial.subgroups(outcomes, by="age_group")`` restricts the trial to each level of ``by`` (its blocks and clusters
kept: a subgroup is a smaller trial of the same design) and runs ``estimate`` there, giving one row per outcome and
subgroup; a Wald test per outcome says whether the subgroup effects differ. The rows are ordinary ``Results`` rows,
so ``results.adjust("holm")`` corrects across subgroups and outcomes, and ``results.plot("subgroups")`` draws the
forest plot.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from evalkit.designs._loop import assemble_results
from evalkit.designs._moderators import levels_of
from evalkit.errors import DataError, EvalkitError
from evalkit.results import DROPPED_COLUMNS, OutcomeFit, Results

if TYPE_CHECKING:
    from evalkit.designs.trial import RandomizedTrial

__all__ = ["EqualityTest", "equality_test", "estimate_subgroups"]


@dataclass(frozen=True)
class EqualityTest:
    """Wald test that the subgroup effects of one outcome are all equal.

    Attributes
    ----------
    statistic : float
        :math:`W = \\sum_g w_g (\\hat\\tau_g - \\bar\\tau_w)^2`, :math:`w_g = 1/\\widehat{se}_g^2`.
    df : int
        Number of subgroups minus one.
    p_value : float
        :math:`P(\\chi^2_{G-1} > W)`; NaN when a standard error is missing or the subgroups share clusters.
    """

    statistic: float
    df: int
    p_value: float


def equality_test(estimates: np.ndarray, std_errors: np.ndarray) -> EqualityTest:
    """Wald test that independent estimates are equal.

    Notes
    -----
    For independent :math:`\\hat\\tau_g \\sim N(\\tau_g, se_g^2)`, :math:`g = 1..G`, the Wald statistic of
    :math:`H_0: \\tau_1 = \\dots = \\tau_G` is :math:`W = \\sum_g w_g (\\hat\\tau_g - \\bar\\tau_w)^2` with
    :math:`w_g = se_g^{-2}` and :math:`\\bar\\tau_w = \\sum_g w_g\\hat\\tau_g / \\sum_g w_g`, asymptotically
    :math:`\\chi^2_{G-1}` (Cochran's Q, Cochran 1954, Biometrics 10(1):101-129). With two subgroups
    :math:`W = (\\hat\\tau_1-\\hat\\tau_2)^2/(se_1^2+se_2^2)`. Without clusters shared by subgroups and with HC2,
    HC3 or CR2 standard errors this is the Wald test of the treatment-by-subgroup interactions in the regression
    fully interacted with the subgroup indicators (its hat matrix is block diagonal, so its per-group covariance
    is each subgroup's own).
    """
    b = np.asarray(estimates, dtype=np.float64)
    se = np.asarray(std_errors, dtype=np.float64)
    q = b.size - 1
    if q < 1 or not np.all(np.isfinite(se) & (se > 0)) or not np.all(np.isfinite(b)):
        return EqualityTest(statistic=np.nan, df=max(q, 0), p_value=np.nan)
    w = 1.0 / se**2
    mean = float(np.sum(w * b) / np.sum(w))
    W = float(np.sum(w * (b - mean) ** 2))
    return EqualityTest(statistic=W, df=q, p_value=float(stats.chi2.sf(W, q)))


def _subgroup_name(by: Hashable, level: object) -> str:
    return f"{by}={level}"


def estimate_subgroups(
    trial: RandomizedTrial,
    outcomes: Sequence[str],
    by: Hashable,
    *,
    estimate_options: Mapping[str, object],
    alpha: float,
) -> Results:
    """One row per outcome and subgroup of ``by``, each the design's estimator on that subgroup, plus the equality
    test of each outcome's subgroup effects (see :meth:`evalkit.RandomizedTrial.subgroups`)."""
    data = trial._data
    if by in (trial.treatment, trial.clusters, trial.weights):
        raise DataError(
            f"by={by!r} is the treatment, clusters or weights column of the design; subgroups are defined by a "
            "pre-treatment characteristic of the units (the blocks column may be used)."
        )
    series = data[by]
    missing = series.isna().to_numpy()
    levels = levels_of(series)
    if len(levels) < 2:
        raise DataError(
            f"by={by!r} has {len(levels)} level(s) ({', '.join(map(repr, levels))}); subgroups need at least two."
        )
    codes = series.to_numpy(dtype=object)
    rows: list[pd.DataFrame] = []
    dropped: list[dict[str, object]] = []
    fits: dict[str, OutcomeFit] = {}
    notes: list[str] = []
    spec = None if trial.is_randomized else trial._assignment_spec
    for level in levels:
        mask = (codes == level) & ~missing
        positions = np.flatnonzero(mask)
        name = _subgroup_name(by, level)
        z = trial._z[mask]
        if z.min() == z.max():
            arm = "control" if z[0] == 1 else "treated"
            raise DataError(
                f"subgroup {name} has no {arm} units ({int(mask.sum())} rows, all "
                f"{'treated' if arm == 'control' else 'control'}); its effect cannot be estimated. Merge it with "
                f"another level of {by!r} or leave its rows out."
            )
        try:
            sub = type(trial)(
                data.loc[mask],
                trial.treatment,
                blocks=trial.blocks,
                clusters=trial.clusters,
                weights=trial.weights,
                assignment=spec,
            )
            res = sub.estimate(outcomes, alpha=alpha, **estimate_options)
        except EvalkitError as error:
            raise type(error)(f"in subgroup {name}: {error}") from error
        frame = res.to_frame()
        frame["term"] = [name if t == trial.treatment else f"{name}: {t}" for t in frame["term"]]
        frame.insert(3, "by", str(by))
        frame.insert(4, "subgroup", level)
        rows.append(frame)
        dropped.extend(res.dropped.to_dict("records"))
        notes.extend(n for n in res.notes if n not in notes)
        for outcome, of in res.fits.items():
            fits[f"{outcome} [{name}]"] = dataclasses.replace(of, rows=positions[np.asarray(of.rows)])
    table = pd.concat(rows, ignore_index=True)
    order = {o: i for i, o in enumerate(outcomes)}
    table = table.iloc[np.argsort(table["outcome"].map(order).to_numpy(), kind="stable")].reset_index(drop=True)
    shared = _clusters_shared(trial, codes, missing, levels)
    table, test_notes = _with_equality_tests(table, outcomes, by, shared)
    if trial.is_randomized and trial._assignment_spec is not None:
        notes.append(
            "Within each subgroup the assignment is taken as complete randomization within blocks (clusters as units) "
            "with the subgroup's observed numbers treated: the declared assignment describes the whole trial, not a "
            "subgroup."
        )
    if missing.any():
        dropped.extend(
            {
                "outcome": outcome,
                "column": by,
                "n_missing": int(missing.sum()),
                "n_dropped": int(missing.sum()),
                "reason": f"missing values in {by!r} ({int(missing.sum())}): in no subgroup",
            }
            for outcome in outcomes
        )
    notes = [
        f"Effects by subgroup of {by!r}: the design's estimator on each subgroup (blocks and clusters kept).",
        *test_notes,
        *notes,
    ]
    return assemble_results(
        table,
        estimator=str(table["estimator"].iloc[0]),
        design=f"{trial.describe()}; subgroups by {by!r}",
        alpha=alpha,
        notes=notes,
        dropped=pd.DataFrame(dropped, columns=DROPPED_COLUMNS),
        fits=fits,
    )


def _clusters_shared(trial: RandomizedTrial, codes: np.ndarray, missing: np.ndarray, levels: list[object]) -> bool:
    """Whether some cluster has units in two subgroups (the subgroup estimates are then correlated)."""
    if trial._cluster_codes is None:
        return False
    frame = pd.DataFrame({"cluster": trial._cluster_codes[~missing], "level": codes[~missing]})
    return bool((frame.groupby("cluster")["level"].nunique() > 1).any())


def _with_equality_tests(
    table: pd.DataFrame, outcomes: Sequence[str], by: Hashable, shared: bool
) -> tuple[pd.DataFrame, list[str]]:
    """The table with ``equality_chi2`` / ``equality_df`` / ``equality_p`` on every row, and one note per outcome."""
    table = table.copy()
    table["equality_chi2"] = np.nan
    table["equality_df"] = pd.array([pd.NA] * len(table), dtype="Int64")
    table["equality_p"] = np.nan
    notes: list[str] = []
    for outcome in outcomes:
        rows = (table["outcome"] == outcome).to_numpy()
        frame = table.loc[rows]
        test = equality_test(frame["estimate"].to_numpy(dtype=float), frame["std_error"].to_numpy(dtype=float))
        if shared:
            test = EqualityTest(statistic=np.nan, df=test.df, p_value=np.nan)
        table.loc[rows, "equality_chi2"] = test.statistic
        table.loc[rows, "equality_df"] = test.df
        table.loc[rows, "equality_p"] = test.p_value
        if not shared:
            notes.append(
                f"Equal effects across the {len(frame)} subgroups of {by!r} ({outcome}): chi2({test.df}) = "
                f"{test.statistic:.3f}, p = {test.p_value:.3g} (Wald test of independent subgroup estimates)."
            )
    if shared:
        notes.append(
            f"Some clusters have units in more than one subgroup of {by!r}, so the subgroup estimates are correlated "
            "and the test of equal effects, which treats them as independent, is not reported (equality_p is NaN). "
            f"estimate(..., estimator='ols', moderators=[{by!r}]) tests whether the effect varies with {by!r} with "
            "one cluster-robust covariance."
        )
    return table, notes
