"""Peak memory and time of resampling runs whose full matrices would be large (evalkit issue 9, item 4).

Run ``python benchmarks/bench_bounded_memory.py [scenario ...]`` (scenarios: ``ri_exact``, ``ri_draws``,
``wcb_large``, ``wcb_default``; all by default). Each scenario runs in a fresh process, so that the peak resident set
(``ru_maxrss``) is that scenario's own:

* ``ri_exact``: randomization inference on a cluster trial of 20 clusters x 50 rows, 10 treated: all
  C(20, 10) = 184,756 assignments are enumerated (``reps=200_000``), statistic ``"estimate"`` with classical SEs.
  The full list is 185 MB as bool; batches of 2,000 are read range by range.
* ``ri_draws``: the same design, 200,000 random draws (the Monte Carlo path, unchanged apart from the loop).
* ``wcb_large``: wild cluster bootstrap (WCR11, Rademacher) with 1,000,000 draws and 100 clusters: the whole
  weight matrix would be 800 MB of floats.
* ``wcb_default``: 9,999 draws, 31 clusters (the size of ``bench_wild_bootstrap.py``).

Timings are wall-clock on a shared machine and noisy; run the script with ``PYTHONPATH`` pointing at another
checkout to compare versions.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time

import numpy as np
import pandas as pd

SCENARIOS = ("ri_exact", "ri_draws", "wcb_large", "wcb_default")


def _cluster_trial(n_clusters: int, per_cluster: int, n_treated: int):
    import evalkit as ek

    rng = np.random.default_rng(0)
    cluster = np.repeat(np.arange(n_clusters), per_cluster)
    treated = np.zeros(n_clusters, dtype=bool)
    treated[rng.choice(n_clusters, n_treated, replace=False)] = True
    y = rng.normal(size=cluster.size) + rng.normal(size=n_clusters)[cluster] + 0.3 * treated[cluster]
    data = pd.DataFrame({"y": y, "t": treated[cluster].astype(int), "c": cluster})
    return ek.RandomizedTrial(data, treatment="t", clusters="c")


def _wcb(reps: int, n_clusters: int) -> float:
    from evalkit.estimators._linear import fit_least_squares
    from evalkit.inference._base import InferenceContext
    from evalkit.inference.wild_bootstrap import WildClusterBootstrap

    rng = np.random.default_rng(1)
    cluster = np.repeat(np.arange(n_clusters), 25)
    treated = (rng.permutation(n_clusters) < n_clusters // 2).astype(float)[cluster]
    x = rng.normal(size=cluster.size)
    y = 0.2 * treated + x + rng.normal(size=n_clusters)[cluster] + rng.normal(size=cluster.size)
    X = np.column_stack([np.ones(cluster.size), treated, x])
    fit = fit_least_squares(y, X, ("(Intercept)", "treated", "x"), 1)
    ctx = InferenceContext(alpha=0.05, clusters=cluster)
    return WildClusterBootstrap(reps=reps, seed=1, progress=False).infer(fit, ctx).p_value


def run(scenario: str) -> None:
    from evalkit.inference.randomization import RandomizationInference

    start = time.perf_counter()
    if scenario in ("ri_exact", "ri_draws"):
        trial = _cluster_trial(20, 50, 10)
        ri = RandomizationInference(
            reps=200_000,
            seed=1,
            statistic="estimate",
            cov_type="classical",
            confidence_interval=False,
            enumerate="auto" if scenario == "ri_exact" else "never",
            progress=False,
        )
        p = float(trial.estimate("y", inference=ri).to_frame()["p_value"].iloc[0])
    elif scenario == "wcb_large":
        p = _wcb(1_000_000, 100)
    else:
        p = _wcb(9_999, 31)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"{scenario:12s} time {seconds:7.2f} s   peak RSS {peak:8.1f} MiB   p = {p!r}")


def main() -> None:
    chosen = sys.argv[1:] or list(SCENARIOS)
    if len(chosen) == 1:
        run(chosen[0])
        return
    for scenario in chosen:  # one process each: ru_maxrss is a process's peak
        subprocess.run([sys.executable, __file__, scenario], check=True)


if __name__ == "__main__":
    main()
