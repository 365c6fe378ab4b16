"""Randomization inference at national scale: the Cuna Más design against a plain numpy floor.

Run ``python benchmarks/bench_ri_national.py``. The design is ``ek.datasets.load_cuna_mas()`` (5,040 children in
180 districts, 12 departments; the early/late roll-out randomized by district within department) with the call of
``notebooks/cuna_mas.ipynb``: ``RandomizedTrial(data, "treated", clusters="district", blocks="department")``,
ANCOVA on the baseline index, age and sex (``estimator="ols"``), stratified cluster re-randomization, 10,000 draws,
no interval. Three timings, each warm (a short run first) and the best of two:

* (a) floor: numpy draws 10,000 assignments of the districts within departments (a random permutation of each
  department's labels) and gets every draw's difference in means from one cluster-sum product (draws x districts
  times districts x [sum of y, children]);
* (b) evalkit ``statistic="estimate"`` (the raw coefficient; target: b / a <= 50);
* (c) evalkit ``statistic="t"`` with the default CR2 standard error, recomputed under every draw (target:
  c / b <= 5).

The peak memory of (c) is measured in a separate, fresh process (never under a tracer while timing): its peak
resident set size (``resource.getrusage``) minus the resident set size after imports and loading the data
(target: < 1 GB). Timings are wall-clock and noisy on a shared machine.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

import numpy as np

REPS = 10_000
SEED = 2015
COVARIATES = ["{outcome}_bl", "age_months", "female"]


def _trial():
    import evalkit as ek

    data = ek.datasets.load_cuna_mas()
    return data, ek.RandomizedTrial(data, "treated", clusters="district", blocks="department")


def _evalkit(trial, statistic: str, reps: int = REPS) -> None:
    from evalkit.inference import RandomizationInference

    inference = RandomizationInference(
        reps=reps, seed=SEED, statistic=statistic, confidence_interval=False, progress=False
    )
    trial.estimate("dev_index", estimator="ols", covariates=COVARIATES, inference=inference)


def _floor(data, reps: int = REPS) -> np.ndarray:
    """Differences in means of y under ``reps`` stratified cluster re-randomizations, plain numpy."""
    sub = data.dropna(subset=["dev_index"])
    districts = sub.groupby("district", sort=True).agg(
        department=("department", "first"),
        treated=("treated", "first"),
        y=("dev_index", "sum"),
        size=("dev_index", "size"),
    )
    sums = districts[["y", "size"]].to_numpy(dtype=np.float64)  # (G, 2)
    total = sums.sum(axis=0)
    rng = np.random.default_rng(SEED)
    Z = np.empty((reps, len(districts)))
    for _, rows in districts.groupby("department").indices.items():
        labels = districts["treated"].to_numpy(dtype=np.float64)[rows]
        Z[:, rows] = rng.permuted(np.broadcast_to(labels, (reps, rows.size)), axis=1)
    treated = Z @ sums  # (reps, 2): sum of y and number of children among the treated
    return treated[:, 0] / treated[:, 1] - (total[0] - treated[:, 0]) / (total[1] - treated[:, 1])


def _best(fn, repeat: int = 2) -> float:
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _rss_kb() -> int:
    """Current resident set size (Linux ``/proc``; the peak so far elsewhere)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _memory() -> None:
    """Child process: peak RSS of the CR2-studentized run above the RSS after imports and data loading."""
    _, trial = _trial()
    base = _rss_kb()
    _evalkit(trial, "t")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"base_kb": base, "peak_kb": peak}))


def main() -> None:
    data, trial = _trial()
    # warm-up: first-call overheads (imports, caches) in both
    _floor(data, 100)
    _evalkit(trial, "estimate", 200)
    _evalkit(trial, "t", 200)

    floor = _best(lambda: _floor(data))
    raw = _best(lambda: _evalkit(trial, "estimate"))
    studentized = _best(lambda: _evalkit(trial, "t"))

    child = subprocess.run([sys.executable, __file__, "--memory"], capture_output=True, text=True, check=True, env=None)
    mem = json.loads(child.stdout.strip().splitlines()[-1])
    extra_mb = (mem["peak_kb"] - mem["base_kb"]) / 1024

    print(f"Cuna Más, {REPS:,} stratified cluster draws (180 districts in 12 departments, n = 5,040), ANCOVA")
    print(f"(a) numpy floor (draws + cluster-sum product)      {floor:8.3f} s")
    print(f"(b) evalkit statistic='estimate'                   {raw:8.3f} s   b/a = {raw / floor:6.1f}  (target <= 50)")
    print(
        f"(c) evalkit statistic='t' (CR2 per draw)           {studentized:8.3f} s   c/b = {studentized / raw:6.1f}"
        "  (target <= 5)"
    )
    print(
        f"peak memory of (c), fresh process: {extra_mb:,.0f} MB above {mem['base_kb'] / 1024:,.0f} MB after imports"
        " (target < 1,024 MB)"
    )
    print("seconds, best of 2 after a warm-up")


if __name__ == "__main__":
    if "--memory" in sys.argv:
        _memory()
    else:
        main()
