"""Issue 9, item 2: column names that collide or are not strings.

* duplicated names are refused with a DataError naming them (used or not: which copy is meant is ambiguous);
* integer (any hashable non-text) names work in every design, diagnostic and table, shown with ``str()``;
* event-study terms are the columns the estimator says they are (``LinearFit.event_columns``), so a user's column
  named like one of evalkit's terms (``event_time::1``, ``event_time::-7``) is an ordinary column.

References: each run with hostile names is compared with the same run on the same data with plain names (the
names cannot change a number), exactly (``check_exact=True``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import evalkit as ek
from evalkit.designs.did import DiffInDiff
from evalkit.errors import DataError, EstimationError
from evalkit.estimators import EstimationSample, LinearFit
from evalkit.estimators.event_study import event_study
from evalkit.reporting.tables import regression_table


# ----------------------------------------------------------------------------------------------------- data
def _trial() -> pd.DataFrame:
    """48 units: 4 blocks of 12, 24 clusters of 2 (treatment constant within clusters), an outcome with one
    missing value, a baseline, a covariate and weights."""
    rng = np.random.default_rng(29)
    n = 48
    z = np.tile([0, 0, 1, 1], 12)
    y = rng.normal(size=n) + 0.6 * z
    y[3] = np.nan
    return pd.DataFrame(
        {
            "y": y,
            "z": z,
            "x": rng.normal(size=n),
            "b": np.repeat(np.arange(4), 12),
            "cl": np.repeat(np.arange(24), 2),
            "y_bl": rng.normal(size=n),
            "w": rng.uniform(1, 2, size=n),
        }
    )


def _panel() -> pd.DataFrame:
    """16 units x 6 periods; cohorts 3, 4 and never treated (0, half the units); clusters of 2 units."""
    rng = np.random.default_rng(31)
    rows = []
    for u in range(16):
        g = (3, 4, 0, 0)[u % 4]
        for t in range(1, 7):
            d = int(g > 0 and t >= g)
            rows.append(
                {
                    "unit": u,
                    "time": t,
                    "d": d,
                    "cohort": g,
                    "y": rng.normal() + d * (1 + 0.2 * (t - g)) + 0.1 * t,
                    "x": rng.normal() + 0.05 * t,
                    "cl": u // 2,
                }
            )
    return pd.DataFrame(rows)


def _two_by_two() -> pd.DataFrame:
    rng = np.random.default_rng(37)
    group = np.repeat([0, 1], 60)
    post = np.tile([0, 1], 60)
    return pd.DataFrame(
        {
            "group": group,
            "post": post,
            "y": rng.normal(size=120) + 0.8 * group * post + 0.3 * group,
            "x": rng.normal(size=120),
            "cl": np.repeat(np.arange(12), 10),
        }
    )


def _as_int_names(data: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    names = {c: i for i, c in enumerate(data.columns)}
    return data.rename(columns=names), names


def _same(hostile: pd.DataFrame, reference: pd.DataFrame, labels: tuple[str, ...] = ("outcome",)) -> None:
    """Equal tables, up to the label columns holding the caller's names (an int there, its text here)."""
    hostile = hostile.assign(**{c: hostile[c].map(str).astype(object) for c in labels})
    reference = reference.assign(**{c: reference[c].map(str).astype(object) for c in labels})
    pd.testing.assert_frame_equal(hostile, reference, check_exact=True)


# ----------------------------------------------------------------------------------------------------- duplicates
@pytest.mark.parametrize(
    ("make", "build"),
    [
        (_trial, lambda d: ek.RandomizedTrial(d, "z").estimate("y", estimator="ols", covariates="x")),
        (_trial, lambda d: ek.RandomizedTrial(d, "z")),
        (_panel, lambda d: ek.DiffInDiff(d, "d", unit="unit", time="time").estimate("y", covariates="x")),
        (_panel, lambda d: ek.StaggeredDiD(d, unit="unit", time="time", cohort="cohort")),
    ],
    ids=["trial, duplicate used", "trial, duplicate unused", "did", "staggered"],
)
def test_duplicated_column_names_are_refused_by_name(make, build) -> None:
    data = make()
    build(data)  # the design is valid with unique names
    doubled = pd.concat([data, data[["x"]], data[["y"]].rename(columns={"y": "x"})], axis=1)
    before = doubled.copy(deep=True)
    # AttributeError: 'DataFrame' object has no attribute 'dtype' before the fix (a used duplicate), or silently
    # accepted (an unused one).
    with pytest.raises(DataError, match=r"column name\(s\) 'x' appear more than once.*'x' x3"):
        build(doubled)
    pd.testing.assert_frame_equal(doubled, before)


# ----------------------------------------------------------------------------------------------------- integers
TRIAL_RUNS = {
    "difference in means, blocks": (
        {"blocks": "b"},
        {"outcomes": ["y", "x"]},
    ),
    "ols, clusters, weights": (
        {"clusters": "cl", "weights": "w"},
        {"outcomes": "y", "estimator": "ols", "covariates": ["x", "y_bl"]},
    ),
    "lin, blocks": ({"blocks": "b"}, {"outcomes": "y", "estimator": "lin", "covariates": "x"}),
    "change": ({}, {"outcomes": "y", "estimator": "change", "baseline": "y_bl"}),
}


def _renamed(value, names):
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, list):
        return [names[v] for v in value]
    return names[value]


@pytest.mark.parametrize("case", list(TRIAL_RUNS))
def test_integer_names_in_a_trial(case: str) -> None:
    data = _trial()
    hostile, names = _as_int_names(data)
    before = hostile.copy(deep=True)
    design_kw, estimate_kw = TRIAL_RUNS[case]
    res_ref = ek.RandomizedTrial(
        data.rename(columns=lambda c: str(names[c])),
        str(names["z"]),
        **{k: str(names[v]) for k, v in design_kw.items()},
    ).estimate(**{k: (v if k == "estimator" else _text(_renamed(v, names))) for k, v in estimate_kw.items()})
    trial = ek.RandomizedTrial(hostile, names["z"], **{k: names[v] for k, v in design_kw.items()})
    # OptionError "expected a column name" / TypeError in templates before the fix.
    res = trial.estimate(**{k: (v if k == "estimator" else _renamed(v, names)) for k, v in estimate_kw.items()})
    _same(res.to_frame(), res_ref.to_frame())
    _same(res.dropped.drop(columns="reason"), res_ref.dropped.drop(columns="reason"), labels=("outcome", "column"))
    assert res.dropped["reason"].tolist() == [f"missing values in {names['y']!r} (1)"]  # row 3 of y is NaN
    pd.testing.assert_frame_equal(hostile, before)


def _text(value):
    if isinstance(value, list):
        return [str(v) for v in value]
    return None if value is None else str(value)


def test_integer_names_in_diagnostics_index_and_tables() -> None:
    data = _trial()
    hostile, names = _as_int_names(data)
    text = data.rename(columns=lambda c: str(names[c]))
    trial = ek.RandomizedTrial(hostile, names["z"], blocks=names["b"])
    reference = ek.RandomizedTrial(text, str(names["z"]), blocks=str(names["b"]))
    # Balance and attrition: the same numbers as with text names (reference, exact).
    balance = trial.balance([names["x"], names["y_bl"]])
    balance_ref = reference.balance([str(names["x"]), str(names["y_bl"])])
    _same(balance.to_frame(), balance_ref.to_frame(), labels=("covariate",))
    assert (balance.joint_statistic, balance.joint_p_value) == (balance_ref.joint_statistic, balance_ref.joint_p_value)
    attrition = trial.attrition(names["y"], covariates=names["x"])
    attrition_ref = reference.attrition(str(names["y"]), covariates=str(names["x"]))
    _same(attrition.to_frame(), attrition_ref.to_frame())
    retained, retained_ref = attrition.retained_balance[names["y"]], attrition_ref.retained_balance[str(names["y"])]
    _same(retained.to_frame(), retained_ref.to_frame(), labels=("covariate",))
    # A summary index under an integer name (DataFrame.assign(**{7: ...}) raised TypeError before the fix).
    indexed = trial.with_index(7, [names["y"], names["x"]]).estimate(7)
    indexed_ref = reference.with_index("7", [str(names["y"]), str(names["x"])]).estimate("7")
    _same(indexed.to_frame(), indexed_ref.to_frame())
    # Tables show the names as text.
    res = trial.estimate([names["y"], names["x"]])
    assert res.to_markdown() == reference.estimate([str(names["y"]), str(names["x"])]).to_markdown()
    assert "\\begin{tabular}" in res.to_latex() and "<table" in res.to_html()
    assert f"| {names['y']} " in regression_table([res, res], fmt="markdown")


def test_integer_names_in_difference_in_differences() -> None:
    # 2x2 on repeated cross-sections.
    data = _two_by_two()
    hostile, names = _as_int_names(data)
    text = data.rename(columns=lambda c: str(names[c]))
    n = {k: str(v) for k, v in names.items()}
    res = DiffInDiff(hostile, names["group"], post=names["post"], clusters=names["cl"]).estimate(
        names["y"], covariates=names["x"]
    )
    ref = DiffInDiff(text, n["group"], post=n["post"], clusters=n["cl"]).estimate(n["y"], covariates=n["x"])
    _same(res.to_frame(), ref.to_frame())
    # Panel: TWFE and the event study (AttributeError 'int' object has no attribute 'startswith' before the fix).
    panel = _panel()
    hostile, names = _as_int_names(panel)
    text = panel.rename(columns=lambda c: str(names[c]))
    n = {k: str(v) for k, v in names.items()}
    did = DiffInDiff(hostile, names["d"], unit=names["unit"], time=names["time"], clusters=names["cl"])
    did_ref = DiffInDiff(text, n["d"], unit=n["unit"], time=n["time"], clusters=n["cl"])
    _same(
        did.estimate(names["y"], covariates=[names["x"]]).to_frame(),
        did_ref.estimate(n["y"], covariates=[n["x"]]).to_frame(),
    )
    es = did.estimate(names["y"], estimator="event_study", covariates=names["x"])
    es_ref = did_ref.estimate(n["y"], estimator="event_study", covariates=n["x"])
    _same(es.to_frame(), es_ref.to_frame())
    _same(did.balance(names["x"]).to_frame(), did_ref.balance(n["x"]).to_frame(), labels=("covariate",))
    pd.testing.assert_frame_equal(hostile, panel.rename(columns=names))  # the caller's frame is unchanged


@pytest.mark.parametrize("estimator", ["callaway_santanna", "sun_abraham", "twfe", "imputation"])
def test_integer_names_in_staggered_designs(estimator: str) -> None:
    panel = _panel()
    hostile, names = _as_int_names(panel)
    text = panel.rename(columns=lambda c: str(names[c]))
    n = {k: str(v) for k, v in names.items()}
    covariates = {"callaway_santanna": "x"}.get(estimator)
    stag = ek.StaggeredDiD(
        hostile, unit=names["unit"], time=names["time"], cohort=names["cohort"], clusters=names["cl"]
    )
    ref = ek.StaggeredDiD(text, unit=n["unit"], time=n["time"], cohort=n["cohort"], clusters=n["cl"])
    # TypeError "sequence item 0: expected str instance, int found" (CS with covariates) before the fix.
    res = stag.estimate(names["y"], estimator=estimator, covariates=None if covariates is None else names[covariates])
    res_ref = ref.estimate(n["y"], estimator=estimator, covariates=None if covariates is None else n[covariates])
    _same(res.to_frame().drop(columns="inference"), res_ref.to_frame().drop(columns="inference"))
    assert res.inference == res_ref.inference.replace("'", "")  # the cluster column's name, shown by repr


# ------------------------------------------------------------------------------------------ evalkit-like names
def test_treatment_named_like_an_event_time_term() -> None:
    # 2x2: the treatment term "event_time::1:post" was parsed as event time "1:post" (ValueError) before the fix.
    data = _two_by_two()
    odd = data.rename(columns={"group": "event_time::1"})
    res = DiffInDiff(odd, "event_time::1", post="post").estimate("y").to_frame()
    ref = DiffInDiff(data, "group", post="post").estimate("y").to_frame()
    pd.testing.assert_frame_equal(res.drop(columns="term"), ref.drop(columns="term"), check_exact=True)
    assert res["term"].tolist() == ["event_time::1:post"]
    # Panel TWFE: the treatment row was reported with event_time 1 before the fix; it has no event time.
    panel = _panel()
    res = DiffInDiff(panel.rename(columns={"d": "event_time::1"}), "event_time::1", unit="unit", time="time")
    frame = res.estimate("y").to_frame()
    ref = DiffInDiff(panel, "d", unit="unit", time="time").estimate("y").to_frame()
    pd.testing.assert_frame_equal(frame.drop(columns="term"), ref.drop(columns="term"), check_exact=True)
    assert frame["event_time"].isna().all()


def test_covariate_named_like_a_lead_is_a_covariate() -> None:
    # Before the fix the covariate "event_time::-7" was reported as an event-time row (event time -7) and entered
    # the pre-trend test. Reference: the same event study with the covariate renamed, exact.
    panel = _panel()
    odd = panel.rename(columns={"x": "event_time::-7"})
    before = odd.copy(deep=True)
    did = DiffInDiff(odd, "d", unit="unit", time="time")
    res = did.estimate("y", estimator="event_study", covariates="event_time::-7")
    ref = DiffInDiff(panel, "d", unit="unit", time="time").estimate("y", estimator="event_study", covariates="x")
    pd.testing.assert_frame_equal(res.to_frame(), ref.to_frame(), check_exact=True)
    assert res.notes == ref.notes
    assert res.fits["y"].inference["pretrend_test"].terms == ref.fits["y"].inference["pretrend_test"].terms
    assert -7 not in res.to_frame()["event_time"].tolist()
    pd.testing.assert_frame_equal(odd, before)


def test_event_study_fit_says_which_columns_are_event_times() -> None:
    panel = _panel()
    unit = panel["unit"].to_numpy()
    period = panel["time"].to_numpy() - 1
    sample = EstimationSample(
        y=panel["y"].to_numpy(),
        treatment=panel["d"].to_numpy(dtype=float),
        covariates=panel[["x"]].to_numpy(),
        covariate_names=("event_time::-7",),
        units=unit,
        periods=period,
        event_window=(-3, 3),
        reference_period=-1,
    )
    fit = event_study(sample)
    # Window [-3, 3] without the reference -1: event times -3, -2, 0, 1, 2, 3 in the first six columns.
    assert fit.event_times == (-3, -2, 0, 1, 2, 3)
    assert fit.event_columns == (0, 1, 2, 3, 4, 5)
    assert fit.term_names[6] == "event_time::-7"  # a covariate's name is only a label
    with pytest.raises(EstimationError, match="event_columns"):
        LinearFit(
            coef=fit.coef,
            X=fit.X,
            y=fit.y,
            residuals=fit.residuals,
            term_names=fit.term_names,
            target=0,
            event_columns=(0, 1),
            event_times=(-2,),
        )


def test_tables_show_names_as_text() -> None:
    # A float column name (2.5) is a name, not a number: shown "2.5", left-aligned (formatted "2.500" and
    # right-aligned before the fix). Reference: the same table with the outcome named "2.5".
    data = _trial()
    res = ek.RandomizedTrial(data.rename(columns={"y": 2.5}), "z").estimate(2.5)
    ref = ek.RandomizedTrial(data.rename(columns={"y": "2.5"}), "z").estimate("2.5")
    assert res.to_markdown() == ref.to_markdown()
    assert "| 2.5 |" in res.to_markdown()
