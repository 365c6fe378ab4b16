"""Randomization inference at national scale (issue 12, item 5): the cluster-level batched fit of a blocked cluster
design, its memory, and the coefficient-only path of ``statistic="estimate"``.

References: the stacked per-draw solver :func:`evalkit.inference.batched.batch_least_squares` (QR of every draw's
design matrix, itself checked against ``sandwich`` and R in tests/inference/test_randomization.py); R's estimatr and
clubSandwich for the same design in tests/r_reference/test_ri_blocked_cluster_cr2.py. Memory bounds use
``tracemalloc`` (numpy reports its buffers to it); no test asserts a time.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from evalkit.estimators.treatment_design import TreatmentDesign
from evalkit.inference import batched
from evalkit.inference.batched import batch_least_squares, fit_treatment_design

MIB = 2**20


def _blocked_cluster(n_clusters: int, size: int, draws: int, seed: int = 7):
    """Clusters of ``size`` rows in 4 blocks, 3 covariates, block indicators; ``draws`` re-drawn cluster treatments
    (re-randomized within blocks), an outcome and the observed treatment as the two responses."""
    rng = np.random.default_rng(seed)
    G = n_clusters
    block_of = np.arange(G) % 4
    cluster = np.repeat(np.arange(G), size)
    rng.shuffle(cluster)  # rows not sorted by cluster
    x = rng.normal(size=(cluster.size, 3))
    x[:, 2] = rng.integers(0, 2, cluster.size)
    blocks = np.eye(4)[block_of[cluster]][:, 1:]
    zeta = np.empty((draws + 1, G))
    for b in range(4):
        members = np.flatnonzero(block_of == b)
        for j in range(draws + 1):
            zeta[j, members] = rng.permutation(np.arange(members.size) % 2)
    Z = zeta[:, cluster]
    y = 0.3 * Z[0] + x @ np.array([0.5, -0.2, 0.1]) + rng.normal(size=G)[cluster] + rng.normal(size=cluster.size)
    design = TreatmentDesign(fixed=np.column_stack([x, blocks]), interacted=np.empty((cluster.size, 0)))
    return design, Z[1:], np.column_stack([y, Z[0]]), cluster


@pytest.mark.parametrize("weighted", [False, True])
def test_cluster_level_cr2_equals_stacked_solver(weighted) -> None:
    design, Z, Y, cluster = _blocked_cluster(24, 9, 40)
    w = np.random.default_rng(3).uniform(0.5, 2.0, Z.shape[1]) if weighted else None
    fast = fit_treatment_design(design, Z, Y, cov_type="CR2", weights=w, clusters=cluster)
    slow = batch_least_squares(design.matrices(Z), Y, target=1, cov_type="CR2", weights=w, clusters=cluster)
    # REFERENCE: the stacked QR solver on the same draws. TOLERANCE: 1e-10 relative (rounding of two algorithms).
    np.testing.assert_allclose(fast.coef, slow.coef, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(fast.gram, slow.gram, rtol=1e-10, atol=1e-15)


def test_cluster_level_path_is_taken_and_falls_back_per_chunk(monkeypatch) -> None:
    design, Z, Y, cluster = _blocked_cluster(24, 9, 10)
    calls = {"cluster": 0}
    original = batched._solve_cluster_chunk

    def counting(*args, **kwargs):
        calls["cluster"] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(batched, "_solve_cluster_chunk", counting)
    fast = fit_treatment_design(design, Z, Y, cov_type="CR2", weights=None, clusters=cluster)
    assert calls["cluster"] >= 1
    # a treatment that varies within a cluster is fitted by the row-level FWL path, with the same numbers as QR
    Zmixed = Z.copy()
    Zmixed[:, 0] = 1.0 - Zmixed[:, 0]
    calls["cluster"] = 0
    mixed = fit_treatment_design(design, Zmixed, Y, cov_type="CR2", weights=None, clusters=cluster)
    assert calls["cluster"] == 0
    slow = batch_least_squares(design.matrices(Zmixed), Y, target=1, cov_type="CR2", clusters=cluster)
    np.testing.assert_allclose(mixed.gram, slow.gram, rtol=1e-10, atol=1e-15)
    assert np.isfinite(fast.gram).all()


def test_coefficient_only_fit_has_the_same_coefficients() -> None:
    design, Z, Y, cluster = _blocked_cluster(24, 9, 30)
    full = fit_treatment_design(design, Z, Y, cov_type="CR2", weights=None, clusters=cluster)
    coef = fit_treatment_design(design, Z, Y, cov_type="CR2", weights=None, clusters=cluster, variance=False)
    np.testing.assert_array_equal(coef.coef, full.coef)  # the same formula on the same cluster sums
    assert np.isnan(coef.gram).all()  # no variance computed (statistic="estimate")
    hc = fit_treatment_design(design, Z, Y, cov_type="HC2", weights=None, clusters=None, variance=False)
    np.testing.assert_allclose(hc.coef, full.coef, rtol=1e-10, atol=1e-13)


def test_blocked_cluster_cr2_never_builds_the_stack_of_designs() -> None:
    # 1,000 draws of a 2,400-row design with k = 8: the stack of design matrices that the old path built before
    # chunking is 1000 * 2400 * 8 * 8 bytes = 146 MiB (measured peak of the old path: 198 MiB). The cluster-level fit
    # keeps one chunk of O(draws * clusters) work arrays (chunks sized by MEMORY_BUDGET = 64 MiB; measured 22 MiB).
    design, Z, Y, cluster = _blocked_cluster(120, 20, 1000)
    tracemalloc.start()
    try:
        fit_treatment_design(design, Z, Y, cov_type="CR2", weights=None, clusters=cluster)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < batched.MEMORY_BUDGET, peak / MIB


@pytest.mark.parametrize("weighted", [False, True])
def test_cr2_series_equals_eigen_decomposition(weighted, monkeypatch) -> None:
    # Small clusters in few blocks: leverage blocks with trace up to ~0.5, the slowest case of the series.
    design, Z, Y, cluster = _blocked_cluster(12, 5, 30, seed=11)
    w = np.random.default_rng(5).uniform(0.5, 2.0, Z.shape[1]) if weighted else None
    series = fit_treatment_design(design, Z, Y, cov_type="CR2", weights=w, clusters=cluster)
    monkeypatch.setattr(batched, "_SERIES_BOUND", -1.0)  # every cluster through cr2_phi's eigen-decomposition
    eigen = fit_treatment_design(design, Z, Y, cov_type="CR2", weights=w, clusters=cluster)
    # REFERENCE: cr2_phi (eigen-decomposition). TOLERANCE: 1e-12 relative (series summed to a term below 2^-53).
    np.testing.assert_allclose(series.gram, eigen.gram, rtol=1e-12, atol=0.0)


def test_cr2_first_scores_series_equals_eigen_decomposition_over_a_wide_spread_of_leverage(monkeypatch) -> None:
    # Rank-4 cross products of 5 columns (the treated column in the span of the others, as with an intercept),
    # rescaled so that the Frobenius bound of M_g = L'C_gL runs from 1e-6 to just below the series bound (and past
    # it, where the eigen-decomposition is used anyway), in one batch: every cluster gets the accuracy it needs.
    rng = np.random.default_rng(2015)
    b, G, k, n_g = 3, 40, 5, 7
    X = rng.normal(size=(b, G, n_g, k))
    X[..., 0] = X[..., 1:] @ rng.normal(size=k - 1)
    cross = np.einsum("bgni,bgnj->bgij", X, X)
    scale = rng.uniform(0.5, 2.0, size=(b, k))
    M = scale[:, None, :, None] * cross * scale[:, None, None, :]
    frob = np.sqrt(np.einsum("bgij,bgij->bg", M, M))
    target = np.geomspace(1e-6, 0.499, b * G).reshape(b, G)
    target[:, -2:] = [0.5, 0.9]  # beyond the bound: cr2_phi in both runs
    cross *= (target / frob)[:, :, None, None]
    XE = rng.normal(size=(b, G, k, 2))
    series = batched._cr2_first_scores(cross, scale, XE)
    monkeypatch.setattr(batched, "_SERIES_BOUND", -1.0)  # every cluster through cr2_phi's eigen-decomposition
    eigen = batched._cr2_first_scores(cross, scale, XE)
    # REFERENCE: cr2_phi (eigen-decomposition). TOLERANCE: 1e-12 relative (series summed to a term below 2^-53).
    np.testing.assert_allclose(series, eigen, rtol=1e-12, atol=0.0)
