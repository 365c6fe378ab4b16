"""Randomization inference on the Casita sample: evalkit vs pyfixest's ``Feols.ritest``, timed in the same run.

Run ``python benchmarks/bench_randomization.py``. Five EASQ domain outcomes, ANCOVA (``estimator="ols"``) on
treatment, age in months and sex, complete cases (47 children), HC1 standard errors in both (pyfixest's
``vcov="hetero"``), 10,000 draws per outcome:

* studentized statistic: evalkit ``statistic="t"`` vs pyfixest ``type="randomization-t"`` (which refits the model
  with ``feols`` draw by draw; it is timed on fewer draws and scaled linearly, as printed);
* coefficient: evalkit ``statistic="estimate"`` vs pyfixest ``type="randomization-c"`` (numba; compiled in a warm-up
  call that is not timed).

The two do not draw the same assignments: pyfixest draws each child's treatment independently with probability 1/2
(the number treated varies), evalkit keeps the observed 41/19 split (complete randomization) -- see
tests/inference/test_randomization.py. Timings are wall-clock on a shared machine and noisy.
"""

from __future__ import annotations

import time

import numpy as np

import evalkit as ek
from evalkit.inference.randomization import RandomizationInference

OUTCOMES = ["easq_comm", "easq_gross_motor", "easq_fine_motor", "easq_problem", "easq_social"]
COVARIATES = ["age_months", "female"]
REPS = 10_000
PYFIXEST_T_REPS = 200  # pyfixest's randomization-t refits with feols per draw; scaled to REPS


def _time(fn, repeat: int = 3) -> float:
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    import pyfixest as pf

    data = ek.datasets.load_casita()
    trial = ek.RandomizedTrial(data, treatment="treated")

    def evalkit_run(statistic: str, ci: bool) -> None:
        inference = RandomizationInference(
            reps=REPS, seed=1, statistic=statistic, cov_type="HC1", confidence_interval=ci, progress=False
        )
        trial.estimate(OUTCOMES, estimator="ols", covariates=COVARIATES, inference=inference)

    fits = {}
    for outcome in OUTCOMES:
        sub = data.dropna(subset=[outcome, *COVARIATES]).reset_index(drop=True)
        fits[outcome] = pf.feols(f"{outcome} ~ treated + {' + '.join(COVARIATES)}", data=sub, vcov="hetero")

    def pyfixest_run(kind: str, reps: int) -> None:
        for k, outcome in enumerate(OUTCOMES):
            fits[outcome].ritest("treated", reps=reps, type=kind, rng=np.random.default_rng(k))

    # warm-up: numba compilation in pyfixest, first-call overheads in both
    pyfixest_run("randomization-c", 100)
    evalkit_run("estimate", False)

    ek_t = _time(lambda: evalkit_run("t", False))
    ek_t_ci = _time(lambda: evalkit_run("t", True))
    ek_c = _time(lambda: evalkit_run("estimate", False))
    pf_c = _time(lambda: pyfixest_run("randomization-c", REPS))
    pf_t_small = _time(lambda: pyfixest_run("randomization-t", PYFIXEST_T_REPS), repeat=1)
    pf_t = pf_t_small * REPS / PYFIXEST_T_REPS

    n_obs = len(data.dropna(subset=[OUTCOMES[0], *COVARIATES]))
    print(f"Casita, {len(OUTCOMES)} outcomes x {REPS:,} draws, ANCOVA with {', '.join(COVARIATES)}, n = {n_obs}, HC1")
    print(f"{'':42s}{'evalkit':>10s}{'pyfixest':>12s}{'ratio':>10s}")
    print(
        f"{'studentized (t), no interval':42s}{ek_t:10.3f}{pf_t:12.1f}{pf_t / ek_t:9.0f}x"
        f"   (pyfixest timed on {PYFIXEST_T_REPS} draws: {pf_t_small:.2f} s, scaled x{REPS // PYFIXEST_T_REPS})"
    )
    print(f"{'studentized (t), with inverted interval':42s}{ek_t_ci:10.3f}{pf_t:12.1f}{pf_t / ek_t_ci:9.0f}x")
    print(f"{'coefficient':42s}{ek_c:10.3f}{pf_c:12.3f}{pf_c / ek_c:9.1f}x")
    print("seconds, best of 3 (pyfixest randomization-t: one run); targets: t >= 50x, coefficient >= 3x")


if __name__ == "__main__":
    main()
