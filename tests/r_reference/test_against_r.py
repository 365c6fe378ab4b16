"""evalkit against live R: estimatr and clubSandwich on a sweep of designs, to 1e-10 relative.

The designs are simulated here with fixed seeds (complete, blocked, cluster and blocked-cluster randomization, each
unweighted and weighted), written as CSV files, and ``reference.R`` (next to this file) computes the reference
numbers in ONE ``Rscript`` call per test session:

- ``estimatr::lm_robust`` (``se_type`` "classical", "HC0".."HC3", "CR0", "stata" = CR1, "CR2") for
  ``estimator="ols"`` with covariates (and block fixed effects);
- ``estimatr::lm_lin`` for ``estimator="lin"``;
- ``estimatr::difference_in_means`` (``blocks=``, ``clusters=``, ``weights=``) for the default estimator;
- ``clubSandwich::vcovCR(type = "CR2")`` + ``coef_test(test = "Satterthwaite")`` for the CR2 standard error and
  the Bell-McCaffrey df of OLS, Lin and the (blocked) difference in means, with three working models when weighted:
  vcovCR's default, ``inverse_var = TRUE``, and "transformed" (vcovCR's default on the unweighted regression of
  ``sqrt(w) y`` on ``sqrt(w) X``); also the Bell-McCaffrey df of a contrast, for HC2 (every row its own
  cluster) and CR2.

Reference versions used when this tier was written: R 4.2.2, estimatr 1.0.0, clubSandwich 0.5.8, sandwich 3.0.2,
jsonlite 1.8.4 (Debian bookworm packages ``r-base-core r-cran-estimatr r-cran-clubsandwich r-cran-sandwich
r-cran-jsonlite``). The versions R actually ran are checked below to be these majors.

TOLERANCE: 1e-10 relative for estimates, standard errors and df (both programs compute in double precision
from the same data; observed agreement is ~1e-13).

Without ``Rscript`` on PATH every test here skips (with the apt-get line to install R); with the environment
variable ``EVALKIT_REQUIRE_R=1`` (set by ``.ci/run``) a missing R fails instead.

How evalkit is asked for each number: ``RandomizedTrial(...).estimate(estimator=..., inference=...)`` with the
string types, ``Sandwich("CR2", working_model="inverse_variance")`` for the "transformed" cases,
``Sandwich("HC2", df="bell_mccaffrey")`` for HC2 with Bell-McCaffrey df, and ``bell_mccaffrey_df`` for contrasts.

Where evalkit and R differ by design the case says so in ``CASES`` (``differs``) and the test checks that they do
differ, so a change of convention is noticed. Two remain: the df of the blocked-cluster difference in means
(evalkit: Bell-McCaffrey, equal to clubSandwich's; estimatr: J - 2B), and ``vcovCR(inverse_var = TRUE)``, which is
another inverse-variance CR2 than evalkit's (see ``CLUB_INVERSE_VAR``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _rscript import run_rscript

import evalkit as ek
from evalkit.inference.sandwich import Sandwich, bell_mccaffrey_df

R_SCRIPT = Path(__file__).with_name("reference.R")
RTOL = 1e-10

# ----------------------------------------------------------------------------------------------------------
# designs (fixed seeds)
# ----------------------------------------------------------------------------------------------------------


def _outcome(rng: np.random.Generator, z, x1, x2, cluster_effect=0.0):
    n = len(z)
    return 1.0 + 0.5 * z + 0.8 * x1 - 0.4 * x2 + cluster_effect + rng.normal(size=n) * (1.0 + 1.5 * z + 0.3 * x1**2)


def _frame(rng, z, block, cluster, cluster_effect=0.0) -> pd.DataFrame:
    n = len(z)
    x1 = rng.normal(size=n)
    x2 = rng.normal(size=n) + 0.5 * x1
    return pd.DataFrame(
        {
            "y": _outcome(rng, z, x1, x2, cluster_effect),
            "z": z.astype(np.int64),
            "x1": x1,
            "x2": x2,
            "block": block,
            "cluster": cluster,
            "w": rng.uniform(0.3, 3.0, size=n),
        }
    )


def _complete() -> pd.DataFrame:
    # 41 treated / 19 control with unequal variances: the Welch df (~22) is far from n - 2 = 58.
    rng = np.random.default_rng(20261202)
    z = rng.permutation(np.r_[np.ones(41), np.zeros(19)])
    n = z.size
    return _frame(rng, z, np.repeat("all", n), [f"u{i}" for i in range(n)])


def _blocked() -> pd.DataFrame:
    rng = np.random.default_rng(20261203)
    sizes, treated = [12, 16, 10, 22], [4, 10, 3, 7]
    arms = [np.r_[np.ones(t), np.zeros(s - t)] for s, t in zip(sizes, treated, strict=True)]
    z = np.concatenate([rng.permutation(a) for a in arms])
    block = np.repeat([f"b{i}" for i in range(4)], sizes)
    return _frame(rng, z, block, [f"u{i}" for i in range(z.size)])


def _clusters(rng, n_clusters, n_treated, prefix=""):
    sizes = rng.integers(2, 10, size=n_clusters)
    zc = rng.permutation(np.r_[np.ones(n_treated), np.zeros(n_clusters - n_treated)])
    labels = np.repeat([f"{prefix}c{j}" for j in range(n_clusters)], sizes)
    return np.repeat(zc, sizes), labels, np.repeat(rng.normal(scale=0.7, size=n_clusters), sizes)


def _cluster() -> pd.DataFrame:
    rng = np.random.default_rng(20261204)
    z, cluster, effect = _clusters(rng, 14, 6)
    return _frame(rng, z, np.repeat("all", z.size), cluster, effect)


def _blocked_cluster() -> pd.DataFrame:
    rng = np.random.default_rng(20261205)
    parts = [_clusters(rng, g, t, prefix=f"b{b}") for b, (g, t) in enumerate([(4, 2), (5, 2), (6, 3)])]
    z = np.concatenate([p[0] for p in parts])
    cluster = np.concatenate([p[1] for p in parts])
    effect = np.concatenate([p[2] for p in parts])
    block = np.concatenate([np.repeat(f"b{b}", p[0].size) for b, p in enumerate(parts)])
    return _frame(rng, z, block, cluster, effect)


DESIGNS = {"complete": _complete, "blocked": _blocked, "cluster": _cluster, "blocked_cluster": _blocked_cluster}
BLOCKED = {"blocked", "blocked_cluster"}
CLUSTERED = {"cluster", "blocked_cluster"}

# ----------------------------------------------------------------------------------------------------------
# cases
# ----------------------------------------------------------------------------------------------------------

R_SE_TYPE = {"CR1": "stata"}
BLOCKED_CLUSTER_DIM_DF = (
    "blocked-cluster difference in means: evalkit keeps the Bell-McCaffrey df of its CR2 (checked against "
    "clubSandwich in the '-difference_in_means-club-' cases), estimatr reports J - 2B"
)
CLUB_INVERSE_VAR = (
    "vcovCR(inverse_var = TRUE) takes the symmetric square root A_g with A_g S_g A_g = W_g^-1; evalkit's "
    "working_model='inverse_variance' is CR2 of the transformed regression (the 'transformed' cases), another "
    "square root. They agree when the weights are constant within clusters"
)
INVERSE_VARIANCE = Sandwich("CR2", working_model="inverse_variance")
HC2_BM = Sandwich("HC2", df="bell_mccaffrey")


@dataclass(frozen=True)
class Case:
    """One comparison: what R computes (``r``) and how evalkit is asked for the same number."""

    id: str
    design: str
    weighted: bool
    r: dict
    estimator: str = "difference_in_means"
    covariates: tuple[str, ...] = ()
    inference: object | None = None
    contrast: tuple[float, ...] | None = None
    #: bell_mccaffrey_df's working model (contrast cases)
    working_model: str = "identity"
    #: quantities ("std_error", "df") in which evalkit differs from R on purpose, with the reason
    differs: dict[str, str] = field(default_factory=dict)


def _club(model: str, working: str, covariates: tuple[str, ...], blocked: bool, weighted: bool, **extra) -> dict:
    return {
        "kind": "club",
        "model": model,
        "working": working,
        "covariates": list(covariates),
        "block_fe": blocked,
        "weights": weighted,
        **extra,
    }


def _cases() -> list[Case]:
    cases: list[Case] = []
    for design in DESIGNS:
        blocked, clustered = design in BLOCKED, design in CLUSTERED
        for weighted in (False, True):
            wtag = "_w" if weighted else ""
            common = {"block_fe": blocked, "clusters": clustered, "weights": weighted}
            types = ("CR0", "CR1", "CR2") if clustered else ("classical", "HC0", "HC1", "HC2", "HC3")
            for cov in types:
                se_type = R_SE_TYPE.get(cov, cov)
                for estimator, kind in (("ols", "lm_robust"), ("lin", "lm_lin")):
                    cases.append(
                        Case(
                            id=f"{design}{wtag}-{estimator}-{cov}",
                            design=design,
                            weighted=weighted,
                            estimator=estimator,
                            covariates=("x1", "x2"),
                            inference=cov,
                            r={"kind": kind, "se_type": se_type, "covariates": ["x1", "x2"], **common},
                        )
                    )
            # estimatr::difference_in_means (evalkit's default estimator and inference: HC2, or CR2 when clustered;
            # unblocked, unclustered and unweighted: Welch-Satterthwaite df, as estimatr).
            cases.append(
                Case(
                    id=f"{design}{wtag}-dim",
                    design=design,
                    weighted=weighted,
                    r={"kind": "dim", "blocks": blocked, "clusters": clustered, "weights": weighted},
                    differs={"df": BLOCKED_CLUSTER_DIM_DF} if design == "blocked_cluster" else {},
                )
            )
            if not clustered:
                # HC2 with Bell-McCaffrey df (Imbens and Kolesar 2016): clubSandwich CR2 with every row its own
                # cluster; with weights HC2 is that on the transformed regression.
                working = "transformed" if weighted else "default"
                for estimator, model, covs in (("ols", "ols", ("x1", "x2")), ("difference_in_means", "dim", ())):
                    cases.append(
                        Case(
                            id=f"{design}{wtag}-{estimator}-HC2-bell_mccaffrey",
                            design=design,
                            weighted=weighted,
                            estimator=estimator,
                            covariates=covs,
                            inference=HC2_BM,
                            r=_club(model, working, covs, blocked, weighted, cluster_by="row"),
                        )
                    )
                continue
            # clubSandwich CR2 + Satterthwaite (Bell-McCaffrey) df; with weights three working models.
            for estimator, model, covs in (
                ("ols", "ols", ("x1", "x2")),
                ("lin", "lin", ("x1", "x2")),
                ("difference_in_means", "dim", ()),
            ):
                for working in ("default", "inverse_var", "transformed") if weighted else ("default",):
                    cases.append(
                        Case(
                            id=f"{design}{wtag}-{estimator}-club-{working}",
                            design=design,
                            weighted=weighted,
                            estimator=estimator,
                            covariates=covs,
                            inference="CR2" if working == "default" else INVERSE_VARIANCE,
                            r=_club(model, working, covs, blocked, weighted),
                            differs={"std_error": CLUB_INVERSE_VAR, "df": CLUB_INVERSE_VAR}
                            if working == "inverse_var"
                            else {},
                        )
                    )
    # Bell-McCaffrey df of a contrast (bell_mccaffrey_df): HC2 (every row its own cluster) and CR2, on the OLS
    # columns (1, z, x1, x2).
    contrast = (0.0, 1.0, 0.5, -0.25)
    for design, by in (("complete", "row"), ("blocked", "row"), ("cluster", "cluster")):
        for weighted in (False, True):
            for working in ("default", "transformed") if weighted else ("default",):
                cases.append(
                    Case(
                        id=f"{design}{'_w' if weighted else ''}-contrast-{by}-{working}",
                        design=design,
                        weighted=weighted,
                        contrast=contrast,
                        working_model="identity" if working == "default" else "inverse_variance",
                        r=_club("ols", working, ("x1", "x2"), False, weighted, cluster_by=by, contrast=list(contrast)),
                    )
                )
    return cases


CASES = _cases()

# ----------------------------------------------------------------------------------------------------------
# one Rscript call per session
# ----------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def r_reference(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("r_reference")
    paths = {}
    for name, make in DESIGNS.items():
        paths[name] = root / f"{name}.csv"
        make().to_csv(paths[name], index=False, float_format="%.17g")
    manifest = {"cases": [{"id": c.id, "data": str(paths[c.design]), **c.r} for c in CASES]}
    (root / "manifest.json").write_text(json.dumps(manifest))
    run_rscript(R_SCRIPT, root / "manifest.json", root / "results.json")  # skips without R (see _rscript)
    out = json.loads((root / "results.json").read_text())
    return {"versions": out["versions"], "results": {r["id"]: r for r in out["results"]}}


def _evalkit(case: Case) -> dict[str, float]:
    # Regenerated from its seed; R reads the same doubles from the CSV written with 17 significant digits.
    d = DESIGNS[case.design]()
    if case.contrast is not None:
        X = d[["z", "x1", "x2"]].to_numpy(dtype=float)
        X = np.column_stack([np.ones(len(d)), X])
        clusters = d["cluster"].to_numpy() if case.r.get("cluster_by") == "cluster" else None
        df = bell_mccaffrey_df(
            X,
            np.asarray(case.contrast),
            weights=d["w"].to_numpy() if case.weighted else None,
            clusters=clusters,
            working_model=case.working_model,
        )
        return {"df": df}
    trial = ek.RandomizedTrial(
        d,
        treatment="z",
        blocks="block" if case.design in BLOCKED else None,
        clusters="cluster" if case.design in CLUSTERED else None,
        weights="w" if case.weighted else None,
    )
    inference = case.inference
    row = (
        trial.estimate("y", estimator=case.estimator, covariates=list(case.covariates) or None, inference=inference)
        .to_frame()
        .iloc[0]
    )
    return {"estimate": row["estimate"], "std_error": row["std_error"], "df": row["df"]}


def test_r_versions(r_reference) -> None:
    # The tier was written against estimatr 1.0 and clubSandwich 0.5 (module docstring); a new major may change
    # defaults (e.g. clubSandwich's working model), so it must be looked at before the references are trusted.
    versions = r_reference["versions"]
    assert versions["estimatr"].split(".")[0] == "1", versions
    assert versions["clubSandwich"].split(".")[:2] == ["0", "5"], versions


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_matches_r(case: Case, r_reference) -> None:
    ref = r_reference["results"][case.id]
    got = _evalkit(case)
    for key, value in got.items():
        # SOURCE: estimatr 1.0 / clubSandwich 0.5.8 via reference.R (see ``case.r``). TOLERANCE: 1e-10 relative.
        if key in case.differs:
            # Differs by design (reason in case.differs); a difference below 1e-6 would mean the convention
            # changed without this table being updated.
            assert not np.isclose(value, ref[key], rtol=1e-6, atol=0), (key, case.differs[key], value, ref[key])
        else:
            np.testing.assert_allclose(value, ref[key], rtol=RTOL, atol=0, err_msg=f"{case.id}: {key}")


def test_club_default_working_model_is_identity_when_weighted(r_reference) -> None:
    # clubSandwich 0.5.8 vcovCR.lm: inverse_var defaults to is.null(weights(obj)) & is.null(target), i.e. FALSE
    # for a weighted lm: the working model is the identity (targetVariance.default), not the inverse weights.
    res = r_reference["results"]
    assert res["cluster_w-ols-club-default"]["inverse_var"] is False
    assert res["cluster_w-ols-club-inverse_var"]["inverse_var"] is True
    # ... and estimatr::lm_robust's weighted CR2 is that same identity-model estimator (SE and df, 1e-10).
    for design in ("cluster_w", "blocked_cluster_w"):
        for estimator in ("ols", "lin"):
            club = res[f"{design}-{estimator}-club-default"]
            est = res[f"{design}-{estimator}-CR2"]
            np.testing.assert_allclose([est["std_error"], est["df"]], [club["std_error"], club["df"]], rtol=RTOL)
