"""The InferenceMethod protocol: one way for a design to ask any inference method, and one default per design."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import evalkit as ek
from evalkit.errors import InferenceError
from evalkit.inference import InferenceMethod, RandomizationInference, Sandwich, WildClusterBootstrap
from evalkit.inference._base import InferenceOutcome

DESIGNS = Path(ek.__file__).parent / "designs"


def _trial(seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    z = rng.permutation(np.r_[np.ones(20), np.zeros(20)])
    return pd.DataFrame({"z": z, "y": 0.5 * z + rng.normal(size=40), "g": np.repeat(np.arange(10), 4)})


def test_every_method_follows_the_protocol():
    for method in (Sandwich("CR2"), RandomizationInference(reps=99, seed=1), WildClusterBootstrap(reps=99, seed=1)):
        assert isinstance(method, InferenceMethod)
    assert Sandwich("HC1").sandwich_type == "HC1"
    assert RandomizationInference(reps=99, seed=1).sandwich_type is None


def test_an_object_that_is_not_a_method_is_refused_by_name():
    trial = ek.RandomizedTrial(_trial(), treatment="z")
    with pytest.raises(InferenceError, match="inference=42 is not understood"):
        trial.estimate("y", inference=42)


def test_a_new_method_plugs_in_by_implementing_infer():
    @dataclass(frozen=True)
    class Constant(InferenceMethod):
        name = "constant"

        def infer(self, fit, ctx):
            return InferenceOutcome(1.0, fit.estimate, 0.5, -1.0, 1.0, np.inf, None, "constant")

    res = ek.RandomizedTrial(_trial(), treatment="z").estimate("y", inference=Constant())
    row = res.to_frame().iloc[0]
    assert (row["std_error"], row["p_value"], row["inference"]) == (1.0, 0.5, "constant")


def test_defaults_are_stated_by_the_design_with_their_reason():
    data = _trial()
    plain = ek.RandomizedTrial(data, treatment="z").estimate("y")
    assert plain.to_frame()["inference"].iloc[0].startswith("HC2")
    assert any(n.startswith("Inference defaulted to HC2") for n in plain.notes)
    clustered = ek.RandomizedTrial(data.assign(z=data.g % 2), treatment="z", clusters="g").estimate("y")
    assert clustered.to_frame()["inference"].iloc[0].startswith("CR2")
    assert any(n.startswith("Inference defaulted to CR2") for n in clustered.notes)
    chosen = ek.RandomizedTrial(data, treatment="z").estimate("y", inference="HC1")
    assert not any("defaulted" in n for n in chosen.notes)


def test_designs_do_not_branch_on_the_type_of_inference_method():
    # STRUCTURE: designs ask every method through the protocol (InferenceMethod, or InfluenceInference for
    # StaggeredDiD's influence functions); no isinstance / hasattr on inference objects, staggered.py included.
    names = {
        "Sandwich",
        "RandomizationInference",
        "WildClusterBootstrap",
        "InferenceMethod",
        "MultiplierBootstrap",
        "AnalyticInfluence",
        "InfluenceInference",
    }
    offending = []
    paths = list(DESIGNS.rglob("*.py"))
    assert "staggered.py" in {p.name for p in paths}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("isinstance", "hasattr"):
                args = ast.unparse(node)
                if any(n in args for n in names) or "infer" in args:
                    offending.append(f"{path.name}: {args}")
    assert offending == []
