"""RandomizedTrial: properties that must hold, results bookkeeping, and every bad input the issue names."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from hypothesis import given, settings
from hypothesis import strategies as st

import evalkit as ek
from evalkit.errors import (
    ColumnNotFoundError,
    DataError,
    DesignError,
    EstimationError,
    EvalkitError,
    OptionError,
)


# ---------------------------------------------------------------------------------------------- properties
@settings(max_examples=30, deadline=None)
@given(shift=st.floats(-1e3, 1e3, allow_nan=False), seed=st.integers(0, 2**32 - 1))
def test_shifting_outcome_shifts_estimate(shift: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    z = rng.permutation(np.r_[np.ones(12), np.zeros(18)])
    d = pd.DataFrame({"z": z, "y": rng.normal(size=30) + z, "x": rng.normal(size=30)})
    for estimator, cov in (("difference_in_means", None), ("ols", ["x"]), ("lin", ["x"])):
        a = ek.RandomizedTrial(d, "z").estimate("y", estimator=estimator, covariates=cov).to_frame().iloc[0]
        # A constant added to treated outcomes only moves the estimate by that constant, SE unchanged.
        shifted = d.assign(y=d.y + shift * d.z)
        b = ek.RandomizedTrial(shifted, "z").estimate("y", estimator=estimator, covariates=cov).to_frame().iloc[0]
        assert b["estimate"] == pytest.approx(a["estimate"] + shift, abs=1e-8 * (1 + abs(shift)))
        assert b["std_error"] == pytest.approx(a["std_error"], rel=1e-6, abs=1e-9)
        # A constant added to everyone changes nothing.
        c = ek.RandomizedTrial(d.assign(y=d.y + shift), "z").estimate("y", estimator=estimator, covariates=cov)
        assert c.to_frame()["estimate"].iloc[0] == pytest.approx(a["estimate"], abs=1e-8 * (1 + abs(shift)))


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_relabelling_rows_changes_nothing(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 40
    d = pd.DataFrame(
        {
            "z": np.tile([1, 0, 0, 1], 10),
            "block": np.repeat(list("abcd"), 10),
            "y": rng.normal(size=n),
            "x": rng.normal(size=n),
        }
    )
    perm = rng.permutation(n)
    shuffled = d.iloc[perm].set_index(pd.Index(rng.permutation(n) + 1000))
    for estimator in ("difference_in_means", "lin"):
        cov = None if estimator == "difference_in_means" else ["x"]
        a = ek.RandomizedTrial(d, "z", blocks="block").estimate("y", estimator=estimator, covariates=cov)
        b = ek.RandomizedTrial(shuffled, "z", blocks="block").estimate("y", estimator=estimator, covariates=cov)
        for col in ("estimate", "std_error", "p_value"):
            assert b.to_frame()[col].iloc[0] == pytest.approx(a.to_frame()[col].iloc[0], rel=1e-10)


# ---------------------------------------------------------------------------------------------- bookkeeping
def test_results_columns_and_domains(small_trial: pd.DataFrame) -> None:
    res = ek.RandomizedTrial(small_trial, "treated").estimate(["y", "y2"], domains={"y": "motor", "y2": "language"})
    frame = res.to_frame()
    for col in (
        "outcome",
        "estimate",
        "std_error",
        "statistic",
        "p_value",
        "conf_low",
        "conf_high",
        "df",
        "n_obs",
        "n_treated",
        "n_control",
        "estimator",
        "inference",
        "domain",
        "cohens_d",
    ):
        assert col in frame.columns
    assert list(frame["domain"]) == ["motor", "language"]
    assert list(frame["outcome"]) == ["y", "y2"]
    assert "y2" in res.summary() and "<table" in res._repr_html_()


def test_results_are_immutable(small_trial: pd.DataFrame) -> None:
    res = ek.RandomizedTrial(small_trial, "treated").estimate("y")
    frame = res.to_frame()
    frame.loc[0, "estimate"] = 99.0
    assert res.to_frame()["estimate"].iloc[0] != 99.0
    with pytest.raises(AttributeError):
        res.estimator = "ols"  # type: ignore[misc]


def test_missing_outcome_rows_are_dropped_and_reported(small_trial: pd.DataFrame) -> None:
    d = small_trial.copy()
    d.loc[[0, 5, 11], "y"] = np.nan
    d.loc[[5, 20], "x1"] = np.nan
    res = ek.RandomizedTrial(d, "treated").estimate(["y", "y2"], estimator="ols", covariates=["x1"])
    frame = res.to_frame().set_index("outcome")
    assert frame.loc["y", "n_obs"] == 36 and frame.loc["y2", "n_obs"] == 38
    dropped = res.dropped
    y_rows = dropped[dropped.outcome == "y"].set_index("column")
    assert y_rows.loc["y", "n_missing"] == 3 and y_rows.loc["x1", "n_missing"] == 2
    assert set(y_rows["n_dropped"]) == {4}
    assert any("dropped" in note for note in res.notes)
    ref = smf.ols("y ~ treated + x1", d.dropna(subset=["y", "x1"])).fit(cov_type="HC2")
    assert frame.loc["y", "estimate"] == pytest.approx(ref.params["treated"], rel=1e-10)


def test_caller_data_is_not_mutated(small_trial: pd.DataFrame) -> None:
    d = small_trial.copy()
    d.loc[3, "y"] = np.nan
    before = d.copy(deep=True)
    trial = ek.RandomizedTrial(d, "treated", blocks="block")
    trial.estimate(["y", "y2"], estimator="lin", covariates=["x1"])
    trial.balance(["x1", "x2"])
    trial.draw_assignment(seed=1)
    pd.testing.assert_frame_equal(d, before)


def test_draw_assignment_respects_blocks_and_is_reproducible(small_trial: pd.DataFrame) -> None:
    trial = ek.RandomizedTrial(small_trial, "treated", blocks="block")
    a, b = trial.draw_assignment(seed=5), trial.draw_assignment(seed=5)
    pd.testing.assert_series_equal(a, b)
    assert (a.groupby(small_trial["block"]).sum() == 4).all()
    assert not a.equals(trial.draw_assignment(seed=6))


def test_balance_table(small_trial: pd.DataFrame) -> None:
    bal = ek.RandomizedTrial(small_trial, "treated").balance(["x1", "x2"])
    frame = bal.to_frame().set_index("covariate")
    t, c = small_trial[small_trial.treated == 1], small_trial[small_trial.treated == 0]
    # Imbens & Rubin (2015) eq. 14.2 normalized difference, computed directly; tolerance 1e-12.
    std_diff = (t.x1.mean() - c.x1.mean()) / np.sqrt((t.x1.var() + c.x1.var()) / 2)
    assert frame.loc["x1", "std_difference"] == pytest.approx(std_diff, rel=1e-12)
    # Per-covariate p-value: statsmodels OLS x1 ~ treated with HC2 and n - 2 df; tolerance 1e-8.
    ref = smf.ols("x1 ~ treated", small_trial).fit(cov_type="HC2", use_t=True)
    assert frame.loc["x1", "p_value"] == pytest.approx(ref.pvalues["treated"], rel=1e-8)
    # Joint test: robust Wald F of treated ~ x1 + x2 (statsmodels f_test with HC2); tolerance 1e-8.
    joint = smf.ols("treated ~ x1 + x2", small_trial).fit(cov_type="HC2", use_t=True).f_test("x1 = 0, x2 = 0")
    assert bal.joint_statistic == pytest.approx(float(np.squeeze(joint.fvalue)), rel=1e-8)
    assert bal.joint_p_value == pytest.approx(float(joint.pvalue), rel=1e-8)


def test_not_randomized_design_estimates_but_says_so(small_trial: pd.DataFrame) -> None:
    trial = ek.RandomizedTrial(small_trial, "treated", assignment=ek.NotRandomized())
    res = trial.estimate("y")
    assert not trial.is_randomized
    assert any("not randomized" in n for n in res.notes)
    with pytest.raises(DesignError, match="not randomized"):
        trial.draw_assignment(seed=1)


# ---------------------------------------------------------------------------------------------- bad input
def test_missing_column_is_named(small_trial: pd.DataFrame) -> None:
    with pytest.raises(ColumnNotFoundError, match="'treat'"):
        ek.RandomizedTrial(small_trial, "treat")
    trial = ek.RandomizedTrial(small_trial, "treated")
    with pytest.raises(ColumnNotFoundError, match="'income'"):
        trial.estimate("income")
    with pytest.raises(ColumnNotFoundError, match="'age'"):
        trial.estimate("y", estimator="ols", covariates=["age"])
    with pytest.raises(KeyError):  # also a KeyError, for callers that catch that
        trial.estimate("income")


def test_non_binary_and_constant_treatment(small_trial: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="binary"):
        ek.RandomizedTrial(small_trial.assign(treated=small_trial.treated * 2), "treated")
    with pytest.raises(DataError, match="constant"):
        ek.RandomizedTrial(small_trial.assign(treated=1), "treated")
    with pytest.raises(DataError, match="missing"):
        ek.RandomizedTrial(small_trial.assign(treated=small_trial.treated.where(small_trial.id != 3)), "treated")


def test_all_rows_missing_is_an_error(small_trial: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="no complete rows"):
        ek.RandomizedTrial(small_trial.assign(y=np.nan), "treated").estimate("y")


def test_block_without_control_units(small_trial: pd.DataFrame) -> None:
    d = small_trial.assign(treated=np.where(small_trial.block == "b3", 1, small_trial.treated))
    with pytest.raises(DesignError, match="block 'b3'.*no control"):
        ek.RandomizedTrial(d, "treated", blocks="block")


def test_block_left_without_treated_after_missing_values(small_trial: pd.DataFrame) -> None:
    d = small_trial.copy()
    d.loc[(d.block == "b2") & (d.treated == 1), "y"] = np.nan
    trial = ek.RandomizedTrial(d, "treated", blocks="block")
    with pytest.raises(DesignError, match="after dropping 4 row.*block 'b2'.*no treated"):
        trial.estimate("y")


def test_single_cluster(small_trial: pd.DataFrame) -> None:
    with pytest.raises(DesignError, match="single value"):
        ek.RandomizedTrial(small_trial.assign(c="only"), "treated", clusters="c")


def test_treatment_varying_within_cluster(small_trial: pd.DataFrame) -> None:
    with pytest.raises(DesignError, match="varies within cluster"):
        ek.RandomizedTrial(small_trial, "treated", clusters="block")


def test_outcome_without_variation(small_trial: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="no variation"):
        ek.RandomizedTrial(small_trial.assign(y=3.0), "treated").estimate("y")


def test_collinear_covariates_are_named(small_trial: pd.DataFrame) -> None:
    d = small_trial.assign(x3=2 * small_trial.x1 - small_trial.x2)
    with pytest.raises(EstimationError, match="'x3'.*collinear"):
        ek.RandomizedTrial(d, "treated").estimate("y", estimator="ols", covariates=["x1", "x2", "x3"])


def test_options_are_checked(small_trial: pd.DataFrame) -> None:
    trial = ek.RandomizedTrial(small_trial, "treated")
    with pytest.raises(OptionError, match="'difference_in_means'"):
        trial.estimate("y", estimator="matching")  # type: ignore[arg-type]
    with pytest.raises(OptionError, match="HC2"):
        trial.estimate("y", inference="HC5")
    with pytest.raises(EvalkitError, match="needs clusters"):
        trial.estimate("y", inference="CR2")
    with pytest.raises(OptionError, match="baseline"):
        trial.estimate("y", estimator="change")
    with pytest.raises(EstimationError, match="takes no covariates"):
        trial.estimate("y", covariates=["x1"])
    with pytest.raises(DataError, match="not numeric"):
        trial.estimate("block")


def test_attrition_table(small_trial: pd.DataFrame) -> None:
    d = small_trial.copy()
    d.loc[d.index[:6], "y"] = np.nan  # rows 0-5
    table = ek.RandomizedTrial(d, "treated").attrition("y", covariates=["x1"])
    row = table.to_frame().iloc[0]
    missing = d["y"].isna().astype(float)
    t, c = d.treated == 1, d.treated == 0
    assert row["missing_treated"] == int(missing[t].sum()) and row["missing_control"] == int(missing[c].sum())
    # Differential attrition: statsmodels OLS of the missing indicator on treatment with HC2; tolerance 1e-8.
    ref = smf.ols("m ~ treated", d.assign(m=missing)).fit(cov_type="HC2", use_t=True)
    assert row["difference"] == pytest.approx(ref.params["treated"], rel=1e-10)
    assert row["p_value"] == pytest.approx(ref.pvalues["treated"], rel=1e-8)
    assert table.retained_balance["y"].joint_n_obs == 34


def test_with_index_adds_an_outcome_without_touching_the_trial(small_trial: pd.DataFrame) -> None:
    trial = ek.RandomizedTrial(small_trial, "treated", blocks="block")
    indexed = trial.with_index("idx", ["y", "y2"], method="klk")
    assert "idx" not in trial.data.columns and "idx" in indexed.data.columns
    # KLK (Kling, Liebman & Katz 2007): mean of control-standardized outcomes, re-standardized by the control
    # group; computed here directly with pandas; tolerance 1e-12.
    control = small_trial[small_trial.treated == 0]
    z = (small_trial[["y", "y2"]] - control[["y", "y2"]].mean()) / control[["y", "y2"]].std()
    raw = z.mean(axis=1)
    expected = (raw - raw[small_trial.treated == 0].mean()) / raw[small_trial.treated == 0].std()
    np.testing.assert_allclose(indexed.data["idx"], expected, atol=1e-12)
    assert indexed.estimate("idx").to_frame()["n_obs"].iloc[0] == 40
    with pytest.raises(DataError, match="already exists"):
        indexed.with_index("idx", ["y"])


# ---------------------------------------------------------------------------------------------- review findings
def test_baseline_only_with_change(small_trial: pd.DataFrame) -> None:
    d = small_trial.assign(y_bl=small_trial.x1)
    with pytest.raises(OptionError, match="only by estimator='change'"):
        ek.RandomizedTrial(d, "treated").estimate("y", baseline="{outcome}_bl")


def test_outcome_as_its_own_covariate_is_refused(small_trial: pd.DataFrame) -> None:
    trial = ek.RandomizedTrial(small_trial.assign(yy=small_trial.y), "treated")
    with pytest.raises(DataError, match="among its own covariates"):
        trial.estimate("y", estimator="ols", covariates="{outcome}")
    with pytest.raises(DataError, match="fit outcome 'y' perfectly"):
        trial.estimate("y", estimator="ols", covariates="yy")


def test_role_columns_after_templates_and_in_balance(small_trial: pd.DataFrame) -> None:
    trial = ek.RandomizedTrial(small_trial, "treated")
    with pytest.raises(DataError, match="'treated' is a role"):
        trial.estimate("y", estimator="change", baseline="treated")
    with pytest.raises(DataError, match="'treated'.*roles of the design"):
        trial.balance(["treated", "x1"])


def test_duplicate_outcomes_and_bad_types(small_trial: pd.DataFrame) -> None:
    trial = ek.RandomizedTrial(small_trial, "treated")
    with pytest.raises(DataError, match="listed twice"):
        trial.estimate(["y", "y"])
    with pytest.raises(OptionError, match="alpha"):
        trial.estimate("y", alpha="0.05")  # type: ignore[arg-type]
    with pytest.raises(OptionError, match="column name"):
        trial.estimate(True)  # type: ignore[arg-type]
    # An integer is a column name (frames without a header; issue 9): a missing one is not found, by name.
    with pytest.raises(ek.errors.ColumnNotFoundError, match="outcome 3 not found"):
        trial.estimate(3)  # type: ignore[arg-type]


def test_infinite_values_are_named(small_trial: pd.DataFrame) -> None:
    d = small_trial.copy()
    d.loc[7, "x1"] = np.inf
    with pytest.raises(DataError, match=r"covariate 'x1' has 1 infinite value\(s\) \(index 7\)"):
        ek.RandomizedTrial(d, "treated").estimate("y", estimator="ols", covariates="x1")


def test_templates_keep_other_braces(small_trial: pd.DataFrame) -> None:
    d = small_trial.assign(**{"y_{bl}": small_trial.x1})
    res = ek.RandomizedTrial(d, "treated").estimate("y", estimator="ols", covariates="{outcome}_{bl}")
    ref = smf.ols("y ~ treated + x1", small_trial).fit(cov_type="HC2")
    # statsmodels ANCOVA with the same covariate; tolerance 1e-10.
    assert res.to_frame()["estimate"].iloc[0] == pytest.approx(ref.params["treated"], rel=1e-10)


def test_weights_are_scale_free(small_trial: pd.DataFrame) -> None:
    tiny = ek.RandomizedTrial(small_trial.assign(w=1e-300), "treated", weights="w").estimate("y")
    plain = ek.RandomizedTrial(small_trial, "treated").estimate("y")
    # Equal weights of any size give the unweighted answer (Neyman variance); tolerance 1e-10.
    assert tiny.to_frame()["std_error"].iloc[0] == pytest.approx(plain.to_frame()["std_error"].iloc[0], rel=1e-10)


def test_balance_and_attrition_edge_cases(small_trial: pd.DataFrame) -> None:
    constant = ek.RandomizedTrial(small_trial.assign(c=1.0), "treated").balance("c")
    assert np.isnan(constant.joint_p_value) and "not computed" in constant.summary()
    d = small_trial.copy()
    d.loc[(d.block == "b2") & (d.treated == 1), "x1"] = np.nan
    trial = ek.RandomizedTrial(d, "treated", blocks="block")
    with pytest.raises(DesignError, match="covariate 'x1'.*block 'b2' has no treated"):
        trial.balance("x1")
    d.loc[(d.block == "b2") & (d.treated == 1), "y"] = np.nan
    table = ek.RandomizedTrial(d, "treated", blocks="block").attrition("y", covariates="x1")
    assert table.to_frame()["missing_treated"].iloc[0] == 4
    assert "y" not in table.retained_balance and any("block 'b2'" in n for n in table.notes)
    # missingness is constant within every block and arm, so the attrition difference has no variance: NaN with
    # the degenerate-SE note (reviewer finding 5 on issue 8; it was an SE of rounding size), listed among the notes
    assert np.isnan(table.to_frame()["std_error"].iloc[0])
    assert any("attrition difference for 'y' is zero up to rounding" in n for n in table.notes)
