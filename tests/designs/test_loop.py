"""The one estimation loop: trials and DiD share it, and what it returns is immutable all the way down."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import evalkit as ek
from evalkit.results import RESULT_COLUMNS

DESIGNS = Path(ek.__file__).parent / "designs"


def _trial(seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    z = rng.permutation(np.r_[np.ones(15), np.zeros(15)])
    x = rng.normal(size=30)
    return pd.DataFrame({"z": z, "x": x, "y": 0.4 * z + x + rng.normal(size=30), "y2": rng.normal(size=30)})


def _panel(seed: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(24), 4)
    wave = np.tile(np.arange(4), 24)
    d = ((unit < 12) & (wave >= 2)).astype(int)
    return pd.DataFrame({"u": unit, "t": wave, "d": d, "y": rng.normal(size=unit.size)[unit] + 0.5 * d})


def _calls(name: str) -> set[str]:
    tree = ast.parse((DESIGNS / name).read_text())
    return {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}


def test_designs_run_the_same_loop_and_table_builder():
    # STRUCTURE: the per-outcome loop lives once (designs/_loop.py); trial and DiD call estimate_each, every design
    # builds its Results through assemble_results, and none constructs a Results itself.
    for name in ("_outcomes.py", "did.py"):
        assert {"estimate_each", "assemble_results"} <= _calls(name), name
    assert {"tidy_table", "assemble_results"} <= _calls("staggered.py")
    for path in DESIGNS.rglob("*.py"):
        if path.name != "_loop.py":
            assert "Results" not in _calls(path.name) if path.parent == DESIGNS else True, path.name


@pytest.mark.parametrize("make", ["trial", "did"])
def test_contract_columns_come_first_in_order(make):
    if make == "trial":
        res = ek.RandomizedTrial(_trial(), treatment="z").estimate(["y", "y2"], covariates=["x"], estimator="ols")
    else:
        res = ek.DiffInDiff(_panel(), treatment="d", unit="u", time="t").estimate("y")
    columns = list(res.to_frame().columns)
    assert columns[: len(RESULT_COLUMNS)] == list(RESULT_COLUMNS)


def test_results_are_read_only_all_the_way_down():
    res = ek.RandomizedTrial(_trial(), treatment="z").estimate(
        "y", inference=ek.inference.RandomizationInference(reps=200, seed=1)
    )
    of = res.fits["y"]
    for array in (of.fit.X, of.fit.y, of.fit.residuals, of.fit.coef, of.rows, of.inference["null_statistics"]):
        assert not array.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 0
    with pytest.raises(TypeError):
        of.inference["null_statistics"] = None  # type: ignore[index]
    # the caller's data are untouched and still writable
    data = _trial()
    before = data.copy()
    ek.RandomizedTrial(data, treatment="z").estimate("y")
    pd.testing.assert_frame_equal(data, before)
    data.loc[0, "y"] = 1.0


def test_building_results_leaves_the_callers_inference_object_alone():
    # Reviewer's reproduction: a custom method holding a dict and an array, reused for a second estimate().
    from dataclasses import dataclass, field

    from evalkit.inference import InferenceMethod
    from evalkit.inference._base import InferenceOutcome

    @dataclass(frozen=True)
    class Counting(InferenceMethod):
        calls: dict = field(default_factory=dict)
        weights: np.ndarray = field(default_factory=lambda: np.ones(3))
        name = "counting"

        def infer(self, fit, ctx):
            self.calls["n"] = self.calls.get("n", 0) + 1
            return InferenceOutcome(1.0, 0.0, 1.0, -1.0, 1.0, np.inf, None, "counting")

    method = Counting()
    trial = ek.RandomizedTrial(_trial(), treatment="z")
    trial.estimate("y", inference=method)
    trial.estimate("y", inference=method)  # was TypeError: 'mappingproxy' object does not support item assignment
    assert method.calls == {"n": 2}
    assert method.weights.flags.writeable
