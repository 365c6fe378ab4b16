"""Tests of the VRAEM sample data, its generator and its loaders.

These check the data and the loaders only; evalkit's difference-in-differences estimators are tested against
these data elsewhere. The reference for the effects is statsmodels (OLS with community-clustered errors); the
published shares are recomputed here from the CSV with pandas, independently of the generator's code.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from evalkit.datasets import available_samples, load_sample, load_vraem, sample_metadata, vraem_metadata
from evalkit.designs.assignment import from_observed

from _references import VRAEM_DESIGN, published

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "make_vraem.py"
CSV = REPO / "data" / "sample" / "vraem.csv"

CHILD = [
    "breastfeeding",
    "iron_supplement",
    "anaemia_screening",
    "growth_monitoring",
    "vaccination_up_to_date",
    "iron_rich_foods",
]
HYGIENE = ["hand_washing", "safe_water"]
PARENTING = [
    "parenting_praise",
    "parenting_play",
    "parenting_stories",
    "parenting_explain_rules",
    "parenting_no_hitting",
    "parenting_listen",
]
COLUMNS = [
    "household_id",
    "community",
    "district",
    "treated",
    "wave",
    "treated_post",
    "has_child_under3",
    *CHILD,
    "n_child_health_practices",
    *HYGIENE,
    "n_hygiene_practices",
    *PARENTING,
    "n_parenting_practices",
    "social_capital",
]

# Source of the published numbers: MSH Peru, USAID-funded VRAEM programme, final results, via
# shared/STUDIES.md section 2: the design (31 communities in 6 districts, 17 intervention / 14 control;
# tests/_references.py) and the shares within intervention communities (replications/vraem.toml, one [[summary]]
# per share). Tolerance for the shares: the printed integer percent, round(100 * share) == printed (the file's
# tolerance, 0.005, is half of that percent).
N_COMMUNITIES, N_DISTRICTS, N_TREATED, N_CONTROL = (
    VRAEM_DESIGN[k] for k in ("n_communities", "n_districts", "n_intervention_communities", "n_control_communities")
)
SUMMARY_ID = {
    "child_health_improved_2plus": "child health: 2+ practices improved",
    "hygiene_improved_1plus": "hygiene: 1+ of 2 practices improved",
    "parenting_5_6_endline": "parenting: 5-6 behaviours at endline",
}
PUBLISHED_SHARE = {key: published("vraem.toml", "mean", id=summary).value for key, summary in SUMMARY_ID.items()}
PUBLISHED_PERCENT = {key: round(100 * share) for key, share in PUBLISHED_SHARE.items()}


@pytest.fixture(scope="module")
def generator():
    spec = importlib.util.spec_from_file_location("make_vraem", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def vraem() -> pd.DataFrame:
    return load_vraem()


@pytest.fixture(scope="module")
def communities(vraem) -> pd.DataFrame:
    return vraem.groupby("community").agg(
        district=("district", "first"),
        treated=("treated", "first"),
        n_treated_values=("treated", "nunique"),
        n_district_values=("district", "nunique"),
    )


def _shares(df: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """(numerator, denominator) of the three published shares, from the long data (definitions as in the
    metadata)."""
    base = df[df["wave"] == 0].set_index("household_id")
    end = df[df["wave"] == 1].set_index("household_id").loc[base.index]
    tr = base["treated"] == 1
    child = tr & (base["has_child_under3"] == 1)
    rise = end["n_child_health_practices"] - base["n_child_health_practices"]
    gained = ((base[HYGIENE] == 0) & (end[HYGIENE] == 1)).any(axis=1)
    top = end[PARENTING].sum(axis=1) >= 5
    return {
        "child_health_improved_2plus": (int((rise[child] >= 2).sum()), int(child.sum())),
        "hygiene_improved_1plus": (int(gained[tr].sum()), int(tr.sum())),
        "parenting_5_6_endline": (int(top[tr].sum()), int(tr.sum())),
    }


# ---------------------------------------------------------------------------------------------- structure
def test_shape_columns_and_dtypes(vraem):
    assert list(vraem.columns) == COLUMNS
    assert vraem.shape == (2 * vraem["household_id"].nunique(), len(COLUMNS))
    # STUDIES.md: about 25 households per community (assumed) -> 775 households, 1,550 rows
    assert vraem["household_id"].nunique() == 775
    for col in ["household_id", "treated", "wave", "treated_post", "has_child_under3", *HYGIENE, *PARENTING]:
        assert pd.api.types.is_integer_dtype(vraem[col]), col
    for col in ["community", "district"]:
        assert pd.api.types.is_string_dtype(vraem[col]), col
    for col in [*CHILD, "n_child_health_practices", "social_capital"]:
        assert pd.api.types.is_float_dtype(vraem[col]), col


def test_communities_districts_and_arms(communities):
    assert len(communities) == N_COMMUNITIES
    assert communities["district"].nunique() == N_DISTRICTS
    assert int(communities["treated"].sum()) == N_TREATED
    assert int((communities["treated"] == 0).sum()) == N_CONTROL
    # treatment and district constant within community
    assert (communities["n_treated_values"] == 1).all()
    assert (communities["n_district_values"] == 1).all()
    # every district has at least one intervention and one control community
    arms = communities.groupby("district")["treated"].agg(["min", "max"])
    assert (arms["min"] == 0).all() and (arms["max"] == 1).all()


def test_households_per_community(vraem):
    sizes = vraem[vraem["wave"] == 0].groupby("community").size()
    assert sizes.between(20, 30).all()  # assumed range
    # a household belongs to one community
    assert (vraem.groupby("household_id")["community"].nunique() == 1).all()


def test_blocked_cluster_assignment_count(vraem, communities):
    # closed form: number of blocked cluster assignments = prod_b C(M_b, m_b) (Gerber & Green 2012, ch. 3)
    per = communities.groupby("district")["treated"].agg(["size", "sum"])
    expected = math.prod(math.comb(int(m), int(k)) for m, k in zip(per["size"], per["sum"], strict=True))
    base = vraem[vraem["wave"] == 0]
    bound = from_observed(base["treated"], blocks=base["district"], clusters=base["community"])
    assert bound.count() == expected


def test_balanced_two_wave_panel(vraem):
    counts = vraem.groupby("household_id")["wave"].agg(["size", "min", "max", "nunique"])
    assert (counts["size"] == 2).all() and (counts["nunique"] == 2).all()
    assert (counts["min"] == 0).all() and (counts["max"] == 1).all()
    assert vraem[["household_id", "wave"]].equals(
        vraem[["household_id", "wave"]].sort_values(["household_id", "wave"]).reset_index(drop=True)
    )
    # household-level columns constant over waves
    for col in ["community", "district", "treated", "has_child_under3"]:
        assert (vraem.groupby("household_id")[col].nunique() == 1).all(), col
    assert (vraem["treated_post"] == vraem["treated"] * vraem["wave"]).all()


def test_binaries_counts_and_index(vraem):
    for col in [*HYGIENE, *PARENTING, "treated", "wave", "treated_post", "has_child_under3"]:
        assert set(vraem[col].unique()) <= {0, 1}, col
    child = vraem["has_child_under3"] == 1
    # child-health practices recorded only for households with a child under 3
    assert vraem.loc[child, CHILD].notna().all().all()
    assert vraem.loc[~child, [*CHILD, "n_child_health_practices"]].isna().all().all()
    for col in CHILD:
        assert set(vraem.loc[child, col].unique()) <= {0.0, 1.0}, col
    assert (vraem.loc[child, "n_child_health_practices"] == vraem.loc[child, CHILD].sum(axis=1)).all()
    assert (vraem["n_hygiene_practices"] == vraem[HYGIENE].sum(axis=1)).all()
    assert (vraem["n_parenting_practices"] == vraem[PARENTING].sum(axis=1)).all()
    assert vraem["social_capital"].between(0, 100).all()
    assert np.allclose(vraem["social_capital"], vraem["social_capital"].round(1), rtol=0, atol=1e-9)
    other = [c for c in COLUMNS if c not in [*CHILD, "n_child_health_practices"]]
    assert not vraem[other].isna().any().any()


# ---------------------------------------------------------------------------------------------- calibration
@pytest.mark.parametrize("key", list(PUBLISHED_PERCENT))
def test_published_shares_reproduced_exactly(vraem, key):
    # Source: MSH Peru final results via shared/STUDIES.md section 2 (83%, 47%, 50% within intervention
    # communities). Tolerance: the printed integer percent; moreover the count is the integer nearest to
    # published share x denominator (as close as integer counts allow).
    k, n = _shares(vraem)[key]
    assert round(100 * k / n) == PUBLISHED_PERCENT[key]
    assert k == round(PUBLISHED_PERCENT[key] / 100 * n)


def test_metadata_shares_agree_with_data(vraem):
    cal = vraem_metadata()["calibration"]["published_shares"]
    for key, (k, n) in _shares(vraem).items():
        assert (cal[key]["numerator"], cal[key]["denominator"]) == (k, n)
        assert cal[key]["published"] == PUBLISHED_PERCENT[key] / 100
        assert cal[key]["matched"] and cal[key]["nearest_count"]
        assert cal[key]["definition"]


# assumed effects (shared/STUDIES.md section 2, labelled assumed in the metadata) that the data must recover
HEADLINE = [
    "n_child_health_practices",
    "hand_washing",
    "safe_water",
    "n_hygiene_practices",
    "n_parenting_practices",
    "social_capital",
]


@pytest.mark.parametrize("outcome", HEADLINE)
def test_did_recovers_assumed_effects(vraem, outcome):
    # Reference: statsmodels OLS y ~ treated * wave, cluster-robust SE by community. Tolerance (generous): the
    # estimate lies within 2 standard errors of the assumed effect in the metadata.
    assumed = vraem_metadata()["calibration"]["assumed_effects"][outcome]["assumed"]
    d = vraem.dropna(subset=[outcome]).astype({"community": object})
    fit = smf.ols(f"{outcome} ~ treated * wave", data=d).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(d["community"])[0]}
    )
    est, se = fit.params["treated:wave"], fit.bse["treated:wave"]
    assert abs(est - assumed) <= 2 * se, (outcome, est, se, assumed)
    assert est > 0


def test_assumed_effects_in_metadata_are_the_studies_ones():
    params = {p["name"]: p for p in vraem_metadata()["parameters"]}
    eff = vraem_metadata()["calibration"]["assumed_effects"]
    for group in ["child_health_practices", "hygiene_practices", "parenting_practices"]:
        assert params[group]["label"] == "assumed"
        for practice, v in params[group]["value"].items():
            # STUDIES.md section 2 (assumed): +10 to +15 points on practices
            assert 0.10 <= v["effect"] <= 0.15, practice
            assert eff[practice]["assumed"] == v["effect"]
            assert 0.0 < v["baseline"] < 1.0
            assert 0.0 < v["baseline"] + v["control_trend"] + v["effect"] < 1.0
    for group in ["hygiene_practices", "parenting_practices"]:
        # small control trend (assumed, brief: +2-3 points)
        assert all(0.0 <= v["control_trend"] <= 0.03 for v in params[group]["value"].values())
    assert params["social_capital_model"]["value"]["effect"] == eff["social_capital"]["assumed"] == 5.0
    assert eff["n_child_health_practices"]["assumed"] == pytest.approx(
        sum(v["effect"] for v in params["child_health_practices"]["value"].values()), abs=1e-9
    )


def test_intra_cluster_correlation_is_realistic(vraem):
    # property: a community random effect makes baseline outcomes correlated within community; one-way ANOVA
    # ICC (Donner 1986) computed with statsmodels' ANOVA table, assumed range 0.02-0.20
    base = vraem[vraem["wave"] == 0].astype({"community": object})
    for col in ["social_capital", "hand_washing", "n_parenting_practices"]:
        fit = smf.ols(f"{col} ~ C(community)", data=base).fit()
        sizes = base.groupby("community").size().to_numpy()
        n, c = sizes.sum(), len(sizes)
        n0 = (n - (sizes**2).sum() / n) / (c - 1)
        msb = fit.ess / fit.df_model
        msw = fit.ssr / fit.df_resid
        icc = (msb - msw) / (msb + (n0 - 1) * msw)
        assert 0.02 <= icc <= 0.20, (col, icc)
        assert vraem_metadata()["calibration"]["icc"][f"{col}_baseline"] == pytest.approx(icc, abs=1e-4)


# ---------------------------------------------------------------------------------------------- generator
def test_generator_is_deterministic_and_matches_committed_csv(generator):
    a = generator.build()
    b = generator.build()
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    # byte-for-byte: the CSV the generator would write is the committed one
    assert a.to_csv(index=False) == CSV.read_text(encoding="utf-8")


def test_generator_seed_matters(generator):
    other = generator.build(seed=generator.SEED + 1)
    assert not other.equals(generator.build())
    # the published shares are hit whatever the seed (the calibration repair is exact)
    assert all(round(100 * k / n) == PUBLISHED_PERCENT[key] for key, (k, n) in _shares(other).items())


def test_loader_equals_committed_csv(vraem):
    committed = pd.read_csv(CSV)
    pd.testing.assert_frame_equal(vraem, committed, check_exact=True, check_dtype=False)


# ---------------------------------------------------------------------------------------------- metadata
def test_metadata_labels_every_parameter():
    params = vraem_metadata()["parameters"]
    for p in params:
        assert p["label"] in {"published", "derived", "assumed"}, p
        assert "value" in p and "name" in p
        assert p.get("source") or p.get("note"), p
    assert {p["label"] for p in params} == {"published", "derived", "assumed"}
    by = {p["name"]: p for p in params}
    published_values = {
        **VRAEM_DESIGN,
        "share_child_health_improved_2plus": PUBLISHED_SHARE["child_health_improved_2plus"],
        "share_hygiene_improved_1plus": PUBLISHED_SHARE["hygiene_improved_1plus"],
        "share_parenting_5_6": PUBLISHED_SHARE["parenting_5_6_endline"],
    }
    for name, value in published_values.items():
        assert by[name]["label"] == "published" and by[name]["value"] == value, name
    for name in ["assignment", "communities_per_district", "intervention_communities_per_district", "seed"]:
        assert by[name]["label"] == "assumed", name


def test_metadata_describes_columns_design_and_generator(vraem, communities):
    meta = vraem_metadata()
    assert meta["name"] == "vraem"
    assert list(meta["columns"]) == COLUMNS
    alloc = meta["design"]["allocation"]
    assert sorted(alloc) == sorted(communities["district"].unique())
    for district, a in alloc.items():
        rows = communities[communities["district"] == district]
        assert sorted(a["treated"]) == sorted(rows.index[rows["treated"] == 1])
        assert sorted(a["control"]) == sorted(rows.index[rows["treated"] == 0])
    assert meta["generator"]["script"] == "scripts/make_vraem.py"
    assert isinstance(meta["generator"]["seed"], int)
    assert meta["analysis"]["clusters"] == "community" and meta["analysis"]["blocks"] == "district"


# ---------------------------------------------------------------------------------------------- loaders
def test_load_vraem_returns_fresh_copy():
    a = load_vraem()
    a.loc[0, "treated"] = 99
    b = load_vraem()
    assert b.loc[0, "treated"] != 99
    meta = vraem_metadata()
    meta["name"] = "changed"
    assert vraem_metadata()["name"] == "vraem"


def test_generic_loader(vraem):
    assert {"casita", "vraem"} <= set(available_samples())
    pd.testing.assert_frame_equal(load_sample("vraem"), vraem)
    assert sample_metadata("vraem") == vraem_metadata()
