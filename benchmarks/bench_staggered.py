"""Benchmark: Callaway-Sant'Anna on mpdta (analytic SEs, ATT(g,t) and all four aggregations).

Runs evalkit, csdid and diff-diff in the same process on the same data and prints the median wall time of each and
the ratios. Targets: evalkit at least 5x faster than csdid and at least as fast as diff-diff.

    .venv/bin/python benchmarks/bench_staggered.py [repeats]
"""

from __future__ import annotations

import contextlib
import io
import statistics
import sys
import time
import warnings
from collections.abc import Callable

import moderndid

from evalkit.designs.staggered import StaggeredDiD


def _median_time(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(repeats: int = 30) -> None:
    warnings.simplefilter("ignore")
    from csdid.att_gt import ATTgt
    from diff_diff import CallawaySantAnna

    data = moderndid.load_mpdta().to_pandas()

    def evalkit_run() -> object:
        design = StaggeredDiD(data, unit="countyreal", time="year", cohort="first.treat")
        return design.estimate("lemp", aggregate="all")

    def csdid_run() -> object:
        with contextlib.redirect_stdout(io.StringIO()):
            model = ATTgt(yname="lemp", gname="first.treat", idname="countyreal", tname="year", data=data).fit(
                est_method="dr", bstrap=False
            )
            return [model.aggte(typec=k, bstrap=False) for k in ("simple", "group", "dynamic", "calendar")]

    def diff_diff_run() -> object:
        return CallawaySantAnna(estimation_method="dr").fit(
            data, outcome="lemp", unit="countyreal", time="year", first_treat="first.treat", aggregate="all"
        )

    t_ek = _median_time(evalkit_run, repeats)
    t_cs = _median_time(csdid_run, repeats)
    t_dd = _median_time(diff_diff_run, repeats)
    print(f"Callaway-Sant'Anna on mpdta, ATT(g,t) + simple/group/dynamic/calendar, analytic SEs ({repeats} runs)")
    print(f"  evalkit   {1e3 * t_ek:8.2f} ms  (design construction included)")
    print(f"  csdid     {1e3 * t_cs:8.2f} ms  ratio csdid/evalkit     = {t_cs / t_ek:5.2f}  (target >= 5)")
    print(f"  diff-diff {1e3 * t_dd:8.2f} ms  ratio diff-diff/evalkit = {t_dd / t_ek:5.2f}  (target >= 1)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
