"""Weighted HC2 with Bell-McCaffrey df against live R (clubSandwich 0.5.8, estimatr 1.0; reviewer finding 6).

With weights, HC2 (estimatr's, and evalkit's: leverages of sqrt(w) X) is CR2 with singleton clusters under the
inverse-variance working model. In R that estimator, with its Bell-McCaffrey (Satterthwaite) df, is
``clubSandwich::vcovCR(fit, cluster = 1:n, type = "CR2", inverse_var = TRUE)``: its standard errors equal
``estimatr::lm_robust(se_type = "HC2")``'s. ``vcovCR``'s default for a weighted ``lm`` (``inverse_var = FALSE``, the
identity working model) with ``cluster = 1:n`` is another estimator (its standard errors are not HC2's), so its df
are not "the df of the HC2 t test": they are ``bell_mccaffrey_df(..., working_model="identity")``. evalkit's
``sandwich(..., "HC2", df_method="bell_mccaffrey")`` and ``bell_mccaffrey_df(X, c, weights=w)`` (clusters=None,
default working model) both give the inverse_var = TRUE df.

``weighted_hc2_df.R`` (next to this file) computes the references in one ``Rscript`` call. Without ``Rscript`` the
tests skip (``EVALKIT_REQUIRE_R=1`` makes that a failure; ``tests/_rscript.py``).

TOLERANCE: 1e-10 relative (both programs compute in double precision from the same doubles).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _rscript import run_rscript

from evalkit.inference.sandwich import bell_mccaffrey_df, sandwich

R_SCRIPT = Path(__file__).with_name("weighted_hc2_df.R")
RTOL = 1e-10


def _design() -> pd.DataFrame:
    rng = np.random.default_rng(20261206)
    n = 30
    z = rng.permutation(np.r_[np.ones(12), np.zeros(18)])
    x = rng.normal(size=n)
    w = rng.uniform(0.2, 3.0, size=n)
    y = 1.0 + 0.5 * z + 0.8 * x + rng.normal(size=n) * (1.0 + z)
    return pd.DataFrame({"y": y, "z": z, "x": x, "w": w})


@pytest.fixture(scope="module")
def r_reference(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("weighted_hc2_df")
    _design().to_csv(root / "design.csv", index=False, float_format="%.17g")
    run_rscript(R_SCRIPT, root / "design.csv", root / "results.json")  # skips without R (see _rscript)
    return json.loads((root / "results.json").read_text())


def _fit() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = _design()
    X = np.column_stack([np.ones(len(d)), d["z"], d["x"]])
    w = d["w"].to_numpy()
    sw = np.sqrt(w)
    coef = np.linalg.lstsq(X * sw[:, None], d["y"].to_numpy() * sw, rcond=None)[0]
    return X, d["y"].to_numpy() - X @ coef, w


def test_versions(r_reference) -> None:
    # Written against clubSandwich 0.5.8, whose vcovCR.lm sets inverse_var <- is.null(weights(obj)) &
    # is.null(target): a new major may change that default, so look before trusting these references.
    assert r_reference["versions"]["clubSandwich"].split(".")[:2] == ["0", "5"], r_reference["versions"]
    assert r_reference["inverse_var"]["inverse_var"] is True
    assert r_reference["default"]["inverse_var"] is False


def test_weighted_hc2_bell_mccaffrey_matches_club_inverse_var(r_reference) -> None:
    X, e, w = _fit()
    hc2 = sandwich(X, e, "HC2", weights=w, df_method="bell_mccaffrey")
    inv = r_reference["inverse_var"]
    # SOURCE: estimatr::lm_robust HC2 = clubSandwich vcovCR(cluster = 1:n, CR2, inverse_var = TRUE) standard errors,
    # and that call's Satterthwaite df (weighted_hc2_df.R). TOLERANCE: 1e-10 relative.
    np.testing.assert_allclose(r_reference["hc2"]["std_error"], inv["std_error"], rtol=RTOL)
    np.testing.assert_allclose(hc2.std_errors, r_reference["hc2"]["std_error"], rtol=RTOL)
    np.testing.assert_allclose(hc2.df, inv["df"], rtol=RTOL)
    for j in range(3):
        # bell_mccaffrey_df with clusters=None and the default working model is the same df (finding 6).
        np.testing.assert_allclose(bell_mccaffrey_df(X, np.eye(3)[j], weights=w), inv["df"][j], rtol=RTOL)


def test_club_default_with_singletons_is_not_hc2(r_reference) -> None:
    X, e, w = _fit()
    default = r_reference["default"]
    # vcovCR's default (identity working model) with cluster = 1:n: another estimator than HC2 (its standard errors
    # differ from estimatr's HC2 by more than 1e-6 relative here) ...
    assert not np.allclose(default["std_error"], r_reference["hc2"]["std_error"], rtol=1e-6, atol=0)
    # ... which is evalkit's identity-model CR2 with singleton clusters, standard errors and df.
    # SOURCE: clubSandwich vcovCR default + coef_test Satterthwaite (weighted_hc2_df.R). TOLERANCE: 1e-10 relative.
    cr2 = sandwich(X, e, "CR2", weights=w, clusters=np.arange(len(w)))
    np.testing.assert_allclose(cr2.std_errors, default["std_error"], rtol=RTOL)
    np.testing.assert_allclose(cr2.df, default["df"], rtol=RTOL)
    for j in range(3):
        got = bell_mccaffrey_df(X, np.eye(3)[j], weights=w, working_model="identity")
        np.testing.assert_allclose(got, default["df"][j], rtol=RTOL)
