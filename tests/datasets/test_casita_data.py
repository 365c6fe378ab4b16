"""Tests of the Casita sample data, its generator and the dataset loaders.

These check the data and the loaders only; evalkit's estimators are tested against these data elsewhere. The
published numbers are reproduced with statsmodels (OLS of the change, HC2), the reference the calibration
used.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from evalkit.datasets import available_samples, casita_metadata, load_casita, load_sample, sample_metadata
from evalkit.errors import DataError, EvalkitError

from _references import published

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "make_casita.py"
CSV = REPO / "data" / "sample" / "casita.csv"

DOMAINS = ["comm", "gross_motor", "fine_motor", "problem", "social", "global"]
EASQ_BL = [f"easq_{k}_bl" for k in DOMAINS]
EASQ_END = [f"easq_{k}" for k in DOMAINS]
COLUMNS = [
    "child_id",
    "health_post",
    "treated",
    "age_months",
    "female",
    *EASQ_BL,
    *EASQ_END,
    "home_total_bl",
    "home_total",
    "sessions_attended",
    "attended",
    "age_group",
]

# Source of every published number below: Nelson, Miller et al., "CASITA: a controlled pilot study of
# community-based family coaching to stimulate early child development in Lima, Peru", BMJ Paediatrics Open
# 2018;2:e000268 (via shared/STUDIES.md section 1), as stated in replications/casita.toml. Tolerance: the file's,
# the printed precision (digits = 2: |reproduced - printed| <= 0.005). Keys: those of the analysis below and of
# casita.meta.json's calibration, mapped to the replication file's columns.
REPLICATION_COLUMN = {
    "estimate": "estimate",
    "conf_low": "conf_low",
    "conf_high": "conf_high",
    "d": "cohens_d",
    "d_low": "cohens_d_low",
    "d_high": "cohens_d_high",
}
#: The [[estimate]] of casita.toml holding each outcome's published headline (the file also pins derived numbers of
#: the same outcome, e.g. the complier effect, so the block is named).
HEADLINE_ID = {"easq_global": "global EASQ z, change from baseline", "home_total": "HOME total, change from baseline"}
PUBLISHED = {
    outcome: {
        key: published("casita.toml", column, id=HEADLINE_ID[outcome], outcome=outcome)
        for key, column in REPLICATION_COLUMN.items()
    }
    for outcome in ("easq_global", "home_total")
}
# Arm sizes analysed: published 41/19 for HOME; derived 32/15 for EASQ (the only split of 47 reproducing the
# printed d interval, see casita.meta.json).
ARMS = {"easq_global": (32, 15), "home_total": (41, 19)}


@pytest.fixture(scope="module")
def generator():
    spec = importlib.util.spec_from_file_location("make_casita", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def casita() -> pd.DataFrame:
    return load_casita()


def _change_analysis(df: pd.DataFrame, outcome: str) -> dict:
    """The published analysis: complete cases, OLS of the change on treated + baseline, age, female; HC2."""
    cc = df.dropna(subset=[outcome, f"{outcome}_bl"])
    change = (cc[outcome] - cc[f"{outcome}_bl"]).astype(float)
    X = sm.add_constant(cc[["treated", f"{outcome}_bl", "age_months", "female"]].astype(float))
    fit = sm.OLS(change, X).fit(cov_type="HC2")
    est, se = float(fit.params["treated"]), float(fit.bse["treated"])
    tcrit = stats.t.ppf(0.975, fit.df_resid)
    t = cc["treated"].to_numpy()
    n1, n0 = int((t == 1).sum()), int((t == 0).sum())
    s1, s0 = change[t == 1].std(ddof=1), change[t == 0].std(ddof=1)
    sd = math.sqrt(((n1 - 1) * s1**2 + (n0 - 1) * s0**2) / (n1 + n0 - 2))
    d = est / sd
    se_d = math.sqrt((n1 + n0) / (n1 * n0) + d**2 / (2 * (n1 + n0)))
    z = stats.norm.ppf(0.975)
    return {
        "estimate": est,
        "conf_low": est - tcrit * se,
        "conf_high": est + tcrit * se,
        "d": d,
        "d_low": d - z * se_d,
        "d_high": d + z * se_d,
        "n1": n1,
        "n0": n0,
        "df_resid": fit.df_resid,
    }


# ---------------------------------------------------------------------------------------------- structure
def test_shape_and_columns(casita):
    assert casita.shape == (60, 22)
    assert list(casita.columns) == COLUMNS
    assert casita["child_id"].tolist() == list(range(1, 61))


def test_arms_posts_and_age(casita):
    assert int(casita["treated"].sum()) == 41
    assert int((casita["treated"] == 0).sum()) == 19
    assert set(casita["treated"].unique()) == {0, 1}
    assert set(casita["female"].unique()) <= {0, 1}
    assert sorted(casita["health_post"].unique()) == [f"HP{i}" for i in range(1, 7)]
    assert casita["age_months"].between(6, 24).all()
    assert np.allclose(casita["age_months"], casita["age_months"].round(1))


def test_dtypes(casita):
    for col in ["child_id", "treated", "female", "home_total_bl", "home_total", "sessions_attended", "attended"]:
        assert pd.api.types.is_integer_dtype(casita[col]), col
    assert pd.api.types.is_string_dtype(casita["health_post"])
    assert pd.api.types.is_string_dtype(casita["age_group"])
    for col in EASQ_BL + EASQ_END + ["age_months"]:
        assert pd.api.types.is_float_dtype(casita[col]), col


def test_missingness_only_in_easq_endline_block(casita):
    missing = casita[EASQ_END].isna()
    # all six EASQ endline columns are missing together, for 13 children
    assert (missing.all(axis=1) == missing.any(axis=1)).all()
    assert int(missing.all(axis=1).sum()) == 13
    complete = casita.dropna(subset=EASQ_END)
    assert len(complete) == 47
    assert (int(complete["treated"].sum()), int((complete["treated"] == 0).sum())) == (32, 15)
    other = [c for c in casita.columns if c not in EASQ_END]
    assert not casita[other].isna().any().any()


def test_take_up_is_one_sided_and_age_groups_follow_age(casita):
    # Assumed take-up model (casita.meta.json, parameter take_up_model): controls are not offered coaching, so
    # take-up is one-sided; attended = at least 6 of 12 sessions; 31 of 41 coached children take up (derived).
    assert casita["sessions_attended"].between(0, 12).all()
    assert (casita.loc[casita["treated"] == 0, "sessions_attended"] == 0).all()
    assert casita["attended"].equals((casita["sessions_attended"] >= 6).astype("int64"))
    assert int(casita["attended"].sum()) == 31
    expected = pd.cut(casita["age_months"], [6, 12, 18, 24.01], right=False, labels=["6-11", "12-17", "18-24"])
    assert (casita["age_group"] == expected.astype(str)).all()


def test_home_integer_0_45(casita):
    for col in ["home_total_bl", "home_total"]:
        assert casita[col].between(0, 45).all()
        assert pd.api.types.is_integer_dtype(casita[col])


def test_easq_plausible_and_rounded(casita):
    z = casita[EASQ_BL + EASQ_END]
    assert ((z.abs() <= 4) | z.isna()).all().all()
    assert np.allclose(z.fillna(0), z.fillna(0).round(4), rtol=0, atol=1e-12)
    # children at risk of delay: baseline z-scores mostly negative
    assert (casita[EASQ_BL].mean() < 0).all()
    assert (casita["easq_global_bl"] < 0).mean() > 0.75


# ---------------------------------------------------------------------------------------------- generator
def test_generator_is_deterministic_and_matches_committed_csv(generator):
    a = generator.build()
    b = generator.build()
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    # byte-for-byte: the CSV the generator would write is the committed one
    assert a.to_csv(index=False) == CSV.read_text(encoding="utf-8")


def test_loader_equals_committed_csv(casita):
    committed = pd.read_csv(CSV)
    pd.testing.assert_frame_equal(casita, committed, check_exact=True, check_dtype=False)


# ---------------------------------------------------------------------------------------------- calibration
@pytest.mark.parametrize("outcome", ["easq_global", "home_total"])
def test_published_numbers_reproduced(casita, outcome):
    res = _change_analysis(casita, outcome)
    assert (res["n1"], res["n0"]) == ARMS[outcome]
    assert res["df_resid"] == sum(ARMS[outcome]) - 5
    for key, printed in PUBLISHED[outcome].items():
        assert abs(res[key] - printed.value) <= printed.tolerance, (outcome, key, res[key], printed)


@pytest.mark.parametrize("outcome", ["easq_global", "home_total"])
def test_metadata_calibration_agrees_with_data(casita, outcome):
    meta = casita_metadata()["calibration"][outcome]
    res = _change_analysis(casita, outcome)
    assert meta["not_matched"] == []
    assert set(meta["matched"]) == set(PUBLISHED[outcome])
    for key in PUBLISHED[outcome]:
        assert meta["achieved"][key] == pytest.approx(res[key], abs=1e-6)


def test_domain_effects_are_the_assumed_ones(casita):
    # assumed (not published) domain effects, from the metadata; the generator makes the change estimator
    # return them up to the 4-decimal rounding of the z-scores (tolerance 1e-3)
    params = {p["name"]: p for p in casita_metadata()["parameters"]}
    effects = params["domain_effects"]["value"]
    assert params["domain_effects"]["label"] == "assumed"
    assert len(set(effects.values())) == len(effects)
    for domain, effect in effects.items():
        assert 0.3 <= effect <= 0.9
        res = _change_analysis(casita, f"easq_{domain}")
        assert res["estimate"] == pytest.approx(effect, abs=1e-3)


# ---------------------------------------------------------------------------------------------- metadata
def test_metadata_labels_every_parameter():
    meta = casita_metadata()
    params = meta["parameters"]
    assert len(params) > 10
    for p in params:
        assert p["label"] in {"published", "derived", "assumed"}, p
        assert "value" in p and "name" in p
        assert p.get("source") or p.get("note"), p
    labels = {p["label"] for p in params}
    assert labels == {"published", "derived", "assumed"}
    names = {p["name"] for p in params}
    assert {"n_treated", "n_control", "seed", "n_easq_analysed", "domain_effects"} <= names


def test_metadata_describes_columns_design_and_generator():
    meta = casita_metadata()
    assert list(meta["columns"]) == COLUMNS
    assert "NCT03010306" in meta["source"]["registry"]
    assert "non_randomized" in meta["design"]["readings"]
    assert "randomized" in meta["design"]["readings"]
    assert meta["generator"]["script"] == "scripts/make_casita.py"
    assert isinstance(meta["generator"]["seed"], int)


# ---------------------------------------------------------------------------------------------- loaders
def test_load_casita_returns_fresh_copy():
    a = load_casita()
    a.loc[0, "treated"] = 99
    b = load_casita()
    assert b.loc[0, "treated"] != 99
    meta = casita_metadata()
    meta["name"] = "changed"
    assert casita_metadata()["name"] == "casita"


def test_generic_loader(casita):
    assert "casita" in available_samples()
    pd.testing.assert_frame_equal(load_sample("casita"), casita)
    assert sample_metadata("casita") == casita_metadata()


def test_data_dir_falls_back_to_checkout():
    from evalkit.datasets import _loader

    folder = _loader._data_dir()
    assert (folder / "casita.csv").is_file()
    assert (folder / "casita.meta.json").is_file()


@pytest.mark.parametrize("loader", [load_sample, sample_metadata])
def test_unknown_dataset_name(loader):
    with pytest.raises(DataError, match="casita") as info:
        loader("no_such_dataset")
    assert "no_such_dataset" in str(info.value)
    assert isinstance(info.value, EvalkitError)
    assert isinstance(info.value, ValueError)
