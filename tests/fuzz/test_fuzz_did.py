"""Fuzz: difference-in-differences designs (2x2, panel TWFE, event study) and staggered adoption on hostile
frames (issue 9). See _harness.py for the property checked."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from _harness import (
    TREATMENT_DTYPES,
    Probe,
    _labels,
    _numbers,
    _spoil,
    _treatment,
    assemble,
    balance_methods,
    check_numbers,
    check_rows,
    close_figure,
    fuzz_settings,
    inference_options,
    names_for,
    rarely,
    recipes,
    results_methods,
    weights_column,
)
from hypothesis import given
from hypothesis import strategies as st

import evalkit as ek


def _periods(codes: np.ndarray, kind: str) -> pd.Series:
    """Period labels in a hostile type: ints, floats, datetimes, pd.Period, an ordered categorical or text."""
    if kind == "float":
        return pd.Series(codes * 0.5 + 1990.25)
    if kind == "datetime":
        return pd.Series(pd.Timestamp("2001-01-01") + pd.to_timedelta(codes * 31, unit="D"))
    if kind == "period":
        return pd.Series(pd.PeriodIndex([pd.Period(str(2000 + int(c)), freq="Y") for c in codes]))
    if kind == "ordered":
        cats = [f"w{i}" for i in range(int(codes.max()) + 1 if len(codes) else 1)][::-1]
        return pd.Series(pd.Categorical([cats[c] for c in codes], categories=cats, ordered=True))
    if kind == "text":
        return pd.Series([f"t{c}" for c in codes], dtype=object)
    return pd.Series(codes.astype(np.int64) + 2000)


@st.composite
def panel_shapes(draw: st.DrawFn) -> dict[str, Any]:
    """A unit x period panel: adoption dates (common, staggered, never, always), unbalanced and duplicated rows."""
    n_units = draw(st.sampled_from((8, 12, 20, 6, 1, 2, 3, 4)))
    n_periods = draw(st.sampled_from((4, 5, 6, 3, 1, 2)))
    adoption = draw(st.sampled_from(("common",) * 3 + ("staggered",) * 2 + ("all_eventually", "always", "late")))
    imbalance = draw(st.sampled_from((0.0, 0.0, 0.0, 0.15, 0.5)))
    duplicates = draw(rarely(8))
    return {
        "n_units": n_units,
        "n_periods": n_periods,
        "adoption": adoption,
        "imbalance": imbalance,
        "duplicates": duplicates,
        "n_clusters": draw(st.sampled_from((None, None, 3, 2, 1, "per_unit"))),
        "n_blocks": draw(st.sampled_from((None, None, None, 2, 1))),
        "time_kind": draw(st.sampled_from(("int",) * 4 + ("float", "datetime", "period", "ordered", "text"))),
        "switch_off": draw(rarely(10)),
    }


def _adoption(shape: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
    """Each unit's first treated period code (n_periods = never treated)."""
    n_units, T = shape["n_units"], shape["n_periods"]
    never = T
    if shape["adoption"] == "common":
        start = np.full(n_units, max(T // 2, 1))
        start[rng.permutation(n_units)[: n_units // 2]] = never
    elif shape["adoption"] == "staggered":
        start = rng.integers(1, T + 1, size=n_units)
    elif shape["adoption"] == "all_eventually":
        start = rng.integers(1, max(T, 2), size=n_units)
    elif shape["adoption"] == "always":
        start = rng.integers(0, T + 1, size=n_units)
    else:  # late: first treated after the panel ends
        start = rng.integers(T, T + 3, size=n_units)
    return start


def _panel_rows(shape: dict[str, Any], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit codes, period codes and each row's adoption date; imbalance and duplicate rows applied."""
    n_units, T = shape["n_units"], shape["n_periods"]
    unit = np.repeat(np.arange(n_units), T)
    period = np.tile(np.arange(T), n_units)
    start = _adoption(shape, rng)[unit]
    keep = rng.random(unit.size) >= shape["imbalance"]
    unit, period, start = unit[keep], period[keep], start[keep]
    if shape["duplicates"] and unit.size:
        extra = rng.integers(0, unit.size, size=2)
        unit, period, start = (np.r_[a, a[extra]] for a in (unit, period, start))
    return unit, period, start


@st.composite
def did_panel_cases(draw: st.DrawFn) -> dict[str, Any]:
    recipe = draw(recipes())
    rng = np.random.default_rng(recipe["seed"])
    shape = draw(panel_shapes())
    unit, period, start = _panel_rows(shape, rng)
    d = (period >= start).astype(int)
    if shape["switch_off"] and d.any():
        d[np.flatnonzero(d)[-1]] = 0 if period[np.flatnonzero(d)[-1]] != period.max() else 1
        d[np.flatnonzero(d)[0]] = 1
    n = unit.size
    y = rng.normal(size=n) + 0.3 * period + 0.7 * d + rng.normal(size=shape["n_units"] or 1)[unit]
    if recipe["constant_outcome"]:
        y[:] = 2.0
    treat, treated_value = _treatment(d, draw(st.sampled_from(("int64",) * 7 + TREATMENT_DTYPES)))
    cols: dict[str, pd.Series] = {
        "y": _numbers(y, recipe["outcome_dtype"], recipe, rng),
        "y2": _numbers(rng.normal(size=n) + d, "float64", recipe, rng),
        "x": _numbers(rng.normal(size=n), recipe["covariate_dtype"], recipe, rng),
        "treat": treat,
        "unit": _labels(unit, recipe["label_dtype"]),
        "time": _periods(period, shape["time_kind"]),
    }
    if shape["n_blocks"] is not None:
        cols["block"] = _labels(unit % shape["n_blocks"], recipe["label_dtype"])
    if shape["n_clusters"] == "per_unit":
        cols["cluster"] = _labels(unit, "str")
    elif shape["n_clusters"] is not None:
        cols["cluster"] = _labels(unit % shape["n_clusters"], recipe["label_dtype"])
    w = weights_column(recipe["weights"], n, rng)
    if w is not None:
        cols["w"] = pd.Series(w.to_numpy()[0] * (1 + 0.1 * unit)) if len(w) and shape["n_units"] else w
    for c in {
        "outcome": ["y"],
        "covariate": ["x"],
        "role": [c for c in ("treat", "unit", "time", "cluster", "block") if c in cols][: 1 + recipe["seed"] % 3],
        "weights": ["w"] if "w" in cols else [],
        "everything": list(cols),
    }[recipe["missing_in"]]:
        cols[c] = _spoil(cols[c], recipe["missing"], rng)
    frame = assemble(cols, recipe, rng)
    estimator = draw(st.sampled_from(("twfe", "event_study", None, "twfe", "event_study", None, "dcdh")))
    return {
        "frame": frame,
        "N": names_for(recipe["names"], list(cols)),
        "has": set(cols),
        "treated_value": treated_value,
        "estimator": estimator,
        "covariates": draw(st.booleans()),
        "inference": inference_options(draw, True, True),
        "assignment": draw(st.sampled_from((None, None, "cluster", "block_cluster", "not"))),
        "leads": draw(st.sampled_from((None, None, 0, 1, 2))),
        "lags": draw(st.sampled_from((None, None, 0, 1, 3))),
        "reference_period": draw(st.sampled_from((-1, -1, -2, 0))),
        "bin_endpoints": draw(st.booleans()),
        "fe_dof": draw(st.sampled_from(("nested", "full"))),
        "min_clusters_per_arm": draw(st.sampled_from((2, 2, 1))),
        "effects": draw(st.sampled_from((0, 0, 1, 2, 5))),
        "placebo": draw(st.sampled_from((0, 0, 1, 3))),
        "sensitivity": draw(sensitivity_options()),
        "seed": draw(st.integers(0, 10_000)),
    }


_ASSIGNMENTS = {
    None: None,
    "not": ek.NotRandomized(),
    "cluster": ek.ClusterRandomization(),
    "block_cluster": ek.BlockClusterRandomization(),
}


@fuzz_settings(ci_examples=45)
@given(did_panel_cases())
def test_did_panel_entry_points(case: dict[str, Any]) -> None:
    frame, N, has = case["frame"], case["N"], case["has"]
    probe = Probe(frame)
    did = probe.call(
        "DiffInDiff[panel]",
        lambda: ek.DiffInDiff(
            frame,
            N["treat"],
            unit=N["unit"],
            time=N["time"],
            clusters=N["cluster"] if "cluster" in has else None,
            blocks=N["block"] if "block" in has else None,
            weights=N["w"] if "w" in has else None,
            assignment=_ASSIGNMENTS[case["assignment"]],
            treated_value=case["treated_value"],
        ),
    )
    if did is None:
        return

    dcdh = case["estimator"] == "dcdh"
    res = probe.call(
        "DiffInDiff[panel].estimate",
        lambda: did.estimate(
            [N["y"], N["y2"]],
            estimator=case["estimator"],
            covariates=[N["x"]] if case["covariates"] else None,
            inference=case["inference"] if not dcdh else None,
            effects=case["effects"] if dcdh else 0,
            placebo=case["placebo"] if dcdh else 0,
            reference_period=case["reference_period"],
            leads=case["leads"] if case["estimator"] == "event_study" else None,
            lags=case["lags"] if case["estimator"] == "event_study" else None,
            bin_endpoints=case["bin_endpoints"],
            fe_dof=case["fe_dof"],
            min_clusters_per_arm=case["min_clusters_per_arm"],
        ),
        # design-rule drops are in Results.dropped too; dCDH's n_obs counts (group, period) cells with an outcome
        check=lambda r: check_rows(r, len(frame), exact=not dcdh, per="units" if dcdh else "rows"),
    )
    results_methods(probe, res, "did.Results", case["seed"])
    if res is not None and case["estimator"] == "event_study" and case["seed"] % 4 == 0:
        probe.call("Results.plot[event_study]", lambda: close_figure(res.plot("event_study")))
    if res is not None and case["estimator"] == "event_study":
        sensitivity(probe, res, N["y"], case["sensitivity"])
    balance_methods(probe, probe.call("DiffInDiff[panel].balance", lambda: did.balance([N["x"]])), case["seed"])
    probe.call("DiffInDiff[panel].draw_assignment", lambda: did.draw_assignment(case["seed"]))


@st.composite
def did_2x2_cases(draw: st.DrawFn) -> dict[str, Any]:
    recipe = draw(recipes())
    rng = np.random.default_rng(recipe["seed"])
    n_groups = draw(st.sampled_from((8, 12, 4, 2, 1)))
    rows_per = draw(st.sampled_from((5, 3, 1)))
    group_of = np.repeat(np.arange(n_groups), rows_per * 2)
    post = np.tile(np.r_[np.zeros(rows_per), np.ones(rows_per)], n_groups).astype(int)
    g = (group_of % 2 == 0).astype(int) if not draw(rarely(6)) else np.ones_like(group_of)
    n = group_of.size
    y = rng.normal(size=n) + 0.5 * g * post + group_of * 0.1
    if recipe["constant_outcome"]:
        y[:] = 1.0
    treat, treated_value = _treatment(g, draw(st.sampled_from(("int64",) * 7 + TREATMENT_DTYPES)))
    cols: dict[str, pd.Series] = {
        "y": _numbers(y, recipe["outcome_dtype"], recipe, rng),
        "x": _numbers(rng.normal(size=n), recipe["covariate_dtype"], recipe, rng),
        "treat": treat,
        "post": _treatment(post, draw(st.sampled_from(("int64", "bool", "float32", "Int64"))))[0],
    }
    clustered = draw(st.booleans())
    if clustered:
        cols["cluster"] = _labels(group_of, recipe["label_dtype"])
    if draw(rarely(3)):
        cols["block"] = _labels(group_of // 4, recipe["label_dtype"])
    w = weights_column(recipe["weights"], n, rng)
    if w is not None:
        cols["w"] = w
    for c in {
        "outcome": ["y"],
        "covariate": ["x"],
        "role": [c for c in ("treat", "post", "cluster", "block") if c in cols][: 1 + recipe["seed"] % 3],
        "weights": ["w"] if "w" in cols else [],
        "everything": list(cols),
    }[recipe["missing_in"]]:
        cols[c] = _spoil(cols[c], recipe["missing"], rng)
    frame = assemble(cols, recipe, rng)
    return {
        "frame": frame,
        "N": names_for(recipe["names"], list(cols)),
        "has": set(cols),
        "treated_value": treated_value,
        "covariates": draw(st.booleans()),
        "inference": inference_options(draw, clustered, True),
        "assignment": draw(st.sampled_from((None, None, "cluster", "block_cluster", "not"))),
        "seed": draw(st.integers(0, 10_000)),
    }


@fuzz_settings(ci_examples=35)
@given(did_2x2_cases())
def test_did_2x2_entry_points(case: dict[str, Any]) -> None:
    frame, N, has = case["frame"], case["N"], case["has"]
    probe = Probe(frame)
    did = probe.call(
        "DiffInDiff[2x2]",
        lambda: ek.DiffInDiff(
            frame,
            N["treat"],
            post=N["post"],
            clusters=N["cluster"] if "cluster" in has else None,
            blocks=N["block"] if "block" in has else None,
            weights=N["w"] if "w" in has else None,
            assignment=_ASSIGNMENTS[case["assignment"]],
            treated_value=case["treated_value"],
        ),
    )
    if did is None:
        return
    res = probe.call(
        "DiffInDiff[2x2].estimate",
        lambda: did.estimate(N["y"], covariates=[N["x"]] if case["covariates"] else None, inference=case["inference"]),
        check=lambda r: check_rows(r, len(frame), exact=True),
    )
    results_methods(probe, res, "did2x2.Results", case["seed"])
    balance_methods(probe, probe.call("DiffInDiff[2x2].balance", lambda: did.balance([N["x"]])), case["seed"])
    probe.call("DiffInDiff[2x2].draw_assignment", lambda: did.draw_assignment(case["seed"]))


# ---------------------------------------------------------------------------------------------------- sensitivity
@st.composite
def sensitivity_options(draw: st.DrawFn) -> dict[str, Any]:
    """Arguments of Results.sensitivity (Rambachan-Roth): small grids, hostile values now and then."""
    method = draw(st.sampled_from(("relative_magnitudes", "smoothness")))
    values = draw(st.sampled_from(([0.5], [0, 1], None, [-1.0], [np.nan])))
    return {
        "method": method,
        "mbar" if method == "relative_magnitudes" else "m": values,
        "e": draw(st.sampled_from((None, None, "average", 0, 7))),
        "grid_points": draw(st.sampled_from((25, 50))),
        "sims": 50,
        "seed": draw(st.integers(0, 100)),
    }


def sensitivity(probe: Probe, res: ek.Results, outcome: Any, options: dict[str, Any]) -> None:
    """Results.sensitivity on an event study: robust intervals (finite, or NaN with the bounds' meaning)."""

    def check(out: Any) -> None:
        table = out.to_frame()
        check_numbers(table, ("sensitivity",), [c for c in table.columns if c not in ("lb", "ub")])
        lb, ub = np.asarray(out.lb, dtype=float), np.asarray(out.ub, dtype=float)
        both = np.isfinite(lb) & np.isfinite(ub)
        assert (lb[both] <= ub[both] + 1e-9 * np.maximum(1, np.abs(ub[both]))).all(), (lb, ub)

    probe.call("Results.sensitivity", lambda: res.sensitivity(outcome=outcome, **options), check=check)


# ---------------------------------------------------------------------------------------------------- staggered
@st.composite
def staggered_cases(draw: st.DrawFn) -> dict[str, Any]:
    recipe = draw(recipes())
    rng = np.random.default_rng(recipe["seed"])
    shape = draw(panel_shapes())
    shape["time_kind"] = draw(st.sampled_from(("int",) * 6 + ("float", "datetime", "text")))
    unit, period, start = _panel_rows(shape, rng)
    T = shape["n_periods"]
    years = 2000 + np.arange(T + 3)
    cohort = np.where(start >= T, 0, years[np.minimum(start, T + 2)])
    if draw(rarely(6)):  # hostile cohorts: beyond the panel, before it, negative, NaN
        bad = draw(st.sampled_from((years[-1] + 5, 1990, -1, np.nan)))
        cohort = cohort.astype(float)
        if cohort.size:
            cohort[unit == unit[0]] = bad
    n = unit.size
    d = (cohort > 0) & (2000 + period >= cohort)
    y = rng.normal(size=n) + 0.2 * period + 0.6 * d + rng.normal(size=shape["n_units"] or 1)[unit]
    if recipe["constant_outcome"]:
        y[:] = 4.0
    cols: dict[str, pd.Series] = {
        "y": _numbers(y, recipe["outcome_dtype"], recipe, rng),
        "x": _numbers(rng.normal(size=n), recipe["covariate_dtype"], recipe, rng),
        "unit": _labels(unit, recipe["label_dtype"]),
        "time": _periods(period, shape["time_kind"]) if shape["time_kind"] != "int" else pd.Series(2000 + period),
        "cohort": pd.Series(cohort),
    }
    if shape["n_clusters"] == "per_unit":
        cols["cluster"] = _labels(unit, "str")
    elif shape["n_clusters"] is not None:
        cols["cluster"] = _labels(unit % shape["n_clusters"], recipe["label_dtype"])
    if recipe["weights"] is not None:
        w = weights_column(recipe["weights"], shape["n_units"], rng)
        cols["w"] = pd.Series(w.to_numpy()[unit]) if w is not None and len(w) else pd.Series(np.ones(n))
    for c in {
        "outcome": ["y"],
        "covariate": ["x"],
        "role": [c for c in ("cohort", "unit", "time", "cluster") if c in cols][: 1 + recipe["seed"] % 3],
        "weights": ["w"] if "w" in cols else [],
        "everything": list(cols),
    }[recipe["missing_in"]]:
        cols[c] = _spoil(cols[c], recipe["missing"], rng)
    frame = assemble(cols, recipe, rng)
    estimator = draw(st.sampled_from(("callaway_santanna", "callaway_santanna", "sun_abraham", "twfe", "imputation")))
    inference: Any
    if estimator == "callaway_santanna":
        inference = draw(
            st.sampled_from(
                (None, "analytic", ek.inference.MultiplierBootstrap(reps=49, seed=3), "CR1", ek.inference.Sandwich())
            )
        )
        aggregate = draw(st.sampled_from((None, "simple", "group", "dynamic", "calendar", "all")))
    elif estimator == "imputation":
        inference = draw(st.sampled_from((None, "analytic", "CR1")))
        aggregate = draw(st.sampled_from((None, "simple", "dynamic", "group", "calendar")))
    else:
        inference = draw(st.sampled_from((None, "analytic", "CR0", "CR1", "CR2", "HC1")))
        aggregate = draw(st.sampled_from((None, "dynamic"))) if estimator == "sun_abraham" else None
    return {
        "frame": frame,
        "N": names_for(recipe["names"], list(cols)),
        "has": set(cols),
        "estimator": estimator,
        "inference": inference,
        "aggregate": aggregate,
        "control": draw(st.sampled_from(("never_treated", "not_yet_treated"))),
        "method": draw(st.sampled_from(("dr", "ipw", "reg"))),
        "base_period": draw(st.sampled_from(("varying", "universal"))),
        "anticipation": draw(st.sampled_from((0, 0, 1))),
        "covariates": estimator == "callaway_santanna" and draw(rarely(3)),
        "sensitivity": draw(sensitivity_options()),
        "seed": draw(st.integers(0, 10_000)),
    }


@fuzz_settings(ci_examples=30)
@given(staggered_cases())
def test_staggered_entry_points(case: dict[str, Any]) -> None:
    frame, N, has = case["frame"], case["N"], case["has"]
    probe = Probe(frame)
    stag = probe.call(
        "StaggeredDiD",
        lambda: ek.StaggeredDiD(
            frame,
            N["unit"],
            N["time"],
            N["cohort"],
            clusters=N["cluster"] if "cluster" in has else None,
            weights=N["w"] if "w" in has else None,
        ),
    )
    if stag is None:
        return

    def check(res: ek.Results) -> None:
        if case["estimator"] in ("callaway_santanna", "imputation"):  # n_obs counts units (per cell)
            check_rows(res, len(frame), exact=False, per="units")
        else:  # every period left out for want of a comparison group is in Results.dropped
            check_rows(res, len(frame), exact=True)

    res = probe.call(
        "StaggeredDiD.estimate",
        lambda: stag.estimate(
            N["y"],
            case["estimator"],
            control=case["control"],
            covariates=[N["x"]] if case["covariates"] else None,
            method=case["method"],
            aggregate=case["aggregate"],
            base_period=case["base_period"],
            anticipation=case["anticipation"],
            inference=case["inference"],
        ),
        check=check,
    )
    results_methods(probe, res, "staggered.Results", case["seed"])
    if res is not None and case["aggregate"] == "dynamic":
        sensitivity(probe, res, N["y"], case["sensitivity"])
    if case["seed"] % 5 == 0:
        probe.call("StaggeredDiD.bacon", lambda: stag.bacon(N["y"]))
