"""Tests of evalkit.designs.rerandomization against closed forms, brute force and Morgan & Rubin (2012)."""

from __future__ import annotations

import dataclasses
import importlib.util
import itertools
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import mahalanobis
from statsmodels.stats import multivariate as sm_multivariate

from evalkit.designs.assignment import (
    AssignmentSpec,
    BlockClusterRandomization,
    BlockRandomization,
    ClusterRandomization,
    CompleteRandomization,
    NotRandomized,
    assign,
)
from evalkit.designs.rerandomization import BoundRerandomization, Rerandomization, RerandomizationRecord
from evalkit.designs.trial import RandomizedTrial
from evalkit.errors import ColumnNotFoundError, DataError, DesignError, OptionError

# ----------------------------------------------------------------------------------------------------
# helpers: independent (loop-based) computations of the distance
# ----------------------------------------------------------------------------------------------------


def _frame(n: int, seed: int, k: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, k)) @ np.array([[1.0, 0.4, 0.1], [0.0, 1.0, 0.3], [0.0, 0.0, 1.0]])[:k, :k]
    return pd.DataFrame(x, columns=[f"x{j}" for j in range(k)])


def _eq31(x: np.ndarray, treated: np.ndarray) -> float:
    """Morgan & Rubin (2012) eq. 3.1 written out: n p (1-p) d' S^-1 d with S = np.cov (divisor n - 1)."""
    n = x.shape[0]
    p = treated.sum() / n
    d = x[treated].mean(axis=0) - x[~treated].mean(axis=0)
    s = np.atleast_2d(np.cov(x, rowvar=False))
    return float(n * p * (1 - p) * d @ np.linalg.solve(s, d))


def _stratified(x: np.ndarray, blocks: np.ndarray, treated: np.ndarray) -> float:
    """Wang, Wang & Liu (2023) overall distance, block by block with np.cov (a loop, not the module's algebra)."""
    n, k = x.shape
    tau = np.zeros(k)
    cov = np.zeros((k, k))
    for b in pd.unique(blocks):
        rows = blocks == b
        xb, zb = x[rows], treated[rows]
        w = rows.sum() / n
        tau += w * (xb[zb].mean(axis=0) - xb[~zb].mean(axis=0))
        cov += w**2 * (1 / zb.sum() + 1 / (~zb).sum()) * np.atleast_2d(np.cov(xb, rowvar=False))
    return float(tau @ np.linalg.solve(cov, tau))


# ----------------------------------------------------------------------------------------------------
# the spec
# ----------------------------------------------------------------------------------------------------


def test_threshold_from_acceptance_and_back() -> None:
    # SOURCE: chi-square quantile; for k = 2 it has the closed form -2 log(1 - p). TOLERANCE: 1e-12.
    spec = Rerandomization(CompleteRandomization(n_treated=3), ["x0", "x1"], acceptance=0.05)
    assert spec.threshold == pytest.approx(-2 * math.log(0.95), rel=1e-12)
    # threshold given: acceptance becomes P(chi2_2 <= a) = 1 - exp(-a / 2) (closed form). TOLERANCE: 1e-12.
    spec = Rerandomization(CompleteRandomization(n_treated=3), ["x0", "x1"], threshold=1.0)
    assert spec.acceptance == pytest.approx(1 - math.exp(-0.5), rel=1e-12)
    assert spec.threshold == 1.0 and spec.covariates == ("x0", "x1")
    assert spec.method == "rerandomized complete"
    assert Rerandomization(BlockClusterRandomization(), "x0").method == "rerandomized blocked-cluster"
    assert Rerandomization(BlockRandomization(n_treated={"a": 1}), ("x0",)).covariates == ("x0",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.threshold = 2.0  # type: ignore[misc]
    assert hash(spec) == hash(Rerandomization(CompleteRandomization(n_treated=3), ["x0", "x1"], threshold=1.0))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"base": "complete"}, OptionError, "not an assignment spec"),
        ({"base": NotRandomized()}, DesignError, "cannot be rerandomized"),
        ({"covariates": []}, OptionError, "covariates is empty"),
        ({"covariates": ["x0", "x0"]}, OptionError, "'x0' is listed twice"),
        ({"covariates": [["x0"]]}, OptionError, "column names"),  # a list is no name (integer names are, issue 9)
        ({"criterion": "euclidean"}, OptionError, "criterion='euclidean' is not a valid option"),
        ({"threshold": -1.0}, OptionError, "threshold=-1.0 must be a positive"),
        ({"acceptance": 1.0}, OptionError, "strictly between 0 and 1"),
        ({"acceptance": None}, OptionError, "give threshold"),
        ({"max_draws": 0}, OptionError, "max_draws=0"),
    ],
)
def test_spec_refusals(kwargs: dict, error: type[Exception], match: str) -> None:
    args = {"base": CompleteRandomization(n_treated=2), "covariates": ["x0"], **kwargs}
    with pytest.raises(error, match=match):
        Rerandomization(**args)


def test_nested_rerandomization_refused() -> None:
    inner = Rerandomization(CompleteRandomization(n_treated=2), ["x0"])
    with pytest.raises(DesignError, match="already a Rerandomization"):
        Rerandomization(inner, ["x1"])


def test_plain_specs_accept_and_ignore_data() -> None:
    data = _frame(8, 1)
    plain = CompleteRandomization(n_treated=3).bind(8)
    with_data = CompleteRandomization(n_treated=3).bind(8, data=data)
    np.testing.assert_array_equal(
        plain.draw(np.random.default_rng(4), 20), with_data.draw(np.random.default_rng(4), 20)
    )
    assert with_data.count() == math.comb(8, 3)  # SOURCE: closed form C(8, 3) = 56. TOLERANCE: exact.


# ----------------------------------------------------------------------------------------------------
# the distance against external computations
# ----------------------------------------------------------------------------------------------------


def test_distance_matches_scipy_mahalanobis_and_statsmodels_hotelling() -> None:
    data = _frame(23, 11, k=3)
    x = data.to_numpy()
    bound = Rerandomization(CompleteRandomization(n_treated=9), list(data.columns)).bind(23, data=data)
    z = np.zeros(23, dtype=bool)
    z[np.random.default_rng(2).permutation(23)[:9]] = True
    m = bound.distance(z)
    # SOURCE: Morgan & Rubin (2012) eq. 3.1 with scipy's Mahalanobis distance:
    # M = n p (1 - p) * mahalanobis(xbar_T, xbar_C, S^-1)^2. TOLERANCE: 1e-10 relative (rounding only).
    n_t, n = 9, 23
    s_inv = np.linalg.inv(np.cov(x, rowvar=False))
    ref = n * (n_t / n) * (1 - n_t / n) * mahalanobis(x[z].mean(0), x[~z].mean(0), s_inv) ** 2
    assert m == pytest.approx(ref, rel=1e-10)
    # SOURCE: statsmodels' two-sample Hotelling T^2 (pooled within-arm covariance). With the total covariance
    # (n-1) S = (n-2) S_pooled + n p (1-p) d d', Sherman-Morrison gives M = (n-1) T^2 / (n-2 + T^2).
    # TOLERANCE: 1e-10 relative.
    t2 = sm_multivariate.test_mvmean_2indep(x[z], x[~z]).t2
    assert m == pytest.approx((n - 1) * t2 / (n - 2 + t2), rel=1e-10)


def test_blocked_distance_matches_stratified_formula() -> None:
    data = _frame(30, 5, k=2)
    blocks = np.repeat(["a", "b", "c"], [8, 10, 12])
    m_b = {"a": 3, "b": 5, "c": 4}
    bound = Rerandomization(BlockRandomization(n_treated=m_b), ["x0", "x1"]).bind(blocks=blocks, data=data)
    draws = bound.base.draw(np.random.default_rng(8), 25)
    # SOURCE: Wang, Wang & Liu (2023) overall Mahalanobis distance, computed block by block with np.cov.
    # TOLERANCE: 1e-10 relative.
    expected = [_stratified(data.to_numpy(), blocks, row) for row in draws]
    np.testing.assert_allclose(bound.distance(draws), expected, rtol=1e-10)


def test_cluster_distance_uses_cluster_means() -> None:
    rng = np.random.default_rng(3)
    sizes = rng.integers(1, 6, size=9)
    clusters = np.repeat([f"v{g}" for g in range(9)], sizes)
    data = pd.DataFrame({"x0": rng.normal(size=clusters.size), "x1": rng.normal(size=clusters.size)})
    bound = Rerandomization(ClusterRandomization(n_treated=4), ["x0", "x1"]).bind(clusters=clusters, data=data)
    z_obs = bound.base.draw(np.random.default_rng(1), 1)[0]
    # SOURCE: eq. 3.1 on cluster means computed with pandas groupby (module Notes: clusters count equally).
    # TOLERANCE: 1e-10 relative.
    means = data.groupby(clusters, sort=True).mean().to_numpy()
    z_cluster = pd.Series(z_obs).groupby(clusters, sort=True).first().to_numpy()
    assert bound.distance(z_obs) == pytest.approx(_eq31(means, z_cluster), rel=1e-10)


@pytest.mark.parametrize("design", ["complete", "blocked", "cluster", "blocked-cluster"])
def test_mean_distance_over_all_assignments_is_k(design: str) -> None:
    # SOURCE: closed form. V is the exact covariance of the balance statistic over the base design, so
    # E[M] = E[tr(V^-1 tau tau')] = k (Morgan & Rubin 2012, sec. 3.1). TOLERANCE: 1e-9 relative.
    rng = np.random.default_rng(42)
    blocks = clusters = None
    if design == "complete":
        n, spec = 12, CompleteRandomization(n_treated=5)
    elif design == "blocked":
        blocks = np.repeat(["a", "b", "c"], [5, 6, 4])
        n, spec = blocks.size, BlockRandomization(n_treated={"a": 2, "b": 3, "c": 1})
    elif design == "cluster":
        clusters = np.repeat(np.arange(10), rng.integers(1, 4, size=10))
        n, spec = clusters.size, ClusterRandomization(n_treated=4)
    else:
        unit_sizes = rng.integers(1, 4, size=11)
        clusters = np.repeat(np.arange(11), unit_sizes)
        blocks = np.repeat(np.repeat(["a", "b"], [6, 5]), unit_sizes)
        n, spec = clusters.size, BlockClusterRandomization(n_treated={"a": 2, "b": 2})
    data = pd.DataFrame(rng.normal(size=(n, 3)), columns=["x0", "x1", "x2"])
    bound = Rerandomization(spec, ["x0", "x1", "x2"]).bind(n, blocks=blocks, clusters=clusters, data=data)
    everything = bound.base.enumerate()
    assert bound.distance(everything).mean() == pytest.approx(3.0, rel=1e-9)


# ----------------------------------------------------------------------------------------------------
# enumeration and counting against brute force
# ----------------------------------------------------------------------------------------------------


def test_enumeration_matches_brute_force_combinations() -> None:
    data = _frame(11, 7, k=2)
    x = data.to_numpy()
    spec = Rerandomization(CompleteRandomization(n_treated=4), ["x0", "x1"], acceptance=0.25)
    bound = spec.bind(11, data=data)
    # SOURCE: brute force over itertools.combinations(range(11), 4) with eq. 3.1 via np.cov and a solve.
    # TOLERANCE: exact count and identical set of assignments.
    brute = set()
    for treated in itertools.combinations(range(11), 4):
        z = np.zeros(11, dtype=bool)
        z[list(treated)] = True
        if _eq31(x, z) <= spec.threshold:
            brute.add(treated)
    rows = bound.enumerate()
    assert bound.count() == len(brute) == rows.shape[0]
    assert {tuple(np.flatnonzero(r)) for r in rows} == brute
    assert 0 < len(brute) < math.comb(11, 4)
    # probabilities: share of acceptable assignments treating each unit (brute force). TOLERANCE: 1e-15.
    freq = np.array([sum(i in t for t in brute) for i in range(11)]) / len(brute)
    np.testing.assert_allclose(bound.probabilities(), freq, rtol=0, atol=1e-15)


def test_blocked_enumeration_matches_brute_force_product() -> None:
    data = _frame(10, 9, k=2)
    blocks = np.array(["a", "b"] * 5)
    spec = Rerandomization(BlockRandomization(n_treated=2), ["x0", "x1"], acceptance=0.3)
    bound = spec.bind(blocks=blocks, data=data)
    # SOURCE: brute force over the product of itertools.combinations within each block, with the stratified
    # distance computed block by block. TOLERANCE: exact count and identical set.
    members = {b: np.flatnonzero(blocks == b) for b in ("a", "b")}
    brute = set()
    for ta, tb in itertools.product(itertools.combinations(members["a"], 2), itertools.combinations(members["b"], 2)):
        z = np.zeros(10, dtype=bool)
        z[list(ta) + list(tb)] = True
        if _stratified(data.to_numpy(), blocks, z) <= spec.threshold:
            brute.add(tuple(np.flatnonzero(z)))
    assert bound.count() == len(brute) > 0
    assert {tuple(np.flatnonzero(r)) for r in bound.enumerate()} == brute


def test_enumerate_refuses_large_base_and_count_is_upper_bound() -> None:
    data = _frame(40, 1, k=2)
    bound = Rerandomization(CompleteRandomization(n_treated=20), ["x0", "x1"]).bind(40, data=data)
    # SOURCE: closed form C(40, 20) = 137846528820 > 10**6: count() is the base count (documented bound).
    assert bound.count() == math.comb(40, 20)
    with pytest.raises(DesignError, match="137,846,528,820 possible assignments, more than 1,000,000"):
        bound.enumerate(max_count=1000)
    small = Rerandomization(CompleteRandomization(n_treated=4), ["x0", "x1"], acceptance=0.5).bind(
        9, data=data.iloc[:9]
    )
    with pytest.raises(DesignError, match="more than max_count=3"):
        small.enumerate(max_count=3)


def test_draws_are_uniform_over_acceptable_assignments() -> None:
    data = _frame(9, 21, k=2)
    bound = Rerandomization(CompleteRandomization(n_treated=4), ["x0", "x1"], acceptance=0.3).bind(9, data=data)
    support = {tuple(np.flatnonzero(r)) for r in bound.enumerate()}
    reps = 20_000
    draws = bound.draw(np.random.default_rng(20120801), reps)
    keys = [tuple(np.flatnonzero(r)) for r in draws]
    assert set(keys) <= support
    # SOURCE: rejection sampling is uniform on the acceptable set (Morgan & Rubin 2012, sec. 2): each of the
    # count() assignments has probability 1/count(). TOLERANCE: 5 binomial standard errors per assignment.
    freq = pd.Series(keys).value_counts().reindex(list(support), fill_value=0).to_numpy() / reps
    p = 1 / len(support)
    assert np.all(np.abs(freq - p) <= 5 * math.sqrt(p * (1 - p) / reps))


# ----------------------------------------------------------------------------------------------------
# the chi-square approximation (Morgan & Rubin 2012, Theorem 3.1)
# ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("blocked", "acceptance"), [(False, 0.1), (False, 0.5), (True, 0.1)])
def test_acceptance_rate_approaches_chi_square(blocked: bool, acceptance: float) -> None:
    rng = np.random.default_rng(2012)
    n = 400
    data = pd.DataFrame(rng.normal(size=(n, 3)) + rng.exponential(size=(n, 1)), columns=["x0", "x1", "x2"])
    if blocked:
        blocks = np.repeat(["a", "b", "c", "d"], 100)
        spec: AssignmentSpec = BlockRandomization(n_treated={"a": 50, "b": 40, "c": 60, "d": 30})
    else:
        blocks, spec = None, CompleteRandomization(n_treated=160)
    bound = Rerandomization(spec, ["x0", "x1", "x2"], acceptance=acceptance).bind(n, blocks=blocks, data=data)
    distances = bound.distance(bound.base.draw(np.random.default_rng(1263), 20_000))
    # SOURCE: Morgan & Rubin (2012) Theorem 3.1 -- M ~ chi2_k asymptotically, so P(M <= chi2_k(p_a)) -> p_a
    # (Wang, Wang & Liu 2023 for the blocked case). TOLERANCE: 0.012 absolute = about 5 Monte Carlo standard
    # errors at p_a = 0.5 (sqrt(.25 / 20000) = 0.0035) plus finite-n error; the mean is exactly k (closed form),
    # checked to 0.09 = 5 Monte Carlo SEs of the mean of chi2_3 draws (sqrt(6 / 20000) = 0.017).
    assert np.mean(distances <= bound.threshold) == pytest.approx(acceptance, abs=0.012)
    assert distances.mean() == pytest.approx(3.0, abs=0.09)


# ----------------------------------------------------------------------------------------------------
# properties of draws, generated and enumerated assignments (hypothesis)
# ----------------------------------------------------------------------------------------------------


@st.composite
def rerandomized_designs(draw: st.DrawFn) -> tuple[BoundRerandomization, np.ndarray, np.ndarray, dict]:
    blocked, clustered = draw(st.booleans()), draw(st.booleans())
    n_blocks = draw(st.integers(2, 3)) if blocked else 1
    blocks, clusters, m = [], [], {}
    for b in range(n_blocks):
        n_units = draw(st.integers(3, 7))
        m[f"hp{b}"] = draw(st.integers(1, n_units - 1))
        for u in range(n_units):
            size = draw(st.integers(1, 3)) if clustered else 1
            blocks += [f"hp{b}"] * size
            clusters += [f"c{b}_{u}"] * size
    perm = np.array(draw(st.permutations(range(len(blocks)))))
    blocks_arr, clusters_arr = np.array(blocks, dtype=object)[perm], np.array(clusters, dtype=object)[perm]
    n_units_total = len(set(clusters))
    k = draw(st.integers(1, min(3, n_units_total - n_blocks)))
    seed = draw(st.integers(0, 2**32 - 1))
    data = pd.DataFrame(np.random.default_rng(seed).normal(size=(len(blocks), k)), columns=[f"x{j}" for j in range(k)])
    if blocked and clustered:
        base: AssignmentSpec = BlockClusterRandomization(n_treated=m)
    elif blocked:
        base = BlockRandomization(n_treated=m)
    elif clustered:
        base = ClusterRandomization(n_treated=m["hp0"])
    else:
        base = CompleteRandomization(n_treated=m["hp0"])
    # a threshold at a quantile of the base distances, so that some assignments are always acceptable
    probe = Rerandomization(base, list(data.columns)).bind(blocks=blocks_arr, clusters=clusters_arr, data=data)
    base_distances = probe.distance(probe.base.draw(np.random.default_rng(seed), 200))
    threshold = float(np.quantile(base_distances, draw(st.sampled_from([0.3, 0.6, 1.0]))))
    spec = Rerandomization(base, list(data.columns), threshold=threshold)
    bound = spec.bind(blocks=blocks_arr, clusters=clusters_arr, data=data)
    return bound, blocks_arr, clusters_arr, m


@settings(max_examples=40, deadline=None, derandomize=True)
@given(rerandomized_designs(), st.integers(0, 2**32 - 1))
def test_every_assignment_satisfies_criterion_and_base(design: tuple, seed: int) -> None:
    bound, blocks, clusters, m = design
    draws = bound.draw(np.random.default_rng(seed), 60)
    generated = bound.generate(seed)
    rows = [draws, np.asarray(generated.treatment)[None, :]]
    if bound.base.count() <= 5_000:
        rows.append(bound.enumerate())
    for stack in rows:
        assert stack.dtype == bool and stack.shape[1] == bound.n_obs
        assert np.all(bound.distance(stack) <= bound.threshold * (1 + 1e-9))
        # base counts per block and constancy within clusters, computed with pandas
        frame = pd.DataFrame(stack.T)
        per_cluster = frame.groupby(clusters).nunique()
        assert (per_cluster.to_numpy() == 1).all()
        first = frame.groupby(clusters).first()
        block_of = pd.Series(blocks).groupby(clusters).first()
        counts = first.groupby(block_of.to_numpy()).sum()
        if len(m) == 1:
            assert (counts.sum(axis=0) == m["hp0"]).all()
        else:
            for label, m_b in m.items():
                assert (counts.loc[label] == m_b).all()
        for row in stack[:3]:
            bound.check(row)
    assert generated.record.distance == pytest.approx(bound.distance(generated.treatment), rel=1e-12)
    assert generated.record.n_draws >= 1


# ----------------------------------------------------------------------------------------------------
# reproducibility and records
# ----------------------------------------------------------------------------------------------------


def test_same_seed_identical_and_record_complete() -> None:
    data = _frame(30, 3, k=3)
    spec = Rerandomization(CompleteRandomization(n_treated=12), ["x0", "x1", "x2"], acceptance=0.05)
    bound = spec.bind(30, data=data)
    np.testing.assert_array_equal(bound.draw(np.random.default_rng(9), 500), bound.draw(np.random.default_rng(9), 500))
    assert not np.array_equal(bound.draw(np.random.default_rng(9), 50), bound.draw(np.random.default_rng(10), 50))
    first, second = bound.generate(77), bound.generate(77)
    np.testing.assert_array_equal(first.treatment, second.treatment)
    assert first.record == second.record
    record = first.record
    assert isinstance(record, RerandomizationRecord)
    assert record.method == "rerandomized complete" and record.base.method == "complete"
    assert record.seed == 77 and record.n_treated == 12 and record.covariates == ("x0", "x1", "x2")
    assert record.threshold == spec.threshold and record.acceptance == 0.05
    assert record.distance <= spec.threshold
    with pytest.raises(ValueError, match="read-only"):
        first.treatment[0] = True


def test_assign_new_study_with_rerandomization() -> None:
    data = _frame(20, 4, k=2).set_index(pd.Index([f"id{i}" for i in range(20)]))
    before = data.copy(deep=True)
    spec = Rerandomization(CompleteRandomization(n_treated=10), ["x0", "x1"], acceptance=0.1)
    out = assign(data, spec, seed=5)
    pd.testing.assert_frame_equal(data, before)
    assert out.treatment.index.equals(data.index) and int(out.treatment.sum()) == 10
    assert out.record.method == "rerandomized complete"
    # SOURCE: eq. 3.1 written out. TOLERANCE: 1e-10 relative.
    assert _eq31(data.to_numpy(), out.treatment.to_numpy()) == pytest.approx(out.record.distance, rel=1e-10)
    assert out.record.distance <= spec.threshold


def test_bound_interface_matches_bound_assignment() -> None:
    data = _frame(12, 6, k=2)
    blocks = np.repeat(["a", "b"], 6)
    bound = Rerandomization(BlockRandomization(n_treated=3), ["x0", "x1"]).bind(blocks=blocks, data=data)
    plain = BlockRandomization(n_treated=3).bind(blocks=blocks)
    assert bound.method == "rerandomized blocked" and bound.n_obs == plain.n_obs == 12
    assert bound.block_labels == plain.block_labels and bound.units_per_block == plain.units_per_block
    assert bound.n_treated_per_block == {"a": 3, "b": 3} and bound.has_fixed_counts and bound.randomized
    for name in ("draw", "enumerate", "count", "probabilities", "check", "generate"):
        assert callable(getattr(bound, name))
    # SOURCE: with equal arms (3 of 6 per block) the criterion is symmetric under swapping arms, so every
    # unit's probability is exactly 1/2 over the acceptable set. TOLERANCE: 1e-15.
    np.testing.assert_allclose(bound.probabilities(), 0.5, atol=1e-15)


# ----------------------------------------------------------------------------------------------------
# refusals
# ----------------------------------------------------------------------------------------------------


def test_binding_refusals_name_the_problem() -> None:
    data = _frame(10, 2, k=2)
    spec = Rerandomization(CompleteRandomization(n_treated=4), ["x0", "x1"])
    with pytest.raises(DesignError, match="bind needs the data: pass data="):
        spec.bind(10)
    with pytest.raises(ColumnNotFoundError, match="'age'"):
        Rerandomization(CompleteRandomization(n_treated=4), ["x0", "age"]).bind(10, data=data)
    with pytest.raises(DataError, match="'x1' is not numeric"):
        spec.bind(10, data=data.assign(x1=list("abcdefghij")))
    with pytest.raises(DataError, match=r"'x0' has 2 missing value\(s\) \(first in row 3\)"):
        spec.bind(10, data=data.assign(x0=data["x0"].where(~data.index.isin([3, 7]))))
    with pytest.raises(DataError, match="data has 9 rows"):
        spec.bind(10, data=data.iloc[:9])
    with pytest.raises(DesignError, match="'x1' does not vary"):
        spec.bind(10, data=data.assign(x1=0.3))
    with pytest.raises(DesignError, match="collinear"):
        spec.bind(10, data=data.assign(x1=2 * data["x0"] + 1))
    with pytest.raises(DesignError, match="rounds it at random"):
        Rerandomization(CompleteRandomization(share=0.25), ["x0"]).bind(10, data=data)
    blocks = np.repeat(["a", "b"], 5)
    with pytest.raises(DesignError, match="'bl' does not vary within blocks"):
        Rerandomization(BlockRandomization(n_treated=2), ["x0", "bl"]).bind(
            blocks=blocks, data=data.assign(bl=np.repeat([1.0, 2.0], 5))
        )
    assert data.columns.tolist() == ["x0", "x1"]  # the caller's frame was not changed


def test_check_names_distance_and_threshold() -> None:
    data = _frame(14, 12, k=2)
    spec = Rerandomization(CompleteRandomization(n_treated=7), ["x0", "x1"], acceptance=0.1)
    bound = spec.bind(14, data=data)
    worst = bound.base.draw(np.random.default_rng(0), 2000)
    worst = worst[np.argmax(bound.distance(worst))]
    with pytest.raises(DesignError, match=r"Mahalanobis distance M=\d.*above the rerandomization threshold 0\.21"):
        bound.check(worst)
    with pytest.raises(DesignError, match=r"observed has Mahalanobis distance"):
        spec.bind(14, observed=worst, data=data)
    with pytest.raises(DesignError, match="treats 6 of the 14 units"):
        bound.check(np.r_[np.ones(6), np.zeros(8)])


def test_max_draws_error_reports_acceptance_rate() -> None:
    data = _frame(30, 8, k=3)
    spec = Rerandomization(CompleteRandomization(n_treated=15), ["x0", "x1", "x2"], threshold=1e-6, max_draws=5_000)
    bound = spec.bind(30, data=data)
    with pytest.raises(DesignError, match=r"in 5,000 base draws \(acceptance rate 0\.000%.*raise max_draws"):
        bound.draw(np.random.default_rng(1), 10)
    with pytest.raises(OptionError, match="numpy.random.Generator"):
        bound.draw(1, 10)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------------
# end to end: a trial and randomization inference over acceptable assignments only
# ----------------------------------------------------------------------------------------------------


def _trial_passes_data() -> bool:
    """Whether RandomizedTrial hands its data to spec.bind (the lead is wiring it in)."""
    probe = pd.DataFrame({"x0": [0.1, 0.5, 0.2, 0.9], "treated": [1, 0, 0, 1]})
    try:
        RandomizedTrial(probe, "treated", assignment=Rerandomization(CompleteRandomization(), ["x0"], threshold=1e6))
    except DesignError as err:
        if "bind needs the data" in str(err):
            return False
        raise
    return True


_TRIAL_PASSES_DATA = _trial_passes_data()
_HAS_RI = importlib.util.find_spec("evalkit.inference.randomization") is not None


def _rerandomized_trial_data() -> tuple[pd.DataFrame, Rerandomization]:
    data = _frame(12, 31, k=2)
    spec = Rerandomization(CompleteRandomization(n_treated=6), ["x0", "x1"], acceptance=0.2)
    z = np.asarray(spec.bind(12, data=data).generate(3).treatment)
    rng = np.random.default_rng(5)
    data = data.assign(treated=z.astype(int), y=1.0 + 0.5 * z + data["x0"] + rng.normal(size=12))
    return data, spec


@pytest.mark.skipif(not _TRIAL_PASSES_DATA, reason="RandomizedTrial._bind does not pass data= to spec.bind yet")
def test_randomized_trial_with_rerandomization() -> None:
    data, spec = _rerandomized_trial_data()
    trial = RandomizedTrial(data, "treated", assignment=spec)
    assert trial.assignment.method == "rerandomized complete"
    drawn = trial.draw_assignment(seed=4).to_numpy().astype(bool)
    assert trial.assignment.distance(drawn) <= spec.threshold


def _acceptable_null_by_brute_force(data: pd.DataFrame, threshold: float) -> tuple[np.ndarray, float]:
    """Differences in means over the acceptable assignments (itertools.combinations filtered with eq. 3.1)."""
    x, y, z = data[["x0", "x1"]].to_numpy(), data["y"].to_numpy(), data["treated"].to_numpy().astype(bool)
    null = []
    for treated in itertools.combinations(range(len(data)), int(z.sum())):
        zz = np.zeros(len(data), dtype=bool)
        zz[list(treated)] = True
        if _eq31(x, zz) <= threshold:
            null.append(y[zz].mean() - y[~zz].mean())
    return np.sort(null), y[z].mean() - y[~z].mean()


@pytest.mark.skipif(not _HAS_RI, reason="evalkit.inference.randomization is not there yet")
def test_randomization_inference_enumerates_acceptable_assignments_only() -> None:
    from evalkit.designs._outcomes import estimate_outcomes
    from evalkit.inference.randomization import RandomizationInference

    data, spec = _rerandomized_trial_data()
    z = data["treated"].to_numpy()
    bound = spec.bind(len(data), observed=z, data=data)
    # the per-outcome loop a RandomizedTrial runs, handed the rerandomized design's draw/enumerate/count
    res = estimate_outcomes(
        data,
        ["y"],
        treatment=z.astype(float),
        treatment_name="treated",
        estimator="difference_in_means",
        covariates=[],
        baseline=None,
        domains=None,
        inference=RandomizationInference(reps=10_000, seed=1, statistic="estimate"),
        default_inference=lambda: (RandomizationInference(), "unused: inference is given"),
        alpha=0.05,
        block_codes=None,
        block_labels=None,
        block_column=None,
        cluster_codes=None,
        weights=None,
        draw=bound.draw,
        enumerate_all=bound.enumerate,
        count=bound.count,
        design="rerandomized trial",
    )
    # SOURCE: brute force -- the exact randomization distribution of the difference in means over the acceptable
    # assignments only (itertools.combinations filtered with eq. 3.1); exact two-sided p = share with
    # |T*| >= |T_obs|. TOLERANCE: 1e-12 (both are exact enumerations of the same finite set).
    null_ref, observed = _acceptable_null_by_brute_force(data, spec.threshold)
    row = res.to_frame().iloc[0]
    assert bool(row["exact"]) and int(row["n_draws"]) == null_ref.size == bound.count() < math.comb(12, 6)
    np.testing.assert_allclose(np.sort(res.fits["y"].inference["null_statistics"]), null_ref, atol=1e-12)
    assert row["p_value"] == pytest.approx(np.mean(np.abs(null_ref) >= abs(observed) - 1e-12), abs=1e-12)


@pytest.mark.skipif(not (_TRIAL_PASSES_DATA and _HAS_RI), reason="needs RandomizedTrial(data=) wiring and RI")
def test_trial_randomization_inference_uses_acceptable_assignments() -> None:
    from evalkit.inference.randomization import RandomizationInference

    data, spec = _rerandomized_trial_data()
    trial = RandomizedTrial(data, "treated", assignment=spec)
    res = trial.estimate("y", inference=RandomizationInference(reps=10_000, seed=1, statistic="estimate"))
    # SOURCE and TOLERANCE as in the previous test (brute force over acceptable assignments; 1e-12).
    null_ref, observed = _acceptable_null_by_brute_force(data, spec.threshold)
    assert int(res.to_frame()["n_draws"].iloc[0]) == null_ref.size
    assert res.to_frame()["p_value"].iloc[0] == pytest.approx(
        np.mean(np.abs(null_ref) >= abs(observed) - 1e-12), abs=1e-12
    )
