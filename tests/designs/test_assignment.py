"""Tests of evalkit.designs.assignment: counts against closed forms, properties of draws, refusals."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Hashable

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import evalkit
from evalkit.designs.assignment import (
    AssignmentRecord,
    AssignmentSpec,
    BlockClusterRandomization,
    BlockRandomization,
    BoundAssignment,
    ClusterRandomization,
    CompleteRandomization,
    GeneratedAssignment,
    NotRandomized,
    assign,
    from_observed,
)
from evalkit.errors import ColumnNotFoundError, DataError, DesignError, EvalkitError, OptionError

# ----------------------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------------------


def _unit_counts(
    draws: np.ndarray, blocks: np.ndarray | None, clusters: np.ndarray | None
) -> dict[Hashable, np.ndarray]:
    """Treated units of assignment per block in each row of ``draws`` (computed independently, with pandas)."""
    n_obs = draws.shape[1]
    frame = pd.DataFrame(
        {
            "block": blocks if blocks is not None else np.zeros(n_obs, dtype=int),
            "unit": clusters if clusters is not None else np.arange(n_obs),
        }
    )
    first = frame.drop_duplicates("unit")
    return {b: draws[:, g.index.to_numpy()].sum(axis=1) for b, g in first.groupby("block", sort=False)}


def _assert_constant_within_clusters(draws: np.ndarray, clusters: np.ndarray) -> None:
    codes, _ = pd.factorize(clusters)
    first = pd.Series(np.arange(codes.size)).groupby(codes).transform("first").to_numpy()
    np.testing.assert_array_equal(draws, draws[:, first])


def _distinct_rows(rows: np.ndarray) -> int:
    return np.unique(np.packbits(rows, axis=1), axis=0).shape[0]


# ----------------------------------------------------------------------------------------------------
# specs
# ----------------------------------------------------------------------------------------------------


def test_methods() -> None:
    assert CompleteRandomization(n_treated=2).method == "complete"
    assert BlockRandomization().method == "blocked"
    assert ClusterRandomization().method == "cluster"
    assert BlockClusterRandomization().method == "blocked-cluster"
    assert NotRandomized().method == "not randomized"
    assert isinstance(NotRandomized(), AssignmentSpec)


def test_specs_are_frozen_and_hashable() -> None:
    spec = BlockRandomization(n_treated={"a": 1, "b": 2})
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.share = 0.5  # type: ignore[misc]
    with pytest.raises(TypeError):
        spec.n_treated["a"] = 3  # type: ignore[index]
    assert spec == BlockRandomization(n_treated={"b": 2, "a": 1})
    assert hash(spec) == hash(BlockRandomization(n_treated={"b": 2, "a": 1}))
    assert len({CompleteRandomization(n_treated=3), CompleteRandomization(n_treated=3)}) == 1
    assert CompleteRandomization(n_treated=np.int64(3)).n_treated == 3


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_treated": 3, "share": 0.5}, "not both"),
        ({"n_treated": 0}, "n_treated=0 must be at least 1"),
        ({"n_treated": 2.5}, r"n_treated=2\.5 must be a whole number"),
        ({"n_treated": True}, "n_treated=True must be a whole number"),
        ({"share": 1.0}, r"share=1\.0 must be strictly between 0 and 1"),
        ({"share": 0}, "share=0 must be strictly between 0 and 1"),
        ({"share": "half"}, "share='half' must be a number"),
    ],
)
def test_spec_validation(kwargs: dict, match: str) -> None:
    with pytest.raises(DesignError, match=match):
        CompleteRandomization(**kwargs)


def test_spec_validation_mappings() -> None:
    with pytest.raises(DesignError, match="not a mapping"):
        CompleteRandomization(n_treated={"a": 1})  # type: ignore[arg-type]
    with pytest.raises(DesignError, match="not a mapping"):
        ClusterRandomization(n_treated={"a": 1})  # type: ignore[arg-type]
    with pytest.raises(DesignError, match=r"n_treated\['hp2'\]=0 must be at least 1"):
        BlockRandomization(n_treated={"hp1": 1, "hp2": 0})
    with pytest.raises(DesignError, match="empty mapping"):
        BlockClusterRandomization(n_treated={})


def test_errors_are_evalkit_and_value_errors() -> None:
    with pytest.raises(EvalkitError):
        CompleteRandomization(n_treated=0)
    with pytest.raises(ValueError):
        CompleteRandomization(n_treated=0)


# ----------------------------------------------------------------------------------------------------
# count and enumerate against closed forms
# ----------------------------------------------------------------------------------------------------


def test_count_complete() -> None:
    # C(8, 4) = 70 (Gerber & Green 2012, sec. 2.7: 8 units, 4 treated)
    bound = CompleteRandomization(n_treated=4).bind(8)
    assert bound.count() == 70
    # C(60, 41) = 60! / (41! 19!) = 2_044_802_197_953_900 (exact integer; factorial formula, also
    # scipy.special.comb(60, 41, exact=True))
    big = CompleteRandomization(n_treated=41).bind(60)
    assert big.count() == math.factorial(60) // (math.factorial(41) * math.factorial(19)) == 2_044_802_197_953_900
    assert isinstance(big.count(), int)


def test_count_from_share_and_observed() -> None:
    # share 0.25 of 8 -> 2 treated; C(8, 2) = 28
    assert CompleteRandomization(share=0.25).bind(8).count() == 28
    # observed: 3 of 7 treated; C(7, 3) = 35
    assert CompleteRandomization().bind(observed=[1, 0, 1, 0, 0, 1, 0]).count() == 35


def test_count_and_enumerate_blocked() -> None:
    blocks = np.array(["hp1"] * 4 + ["hp2"] * 6)
    bound = BlockRandomization(n_treated={"hp1": 2, "hp2": 3}).bind(blocks=blocks)
    # C(4, 2) * C(6, 3) = 6 * 20 = 120
    assert bound.count() == 120
    rows = bound.enumerate()
    assert rows.shape == (120, 10) and rows.dtype == bool
    assert _distinct_rows(rows) == 120
    counts = _unit_counts(rows, blocks, None)
    assert np.all(counts["hp1"] == 2) and np.all(counts["hp2"] == 3)
    # every assignment once => the mean over assignments is each unit's probability
    np.testing.assert_allclose(rows.mean(axis=0), bound.probabilities(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(bound.probabilities(), [0.5] * 4 + [0.5] * 6)
    assert bound.n_treated_per_block == {"hp1": 2, "hp2": 3}
    assert bound.units_per_block == {"hp1": 4, "hp2": 6}


def test_count_and_enumerate_cluster() -> None:
    clusters = np.array([10, 10, 20, 30, 30, 30, 40, 50, 50, 60])  # 6 clusters of sizes 2,1,3,1,2,1
    bound = ClusterRandomization(n_treated=2).bind(clusters=clusters)
    # C(6, 2) = 15
    assert bound.count() == 15
    assert bound.n_units == 6 and bound.n_obs == 10
    rows = bound.enumerate()
    assert rows.shape == (15, 10) and _distinct_rows(rows) == 15
    _assert_constant_within_clusters(rows, clusters)
    assert np.all(_unit_counts(rows, None, clusters)[0] == 2)
    np.testing.assert_allclose(bound.probabilities(), np.full(10, 2 / 6))


def test_count_and_enumerate_blocked_cluster() -> None:
    blocks = np.array(["A"] * 7 + ["B"] * 4)
    clusters = np.array(["a1", "a1", "a2", "a3", "a3", "a4", "a4", "b1", "b2", "b2", "b3"])
    bound = BlockClusterRandomization(n_treated={"A": 2, "B": 1}).bind(blocks=blocks, clusters=clusters)
    # C(4, 2) * C(3, 1) = 6 * 3 = 18
    assert bound.count() == 18
    rows = bound.enumerate()
    assert rows.shape == (18, 11) and _distinct_rows(rows) == 18
    _assert_constant_within_clusters(rows, clusters)
    counts = _unit_counts(rows, blocks, clusters)
    assert np.all(counts["A"] == 2) and np.all(counts["B"] == 1)
    np.testing.assert_allclose(bound.probabilities(), [2 / 4] * 7 + [1 / 3] * 4)
    np.testing.assert_allclose(rows.mean(axis=0), bound.probabilities(), atol=1e-12)


def test_enumerate_max_count() -> None:
    bound = CompleteRandomization(n_treated=41).bind(60)
    with pytest.raises(DesignError, match="2,044,802,197,953,900 possible assignments.*max_count=10,000"):
        bound.enumerate(max_count=10_000)
    small = CompleteRandomization(n_treated=4).bind(8)
    assert small.enumerate(max_count=70).shape == (70, 8)


# ----------------------------------------------------------------------------------------------------
# properties of draws (hypothesis)
# ----------------------------------------------------------------------------------------------------


@st.composite
def designs(draw: st.DrawFn) -> tuple[BoundAssignment, np.ndarray | None, np.ndarray | None, dict, dict]:
    blocked = draw(st.booleans())
    clustered = draw(st.booleans())
    n_blocks = draw(st.integers(2, 4)) if blocked else 1
    int_labels = draw(st.booleans())
    blocks: list = []
    clusters: list = []
    m: dict = {}
    units: dict = {}
    for b in range(n_blocks):
        label = 100 + b if int_labels else f"hp{b}"
        n_units = draw(st.integers(2, 6))
        m[label] = draw(st.integers(1, n_units - 1))
        units[label] = n_units
        for u in range(n_units):
            size = draw(st.integers(1, 3)) if clustered else 1
            blocks += [label] * size
            clusters += [f"c{b}_{u}"] * size
    perm = np.array(draw(st.permutations(range(len(blocks)))))
    blocks_arr = np.array(blocks, dtype=object)[perm]
    clusters_arr = np.array(clusters, dtype=object)[perm]
    if blocked and clustered:
        spec: AssignmentSpec = BlockClusterRandomization(n_treated=m)
    elif blocked:
        spec = BlockRandomization(n_treated=m)
    elif clustered:
        spec = ClusterRandomization(n_treated=next(iter(m.values())))
    else:
        spec = CompleteRandomization(n_treated=next(iter(m.values())))
    bound = spec.bind(blocks=blocks_arr, clusters=clusters_arr)
    return (
        bound,
        blocks_arr if blocked else None,
        clusters_arr if clustered else None,
        m if blocked else {None: next(iter(m.values()))},
        units if blocked else {None: next(iter(units.values()))},
    )


@settings(max_examples=40, deadline=None, derandomize=True)
@given(designs(), st.integers(0, 2**32 - 1))
def test_draws_respect_blocks_and_clusters(design: tuple, seed: int) -> None:
    bound, blocks, clusters, m, units = design
    draws = bound.draw(np.random.default_rng(seed), 50)
    assert draws.shape == (50, bound.n_obs) and draws.dtype == bool
    counts = _unit_counts(draws, blocks, clusters)
    for label, m_b in m.items():
        key = 0 if label is None else label
        assert np.all(counts[key] == m_b)
    if clusters is not None:
        _assert_constant_within_clusters(draws, clusters)
    for row in draws[:5]:
        bound.check(row)
    generated = bound.generate(seed)
    bound.check(generated.treatment)
    assert generated.record.treated_per_block == m
    assert generated.record.units_per_block == units


@settings(max_examples=25, deadline=None, derandomize=True)
@given(designs())
def test_probabilities_and_empirical_frequencies(design: tuple) -> None:
    bound, blocks, _clusters, m, units = design
    labels = blocks if blocks is not None else np.full(bound.n_obs, None, dtype=object)
    expected = np.array([m[b] / units[b] for b in labels])
    np.testing.assert_allclose(bound.probabilities(), expected, rtol=0, atol=1e-15)
    # Empirical frequencies from a fixed seed; tolerance 5 binomial standard errors per observation.
    reps = 4_000
    freq = bound.draw(np.random.default_rng(20240101), reps).mean(axis=0)
    se = np.sqrt(expected * (1 - expected) / reps)
    assert np.all(np.abs(freq - expected) <= 5 * se)
    # enumeration (small designs only) gives every assignment once
    if bound.count() <= 5_000:
        rows = bound.enumerate()
        assert rows.shape[0] == bound.count() == _distinct_rows(rows)
        np.testing.assert_allclose(rows.mean(axis=0), expected, atol=1e-12)


def test_draws_are_uniform_over_assignments() -> None:
    # C(6, 3) = 20 assignments, each with probability 1/20; 20_000 draws; tolerance 5 binomial SEs.
    bound = CompleteRandomization(n_treated=3).bind(6)
    support = bound.enumerate()
    draws = bound.draw(np.random.default_rng(7), 20_000)
    keys_support = np.packbits(support, axis=1)[:, 0]
    keys = np.packbits(draws, axis=1)[:, 0]
    counts = np.array([(keys == k).sum() for k in keys_support])
    assert counts.sum() == 20_000
    p = 1 / 20
    assert np.all(np.abs(counts / 20_000 - p) <= 5 * np.sqrt(p * (1 - p) / 20_000))


def test_draw_size_zero_and_bad_arguments() -> None:
    bound = CompleteRandomization(n_treated=2).bind(5)
    assert bound.draw(np.random.default_rng(0), 0).shape == (0, 5)
    with pytest.raises(OptionError, match="numpy.random.Generator"):
        bound.draw(1, 10)  # type: ignore[arg-type]
    with pytest.raises(OptionError, match="size=-1"):
        bound.draw(np.random.default_rng(0), -1)


# ----------------------------------------------------------------------------------------------------
# fractional shares (randomizr complete_ra rounding)
# ----------------------------------------------------------------------------------------------------


def test_fractional_share_rounds_at_random() -> None:
    # 7 * 0.3 = 2.1: 3 treated with probability 0.1, 2 otherwise; every unit's probability is 0.3.
    bound = CompleteRandomization(share=0.3).bind(7)
    assert not bound.has_fixed_counts
    np.testing.assert_array_equal(bound.probabilities(), np.full(7, 0.3))
    assert bound.expected_treated_per_block == {None: pytest.approx(2.1)}
    reps = 20_000
    draws = bound.draw(np.random.default_rng(3), reps)
    totals = draws.sum(axis=1)
    assert set(np.unique(totals)) == {2, 3}
    # share of draws with 3 treated: 0.1, tolerance 5 SE
    assert abs((totals == 3).mean() - 0.1) <= 5 * np.sqrt(0.1 * 0.9 / reps)
    assert np.all(np.abs(draws.mean(axis=0) - 0.3) <= 5 * np.sqrt(0.3 * 0.7 / reps))
    bound.check([1, 1, 0, 0, 0, 0, 0])
    bound.check([1, 1, 1, 0, 0, 0, 0])
    with pytest.raises(DesignError, match="treats 4 of the 7 units.*treats 2 or 3"):
        bound.check([1, 1, 1, 1, 0, 0, 0])
    for method in (bound.count, bound.enumerate):
        with pytest.raises(DesignError, match=r"share=0\.3 gives 2\.1 of the 7 units.*not equally likely"):
            method()
    with pytest.raises(DesignError, match="rounded at random"):
        _ = bound.n_treated_per_block


def test_fractional_share_blocked() -> None:
    blocks = ["x"] * 5 + ["y"] * 6  # 5 * 0.5 = 2.5 (random), 6 * 0.5 = 3 (fixed)
    bound = BlockRandomization(share=0.5).bind(blocks=blocks)
    draws = bound.draw(np.random.default_rng(11), 2_000)
    counts = _unit_counts(draws, np.array(blocks), None)
    assert set(np.unique(counts["x"])) == {2, 3}
    assert np.all(counts["y"] == 3)
    with pytest.raises(DesignError, match="block 'x'"):
        bound.count()


def test_whole_share_is_fixed() -> None:
    # 60 * 0.7 = 42.00000000000001 in floating point: counts as whole (tolerance 1e-9)
    bound = CompleteRandomization(share=0.7).bind(60)
    assert bound.has_fixed_counts
    assert bound.n_treated_per_block == {None: 42}
    assert bound.count() == math.comb(60, 42)


def test_share_that_leaves_a_block_empty() -> None:
    with pytest.raises(DesignError, match="share=0.1 of the 3 units in block 'b'"):
        BlockRandomization(share=0.1).bind(blocks=["a"] * 20 + ["b"] * 3)


# ----------------------------------------------------------------------------------------------------
# reproducibility and records
# ----------------------------------------------------------------------------------------------------


def test_same_seed_same_draws_and_records() -> None:
    blocks = np.repeat(["hp1", "hp2", "hp3"], [6, 9, 12])
    bound = BlockRandomization(share=2 / 3).bind(blocks=blocks)
    a = bound.draw(np.random.default_rng(99), 100)
    b = bound.draw(np.random.default_rng(99), 100)
    c = bound.draw(np.random.default_rng(100), 100)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    g1, g2, g3 = bound.generate(5), bound.generate(5), bound.generate(6)
    np.testing.assert_array_equal(g1.treatment, g2.treatment)
    assert g1.record == g2.record and hash(g1.record) == hash(g2.record)
    assert not np.array_equal(g1.treatment, g3.treatment)
    assert g1.record != g3.record
    record = g1.record
    assert isinstance(record, AssignmentRecord)
    assert record.method == "blocked" and record.seed == 5 and record.spawn_key == ()
    assert record.evalkit_version == evalkit.__version__
    assert record.treated_per_block == {"hp1": 4, "hp2": 6, "hp3": 8}
    assert record.units_per_block == {"hp1": 6, "hp2": 9, "hp3": 12}
    assert record.n_treated == 18 and record.n_units == 27 and record.n_obs == 27
    assert not any("time" in f.name for f in dataclasses.fields(AssignmentRecord))
    assert not g1.treatment.flags.writeable
    # an int seed and the SeedSequence it stands for give the same assignment
    g4 = bound.generate(np.random.SeedSequence(5))
    np.testing.assert_array_equal(g1.treatment, g4.treatment)
    assert g4.record == g1.record


def test_seed_sequence_without_entropy_is_recorded() -> None:
    bound = CompleteRandomization(n_treated=5).bind(12)
    g = bound.generate(np.random.SeedSequence())
    again = bound.generate(np.random.SeedSequence(g.record.seed))
    np.testing.assert_array_equal(g.treatment, again.treatment)


@pytest.mark.parametrize("seed", [-1, 1.5, "a", True, None])
def test_bad_seed(seed: object) -> None:
    with pytest.raises(OptionError, match="seed="):
        CompleteRandomization(n_treated=1).bind(3).generate(seed)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------------
# binding: refusals that name the offending thing
# ----------------------------------------------------------------------------------------------------


def test_cluster_in_two_blocks() -> None:
    with pytest.raises(DesignError, match="cluster 'v7' is in block 'north' and in block 'south'"):
        BlockClusterRandomization(n_treated=1).bind(
            blocks=["north", "north", "north", "south", "south", "south"],
            clusters=["v1", "v7", "v2", "v7", "v3", "v4"],
        )


def test_observed_varies_within_cluster() -> None:
    with pytest.raises(DesignError, match="varies within cluster 'v2'"):
        ClusterRandomization().bind(clusters=["v1", "v1", "v2", "v2", "v3"], observed=[1, 1, 0, 1, 0])
    with pytest.raises(DesignError, match="varies within cluster 3"):
        from_observed([1, 1, 0, 0, 1, 0], clusters=[1, 1, 2, 2, 3, 3])


@pytest.mark.parametrize(
    ("spec", "missing"),
    [
        (BlockRandomization(n_treated=1), "blocks="),
        (ClusterRandomization(n_treated=1), "clusters="),
        (BlockClusterRandomization(n_treated=1), "blocks="),
    ],
)
def test_required_arguments(spec: AssignmentSpec, missing: str) -> None:
    with pytest.raises(DesignError, match=f"{type(spec).__name__}.*pass {missing}"):
        spec.bind(6)


def test_block_cluster_needs_clusters() -> None:
    with pytest.raises(DesignError, match="pass clusters="):
        BlockClusterRandomization(n_treated=1).bind(blocks=[1, 1, 2, 2])


def test_block_without_control_units() -> None:
    blocks = ["hp1"] * 3 + ["hp2"] * 3 + ["hp3"] * 3
    observed = [1, 0, 0, 0, 1, 1, 1, 1, 1]
    with pytest.raises(
        DesignError,
        match="block 'hp3' has no control units; all blocks must contain treated and control units",
    ):
        BlockRandomization().bind(blocks=blocks, observed=observed)
    with pytest.raises(DesignError, match="block 'hp2' has no treated units"):
        from_observed([1, 0, 0, 0, 1, 0], blocks=["hp1", "hp1", "hp2", "hp2", "hp3", "hp3"])
    with pytest.raises(DesignError, match="block 2 has no treated clusters"):
        from_observed([1, 1, 0, 0, 0, 0], blocks=[1, 1, 1, 1, 2, 2], clusters=[1, 1, 2, 2, 3, 4])
    with pytest.raises(DesignError, match="no control units"):
        CompleteRandomization().bind(observed=[1, 1, 1])


def test_n_treated_out_of_range() -> None:
    with pytest.raises(DesignError, match="n_treated=5 but the design has 5 units; .*between 1 and 4"):
        CompleteRandomization(n_treated=5).bind(5)
    with pytest.raises(DesignError, match="n_treated=3 but block 'b' has 3 units"):
        BlockRandomization(n_treated=3).bind(blocks=["a"] * 5 + ["b"] * 3)
    with pytest.raises(DesignError, match="n_treated=3 but the design has 3 clusters"):
        ClusterRandomization(n_treated=3).bind(clusters=[1, 1, 2, 3])
    with pytest.raises(DesignError, match="block 'solo' has 1 units"):
        BlockRandomization(n_treated=1).bind(blocks=["a", "a", "solo"])


def test_n_treated_mapping_must_match_blocks() -> None:
    blocks = ["hp1", "hp1", "hp2", "hp2"]
    with pytest.raises(DesignError, match="no count for block 'hp2'"):
        BlockRandomization(n_treated={"hp1": 1}).bind(blocks=blocks)
    with pytest.raises(DesignError, match="names block 'hp9', which is not in the blocks"):
        BlockRandomization(n_treated={"hp1": 1, "hp2": 1, "hp9": 1}).bind(blocks=blocks)


def test_observed_needed_for_observed_counts() -> None:
    with pytest.raises(DesignError, match="pass observed="):
        CompleteRandomization().bind(10)
    with pytest.raises(DesignError, match="pass n_obs="):
        CompleteRandomization(n_treated=1).bind()


def test_observed_must_match_stated_counts() -> None:
    with pytest.raises(DesignError, match="observed treats 2 of the 6 units in the design.*treats 3"):
        CompleteRandomization(n_treated=3).bind(observed=[1, 0, 0, 0, 1, 0])
    with pytest.raises(DesignError, match="observed treats 1 of the 3 units in block 'b'.*treats 2"):
        BlockRandomization(n_treated={"a": 1, "b": 2}).bind(blocks=["a", "a", "b", "b", "b"], observed=[1, 0, 1, 0, 0])


@pytest.mark.parametrize("argument", ["blocks", "clusters"])
def test_missing_labels(argument: str) -> None:
    labels = ["a", "a", None, "b", "b", "b"]
    spec = BlockClusterRandomization(n_treated=1)
    kwargs = {"blocks": ["x"] * 6, "clusters": list("aabbcc")}
    kwargs[argument] = labels
    with pytest.raises(DataError, match=f"{argument} has 1 missing value.*position 2"):
        spec.bind(**kwargs)
    with pytest.raises(DataError, match=f"{argument} has 1 missing"):
        spec.bind(**{**kwargs, argument: np.array([1.0, 1.0, np.nan, 2.0, 2.0, 2.0])})


def test_length_and_observed_values() -> None:
    with pytest.raises(DataError, match="blocks has 3 values but there are 4 observations"):
        BlockRandomization(n_treated=1).bind(4, blocks=[1, 1, 2])
    with pytest.raises(DataError, match="observed has 1 missing"):
        CompleteRandomization().bind(observed=[1.0, np.nan, 0.0])
    with pytest.raises(DesignError, match="observed must be binary.*found values 2"):
        CompleteRandomization().bind(observed=[1, 2, 0])
    with pytest.raises(DataError, match="one-dimensional"):
        CompleteRandomization().bind(observed=np.zeros((2, 2)))


# ----------------------------------------------------------------------------------------------------
# check()
# ----------------------------------------------------------------------------------------------------


def test_check() -> None:
    blocks = ["hp1", "hp1", "hp1", "hp2", "hp2", "hp2", "hp2"]
    clusters = ["a", "a", "b", "c", "c", "d", "e"]
    bound = BlockClusterRandomization(n_treated=1).bind(blocks=blocks, clusters=clusters)
    bound.check([True, True, False, False, False, True, False])
    with pytest.raises(DesignError, match="treatment must be binary"):
        bound.check(["yes", "yes", "no", "no", "no", "yes", "no"])
    with pytest.raises(DesignError, match="varies within cluster 'c'"):
        bound.check([1, 1, 0, 1, 0, 0, 0])
    with pytest.raises(DesignError, match="treats 2 of the 3 clusters in block 'hp2'"):
        bound.check([1, 1, 0, 0, 0, 1, 1])
    with pytest.raises(DataError, match="5 values but there are 7"):
        bound.check([1, 1, 0, 0, 0])


# ----------------------------------------------------------------------------------------------------
# not randomized
# ----------------------------------------------------------------------------------------------------


def test_not_randomized_refuses_draws() -> None:
    bound = NotRandomized().bind(observed=[1, 0, 1, 0])
    assert bound.method == "not randomized" and not bound.randomized
    assert bound.n_obs == 4
    assert bound.n_treated_per_block == {None: 2}
    bound.check([1, 1, 1, 0])  # any binary treatment is consistent
    calls = {
        "draw()": lambda: bound.draw(np.random.default_rng(0), 10),
        "enumerate()": bound.enumerate,
        "count()": bound.count,
        "probabilities()": bound.probabilities,
        "generate()": lambda: bound.generate(1),
    }
    for what, call in calls.items():
        with pytest.raises(DesignError) as info:
            call()
        message = str(info.value)
        assert "was not randomized" in message and what.rstrip("()") in message
        assert "assignment=ek.CompleteRandomization(...)" in message
        assert "randomization inference and draw_assignment need a random assignment" in message
    with pytest.raises(DesignError, match="pass observed="):
        _ = NotRandomized().bind(3).n_treated_per_block


# ----------------------------------------------------------------------------------------------------
# assign() and from_observed()
# ----------------------------------------------------------------------------------------------------


def test_assign_complete_does_not_mutate() -> None:
    data = pd.DataFrame({"child": range(60), "age": np.arange(60) % 7}, index=pd.RangeIndex(100, 160))
    before = data.copy()
    out = assign(data, CompleteRandomization(n_treated=41), seed=2024)
    pd.testing.assert_frame_equal(data, before)
    assert isinstance(out, GeneratedAssignment)
    assert isinstance(out.treatment, pd.Series) and out.treatment.dtype == bool
    assert out.treatment.index.equals(data.index)
    assert int(out.treatment.sum()) == 41
    assert out.record.method == "complete" and out.record.seed == 2024
    again = assign(data, CompleteRandomization(n_treated=41), seed=2024)
    pd.testing.assert_series_equal(out.treatment, again.treatment)
    assert out.record == again.record


def test_assign_two_to_one_within_health_posts() -> None:
    data = pd.DataFrame({"post": np.repeat(["hp1", "hp2", "hp3", "hp4"], [6, 9, 3, 12])})
    before = data.copy()
    out = assign(data, BlockRandomization(share=2 / 3), blocks="post", seed=7)
    pd.testing.assert_frame_equal(data, before)
    per_post = out.treatment.groupby(data["post"]).agg(["sum", "size"])
    assert per_post["sum"].to_dict() == {"hp1": 4, "hp2": 6, "hp3": 2, "hp4": 8}
    assert out.record.treated_per_block == {"hp1": 4, "hp2": 6, "hp3": 2, "hp4": 8}


def test_assign_clusters_within_blocks() -> None:
    data = pd.DataFrame(
        {
            "district": ["d1"] * 8 + ["d2"] * 6,
            "village": ["v1", "v1", "v2", "v2", "v3", "v3", "v4", "v4", "v5", "v5", "v6", "v6", "v7", "v7"],
        }
    )
    out = assign(data, BlockClusterRandomization(n_treated=2), blocks="district", clusters="village", seed=3)
    assert out.treatment.groupby(data["village"]).nunique().max() == 1
    assert out.treatment.groupby(data["district"]).sum().to_dict() == {"d1": 4, "d2": 4}
    assert out.record.treated_per_block == {"d1": 2, "d2": 2}
    assert out.record.n_units == 7


def test_assign_refusals() -> None:
    data = pd.DataFrame({"post": ["a", "a", "b", "b"]})
    with pytest.raises(DesignError, match="state n_treated=... or share="):
        assign(data, CompleteRandomization(), seed=1)
    with pytest.raises(ColumnNotFoundError, match="'clinic'"):
        assign(data, BlockRandomization(n_treated=1), blocks="clinic", seed=1)
    with pytest.raises(DesignError, match="pass blocks="):
        assign(data, BlockRandomization(n_treated=1), seed=1)
    with pytest.raises(OptionError, match="assignment spec"):
        assign(data, "complete", seed=1)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("blocks", "clusters", "method", "count"),
    [
        # 2 of 6 treated: C(6, 2) = 15
        (None, None, "complete", 15),
        # blocks (1 of 3, 1 of 3): C(3, 1) * C(3, 1) = 9
        ([1, 1, 1, 2, 2, 2], None, "blocked", 9),
        # clusters {a, b, c}, one treated: C(3, 1) = 3
        (None, ["a", "a", "b", "b", "c", "c"], "cluster", 3),
        # blocks {1: a, b}, {2: c, d}, one cluster treated in each: C(2, 1) * C(2, 1) = 4
        ([1, 1, 1, 2, 2, 2], ["a", "a", "b", "c", "d", "d"], "blocked-cluster", 4),
    ],
)
def test_from_observed(blocks: list | None, clusters: list | None, method: str, count: int) -> None:
    treatment = {
        "complete": [1, 0, 0, 1, 0, 0],
        "blocked": [1, 0, 0, 1, 0, 0],
        "cluster": [1, 1, 0, 0, 0, 0],
        "blocked-cluster": [1, 1, 0, 1, 0, 0],
    }[method]
    bound = from_observed(pd.Series(treatment), blocks=blocks, clusters=clusters)
    assert bound.method == method
    assert bound.count() == count
    bound.check(treatment)


def test_labels_keep_their_type() -> None:
    bound = from_observed([1, 0, 1, 0, 0, 1], blocks=np.array([3, 3, 7, 7, 11, 11]))
    assert bound.block_labels == (3, 7, 11)
    assert all(type(k) is int for k in bound.n_treated_per_block)
    mixed = BlockRandomization(n_treated=1).bind(blocks=["a", "a", 2, 2])
    assert set(mixed.block_labels) == {"a", 2}


def test_pairwise_ranking_and_argsort_give_the_same_draws(monkeypatch: pytest.MonkeyPatch) -> None:
    # Short blocks are drawn by pairwise ranking, long ones by argsort; both must pick the same units.
    import evalkit.designs.assignment.bound as module

    blocks = np.repeat(["p", "q", "r", "s"], [2, 5, 8, 9])
    bound = BlockRandomization(n_treated={"p": 1, "q": 2, "r": 3, "s": 4}).bind(blocks=blocks)
    fast = bound.draw(np.random.default_rng(8), 500)
    monkeypatch.setattr(module, "_SMALL_BLOCK", 0)
    slow = bound.draw(np.random.default_rng(8), 500)
    np.testing.assert_array_equal(fast, slow)
    counts = _unit_counts(fast, blocks, None)
    assert [int(np.unique(counts[b])[0]) for b in "pqrs"] == [1, 2, 3, 4]
