"""Fuzz: randomized trials on hostile frames (issue 9). See _harness.py for the property checked."""

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
    check_rows,
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

_SPEC_FOR = {"none": "complete", "blocks": "block"}


@st.composite
def trial_cases(draw: st.DrawFn) -> dict[str, Any]:
    recipe = draw(recipes())
    rng = np.random.default_rng(recipe["seed"])
    n = draw(st.sampled_from((12, 20, 31, 8, 40, 1, 2, 3, 5)))
    structure = draw(st.sampled_from(("none", "blocks", "clusters", "block_clusters")))
    pattern = draw(st.sampled_from(("random",) * 6 + ("all_treated", "one_treated", "all_control", "unclustered")))
    single_unit_blocks = draw(rarely(4))
    n_blocks = n if single_unit_blocks else draw(st.integers(1, 4))
    n_clusters = draw(st.integers(1, max(1, min(8, n))))
    block = rng.integers(0, n_blocks, size=n) if structure in ("blocks", "block_clusters") else None
    cluster = rng.integers(0, n_clusters, size=n) if structure in ("clusters", "block_clusters") else None
    if cluster is not None and block is not None:  # clusters nested in blocks
        cluster = cluster * n_blocks + block
    unit_of_assignment = cluster if cluster is not None else np.arange(n)
    z_unit = rng.permutation(np.arange(int(unit_of_assignment.max()) + 1) % 2)  # both arms when possible
    z = z_unit[unit_of_assignment] if n else np.zeros(0, dtype=int)
    if pattern == "all_treated":
        z = np.ones(n, dtype=int)
    elif pattern == "all_control":
        z = np.zeros(n, dtype=int)
    elif pattern == "one_treated":
        z = (np.arange(n) == 0).astype(int)
    elif pattern == "unclustered":
        z = rng.integers(0, 2, size=n)
    z_dtype = draw(st.sampled_from(("int64",) * len(TREATMENT_DTYPES) + TREATMENT_DTYPES))
    treat, treated_value = _treatment(z, z_dtype)
    y = rng.normal(size=(4, n)) + 0.5 * z
    if recipe["constant_outcome"]:
        y[0] = 3.0
    cols: dict[str, pd.Series] = {
        "y1": _numbers(y[0], recipe["outcome_dtype"], recipe, rng),
        "y2": _numbers(y[1], "float64", recipe, rng),
        "y1_bl": _numbers(
            y[2], recipe["covariate_dtype"] if recipe["covariate_dtype"] != "bool" else "float64", recipe, rng
        ),
        "y2_bl": _numbers(y[3], "float64", recipe, rng),
        "x": _numbers(rng.normal(size=n), recipe["covariate_dtype"], recipe, rng),
        "treat": treat,
    }
    if block is not None:
        cols["block"] = _labels(block, recipe["label_dtype"])
    if cluster is not None:
        cols["cluster"] = _labels(cluster, recipe["label_dtype"])
    w = weights_column(recipe["weights"], n, rng)
    if w is not None:
        cols["w"] = w
    where = recipe["missing_in"]
    targets = {
        "outcome": ["y1"],
        "covariate": ["x", "y1_bl"],
        "role": [c for c in ("treat", "block", "cluster") if c in cols][: 1 + (recipe["seed"] % 3)],
        "weights": ["w"] if "w" in cols else [],
        "everything": list(cols),
    }[where]
    for c in targets:
        cols[c] = _spoil(cols[c], recipe["missing"], rng)
    frame = assemble(cols, recipe, rng)
    names = names_for(recipe["names"], list(cols))
    return {
        "frame": frame,
        "N": names,
        "treated_value": treated_value,
        "has": set(cols),
        "estimator": draw(st.sampled_from(("difference_in_means", "ols", "lin", "change"))),
        "covariates": draw(st.booleans()),
        "inference": inference_options(draw, cluster is not None, True),
        "assignment": draw(st.sampled_from((None, None, None, "not", _SPEC_FOR.get(structure, "cluster")))),
        "seed": draw(st.integers(0, 10_000)),
        "alpha": draw(st.sampled_from((0.05, 0.1, 0.5))),
    }


def _assignment(kind: str | None) -> Any:
    return {
        None: None,
        "not": ek.NotRandomized(),
        "complete": ek.CompleteRandomization(),
        "block": ek.BlockRandomization(),
        "cluster": ek.ClusterRandomization(),
    }[kind]


@fuzz_settings(ci_examples=45)
@given(trial_cases())
def test_randomized_trial_entry_points(case: dict[str, Any]) -> None:
    frame, N = case["frame"], case["N"]
    probe = Probe(frame)
    has = case["has"]
    kwargs = {
        "blocks": N["block"] if "block" in has else None,
        "clusters": N["cluster"] if "cluster" in has else None,
        "weights": N["w"] if "w" in has else None,
        "treated_value": case["treated_value"],
        "assignment": _assignment(case["assignment"]),
    }
    trial = probe.call("RandomizedTrial", lambda: ek.RandomizedTrial(frame, N["treat"], **kwargs))
    if trial is None:
        return
    outcomes = [N["y1"], N["y2"]]
    covariates = [N["x"]] if case["covariates"] else None
    baseline = {N["y1"]: N["y1_bl"], N["y2"]: N["y2_bl"]} if case["estimator"] == "change" else None
    res = probe.call(
        "RandomizedTrial.estimate",
        lambda: trial.estimate(
            outcomes,
            estimator=case["estimator"],
            covariates=covariates,
            inference=case["inference"],
            baseline=baseline,
            alpha=case["alpha"],
        ),
        check=lambda r: check_rows(r, len(frame), exact=True),
    )
    results_methods(probe, res, "trial.Results", case["seed"])
    balance = probe.call("RandomizedTrial.balance", lambda: trial.balance([N["x"], N["y1_bl"]]))
    balance_methods(probe, balance, case["seed"])
    probe.call("RandomizedTrial.attrition", lambda: trial.attrition(outcomes, covariates=covariates))
    probe.call("RandomizedTrial.draw_assignment", lambda: trial.draw_assignment(case["seed"]))
    indexed = probe.call(
        "RandomizedTrial.with_index",
        lambda: trial.with_index("fuzz_index", outcomes, method="anderson" if case["seed"] % 2 else "klk"),
    )
    if indexed is not None:
        probe.call(
            "with_index.estimate",
            lambda: indexed.estimate("fuzz_index"),
            check=lambda r: check_rows(r, len(frame), exact=True),
        )


@st.composite
def assign_cases(draw: st.DrawFn) -> dict[str, Any]:
    recipe = draw(recipes())
    rng = np.random.default_rng(recipe["seed"])
    n = draw(st.sampled_from((12, 20, 31, 60, 8, 1, 2, 3, 5)))
    cols: dict[str, pd.Series] = {"id": pd.Series(np.arange(n))}
    kind = draw(st.sampled_from(("complete", "block", "cluster", "block_cluster")))
    mismatch = draw(rarely(5))  # roles that do not fit the spec
    block = rng.integers(0, draw(st.integers(1, 5)), size=n)
    cluster = rng.integers(0, draw(st.integers(1, 9)), size=n)
    if (kind in ("block", "block_cluster")) != mismatch:
        cols["block"] = _labels(block, recipe["label_dtype"])
    if (kind in ("cluster", "block_cluster")) != mismatch:
        cols["cluster"] = _labels(cluster * 5 + block if "block" in cols else cluster, recipe["label_dtype"])
    if recipe["missing_in"] in ("role", "everything"):
        for c in [c for c in ("block", "cluster") if c in cols]:
            cols[c] = _spoil(cols[c], recipe["missing"], rng)
    frame = assemble(cols, recipe, rng)
    how = draw(
        st.one_of(
            st.builds(lambda k: {"n_treated": k}, st.sampled_from((1, 2, 3, -1, 0, 70))),
            st.builds(lambda s: {"share": s}, st.sampled_from((0.5, 0.5, 2 / 3, 1 / 3, 0.0, 1e-9, 1.0, 1.5))),
        )
    )
    return {
        "frame": frame,
        "N": names_for(recipe["names"], list(cols)),
        "has": set(cols),
        "kind": kind,
        "how": how,
        "seed": draw(st.integers(0, 10_000)),
    }


@fuzz_settings(ci_examples=40)
@given(assign_cases())
def test_assign_entry_point(case: dict[str, Any]) -> None:
    frame, N, has = case["frame"], case["N"], case["has"]
    spec_type = {
        "complete": ek.CompleteRandomization,
        "block": ek.BlockRandomization,
        "cluster": ek.ClusterRandomization,
        "block_cluster": ek.BlockClusterRandomization,
    }[case["kind"]]
    probe = Probe(frame)

    def run() -> Any:
        spec = spec_type(**case["how"])
        return ek.assign(
            frame,
            spec,
            blocks=N["block"] if "block" in has else None,
            clusters=N["cluster"] if "cluster" in has else None,
            seed=case["seed"],
        )

    def check(out: Any) -> None:
        z = out.treatment
        assert len(z) == len(frame) and z.index.equals(frame.index), "assignment not aligned with the data"
        assert z.dtype == bool

    probe.call("assign", run, check=check)
