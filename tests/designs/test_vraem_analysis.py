"""The VRAEM sample analysed as the notebook does: CR2, wild cluster bootstrap, within-district randomization."""

from __future__ import annotations

import warnings
from math import comb

import numpy as np
import pandas as pd
import pytest

import evalkit as ek


@pytest.fixture(scope="module")
def vraem() -> pd.DataFrame:
    return ek.datasets.load_vraem()


def design(data: pd.DataFrame) -> ek.DiffInDiff:
    return ek.DiffInDiff(
        data,
        treatment="treated_post",
        unit="household_id",
        time="wave",
        clusters="community",
        blocks="district",
        assignment=ek.BlockClusterRandomization(),
    )


def test_twfe_matches_pyfixest(vraem: pd.DataFrame) -> None:
    pf = pytest.importorskip("pyfixest")
    res = design(vraem).estimate("social_capital", inference="CR1").to_frame().iloc[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = pf.feols(
            "social_capital ~ treated_post | household_id + district^wave", data=vraem, vcov={"CRV1": "community"}
        )
    # pyfixest feols, same fixed effects, CRV1 by community (fixest small-sample convention); tolerance 1e-8.
    assert res["estimate"] == pytest.approx(float(ref.coef()["treated_post"]), rel=1e-8)
    assert res["std_error"] == pytest.approx(float(ref.se()["treated_post"]), rel=1e-8)


def test_cr2_default_bootstrap_and_randomization_agree_in_direction(vraem: pd.DataFrame) -> None:
    did = design(vraem)
    cr2 = did.estimate("social_capital").to_frame().iloc[0]
    assert cr2["inference"].startswith("CR2") and cr2["n_clusters"] == 31
    # Bell-McCaffrey df are below G - 1 = 30 with 31 unequal clusters (Imbens & Kolesar 2016, Sec. 5).
    assert 5 < cr2["df"] < 30
    wcb = did.estimate(
        "social_capital", inference=ek.inference.WildClusterBootstrap(reps=1_999, weights="webb", seed=3)
    )
    ri = did.estimate("social_capital", inference=ek.inference.RandomizationInference(reps=1_999, seed=3))
    for res in (wcb, ri):
        row = res.to_frame().iloc[0]
        assert row["estimate"] == pytest.approx(cr2["estimate"], rel=1e-12)
        assert row["conf_low"] < cr2["estimate"] < row["conf_high"]
    # The assumed +5 point effect on a 0-100 index with ICC ~0.12 (vraem.meta.json) is detected by all three.
    assert max(cr2["p_value"], wcb.to_frame()["p_value"].iloc[0], ri.to_frame()["p_value"].iloc[0]) < 0.01


def test_exact_within_district_randomization_on_two_districts(vraem: pd.DataFrame) -> None:
    two = vraem[vraem["district"].isin(["D5", "D6"])]
    counts = two.drop_duplicates("community").groupby("district")["treated"].agg(["size", "sum"])
    n_assignments = int(np.prod([comb(int(s), int(t)) for s, t in counts.to_numpy()]))
    did = design(two)
    # Closed form: product over districts of C(communities, treated communities) (Gerber & Green 2012, ch. 3).
    assert did.assignment.count() == n_assignments
    res = did.estimate("social_capital", inference=ek.inference.RandomizationInference(reps=10_000, seed=1))
    row = res.to_frame().iloc[0]
    assert bool(row["exact"]) and row["n_draws"] == n_assignments
    # An exact p-value is a multiple of 1 / (number of assignments); tolerance 1e-9.
    assert row["p_value"] * n_assignments == pytest.approx(round(row["p_value"] * n_assignments), abs=1e-9)
