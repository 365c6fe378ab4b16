"""The evalkit.designs.assignment package: same draws as before the split, same import paths, no import cycle.

The expected draws below were recorded from commit c9c74f2, before designs/assignment.py was split into a
package (and rerandomization.py moved into it), by running the same calls on that commit. They pin the random
stream bit for bit: a refactor that changes which uniform decides which unit fails here. Rows are written as
0/1 strings, one character per observation.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import evalkit
from evalkit.designs.assignment import (
    BlockClusterRandomization,
    BlockRandomization,
    ClusterRandomization,
    CompleteRandomization,
    assign,
    from_observed,
)
from evalkit.designs.rerandomization import Rerandomization

SEED = 20240101
BLOCKS = np.repeat(["a", "b", "c"], [4, 6, 10])  # blocks of 4 and 6 are ranked pairwise, 10 is argsorted
CLUSTERS = np.repeat(np.arange(12), [1, 2, 3, 1, 2, 2, 1, 3, 2, 1, 1, 1])  # 12 clusters, 20 observations
CLUSTER_BLOCKS = np.repeat(["x", "y", "z"], [6, 9, 5])  # clusters 0-2 in x, 3-7 in y, 8-11 in z


def _rows(draws: np.ndarray) -> list[str]:
    return ["".join("1" if v else "0" for v in row) for row in np.atleast_2d(np.asarray(draws))]


def _bound(name: str):
    if name == "complete_n":
        return CompleteRandomization(n_treated=7).bind(16)
    if name == "complete_share":  # 15 * 0.3 = 4.5: the number treated is rounded at random
        return CompleteRandomization(share=0.3).bind(15)
    if name == "blocked_n":
        return BlockRandomization(n_treated={"a": 1, "b": 2, "c": 4}).bind(blocks=BLOCKS)
    if name == "blocked_share":
        return BlockRandomization(share=0.35).bind(blocks=BLOCKS)
    if name == "cluster":
        return ClusterRandomization(n_treated=5).bind(clusters=CLUSTERS)
    return BlockClusterRandomization(n_treated=1).bind(blocks=CLUSTER_BLOCKS, clusters=CLUSTERS)


def _covariates() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    return pd.DataFrame({"x0": rng.normal(size=20), "x1": rng.normal(size=20)})


# Recorded from commit c9c74f2 (before the split): bound.draw(np.random.default_rng(20240101), 4) and
# bound.generate(7) (treatment, record.treated_counts). Exact (bit-identical draws; no tolerance).
RECORDED = {
    "complete_n": (
        ["0111000101010010", "0010001010111001", "0000001011110011", "0100100011110001"],
        "0001101000111100",
        (7,),
    ),
    "complete_share": (
        ["010100010001001", "000100000100110", "000000001001110", "011010000001010"],
        "000100100001100",
        (4,),
    ),
    "blocked_n": (
        ["00010110000001001101", "00010010010000001111", "00011000011001000101", "00100100100100010011"],
        "00011010001111000000",
        (1, 2, 4),
    ),
    "blocked_share": (
        ["00010010100100100011", "00010110001100010001", "01010101000101000100", "00101000011110000100"],
        "10010100011000000011",
        (2, 2, 3),
    ),
    "cluster": (
        ["01100010000011100101", "00011100011111100010", "10011111100000000100", "00011100000111100011"],
        "00000011100100000011",
        (5,),
    ),
    "blocked_cluster": (
        ["01100010000000000010", "10000010000000000010", "01100010000000000010", "00011100000100000001"],
        "10000000000011100001",
        (1, 1, 1),
    ),
}


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_draws_and_generated_assignment_match_the_code_before_the_split(name: str) -> None:
    draws, generated, treated_counts = RECORDED[name]
    bound = _bound(name)
    assert _rows(bound.draw(np.random.default_rng(SEED), 4)) == draws
    out = bound.generate(7)
    assert _rows(out.treatment) == [generated]
    assert out.record.treated_counts == treated_counts
    assert out.record.seed == 7


def test_from_observed_enumerate_and_assign_match_the_code_before_the_split() -> None:
    # Recorded from commit c9c74f2 (before the split); exact.
    observed = np.array([1, 0, 0, 1, 0, 1, 1, 0, 0, 1, 0, 0, 1, 1, 0, 0, 1, 0, 1, 0])
    bound = from_observed(observed, blocks=BLOCKS)
    assert _rows(bound.draw(np.random.default_rng(3), 3)) == [
        "11001100100100101001",
        "10010110100100100101",
        "01100110100101010001",
    ]
    # itertools.combinations order (also the documented order of enumerate)
    assert _rows(CompleteRandomization(n_treated=2).bind(5).enumerate()) == [
        "11000", "10100", "10010", "10001", "01100", "01010", "01001", "00110", "00101", "00011"
    ]  # fmt: skip
    data = pd.DataFrame({"g": CLUSTER_BLOCKS, "c": CLUSTERS})
    out = assign(data, BlockClusterRandomization(share=0.5), blocks="g", clusters="c", seed=11)
    assert _rows(out.treatment.to_numpy()) == ["11100001111100000011"]
    assert out.record.treated_counts == (2, 3, 2)


def test_rerandomization_matches_the_code_before_the_split() -> None:
    # Recorded from commit c9c74f2 (before the split). Draws and counts exact; the distance to 1e-12 relative
    # (one BLAS matrix product; bit-identical on the recording machine).
    x = _covariates()
    bound = Rerandomization(CompleteRandomization(n_treated=8), ["x0", "x1"], acceptance=0.2).bind(20, data=x)
    assert _rows(bound.draw(np.random.default_rng(SEED), 3)) == [
        "00101011100001010010",
        "10000001000101101011",
        "10111001001100001000",
    ]
    out = bound.generate(9)
    assert _rows(out.treatment) == ["01000000111110001010"]
    assert out.record.distance == pytest.approx(0.3031266378481742, rel=1e-12)
    assert out.record.n_draws == 1
    assert bound.count() == 23664
    # exact probabilities: (number of acceptable assignments treating the unit) / 23664, recorded at c9c74f2
    np.testing.assert_allclose(
        bound.probabilities()[:6], np.array([9631, 9283, 9678, 9682, 9338, 9340]) / 23664, rtol=1e-14
    )
    blocked = Rerandomization(BlockRandomization(n_treated=2), ["x0"], acceptance=0.3).bind(data=x, blocks=BLOCKS)
    assert blocked.count() == 1191
    assert _rows(blocked.draw(np.random.default_rng(1), 3)) == [
        "10010010101010000000",
        "10101010000000100001",
        "00111001000010001000",
    ]


# ----------------------------------------------------------------------------------------------------
# every public name stays where it was
# ----------------------------------------------------------------------------------------------------

# The public names of the two modules at commit c9c74f2 (their __all__, plus rerandomization's documented
# constants), and the assignment names evalkit exports at the top level.
ASSIGNMENT_NAMES = [
    "AssignmentMethod",
    "AssignmentRecord",
    "AssignmentSpec",
    "BlockClusterRandomization",
    "BlockRandomization",
    "BoundAssignment",
    "ClusterRandomization",
    "CompleteRandomization",
    "GeneratedAssignment",
    "NotRandomized",
    "assign",
    "from_observed",
]
RERANDOMIZATION_ALL = ["BoundRerandomization", "Criterion", "Rerandomization", "RerandomizationRecord"]
RERANDOMIZATION_CONSTANTS = {"EXACT_LIMIT": 10**6, "MC_DRAWS": 10_000, "MC_SEED": 20120801}
TOP_LEVEL = [
    "BlockClusterRandomization",
    "BlockRandomization",
    "ClusterRandomization",
    "CompleteRandomization",
    "NotRandomized",
    "Rerandomization",
    "assign",
]


def test_public_names_are_importable_from_their_former_homes_and_are_the_new_objects() -> None:
    old = importlib.import_module("evalkit.designs.assignment")
    assert sorted(old.__all__) == ASSIGNMENT_NAMES
    for name in ASSIGNMENT_NAMES:
        obj = getattr(old, name)
        home = getattr(obj, "__module__", None)
        if home is not None and home.startswith("evalkit.designs.assignment."):
            assert getattr(importlib.import_module(home), name) is obj, name
    new = importlib.import_module("evalkit.designs.assignment.rerandomization")
    shim = importlib.import_module("evalkit.designs.rerandomization")
    assert sorted(shim.__all__) == RERANDOMIZATION_ALL
    for name in RERANDOMIZATION_ALL:
        assert getattr(shim, name) is getattr(new, name), name
    for name, value in RERANDOMIZATION_CONSTANTS.items():
        assert getattr(shim, name) == getattr(new, name) == value, name
    for name in TOP_LEVEL:
        assert name in evalkit.__all__
        source = new if name == "Rerandomization" else old
        assert getattr(evalkit, name) is getattr(source, name), name


# ----------------------------------------------------------------------------------------------------
# structure: no private names across modules, no import cycle
# ----------------------------------------------------------------------------------------------------

PACKAGE = "evalkit.designs.assignment"
PACKAGE_DIR = Path(evalkit.__file__).parent / "designs" / "assignment"


def _runtime_imports(tree: ast.Module) -> list[ast.ImportFrom | ast.Import]:
    """Module-level imports that run at import time (those in ``if TYPE_CHECKING:`` blocks never run)."""
    return [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]


def _modules() -> dict[str, ast.Module]:
    return {
        (PACKAGE if path.stem == "__init__" else f"{PACKAGE}.{path.stem}"): ast.parse(path.read_text())
        for path in sorted(PACKAGE_DIR.glob("*.py"))
    }


def _private(name: str) -> bool:
    """``_helper`` is private; a dunder such as ``__version__`` is not."""
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_no_module_imports_a_private_name_of_another() -> None:
    modules = _modules()
    modules["evalkit.designs.rerandomization"] = ast.parse((PACKAGE_DIR.parent / "rerandomization.py").read_text())
    offending = []
    for name, tree in modules.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("evalkit"):
                offending += [f"{name}: from {node.module} import {a.name}" for a in node.names if _private(a.name)]
    assert offending == []


def test_modules_import_each_other_one_way_only_and_never_lazily() -> None:
    modules = _modules()
    expected = {"_base", "spec", "bound", "complete", "blocked", "cluster", "not_randomized", "convenience"}
    assert {f"{PACKAGE}.{m}" for m in [*expected, "rerandomization"]} | {PACKAGE} <= set(modules)
    graph: dict[str, set[str]] = {}
    for name, tree in modules.items():
        graph[name] = {
            node.module
            for node in _runtime_imports(tree)
            if isinstance(node, ast.ImportFrom) and node.module in modules and node.module != name
        }
        # imports inside functions or classes hide cycles; none may reach into the designs
        lazy = [
            node.module
            for top in tree.body
            if isinstance(top, (ast.FunctionDef, ast.ClassDef))
            for node in ast.walk(top)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("evalkit.designs")
        ]
        lazy += [
            alias.name
            for top in tree.body
            if isinstance(top, (ast.FunctionDef, ast.ClassDef))
            for node in ast.walk(top)
            if isinstance(node, ast.Import)
            for alias in node.names
            if alias.name.startswith("evalkit.designs")
        ]
        assert lazy == [], f"{name} imports {lazy} inside a function"
    # depth-first search for a cycle
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*path, node, nxt]))
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [])
    # the package __init__ imports the modules, none imports the package __init__ back
    assert all(PACKAGE not in deps for name, deps in graph.items() if name != PACKAGE)
