"""Standardized effects against statsmodels' meta-analysis helpers and the Hedges-Olkin closed form."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.meta_analysis import effectsize_smd

from evalkit.estimators.effect_sizes import standardized_effects


def test_hedges_g_matches_statsmodels() -> None:
    rng = np.random.default_rng(3)
    y = rng.normal(size=50)
    z = (np.arange(50) < 20).astype(float)
    y[z == 1] += 0.6
    est = y[z == 1].mean() - y[z == 0].mean()
    eff = standardized_effects(est, y, z)
    g_ref, _ = effectsize_smd(y[z == 1].mean(), y[z == 1].std(ddof=1), 20, y[z == 0].mean(), y[z == 0].std(ddof=1), 30)
    # statsmodels.stats.meta_analysis.effectsize_smd (Borenstein 2009 eq. 4.22 bias correction); tolerance 1e-12.
    assert eff.hedges_g == pytest.approx(g_ref, rel=1e-12)
    assert eff.glass_delta == pytest.approx(est / y[z == 0].std(ddof=1), rel=1e-12)


def test_cohens_d_interval_closed_form() -> None:
    # Hedges & Olkin (1985) eq. 5.14 variance (n1+n0)/(n1 n0) + d^2/(2(n1+n0)); build data with d = 0.5 exactly.
    n1, n0 = 30, 20
    base = np.concatenate([np.linspace(-1, 1, n1), np.linspace(-1, 1, n0)])
    z = np.concatenate([np.ones(n1), np.zeros(n0)])
    sp = np.sqrt(((n1 - 1) * base[:n1].var(ddof=1) + (n0 - 1) * base[n1:].var(ddof=1)) / (n1 + n0 - 2))
    y = base + 0.5 * sp * z
    eff = standardized_effects(0.5 * sp, y, z)
    se = np.sqrt(50 / 600 + 0.25 / 100)
    assert eff.cohens_d == pytest.approx(0.5, abs=1e-12)
    assert eff.cohens_d_low == pytest.approx(0.5 - 1.959963984540054 * se, abs=1e-9)
    assert eff.cohens_d_high == pytest.approx(0.5 + 1.959963984540054 * se, abs=1e-9)
