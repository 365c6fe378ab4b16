"""Benchmark: two-way fixed effects with CR1 clustered errors, evalkit ``DiffInDiff`` vs pyfixest ``feols``.

The same model on both sides, ``y ~ treated | unit + period`` with CR1 clustered by unit (fixest's small-sample
convention on both: ``(G/(G-1)) (n-1)/(n-K)``, unit effects nested in the clusters not counted), on simulated panels:

* ``1M x 2``: 500,000 households x 2 waves (1,000,000 rows), half the households treated in wave 2;
* ``1M x 10``: 100,000 units x 10 periods, staggered adoption from period 3 on (unbalanced: 5% of rows dropped);
* ``10M x 2``: 5,000,000 households x 2 waves (10,000,000 rows).

Time: both libraries warmed (compiled) on a small panel, then the median wall-clock of ``--repeats`` calls each, in
this process, with no memory tracer running and each library left to its own BLAS thread settings. The agreement of
the two (largest absolute difference of the coefficient and of its standard error) is printed with the ratio.

Memory: each library's peak in a separate, fresh subprocess (``--child``): the data are loaded from ``.npy`` files,
the library is imported and warmed, the kernel's peak-RSS counter is reset (``/proc/self/clear_refs``), one call is
made, and the peak resident set minus the resident set before the call is reported (without ``clear_refs``:
``ru_maxrss`` minus the resident set, which can hide a part of the call's peak below the load's).

    python benchmarks/bench_twfe.py [--panels 1Mx2 1Mx10 10Mx2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

PANELS = {"1Mx2": (500_000, 2), "1Mx10": (100_000, 10), "10Mx2": (5_000_000, 2)}
COLUMNS = ("unit", "period", "treated", "y")


def simulate(units: int, periods: int, seed: int = 1) -> pd.DataFrame:
    """A panel with unit and period effects and an effect of 0.1; with more than two periods adoption is staggered
    and 5% of rows are dropped (unbalanced)."""
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(units, dtype=np.int64), periods)
    period = np.tile(np.arange(periods, dtype=np.int64), units)
    if periods == 2:
        start = np.where(rng.random(units) < 0.5, 1, periods)
    else:
        start = rng.choice(np.r_[np.arange(3, periods), periods], units)  # never treated: start == periods
    treated = (period >= start[unit]).astype(np.int64)
    y = rng.normal(size=units)[unit] + 0.2 * period + 0.1 * treated + rng.normal(size=units * periods)
    data = pd.DataFrame({"unit": unit, "period": period, "treated": treated, "y": y})
    if periods > 2:
        data = data.loc[rng.random(len(data)) >= 0.05].reset_index(drop=True)
    return data


def run_evalkit(data: pd.DataFrame) -> tuple[float, float]:
    from evalkit.designs.did import DiffInDiff

    did = DiffInDiff(data, treatment="treated", unit="unit", time="period")  # clusters: the unit (default)
    row = did.estimate("y", inference="CR1").to_frame().iloc[0]
    return float(row["estimate"]), float(row["std_error"])


def run_pyfixest(data: pd.DataFrame) -> tuple[float, float]:
    import pyfixest as pf

    fit = pf.feols("y ~ treated | unit + period", data=data, vcov={"CRV1": "unit"})
    return float(fit.coef().iloc[0]), float(fit.se().iloc[0])


RUNNERS = {"evalkit": run_evalkit, "pyfixest": run_pyfixest}


def warm(fn) -> None:
    """Compile and load everything a call needs, on a small panel of the same shape."""
    fn(simulate(200, 4))


def timed(fn, data: pd.DataFrame, repeats: int) -> tuple[float, tuple[float, float]]:
    """Median wall-clock time of ``repeats`` calls, with no tracer running."""
    times, out = [], (np.nan, np.nan)
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn(data)
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def child(library: str, folder: str) -> None:
    """Fresh process: load the data, warm the library, reset the peak RSS, make one call, print the peak (MiB)."""
    data = pd.DataFrame({c: np.load(Path(folder) / f"{c}.npy") for c in COLUMNS})
    fn = RUNNERS[library]
    warm(fn)
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM (the peak RSS) to the current RSS
        before, reset = _status_kib("VmRSS"), True
    except OSError:
        before, reset = _status_kib("VmRSS"), False
    fn(data)
    peak = _status_kib("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"{(peak - before) / 1024:.1f}")


def peak_memory(library: str, folder: str) -> float:
    out = subprocess.run(
        [sys.executable, __file__, "--child", library, folder], capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--panels", nargs="+", choices=tuple(PANELS), default=list(PANELS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("LIBRARY", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    for fn in RUNNERS.values():
        warm(fn)
    print(
        "panel  rows (full)  pyfixest s  evalkit s  time ratio  pyfixest MiB  evalkit MiB  mem ratio  |d coef|  |d se|"[
            :120
        ]
    )
    for name in args.panels:
        data = simulate(*PANELS[name])
        t_pf, r_pf = timed(run_pyfixest, data, args.repeats)
        t_ek, r_ek = timed(run_evalkit, data, args.repeats)
        with tempfile.TemporaryDirectory() as folder:
            for c in COLUMNS:
                np.save(Path(folder) / f"{c}.npy", data[c].to_numpy())
            del data
            m_pf, m_ek = peak_memory("pyfixest", folder), peak_memory("evalkit", folder)
        print(
            f"{name:<6} {PANELS[name][0] * PANELS[name][1]:>11,}  {t_pf:10.2f}  {t_ek:9.2f}  {t_ek / t_pf:10.2f}  "
            f"{m_pf:12.0f}  {m_ek:11.0f}  {m_ek / m_pf:9.2f}  {abs(r_ek[0] - r_pf[0]):8.1e}  "
            f"{abs(r_ek[1] - r_pf[1]):6.1e}",
            flush=True,
        )
    print("targets: time ratio <= 1 and memory ratio <= 1 at 10M rows (evalkit / pyfixest); rows before the 5% drop")
    print(f"cpu count {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
