"""Tests of the Cuna Más sample data, its generator and its loaders.

These check the data and the loaders, plus one smoke test that evalkit's blocked-cluster trial runs on them. The
reference for the effects is statsmodels (OLS with department fixed effects, SE clustered by district); the
intra-cluster correlations come from statsmodels' one-way ANOVA table (Donner 1986 closed form); the index is
recomputed here with pandas, independently of the generator's code.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

import evalkit as ek
from evalkit.datasets import available_samples, cuna_mas_metadata, load_cuna_mas, load_sample, sample_metadata
from evalkit.designs.assignment import from_observed

from _references import CUNA_MAS, published

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "make_cuna_mas.py"
CSV = REPO / "data" / "sample" / "cuna_mas.csv"
META = REPO / "data" / "sample" / "cuna_mas.meta.json"

DOMAINS = ["cognitive", "language", "motor", "socioemotional"]
BASELINE = [f"{d}_bl" for d in DOMAINS] + ["dev_index_bl"]
FOLLOW_UP = [*DOMAINS, "dev_index"]
COLUMNS = [
    "child_id",
    "department",
    "district",
    "treated",
    "district_poverty",
    "age_months",
    "female",
    *BASELINE,
    *FOLLOW_UP,
]
# STUDIES.md section 3 (assumed): about 28 children per district, ICC 0.05-0.10, about 10% attrition
ICC_RANGE = (0.05, 0.10)
ATTRITION_RANGE = (0.08, 0.12)  # "about 10%": +/- 2 points (a binomial SD with 5,040 children is 0.4 points)
# Published (replications/cuna_mas.toml, source stated there): +0.10 SD printed with 2 decimals (tolerance 0.005),
# and 180 districts (exact).
_EFFECT = published("cuna_mas.toml", "estimate", outcome="dev_index")
EFFECT, EFFECT_TOL = _EFFECT.value, _EFFECT.tolerance
N_DISTRICTS = int(published("cuna_mas.toml", "n_clusters", outcome="dev_index").value)


@pytest.fixture(scope="module")
def generator():
    spec = importlib.util.spec_from_file_location("make_cuna_mas", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def built(generator) -> pd.DataFrame:
    return generator.build()


@pytest.fixture(scope="module")
def cuna() -> pd.DataFrame:
    return load_cuna_mas()


@pytest.fixture(scope="module")
def districts(cuna) -> pd.DataFrame:
    return cuna.groupby("district").agg(
        department=("department", "first"),
        treated=("treated", "first"),
        poverty=("district_poverty", "first"),
        size=("child_id", "size"),
        n_departments=("department", "nunique"),
        n_treated_values=("treated", "nunique"),
        n_poverty_values=("district_poverty", "nunique"),
    )


def _ancova(df: pd.DataFrame, outcome: str, covariates: bool = True):
    """statsmodels OLS of outcome on treated + department FE (+ baseline, age, female), SE clustered by district."""
    rhs = f"treated + C(department) + {outcome}_bl + age_months + female" if covariates else "treated + C(department)"
    d = df.dropna(subset=[outcome]).astype({"department": object, "district": object})
    return smf.ols(f"{outcome} ~ {rhs}", data=d).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(d["district"])[0]}
    )


# ---------------------------------------------------------------------------------------------- structure
def test_shape_columns_and_dtypes(cuna):
    assert list(cuna.columns) == COLUMNS
    # assumed 180 x 28 = 5,040 children; published: more than 5,000
    assert cuna.shape == (5040, len(COLUMNS))
    assert len(cuna) > CUNA_MAS["min_children"]
    assert cuna["child_id"].tolist() == list(range(1, 5041))
    for col in ["child_id", "treated", "female"]:
        assert pd.api.types.is_integer_dtype(cuna[col]), col
    for col in ["department", "district"]:
        assert pd.api.types.is_string_dtype(cuna[col]), col
    for col in ["district_poverty", "age_months", *BASELINE, *FOLLOW_UP]:
        assert pd.api.types.is_float_dtype(cuna[col]), col


def test_districts_departments_and_arms(cuna, districts):
    # published: 180 districts in 12 departments (exact counts)
    assert len(districts) == N_DISTRICTS
    assert districts["department"].nunique() == CUNA_MAS["n_departments"]
    # districts nested in departments; treatment and poverty constant within district
    assert (districts["n_departments"] == 1).all()
    assert (districts["n_treated_values"] == 1).all()
    assert (districts["n_poverty_values"] == 1).all()
    # assumed allocation: about half of each department early (floor or ceiling of half), 90 / 90 in all
    per = districts.groupby("department")["treated"].agg(["size", "sum"])
    assert ((per["sum"] == per["size"] // 2) | (per["sum"] == (per["size"] + 1) // 2)).all()
    assert int(districts["treated"].sum()) == 90 and int((districts["treated"] == 0).sum()) == 90


def test_blocked_cluster_assignment_count(cuna, districts):
    # closed form: number of blocked cluster assignments = prod_b C(M_b, m_b) (Gerber & Green 2012, ch. 3)
    per = districts.groupby("department")["treated"].agg(["size", "sum"])
    expected = math.prod(math.comb(int(m), int(k)) for m, k in zip(per["size"], per["sum"], strict=True))
    bound = from_observed(cuna["treated"], blocks=cuna["department"], clusters=cuna["district"])
    assert bound.count() == expected


def test_children_per_district_and_covariates(cuna, districts):
    assert districts["size"].between(20, 36).all()  # assumed range
    assert districts["size"].mean() == 28  # STUDIES.md: about 28 children per district (5,040 / 180 exactly)
    assert set(cuna["treated"].unique()) == {0, 1} and set(cuna["female"].unique()) == {0, 1}
    assert cuna["age_months"].between(1, 35).all()  # under 3 (published)
    assert np.allclose(cuna["age_months"], cuna["age_months"].round(1), rtol=0, atol=1e-9)
    assert districts["poverty"].between(0, 1).all()
    for col in ["district_poverty", *BASELINE, *FOLLOW_UP]:
        x = cuna[col].dropna()
        assert np.allclose(x, x.round(3), rtol=0, atol=1e-9), col


def test_attrition(cuna):
    missing = cuna[FOLLOW_UP].isna()
    # every follow-up score of a lost child is missing together; nothing else is missing
    assert (missing.all(axis=1) == missing.any(axis=1)).all()
    assert not cuna.drop(columns=FOLLOW_UP).isna().any().any()
    share = float(missing.all(axis=1).mean())
    assert ATTRITION_RANGE[0] <= share <= ATTRITION_RANGE[1], share
    assert cuna_mas_metadata()["calibration"]["attrition_share"] == pytest.approx(share, abs=1e-4)
    # assumed mechanism: not by arm. Linear probability model of loss on treated + department FE (statsmodels,
    # SE clustered by district): the arm difference is within 2 SEs of 0
    d = cuna.assign(lost=missing.all(axis=1).astype(float)).astype({"department": object})
    fit = smf.ols("lost ~ treated + C(department)", data=d).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(d["district"])[0]}
    )
    assert abs(fit.params["treated"]) <= 2 * fit.bse["treated"]


def test_dev_index_is_the_klk_index_of_the_domains(cuna):
    # Kling, Liebman & Katz (2007): components standardized by the control (late) arm, averaged, the mean
    # re-standardized by the control arm; pandas SD (n - 1). Tolerance: the index is rounded to 3 decimals.
    for cols, index in [([f"{d}_bl" for d in DOMAINS], "dev_index_bl"), (DOMAINS, "dev_index")]:
        obs = cuna.dropna(subset=cols)
        ctrl = obs[obs["treated"] == 0]
        z = (obs[cols] - ctrl[cols].mean()) / ctrl[cols].std(ddof=1)
        mean = z.mean(axis=1)
        ref = mean[obs["treated"] == 0]
        klk = (mean - ref.mean()) / ref.std(ddof=1)
        assert np.abs(klk - obs[index]).max() <= 0.0005 + 1e-9, index
        # hence the index has (about) mean 0, SD 1 in the control arm
        assert obs.loc[obs["treated"] == 0, index].mean() == pytest.approx(0.0, abs=1e-3)
        assert obs.loc[obs["treated"] == 0, index].std() == pytest.approx(1.0, abs=1e-3)


# ---------------------------------------------------------------------------------------------- calibration
@pytest.mark.parametrize("column", BASELINE)
def test_baseline_intra_cluster_correlation(cuna, column):
    # one-way ANOVA ICC (Donner 1986): (MSB - MSW) / (MSB + (n0 - 1) MSW), n0 = (N - sum n_c^2 / N) / (C - 1),
    # mean squares from statsmodels' fit of y on district dummies. Range: STUDIES.md section 3 (assumed), 0.05-0.10.
    d = cuna.astype({"district": object})
    fit = smf.ols(f"{column} ~ C(district)", data=d).fit()
    sizes = d.groupby("district").size().to_numpy()
    n, c = sizes.sum(), len(sizes)
    n0 = (n - (sizes**2).sum() / n) / (c - 1)
    msb, msw = fit.ess / fit.df_model, fit.ssr / fit.df_resid
    icc = (msb - msw) / (msb + (n0 - 1) * msw)
    assert ICC_RANGE[0] <= icc <= ICC_RANGE[1], (column, icc)
    assert cuna_mas_metadata()["calibration"]["icc"][column] == pytest.approx(icc, abs=1e-4)


def test_published_effect_reproduced(cuna):
    # Published: +0.10 SD on child development (Araujo et al. 2021 via STUDIES.md section 3), printed with 2
    # decimals: tolerance 0.005. The generator calibrates the declared ANCOVA to 0.1000 (one shift of the early
    # arm's follow-up); what is left is the 3-decimal rounding of the scores, well under 5e-4.
    fit = _ancova(cuna, "dev_index")
    est = fit.params["treated"]
    assert abs(est - EFFECT) <= EFFECT_TOL
    assert abs(est - EFFECT) <= 5e-4
    assert int(fit.nobs) == int(cuna["dev_index"].notna().sum())
    cal = cuna_mas_metadata()["calibration"]["published_effect"]
    assert cal["estimate"] == pytest.approx(est, abs=1e-6)
    assert cal["cluster_se_cr1"] == pytest.approx(fit.bse["treated"], abs=1e-6)
    assert cal["matched"] and cal["published"] == EFFECT
    # the calibration shift closes a sampling-size gap between the raw draw and 0.10, it does not rewrite the data
    assert abs(cal["shift_c"]) < 3 * cal["cluster_se_cr1"]
    assert abs(cal["raw_estimate"] - EFFECT) < 3 * cal["cluster_se_cr1"]


def test_unadjusted_difference_recovers_the_effect(cuna):
    # property: without baseline covariates the estimate is unbiased for the same effect; within 2 cluster SEs
    fit = _ancova(cuna, "dev_index", covariates=False)
    assert abs(fit.params["treated"] - EFFECT) <= 2 * fit.bse["treated"]
    # and adjusting for the baseline index makes the estimate more precise
    assert _ancova(cuna, "dev_index").bse["treated"] < fit.bse["treated"]


@pytest.mark.parametrize("domain", DOMAINS)
def test_domain_effects_recover_generating_values(cuna, domain):
    # generating value = assumed domain effect + calibration shift (metadata); tolerance: 2 cluster-robust SEs
    cal = cuna_mas_metadata()["calibration"]["domain_effects"][domain]
    params = {p["name"]: p for p in cuna_mas_metadata()["parameters"]}
    assumed = params["domain_effects"]["value"][domain]
    assert cal["generating"] == pytest.approx(assumed + params["shift_c"]["value"], abs=1e-6)
    fit = _ancova(cuna, domain)
    assert abs(fit.params["treated"] - cal["generating"]) <= 2 * fit.bse["treated"], (domain, fit.params["treated"])
    assert cal["estimate"] == pytest.approx(fit.params["treated"], abs=1e-6)


def test_district_poverty_predicts_district_means(districts, cuna):
    # property (assumed model): poorer districts score lower; the covariate explains part of the between-district
    # variance of the baseline index (the share among district means is diluted by within-district noise)
    means = cuna.groupby("district")["dev_index_bl"].mean().loc[districts.index]
    r = np.corrcoef(districts["poverty"], means)[0, 1]
    assert r < 0
    assert 0.05 <= r**2 <= 0.6
    assert cuna_mas_metadata()["calibration"]["r2_poverty_district_means_dev_index_bl"] == pytest.approx(r**2, abs=1e-4)


def test_evalkit_blocked_cluster_trial_smoke(cuna):
    # evalkit's declared analysis (CR2, Bell-McCaffrey df) on the sample: the point estimate equals statsmodels'
    # OLS with department dummies (1e-8); CR2 and statsmodels' CR1 SEs agree to within 10% with 180 clusters; the
    # interval covers the published 0.10
    trial = ek.RandomizedTrial(cuna, "treated", clusters="district", blocks="department")
    res = trial.estimate("dev_index", estimator="ols", covariates=["dev_index_bl", "age_months", "female"])
    row = res.to_frame().iloc[0]
    ref = _ancova(cuna, "dev_index")
    assert row["estimate"] == pytest.approx(ref.params["treated"], abs=1e-8)
    assert row["std_error"] == pytest.approx(ref.bse["treated"], rel=0.10)
    assert row["conf_low"] < EFFECT < row["conf_high"]
    assert row["n_obs"] == int(cuna["dev_index"].notna().sum())
    assert "CR2" in res.inference


# ---------------------------------------------------------------------------------------------- generator
def test_generator_matches_committed_csv_bit_for_bit(generator, built):
    again = generator.build()
    pd.testing.assert_frame_equal(built, again, check_exact=True)
    assert built.to_csv(index=False) == CSV.read_text(encoding="utf-8")


def test_generator_matches_committed_metadata(generator, built):
    back = pd.read_csv(CSV)
    back.attrs = dict(built.attrs)
    meta = generator.build_metadata(back)
    assert json.dumps(meta, indent=2, ensure_ascii=False) + "\n" == META.read_text(encoding="utf-8")


def test_generator_seed_matters_and_calibration_is_exact(generator, built):
    other = generator.build(seed=generator.SEED + 1)
    assert not other.equals(built)
    # the calibration is exact whatever the seed
    assert abs(_ancova(other, "dev_index").params["treated"] - EFFECT) <= 5e-4


def test_loader_equals_committed_csv(cuna):
    pd.testing.assert_frame_equal(cuna, pd.read_csv(CSV), check_exact=True, check_dtype=False)


# ---------------------------------------------------------------------------------------------- metadata
def test_metadata_labels_every_parameter():
    params = cuna_mas_metadata()["parameters"]
    for p in params:
        assert p["label"] in {"published", "derived", "assumed"}, p
        assert "value" in p and "name" in p
        assert p.get("source") or p.get("note"), p
    assert {p["label"] for p in params} == {"published", "derived", "assumed"}
    by = {p["name"]: p for p in params}
    assert len(by) == len(params)
    for name, value in [
        ("n_districts", N_DISTRICTS),
        ("n_departments", CUNA_MAS["n_departments"]),
        ("published_effect_sd", EFFECT),
        ("baseline_year", 2013),
        ("followup_year", 2015),
    ]:
        assert by[name]["label"] == "published" and by[name]["value"] == value, name
    for name in [
        "assignment",
        "districts_per_department",
        "early_districts_per_department",
        "n_children",
        "children_per_district_range",
        "domain_effects",
        "variance_components",
        "attrition_model",
        "icc_target",
        "seed",
    ]:
        assert by[name]["label"] == "assumed", name
    assert by["icc_target"]["value"] == list(ICC_RANGE)
    assert by["attrition_model"]["value"]["target_share"] == 0.10
    assert by["shift_c"]["label"] == "derived"
    assert sum(by["districts_per_department"]["value"].values()) == N_DISTRICTS


def test_metadata_describes_columns_design_and_generator(cuna, districts):
    meta = cuna_mas_metadata()
    assert meta["name"] == "cuna_mas"
    assert list(meta["columns"]) == COLUMNS
    alloc = meta["design"]["allocation"]
    assert sorted(alloc) == sorted(districts["department"].unique())
    for dep, a in alloc.items():
        rows = districts[districts["department"] == dep]
        assert sorted(a["early"]) == sorted(rows.index[rows["treated"] == 1])
        assert sorted(a["late"]) == sorted(rows.index[rows["treated"] == 0])
    assert meta["design"]["children_per_district"] == {k: int(v) for k, v in districts["size"].items()}
    assert meta["analysis"]["clusters"] == "district" and meta["analysis"]["blocks"] == "department"
    assert meta["generator"]["script"] == "scripts/make_cuna_mas.py"
    assert isinstance(meta["generator"]["seed"], int)


# ---------------------------------------------------------------------------------------------- loaders
def test_load_cuna_mas_returns_fresh_copy():
    a = load_cuna_mas()
    a.loc[0, "treated"] = 99
    assert load_cuna_mas().loc[0, "treated"] != 99
    meta = cuna_mas_metadata()
    meta["name"] = "changed"
    assert cuna_mas_metadata()["name"] == "cuna_mas"


def test_generic_loader(cuna):
    assert {"casita", "cuna_mas", "vraem"} <= set(available_samples())
    pd.testing.assert_frame_equal(load_sample("cuna_mas"), cuna)
    assert sample_metadata("cuna_mas") == cuna_mas_metadata()
    assert ek.datasets.load_cuna_mas is load_cuna_mas
