"""Period columns must carry a time order (issue 8, item 1): text periods are refused, ordered types are used as is.

Text sorts lexically ('10' before '2'), which silently relabelled event-study coefficients (event time 0 got month
10's effect) or raised a misleading "treatment switches off" error. The reference for every ordered coding is the
same design with the integer period 1..12 (tolerance 0: the designs only use the period order, so the tables must be
bit-identical).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import evalkit as ek
from evalkit.errors import DataError, EvalkitError

MONTHS = 12


def _panel() -> pd.DataFrame:
    """16 units x 12 months; 8 units treated from month 6 on, with an effect growing in event time."""
    rng = np.random.default_rng(20261202)
    rows = []
    for u in range(16):
        treated, alpha = u < 8, rng.normal()
        for m in range(1, MONTHS + 1):
            d = int(treated and m >= 6)
            effect = (m - 5) * 0.5 if d else 0.0
            rows.append({"unit": u, "month": m, "d": d, "y": alpha + 0.1 * m + effect + rng.normal(scale=0.3)})
    return pd.DataFrame(rows)


def _event_study(data: pd.DataFrame) -> pd.DataFrame:
    did = ek.DiffInDiff(data, treatment="d", unit="unit", time="month")
    return did.estimate("y", estimator="event_study", inference="CR2").to_frame()


@pytest.mark.parametrize("dtype", ["object", "string"])
def test_diff_in_diff_refuses_text_periods(dtype: str) -> None:
    # '1'..'12' as text sorts as 1, 10, 11, 12, 2, ...: refused, naming the column and both fixes.
    data = _panel()
    data["month"] = data["month"].astype(str).astype(dtype)
    with pytest.raises(DataError, match=r"time 'month' holds text .*numeric code.*ordered=True") as info:
        ek.DiffInDiff(data, treatment="d", unit="unit", time="month")
    assert isinstance(info.value, EvalkitError) and isinstance(info.value, ValueError)


def test_diff_in_diff_refuses_quarter_labels_and_unordered_categoricals() -> None:
    data = _panel()
    data["quarter"] = "Q" + ((data["month"] - 1) % 4 + 1).astype(str) + (2011 + (data["month"] - 1) // 4).astype(str)
    with pytest.raises(DataError, match=r"time 'quarter' holds text \('Q12011'"):
        ek.DiffInDiff(data, treatment="d", unit="unit", time="quarter")
    data["month"] = pd.Categorical(data["month"].astype(str))  # unordered: categories sorted as text
    with pytest.raises(DataError, match=r"time 'month' holds an unordered categorical.*ordered=True"):
        ek.DiffInDiff(data, treatment="d", unit="unit", time="month")


def test_ordered_categorical_equals_integer_periods() -> None:
    # Category order (time order '1'..'12') differs from the label order ('1', '10', '11', '12', '2', ...).
    # REFERENCE: the integer-coded run; TOLERANCE: 0 (identical tables).
    data = _panel()
    reference = _event_study(data)
    labels = [str(m) for m in range(1, MONTHS + 1)]
    assert sorted(labels) != labels
    data["month"] = pd.Categorical(data["month"].astype(str), categories=labels, ordered=True)
    pd.testing.assert_frame_equal(_event_study(data), reference, check_exact=True)
    assert reference["event_time"].tolist() == [-5, -4, -3, -2, 0, 1, 2, 3, 4, 5, 6]  # reference -1 left out


@pytest.mark.parametrize("kind", ["period", "datetime"])
def test_period_and_datetime_equal_integer_periods(kind: str) -> None:
    # REFERENCE: the integer-coded run; TOLERANCE: 0 (identical tables).
    data = _panel()
    reference = _event_study(data)
    stamps = pd.period_range("2011-11", periods=MONTHS, freq="M")  # crosses a year: 2011-11 < 2011-12 < 2012-01
    data["month"] = pd.Series(stamps[data["month"].to_numpy() - 1], index=data.index)
    if kind == "datetime":
        data["month"] = data["month"].dt.to_timestamp()
    pd.testing.assert_frame_equal(_event_study(data), reference, check_exact=True)


def test_staggered_refuses_text_time_and_cohort() -> None:
    data = _panel()
    data["first"] = np.where(data["unit"] < 8, 6, 0)
    text = data.assign(month=data["month"].astype(str))
    with pytest.raises(DataError, match=r"time 'month' holds text .*numeric code in time order"):
        ek.StaggeredDiD(text, unit="unit", time="month", cohort="first")
    text = data.assign(first=data["first"].astype(str))
    with pytest.raises(DataError, match=r"cohort 'first' holds text .*numeric code in time order"):
        ek.StaggeredDiD(text, unit="unit", time="month", cohort="first")
    ordered = data.assign(month=pd.Categorical(data["month"], ordered=True))
    with pytest.raises(DataError, match=r"time 'month' holds an ordered categorical .*does arithmetic on periods"):
        ek.StaggeredDiD(ordered, unit="unit", time="month", cohort="first")
