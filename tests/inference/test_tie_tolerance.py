"""Resampling p-values do not depend on the scale of the outcome (issue 8, item 5).

The tie tolerance used to be absolute (1e-10): multiplying the outcome by 1e-11 made every draw of an unstudentized
statistic a "tie" and turned p = 0.001 into p = 1. It is now relative to the statistic's scale
(:func:`evalkit.inference._pvalue.tie_tolerance`), in one helper used by randomization inference, the wild cluster
bootstrap and the Romano–Wolf / Westfall–Young step-downs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import evalkit as ek
from evalkit.inference._pvalue import at_least_as_extreme, tie_tolerance
from evalkit.inference.multiple_testing import romano_wolf
from evalkit.inference.randomization import RandomizationInference
from evalkit.inference.wild_bootstrap import WildClusterBootstrap

SCALES = (1e-11, 1e11)


def _trial(scale: float = 1.0) -> ek.RandomizedTrial:
    """40 units, 20 treated, effect 0.9 (p about 0.001 on 2,000 draws)."""
    rng = np.random.default_rng(1)
    data = pd.DataFrame({"t": rng.permutation([1] * 20 + [0] * 20)})
    data["y"] = (0.9 * data["t"] + rng.normal(size=40)) * scale
    data["y2"] = (0.2 * data["t"] + rng.normal(size=40)) * scale
    return ek.RandomizedTrial(data, treatment="t")


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("statistic", ["t", "estimate"])
@pytest.mark.parametrize("alternative", ["two-sided", "greater"])
def test_randomization_p_value_is_scale_invariant(scale: float, statistic: str, alternative: str) -> None:
    # REFERENCE: the same test on the unscaled outcome (t is scale invariant, the estimate scale equivariant, so the
    # comparisons with the draws are the same). TOLERANCE: 0 (same draws, same counts).
    def p_value(s: float) -> float:
        spec = RandomizationInference(
            reps=2_000, seed=3, statistic=statistic, alternative=alternative, confidence_interval=False
        )
        return float(_trial(s).estimate("y", inference=spec).to_frame()["p_value"].iloc[0])

    reference = p_value(1.0)
    assert reference < 0.01  # a real effect: the bug turned this into 1.0
    assert p_value(scale) == reference


@pytest.mark.parametrize("scale", [1.0, 1e-11])
@pytest.mark.parametrize(("alternative", "expected"), [("greater", 1 / 70), ("two-sided", 2 / 70)])
def test_exact_ties_still_count_at_any_scale(scale: float, alternative: str, expected: float) -> None:
    # Fisher's (1935, ch. 2) lady tasting tea: 8 cups, 4 milk first, all classified correctly. One-sided exact
    # p = 1/C(8,4) = 1/70; two-sided the mirror assignment ties in |difference| (= 1), p = 2/70.
    # SOURCE: Fisher 1935 (closed form); TOLERANCE: 1e-15 (a ratio of counts).
    tea = pd.DataFrame({"milk_first": [1, 0, 1, 1, 0, 0, 1, 0]})
    tea["said"] = tea["milk_first"] * scale
    spec = RandomizationInference(statistic="estimate", alternative=alternative, seed=1, confidence_interval=False)
    row = ek.RandomizedTrial(tea, treatment="milk_first").estimate("said", inference=spec).to_frame().iloc[0]
    assert bool(row["exact"])
    assert row["p_value"] == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize("scale", SCALES)
def test_wild_bootstrap_p_value_is_scale_invariant(cluster_trial: pd.DataFrame, scale: float) -> None:
    # REFERENCE: the unscaled run (the bootstrap t is scale invariant); TOLERANCE: 0.
    def p_value(s: float) -> float:
        data = cluster_trial.assign(y=cluster_trial["y"] * s)
        trial = ek.RandomizedTrial(data, treatment="treated", clusters="cluster")
        spec = WildClusterBootstrap(reps=999, weights="webb", seed=7, confidence_interval=False)
        return float(trial.estimate("y", inference=spec).to_frame()["p_value"].iloc[0])

    assert p_value(scale) == p_value(1.0)


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("inference", ["HC2", "randomization"])
def test_romano_wolf_is_scale_invariant(scale: float, inference: str) -> None:
    # REFERENCE: the unscaled run; TOLERANCE: 0 (same draws; t statistics invariant, estimates equivariant).
    def adjusted(s: float) -> np.ndarray:
        spec = (
            "HC2"
            if inference == "HC2"
            else RandomizationInference(reps=999, seed=2, statistic="estimate", confidence_interval=False)
        )
        res = _trial(s).estimate(["y", "y2"], inference=spec)
        return res.adjust("romano_wolf", reps=999, seed=5).to_frame()["p_adjusted"].to_numpy()

    np.testing.assert_array_equal(adjusted(scale), adjusted(1.0))


def test_tolerance_is_relative_to_the_statistic_scale() -> None:
    # rtol * max(|T|, median |T*|), documented in tie_tolerance; TOLERANCE: exact arithmetic on powers of 2 (0).
    draws = np.array([0.5, -1.0, 2.0, np.nan, np.inf])
    assert tie_tolerance(0.25, draws, rtol=2.0**-30) == 1.0 * 2.0**-30  # median of |0.5|, |-1|, |2| is 1
    assert tie_tolerance(4.0, draws * 2.0**-40, rtol=2.0**-30) == 4.0 * 2.0**-30
    # a draw that equals the observed value up to rounding is a tie; one a millionth away is not
    t = 1.0e-12 / 3.0
    near = np.array([t * (1 + 1e-14), t * (1 - 1e-14), t * (1 - 1e-6)])
    assert at_least_as_extreme(t, near, "greater").tolist() == [True, True, False]
    # a step-down on statistics scaled by 1e-12 (e.g. raw estimates of a rescaled outcome): same adjusted p-values,
    # including a draw that ties the observed maximum
    rng = np.random.default_rng(0)
    null = rng.standard_normal((500, 2))
    observed = np.array([2.5, 1.0])
    null[0, 1] = 2.5
    reference = romano_wolf(observed, null)
    assert reference[0] == pytest.approx((1 + np.sum(np.abs(null).max(axis=1) >= 2.5)) / 501, abs=1e-15)
    np.testing.assert_array_equal(romano_wolf(observed * 1e-12, null * 1e-12), reference)
