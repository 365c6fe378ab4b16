"""Benchmark: wild cluster bootstrap (WCR11, Rademacher, 9,999 draws) on VRAEM-size data, evalkit vs pyfixest.

Simulated panel of 31 communities x 25 households x 2 waves (1,550 rows) in 6 districts, treatment at community
level (17 treated), regression ``y ~ treated * post + x1 + x2 + C(district)`` with errors clustered by community.
Both tools test the coefficient of ``treated:post``; pyfixest's ``Feols.wildboottest`` (which calls the
``wildboottest`` package) is the peer. Run: ``.venv/bin/python benchmarks/bench_wild_bootstrap.py``.

Timings are wall-clock medians over several runs in the same process; other processes on the machine add noise.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd

from evalkit.estimators._linear import fit_least_squares
from evalkit.inference._base import InferenceContext
from evalkit.inference.wild_bootstrap import WildClusterBootstrap

REPS = 9_999
RUNS = 5


def simulate(seed: int = 2024) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_comm, n_hh = 31, 25
    district = np.repeat(np.arange(6), [6, 5, 5, 5, 5, 5])
    treated_comm = np.zeros(n_comm)
    treated_comm[rng.permutation(n_comm)[:17]] = 1.0
    comm = np.repeat(np.arange(n_comm), n_hh * 2)
    post = np.tile([0.0, 1.0], n_comm * n_hh)
    hh = np.repeat(np.arange(n_comm * n_hh), 2)
    treated = treated_comm[comm]
    x1 = rng.normal(size=comm.size)
    x2 = rng.binomial(1, 0.4, size=comm.size).astype(float)
    y = (
        50.0
        + 3.0 * post
        + 2.0 * treated * post
        + 2.0 * x1
        - 1.5 * x2
        + rng.normal(scale=4.0, size=n_comm)[comm]
        + rng.normal(scale=6.0, size=n_comm * n_hh)[hh]
        + rng.normal(scale=8.0, size=comm.size)
    )
    return pd.DataFrame(
        {"y": y, "treated": treated, "post": post, "x1": x1, "x2": x2, "district": district[comm], "community": comm}
    )


def design_matrix(df: pd.DataFrame) -> tuple[np.ndarray, tuple[str, ...]]:
    dummies = pd.get_dummies(df["district"], prefix="district", drop_first=True, dtype=float)
    X = np.column_stack(
        [np.ones(len(df)), df["treated"] * df["post"], df["treated"], df["post"], df["x1"], df["x2"], dummies]
    )
    names = ("(Intercept)", "treated:post", "treated", "post", "x1", "x2", *dummies.columns)
    return X, names


def time_it(fn, runs: int = RUNS) -> tuple[float, object]:
    times, out = [], None
    for _ in range(runs):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), out


def main() -> None:
    import pyfixest as pf

    df = simulate()
    X, names = design_matrix(df)
    ctx = InferenceContext(alpha=0.05, clusters=df["community"].to_numpy())

    def evalkit_run(ci: bool):
        fit = fit_least_squares(df["y"].to_numpy(), X, names, 1)
        return WildClusterBootstrap(reps=REPS, seed=1, confidence_interval=ci).infer(fit, ctx)

    fit_pf = pf.feols("y ~ treated:post + treated + post + x1 + x2 + C(district)", data=df, vcov={"CRV1": "community"})
    param = next(name for name in fit_pf._coefnames if "treated:post" in name)

    def pyfixest_run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fit_pf.wildboottest(param=param, reps=REPS, seed=1)

    evalkit_run(False)  # warm caches (imports, BLAS threads)
    start = time.perf_counter()
    pyfixest_run()
    pf_cold = time.perf_counter() - start
    ek_test, ek_out = time_it(lambda: evalkit_run(False))
    ek_ci, ek_ci_out = time_it(lambda: evalkit_run(True))
    pf_warm, pf_out = time_it(pyfixest_run)

    print(f"VRAEM-size panel: {len(df)} rows, 31 clusters, k = {X.shape[1]}, B = {REPS}, WCR11 Rademacher")
    print(f"  evalkit  p = {ek_out.p_value:.4f}, t = {ek_out.statistic:.4f}")
    print(f"  pyfixest p = {float(pf_out['Pr(>|t|)']):.4f}, t = {float(pf_out['t value']):.4f}")
    print(f"  evalkit CI by test inversion: [{ek_ci_out.conf_low:.3f}, {ek_ci_out.conf_high:.3f}]")
    print(f"evalkit test only (fit + bootstrap p)     : {ek_test * 1e3:8.1f} ms (median of {RUNS})")
    print(f"evalkit test + CI by inversion            : {ek_ci * 1e3:8.1f} ms (median of {RUNS})")
    print(f"pyfixest Feols.wildboottest, first call   : {pf_cold * 1e3:8.1f} ms (includes numba compilation)")
    print(f"pyfixest Feols.wildboottest, later calls  : {pf_warm * 1e3:8.1f} ms (median of {RUNS})")
    print(f"ratio pyfixest / evalkit (test only)      : {pf_warm / ek_test:8.1f}x")
    print(f"ratio pyfixest / evalkit (evalkit with CI): {pf_warm / ek_ci:8.1f}x")


if __name__ == "__main__":
    main()
