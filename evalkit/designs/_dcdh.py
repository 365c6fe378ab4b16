"""``DiffInDiff.estimate(..., estimator="dcdh")``: de Chaisemartin and D'Haultfoeuille on the design's panel.

The design's rows are laid out as groups (its panel units) x periods, handed to
:func:`evalkit.estimators.dcdh.dcdh`, and the per-group influence functions go to the influence-function inference
layer (:class:`~evalkit.inference.influence.AnalyticInfluence`), clustered by the design's clusters (default: the
unit, i.e. the group). The table is built with the tidy-row helpers of :mod:`evalkit.designs._loop`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from evalkit._validation import check_int, to_float_array
from evalkit.designs._loop import assemble_results, tidy_table
from evalkit.designs._outcomes import _complete_cases
from evalkit.errors import DataError, DesignError, OptionError
from evalkit.estimators.dcdh import dcdh
from evalkit.inference.analytic import degenerate_se, t_tests
from evalkit.inference.influence import (
    AnalyticInfluence,
    InfluenceInference,
    analytic_se,
    resolve_influence_inference,
    wald_from_influence,
)
from evalkit.results import Results

if TYPE_CHECKING:  # pragma: no cover
    from evalkit.designs.did import DiffInDiff

__all__ = ["estimate_dcdh"]


def _default() -> tuple[InfluenceInference, str]:
    return AnalyticInfluence(), (
        "Inference defaulted to analytic standard errors from the cohort-recentred influence functions (normal "
        "critical values); de Chaisemartin and D'Haultfoeuille (2024) show they are conservative when effects vary "
        "across groups."
    )


def estimate_dcdh(
    design: DiffInDiff,
    names: Sequence[str],
    *,
    covariates: Sequence[str],
    inference: object,
    domains: Mapping[str, str] | None,
    effects: int,
    placebo: int,
    alpha: float,
) -> Results:
    """The dCDH rows of every outcome: ``overall`` (DID_M), ``joiners``, ``leavers``, then the event times.

    Raises
    ------
    OptionError
        With covariates, weights or blocks (not supported), or a negative ``effects`` / ``placebo``.
    InferenceError
        For an inference method that is not an influence-function one (``"analytic"`` or a multiplier bootstrap).
    DesignError
        With fewer than two groups, or when no switching cell has a stable comparison group.
    """
    effects = check_int("effects", effects, minimum=0)
    placebo = check_int("placebo", placebo, minimum=0)
    for option, value in (("covariates", list(covariates)), ("weights", design.weights), ("blocks", design.blocks)):
        if value:
            raise OptionError(
                f"estimator='dcdh' does not support {option} ({value!r}); drop {option}= or use estimator='twfe'."
            )
    method, default_note = resolve_influence_inference(inference, _default)
    rng = method.generator()
    data = design._data
    units, periods = design._unit_codes, design._period_codes
    n_units, n_periods = len(design._unit_labels), len(design._period_labels)
    who = design.clusters or f"{design.unit} (the group)"
    label = f"{method.name}, clustered by {who!r}" if design.clusters else f"{method.name}, clustered by groups"
    twfe_only = ("Non-absorbing treatment", "Every unit is eventually treated")  # notes about the TWFE regression
    notes = [n for n in design._notes if not n.startswith(twfe_only)]
    if default_note is not None:
        notes.append(default_note)
    tables, dropped = [], []
    for outcome in names:
        cases = _complete_cases(data, outcome, [outcome])
        dropped.extend(cases.dropped)
        mask = design._keep & cases.mask
        y = to_float_array(data.loc[mask], [outcome], "outcome")[:, 0]
        Y = np.full((n_units, n_periods), np.nan)
        D = np.full((n_units, n_periods), np.nan)
        Y[units[mask], periods[mask]] = y
        D[units[mask], periods[mask]] = design._d[mask]
        seen = np.isfinite(Y).any(axis=1)
        first = np.flatnonzero(np.isfinite(Y).any(axis=0))
        if first.size == 0:
            raise DataError(f"no complete rows for outcome {outcome!r}.")
        late = seen & ~np.isfinite(Y[:, first[0]])
        if late.any():
            shown = ", ".join(repr(design._unit_labels[u]) for u in np.flatnonzero(late)[:3])
            notes.append(
                f"{outcome!r}: {int(late.sum())} group(s) of {design.unit!r} not observed in the first period "
                f"{design._period_labels[first[0]]!r} (e.g. {shown}) were dropped: dCDH needs each group's "
                "treatment in the first period (its baseline)."
            )
        obs = np.isfinite(Y[:, first])  # periods with no observation at all are not holes
        last = obs.shape[1] - 1 - np.argmax(obs[:, ::-1], axis=1)
        span = np.arange(obs.shape[1])[None, :] <= last[:, None]
        gap = seen & ~late & (span & ~obs).any(axis=1)  # observed from the first period, then a hole, then again
        if gap.any():
            shown = ", ".join(repr(design._unit_labels[u]) for u in np.flatnonzero(gap)[:3])
            notes.append(
                f"{outcome!r}: {int(gap.sum())} group(s) of {design.unit!r} with a missing period between observed "
                f"ones (e.g. {shown}) were dropped: a first switch and its cohort need consecutive periods (as "
                "diff-diff does). Groups observed up to an earlier last period are kept."
            )
        groups = np.flatnonzero(seen & ~late & ~gap)
        if groups.size < 2:
            raise DesignError(
                f"estimator='dcdh' needs at least two groups of {design.unit!r} observed from the first period on "
                f"for outcome {outcome!r}; found {groups.size}: a switcher needs a stable group to compare with."
            )
        Y, D = Y[groups][:, first], D[groups][:, first]
        fit = dcdh(Y, D, effects=effects, placebo=placebo, period_labels=design._period_labels[first])
        if fit.n_switchers[0] == 0:
            raise DesignError(
                f"no group changes {design.treatment!r} between two consecutive observed periods while another group "
                f"with the same previous treatment stays put (outcome {outcome!r}); DID_M has no switching cell to "
                "average. "
                + (
                    f"Cells without a stable comparison group: {'; '.join(fit.dropped_cells)}."
                    if fit.dropped_cells
                    else ""
                )
            )
        if fit.dropped_cells:
            notes.append(
                f"{outcome!r}: switching cells without a stable comparison group (same treatment in both periods) "
                f"were left out of DID_M: {'; '.join(fit.dropped_cells)}. diff-diff keeps them in N_S with a zero "
                "contribution (its 'A11' convention), which shrinks DID_M towards zero."
            )
        cl = None
        if design._cluster_codes is not None:
            by_unit = np.zeros(n_units, dtype=np.intp)
            by_unit[design._unit_codes] = design._cluster_codes
            cl = np.unique(by_unit[groups], return_inverse=True)[1].ravel()
        est = fit.estimates
        se = np.full(est.size, np.nan)
        ok = np.isfinite(est)
        scale = float(np.nanstd(Y))
        flat = np.zeros(est.size, dtype=bool)
        flat[ok] = degenerate_se(analytic_se(fit.influence[:, ok], cl), est[ok], scale)
        se[flat] = 0.0  # t_tests: NaN and the degenerate-SE note
        use = ok & ~flat
        se[use] = method.standard_errors(fit.influence[:, use], cl, alpha, rng)[0]
        tests = t_tests(est, se, np.inf, alpha=alpha, scale=scale)
        notes.extend(n for n in tests.notes([f"{outcome!r} {t}" for t in fit.terms]) if n not in notes)
        for term, n_sw in zip(fit.terms, fit.n_switchers, strict=True):
            if n_sw == 0:
                notes.append(f"{outcome!r} {term}: no switcher with a comparison group; the estimate is NaN.")
        columns: dict[str, object] = {
            "outcome": outcome,
            "term": list(fit.terms),
            "estimate": est,
            "std_error": tests.std_error,
            "statistic": tests.statistic,
            "p_value": tests.p_value,
            "conf_low": tests.conf_low,
            "conf_high": tests.conf_high,
            "df": np.inf,
            "n_obs": int(np.isfinite(Y).sum()),
            "n_treated": fit.n_switchers,
            "n_control": fit.n_controls,
            "n_clusters": groups.size if cl is None else int(cl.max()) + 1,
            "estimator": "dcdh",
            "inference": label,
            "type": list(fit.kinds),
            "event_time": fit.event_time,
            "n_units": groups.size,
        }
        if placebo:
            pl = np.array([k == "placebo" for k in fit.kinds]) & ok
            test = wald_from_influence(est[pl], fit.influence[:, pl], cl)
            columns.update(placebo_chi2=test.statistic, placebo_df=test.df, placebo_p=test.p_value)
            if np.isfinite(test.p_value):
                notes.append(
                    f"Joint placebo test for {outcome!r} ({test.df} placebos = 0): chi2 = {test.statistic:.3f}, "
                    f"p = {test.p_value:.3g}."
                )
        tables.append(tidy_table(columns, len(fit.terms)))
    notes.append(
        "de Chaisemartin-D'Haultfoeuille: DID_M (overall) averages joiners (0 to 1) against groups untreated in both "
        "periods and leavers (1 to 0) against groups treated in both, over switching cells (n_treated; n_control: "
        "distinct control groups). event_time::l is DID_l, the effect l-1 periods after a group's first switch, "
        "against groups with the same first-period treatment that have not switched yet; event_time::-l its "
        "placebo. Groups are the panel units; standard errors from cohort-recentred per-group influence functions "
        "(2024 Web Appendix Sec. 3.7.3), summed within clusters."
    )
    return assemble_results(
        pd.concat(tables, ignore_index=True),
        estimator="dcdh",
        design=design.describe(),
        alpha=alpha,
        notes=notes,
        dropped=dropped,
        domains=domains,
        integer_columns=("n_clusters", "event_time", "placebo_df"),
    )
