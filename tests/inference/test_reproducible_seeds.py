"""Every resampling method records the seed it actually used, and a rerun from that record is bit-identical
(issue 8, item 7).

Before: ``adjust("romano_wolf")`` after HC/CR inference drew new weights on every call and recorded ``seed: None``;
the wild cluster bootstrap and the multiplier bootstrap recorded no seed in ``provenance``. REFERENCE for every
test: the first run itself, repeated from its recorded seed; TOLERANCE: 0 (``np.array_equal``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import evalkit as ek
from evalkit.inference.influence import MultiplierBootstrap
from evalkit.inference.randomization import RandomizationInference
from evalkit.inference.wild_bootstrap import WildClusterBootstrap


@pytest.fixture
def hc2_results(small_trial: pd.DataFrame) -> ek.Results:
    return ek.RandomizedTrial(small_trial, treatment="treated").estimate(["y", "y2"], inference="HC2")


@pytest.mark.parametrize("method", ["romano_wolf", "westfall_young"])
def test_adjust_without_seed_records_the_seed_it_used(hc2_results: ek.Results, method: str) -> None:
    first = hc2_results.adjust(method, reps=499)
    second = hc2_results.adjust(method, reps=499)
    seeds = [r.provenance["adjustment"]["seed"] for r in (first, second)]
    assert all(isinstance(s, int) for s in seeds)
    assert seeds[0] != seeds[1]  # fresh entropy on each call (128 bits: equal with probability 2^-128)
    for run, seed in zip((first, second), seeds, strict=True):
        again = hc2_results.adjust(method, reps=499, seed=seed)
        assert again.provenance["adjustment"]["seed"] == seed
        assert np.array_equal(again.to_frame()["p_adjusted"], run.to_frame()["p_adjusted"])
        assert str(seed) in again.notes[-1]  # the note names the seed too


def test_adjust_after_randomization_records_the_randomization_seed(small_trial: pd.DataFrame) -> None:
    trial = ek.RandomizedTrial(small_trial, treatment="treated")
    spec = RandomizationInference(reps=499, confidence_interval=False)
    res = trial.estimate(["y", "y2"], inference=spec)
    adjusted = res.adjust("romano_wolf")
    assert adjusted.provenance["adjustment"]["seed"] == res.provenance["seed"] == spec.seed_used
    rerun = trial.estimate(["y", "y2"], inference=RandomizationInference(reps=499, seed=res.provenance["seed"]))
    assert np.array_equal(rerun.adjust("romano_wolf").to_frame()["p_adjusted"], adjusted.to_frame()["p_adjusted"])


def test_randomization_without_seed_is_repeatable_from_provenance(small_trial: pd.DataFrame) -> None:
    trial = ek.RandomizedTrial(small_trial, treatment="treated")
    res = trial.estimate("y", inference=RandomizationInference(reps=300, confidence_interval=False))
    seed = res.provenance["seed"]
    assert isinstance(seed, int)
    again = trial.estimate("y", inference=RandomizationInference(reps=300, seed=seed, confidence_interval=False))
    assert np.array_equal(again.fits["y"].inference["null_statistics"], res.fits["y"].inference["null_statistics"])
    assert again.to_frame()["p_value"].iloc[0] == res.to_frame()["p_value"].iloc[0]


def test_wild_bootstrap_without_seed_records_one_seed_in_provenance(cluster_trial: pd.DataFrame) -> None:
    data = cluster_trial.assign(y2=cluster_trial["y"] + cluster_trial["x"])
    trial = ek.RandomizedTrial(data, treatment="treated", clusters="cluster")
    res = trial.estimate(["y", "y2"], inference=WildClusterBootstrap(reps=999, weights="webb"))
    seed = res.provenance["seed"]
    assert isinstance(seed, int)
    assert [res.fits[o].inference["seed"] for o in ("y", "y2")] == [seed, seed]  # one seed for all outcomes
    again = trial.estimate(["y", "y2"], inference=WildClusterBootstrap(reps=999, weights="webb", seed=seed))
    for outcome in ("y", "y2"):
        assert np.array_equal(
            again.fits[outcome].inference["bootstrap_statistics"], res.fits[outcome].inference["bootstrap_statistics"]
        )
    assert np.array_equal(again.to_frame()[["p_value", "conf_low"]], res.to_frame()[["p_value", "conf_low"]])


def test_multiplier_bootstrap_without_seed_is_repeatable_from_provenance() -> None:
    rng = np.random.default_rng(5)
    cohort = np.repeat([0, 3, 4, 0, 3, 4], 5)
    rows = [
        {"unit": u, "year": t, "first": g, "y": rng.normal() + (t >= g > 0) * 0.5}
        for u, g in enumerate(cohort)
        for t in range(1, 6)
    ]
    design = ek.StaggeredDiD(pd.DataFrame(rows), unit="unit", time="year", cohort="first")
    res = design.estimate("y", aggregate="dynamic", inference=MultiplierBootstrap(reps=199))
    seed = res.provenance["seed"]
    assert isinstance(seed, int)
    again = design.estimate("y", aggregate="dynamic", inference=MultiplierBootstrap(reps=199, seed=seed))
    cols = ["std_error", "crit_uniform"]
    assert np.isfinite(res.to_frame()[cols].to_numpy(dtype=float)).any()  # a run of NaNs would pass vacuously
    assert np.array_equal(again.to_frame()[cols], res.to_frame()[cols], equal_nan=True)
