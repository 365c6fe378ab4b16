"""The degenerate-SE rule in randomization inference (reviewer finding 2 on issue 8).

An exact-fit panel (the outcome is exactly unit effects + a trend + 0.5 * treatment) has residuals that are zero up to
rounding, so every sandwich SE is zero up to rounding. The table reports NaN with a note; randomization inference
reported SE 1e-15, a statistic of 2.6e15 and a zero-width interval [0.5, 0.5] with no note.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import evalkit as ek


def _exact_fit_panel() -> ek.DiffInDiff:
    rng = np.random.default_rng(1)
    units, periods = 30, 4
    unit = np.repeat(np.arange(units), periods)
    time = np.tile(np.arange(periods), units)
    d = (unit < 12).astype(int) * (time >= 2)
    y = 0.5 * d + rng.normal(size=units)[unit] + 0.3 * time
    data = pd.DataFrame({"unit": unit, "time": time, "d": d, "y": y, "cl": unit // 3})
    return ek.DiffInDiff(
        data, treatment="d", unit="unit", time="time", clusters="cl", assignment=ek.ClusterRandomization()
    )


def test_studentized_randomization_inference_on_an_exact_fit_is_undefined_with_a_note():
    did = _exact_fit_panel()
    table = did.estimate("y", inference="CR2").to_frame().iloc[0]
    assert np.isnan(table["std_error"])  # the table's verdict (the one rule)
    res = did.estimate("y", inference=ek.inference.RandomizationInference(reps=199, seed=1, progress=False))
    row = res.to_frame().iloc[0]
    assert row["estimate"] == pytest.approx(0.5, rel=1e-10)  # SOURCE: the data are built with effect 0.5
    assert np.isnan(row["std_error"]) and np.isnan(row["statistic"]) and np.isnan(row["p_value"])
    assert np.isnan(row["conf_low"]) and np.isnan(row["conf_high"])  # was a zero-width interval [0.5, 0.5]
    assert any("zero up to rounding" in n for n in res.notes)


def test_raw_statistic_randomization_inference_still_tests_the_estimate():
    # The raw statistic does not need the SE: its test stays defined (the re-drawn estimates vary), and the SE column
    # follows the one rule.
    did = _exact_fit_panel()
    inference = ek.inference.RandomizationInference(reps=199, seed=1, statistic="estimate", progress=False)
    res = did.estimate("y", inference=inference)
    row = res.to_frame().iloc[0]
    assert np.isnan(row["std_error"])
    assert 0 < row["p_value"] <= 1 and np.isfinite(row["p_value"])
    assert any("zero up to rounding" in n for n in res.notes)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"null": "a"}, "null='a' must be a finite number"),
        ({"null": True}, "null=True must be a finite number"),
        ({"confidence_interval": "no"}, "confidence_interval='no' must be True or False"),
        ({"progress": 1}, "progress=1 must be True, False or None"),
    ],
)
def test_randomization_inference_options_are_checked(kwargs, message):
    with pytest.raises(ek.errors.OptionError, match=message):
        ek.inference.RandomizationInference(**kwargs)
