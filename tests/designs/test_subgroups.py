"""trial.subgroups (issue 10, item 2): one row per subgroup (the design's estimator on that subgroup, blocks and
clusters respected), a test that all subgroup effects are equal, multiple testing through Results.adjust and a
forest plot. Rows against R's lm_robust are in tests/r_reference/test_moderators_against_r.py."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.meta_analysis import combine_effects
from statsmodels.stats.multitest import multipletests

import evalkit as ek
from evalkit.errors import ColumnNotFoundError, DataError, DesignError, InferenceError
from evalkit.inference import RandomizationInference as RI


def _data(n: int = 240, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    blocks = np.repeat(np.arange(4), n // 4)
    z = np.concatenate([rng.permutation(np.r_[np.ones(n // 8), np.zeros(n // 8)]) for _ in range(4)])
    g = rng.choice(["lo", "mid", "hi"], n)
    x = rng.normal(size=n)
    y = z * (0.2 + 0.5 * (g == "hi")) + x + 0.3 * blocks + rng.normal(size=n)
    return pd.DataFrame({"y": y, "y2": y + rng.normal(size=n), "z": z, "g": g, "x": x, "block": blocks})


def test_two_subgroups_equality_is_closed_form():
    # Closed form for independent samples: W = (b1 - b2)^2 / (se1^2 + se2^2) on chi2(1). TOLERANCE: 1e-12.
    d = _data().assign(two=lambda f: np.where(f.g == "hi", "hi", "other"))
    frame = ek.RandomizedTrial(d, "z").subgroups("y", by="two", estimator="ols", covariates="x").to_frame()
    b, se = frame["estimate"].to_numpy(), frame["std_error"].to_numpy()
    w = (b[0] - b[1]) ** 2 / (se[0] ** 2 + se[1] ** 2)
    assert frame["equality_chi2"].iloc[0] == pytest.approx(w, rel=1e-12)
    assert frame["equality_p"].iloc[0] == pytest.approx(stats.chi2.sf(w, 1), rel=1e-12)
    assert frame["equality_df"].iloc[0] == 1


def test_three_subgroups_equality_is_cochrans_q():
    # SOURCE: statsmodels.stats.meta_analysis.combine_effects(...).q, Cochran's Q of the subgroup estimates with
    # variances se^2 (a different implementation). TOLERANCE: 1e-10 relative.
    frame = ek.RandomizedTrial(_data(), "z").subgroups("y", by="g").to_frame()
    q = combine_effects(frame["estimate"].to_numpy(), frame["std_error"].to_numpy() ** 2).q
    assert frame["equality_chi2"].iloc[0] == pytest.approx(q, rel=1e-10)
    assert frame["subgroup"].tolist() == ["hi", "lo", "mid"] and frame["term"].tolist() == ["g=hi", "g=lo", "g=mid"]


def test_blocked_subgroup_row_is_the_block_weighted_difference_within_the_subgroup():
    # Closed form (Gerber & Green 2012, eq. 4.10) within the subgroup: sum_b (n_b / N) (mean_1b - mean_0b) over the
    # subgroup's rows of each block, i.e. the blocks are respected inside the subgroup. TOLERANCE: 1e-12.
    d = _data()
    frame = ek.RandomizedTrial(d, "z", blocks="block").subgroups("y", by="g").to_frame().set_index("subgroup")
    sub = d[d.g == "mid"]
    parts = [(len(rows), rows.y[rows.z == 1].mean() - rows.y[rows.z == 0].mean()) for _, rows in sub.groupby("block")]
    expected = sum(n * diff for n, diff in parts) / len(sub)
    assert frame.loc["mid", "estimate"] == pytest.approx(expected, abs=1e-12)
    assert frame.loc["mid", "n_obs"] == len(sub)


def test_randomization_inference_within_a_subgroup_enumerates_its_assignments():
    # The subgroup's design: complete randomization of its own rows with its observed number treated, so exact
    # enumeration has comb(n_g, m_g) assignments (a count), and the p-value is a multiple of 1 / that count.
    d = _data(n=24, seed=2).assign(g=lambda f: np.repeat(["a", "b"], 12))
    res = ek.RandomizedTrial(d, "z").subgroups("y", by="g", inference=RI(confidence_interval=False))
    frame = res.to_frame().set_index("subgroup")
    for level in ("a", "b"):
        rows = d[d.g == level]
        count = math.comb(len(rows), int(rows.z.sum()))
        assert frame.loc[level, "n_draws"] == count and bool(frame.loc[level, "exact"])
        assert frame.loc[level, "p_value"] * count == pytest.approx(round(frame.loc[level, "p_value"] * count))


def test_adjust_across_subgroups_and_outcomes():
    # SOURCE: statsmodels multipletests(method="holm") on the six p-values (two outcomes x three subgroups).
    # TOLERANCE: 1e-12.
    res = ek.RandomizedTrial(_data(), "z").subgroups(["y", "y2"], by="g")
    adjusted = res.adjust("holm").to_frame()
    assert len(adjusted) == 6 and adjusted["outcome"].tolist() == ["y"] * 3 + ["y2"] * 3
    expected = multipletests(res.to_frame()["p_value"].to_numpy(), method="holm")[1]
    np.testing.assert_allclose(adjusted["p_adjusted"], expected, rtol=0, atol=1e-12)
    # The resampling corrections need one row per outcome; they refuse and point to holm / bh.
    with pytest.raises(InferenceError, match="'holm' or 'bh'"):
        res.adjust("romano_wolf", reps=99, seed=1)


def test_subgroup_without_an_arm_is_refused_by_name():
    d2 = _data()
    d2.loc[d2.g == "mid", "z"] = 0.0
    d2.loc[d2.index[d2.g == "hi"][:5], "z"] = 1.0  # keep both arms overall
    with pytest.raises(DataError, match=r"subgroup g=mid has no treated units"):
        ek.RandomizedTrial(d2, "z").subgroups("y", by="g")


def test_subgroup_whose_block_loses_an_arm_is_refused_with_its_name():
    d = _data()
    rows = d.index[(d.g == "lo") & (d.block == 2)]
    d.loc[rows, "z"] = 1.0  # block 2 keeps both arms overall, but not among the "lo" rows
    with pytest.raises(DesignError, match=r"in subgroup g=lo: block 2 of 'block' has no control units"):
        ek.RandomizedTrial(d, "z", blocks="block").subgroups("y", by="g")


def test_cluster_level_subgroups_are_tested_and_split_clusters_are_not():
    rng = np.random.default_rng(9)
    cl = np.repeat(np.arange(20), 6)
    z = np.repeat(rng.permutation(np.r_[np.ones(10), np.zeros(10)]), 6)
    region = np.repeat(np.where(np.arange(20) % 2 == 0, "north", "south"), 6)
    d = pd.DataFrame({"y": z + rng.normal(size=120), "z": z, "cl": cl, "region": region, "girl": np.tile([0, 1], 60)})
    trial = ek.RandomizedTrial(d, "z", clusters="cl")
    by_region = trial.subgroups("y", by="region").to_frame()
    assert by_region["equality_p"].notna().all() and by_region["n_clusters"].tolist() == [10, 10]
    by_girl = trial.subgroups("y", by="girl")
    assert by_girl.to_frame()["equality_p"].isna().all()
    assert any("moderators=['girl']" in n for n in by_girl.notes)


def test_missing_by_values_are_reported():
    d = _data()
    d.loc[[1, 2, 3], "g"] = None
    res = ek.RandomizedTrial(d, "z").subgroups("y", by="g")
    assert res.to_frame()["n_obs"].sum() == len(d) - 3
    assert res.dropped.set_index("column").loc["g", "n_missing"] == 3


def test_missing_rows_note_appears_once():
    # regression: each subgroup's Results carried the missing-rows note and the combined Results added it again
    d = _data()
    d.loc[[1, 2, 3], "g"] = None
    d.loc[[10, 20, 30, 40], "y"] = np.nan
    res = ek.RandomizedTrial(d, "z").subgroups("y", by="g")
    notes = [n for n in res.notes if n.startswith("Rows with missing values")]
    assert len(notes) == 1, res.notes
    assert len(set(res.notes)) == len(res.notes)  # property: no note is repeated
    # every row is accounted for: n_obs of the subgroups plus the rows dropped
    assert res.to_frame()["n_obs"].sum() + res.dropped["n_dropped"].sum() == len(d)


@pytest.mark.parametrize(("by", "error", "match"), [("z", DataError, "treatment"), ("nope", DataError, "nope")])
def test_refusals(by, error, match):
    with pytest.raises(error, match=match):
        ek.RandomizedTrial(_data(), "z").subgroups("y", by=by)


def test_forest_plot_draws_subgroup_rows_and_the_equality_test(tmp_path):
    res = ek.RandomizedTrial(_data(), "z").subgroups("y", by="g", estimator="ols", covariates="x")
    fig, ax = res.plot("subgroups")
    frame = res.to_frame()
    est = next(line for line in ax.get_lines() if line.get_label() == "estimate")
    # Rows drawn top to bottom: y = n - 1, ..., 0 (as coefficient_plot); the markers are the estimates.
    np.testing.assert_allclose(est.get_xdata(), frame["estimate"], rtol=0, atol=0)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [f"g = {lv} (n = {n})" for lv, n in zip(frame["subgroup"], frame["n_obs"], strict=True)]
    assert f"p = {frame['equality_p'].iloc[0]:.3g}" in ax.get_title()
    fig.savefig(tmp_path / "subgroups.png")
    assert (tmp_path / "subgroups.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plt.close(fig)
    with pytest.raises(ColumnNotFoundError, match="trial.subgroups"):
        ek.RandomizedTrial(_data(), "z").estimate("y").plot("subgroups")
