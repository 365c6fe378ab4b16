"""Reviewer findings on issue 8, item 2 ("the same degenerate-SE rule for every estimator, in one place").

The multiplier bootstrap had a second, absolute threshold (an SE below 1.5e-7 in the outcome's units was NaN), the
Callaway-Sant'Anna pre-test judged degeneracy against the ATT(g,t) instead of the outcome, the wild cluster
bootstrap inverted a test it had refused (a zero-width interval, no note), and MultiplierBootstrap checked its
options with its own code (a TypeError for batch_size="a", no check of the seed).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import evalkit as ek
from evalkit._validation import check_bool, check_int
from evalkit.errors import OptionError
from evalkit.estimators.callaway_santanna import group_time_att
from evalkit.inference import MultiplierBootstrap, WildClusterBootstrap
from evalkit.inference.influence import multiplier_bootstrap, pretest


def _staggered(y_of) -> pd.DataFrame:
    """30 units (cohorts 3 and 4 and never treated) over 5 years; y_of(rng, unit, year, cohort) gives y."""
    rng = np.random.default_rng(5)
    cohort = np.repeat([0, 3, 4, 0, 3, 4], 5)
    rows = [
        {"unit": u, "year": t, "first": g, "one": 1, "y": y_of(rng, u, t, g)}
        for u, g in enumerate(cohort)
        for t in range(1, 6)
    ]
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def noisy() -> pd.DataFrame:
    return _staggered(lambda rng, u, t, g: rng.normal() + (t >= g > 0) * 0.5)


# ------------------------------------------------------------------------------------------ item 1: bootstrap


@pytest.mark.parametrize("factor", [1e-8, 1e8])
def test_multiplier_bootstrap_is_free_of_the_outcome_units(noisy: pd.DataFrame, factor: float) -> None:
    def run(data: pd.DataFrame) -> pd.DataFrame:
        design = ek.StaggeredDiD(data, unit="unit", time="year", cohort="first")
        res = design.estimate("y", aggregate="all", inference=MultiplierBootstrap(reps=199, seed=11))
        return res.to_frame()

    plain = run(noisy)
    scaled = run(noisy.assign(y=noisy["y"] * factor))
    # SOURCE: the estimator is linear in y and the draws are the same (same seed), so SEs scale by `factor` and
    # the sup-t critical values are unit free (closed form). TOLERANCE: 1e-10 relative (rounding only).
    # Before the fix, y * 1e-8 gave NaN SEs (below the absolute 1.5e-7 threshold) and NaN critical values.
    assert np.isfinite(plain["std_error"]).all() and np.isfinite(plain["crit_uniform"]).all()
    np.testing.assert_allclose(scaled["std_error"], plain["std_error"] * factor, rtol=1e-10)
    np.testing.assert_allclose(scaled["crit_uniform"], plain["crit_uniform"], rtol=1e-10)
    np.testing.assert_allclose(scaled["p_value"], plain["p_value"], rtol=1e-9)


def test_multiplier_bootstrap_with_one_cluster_still_nan_with_note(noisy: pd.DataFrame) -> None:
    # One cluster: every influence function sums to zero, so every SE is zero in exact arithmetic (issue 8, item 2).
    design = ek.StaggeredDiD(noisy, unit="unit", time="year", cohort="first", clusters="one")
    res = design.estimate("y", aggregate="dynamic", inference=MultiplierBootstrap(reps=199, seed=1))
    table = res.to_frame()
    assert np.isfinite(table["estimate"]).all()
    for column in ("std_error", "p_value", "conf_low", "crit_uniform", "conf_low_uniform", "conf_high_uniform"):
        assert table[column].isna().all(), column
    assert any("zero up to rounding" in n for n in res.notes)


def test_sup_t_critical_value_leaves_out_degenerate_columns() -> None:
    rng = np.random.default_rng(3)
    unit = 1e-8  # the outcome's units: tiny, so an absolute threshold would drop the genuine column
    genuine = rng.normal(size=(40, 1)) * unit
    rounding = rng.normal(size=(40, 1)) * unit * 1e-14  # an SE of ~1e-15 of the scale: zero up to rounding
    influence = np.column_stack([genuine - genuine.mean(), rounding])
    settings = MultiplierBootstrap(reps=499, weights="rademacher", seed=9)
    est = np.array([0.3, 0.0]) * unit
    both = multiplier_bootstrap(influence, settings, estimates=est, scale=unit)
    alone = multiplier_bootstrap(influence[:, :1], settings)
    # SOURCE: the sup over the one genuine column (same seed: the multipliers do not depend on the columns);
    # TOLERANCE 1e-12 relative. Its SE is returned as estimated (the design's t_tests sets degenerate ones to NaN).
    assert both.critical_value == pytest.approx(alone.critical_value, rel=1e-12)
    assert both.std_errors[0] == pytest.approx(alone.std_errors[0], rel=1e-12)
    assert 0 < both.std_errors[1] < 1e-10 * unit
    # the rounding column would change the band if it were kept (it is only left out by the rule)
    kept = multiplier_bootstrap(influence, settings)
    assert kept.critical_value > alone.critical_value * (1 + 1e-6)


# ------------------------------------------------------------------------------------------- item 7: pre-test


def test_pretest_judges_degeneracy_against_the_outcome_scale() -> None:
    # y = unit effect + common trend exactly: every ATT(g,t) and its influence function is rounding noise (~1e-17),
    # which the table's t_tests (scale: the outcome's SD) reports as NaN; the pre-test said W = 2.44, p = 0.49.
    data = _staggered(lambda rng, u, t, g: float(np.sin(u)) + 0.3 * t)
    design = ek.StaggeredDiD(data, unit="unit", time="year", cohort="first")
    res = design.estimate("y")
    table = res.to_frame()
    assert table["std_error"].isna().all()
    assert table["pretest_statistic"].isna().all() and table["pretest_p_value"].isna().all()
    assert not any(n.startswith("Pre-test of parallel trends") for n in res.notes)
    # the function itself: judged against scale= (the outcome's SD), not the ATTs' own SD
    Y = data.pivot(index="unit", columns="year", values="y").to_numpy()
    cohort = data.groupby("unit")["first"].first().to_numpy().astype(float)
    cohort[cohort == 0] = np.inf
    fit = group_time_att(Y, cohort, np.arange(1, 6))
    assert np.isnan(pretest(fit, scale=float(np.nanstd(Y))).statistic)


# ------------------------------------------------------------------------------------- item 3: wild bootstrap


def test_wild_bootstrap_with_degenerate_se_gives_no_interval_and_a_note() -> None:
    # The exact-fit panel of the review (/tmp/review/p3.py): y = 0.5 d + unit effect + 0.3 t, no noise.
    rng = np.random.default_rng(1)
    U, T = 30, 4
    unit = np.repeat(np.arange(U), T)
    time = np.tile(np.arange(T), U)
    d = (unit < 12).astype(int) * (time >= 2)
    y = 0.5 * d + rng.normal(size=U)[unit] + 0.3 * time
    data = pd.DataFrame({"unit": unit, "time": time, "d": d, "y": y, "cl": unit // 3})
    did = ek.DiffInDiff(data, treatment="d", unit="unit", time="time", clusters="cl")
    res = did.estimate("y", inference=WildClusterBootstrap(reps=999, seed=1))
    row = res.to_frame().iloc[0]
    # SOURCE: exact fit, so the effect is 0.5 (closed form; TOLERANCE 1e-10) and its SE is zero up to rounding.
    assert row["estimate"] == pytest.approx(0.5, rel=1e-10)
    # before the fix: conf_low = conf_high = 0.5 (the inverted test of a zero SE) and no note
    for column in ("std_error", "statistic", "p_value", "conf_low", "conf_high"):
        assert np.isnan(row[column]), column
    assert any("standard error of d is zero up to rounding" in n for n in res.notes)


# ----------------------------------------------------------------------------------- item 23: option checks


@pytest.mark.parametrize(
    "kwargs",
    [
        {"reps": True},
        {"reps": 99.0},
        {"reps": 1},
        {"batch_size": "a"},
        {"batch_size": 2.5},
        {"batch_size": 0},
        {"seed": -1},
        {"seed": 1.5},
        {"seed": "1"},
        {"weights": "webb"},
    ],
)
def test_multiplier_bootstrap_options_raise_option_error(kwargs: dict) -> None:
    with pytest.raises(OptionError, match=next(iter(kwargs))):
        MultiplierBootstrap(**kwargs)


def test_multiplier_bootstrap_accepts_numpy_integers_and_generators() -> None:
    assert MultiplierBootstrap(reps=np.int64(99), batch_size=np.int32(10), seed=np.int64(3)).seed_used == 3
    assert MultiplierBootstrap(seed=np.random.default_rng(1)).seed_used is None


def test_shared_option_helpers() -> None:
    assert check_int("reps", np.int64(5), minimum=1) == 5
    assert check_bool("flag", np.bool_(True)) is True
    for bad in (True, 2.0, "3", 0):
        with pytest.raises(OptionError, match="reps=.*integer of at least 1"):
            check_int("reps", bad, minimum=1)
    with pytest.raises(OptionError, match="flag=1 must be True or False"):
        check_bool("flag", 1)
    # the wild cluster bootstrap uses the same helpers
    with pytest.raises(OptionError, match="reps=True"):
        WildClusterBootstrap(reps=True)
    with pytest.raises(OptionError, match="impose_null=1"):
        WildClusterBootstrap(impose_null=1)
