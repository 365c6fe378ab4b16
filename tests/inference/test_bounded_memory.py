"""Bounded memory in resampling: enumeration by range, batched randomization inference and wild bootstrap weights,
and the up-front refusal of runs that cannot finish (evalkit issue 9, item 4).

Memory bounds are checked with ``tracemalloc`` (numpy reports its buffers to it); the bounds sit between the
batched peak and the old full-matrix peak, which is noted next to each. No test asserts a time.
"""

from __future__ import annotations

import itertools
import math
import tracemalloc

import numpy as np
import pandas as pd
import pytest

import evalkit as ek
from evalkit.designs.assignment import (
    BlockClusterRandomization,
    BlockRandomization,
    BoundAssignment,
    ClusterRandomization,
    CompleteRandomization,
)
from evalkit.designs.assignment import rerandomization as rerandomization_module
from evalkit.designs.rerandomization import Rerandomization
from evalkit.errors import EvalkitError, InferenceError, OptionError, ResourceLimitError
from evalkit.estimators._linear import fit_least_squares
from evalkit.inference import _budget, wild_bootstrap
from evalkit.inference._base import InferenceContext
from evalkit.inference.randomization import RandomizationInference
from evalkit.inference.wild_bootstrap import WildClusterBootstrap, bootstrap_weights

MIB = 2**20


def _peak(fn):
    """(result, peak bytes traced while running fn)."""
    tracemalloc.start()
    try:
        out = fn()
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# ---------------------------------------------------------------------------------------------------------------
# enumeration by range
# ---------------------------------------------------------------------------------------------------------------


def _brute_force(bound) -> np.ndarray:
    """Every assignment in the documented order: itertools.product over blocks (last fastest) of
    itertools.combinations of each block's units (in unit order), expanded to observations."""
    per_block = []
    for b in range(len(bound.block_labels)):
        members = np.flatnonzero(bound.unit_block == b)
        m = bound.n_treated_per_block[bound.block_labels[b]]
        per_block.append([members[list(c)] for c in itertools.combinations(range(members.size), m)])
    rows = []
    for choice in itertools.product(*per_block):
        units = np.zeros(bound.n_units, dtype=bool)
        for treated in choice:
            units[treated] = True
        rows.append(units[bound.obs_unit])
    return np.array(rows)


def _designs():
    rng = np.random.default_rng(9)
    clusters = np.repeat(np.arange(9), rng.integers(1, 4, 9))
    blocks5 = np.repeat(["a", "b", "c"], [4, 5, 3])
    bc_sizes = rng.integers(1, 3, 10)
    bc_clusters = np.repeat(np.arange(10), bc_sizes)
    bc_blocks = np.repeat(np.repeat(["x", "y"], [6, 4]), bc_sizes)
    return {
        "complete": CompleteRandomization(n_treated=4).bind(10),
        "blocked": BlockRandomization(n_treated={"a": 2, "b": 2, "c": 1}).bind(blocks=blocks5),
        "cluster": ClusterRandomization(n_treated=4).bind(clusters=clusters),
        "blocked-cluster": BlockClusterRandomization(n_treated={"x": 3, "y": 2}).bind(
            blocks=bc_blocks, clusters=bc_clusters
        ),
    }


@pytest.mark.parametrize("name", ["complete", "blocked", "cluster", "blocked-cluster"])
def test_enumeration_by_range_equals_the_full_enumeration_in_order(name):
    bound = _designs()[name]
    full = bound.enumerate()
    # SOURCE: brute force with itertools (the documented order); TOLERANCE: identical rows in identical order.
    np.testing.assert_array_equal(full, _brute_force(bound))
    assert full.shape[0] == bound.count()
    total = bound.count()
    for step in (1, 7, total):
        pieces = [bound.enumerate(None, i, min(i + step, total)) for i in range(0, total, step)]
        np.testing.assert_array_equal(np.concatenate(pieces), full)
    np.testing.assert_array_equal(bound.enumerate(total, 5, 23), full[5:23])
    assert bound.enumerate(None, 3, 3).shape == (0, bound.n_obs)
    with pytest.raises(OptionError, match="0 <= start <= stop"):
        bound.enumerate(None, 4, total + 1)


def test_unranking_reaches_the_last_combination_of_a_large_block():
    # C(60, 30) = 118,264,581,564,861,424 assignments: rows far down the list are built without listing the rest.
    bound = CompleteRandomization(n_treated=30).bind(60)
    total = bound.count()
    assert total == math.comb(60, 30)
    rows = bound.enumerate(None, total - 2, total)
    # SOURCE: lexicographic order of itertools.combinations(range(60), 30): the last two are (29, 31, ..., 59) and
    # (30, ..., 59), the second is (0, ..., 28, 30); TOLERANCE: exact.
    np.testing.assert_array_equal(np.flatnonzero(rows[1]), np.arange(30, 60))
    np.testing.assert_array_equal(np.flatnonzero(rows[0]), np.r_[29, np.arange(31, 60)])
    np.testing.assert_array_equal(np.flatnonzero(bound.enumerate(None, 1, 2)[0]), np.r_[np.arange(29), 30])


def test_rerandomization_filters_its_base_in_batches(monkeypatch):
    rng = np.random.default_rng(3)
    data = pd.DataFrame(rng.normal(size=(11, 2)), columns=["x0", "x1"])
    spec = Rerandomization(CompleteRandomization(n_treated=4), ["x0", "x1"], acceptance=0.3)
    one_batch = spec.bind(11, data=data).enumerate()
    monkeypatch.setattr(rerandomization_module, "_CHUNK_CELLS", 40)  # 3 base assignments per batch
    bound = spec.bind(11, data=data)
    rows = bound.enumerate()
    # SOURCE: the same filter applied to the whole base at once; TOLERANCE: identical rows, identical order.
    np.testing.assert_array_equal(rows, one_batch)
    base = bound.base.enumerate()
    accepted = base[bound.distance(base) <= bound.threshold * (1 + rerandomization_module._REL_TOL)]
    np.testing.assert_array_equal(rows, accepted)
    n = rows.shape[0]
    np.testing.assert_array_equal(
        np.concatenate([bound.enumerate(None, i, min(i + 5, n)) for i in range(0, n, 5)]), rows
    )


# ---------------------------------------------------------------------------------------------------------------
# randomization inference
# ---------------------------------------------------------------------------------------------------------------


def _cluster_trial(n_clusters: int, per_cluster: int, n_treated: int, seed: int = 0) -> ek.RandomizedTrial:
    rng = np.random.default_rng(seed)
    cluster = np.repeat(np.arange(n_clusters), per_cluster)
    treated = np.zeros(n_clusters, dtype=bool)
    treated[rng.choice(n_clusters, n_treated, replace=False)] = True
    y = rng.normal(size=cluster.size) + rng.normal(size=n_clusters)[cluster] + 0.4 * treated[cluster]
    data = pd.DataFrame({"y": y, "t": treated[cluster].astype(int), "c": cluster})
    return ek.RandomizedTrial(data, treatment="t", clusters="c")


def test_exact_randomization_inference_is_bit_identical_to_the_full_list_path(monkeypatch):
    trial = _cluster_trial(10, 6, 5, seed=1)
    count = math.comb(10, 5)

    def run(batch_size):
        ri = RandomizationInference(reps=1_000, seed=1, batch_size=batch_size, progress=False)
        return trial.estimate("y", inference=ri)

    ranged = {b: run(b) for b in (7, count)}
    # The former path: the whole list built at once, then cut into batches (emulated by listing everything on
    # every call and slicing).
    full_enumerate = BoundAssignment.enumerate
    monkeypatch.setattr(
        BoundAssignment,
        "enumerate",
        lambda self, max_count=None, start=0, stop=None: full_enumerate(self, max_count)[start:stop],
    )
    listed = {b: run(b) for b in (7, count)}
    monkeypatch.undo()
    cols = ["p_value", "conf_low", "conf_high", "statistic", "std_error"]
    for b in (7, count):
        # SOURCE: the full-list path at the same batch_size; TOLERANCE: bit for bit (same batches, same order).
        np.testing.assert_array_equal(
            ranged[b].fits["y"].inference["null_statistics"], listed[b].fits["y"].inference["null_statistics"]
        )
        assert ranged[b].to_frame()[cols].equals(listed[b].to_frame()[cols])
    # Across batch sizes the assignments are the same list in the same order; the statistics agree up to the
    # rounding of differently sized matrix products (TOLERANCE 1e-12 absolute), the p-value exactly.
    np.testing.assert_allclose(
        ranged[7].fits["y"].inference["null_statistics"],
        ranged[count].fits["y"].inference["null_statistics"],
        rtol=0,
        atol=1e-12,
    )
    assert ranged[7].to_frame()["p_value"].iloc[0] == ranged[count].to_frame()["p_value"].iloc[0]
    # Reference: difference in cluster means under every assignment of the full list (statistic="estimate").
    est = trial.estimate(
        "y", inference=RandomizationInference(reps=1_000, statistic="estimate", batch_size=3, progress=False)
    )
    data = trial.data
    bound = ClusterRandomization(n_treated=5).bind(clusters=data["c"].to_numpy())
    Z = bound.enumerate()
    y = data["y"].to_numpy()
    dim = (Z @ y) / Z.sum(axis=1) - (~Z @ y) / (~Z).sum(axis=1)
    # SOURCE: closed-form difference in means per assignment; TOLERANCE 1e-12 absolute (outcome scale ~1).
    np.testing.assert_allclose(est.fits["y"].inference["null_statistics"], dim, rtol=0, atol=1e-12)
    observed = float(est.to_frame()["estimate"].iloc[0])
    p = np.mean(np.abs(dim) >= abs(observed) - 1e-9)
    # SOURCE: exact p = #{|T*| >= |T|}/K over all K = C(10, 5) assignments; TOLERANCE: exact (a ratio of counts).
    assert est.to_frame()["p_value"].iloc[0] == pytest.approx(p, abs=1e-15)


def test_exact_randomization_inference_memory_is_one_batch_not_the_whole_list():
    # 15 clusters of 200 rows, 7 treated: C(15, 7) = 6,435 assignments x 3,000 rows. The former path listed them all
    # at once (19.3 MB as bool; tracemalloc peak 37.1 MiB measured); read 20 at a time the peak is 3.9 MiB
    # (measured). Bound: 12 MiB.
    trial = _cluster_trial(15, 200, 7)
    ri = RandomizationInference(
        reps=10_000, statistic="estimate", cov_type="classical", confidence_interval=False, batch_size=20,
        progress=False,
    )  # fmt: skip
    res, peak = _peak(lambda: trial.estimate("y", inference=ri))
    assert res.to_frame()["n_draws"].iloc[0] == math.comb(15, 7) and bool(res.to_frame()["exact"].iloc[0])
    assert peak < 12 * MIB, f"peak {peak / MIB:.1f} MiB"


def test_monte_carlo_draws_follow_the_documented_per_batch_streams():
    # The documented stream: batches of batch_size, then the remainder (7 = 3 + 3 + 1), batch k drawn with
    # default_rng(SeedSequence(seed).spawn(n_batches)[k]).
    trial = _cluster_trial(12, 3, 6, seed=2)
    res = trial.estimate("y", inference=RandomizationInference(reps=7, seed=5, batch_size=3, enumerate="never"))
    seeds = np.random.SeedSequence(5).spawn(3)
    bound = ClusterRandomization(n_treated=6).bind(clusters=trial.data["c"].to_numpy())
    Z = np.concatenate([bound.draw(np.random.default_rng(s), n) for s, n in zip(seeds, (3, 3, 1), strict=True)])
    y = trial.data["y"].to_numpy()
    est = trial.estimate(
        "y",
        inference=RandomizationInference(reps=7, seed=5, batch_size=3, enumerate="never", statistic="estimate"),
    )
    dim = (Z @ y) / Z.sum(axis=1) - (~Z @ y) / (~Z).sum(axis=1)
    # SOURCE: the design's draw function called with the documented batch sizes; TOLERANCE 1e-12 absolute.
    np.testing.assert_allclose(est.fits["y"].inference["null_statistics"], dim, rtol=0, atol=1e-12)
    assert res.to_frame()["n_draws"].iloc[0] == 7


# ---------------------------------------------------------------------------------------------------------------
# wild cluster bootstrap
# ---------------------------------------------------------------------------------------------------------------


def _clustered(n_clusters: int, per_cluster: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    cluster = np.repeat(np.arange(n_clusters), per_cluster)
    treated = (rng.permutation(n_clusters) < n_clusters // 2).astype(float)[cluster]
    x = rng.normal(size=cluster.size)
    y = 0.2 * treated + 0.5 * x + rng.normal(size=n_clusters)[cluster] + rng.normal(size=cluster.size)
    X = np.column_stack([np.ones(cluster.size), treated, x])
    fit = fit_least_squares(y, X, ("(Intercept)", "treated", "x"), 1)
    return fit, InferenceContext(alpha=0.05, clusters=cluster)


@pytest.mark.parametrize("kind", ["rademacher", "webb", "mammen", "norm"])
def test_bootstrap_weights_do_not_depend_on_batch_size(kind, monkeypatch):
    monkeypatch.setattr(wild_bootstrap, "_DRAW_CELLS", 64)  # several int8 draw chunks even for a small run
    fit, ctx = _clustered(9, 4)
    runs = [
        WildClusterBootstrap(reps=301, weights=kind, seed=4, batch_size=b, full_enumeration="never").infer(fit, ctx)
        for b in (None, 7, 1)
    ]
    for out in runs[1:]:
        # SOURCE: property (same seed => same weights, whatever batch_size); TOLERANCE: weights and p-value bit for
        # bit; statistics and interval up to the rounding of differently sized matrix products (1e-12).
        np.testing.assert_array_equal(out.extra["weights"], runs[0].extra["weights"])
        np.testing.assert_allclose(
            out.extra["bootstrap_statistics"], runs[0].extra["bootstrap_statistics"], rtol=0, atol=1e-12
        )
        assert out.p_value == runs[0].p_value
        np.testing.assert_allclose([out.conf_low, out.conf_high], [runs[0].conf_low, runs[0].conf_high], atol=1e-9)
    # bootstrap_weights regenerates the weights of the run from the recorded seed
    again = bootstrap_weights(kind, 9, 301, np.random.default_rng(runs[0].extra["seed"]))
    np.testing.assert_array_equal(again, runs[0].extra["weights"])


@pytest.mark.parametrize("kind", ["rademacher", "mammen", "norm"])
def test_chunked_weights_are_the_numbers_of_one_draw(kind, monkeypatch):
    monkeypatch.setattr(wild_bootstrap, "_DRAW_CELLS", 64)  # chunks of 8 rows of 7 clusters
    got = np.concatenate(list(wild_bootstrap._weight_batches(kind, 7, 103, np.random.default_rng(11), 5)))
    rng = np.random.default_rng(11)
    # SOURCE: the single (reps, G) draw of evalkit 0.1.0's bootstrap_weights; TOLERANCE: bit for bit.
    if kind == "rademacher":
        one = 2.0 * rng.integers(0, 2, size=(103, 7), dtype=np.int8).astype(np.float64) - 1.0
    elif kind == "mammen":
        one = np.where(rng.random((103, 7)) < wild_bootstrap._MAMMEN_P_LOW, wild_bootstrap._MAMMEN_LOW,
                       wild_bootstrap._MAMMEN_HIGH)  # fmt: skip
    else:
        one = rng.standard_normal((103, 7))
    np.testing.assert_array_equal(got, one)


def test_wild_bootstrap_memory_does_not_grow_with_reps_times_clusters():
    # 200,000 draws x 100 clusters: the former path held the whole weight matrix (160 MB of floats plus 20 MB of
    # int8 codes). Batched: a 16 MiB int8 chunk, one batch's arrays and 5 numbers per draw (~8 MB). Bound 48 MiB.
    fit, ctx = _clustered(100, 3)
    wcb = WildClusterBootstrap(reps=200_000, seed=1, batch_size=2_000, confidence_interval=False, progress=False)
    out, peak = _peak(lambda: wcb.infer(fit, ctx))
    assert peak < 48 * MIB, f"peak {peak / MIB:.1f} MiB"
    assert out.extra["weights"] is None  # beyond 2^21 cells the matrix is not kept
    assert out.extra["bootstrap_statistics"].shape == (200_000,)


def test_full_enumeration_of_sign_vectors_by_batch():
    fit, ctx = _clustered(10, 5, seed=2)
    a = WildClusterBootstrap(reps=5_000, seed=1, batch_size=37).infer(fit, ctx)
    b = WildClusterBootstrap(reps=5_000, seed=1).infer(fit, ctx)
    V = a.extra["weights"]
    # SOURCE: itertools.product([-1, 1], repeat=G), the documented order; TOLERANCE: exact.
    np.testing.assert_array_equal(V, np.array(list(itertools.product([-1.0, 1.0], repeat=10))))
    np.testing.assert_allclose(a.extra["bootstrap_statistics"], b.extra["bootstrap_statistics"], rtol=0, atol=1e-12)
    assert a.columns["exact"] and a.p_value == b.p_value


# ---------------------------------------------------------------------------------------------------------------
# up-front refusal
# ---------------------------------------------------------------------------------------------------------------


needs_meminfo = pytest.mark.skipif(_budget.available_memory() is None, reason="available memory unknown here")


@needs_meminfo
def test_randomization_inference_refuses_what_cannot_fit_before_drawing():
    trial = _cluster_trial(12, 3, 6)
    ri = RandomizationInference(reps=10**13, seed=1, enumerate="never")
    with pytest.raises(ResourceLimitError) as info:
        trial.estimate("y", inference=ri)
    msg = str(info.value)
    # the message names reps, the estimate and the fix; 10^13 draws x 112 bytes = 1018.6 TiB
    assert "reps=10,000,000,000,000 would need about 1018.6 TiB of memory" in msg and "available" in msg
    assert "reps=..." in msg and "batch_size" in msg
    assert isinstance(info.value, InferenceError) and isinstance(info.value, EvalkitError)


@needs_meminfo
def test_wild_bootstrap_refuses_what_cannot_fit_before_drawing():
    fit, ctx = _clustered(20, 3)
    # 10^13 draws x 96 bytes = 873.1 TiB
    expected = r"reps=10,000,000,000,000 would need about 873.1 TiB of memory.*fewer draws \(reps=...\)"
    with pytest.raises(ResourceLimitError, match=expected):
        WildClusterBootstrap(reps=10**13, seed=1, weights="webb").infer(fit, ctx)


def test_runs_projected_beyond_the_time_limit_stop_after_the_first_batch(monkeypatch):
    monkeypatch.setattr(_budget, "MAX_SECONDS", 1e-9)
    trial = _cluster_trial(12, 3, 6)
    with pytest.raises(ResourceLimitError, match=r"reps=5,000 would take about .* first 100 of 5,000 draws"):
        trial.estimate("y", inference=RandomizationInference(reps=5_000, seed=1, batch_size=100, enumerate="never"))
    fit, ctx = _clustered(20, 3)
    with pytest.raises(ResourceLimitError, match=r"reps=9,999 would take about .*batch_size"):
        WildClusterBootstrap(reps=9_999, seed=1, batch_size=1_000).infer(fit, ctx)


def test_multiple_testing_sign_enumeration_is_read_in_batches(monkeypatch):
    from evalkit.inference import multiple_testing

    rng = np.random.default_rng(3)
    sizes = rng.integers(3, 8, size=10)
    cl = np.repeat(np.arange(10), sizes)
    z = np.repeat(np.r_[np.ones(5), np.zeros(5)], sizes)
    frame = {"cl": cl, "treated": z, "x": rng.normal(size=cl.size)}
    for j in range(3):
        shock = np.repeat(rng.normal(size=10), sizes)
        frame[f"y{j}"] = 0.3 * j * z + 0.5 * frame["x"] + shock + rng.normal(size=cl.size)
    res = ek.RandomizedTrial(pd.DataFrame(frame), "treated", clusters="cl").estimate(
        ["y0", "y1", "y2"], covariates="x", estimator="ols", inference="CR1"
    )
    whole = res.adjust("westfall_young", reps=9_999).to_frame()["p_adjusted"].to_numpy()
    monkeypatch.setattr(multiple_testing, "_BATCH_ELEMENTS", 500)  # 2^10 sign vectors in batches of 50
    batched = res.adjust("westfall_young", reps=9_999).to_frame()["p_adjusted"].to_numpy()
    # SOURCE: the same complete enumeration read in one batch; TOLERANCE: exact (counts over the same 1,024 vectors).
    np.testing.assert_array_equal(batched, whole)
