"""Simultaneous (sup-t) bands of the Callaway-Sant'Anna event study from the multiplier bootstrap.

References on mpdta (dynamic aggregation, doubly robust, never-treated comparison), each a port of R ``did``'s
``mboot`` with its own random numbers, so the comparison is up to Monte Carlo error: moderndid 0.2.0 (Mammen
weights, 20,000 draws) gave a critical value of 2.609; csdid 0.4.3 (Rademacher weights, 20,000 draws) gave 2.523
and 2.555 with two seeds. The sup-t quantile of 20,000 draws has a Monte Carlo sd of about 0.02: TOLERANCE 0.06
(3 sd). Property: the band covers the event-time terms only (as ``did::aggte``), not the overall row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from evalkit import StaggeredDiD
from evalkit.inference import MultiplierBootstrap

MODERNDID_MAMMEN_CRIT = 2.609  # moderndid.aggte(type="dynamic", boot=True, cband=True, biters=20000)
CSDID_RADEMACHER_CRIT = (2.523 + 2.555) / 2  # csdid ATTgt.aggte(typec="dynamic", bstrap=True, biters=20000)
TOL = 0.06


@pytest.fixture(scope="module")
def mpdta() -> pd.DataFrame:
    moderndid = pytest.importorskip("moderndid")
    return moderndid.load_mpdta().to_pandas()


@pytest.mark.parametrize(
    ("weights", "expected"), [("mammen", MODERNDID_MAMMEN_CRIT), ("rademacher", CSDID_RADEMACHER_CRIT)]
)
def test_event_study_band_matches_did_ports(mpdta, weights, expected):
    design = StaggeredDiD(mpdta, unit="countyreal", time="year", cohort="first.treat")
    boot = MultiplierBootstrap(reps=20_000, weights=weights, seed=7)
    table = design.estimate("lemp", aggregate="dynamic", inference=boot).to_frame()
    terms = table[table.term != "overall"]
    assert terms.crit_uniform.nunique() == 1  # one band for all event times
    assert terms.crit_uniform.iloc[0] == pytest.approx(expected, abs=TOL)
    np.testing.assert_allclose(terms.conf_high_uniform - terms.estimate, terms.crit_uniform * terms.std_error)
    # the overall row is outside the band: its own one-term critical value, well below the 7-term band's
    overall = table[table.term == "overall"].crit_uniform.iloc[0]
    assert overall < terms.crit_uniform.iloc[0] - 0.3


def test_repeated_cross_section_bootstrap_agrees_with_analytic():
    # property: the multiplier bootstrap of the per-observation influence functions approximates their analytic
    # SE (IQR-based SE with 4,999 draws: relative sd about 1.17 / sqrt(4999) = 1.7%; 8% is > 4 sd), and the band
    # over several event times is wider than the pointwise interval
    rng = np.random.default_rng(5)
    n = 2000
    g = rng.choice([0, 3, 4, 5], size=n)
    t = rng.choice([1, 2, 3, 4, 5], size=n)
    y = t + (g > 0) + np.where((g > 0) & (t >= g), 1.0, 0.0) + rng.normal(size=n)
    data = pd.DataFrame({"y": y, "year": t, "g": g})
    design = StaggeredDiD(data, unit=None, time="year", cohort="g")
    analytic = design.estimate("y", aggregate="dynamic").to_frame()
    boot = design.estimate("y", aggregate="dynamic", inference=MultiplierBootstrap(reps=4999, seed=3)).to_frame()
    np.testing.assert_allclose(boot.std_error, analytic.std_error, rtol=0.08)
    terms = boot.term != "overall"
    assert (boot.crit_uniform[terms] > stats.norm.ppf(0.975)).all()
