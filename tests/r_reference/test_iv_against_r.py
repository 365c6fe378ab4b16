"""``estimator="iv"`` against live R: ``estimatr::iv_robust`` (2SLS with assignment as the instrument), to 1e-8.

The designs (complete, blocked, cluster and blocked-cluster randomization with two-sided non-compliance, weighted
and not) are simulated here with fixed seeds and written as CSV; ``iv_robust.R`` (next to this file) computes, in one
``Rscript`` call, for each case:

- ``estimatr::iv_robust(y ~ d + cov | z + cov, se_type=...)``: the complier effect, its standard error and df
  (HC2 / classical / HC0-HC3 with n - k df, CR0 / "stata" (CR1) with G - 1, CR2 with Bell-McCaffrey df) and
  the first-stage F of ``diagnostics = TRUE``;
- ``lm_robust`` of the outcome and of take-up on assignment (the ITT and the first stage);
- the Anderson-Rubin interval by numerical inversion (``uniroot``) of the ``lm_robust`` t test of assignment in the
  regression of ``y - b0 d`` -- an independent computation of what evalkit gets in closed form.

Reference versions when written: R 4.2.2, estimatr 1.0.0 (Debian bookworm ``r-cran-estimatr``).

TOLERANCE: 1e-8 relative (the task's bar; observed agreement ~1e-12 for estimates, standard errors and df, ~1e-10
for the Anderson-Rubin ends, which uniroot finds to 1e-13 absolute).

Without ``Rscript`` every test here skips with the apt-get line that installs R; ``EVALKIT_REQUIRE_R=1`` makes that
a failure (``tests/_rscript.py``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _rscript import run_rscript

import evalkit as ek

R_SCRIPT = Path(__file__).with_name("iv_robust.R")
RTOL = 1e-8


def _design(kind: str, seed: int) -> pd.DataFrame:
    """Two-sided non-compliance: 15% always-takers, 25% never-takers, the rest compliers."""
    rng = np.random.default_rng(seed)
    if kind in ("cluster", "blocked_cluster"):
        n_clusters, size = 24, 5
        cluster = np.repeat(np.arange(n_clusters), size)
        block = np.repeat(np.arange(n_clusters) % 4, size)
        zc = np.zeros(n_clusters)
        for b in range(4):
            members = np.flatnonzero(np.arange(n_clusters) % 4 == b)
            zc[rng.choice(members, size=3, replace=False)] = 1
        z = zc[cluster]
        shock = rng.normal(size=n_clusters)[cluster] * 0.5
    else:
        n = 90
        cluster = np.arange(n)
        block = np.arange(n) % 3
        z = np.zeros(n)
        for b in range(3):
            members = np.flatnonzero(block == b)
            z[rng.choice(members, size=12 + 3 * b, replace=False)] = 1
        shock = 0.0
    n = len(z)
    kind_of_unit = rng.choice(3, size=n, p=[0.15, 0.25, 0.60])  # always, never, complier
    d = np.where(kind_of_unit == 0, 1.0, np.where(kind_of_unit == 1, 0.0, z))
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n) + 0.5 * x1
    y = 1.0 + 0.6 * d + 0.8 * x1 - 0.4 * x2 + 0.3 * (kind_of_unit == 0) + shock + rng.normal(size=n) * (1 + 0.8 * d)
    return pd.DataFrame(
        {
            "y": y,
            "z": z.astype(np.int64),
            "d": d,
            "x1": x1,
            "x2": x2,
            "block": block,
            "cluster": cluster,
            "w": rng.uniform(0.3, 3.0, size=n),
        }
    )


DESIGNS = {"complete": 101, "blocked": 102, "cluster": 103, "blocked_cluster": 104}

# (name, design, covariates, block fixed effects, clustered, weighted, estimatr se_type, evalkit inference)
CASES = [
    ("complete-HC2-nocov", "complete", [], False, False, False, "HC2", "HC2"),
    *[
        (f"complete-{se}", "complete", ["x1", "x2"], False, False, False, se, ek_se)
        for se, ek_se in (("HC2", "HC2"), ("classical", "classical"), ("HC0", "HC0"), ("HC1", "HC1"), ("HC3", "HC3"))
    ],
    ("complete-HC2-weighted", "complete", ["x1", "x2"], False, False, True, "HC2", "HC2"),
    ("blocked-HC2", "blocked", ["x1"], True, False, False, "HC2", "HC2"),
    *[
        (f"cluster-{se}", "cluster", ["x1", "x2"], False, True, False, se, ek_se)
        for se, ek_se in (("CR2", "CR2"), ("CR0", "CR0"), ("stata", "CR1"))
    ],
    ("cluster-CR2-weighted", "cluster", ["x1"], False, True, True, "CR2", "CR2"),
    ("blocked-cluster-CR2", "blocked_cluster", ["x1", "x2"], True, True, False, "CR2", "CR2"),
]


@pytest.fixture(scope="module")
def r_reference(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("iv_robust")
    files = {}
    for kind, seed in DESIGNS.items():
        files[kind] = root / f"{kind}.csv"
        _design(kind, seed).to_csv(files[kind], index=False, float_format="%.17g")
    manifest = {
        "cases": [
            {
                "name": name,
                "file": str(files[design]),
                "covariates": covariates,
                "block_fe": block_fe,
                "clusters": clustered,
                "weights": weighted,
                "se_type": se_type,
            }
            for name, design, covariates, block_fe, clustered, weighted, se_type, _ in CASES
        ]
    }
    (root / "manifest.json").write_text(json.dumps(manifest))
    run_rscript(R_SCRIPT, root / "manifest.json", root / "results.json")  # skips without R (see _rscript)
    out = json.loads((root / "results.json").read_text())
    return {"cases": {c["name"]: c for c in out["cases"]}, "versions": out["versions"]}


def _evalkit(design: str, covariates, block_fe: bool, clustered: bool, weighted: bool, inference: str) -> pd.Series:
    data = _design(design, DESIGNS[design])
    trial = ek.RandomizedTrial(
        data,
        treatment="z",
        blocks="block" if block_fe else None,
        clusters="cluster" if clustered else None,
        weights="w" if weighted else None,
    )
    res = trial.estimate("y", estimator="iv", take_up="d", covariates=covariates or None, inference=inference)
    return res.to_frame().iloc[0]


def test_versions(r_reference) -> None:
    assert r_reference["versions"]["estimatr"].split(".")[0] == "1", r_reference["versions"]


@pytest.mark.parametrize(
    ("name", "design", "covariates", "block_fe", "clustered", "weighted", "se_type", "inference"),
    CASES,
    ids=[c[0] for c in CASES],
)
def test_iv_matches_iv_robust(r_reference, name, design, covariates, block_fe, clustered, weighted, se_type, inference):
    ref = r_reference["cases"][name]
    row = _evalkit(design, covariates, block_fe, clustered, weighted, inference)
    assert row["term"] == "d" and row["estimand"] == "CACE (2SLS)"
    # SOURCE: estimatr::iv_robust(y ~ d + cov | z + cov, se_type) (iv_robust.R). TOLERANCE: 1e-8 relative.
    np.testing.assert_allclose(row["estimate"], ref["iv"]["estimate"], rtol=RTOL)
    np.testing.assert_allclose(row["std_error"], ref["iv"]["std_error"], rtol=RTOL)
    np.testing.assert_allclose(row["df"], ref["iv"]["df"], rtol=RTOL)
    # SOURCE: lm_robust(y ~ z + cov) and lm_robust(d ~ z + cov), same se_type. TOLERANCE: 1e-8 relative.
    np.testing.assert_allclose(row["itt"], ref["itt"]["estimate"], rtol=RTOL)
    np.testing.assert_allclose(row["itt_std_error"], ref["itt"]["std_error"], rtol=RTOL)
    np.testing.assert_allclose(row["first_stage"], ref["first"]["estimate"], rtol=RTOL)
    np.testing.assert_allclose(row["first_stage_std_error"], ref["first"]["std_error"], rtol=RTOL)
    # SOURCE: iv_robust(diagnostics = TRUE)$diagnostic_first_stage_fstatistic["value"]. TOLERANCE: 1e-8 relative.
    np.testing.assert_allclose(row["first_stage_f"], ref["iv"]["first_stage_f"], rtol=RTOL)
    # SOURCE: uniroot inversion of the lm_robust t test of z in (y - b0 d) ~ z + cov (iv_robust.R).
    # TOLERANCE: 1e-8 relative.
    np.testing.assert_allclose(
        [row["ar_conf_low"], row["ar_conf_high"]], [ref["ar"]["low"], ref["ar"]["high"]], rtol=RTOL
    )
