"""Design diagnosis (``RandomizedTrial.diagnose``): calibration against closed forms, the two engines against each
other, Monte Carlo SEs against replication, and serial against a dask ``LocalCluster`` (bit for bit)."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pandas as pd
import pytest
from _dask import local_client

import evalkit as ek
from evalkit.designs import _simulate
from evalkit.diagnostics.diagnose import SIMULATION_COLUMNS, diagnosands, run_diagnosis
from evalkit.errors import DataError, OptionError


def _trial_data(n: int = 80, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return pd.DataFrame(
        {
            "y": np.exp(0.5 * rng.normal(size=n)) + 0.5 * x,  # skewed control outcomes
            "t": np.tile([1, 0], n // 2),
            "x": x,
            "block": np.repeat(np.arange(4), n // 4),
            "cluster": np.arange(n) % 16,  # treatment (alternating) is constant within a cluster
        }
    )


def normal_outcomes(data: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """Control outcomes drawn anew in every simulation: iid N(0, 1) (module level, so that it pickles)."""
    return rng.normal(size=len(data))


def linear_effect(data: pd.DataFrame) -> np.ndarray:
    """Effects that vary with x: 0.2 + 0.3 x."""
    return 0.2 + 0.3 * data["x"].to_numpy()


# ------------------------------------------------------------------------------------------------------ calibration
def test_hc2_coverage_under_the_null_is_within_three_mc_ses_of_95_percent():
    """Property: under the sharp null with a constant (zero) effect the HC2 interval of the difference in means is
    a 95% interval (Neyman variance, exact for constant effects; Welch df). 4,000 simulations of a skewed outcome,
    n = 100; tolerance three Monte Carlo SEs (about 1.0 percentage point)."""
    trial = ek.RandomizedTrial(_trial_data(n=100, seed=1), "t")
    diag = trial.diagnose("y", effect=0.0, sims=4_000, seed=12)
    d = diag.diagnosands()
    assert diag.engine == "batched"
    assert abs(d["coverage"] - 0.95) <= 3 * d["coverage_mc_se"]
    assert d["type_one_error"] == d["power"]  # effect zero: the data are the sharp null
    assert abs(d["bias"]) <= 3 * d["bias_mc_se"]  # the difference in means is unbiased over assignments


@pytest.mark.parametrize(("n_treated", "n_control", "effect"), [(30, 30, 0.5), (20, 40, 0.6)])
def test_simulated_power_matches_the_exact_noncentral_t_power(n_treated, n_control, effect):
    """Reference: ``ek.planning.power`` (noncentral t on n - 2 df, exact for the classical pooled-variance t test
    of iid normal outcomes with equal variances; checked against R's pwr in tests/planning). The simulation draws
    y(0) ~ N(0, 1) anew each time and adds a constant effect; classical SEs. 4,000 simulations; tolerance three
    Monte Carlo SEs (about 2.3 percentage points)."""
    n = n_treated + n_control
    data = pd.DataFrame({"t": np.r_[np.ones(n_treated), np.zeros(n_control)].astype(int)})
    trial = ek.RandomizedTrial(data, "t")
    diag = trial.diagnose(normal_outcomes, effect=effect, sims=4_000, seed=7, inference="classical")
    analytic = ek.planning.power(effect, n_treated=n_treated, n_control=n_control).power
    d = diag.diagnosands()
    assert diag.engine == "batched"
    assert abs(d["power"] - analytic) <= 3 * d["power_mc_se"], (d["power"], analytic)
    # the same design: the t test of the true value has exact size alpha, and the classical SE is unbiased for
    # the SD of the estimate up to E[s] < sigma (ratio within 3 MC SEs of c4(n - 2) ~ 1 - 1/(4(n - 2)))
    assert abs(d["type_one_error"] - 0.05) <= 3 * d["type_one_error_mc_se"]
    assert abs(d["se_sd_ratio"] - (1 - 1 / (4 * (n - 2)))) <= 3 * d["se_sd_ratio_mc_se"]


def test_constant_effect_coverage_and_type_one_error_add_to_one():
    """Property: with a constant effect c the test of the truth on the simulated data is the test of zero on the
    sharp-null data (same assignment, same SE and df), so coverage = 1 - type-I error exactly."""
    trial = ek.RandomizedTrial(_trial_data(), "t", blocks="block")
    d = trial.diagnose("y", effect=0.4, sims=500, seed=3, estimator="lin", covariates="x").diagnosands()
    assert d["coverage"] + d["type_one_error"] == pytest.approx(1.0, abs=1e-12)
    assert d["mean_estimand"] == 0.4


# ---------------------------------------------------------------------------------------- the two engines agree
@pytest.mark.parametrize(
    "settings",
    [
        {"outcome": "y", "effect": 0.3},
        {"outcome": normal_outcomes, "effect": linear_effect},
        {"outcome": "y", "effect": linear_effect, "estimator": "lin", "covariates": ["x"], "blocks": "block"},
        {"outcome": normal_outcomes, "effect": 0.5, "inference": "classical"},
        {"outcome": "y", "effect": 0.0, "estimator": "ols", "covariates": "x", "inference": "HC1", "blocks": "block"},
    ],
    ids=["constant", "drawn-heterogeneous", "lin-blocked", "classical-drawn", "ols-null"],
)
def test_batched_engine_equals_the_one_estimation_path(settings):
    """Property: the batched engine (stacked assignments) reproduces, simulation by simulation, the loop engine
    (``estimate``'s own path) on the same draws; tolerance 1e-12 (rounding of different BLAS orderings)."""
    settings = dict(settings)
    trial = ek.RandomizedTrial(_trial_data(), "t", blocks=settings.pop("blocks", None))
    batched = trial.diagnose(sims=40, seed=11, task_size=15, engine="batched", **settings)
    loop = trial.diagnose(sims=40, seed=11, task_size=15, engine="loop", **settings)
    assert (batched.engine, loop.engine) == ("batched", "loop")
    a, b = batched.simulations, loop.simulations
    assert np.isfinite(a[list(SIMULATION_COLUMNS)].to_numpy()).all()
    np.testing.assert_allclose(a.to_numpy(), b.to_numpy(), rtol=0, atol=1e-12)


def test_heterogeneous_estimand_is_the_mean_effect_of_the_estimation_sample():
    """Property: with missing outcomes the estimand is the mean of tau_i over the complete rows the estimator
    uses (the loop engine is chosen automatically, since rows are dropped)."""
    data = _trial_data()
    data.loc[[0, 5, 6], "y"] = np.nan
    trial = ek.RandomizedTrial(data, "t")
    diag = trial.diagnose("y", effect=linear_effect, sims=5, seed=2)
    assert diag.engine == "loop"
    expected = linear_effect(data)[data["y"].notna().to_numpy()].mean()
    np.testing.assert_allclose(diag.simulations["estimand"], expected, rtol=1e-14)


# ------------------------------------------------------------------------------------------------- seeds, tasks
def test_tasks_use_seeds_spawned_by_task_index():
    """Property: task k of a diagnosis is ``simulator.run(SeedSequence(seed).spawn(n_tasks)[k], size)``, so the
    numbers depend on the seed and task size only, never on where or in which order tasks run."""
    trial = ek.RandomizedTrial(_trial_data(), "t")
    diag = trial.diagnose("y", effect=0.2, sims=25, seed=99, task_size=10)
    sim = _simulate.TrialSimulator(
        trial=trial,
        frame=trial.data[["y"]],
        outcome_name="y",
        draw_outcome=None,
        effects=np.full(80, 0.2),
        constant_effect=0.2,
        estimator="difference_in_means",
        covariates=(),
        baseline=None,
        inference=ek.inference.Sandwich("HC2"),
        alpha=0.05,
    )
    third = sim.run(np.random.SeedSequence(99).spawn(3)[2], 5)
    np.testing.assert_allclose(diag.simulations["estimate"].to_numpy()[20:], third["estimate"], rtol=0, atol=1e-12)
    again = trial.diagnose("y", effect=0.2, sims=25, seed=99, task_size=10)
    assert again.simulations.equals(diag.simulations)


def test_seeded_inference_gets_its_own_seed_in_every_simulation():
    """Property: randomization inference inside a diagnosis is re-seeded per simulation (seeds spawned from the
    task's stream), so a fixed ``seed`` on the method does not reuse one set of re-draws; the run repeats."""
    trial = ek.RandomizedTrial(_trial_data(n=40), "t")
    ri = ek.inference.RandomizationInference(reps=99, seed=1, confidence_interval=False)
    a = trial.diagnose("y", effect=0.0, sims=6, seed=4, inference=ri)
    b = trial.diagnose("y", effect=0.0, sims=6, seed=4, inference=ri)
    assert a.engine == "loop"
    assert a.simulations.equals(b.simulations)
    p = a.simulations["p_value"].to_numpy()
    assert np.all((p > 0) & (p <= 1)) and np.unique(p).size > 1


def test_simulator_pickles_and_runs_identically():
    """Property: the simulator (what dask sends to workers) survives a pickle round trip unchanged."""
    trial = ek.RandomizedTrial(_trial_data(), "t", clusters="cluster")
    sim = _simulate.TrialSimulator(
        trial=trial,
        frame=trial.data[["y"]],
        outcome_name="y",
        draw_outcome=None,
        effects=linear_effect(trial.data),
        constant_effect=None,
        estimator="difference_in_means",
        covariates=(),
        baseline=None,
        inference=ek.inference.Sandwich("CR2"),
        alpha=0.05,
    )
    copy = pickle.loads(pickle.dumps(sim))
    seed = np.random.SeedSequence(5)
    a, b = sim.run(seed, 4), copy.run(seed, 4)
    for column in SIMULATION_COLUMNS:
        np.testing.assert_array_equal(a[column], b[column])


# -------------------------------------------------------------------------------------------- Monte Carlo SEs
def test_mc_standard_errors_match_the_spread_over_replications():
    """Property: each diagnosand's Monte Carlo SE estimates the SD of the diagnosand over independent repetitions
    of the whole simulation. 400 repetitions of S = 400 synthetic simulations (estimates N(0.1, 1), SEs with
    spread, p-values uniform); the mean MC SE must be within 12% of the replication SD (the SD of an SD over 400
    repetitions is about 3.5%)."""
    rng = np.random.default_rng(2026)
    reps, S = 400, 400
    values = []
    for _ in range(reps):
        est = 0.1 + rng.normal(size=S)
        se = 0.8 * np.exp(0.2 * rng.normal(size=S))  # spread, independent of the estimate
        table = pd.DataFrame(
            {
                "estimand": 0.0,
                "estimate": est,
                "std_error": se,
                "p_value": rng.uniform(size=S) ** 1.5,
                "conf_low": est - 1.96 * se,
                "conf_high": est + 1.96 * se,
                "p_value_null": rng.uniform(size=S),
            }
        )
        d = diagnosands(table, 0.05)
        values.append(d)
    frame = pd.DataFrame(values)
    for name in ("bias", "rmse", "power", "coverage", "mean_se", "sd_estimate", "se_sd_ratio"):
        spread, mc = frame[name].std(ddof=1), frame[f"{name}_mc_se"].mean()
        assert abs(mc / spread - 1) < 0.12, (name, mc, spread)


def test_proportion_mc_se_is_the_binomial_formula():
    """Closed form: for a rejection rate p over S simulations the MC SE is sqrt(p (1 - p) / (S - 1)) (the sample SD
    of the 0/1 indicators, divisor S - 1, over sqrt(S))."""
    p = np.r_[np.full(30, 0.01), np.full(70, 0.5)]
    table = pd.DataFrame(
        {"estimand": 0.0, "estimate": 0.0, "std_error": 1.0, "p_value": p, "conf_low": -1.0, "conf_high": 1.0}
    ).assign(p_value_null=p)
    d = diagnosands(table, 0.05)
    assert d["power"] == 0.3
    assert d["power_mc_se"] == pytest.approx(np.sqrt(0.3 * 0.7 / 99), rel=1e-12)
    assert d["coverage"] == 1.0 and d["coverage_mc_se"] == 0.0


# -------------------------------------------------------------------------------------------------- refusals
def test_refusals_name_the_problem():
    trial = ek.RandomizedTrial(_trial_data(), "t", clusters="cluster")
    with pytest.raises(OptionError, match="engine='batched'"):
        trial.diagnose("y", effect=0.1, sims=10, seed=1, engine="batched")  # CR2: no batched engine
    with pytest.raises(OptionError, match="effect="):
        trial.diagnose("y", effect="big", sims=10, seed=1)
    with pytest.raises(OptionError, match="estimator"):
        trial.diagnose("y", effect=0.1, sims=10, seed=1, estimator="ancova")  # refused before simulating
    with pytest.raises(DataError, match="returned 3 values"):
        trial.diagnose(lambda data, rng: [1.0, 2.0, 3.0], sims=10, seed=1)
    with pytest.raises(OptionError, match="sims"):
        trial.diagnose("y", sims=1, seed=1)
    with pytest.raises(OptionError, match="dask"):
        run_diagnosis(_simulate, sims=10, seed=1, client=object())


def test_summary_and_frame_carry_inputs_and_every_diagnosand():
    trial = ek.RandomizedTrial(_trial_data(), "t")
    diag = trial.diagnose("y", effect=0.25, sims=50, seed=8)
    frame = diag.to_frame()
    assert frame.loc[0, "seed"] == 8 and frame.loc[0, "sims"] == 50 and frame.loc[0, "effect"] == "0.25"
    for name in ("bias", "rmse", "power", "coverage", "type_one_error", "mean_se", "sd_estimate", "se_sd_ratio"):
        assert name in frame and f"{name}_mc_se" in frame
    assert "coverage" in diag.summary() and "50 simulations" in diag.summary()


# --------------------------------------------------------------------------------------------------------- dask
@pytest.fixture(scope="module")
def dask_client():
    with local_client() as client:
        yield client


@pytest.mark.parametrize("clusters", [None, "cluster"], ids=["batched-HC2", "loop-CR2"])
def test_dask_local_cluster_gives_the_serial_numbers_bit_for_bit(dask_client, clusters):
    """Property: the same seed gives identical simulations serially and on a 2-worker LocalCluster (tasks and
    their spawned seeds do not depend on where they run; results are gathered in task order)."""
    trial = ek.RandomizedTrial(_trial_data(), "t", clusters=clusters)
    serial = trial.diagnose("y", effect=linear_effect, sims=40, seed=21, task_size=7)
    distributed = trial.diagnose(
        "y", effect=linear_effect, sims=40, seed=21, task_size=7, client=dask_client, progress=True
    )  # the bar follows tasks as they complete; the results are gathered in task order
    assert distributed.runner.startswith("dask client with 2 worker")
    assert serial.engine == ("batched" if clusters is None else "loop")
    assert distributed.simulations.equals(serial.simulations)
    assert distributed.to_frame().drop(columns="engine").equals(serial.to_frame().drop(columns="engine"))


def test_auto_engine_falls_back_to_the_loop_when_batched_would_differ():
    """Property: the batched engine is used only where it reproduces ``estimate`` on the observed assignment;
    HC2 with Bell-McCaffrey df (not the Welch df the batched engine computes) and CR2 go through the loop."""
    trial = ek.RandomizedTrial(_trial_data(), "t")
    bm = trial.diagnose("y", effect=0.1, sims=3, seed=1, inference=ek.inference.Sandwich("HC2", df="bell_mccaffrey"))
    assert bm.engine == "loop"
    assert trial.diagnose("y", effect=0.1, sims=3, seed=1, inference="HC3").engine == "batched"
    clustered = ek.RandomizedTrial(_trial_data(), "t", clusters="cluster")
    assert clustered.diagnose("y", effect=0.1, sims=3, seed=1).engine == "loop"


# ======================================================================================= difference in differences
def _vraem_did() -> ek.DiffInDiff:
    """The VRAEM design of notebooks/vraem.ipynb: 775 households x 2 waves, 31 communities in 6 districts,
    communities randomized within districts."""
    return ek.DiffInDiff(
        ek.datasets.load_vraem(),
        treatment="treated_post",
        unit="household_id",
        time="wave",
        clusters="community",
        blocks="district",
        assignment=ek.BlockClusterRandomization(),
    )


#: The two-period cluster DiD of ``ek.planning`` (design="did"): J clusters of m people, half treated.
_J, _M, _ICC, _PHI_C, _PHI_I = 30, 8, 0.2, 0.5, 0.3


def _cluster_panel(J: int = _J, m: int = _M) -> pd.DataFrame:
    person = np.arange(J * m)
    cluster = person // m
    treated = (cluster % 2 == 1).astype(int)
    return pd.DataFrame(
        {
            "person": np.repeat(person, 2),
            "cluster": np.repeat(cluster, 2),
            "wave": np.tile([0, 1], J * m),
            "d": np.repeat(treated, 2) * np.tile([0, 1], J * m),
            "x": np.repeat(np.sin(person), 2),
        }
    )


def planning_did_outcomes(data: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
    """Fresh outcomes of the planning model: y_ijt = c_jt + e_ijt, Var c = icc, Var e = 1 - icc, corr(c_j0, c_j1)
    = phi_c, corr(e_ij0, e_ij1) = phi_i (rows ordered person by person, wave 0 then 1; module level to pickle)."""
    J = int(data["cluster"].max()) + 1
    n = len(data) // 2

    def pairs(size: int, rho: float, var: float) -> np.ndarray:
        a, b = rng.normal(size=(2, size))
        return np.sqrt(var) * np.column_stack([a, rho * a + np.sqrt(1 - rho**2) * b])

    c = pairs(J, _PHI_C, _ICC)  # (J, 2)
    e = pairs(n, _PHI_I, 1 - _ICC)  # (people, 2)
    return c[data["cluster"].to_numpy(), data["wave"].to_numpy()] + e.reshape(-1)


def cluster_effect(data: pd.DataFrame) -> np.ndarray:
    """Effects that vary across clusters and people: 0.3 + 0.2 sin(cluster) + 0.1 x."""
    return 0.3 + 0.2 * np.sin(data["cluster"].to_numpy()) + 0.1 * data["x"].to_numpy()


def test_did_cr2_coverage_on_the_vraem_design_is_within_three_mc_ses_of_95_percent():
    """Property: on the VRAEM design (31 communities, 6 districts) under the sharp null with zero effect, the CR2
    interval with Bell-McCaffrey df (the design's default) covers the truth 95% of the time over re-drawn
    community assignments (Pustejovsky and Tipton 2018: CR2 + BM df is close to exact with 31 clusters). 2,000
    simulations, batched engine; tolerance three Monte Carlo SEs (about 1.5 percentage points)."""
    did = _vraem_did()
    diag = did.diagnose("social_capital", effect=0.0, sims=2_000, seed=2022)
    d = diag.diagnosands()
    assert diag.engine == "batched" and diag.inference.startswith("CR2")
    assert abs(d["coverage"] - 0.95) <= 3 * d["coverage_mc_se"], (d["coverage"], d["coverage_mc_se"])
    assert d["type_one_error"] == d["power"]  # effect zero: the simulated data are the sharp null
    assert d["n_failed"] == 0


def test_did_simulated_power_matches_the_planning_formula():
    """Reference: ``ek.planning.power(design="did")`` (noncentral t on J - 2 df; exact for the t test of
    cluster-mean changes with equal cluster sizes). The simulation draws the planning model's outcomes (ICC 0.2,
    serial correlations 0.5 of the cluster and 0.3 of the individual component) anew each time on 30 clusters of 8
    people observed twice, half the clusters re-drawn as treated; TWFE with CR2 / Bell-McCaffrey df, which for
    two periods, equal clusters and equal arms is that t test (FE absorption leaves CR2 unchanged, Pustejovsky and
    Tipton 2018, Theorem 2; BM df 2(J/2 - 1) = J - 2). 3,000 simulations; tolerance three MC SEs (~2.7 points)."""
    did = ek.DiffInDiff(
        _cluster_panel(), "d", unit="person", time="wave", clusters="cluster", assignment=ek.ClusterRandomization()
    )
    effect = 0.35
    diag = did.diagnose(planning_did_outcomes, effect=effect, sims=3_000, seed=5)
    planned = ek.planning.power(
        effect,
        n_clusters=_J,
        cluster_size=_M,
        icc=_ICC,
        design="did",
        autocorrelation_cluster=_PHI_C,
        autocorrelation_individual=_PHI_I,
    ).power
    d = diag.diagnosands()
    assert diag.engine == "batched"
    assert 0.3 < planned < 0.9  # a power the test can tell apart
    assert abs(d["power"] - planned) <= 3 * d["power_mc_se"], (d["power"], planned)
    # the same model: the test of the true value has exact size, and the estimate is unbiased
    assert abs(d["type_one_error"] - 0.05) <= 3 * d["type_one_error_mc_se"]
    assert abs(d["bias"]) <= 3 * d["bias_mc_se"]
    assert d["mean_estimand"] == pytest.approx(effect, rel=1e-12)  # the mean of a constant estimand


@pytest.mark.parametrize(
    "settings",
    [
        {"outcome": "social_capital", "effect": 2.0},
        {"outcome": "social_capital", "effect": 0.0, "inference": "CR1"},
        {"outcome": "n_child_health_practices", "effect": 0.2, "covariates": ["safe_water"]},
        {"outcome": planning_did_outcomes, "effect": cluster_effect, "design": "cluster-panel"},
        {"outcome": "y", "effect": cluster_effect, "design": "2x2"},
        {"outcome": "y", "effect": 0.5, "inference": "CR0", "design": "2x2"},
    ],
    ids=[
        "vraem-constant",
        "vraem-CR1",
        "vraem-missing-covariate",
        "drawn-heterogeneous",
        "2x2-heterogeneous",
        "2x2-CR0",
    ],
)
def test_did_batched_engine_equals_the_loop(settings):
    """Property: the batched engine (``fit_did_design`` on a task's draws, BM df per draw) reproduces, simulation by
    simulation, the loop (``estimate``'s estimator and inference on each draw); relative tolerance 1e-9."""
    settings = dict(settings)
    kind = settings.pop("design", "vraem")
    if kind == "vraem":
        did = _vraem_did()
    elif kind == "cluster-panel":
        did = ek.DiffInDiff(
            _cluster_panel(12, 4),
            "d",
            unit="person",
            time="wave",
            clusters="cluster",
            assignment=ek.ClusterRandomization(),
        )
    else:
        did = ek.DiffInDiff(_two_by_two(), "g", post="post", clusters="cluster", assignment=ek.ClusterRandomization())
    batched = did.diagnose(sims=30, seed=11, task_size=12, engine="batched", **settings)
    loop = did.diagnose(sims=30, seed=11, task_size=12, engine="loop", **settings)
    assert (batched.engine, loop.engine) == ("batched", "loop")
    a, b = batched.simulations.to_numpy(), loop.simulations.to_numpy()
    assert np.isfinite(a).all()
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def _two_by_two(G: int = 16, m: int = 6, seed: int = 3) -> pd.DataFrame:
    """Repeated cross-sections: G clusters (half treated), m different people per cluster in each period."""
    rng = np.random.default_rng(seed)
    cluster = np.repeat(np.arange(G), 2 * m)
    post = np.tile(np.repeat([0, 1], m), G)
    return pd.DataFrame(
        {
            "cluster": cluster,
            "post": post,
            "g": (cluster % 2).astype(int),
            "x": rng.normal(size=G * 2 * m),
            "y": rng.normal(size=G)[cluster] + 0.3 * post + rng.standard_t(5, size=G * 2 * m),
        }
    )


def test_did_heterogeneous_estimand_is_the_att_of_each_draw():
    """Property: the estimand of a simulation is the mean effect over the rows treated in that draw (treated
    clusters' post-period rows), recomputed here from the draws of task 0 (``did.draw_assignment`` is the same
    mechanism; the simulator draws first from the task's stream)."""
    data = _cluster_panel(12, 4)
    did = ek.DiffInDiff(data, "d", unit="person", time="wave", clusters="cluster", assignment=ek.ClusterRandomization())
    diag = did.diagnose(planning_did_outcomes, effect=cluster_effect, sims=8, seed=4, task_size=8)
    Z = did._draw(np.random.default_rng(np.random.SeedSequence(4).spawn(1)[0]), 8)
    tau = cluster_effect(data)
    expected = (Z * tau).sum(axis=1) / Z.sum(axis=1)
    np.testing.assert_allclose(diag.simulations["estimand"], expected, rtol=1e-14)
    assert np.unique(diag.simulations["estimand"]).size > 1  # the treated clusters, hence the ATT, change


def test_did_loop_reproduces_estimate_with_seeded_inference_on_the_observed_assignment():
    """Property: the loop runs ``estimate``'s estimator and inference: on the observed assignment and outcome, the
    simulator's wild cluster bootstrap and randomization inference give ``estimate``'s numbers exactly."""
    did = ek.DiffInDiff(_two_by_two(), "g", post="post", clusters="cluster", assignment=ek.ClusterRandomization())
    for method in (
        ek.inference.WildClusterBootstrap(reps=199, seed=3),
        ek.inference.RandomizationInference(reps=199, seed=3, confidence_interval=False),
    ):
        diag = did.diagnose("y", effect=0.0, sims=2, seed=1, inference=method)
        assert diag.engine == "loop"
        sim = _did_simulator(did, "y", method)
        z = did._d[sim.rows].astype(bool)
        row = sim._one(z, sim.sample.y, method)
        expected = did.estimate("y", inference=method).to_frame().iloc[0]
        for column in ("estimate", "std_error", "p_value", "conf_low", "conf_high"):
            assert row[column] == pytest.approx(expected[column], rel=1e-12, nan_ok=True), column


def _did_simulator(did: ek.DiffInDiff, outcome: str, method: object) -> _simulate.DiDSimulator:
    capture = _simulate._Capture(method)
    did.estimate(outcome, inference=capture)
    ctx = capture.seen[0][1]
    return _simulate.DiDSimulator(
        did=did,
        rows=np.asarray(ctx.rows),
        sample=ctx.sample,
        context=ctx,
        estimator="did" if not did.is_panel else "twfe",
        draw_outcome=None,
        effects=np.zeros(ctx.rows.size),
        constant_effect=0.0,
        inference=method,
        alpha=0.05,
    )


def test_did_same_seed_same_numbers_and_caller_data_untouched():
    """Property: the same seed repeats the diagnosis bit for bit; another seed gives other draws; neither the
    caller's frame nor the design's data change (a drawn outcome is added to a copy only)."""
    data = _cluster_panel(12, 4)
    before = data.copy(deep=True)
    did = ek.DiffInDiff(data, "d", unit="person", time="wave", clusters="cluster", assignment=ek.ClusterRandomization())
    columns = list(did.data.columns)
    a = did.diagnose(planning_did_outcomes, effect=0.2, sims=20, seed=9, task_size=7)
    b = did.diagnose(planning_did_outcomes, effect=0.2, sims=20, seed=9, task_size=7)
    c = did.diagnose(planning_did_outcomes, effect=0.2, sims=20, seed=10, task_size=7)
    assert a.simulations.equals(b.simulations)
    assert not np.allclose(a.simulations["estimate"], c.simulations["estimate"])
    pd.testing.assert_frame_equal(data, before)
    assert list(did.data.columns) == columns


def test_did_refusals_say_why():
    """Refusals name the reason: no declared assignment (the default), staggered adoption and a treatment that
    switches off (no declared assignment to re-draw), an event study, a batched engine that does not apply, a role
    column as outcome, an effect that is not a number or function."""
    panel = _cluster_panel(12, 4).assign(y=lambda f: np.cos(np.arange(len(f))))
    with pytest.raises(ek.errors.DesignError, match="declared not randomized"):
        ek.DiffInDiff(panel, "d", unit="person", time="wave", clusters="cluster").diagnose("y", sims=10, seed=1)
    # three waves: clusters 1, 5, 9 start in wave 1, clusters 3, 7, 11 in wave 2, the even ones never
    people = panel[panel["wave"] == 0]
    three = pd.concat([people.assign(wave=w) for w in (0, 1, 2)], ignore_index=True)
    start = np.where(three["cluster"] % 4 == 1, 1, np.where(three["cluster"] % 4 == 3, 2, 99))
    three["d"] = (three["wave"] >= start).astype(int)
    with pytest.raises(ek.errors.DesignError, match="staggered adoption"):
        ek.DiffInDiff(three, "d", unit="person", time="wave", clusters="cluster").diagnose("y", sims=10, seed=1)
    three["d"] = ((three["wave"] == 1) & (three["cluster"] % 2 == 1)).astype(int)  # on in wave 1, off in wave 2
    with pytest.raises(ek.errors.DesignError, match="switches off"):
        ek.DiffInDiff(three, "d", unit="person", time="wave", clusters="cluster").diagnose("y", sims=10, seed=1)
    did = ek.DiffInDiff(
        panel, "d", unit="person", time="wave", clusters="cluster", assignment=ek.ClusterRandomization()
    )
    with pytest.raises(OptionError, match="event study"):
        did.diagnose("y", sims=10, seed=1, estimator="event_study")
    with pytest.raises(OptionError, match="engine='batched'"):
        did.diagnose("y", sims=10, seed=1, engine="batched", inference=ek.inference.WildClusterBootstrap(reps=99))
    with pytest.raises(DataError, match="role"):
        did.diagnose("cluster", sims=10, seed=1)
    with pytest.raises(OptionError, match="effect="):
        did.diagnose("y", effect="large", sims=10, seed=1)


def test_did_simulator_pickles_and_runs_identically():
    """Property: the DiD simulator (what dask sends to workers) survives a pickle round trip unchanged."""
    did = ek.DiffInDiff(_two_by_two(), "g", post="post", clusters="cluster", assignment=ek.ClusterRandomization())
    sim = _did_simulator(did, "y", ek.inference.Sandwich("CR2"))
    sim = dataclasses.replace(
        sim, context=dataclasses.replace(sim.context, sample=None, refit=None, draw=None, enumerate=None, count=None)
    )
    copy = pickle.loads(pickle.dumps(sim))
    seed = np.random.SeedSequence(5)
    a, b = sim.run(seed, 4), copy.run(seed, 4)
    for column in SIMULATION_COLUMNS:
        np.testing.assert_array_equal(a[column], b[column])


@pytest.mark.parametrize("engine", ["batched", "loop"])
def test_did_dask_local_cluster_gives_the_serial_numbers_bit_for_bit(dask_client, engine):
    """Property: a DiD diagnosis gives identical simulations serially and on a 2-worker LocalCluster."""
    did = ek.DiffInDiff(
        _cluster_panel(12, 4), "d", unit="person", time="wave", clusters="cluster", assignment=ek.ClusterRandomization()
    )
    serial = did.diagnose(planning_did_outcomes, effect=cluster_effect, sims=30, seed=21, task_size=7, engine=engine)
    distributed = did.diagnose(
        planning_did_outcomes, effect=cluster_effect, sims=30, seed=21, task_size=7, engine=engine, client=dask_client
    )
    assert distributed.runner.startswith("dask client with 2 worker")
    assert serial.engine == engine
    assert distributed.simulations.equals(serial.simulations)


def test_did_auto_engine_uses_the_batched_fit_only_where_it_exists():
    """Property: weighted CR2 (identity working model) has no batched form and goes through the loop; weighted CR1
    is batched and equals the loop simulation by simulation (relative tolerance 1e-9)."""
    panel = _cluster_panel(12, 4).assign(w=lambda f: 1.0 + f["cluster"] % 3)
    did = ek.DiffInDiff(
        panel, "d", unit="person", time="wave", clusters="cluster", weights="w", assignment=ek.ClusterRandomization()
    )
    assert did.diagnose(planning_did_outcomes, effect=0.1, sims=3, seed=1).engine == "loop"  # CR2 by default
    batched = did.diagnose(planning_did_outcomes, effect=cluster_effect, sims=20, seed=2, inference="CR1")
    loop = did.diagnose(planning_did_outcomes, effect=cluster_effect, sims=20, seed=2, inference="CR1", engine="loop")
    assert batched.engine == "batched"
    np.testing.assert_allclose(batched.simulations.to_numpy(), loop.simulations.to_numpy(), rtol=1e-9, atol=1e-12)
