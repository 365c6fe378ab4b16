"""Shared fixtures: small simulated trials and the public reference data sets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest


@pytest.fixture
def small_trial() -> pd.DataFrame:
    """40 units, 4 blocks of 10 (4 treated each), 8 clusters of 5, two covariates and two outcomes."""
    rng = np.random.default_rng(20261124)
    n = 40
    block = np.repeat(["b1", "b2", "b3", "b4"], 10)
    treated = np.concatenate([rng.permutation([1] * 4 + [0] * 6) for _ in range(4)])
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n) + 0.5 * x1
    y = 1.0 + 0.8 * treated + 0.7 * x1 - 0.3 * x2 + rng.normal(size=n) * (1 + 0.5 * treated)
    y2 = 0.5 * treated + rng.normal(size=n)
    return pd.DataFrame({"y": y, "y2": y2, "treated": treated, "x1": x1, "x2": x2, "block": block, "id": np.arange(n)})


@pytest.fixture
def cluster_trial() -> pd.DataFrame:
    """12 clusters of varying size in 3 blocks; treatment assigned by cluster (2 of 4 per block)."""
    rng = np.random.default_rng(7)
    rows = []
    for b in range(3):
        treated_clusters = rng.permutation([1, 1, 0, 0])
        for c in range(4):
            size = int(rng.integers(3, 9))
            effect = rng.normal(scale=0.5)
            for _ in range(size):
                rows.append(
                    {
                        "block": f"B{b}",
                        "cluster": f"B{b}C{c}",
                        "treated": int(treated_clusters[c]),
                        "x": rng.normal(),
                        "y": 0.4 * treated_clusters[c] + effect + rng.normal(),
                    }
                )
    return pd.DataFrame(rows)


@pytest.fixture(scope="session")
def nsw() -> pd.DataFrame:
    """Dehejia-Wahba NSW experimental sample (causaldata ``nsw_mixtape``), numeric columns cast to float64."""
    from causaldata import nsw_mixtape

    data = nsw_mixtape.load_pandas().data
    numeric = [c for c in data.columns if c != "data_id"]
    data = data.astype({c: "float64" for c in numeric})
    data["age2"] = data["age"] ** 2
    return data
