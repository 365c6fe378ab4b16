"""Benchmark: Callaway-Sant'Anna (analytic SEs, ATT(g,t) and aggregations) against csdid and diff-diff.

Two datasets, each side run on the same data in the same process:

* mpdta (``moderndid.load_mpdta()``): 500 counties x 5 years, three treatment cohorts and never treated;
* a synthetic panel of 20,000 units x 10 periods, four treatment cohorts (periods 4, 6, 8, 10) plus never
  treated (generator below, fixed seed).

The same work on every side: ATT(g,t) and the simple, group and dynamic (event-study) aggregations with analytic
standard errors, doubly robust 2x2, no covariates, never-treated comparison units, varying base period, no
anticipation (each package's options set explicitly). diff-diff has no calendar aggregation, so the calendar
aggregation is timed apart, evalkit against csdid only: the time of the main run with the calendar block added.
evalkit's times include building the design from the data frame; csdid's and diff-diff's include theirs.

Each side gets one warm-up run, then the median of ``repeats`` runs, interleaved round by round with the other
sides (at least 20 on mpdta; on the large panel csdid, which takes seconds per run, gets fewer -- printed).
Targets: csdid/evalkit >= 5 and diff-diff/evalkit >= 1 on both datasets. Timings on a shared machine are noisy;
run the script more than once.

    python benchmarks/bench_staggered.py [mpdta_repeats] [panel_repeats]
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
import numpy as np
import pandas as pd

from evalkit.designs.staggered import StaggeredDiD

MAIN_BLOCKS = ["att_gt", "simple", "group", "dynamic"]


def synthetic_panel(n_units: int = 20_000, n_periods: int = 10, seed: int = 20_261_203) -> pd.DataFrame:
    """A balanced panel: cohorts 4, 6, 8, 10 and never treated (0) in equal expected shares, unit effects,
    a common trend, effects growing with time since adoption, and i.i.d. normal noise."""
    rng = np.random.default_rng(seed)
    cohort = rng.choice(np.array([0, 4, 6, 8, 10]), size=n_units)
    unit = np.repeat(np.arange(1, n_units + 1), n_periods)
    period = np.tile(np.arange(1, n_periods + 1), n_units)
    g = np.repeat(cohort, n_periods)
    effect = np.where((g > 0) & (period >= g), 0.5 + 0.1 * (period - g), 0.0)
    y = np.repeat(rng.normal(size=n_units), n_periods) + 0.2 * period + effect + rng.normal(size=unit.size)
    return pd.DataFrame({"id": unit, "period": period, "first_treat": g, "y": y})


def _median_times(sides: dict[str, Callable[[], object]], repeats: dict[str, int]) -> dict[str, float]:
    """Median wall time of each side: one warm-up run each, then the timed runs interleaved round by round (one run
    of every side per round), so that a change in the machine's load falls on all sides alike."""
    for fn in sides.values():
        fn()  # warm-up
    times: dict[str, list[float]] = {key: [] for key in sides}
    for round_ in range(max(repeats.values())):
        for key, fn in sides.items():
            if round_ < repeats[key]:
                start = time.perf_counter()
                fn()
                times[key].append(time.perf_counter() - start)
    return {key: statistics.median(t) for key, t in times.items()}


def _sides(data: pd.DataFrame, y: str, unit: str, period: str, cohort: str) -> dict[str, Callable[[], object]]:
    from csdid.att_gt import ATTgt
    from diff_diff import CallawaySantAnna

    def evalkit_run(blocks: list[str]) -> object:
        design = StaggeredDiD(data, unit=unit, time=period, cohort=cohort)
        return design.estimate(
            y,
            method="dr",
            control="never_treated",
            base_period="varying",
            anticipation=0,
            inference="analytic",
            aggregate=blocks,
        )

    def csdid_run(kinds: tuple[str, ...]) -> object:
        with contextlib.redirect_stdout(io.StringIO()):
            model = ATTgt(
                yname=y,
                gname=cohort,
                idname=unit,
                tname=period,
                data=data,
                control_group="nevertreated",
                anticipation=0,
                cband=False,
            ).fit(est_method="dr", base_period="varying", bstrap=False)
            return [model.aggte(typec=k, bstrap=False, cband=False) for k in kinds]

    def diff_diff_run() -> object:
        return CallawaySantAnna(
            control_group="never_treated",
            anticipation=0,
            estimation_method="dr",
            base_period="varying",
            n_bootstrap=0,
            cband=False,
        ).fit(data, outcome=y, unit=unit, time=period, first_treat=cohort, aggregate="all")

    return {
        "evalkit": lambda: evalkit_run(MAIN_BLOCKS),
        "csdid": lambda: csdid_run(("simple", "group", "dynamic")),
        "diff-diff": diff_diff_run,
        "evalkit + calendar": lambda: evalkit_run([*MAIN_BLOCKS, "calendar"]),
        "csdid + calendar": lambda: csdid_run(("simple", "group", "dynamic", "calendar")),
    }


def _report(name: str, sides: dict[str, Callable[[], object]], repeats: int, csdid_repeats: int) -> None:
    t = _median_times(sides, {key: csdid_repeats if key.startswith("csdid") else repeats for key in sides})
    print(f"\n{name}: ATT(g,t) + simple/group/dynamic, analytic SEs, dr, no covariates")
    print(f"  median of {repeats} runs ({csdid_repeats} for csdid), interleaved, after one warm-up run each")
    print(f"  evalkit    {1e3 * t['evalkit']:9.2f} ms")
    print(
        f"  csdid      {1e3 * t['csdid']:9.2f} ms   csdid/evalkit     = {t['csdid'] / t['evalkit']:6.2f}  (target >= 5)"
    )
    print(
        f"  diff-diff  {1e3 * t['diff-diff']:9.2f} ms   diff-diff/evalkit = {t['diff-diff'] / t['evalkit']:6.2f}  "
        "(target >= 1)"
    )
    print("  calendar aggregation added (evalkit vs csdid only; diff-diff has none):")
    ek, cs = t["evalkit + calendar"], t["csdid + calendar"]
    print(f"  evalkit    {1e3 * ek:9.2f} ms   (+{1e3 * (ek - t['evalkit']):.2f} ms for calendar)")
    print(f"  csdid      {1e3 * cs:9.2f} ms   (+{1e3 * (cs - t['csdid']):.2f} ms)   csdid/evalkit = {cs / ek:6.2f}")


def main(mpdta_repeats: int = 25, panel_repeats: int = 7) -> None:
    warnings.simplefilter("ignore")
    mpdta = moderndid.load_mpdta().to_pandas()
    _report(
        "mpdta (500 units x 5 years)",
        _sides(mpdta, "lemp", "countyreal", "year", "first.treat"),
        mpdta_repeats,
        mpdta_repeats,
    )
    panel = synthetic_panel()
    _report(
        "synthetic panel (20,000 units x 10 periods, 4 cohorts + never treated)",
        _sides(panel, "y", "id", "period", "first_treat"),
        panel_repeats,
        max(3, panel_repeats // 2),
    )


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
