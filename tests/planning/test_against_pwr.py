"""Individual-trial power and MDE against live R: ``pwr::pwr.t2n.test`` (pwr 1.3-0).

``pwr.t2n.test`` computes the power of the two-sample t test from the noncentral t with df ``n1 + n2 - 2``, both
tails for a two-sided test: ``ek.planning``'s ``method="exact"``. ``pwr_reference.R`` (next to this file) writes the
references. Without ``Rscript`` the test skips (fails under ``EVALKIT_REQUIRE_R=1``; ``tests/_rscript.py``); without
the R package pwr it skips with the install line. The printed numbers are pinned in ``test_references.py`` too, so
they are checked everywhere.

TOLERANCE: power 1e-9 relative (both evaluate the same noncentral-t CDF in double precision); the MDE 2e-4 absolute,
because pwr finds d with ``uniroot`` at its default ``tol = .Machine$double.eps^0.25`` (about 1.2e-4), while evalkit
solves to 1e-12.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from _rscript import run_rscript

import evalkit as ek

R_SCRIPT = Path(__file__).with_name("pwr_reference.R")


@pytest.fixture(scope="module")
def pwr_reference(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("pwr") / "pwr.json"
    run_rscript(R_SCRIPT, out)  # skips without R (see _rscript)
    ref = json.loads(out.read_text())
    if not ref["pwr"]:
        message = (
            "the R package pwr is not installed; install it with: apt-get install -y r-cran-pwr "
            "(or install.packages('pwr'))"
        )
        if os.environ.get("EVALKIT_REQUIRE_R") == "1":  # CI (.ci/run) installs it: never pass by skipping
            pytest.fail(f"EVALKIT_REQUIRE_R=1 but {message}", pytrace=False)
        pytest.skip(message)
    return ref


def test_power_and_mde_match_pwr_t2n_test(pwr_reference) -> None:
    assert pwr_reference["version"].split(".")[:2] == ["1", "3"], pwr_reference["version"]
    for case in pwr_reference["cases"]:
        alternative = "two-sided" if case["alternative"] == "two.sided" else "one-sided"
        arms = {"n_treated": case["n1"], "n_control": case["n2"], "alpha": case["alpha"], "alternative": alternative}
        # SOURCE: pwr.t2n.test(n1, n2, d, sig.level, alternative)$power. TOLERANCE: 1e-9 relative.
        got = ek.planning.power(case["d"], **arms).power
        assert got == pytest.approx(case["power_at_d"], rel=1e-9), case
        # SOURCE: pwr.t2n.test(n1, n2, power, sig.level, alternative)$d. TOLERANCE: 2e-4 (pwr's uniroot tol).
        got = ek.planning.mde(power=case["power"], **arms).mde
        assert got == pytest.approx(case["d_at_power"], abs=2e-4), case
