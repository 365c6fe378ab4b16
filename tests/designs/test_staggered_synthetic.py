"""Callaway-Sant'Anna on a synthetic staggered panel against csdid: every ATT(g,t) and all four aggregations.

mpdta (tests/designs/test_staggered.py) has three cohorts, five periods and no weights; this panel has four cohorts,
eight periods, unit weights and unequal cohort sizes, so that the cohort-mean computation of the ATT(g,t) and the
matrix form of the aggregations (weights of the cohort shares and their influence) are pinned to an independent
implementation on a second design. It also checks that a list ``aggregate=`` gives the same rows as ``"all"``.
"""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import pandas as pd
import pytest

from evalkit.designs.staggered import StaggeredDiD
from evalkit.errors import DataError, OptionError

AGGREGATIONS = ("simple", "group", "dynamic", "calendar")


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    n_units, n_periods = 1_200, 8
    cohort = rng.choice(np.array([0, 3, 4, 6, 8]), size=n_units, p=[0.3, 0.1, 0.25, 0.15, 0.2])
    unit = np.repeat(np.arange(1, n_units + 1), n_periods)
    period = np.tile(np.arange(1, n_periods + 1), n_units)
    g = np.repeat(cohort, n_periods)
    effect = np.where((g > 0) & (period >= g), 0.3 + 0.2 * (period - g) - 0.02 * g, 0.0)
    y = 10 + np.repeat(rng.normal(size=n_units), n_periods) + 0.3 * period + effect + rng.normal(size=unit.size)
    weight = np.repeat(rng.uniform(0.5, 3.0, n_units), n_periods)
    return pd.DataFrame({"id": unit, "period": period, "first_treat": g, "y": y, "w": weight})


def _csdid(data: pd.DataFrame, weights: str | None, control: str, base_period: str) -> tuple[pd.DataFrame, dict]:
    csdid = pytest.importorskip("csdid.att_gt")
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        model = csdid.ATTgt(
            yname="y",
            gname="first_treat",
            idname="id",
            tname="period",
            data=data,
            control_group=control,
            weights_name=weights,
        ).fit(est_method="dr", base_period=base_period, bstrap=False)
        aggs = {a: model.aggte(typec=a, bstrap=False).atte for a in AGGREGATIONS}
    return model.results, aggs


@pytest.mark.parametrize(
    ("weights", "control", "base_period"),
    [(None, "never_treated", "varying"), ("w", "not_yet_treated", "universal")],
)
def test_all_aggregations_match_csdid(panel: pd.DataFrame, weights: str | None, control: str, base_period: str):
    ref, ref_aggs = _csdid(panel, weights, control.replace("_", ""), base_period)
    design = StaggeredDiD(panel, unit="id", time="period", cohort="first_treat", weights=weights)
    res = design.estimate("y", control=control, base_period=base_period, aggregate="all").to_frame()
    gt = res[res["type"] == "att_gt"]
    # SOURCE: csdid ATTgt(..., control_group, weights_name).fit(est_method="dr", base_period, bstrap=False), run
    # here on the same panel; TOLERANCE 1e-9 (same formulas; csdid's universal base cells have SE NaN as ours)
    np.testing.assert_allclose(gt["estimate"], ref["att"], atol=1e-9)
    np.testing.assert_allclose(gt["std_error"], ref["se"], atol=1e-9)
    for kind in AGGREGATIONS:
        a = ref_aggs[kind]
        overall = res[res["type"] == f"{kind} overall"]
        # SOURCE: csdid aggte(typec=kind, bstrap=False) of the fit above; TOLERANCE 1e-9
        assert overall["estimate"].iloc[0] == pytest.approx(a["overall_att"], abs=1e-9), kind
        assert overall["std_error"].iloc[0] == pytest.approx(a["overall_se"], abs=1e-9), kind
        if kind != "simple":
            terms = res[res["type"] == kind]
            np.testing.assert_allclose(terms["estimate"], np.asarray(a["att_egt"], dtype=float), atol=1e-9)
            np.testing.assert_allclose(terms["std_error"], np.asarray(a["se_egt"], dtype=float), atol=1e-9)


def test_list_of_blocks_gives_those_rows_of_all(panel: pd.DataFrame) -> None:
    design = StaggeredDiD(panel, unit="id", time="period", cohort="first_treat")
    full = design.estimate("y", aggregate="all").to_frame()
    part = design.estimate("y", aggregate=["dynamic", "att_gt", "simple"]).to_frame()
    # property: the blocks asked for, in the order of "all", with the same numbers as there
    block = full["type"].str.removesuffix(" overall")
    expected = full[block.isin(["att_gt", "simple", "dynamic"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(part, expected)
    for bad in (["simple", "simple"], [], ["overall"], [None]):
        with pytest.raises(OptionError, match="a list of blocks"):
            design.estimate("y", aggregate=bad)
    with pytest.raises(OptionError, match="balance_e"):
        design.estimate("y", aggregate=["att_gt", "group"], balance_e=1)
    assert not design.estimate("y", aggregate=["group", "dynamic"], balance_e=1).to_frame().empty


def test_duplicate_unit_period_found_in_a_sparse_long_panel() -> None:
    # property: the duplicate check counts (unit, period) code pairs in a table when they fit in a few times the
    # number of rows, and sorts them otherwise; 400 units each seen in 2 of 400 periods take the sorting branch
    rng = np.random.default_rng(3)
    n = 400
    first = rng.permutation(n) + 1
    rows = pd.DataFrame(
        {
            "id": np.repeat(np.arange(n), 2),
            "period": np.column_stack([first, first + 1000]).ravel(),
            "first_treat": 0,
            "y": rng.normal(size=2 * n),
        }
    )
    StaggeredDiD(rows, unit="id", time="period", cohort="first_treat")  # no duplicate: accepted
    doubled = pd.concat([rows, rows.iloc[[5]]], ignore_index=True)
    with pytest.raises(DataError, match=r"1 duplicated \('id', 'period'\) row\(s\), e.g. unit 2 in"):
        StaggeredDiD(doubled, unit="id", time="period", cohort="first_treat")
