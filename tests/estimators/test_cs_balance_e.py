"""Callaway-Sant'Anna dynamic aggregation with ``balance_e``, ``min_e``, ``max_e`` (R ``did::aggte``).

Reference: csdid 0.4.3 ``ATTgt(...).fit(est_method="dr").aggte(typec="dynamic", balance_e=..., min_e=...,
max_e=...)``, a port of R ``did``'s ``compute.aggte``, on mpdta; tolerance 1e-10 (they agree to ~1e-17).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from evalkit import StaggeredDiD
from evalkit.errors import DataError, OptionError

TOL = 1e-10


@pytest.fixture(scope="module")
def mpdta() -> pd.DataFrame:
    moderndid = pytest.importorskip("moderndid")
    return moderndid.load_mpdta().to_pandas()


@pytest.mark.parametrize("control", ["nevertreated", "notyettreated"])
@pytest.mark.parametrize("base_period", ["varying", "universal"])
@pytest.mark.parametrize(
    ("balance_e", "min_e", "max_e"),
    [(0, -np.inf, np.inf), (1, -np.inf, np.inf), (2, -np.inf, np.inf), (None, -2, 2), (1, -1, np.inf)],
)
def test_dynamic_window_matches_csdid(mpdta, control, base_period, balance_e, min_e, max_e):
    csdid = pytest.importorskip("csdid.att_gt")
    ours = control.replace("never", "never_").replace("notyet", "not_yet_")
    res = StaggeredDiD(mpdta, unit="countyreal", time="year", cohort="first.treat").estimate(
        "lemp", control=ours, base_period=base_period, aggregate="dynamic", inference="analytic",
        balance_e=balance_e, min_e=min_e, max_e=max_e,
    )  # fmt: skip
    table = res.to_frame()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = csdid.ATTgt(
            yname="lemp", tname="year", idname="countyreal", gname="first.treat", data=mpdta, control_group=control
        )
        ref.fit(est_method="dr", bstrap=False, base_period=base_period)
        ref.aggte(typec="dynamic", bstrap=False, balance_e=balance_e, min_e=min_e, max_e=max_e)
    ag = ref.atte
    np.testing.assert_array_equal(table.event_time.to_numpy()[:-1], np.asarray(ag["egt"], dtype=float))
    np.testing.assert_allclose(table.estimate.to_numpy()[:-1], np.asarray(ag["att_egt"]), atol=TOL, rtol=0)
    ref_se = np.asarray(ag["se_egt"], dtype=float)
    ok = np.isfinite(ref_se)
    np.testing.assert_allclose(table.std_error.to_numpy()[:-1][ok], ref_se[ok], atol=TOL, rtol=0)
    assert table.estimate.iloc[-1] == pytest.approx(ag["overall_att"], abs=TOL)
    assert table.std_error.iloc[-1] == pytest.approx(ag["overall_se"], abs=TOL)


def test_balance_e_keeps_only_cohorts_with_enough_exposure(mpdta):
    # property: with balance_e = 2 (last period 2007) only cohort 2004 (2007 - 2004 >= 2) enters, so every event
    # time 0..2 equals that cohort's own ATT(2004, 2004 + e)
    design = StaggeredDiD(mpdta, unit="countyreal", time="year", cohort="first.treat")
    cells = design.estimate("lemp").to_frame()
    dyn = design.estimate("lemp", aggregate="dynamic", balance_e=2).to_frame()
    for e in (0, 1, 2):
        own = cells[(cells.group == 2004) & (cells.time == 2004 + e)].estimate.iloc[0]
        assert dyn[dyn.event_time == e].estimate.iloc[0] == pytest.approx(own, abs=1e-14)


def test_window_options_are_checked(mpdta):
    design = StaggeredDiD(mpdta, unit="countyreal", time="year", cohort="first.treat")
    with pytest.raises(OptionError, match="aggregate='dynamic'"):
        design.estimate("lemp", aggregate="group", balance_e=1)
    with pytest.raises(OptionError, match="aggregate='dynamic'"):
        design.estimate("lemp", estimator="imputation", aggregate="dynamic", balance_e=1)
    with pytest.raises(OptionError, match="balance_e"):
        design.estimate("lemp", aggregate="dynamic", balance_e=-1)
    with pytest.raises(OptionError, match="balance_e"):
        design.estimate("lemp", aggregate="dynamic", balance_e=True)
    with pytest.raises(DataError, match="balance_e=9"):
        design.estimate("lemp", aggregate="dynamic", balance_e=9)
    with pytest.raises(DataError, match="no event time"):
        design.estimate("lemp", aggregate="dynamic", min_e=5)


def test_all_applies_window_to_dynamic_block_only(mpdta):
    design = StaggeredDiD(mpdta, unit="countyreal", time="year", cohort="first.treat")
    both = design.estimate("lemp", aggregate="all", balance_e=1).to_frame()
    plain = design.estimate("lemp", aggregate="all").to_frame()
    dyn = design.estimate("lemp", aggregate="dynamic", balance_e=1).to_frame()
    np.testing.assert_allclose(both[both.type.str.startswith("dynamic")].estimate, dyn.estimate, rtol=1e-14)
    for kind in ("att_gt", "simple", "group", "calendar"):
        a, b = both[both.type.str.startswith(kind)], plain[plain.type.str.startswith(kind)]
        np.testing.assert_allclose(a.estimate, b.estimate, rtol=1e-14)
