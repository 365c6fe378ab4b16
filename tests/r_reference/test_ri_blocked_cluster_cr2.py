"""The batched CR2 statistic of randomization inference on a blocked cluster design against live R.

Cuna Más (``ek.datasets.load_cuna_mas()``: 180 districts in 12 departments, treatment by district within
department), ANCOVA on three covariates with department indicators. For a few re-drawn assignments (districts
re-randomized within departments) and the two responses randomization inference fits under every draw (the outcome
and the outcome minus ``0.5 z_obs``, the sharp null tau0 = 0.5), the coefficient of the re-drawn treatment and its CR2
standard error from :func:`evalkit.inference.batched.fit_treatment_design` (the cluster-level path: treatment
constant within districts) equal ``estimatr::lm_robust(clusters=, se_type="CR2")`` and
``clubSandwich::vcovCR(type="CR2")`` on the same permuted data (``ri_blocked_cluster_cr2.R``, one ``Rscript`` call;
skips without R, fails under ``EVALKIT_REQUIRE_R=1``: ``tests/_rscript.py``).

TOLERANCE: 1e-9 relative (double precision on both sides; the batched engine works in a rotated basis).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _rscript import run_rscript

import evalkit as ek
from evalkit.estimators.treatment_design import TreatmentDesign
from evalkit.inference.batched import fit_treatment_design

R_SCRIPT = Path(__file__).with_name("ri_blocked_cluster_cr2.R")
RTOL = 1e-9
DRAWS = 4
TAU0 = 0.5


def _design() -> tuple[pd.DataFrame, np.ndarray]:
    data = ek.datasets.load_cuna_mas()
    d = data.dropna(subset=["dev_index", "dev_index_bl", "age_months", "female"]).reset_index(drop=True)
    frame = pd.DataFrame(
        {
            "y": d["dev_index"].to_numpy(float),
            "x1": d["dev_index_bl"].to_numpy(float),
            "x2": d["age_months"].to_numpy(float),
            "x3": d["female"].to_numpy(float),
            "block": d["department"].astype(str),
            "cluster": d["district"].astype(str),
            "z_obs": d["treated"].to_numpy(float),
        }
    )
    districts = frame.groupby("cluster", sort=True).agg(block=("block", "first"), z=("z_obs", "first"))
    rng = np.random.default_rng(20261203)
    zeta = np.empty((DRAWS, len(districts)))
    for rows in districts.groupby("block").indices.values():
        labels = districts["z"].to_numpy()[rows]
        zeta[:, rows] = np.stack([rng.permutation(labels) for _ in range(DRAWS)])
    code = pd.Categorical(frame["cluster"], categories=districts.index).codes
    Z = zeta[:, code]
    for j in range(DRAWS):
        frame[f"z{j + 1}"] = Z[j]
    return frame, Z


@pytest.fixture(scope="module")
def r_reference(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("ri_blocked_cluster_cr2")
    frame, _ = _design()
    frame.to_csv(root / "design.csv", index=False, float_format="%.17g")
    run_rscript(R_SCRIPT, root / "design.csv", root / "results.json")  # skips without R (see _rscript)
    return json.loads((root / "results.json").read_text())


def test_batched_cr2_per_draw_matches_estimatr_and_club_sandwich(r_reference) -> None:
    frame, Z = _design()
    blocks = pd.get_dummies(frame["block"], drop_first=True, dtype=float).to_numpy()
    fixed = np.column_stack([frame[["x1", "x2", "x3"]].to_numpy(), blocks])
    design = TreatmentDesign(fixed=fixed, interacted=np.empty((len(frame), 0)))
    Y = frame[["y", "z_obs"]].to_numpy()
    fit = fit_treatment_design(design, Z, Y, cov_type="CR2", weights=None, clusters=frame["cluster"].to_numpy())
    combos = np.array([[1.0, 0.0], [1.0, -TAU0]])  # responses y and y - tau0 z_obs
    estimate = fit.coef @ combos.T
    se = np.sqrt(np.einsum("ci,bij,cj->bc", combos, fit.gram, combos))
    # SOURCE: estimatr 1.0 lm_robust(clusters=, se_type="CR2") and clubSandwich 0.5 vcovCR(type="CR2") on each
    # permuted data set (ri_blocked_cluster_cr2.R). TOLERANCE: 1e-9 relative.
    np.testing.assert_allclose(estimate, r_reference["estimate"], rtol=RTOL)
    np.testing.assert_allclose(r_reference["se_club"], r_reference["se_estimatr"], rtol=RTOL)
    np.testing.assert_allclose(se, r_reference["se_estimatr"], rtol=RTOL)
