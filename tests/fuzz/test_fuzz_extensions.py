"""Fuzz: the entry points added after the first fuzz suite (issue 9 property; see _harness.py).

Trials: ``estimate(estimator="iv", take_up=...)``, ``moderators=``, ``attrition_weights=``,
``missing_covariates="indicator"``, ``subgroups``, ``bounds`` and ``diagnose`` (tiny simulations); planning:
``ek.planning.mde`` / ``power`` / ``sample_size`` on hostile arguments. DiD ``estimator="dcdh"``, StaggeredDiD
``estimator="imputation"`` and ``Results.sensitivity`` are exercised in test_fuzz_did.py.

Besides the harness's property (a result whose rows reconcile, or an EvalkitError; the frame unchanged; the same
result twice) every result's numbers must be finite, or NaN with a note saying why (:func:`check_numbers`).
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Any

import numpy as np
import pandas as pd
from _harness import (
    PROFILE,
    Probe,
    _labels,
    _spoil,
    check_numbers,
    check_rows,
    fuzz_settings,
    rarely,
)
from hypothesis import given
from hypothesis import strategies as st
from test_fuzz_trial import _assignment, trial_cases

import evalkit as ek


def _name_like(N: dict[str, Hashable], role: str) -> Hashable:
    """A column name for a new role in the naming style of the case's other columns (no collisions)."""
    y1 = N["y1"]
    if isinstance(y1, int | np.integer):
        return max(int(v) for v in N.values() if isinstance(v, int | np.integer)) + 1 + hash(role) % 7
    return str(y1).replace("y1", role)


def _treated(frame: pd.DataFrame, column: Hashable, treated_value: Any) -> np.ndarray:
    """The 0/1 treatment the design will read (missing as 0), to build a take-up that follows it."""
    col = frame[column]
    if treated_value is not None:
        return (col == treated_value).to_numpy(dtype=bool, na_value=False).astype(int)
    if isinstance(col.dtype, pd.CategoricalDtype):
        return (col.cat.codes == 1).to_numpy().astype(int)
    return (pd.to_numeric(col, errors="coerce").fillna(0).to_numpy(dtype=float) > 0).astype(int)


@st.composite
def extension_cases(draw: st.DrawFn) -> dict[str, Any]:
    """A hostile trial (test_fuzz_trial's recipe) plus take-up, a moderator and a subgroup column."""
    case = draw(trial_cases())
    frame, N = case["frame"], dict(case["N"])
    n = len(frame)
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    z = _treated(frame, N["treat"], case["treated_value"])
    compliance = draw(st.sampled_from(("one_sided",) * 3 + ("two_sided", "perfect", "none", "fractional")))
    if compliance == "one_sided":
        d = z * (rng.random(n) < 0.7)
    elif compliance == "two_sided":
        d = np.where(z == 1, rng.random(n) < 0.8, rng.random(n) < 0.2)
    elif compliance == "perfect":
        d = z.copy()
    elif compliance == "none":
        d = np.zeros(n)
    else:
        d = z * rng.uniform(0.2, 1.0, size=n)  # a dose, not 0/1
    take_up = pd.Series(d.astype(np.float64))
    if draw(rarely(3)):
        take_up = _spoil(take_up, "nan", rng, share=0.1)
    kind = draw(st.sampled_from(("numeric", "numeric", "binary", "categorical", "constant", "bool")))
    m_values = {
        "numeric": pd.Series(rng.normal(size=n) * 10 + 3),
        "binary": pd.Series(rng.integers(0, 2, size=n).astype(float)),
        "categorical": _labels(rng.integers(0, 3, size=n), "str"),
        "constant": pd.Series(np.full(n, 2.0)),
        "bool": pd.Series(rng.random(n) < 0.5),
    }[kind]
    if draw(rarely(3)):
        m_values = _spoil(m_values, draw(st.sampled_from(("nan", "none_obj"))), rng, share=0.1)
    n_levels = draw(st.sampled_from((2, 2, 3, 1)))
    group = _labels(rng.integers(0, n_levels, size=n), draw(st.sampled_from(("str", "int", "category"))))
    if draw(rarely(3)):
        group = _spoil(group, "nan", rng, share=0.1)
    # an outcome with attrition for bounds: missing more often in one arm (or, rarely, never missing)
    attrition = pd.Series(rng.normal(size=n) + 0.3 * z)
    share = draw(st.sampled_from((0.2, 0.4, 0.0, 0.9)))
    attrition[rng.random(n) < share * np.where(z == 1, 0.5, 1.0)] = np.nan
    for role, values in (("d", take_up), ("m", m_values), ("g", group), ("ya", attrition)):
        N[role] = _name_like(N, role)
        frame[N[role]] = values.to_numpy() if not isinstance(values.dtype, pd.CategoricalDtype) else values.array
    case.update(
        frame=frame,
        N=N,
        iv_inference=draw(st.sampled_from((None, "HC2", "CR2", "HC0", "classical"))),
        moderator_estimator=draw(st.sampled_from(("ols", "lin") * 3 + ("difference_in_means",))),
        bounds_method=draw(st.sampled_from(("lee", "manski"))),
        bounds_inference=draw(st.sampled_from(("analytic", "analytic", "bootstrap"))),
        support=draw(st.sampled_from((None, None, (-3.0, 3.0), (1.0, -1.0), (0.0, math.inf)))),
        sims=draw(st.sampled_from((3, 5, 1, 0))),
        effect=draw(st.sampled_from((0.2, 0.0, -1.0, math.nan))),
    )
    return case


def _design_kwargs(case: dict[str, Any]) -> dict[str, Any]:
    N, has = case["N"], case["has"]
    return {
        "blocks": N["block"] if "block" in has else None,
        "clusters": N["cluster"] if "cluster" in has else None,
        "weights": N["w"] if "w" in has else None,
        "treated_value": case["treated_value"],
        "assignment": _assignment(case["assignment"]),
    }


def _check_estimate(frame: pd.DataFrame) -> Any:
    def check(res: ek.Results) -> None:
        check_rows(res, len(frame), exact=True)
        check_numbers(res.to_frame(), res.notes, ("estimate", "std_error", "statistic", "p_value", "df"))

    return check


def _check_subgroups(n_rows: int) -> Any:
    """Each outcome's subgroup rows partition the rows not dropped (a row is in one subgroup at most)."""

    def check(res: ek.Results) -> None:
        table = res.to_frame()
        check_numbers(table, res.notes, ("estimate", "std_error", "p_value"))
        dropped = res.dropped
        for outcome, rows in table.groupby(table["outcome"].map(str), sort=False):
            per_group = rows.drop_duplicates("subgroup")["n_obs"].sum()
            # subgroups drop rows each on its own (the same reason may recur): sum them, do not dedupe by reason
            left = n_rows - int(dropped.loc[dropped["outcome"].map(str) == outcome, "n_dropped"].sum())
            assert per_group == left, f"{outcome}: subgroups hold {per_group} rows, {left} not dropped; {res.dropped}"

    return check


def _check_bounds(n_rows: int) -> Any:
    def check(b: Any) -> None:
        row = b.to_frame()
        check_numbers(row, b.notes, ("lower", "upper", "trim_share"), allow_nan_columns=("trim_share",))
        assert 0 <= b.n_observed <= b.n_obs <= n_rows, (b.n_observed, b.n_obs, n_rows)
        if np.isfinite(b.lower) and np.isfinite(b.upper):
            assert b.lower <= b.upper + 1e-9 * max(1.0, abs(b.lower), abs(b.upper)), (b.lower, b.upper)

    return check


def _check_diagnosis(d: Any) -> None:
    table = d.to_frame()
    numbers = [c for c in table.columns if pd.api.types.is_float_dtype(table[c].dtype)]
    check_numbers(table, d.notes, numbers)


@fuzz_settings(ci_examples=14)
@given(extension_cases())
def test_trial_extension_entry_points(case: dict[str, Any]) -> None:
    frame, N = case["frame"], case["N"]
    probe = Probe(frame)
    trial = probe.call("RandomizedTrial[ext]", lambda: ek.RandomizedTrial(frame, N["treat"], **_design_kwargs(case)))
    if trial is None:
        return
    outcomes = [N["y1"], N["y2"]]
    covariates = [N["x"]] if case["covariates"] else None
    inference = case["iv_inference"] if case["seed"] % 2 else case["inference"]
    probe.call(
        "estimate[iv]",
        lambda: trial.estimate(
            outcomes, estimator="iv", take_up=N["d"], covariates=covariates, inference=inference, alpha=case["alpha"]
        ),
        check=_check_estimate(frame),
    )
    probe.call(
        "estimate[moderators]",
        lambda: trial.estimate(
            outcomes,
            estimator=case["moderator_estimator"],
            covariates=covariates,
            moderators=[N["m"]],
            inference=case["inference"],
        ),
        check=_check_estimate(frame),
    )
    probe.call(
        "estimate[missing_covariates=indicator]",
        lambda: trial.estimate(
            outcomes, estimator="ols", covariates=[N["x"], N["y1_bl"]], missing_covariates="indicator"
        ),
        check=_check_estimate(frame),
    )
    probe.call(
        "estimate[attrition_weights]",
        lambda: trial.estimate(
            [N["ya"]], estimator="ols", covariates=covariates, attrition_weights=[N["y2_bl"]], inference=inference
        ),
        check=_check_estimate(frame),
    )
    probe.call(
        "trial.subgroups",
        lambda: trial.subgroups(outcomes, by=N["g"], estimator="difference_in_means" if case["seed"] % 3 else "ols"),
        check=_check_subgroups(len(frame)),
    )
    probe.call(
        "trial.bounds",
        lambda: trial.bounds(
            N["ya"],
            method=case["bounds_method"],
            support=case["support"] if case["bounds_method"] == "manski" else None,
            inference=case["bounds_inference"],
            reps=19,
            seed=case["seed"],
        ),
        check=_check_bounds(len(frame)),
    )
    if case["seed"] % 3 == 0 or PROFILE == "long":
        probe.call(
            "trial.diagnose",
            lambda: trial.diagnose(
                N["y2"],
                effect=case["effect"],
                sims=case["sims"],
                seed=case["seed"],
                estimator="difference_in_means" if case["seed"] % 2 else "ols",
                covariates=[N["x"]] if case["seed"] % 2 == 0 else None,
                progress=False,
            ),
            check=_check_diagnosis,
        )


# ---------------------------------------------------------------------------------------------------- planning
_HOSTILE_NUMBERS = (0, -1, 1, 2, 0.5, 1e-12, 1e12, math.nan, math.inf, -math.inf, True, "10", None)


@st.composite
def planning_cases(draw: st.DrawFn) -> dict[str, Any]:
    """Planning arguments: mostly sensible (so most calls get past validation), a few hostile ones."""

    def value(sensible: st.SearchStrategy[Any]) -> Any:
        return draw(st.sampled_from(_HOSTILE_NUMBERS)) if draw(rarely(12)) else draw(sensible)

    clustered = draw(st.booleans())
    kw: dict[str, Any] = {}
    if clustered:
        kw["n_clusters"] = value(st.integers(2, 400))
        kw["cluster_size"] = value(st.sampled_from((1, 5, 28, 2.5)))
        kw["icc"] = value(st.sampled_from((0.0, 0.07, 0.3, 0.99)))
        kw["r2_cluster"] = value(st.sampled_from((0.0, 0.3, 0.9)))
        kw["n_cluster_covariates"] = value(st.sampled_from((0, 1, 3)))
    elif draw(st.booleans()):
        kw["n_treated"] = value(st.integers(1, 500))
        kw["n_control"] = value(st.integers(1, 500))
    else:
        kw["n"] = value(st.integers(2, 2000))
        kw["share_treated"] = value(st.sampled_from((0.5, 1 / 3, 0.9)))
    if draw(rarely(2)):
        kw["n_blocks"] = value(st.integers(1, 20))
    for key, sensible in (
        ("r2_individual", st.sampled_from((0.0, 0.2, 0.5))),
        ("attrition", st.sampled_from((0.0, 0.1, 0.5))),
        ("take_up", st.sampled_from((1.0, 0.6, 0.2))),
        ("alpha", st.sampled_from((0.05, 0.1, 0.01))),
    ):
        if draw(st.booleans()):
            kw[key] = value(sensible)
    if draw(rarely(3)):
        kw["design"] = draw(st.sampled_from(("did", "did", "trial", "panel")))
        if kw["design"] == "did":
            kw["autocorrelation_individual"] = value(st.sampled_from((0.0, 0.5)))
    kw["method"] = draw(st.sampled_from(("exact", "exact", "multiplier")))
    kw["alternative"] = draw(st.sampled_from(("two-sided", "two-sided", "one-sided")))
    return {
        "kw": kw,
        "power": value(st.sampled_from((0.8, 0.9, 0.5))),
        "effect": value(st.sampled_from((0.1, 0.25, 0.0, 2.0))),
        "mde": value(st.sampled_from((0.1, 0.25, 1.0))),
    }


def _check_planning(result: Any) -> None:
    check_numbers(
        result.to_frame(), result.notes, ("mde", "power", "effect", "standard_error", "df"), allow_nan_columns=()
    )
    assert 0.0 <= result.power <= 1.0 or math.isnan(result.power), result.power
    if result.sample_size is not None:
        assert int(result.sample_size) == result.sample_size and result.sample_size >= 1, result.sample_size


@fuzz_settings(ci_examples=60)
@given(planning_cases())
def test_planning_entry_points(case: dict[str, Any]) -> None:
    kw = case["kw"]
    probe = Probe(pd.DataFrame({"unused": [0.0]}))
    probe.call("planning.mde", lambda: ek.planning.mde(**kw, power=case["power"]), check=_check_planning)
    probe.call("planning.power", lambda: ek.planning.power(case["effect"], **kw), check=_check_planning)
    sized = {k: v for k, v in kw.items() if k not in ("n_treated", "n_control", "n", "n_clusters")}
    probe.call(
        "planning.sample_size",
        lambda: ek.planning.sample_size(case["mde"], **sized, power=case["power"]),
        check=_check_planning,
    )
