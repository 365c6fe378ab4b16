"""Benchmark: two-way fixed effects with clustered (CR1) errors, evalkit vs pyfixest, in the same run.

1,000,000 households x 2 waves, 20,000 communities (clusters), treatment at community level from wave 2.
Prints wall-clock time of each (best of ``--repeats``, both warmed, BLAS limited to one thread so that a busy second
core cannot swing the ratio), their ratio, and, measured in separate runs afterwards (never while timing: a memory
tracer slows the two libraries unequally), the peak memory Python allocated during each call (tracemalloc; numpy
buffers are tracked) and the process's peak resident set size.

    .venv/bin/python benchmarks/bench_twfe.py [--households 1000000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits


def simulate(households: int, communities: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    community = rng.integers(0, communities, households)
    treated_comm = rng.random(communities) < 0.5
    hh_effect = rng.normal(size=households) + 0.3 * treated_comm[community]
    comm_shock = rng.normal(scale=0.5, size=(communities, 2))
    wave = np.tile([0, 1], households)
    hh = np.repeat(np.arange(households), 2)
    comm = community[hh]
    treated = (treated_comm[comm] & (wave == 1)).astype(np.int8)
    y = hh_effect[hh] + 0.2 * wave + comm_shock[comm, wave] + 0.1 * treated + rng.normal(size=2 * households)
    return pd.DataFrame({"household": hh, "wave": wave, "community": comm, "treated": treated, "y": y})


def run_evalkit(data: pd.DataFrame) -> tuple[float, float]:
    from evalkit.designs.did import DiffInDiff

    did = DiffInDiff(data, treatment="treated", unit="household", time="wave", clusters="community")
    row = did.estimate("y", inference="CR1").to_frame().iloc[0]
    return float(row["estimate"]), float(row["std_error"])


def run_pyfixest(data: pd.DataFrame) -> tuple[float, float]:
    import pyfixest as pf

    fit = pf.feols("y ~ treated | household + wave", data=data, vcov={"CRV1": "community"})
    return float(fit.coef().iloc[0]), float(fit.se().iloc[0])


def timed(fn, data: pd.DataFrame, repeats: int) -> tuple[float, tuple[float, float]]:
    """Best wall-clock time of ``repeats`` calls, with no tracer running."""
    best = np.inf
    out = (np.nan, np.nan)
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn(data)
        best = min(best, time.perf_counter() - start)
    return best, out


def peak_traced(fn, data: pd.DataFrame) -> float:
    """Peak memory (MiB) Python allocated during one call, under tracemalloc (a separate, untimed run)."""
    tracemalloc.start()
    fn(data)
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=1_000_000)
    parser.add_argument("--communities", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    data = simulate(args.households, args.communities)
    data_mb = data.memory_usage(deep=True).sum() / 2**20
    print(
        f"data: {len(data):,} rows ({args.households:,} households x 2 waves), {args.communities:,} clusters, "
        f"{data_mb:.0f} MiB"
    )
    with threadpool_limits(limits=1):
        run_pyfixest(data.head(1000))  # warm up numba/JIT compilation outside the timing
        run_evalkit(data.head(1000))
        t_pf, r_pf = timed(run_pyfixest, data, args.repeats)
        t_ek, r_ek = timed(run_evalkit, data, args.repeats)
        m_pf, m_ek = peak_traced(run_pyfixest, data), peak_traced(run_evalkit, data)
    print(f"pyfixest feols  : {t_pf:7.2f} s   peak traced {m_pf:7.0f} MiB   estimate {r_pf[0]:.6f} se {r_pf[1]:.6f}")
    print(f"evalkit twfe CR1: {t_ek:7.2f} s   peak traced {m_ek:7.0f} MiB   estimate {r_ek[0]:.6f} se {r_ek[1]:.6f}")
    print(f"ratio evalkit / pyfixest: {t_ek / t_pf:.2f} (target <= 1.5)")
    print(f"process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    print(f"|estimate difference| = {abs(r_ek[0] - r_pf[0]):.2e}, |se difference| = {abs(r_ek[1] - r_pf[1]):.2e}")


if __name__ == "__main__":
    main()
