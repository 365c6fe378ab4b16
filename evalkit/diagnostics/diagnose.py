"""Design diagnosis: simulate a declared design many times and summarise how its estimator and test behave.

A design hands down a *simulator* (a picklable object with ``run(seed, size)``; see :class:`Simulator`) that
re-draws the design's own assignment, builds the outcome from the potential outcomes and runs the design's own
estimator and inference. This module splits the simulations into tasks of a fixed size, gives each task its own
seed spawned from the root ``SeedSequence`` by task index, runs the tasks here or on a ``dask.distributed``
client, concatenates them in task order and computes the diagnosands with their Monte Carlo standard errors, as
``DeclareDesign::diagnose_design`` (Blair, Cooper, Coppock and Humphreys 2019). Because the tasks and their seeds do
not depend on where they run, a distributed run gives the same numbers, bit for bit, as a serial one.

Nothing here knows which design it serves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from evalkit._distributed import check_client, describe_client, run_tasks
from evalkit._seeds import recordable_seed, seed_to_use
from evalkit._validation import check_int
from evalkit.errors import OptionError
from evalkit.inference._progress import check_progress, show_progress

__all__ = ["DIAGNOSANDS", "SIMULATION_COLUMNS", "Diagnosis", "Simulator", "diagnosands", "run_diagnosis"]

#: Columns of the per-simulation table every simulator returns (one row per simulation, in simulation order).
SIMULATION_COLUMNS = (
    "estimand",  # the true effect the estimator targets in this simulation (the mean effect of its sample)
    "estimate",
    "std_error",
    "p_value",  # the test of zero effect
    "conf_low",
    "conf_high",
    "p_value_null",  # the same test on the same assignment with the effect set to zero (the sharp null)
)

#: The diagnosands, in the order of :meth:`Diagnosis.to_frame`'s columns (each followed by ``<name>_mc_se``).
DIAGNOSANDS = (
    "mean_estimand",
    "mean_estimate",
    "bias",
    "rmse",
    "power",
    "coverage",
    "type_one_error",
    "mean_se",
    "sd_estimate",
    "se_sd_ratio",
)

_DEFAULT_TASK_SIZE = 100
_PROGRESS_MIN_WORK = 2_000_000  # simulations x observations above which an interactive run shows a progress bar


class Simulator(Protocol):
    """What a design hands to :func:`run_diagnosis`: a picklable object (settings and arrays, no open resources).

    ``run(seed, size)`` simulates ``size`` times with the random stream ``numpy.random.default_rng(seed)`` and
    returns a mapping of :data:`SIMULATION_COLUMNS` to float arrays of length ``size``, in simulation order (and
    optionally ``"notes"``, a tuple of messages, e.g. why some simulations failed and are NaN). It
    must depend on nothing but its arguments and its own state, so that the same task gives the same numbers in
    any process.
    """

    def run(self, seed: np.random.SeedSequence, size: int) -> Mapping[str, np.ndarray]: ...


@dataclass(frozen=True)
class Diagnosis:
    """A diagnosis of a declared design: bias, RMSE, power, coverage, type-I error and SE calibration.

    Attributes
    ----------
    outcome : str
        The outcome whose potential outcomes were simulated (a column, or a description of a callable).
    effect : str
        The effect that built the treated potential outcomes (a number, or a description of a callable).
    sims : int
        Number of simulations.
    seed : int or str
        The root seed; passing it back as ``seed=`` repeats the diagnosis bit for bit, serially or on a cluster.
    alpha : float
        Level of the tests (power, type-I error) and one minus the confidence level (coverage).
    estimator, inference, design : str
        What was simulated.
    engine : str
        ``"batched"`` (every task fitted as one stack of assignments) or ``"loop"`` (simulation by simulation).
    task_size : int
        Simulations per task (each task has its own spawned seed).
    runner : str
        ``"serial"`` or a description of the dask client.
    notes : tuple of str
        Caveats (e.g. simulations whose estimate failed, and why).

    Notes
    -----
    With :math:`S` simulations :math:`s = 1..S`, estimates :math:`\\hat\\tau_s`, estimands :math:`\\tau_s`,
    standard errors :math:`\\widehat{se}_s`, p-values :math:`p_s` of the test of zero and :math:`p^0_s` of the same
    test when the effect is zero (the same assignment, the treated outcomes equal to the control ones):

    * ``bias`` :math:`= \\bar{e}` with :math:`e_s = \\hat\\tau_s - \\tau_s`; ``rmse`` :math:`= \\sqrt{\\overline{e^2}}`;
    * ``power`` :math:`= \\overline{1[p_s \\le \\alpha]}`;
      ``type_one_error`` :math:`= \\overline{1[p^0_s \\le \\alpha]}`;
    * ``coverage`` :math:`= \\overline{1[\\text{conf\\_low}_s \\le \\tau_s \\le \\text{conf\\_high}_s]}`;
    * ``mean_se`` :math:`= \\overline{\\widehat{se}}`; ``sd_estimate`` the standard deviation of
      :math:`\\hat\\tau_s` (divisor :math:`S-1`); ``se_sd_ratio`` their ratio (1 for a calibrated standard error).

    Each ``<diagnosand>_mc_se`` is its Monte Carlo standard error, :math:`\\mathrm{sd}(\\psi_s)/\\sqrt{S}` with
    :math:`\\psi_s` the influence function of the diagnosand: :math:`x_s - \\bar x` for a mean (so a proportion
    gets :math:`\\sqrt{\\hat p(1-\\hat p)/S}` up to :math:`S/(S-1)`),
    :math:`(e_s^2 - \\overline{e^2})/(2\\,\\mathrm{rmse})` for the RMSE,
    :math:`((\\hat\\tau_s - \\bar{\\hat\\tau})^2 - \\mathrm{sd}^2)/(2\\,\\mathrm{sd})` for the SD, and
    :math:`(\\psi^{se}_s - r\\,\\psi^{sd}_s)/\\mathrm{sd}` for the ratio :math:`r` (delta method). A diagnosand uses the
    simulations where its inputs are finite; ``n_used`` counts those with a finite estimate.

    References
    ----------
    Blair, G., Cooper, J., Coppock, A. and Humphreys, M. (2019). Declaring and diagnosing research designs.
    *American Political Science Review* 113(3), 838-859.

    Morris, T. P., White, I. R. and Crowther, M. J. (2019). Using simulation studies to evaluate statistical
    methods. *Statistics in Medicine* 38(11), 2074-2102 (Monte Carlo standard errors, table 6).
    """

    outcome: str
    effect: str
    sims: int
    seed: int | str | None
    alpha: float
    estimator: str
    inference: str
    design: str
    engine: str
    task_size: int
    runner: str
    _simulations: pd.DataFrame = field(repr=False)
    notes: tuple[str, ...] = ()

    @property
    def simulations(self) -> pd.DataFrame:
        """One row per simulation (a copy): ``sim`` and :data:`SIMULATION_COLUMNS`."""
        return self._simulations.copy()

    def diagnosands(self) -> dict[str, float]:
        """The diagnosands and their Monte Carlo SEs (``<name>_mc_se``), plus ``n_used`` and ``n_failed``."""
        return diagnosands(self._simulations, self.alpha)

    def to_frame(self) -> pd.DataFrame:
        """One row: the inputs (outcome, effect, estimator, inference, sims, seed, alpha) and every diagnosand
        with its Monte Carlo standard error."""
        row: dict[str, Any] = {
            "outcome": self.outcome,
            "effect": self.effect,
            "estimator": self.estimator,
            "inference": self.inference,
            **self.diagnosands(),
            "sims": self.sims,
            "alpha": self.alpha,
            "seed": self.seed,
            "engine": self.engine,
        }
        return pd.DataFrame([row])

    def summary(self) -> str:
        """A plain-text table of the diagnosands with their Monte Carlo SEs."""
        d = self.diagnosands()
        lines = [
            f"Diagnosis of {self.design}",
            f"outcome {self.outcome}, effect {self.effect}; estimator {self.estimator}, inference {self.inference}",
            f"{self.sims} simulations (seed {self.seed}, {self.engine} engine, {self.runner}); alpha = {self.alpha:g}",
            f"{'diagnosand':<16}{'value':>12}{'MC SE':>12}",
        ]
        lines += [f"{name:<16}{d[name]:>12.4f}{d[name + '_mc_se']:>12.4f}" for name in DIAGNOSANDS]
        lines.append(f"simulations used: {d['n_used']} of {self.sims} ({d['n_failed']} failed)")
        lines += [f"Note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __repr__(self) -> str:
        d = self.diagnosands()
        return (
            f"Diagnosis({self.sims} sims: bias {d['bias']:.4g}, rmse {d['rmse']:.4g}, power {d['power']:.3f}, "
            f"coverage {d['coverage']:.3f})"
        )


def _mean_and_se(x: np.ndarray) -> tuple[float, float]:
    x = x[np.isfinite(x)]
    if x.size == 0:
        return np.nan, np.nan
    return float(x.mean()), (float(x.std(ddof=1) / np.sqrt(x.size)) if x.size > 1 else np.nan)


def _se_of(psi: np.ndarray) -> float:
    """Monte Carlo SE from an influence function: ``sd(psi) / sqrt(S)``."""
    return float(psi.std(ddof=1) / np.sqrt(psi.size)) if psi.size > 1 else np.nan


def diagnosands(simulations: pd.DataFrame, alpha: float) -> dict[str, float]:
    """Diagnosands and Monte Carlo SEs from a per-simulation table (see :class:`Diagnosis` for the formulas)."""
    est = simulations["estimate"].to_numpy(dtype=np.float64)
    estimand = simulations["estimand"].to_numpy(dtype=np.float64)
    se = simulations["std_error"].to_numpy(dtype=np.float64)
    p = simulations["p_value"].to_numpy(dtype=np.float64)
    p0 = simulations["p_value_null"].to_numpy(dtype=np.float64)
    low = simulations["conf_low"].to_numpy(dtype=np.float64)
    high = simulations["conf_high"].to_numpy(dtype=np.float64)
    out: dict[str, float] = {}
    ok = np.isfinite(est) & np.isfinite(estimand)
    out["mean_estimand"], out["mean_estimand_mc_se"] = _mean_and_se(estimand[ok])
    out["mean_estimate"], out["mean_estimate_mc_se"] = _mean_and_se(est[ok])
    err = est[ok] - estimand[ok]
    out["bias"], out["bias_mc_se"] = _mean_and_se(err)
    if err.size:
        mse = float(np.mean(err**2))
        rmse = np.sqrt(mse)
        out["rmse"] = float(rmse)
        out["rmse_mc_se"] = _se_of((err**2 - mse) / (2 * rmse)) if rmse > 0 else 0.0
    else:
        out["rmse"] = out["rmse_mc_se"] = np.nan
    rejected = np.where(np.isfinite(p), (p <= alpha).astype(np.float64), np.nan)
    out["power"], out["power_mc_se"] = _mean_and_se(rejected)
    covered = np.where(
        np.isfinite(low) & np.isfinite(high) & np.isfinite(estimand),
        ((low <= estimand) & (estimand <= high)).astype(np.float64),
        np.nan,
    )
    out["coverage"], out["coverage_mc_se"] = _mean_and_se(covered)
    rejected0 = np.where(np.isfinite(p0), (p0 <= alpha).astype(np.float64), np.nan)
    out["type_one_error"], out["type_one_error_mc_se"] = _mean_and_se(rejected0)
    out["mean_se"], out["mean_se_mc_se"] = _mean_and_se(se[ok])
    both = ok & np.isfinite(se)
    e, s = est[both], se[both]
    if e.size > 1:
        sd = float(e.std(ddof=1))
        psi_sd = ((e - e.mean()) ** 2 - sd**2) / (2 * sd) if sd > 0 else np.zeros_like(e)
        out["sd_estimate"], out["sd_estimate_mc_se"] = sd, _se_of(psi_sd)
        ratio = float(s.mean() / sd) if sd > 0 else np.nan
        out["se_sd_ratio"] = ratio
        out["se_sd_ratio_mc_se"] = _se_of(((s - s.mean()) - ratio * psi_sd) / sd) if sd > 0 else np.nan
    else:
        out["sd_estimate"] = out["sd_estimate_mc_se"] = out["se_sd_ratio"] = out["se_sd_ratio_mc_se"] = np.nan
    ordered = {k: out[k] for name in DIAGNOSANDS for k in (name, f"{name}_mc_se")}
    ordered["n_used"] = int(ok.sum())
    ordered["n_failed"] = int((~np.isfinite(est)).sum())
    return ordered


def _task_sizes(sims: int, task_size: int) -> list[int]:
    full, rest = divmod(sims, task_size)
    return [task_size] * full + ([rest] if rest else [])


def _run_task(simulator: Simulator, seed: np.random.SeedSequence, size: int) -> dict[str, Any]:
    """One task: ``simulator.run`` with its own seed, checked for shape (module-level, so that dask pickles it)."""
    out = simulator.run(seed, size)
    columns: dict[str, Any] = {c: np.asarray(out[c], dtype=np.float64).reshape(size) for c in SIMULATION_COLUMNS}
    columns["notes"] = tuple(out.get("notes", ()))
    return columns


def run_diagnosis(
    simulator: Simulator,
    *,
    sims: int,
    seed: int | np.random.SeedSequence | None,
    client: Any = None,
    task_size: int | None = None,
    progress: bool | None = None,
    work_per_sim: float = 1.0,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Run ``sims`` simulations in tasks with spawned seeds, serially or on a dask client; concatenate in order.

    Parameters
    ----------
    simulator : Simulator
        The design's simulator (picklable when ``client`` is given).
    sims : int
        Number of simulations.
    seed : int, SeedSequence or None
        Root seed; task ``k`` uses ``SeedSequence(seed).spawn(n_tasks)[k]``. None draws fresh entropy (recorded).
    client : dask.distributed.Client, optional
        Runs the tasks on the client's workers (:func:`evalkit._distributed.run_tasks`: the simulator is
        scattered once, the tasks mapped over it, the results put back in task order).
    task_size : int, optional
        Simulations per task (default 100). It fixes the random streams: the same seed with another
        ``task_size`` gives other draws; the same ``task_size`` gives the same numbers wherever the tasks run.
    progress : bool, optional
        Progress bar (``None``: when interactive and the run is long).
    work_per_sim : float
        Observations per simulation, to decide whether an automatic progress bar is worth showing.

    Returns
    -------
    simulations : DataFrame
        ``sim`` and :data:`SIMULATION_COLUMNS`, one row per simulation.
    info : dict
        ``seed`` (recordable), ``task_size``, ``n_tasks``, ``runner``, ``notes`` (the tasks' messages, once each).
    """
    sims = check_int("sims", sims, minimum=2)
    size = _DEFAULT_TASK_SIZE if task_size is None else check_int("task_size", task_size, minimum=1)
    check_progress(progress)
    check_client(client)
    used = seed_to_use(seed)
    if isinstance(used, np.random.Generator):
        raise OptionError("seed= must be an int or a numpy SeedSequence (a Generator's stream cannot be spawned).")
    root = used if isinstance(used, np.random.SeedSequence) else np.random.SeedSequence(used)
    sizes = _task_sizes(sims, size)
    # spawn from a copy so that a caller's SeedSequence is not advanced (the same object gives the same run)
    seeds = np.random.SeedSequence(root.entropy, spawn_key=root.spawn_key, pool_size=root.pool_size).spawn(len(sizes))
    show = show_progress(progress, sims * work_per_sim, _PROGRESS_MIN_WORK)
    parts: list[dict[str, Any]] = [{} for _ in sizes]
    tasks = list(zip(seeds, sizes, strict=True))
    for k, part in run_tasks(
        _run_task, simulator, tasks, client=client, size_of=sizes.__getitem__, show=show, desc="diagnose", unit="sim"
    ):
        parts[k] = part
    runner = describe_client(client)
    columns = {c: np.concatenate([p[c] for p in parts]) for c in SIMULATION_COLUMNS}
    table = pd.DataFrame({"sim": np.arange(sims), **columns})
    notes = tuple(dict.fromkeys(n for p in parts for n in p["notes"]))
    info = {"seed": recordable_seed(used), "task_size": size, "n_tasks": len(sizes), "runner": runner, "notes": notes}
    return table, info
