"""StaggeredDiD on the inference protocols: influence-function methods for Callaway-Sant'Anna, cluster-robust
sandwiches (the one kernel) for Sun-Abraham and TWFE, one resolver that states the default with its note.

The CR0 / CR2 references come from R 4 with clubSandwich 0.5.8 on the closed-form panel of ``_panel()`` (no random
numbers, so R rebuilds it exactly), fitting the dummy-variable regressions (not the within transform evalkit uses):

    library(clubSandwich)
    d <- expand.grid(t = 1:6, i = 1:15)
    d$g <- c(rep(0, 5), rep(3, 4), rep(4, 3), rep(5, 3))[d$i]
    d$state <- ((d$i - 1) %% 5) + 1
    d$D <- as.numeric(d$g > 0 & d$t >= d$g)
    d$y <- sin(1.7 * d$i + 0.9 * d$t) + cos(0.37 * d$i * d$t) + 0.4 * d$D + 0.05 * d$t * (d$g == 4)
    tw <- lm(y ~ D + factor(i) + factor(t), data = d)
    coef_test(tw, vcov = vcovCR(tw, cluster = d$i, type = "CR2"), test = "Satterthwaite", coefs = "D")
    # Sun-Abraham: lm(y ~ <cohort x relative-period dummies, reference -1> + factor(i) + factor(t)), then
    # linear_contrast(sa, vcov = vcovCR(sa, cluster = ..., type = "CR2"), contrasts = C, test = "Satterthwaite")
    # with C the cohort shares (cell counts) at each relative period.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

import evalkit as ek
from evalkit.designs.staggered import StaggeredDiD
from evalkit.errors import InferenceError, OptionError
from evalkit.inference import (
    AnalyticInfluence,
    InfluenceInference,
    MultiplierBootstrap,
    RandomizationInference,
    Sandwich,
)
from evalkit.inference.influence import analytic_se


def _panel() -> pd.DataFrame:
    i = np.repeat(np.arange(1, 16), 6)
    t = np.tile(np.arange(1, 7), 15)
    g = np.r_[[0] * 5, [3] * 4, [4] * 3, [5] * 3][i - 1]
    d = ((g > 0) & (t >= g)).astype(float)
    y = np.sin(1.7 * i + 0.9 * t) + np.cos(0.37 * i * t) + 0.4 * d + 0.05 * t * (g == 4)
    return pd.DataFrame({"i": i, "t": t, "g": g, "state": (i - 1) % 5 + 1, "y": y})


@pytest.fixture(scope="module")
def stag() -> StaggeredDiD:
    return StaggeredDiD(_panel(), unit="i", time="t", cohort="g")


# ------------------------------------------------------------------------------------- one default, many spellings
@pytest.mark.parametrize("aggregate", [None, "all"])
def test_analytic_string_object_and_default_give_identical_tables(stag: StaggeredDiD, aggregate) -> None:
    default = stag.estimate("y", aggregate=aggregate)
    by_name = stag.estimate("y", aggregate=aggregate, inference="analytic")
    by_object = stag.estimate("y", aggregate=aggregate, inference=AnalyticInfluence())
    # SOURCE: "analytic" is short for AnalyticInfluence(), the default; TOLERANCE exact (same computation)
    pd.testing.assert_frame_equal(by_name.to_frame(), default.to_frame(), check_exact=True)
    pd.testing.assert_frame_equal(by_object.to_frame(), default.to_frame(), check_exact=True)
    assert default.to_frame()["inference"].iloc[0] == "influence function (normal), clustered by units"
    # the default says so, where it is chosen; a stated choice does not
    assert any(n.startswith("Inference defaulted to analytic influence-function") for n in default.notes)
    assert not any("defaulted" in n for n in (*by_name.notes, *by_object.notes))


@pytest.mark.parametrize("estimator", ["sun_abraham", "twfe"])
def test_regression_estimators_default_to_cr1_however_spelled(stag: StaggeredDiD, estimator) -> None:
    default = stag.estimate("y", estimator=estimator)
    table = default.to_frame()
    for spelled in ("analytic", "CR1", Sandwich("CR1")):
        chosen = stag.estimate("y", estimator=estimator, inference=spelled)
        # SOURCE: "analytic" means CR1 with G - 1 df for the regression estimators; TOLERANCE exact
        pd.testing.assert_frame_equal(chosen.to_frame(), table, check_exact=True)
        assert not any("defaulted" in n for n in chosen.notes)
    assert table["inference"].iloc[0] == "CR1 (G - 1 df)"
    assert any(n.startswith("Inference defaulted to CR1 with G - 1 df") for n in default.notes)


# ------------------------------------------------------------------------------------------------ refusals
@pytest.mark.parametrize("bad", [42, "bootstrap", "CR1", Sandwich("CR2"), RandomizationInference(reps=99, seed=1)])
def test_callaway_santanna_refuses_an_unknown_method_naming_the_accepted_ones(stag: StaggeredDiD, bad) -> None:
    with pytest.raises(InferenceError, match=r"not understood.*'analytic'.*AnalyticInfluence.*MultiplierBootstrap"):
        stag.estimate("y", inference=bad)


@pytest.mark.parametrize("estimator", ["sun_abraham", "twfe"])
@pytest.mark.parametrize(
    "bad", [MultiplierBootstrap(reps=99, seed=1), AnalyticInfluence(), "HC2", "bogus", 42, RandomizationInference()]
)
def test_regression_estimators_refuse_other_methods_naming_the_accepted_ones(stag: StaggeredDiD, estimator, bad):
    with pytest.raises(OptionError, match=r"'analytic'.*'CR0', 'CR1', 'CR2'.*only available with.*callaway_santanna"):
        stag.estimate("y", estimator=estimator, inference=bad)


# ------------------------------------------------------------------------------------------------ the protocol
def test_a_new_influence_method_plugs_in_without_the_design_knowing_it(stag: StaggeredDiD) -> None:
    @dataclass(frozen=True)
    class Doubled(InfluenceInference):
        name = "doubled"

        @property
        def simultaneous(self) -> bool:
            return True

        def standard_errors(self, influence, clusters, alpha, rng):
            return 2 * analytic_se(influence, clusters), 3.0

    assert isinstance(AnalyticInfluence(), InfluenceInference)
    assert isinstance(MultiplierBootstrap(seed=1), InfluenceInference)
    plain = stag.estimate("y").to_frame()
    res = stag.estimate("y", inference=Doubled())
    table = res.to_frame()
    # SOURCE: the method's own rule, 2 x the analytic SE and critical value 3; TOLERANCE 1e-12 relative
    np.testing.assert_allclose(table["std_error"], 2 * plain["std_error"], rtol=1e-12)
    np.testing.assert_allclose(table["conf_high_uniform"] - table["estimate"], 3.0 * table["std_error"], rtol=1e-12)
    assert table["inference"].iloc[0] == "doubled, clustered by units"
    assert any(n.startswith("Simultaneous 95% bands") for n in res.notes)


def test_seed_in_provenance_for_the_bootstrap_and_none_for_analytic(stag: StaggeredDiD) -> None:
    assert stag.estimate("y").provenance["seed"] is None
    assert stag.estimate("y", inference=AnalyticInfluence()).provenance["seed"] is None
    boot = stag.estimate("y", inference=MultiplierBootstrap(reps=99, seed=7))
    assert boot.provenance["seed"] == 7
    unseeded = MultiplierBootstrap(reps=99)
    rerun = stag.estimate("y", inference=MultiplierBootstrap(reps=99, seed=unseeded.seed_used))
    first = stag.estimate("y", inference=unseeded)
    assert first.provenance["seed"] == unseeded.seed_used
    # SOURCE: same seed, same draws; TOLERANCE bit-identical
    pd.testing.assert_frame_equal(first.to_frame(), rerun.to_frame(), check_exact=True)


# --------------------------------------------------------------------------- CR0 / CR2 against R clubSandwich
# (estimate, SE, Satterthwaite df) from the R script in the module docstring
TWFE_R = {
    (None, "CR0"): (0.288395780433, 0.380044605190, None),
    (None, "CR2"): (0.288395780433, 0.407652926137, 13.5494820644),
    ("state", "CR0"): (0.288395780433, 0.284200630612, None),
    ("state", "CR2"): (0.288395780433, 0.317672811919, 3.9959979103),
}
SA_R = {  # event time -> (estimate, SE, df), CR2 by unit / by state
    None: {
        -4: (-0.315279325015, 1.722322117200, 4.3389830508),
        -3: (-1.082186014725, 1.054053150876, 7.5294117647),
        -2: (-1.172408918247, 0.336668139728, 9.9080507593),
        0: (-0.271133020778, 0.483703633203, 9.9080507593),
        1: (-0.367771757101, 0.494399871790, 10.8150208623),
        2: (-0.554972169306, 0.736837497609, 8.9533678756),
        3: (-0.350709768157, 1.322566577278, 6.5675675676),
    },
    "state": {
        -4: (-0.315279325015, 1.767706736421, 2.8764044944),
        -3: (-1.082186014725, 0.938150937061, 3.6805111821),
        -2: (-1.172408918247, 0.315131304963, 3.9339225242),
        0: (-0.271133020778, 0.351643330181, 3.9339225242),
        1: (-0.367771757101, 0.509198017884, 3.9492127984),
        2: (-0.554972169306, 0.716251186360, 3.7647058824),
        3: (-0.350709768157, 1.571701601968, 3.6268656716),
    },
}


@pytest.mark.parametrize(("clusters", "cov_type"), list(TWFE_R))
def test_twfe_cluster_robust_matches_club_sandwich(clusters, cov_type) -> None:
    design = StaggeredDiD(_panel(), unit="i", time="t", cohort="g", clusters=clusters)
    row = design.estimate("y", estimator="twfe", inference=cov_type).to_frame().iloc[0]
    est, se, df = TWFE_R[(clusters, cov_type)]
    # SOURCE: clubSandwich 0.5.8 vcovCR / coef_test (script above); TOLERANCE 1e-10 absolute (12 decimals printed)
    assert row["estimate"] == pytest.approx(est, abs=1e-10)
    assert row["std_error"] == pytest.approx(se, abs=1e-10)
    if df is None:  # CR0 keeps G - 1 df (clubSandwich's Satterthwaite df is not evalkit's CR0 convention)
        assert row["df"] == (15 if clusters is None else 5) - 1
        assert row["inference"] == "CR0 (G - 1 df)"
    else:  # SOURCE: clubSandwich Satterthwaite df; TOLERANCE 1e-8 absolute (10 decimals printed)
        assert row["df"] == pytest.approx(df, abs=1e-8)
        assert row["inference"] == "CR2 (Bell-McCaffrey df)"


@pytest.mark.parametrize("clusters", [None, "state"])
def test_sun_abraham_cr2_matches_club_sandwich_linear_contrasts(clusters) -> None:
    design = StaggeredDiD(_panel(), unit="i", time="t", cohort="g", clusters=clusters)
    table = design.estimate("y", estimator="sun_abraham", inference=ek.inference.Sandwich("CR2")).to_frame()
    ref = SA_R[clusters]
    assert table["event_time"].tolist() == list(ref)
    expected = np.array(list(ref.values()))
    # SOURCE: clubSandwich 0.5.8 linear_contrast, CR2 + Satterthwaite (script above); TOLERANCE 1e-10 absolute on
    # estimate and SE (12 decimals printed), 1e-8 on df (10 decimals printed)
    np.testing.assert_allclose(table["estimate"], expected[:, 0], rtol=0, atol=1e-10)
    np.testing.assert_allclose(table["std_error"], expected[:, 1], rtol=0, atol=1e-10)
    np.testing.assert_allclose(table["df"], expected[:, 2], rtol=0, atol=1e-8)


def test_cr1_is_cr0_times_the_nested_small_sample_factor(stag: StaggeredDiD) -> None:
    cr0 = stag.estimate("y", estimator="twfe", inference="CR0").to_frame().iloc[0]
    cr1 = stag.estimate("y", estimator="twfe", inference="CR1").to_frame().iloc[0]
    # SOURCE: closed form, fixest's CR1 with unit effects nested in the clusters: G/(G-1) (n-1)/(n-K), G = 15,
    # n = 90, K = 1 (treated) + 5 (periods) + 1 (the intercept the unit effects replace) = 7; TOLERANCE 1e-12
    factor = 15 / 14 * 89 / 83
    assert cr1["std_error"] == pytest.approx(cr0["std_error"] * np.sqrt(factor), rel=1e-12)
