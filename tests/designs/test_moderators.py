"""Moderators (issue 10, item 2): closed forms, randomization inference by brute force, refusals, and the
hand-made interaction covariate. The rows against R's lm_robust / lm_lin are in
tests/r_reference/test_moderators_against_r.py.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

import evalkit as ek
from evalkit.errors import DataError, OptionError
from evalkit.estimators import REGISTRY, EstimationSample
from evalkit.inference import RandomizationInference as RI


def _data(n: int = 80, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    z = rng.permutation(np.r_[np.ones(n // 2), np.zeros(n - n // 2)])
    female = rng.integers(0, 2, n).astype(float)
    x = rng.normal(size=n)
    y = z * (0.3 + 0.8 * female) + x + rng.normal(size=n)
    return pd.DataFrame({"y": y, "z": z, "female": female, "x": x, "g": rng.choice(["lo", "mid", "hi"], n)})


def test_saturated_treatment_row_is_share_weighted_average_of_subgroup_differences():
    # Closed form: with one binary moderator and no covariates the regression y ~ z * (f - mean f) is saturated, so
    # z:female = (diff in means among girls) - (among boys) and z = p_f d_f + (1 - p_f) d_m, p_f the share of girls.
    # TOLERANCE: 1e-12 (rounding).
    d = _data()
    frame = ek.RandomizedTrial(d, "z").estimate("y", estimator="ols", moderators="female").to_frame()
    diff = {f: d.y[(d.z == 1) & (d.female == f)].mean() - d.y[(d.z == 0) & (d.female == f)].mean() for f in (0, 1)}
    share = d.female.mean()
    assert frame["term"].tolist() == ["z", "z:female"]
    assert frame["estimate"].iloc[1] == pytest.approx(diff[1] - diff[0], abs=1e-12)
    assert frame["estimate"].iloc[0] == pytest.approx(share * diff[1] + (1 - share) * diff[0], abs=1e-12)


def test_shifting_a_moderator_changes_nothing():
    # Property: the moderator enters centred, so adding a constant to it leaves every row unchanged (to rounding).
    d = _data()
    shifted = d.assign(female=d.female + 1000.0)
    a = ek.RandomizedTrial(d, "z").estimate("y", estimator="ols", covariates="x", moderators="female").to_frame()
    b = ek.RandomizedTrial(shifted, "z").estimate("y", estimator="ols", covariates="x", moderators="female").to_frame()
    for col in ("estimate", "std_error", "p_value", "heterogeneity_F"):
        np.testing.assert_allclose(a[col], b[col], rtol=1e-9)


@pytest.mark.parametrize("estimator", ["ols", "lin", "change"])
def test_batched_form_rebuilds_the_fit_with_moderators(estimator):
    # Property: randomization inference re-draws z and rebuilds z x moderator from the estimator's batched form,
    # which must reproduce the fitted regressors (batch_design(sample, fit) is None otherwise), and for another
    # assignment the matrix must be the estimator's own fit on that assignment (to 1e-12).
    d = _data()
    rng = np.random.default_rng(0)
    M = np.column_stack([d.female, d.g == "lo", d.g == "mid"]).astype(float)
    sample = EstimationSample(
        y=d.y.to_numpy(),
        treatment=d.z.to_numpy(),
        covariates=d[["x"]].to_numpy(),
        covariate_names=("x",),
        baseline=d.x.to_numpy() / 2,
        moderators=M,
        moderator_names=("female", "g[lo]", "g[mid]"),
        treatment_name="z",
    )
    est = REGISTRY[estimator]
    fit = est.fit(sample)
    assert [fit.term_names[j] for j in fit.moderator_columns] == ["z:female", "z:g[lo]", "z:g[mid]"]
    design = est.batch_design(sample, fit)
    assert design is not None
    z_new = rng.permutation(sample.treatment)
    refit = est.fit(dataclasses.replace(sample, treatment=z_new))
    np.testing.assert_allclose(design.matrix(z_new), refit.X, rtol=0, atol=1e-12)


def _tiny() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 10
    z = np.array([1, 0, 1, 0, 1, 0, 0, 1, 0, 1], dtype=float)
    age = rng.uniform(2.0, 6.0, n)  # continuous: no re-drawn assignment makes z x age collinear with the rest
    x = rng.normal(size=n)
    y = z * (0.5 + 0.3 * age) + x + rng.normal(size=n)
    return pd.DataFrame({"y": y, "z": z, "age": age, "x": x})


def _brute_force(d: pd.DataFrame, column: int) -> tuple[float, float]:
    """Exact randomization-t p-value of one coefficient by itertools.combinations and statsmodels' HC2 t."""
    fc = d.age.to_numpy() - d.age.mean()
    x, y = d.x.to_numpy(), d.y.to_numpy()

    def t_of(z):
        X = sm.add_constant(np.column_stack([z, x, fc, z * fc]))
        return sm.OLS(y, X).fit(cov_type="HC2").tvalues[column]

    t_obs = t_of(d.z.to_numpy())
    n, m = len(d), int(d.z.sum())
    ts = []
    for treated in itertools.combinations(range(n), m):
        z = np.zeros(n)
        z[list(treated)] = 1
        ts.append(t_of(z))
    return float(np.mean(np.abs(np.array(ts)) >= abs(t_obs) - 1e-10)), float(t_obs)


def test_randomization_inference_redraws_the_interactions():
    # SOURCE: brute force over all C(10, 5) = 252 assignments, each fitted by statsmodels OLS of
    # y ~ z + x + age_c + z age_c with HC2 (z x age_c rebuilt for every assignment). TOLERANCE: 1e-12 on the p-values
    # (ratios of counts), 1e-10 relative on the statistics.
    d = _tiny()
    res = ek.RandomizedTrial(d, "z").estimate("y", estimator="ols", covariates="x", moderators="age", inference=RI())
    frame = res.to_frame()
    assert frame["n_draws"].tolist() == [math.comb(10, 5)] * 2 and frame["exact"].all()
    p_z, t_z = _brute_force(d, 1)
    p_zf, t_zf = _brute_force(d, 4)
    assert frame["p_value"].iloc[0] == pytest.approx(p_z, abs=1e-12)
    assert frame["statistic"].iloc[0] == pytest.approx(t_z, rel=1e-10)
    assert frame["p_value"].iloc[1] == pytest.approx(p_zf, abs=1e-12)
    assert frame["statistic"].iloc[1] == pytest.approx(t_zf, rel=1e-10)
    assert res.fits["y"].inference["batched"]  # the treatment row used the batched form (z x age_c per draw)
    assert frame["heterogeneity_p"].isna().all()
    assert any("sharp null of no effect" in n for n in res.notes)
    assert frame[["conf_low", "conf_high"]].iloc[1].isna().all()  # no constant-effect interval for an interaction
    assert frame["conf_low"].iloc[0] < frame["estimate"].iloc[0] < frame["conf_high"].iloc[0]


def test_randomization_notes_say_why_interaction_rows_are_refitted_and_which_null():
    # regression: the note said the batched form "does not rebuild the fitted regressors on this sample"; it does
    # rebuild them (test_batched_form_rebuilds_the_fit_with_moderators): what it lacks is the interaction's
    # coefficient (its target is the treatment column), so the interaction row is refitted draw by draw. And with
    # null=0.5 the interaction row tests the sharp null of a constant effect 0.5, not of no effect.
    d = _tiny()
    res = ek.RandomizedTrial(d, "z").estimate("y", estimator="ols", covariates="x", moderators="age", inference=RI())
    looped = [n for n in res.notes if "draw by draw" in n]
    assert len(looped) == 1 and "'z:age' is a treatment-by-moderator interaction" in looped[0], res.notes
    assert "does not rebuild the fitted regressors" not in looped[0]
    assert res.fits["y"].inference["batched"]  # what actually happens: the treatment row is batched
    shifted = ek.RandomizedTrial(d, "z").estimate(
        "y", estimator="ols", covariates="x", moderators="age", inference=RI(null=0.5)
    )
    assert any("sharp null that every unit's effect is 0.5" in n for n in shifted.notes), shifted.notes
    assert not any("sharp null of no effect" in n for n in shifted.notes)


def test_categorical_levels_and_joint_test():
    d = _data()
    frame = ek.RandomizedTrial(d, "z").estimate("y", estimator="ols", moderators="g").to_frame()
    # levels sorted: hi, lo, mid -> reference "hi"
    assert frame["term"].tolist() == ["z", "z:g[lo]", "z:g[mid]"]
    # Closed form: saturated in g, so z:g[lo] = d_lo - d_hi (differences in means within levels). TOLERANCE: 1e-12.
    diff = {lv: d.y[(d.z == 1) & (d.g == lv)].mean() - d.y[(d.z == 0) & (d.g == lv)].mean() for lv in ("lo", "hi")}
    assert frame["estimate"].iloc[1] == pytest.approx(diff["lo"] - diff["hi"], abs=1e-12)
    assert frame["heterogeneity_F"].nunique() == 1 and 0 < frame["heterogeneity_p"].iloc[0] < 1


def test_categorical_order_follows_categories():
    d = _data().assign(g=lambda f: pd.Categorical(f.g, categories=["lo", "mid", "hi"]))
    frame = ek.RandomizedTrial(d, "z").estimate("y", estimator="ols", moderators="g").to_frame()
    assert frame["term"].tolist() == ["z", "z:g[mid]", "z:g[hi]"]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"moderators": "female"}, OptionError, "needs a regression estimator"),
        ({"estimator": "ols", "covariates": "female", "moderators": "female"}, DataError, "both a covariate"),
        ({"estimator": "ols", "moderators": ["female", "female"]}, DataError, "listed twice"),
        ({"estimator": "ols", "moderators": "const"}, DataError, "does not vary"),
        ({"estimator": "ols", "moderators": "one_level"}, DataError, "single level"),
        ({"estimator": "ols", "moderators": "z"}, DataError, "role of the design"),
        ({"estimator": "ols", "moderators": "nope"}, DataError, "nope"),
    ],
)
def test_refusals_name_the_column(kwargs, error, match):
    d = _data().assign(const=1.0, one_level="a")
    with pytest.raises(error, match=match):
        ek.RandomizedTrial(d, "z").estimate("y", **kwargs)


def test_missing_moderator_rows_are_reported_not_silently_dropped():
    d = _data()
    d.loc[[0, 5], "female"] = np.nan
    res = ek.RandomizedTrial(d, "z").estimate("y", estimator="ols", moderators="female")
    assert res.to_frame()["n_obs"].iloc[0] == len(d) - 2
    assert res.dropped.set_index("column").loc["female", "n_missing"] == 2


def test_hand_made_interaction_covariate_warns_and_points_to_moderators():
    # Regression test for the trap of issue 10: a treated_x_female covariate silently turns the treatment row into
    # the effect for boys. The row is indeed the boys' effect (closed form: the saturated regression's z is the
    # difference in means among boys, to 1e-12), and evalkit now warns, naming the factor and moderators=.
    d = _data().assign(treated_x_female=lambda f: f.z * f.female)
    with pytest.warns(UserWarning, match=r"'treated_x_female' equals z x 'female'.*moderators=\['female'\]"):
        res = ek.RandomizedTrial(d, "z").estimate("y", estimator="ols", covariates=["female", "treated_x_female"])
    boys = d.y[(d.z == 1) & (d.female == 0)].mean() - d.y[(d.z == 0) & (d.female == 0)].mean()
    assert res.to_frame()["estimate"].iloc[0] == pytest.approx(boys, abs=1e-12)
    assert any("treated_x_female" in n for n in res.notes)


def test_interaction_with_unlisted_factor_still_warns():
    d = _data()
    d = d.assign(zx=d.z * (d.x + 3.0)).drop(columns=[])  # z x (x + 3): no column equals the factor
    with pytest.warns(UserWarning, match=r"'zx' is zero in every unit with z = 0"):
        ek.RandomizedTrial(d, "z").estimate("y", estimator="ols", covariates=["zx"])


def test_pre_treatment_covariates_do_not_warn():
    d = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        ek.RandomizedTrial(d, "z").estimate("y", estimator="ols", covariates=["x", "female"])


def test_joint_test_is_stated_under_the_tables():
    res = ek.RandomizedTrial(_data(), "z").estimate("y", estimator="ols", moderators=["female", "g"])
    row = res.to_frame().iloc[0]
    # Closed form of the joint test's p-value from its own F and df: P(F(3, n - 8) > F). TOLERANCE: 1e-12.
    test = res.fits["y"].inference["heterogeneity_test"]
    assert test.terms == ("z:female", "z:g[lo]", "z:g[mid]") and test.df_num == 3 and test.df_denom == 80 - 8
    assert row["heterogeneity_p"] == pytest.approx(stats.f.sf(row["heterogeneity_F"], 3, 72), abs=1e-12)
    assert f"p = {row['heterogeneity_p']:.3g}" in res.to_markdown()
