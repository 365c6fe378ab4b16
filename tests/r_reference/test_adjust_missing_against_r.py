"""``Results.adjust`` with missing p-values against R's ``p.adjust`` (live R; ``tests/_rscript.py``).

R's ``p.adjust`` keeps NA where the p-value is NA and adjusts the others among themselves, with ``n`` the number of
non-missing p-values. ``Results.adjust`` does the same for its p-value methods (it refused any NaN before) and says
in a note which rows it left out. Romano-Wolf / Westfall-Young still refuse such rows, naming them.

TOLERANCE: 1e-12 absolute (the same few double-precision operations on the same doubles).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _rscript import run_rscript

import evalkit as ek
from evalkit.errors import InferenceError
from evalkit.inference.multiple_testing import adjust_pvalues

R_SCRIPT = Path(__file__).with_name("p_adjust_na.R")
ATOL = 1e-12
#: evalkit method -> R p.adjust method (evalkit has no Hochberg step-up; R computes it but it is not compared)
METHODS = {"bonferroni": "bonferroni", "holm": "holm", "bh": "BH", "by": "BY"}


def _results() -> ek.Results:
    """Eight outcomes of a trial; two (y2, y5) separate the arms exactly, so their p-values are NaN."""
    rng = np.random.default_rng(20261203)
    n = 40
    data = pd.DataFrame({"z": np.r_[np.ones(20), np.zeros(20)].astype(int)})
    for k in range(8):
        data[f"y{k}"] = rng.normal(size=n) + 0.25 * k * data["z"]
    for k in (2, 5):
        data[f"y{k}"] = 1.0 + 2.0 * data["z"]
    return ek.RandomizedTrial(data, "z").estimate([f"y{k}" for k in range(8)])


@pytest.fixture(scope="module")
def r_reference(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("p_adjust_na")
    p = _results().to_frame()["p_value"]
    pd.DataFrame({"p": p}).to_csv(root / "p.csv", index=False, float_format="%.17g", na_rep="NA")
    run_rscript(R_SCRIPT, root / "p.csv", root / "out.json")  # skips without R (see _rscript)
    return json.loads((root / "out.json").read_text())


def _r(values: list) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_results_adjust_leaves_missing_out_as_r(method: str, r_reference: dict) -> None:
    res = _results()
    assert res.to_frame()["p_value"].isna().sum() == 2  # the premise: two rows without a p-value
    adjusted = res.adjust(method).to_frame()
    expected = _r(r_reference[METHODS[method]])
    got = adjusted["p_adjusted"].to_numpy(dtype=np.float64)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(got, expected, rtol=0, atol=ATOL)
    assert not adjusted.loc[adjusted["outcome"].isin(["y2", "y5"]), "rejected"].any()
    note = next(n for n in res.adjust(method).notes if n.startswith("p_adjusted:"))
    assert "2 rows ('y2', 'y5')" in note and "Left out" in note


def test_sharpened_q_adjusts_the_rest_among_themselves() -> None:
    """Property: with NaN rows, sharpened q-values of the others equal those of the others alone."""
    p = _results().to_frame()["p_value"].to_numpy(dtype=np.float64)
    got = adjust_pvalues(p, "sharpened_q")
    kept = ~np.isnan(p)
    assert np.isnan(got[~kept]).all()
    np.testing.assert_array_equal(got[kept], adjust_pvalues(p[kept], "sharpened_q"))


def test_holm_closed_form_with_missing() -> None:
    """Holm over the present p-values only (closed form), NaN kept; an all-missing family stays all NaN."""
    p = np.array([0.01, np.nan, 0.04, 0.03, 0.2, np.nan])
    holm = adjust_pvalues(p, "holm")
    # closed form, Holm over the four present: sorted 0.01, 0.03, 0.04, 0.2 -> 0.04, 0.09, 0.09, 0.2
    np.testing.assert_allclose(holm, [0.04, np.nan, 0.09, 0.09, 0.2, np.nan], rtol=0, atol=1e-15)
    assert np.isnan(adjust_pvalues([np.nan, np.nan], "bh")).all()


@pytest.mark.parametrize("method", ["romano_wolf", "westfall_young"])
def test_resampling_refusal_names_the_rows(method: str) -> None:
    with pytest.raises(InferenceError, match=r"2 rows \('y2', 'y5'\).*'holm'"):
        _results().adjust(method, reps=19, seed=1)
