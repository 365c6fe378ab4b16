"""Figures: what each plot draws (read back from the artists) equals the results, axes are reused when given,
and one PNG of each kind renders."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection, PolyCollection
from scipy import stats

import evalkit as ek
from evalkit.errors import ColumnNotFoundError, InferenceError, OptionError
from evalkit.reporting import (
    adjusted_intervals,
    balance_plot,
    coefficient_plot,
    event_study_plot,
    null_distribution_plot,
)
from evalkit.results import OutcomeFit, Results

OUTCOMES = ["easq_comm", "easq_gross_motor", "home_total"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def casita() -> pd.DataFrame:
    return ek.datasets.load_casita()


@pytest.fixture(scope="module")
def results(casita: pd.DataFrame) -> Results:
    return ek.RandomizedTrial(casita, "treated").estimate(OUTCOMES, estimator="lin", covariates=["age_months"])


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def line(ax, label: str):
    (found,) = [ln for ln in ax.get_lines() if ln.get_label() == label]
    return found


def collection(ax, label: str, kind=LineCollection):
    (found,) = [c for c in ax.collections if isinstance(c, kind) and c.get_label() == label]
    return found


def segments(ax, label: str) -> np.ndarray:
    return np.array([np.asarray(s) for s in collection(ax, label).get_segments()])


def assert_png(path) -> None:
    assert path.read_bytes()[:8] == PNG_MAGIC


def event_results(with_uniform: bool = False) -> Results:
    e = np.array([-4, -3, -2, 0, 1, 2, 3])
    est = np.array([0.10, -0.05, 0.02, 0.50, 0.70, 0.80, 0.75])
    se = np.array([0.15, 0.14, 0.16, 0.15, 0.15, 0.16, 0.20])
    frame = pd.DataFrame({"outcome": "y", "term": [f"event_time::{k}" for k in e], "event_time": e})
    frame["estimate"], frame["std_error"] = est, se
    crit = stats.t.ppf(0.975, 30)
    frame["conf_low"], frame["conf_high"] = est - crit * se, est + crit * se
    if with_uniform:
        frame["uniform_low"], frame["uniform_high"] = est - 3.0 * se, est + 3.0 * se
    return Results(_table=frame, estimator="event_study", inference="CR2", design="panel")


# ---------------------------------------------------------------------------------------------- coefficient plot
def test_coefficient_plot_draws_estimates_and_intervals(results: Results, tmp_path) -> None:
    frame = results.to_frame()
    fig, ax = coefficient_plot(results)
    points = line(ax, "estimate")
    # SOURCE: Results.to_frame(); TOLERANCE: exact up to float64 round-off.
    np.testing.assert_allclose(points.get_xdata(), frame["estimate"], rtol=1e-12)
    np.testing.assert_array_equal(points.get_ydata(), [2.0, 1.0, 0.0])  # first outcome at the top
    seg = segments(ax, "ci")
    np.testing.assert_allclose(seg[:, 0, 0], frame["conf_low"], rtol=1e-12)
    np.testing.assert_allclose(seg[:, 1, 0], frame["conf_high"], rtol=1e-12)
    assert [t.get_text() for t in ax.get_yticklabels()] == OUTCOMES
    fig.savefig(tmp_path / "coef.png")
    assert_png(tmp_path / "coef.png")


@pytest.mark.parametrize("method", ["bonferroni", "sidak"])
def test_coefficient_plot_adjusted_intervals_are_closed_form(results: Results, method: str) -> None:
    frame = results.to_frame()
    _, ax = coefficient_plot(results, adjusted=True, method=method)
    m, alpha = len(frame), results.alpha
    level = alpha / m if method == "bonferroni" else 1 - (1 - alpha) ** (1 / m)
    # SOURCE: closed form est ± t_{df}^{-1}(1 - a/2) se with a = alpha/m (Bonferroni) or 1-(1-alpha)^(1/m)
    # (Šidák 1967), computed here with scipy; TOLERANCE 1e-10.
    crit = stats.t.ppf(1 - level / 2, frame["df"])
    seg = segments(ax, "adjusted ci")
    np.testing.assert_allclose(seg[:, 0, 0], frame["estimate"] - crit * frame["std_error"], rtol=1e-10)
    np.testing.assert_allclose(seg[:, 1, 0], frame["estimate"] + crit * frame["std_error"], rtol=1e-10)
    # adjusted and unadjusted side by side, offset vertically
    assert np.all(seg[:, 0, 1] < segments(ax, "ci")[:, 0, 1])
    assert np.all(seg[:, 1, 0] - seg[:, 0, 0] > frame["conf_high"] - frame["conf_low"])


def test_adjusted_intervals_by_family(results: Results) -> None:
    frame = results.to_frame().assign(family=["easq", "easq", "home"])
    low, high = adjusted_intervals(frame, 0.05)
    # SOURCE: closed form; family sizes 2, 2, 1 -> Bonferroni levels 0.025, 0.025, 0.05. TOLERANCE 1e-10.
    crit = stats.t.ppf(1 - np.array([0.025, 0.025, 0.05]) / 2, frame["df"])
    np.testing.assert_allclose(high, frame["estimate"] + crit * frame["std_error"], rtol=1e-10)
    # a family of one is the unadjusted interval
    assert high[2] == pytest.approx(frame["conf_high"].iloc[2], rel=1e-10)
    np.testing.assert_allclose(low, frame["estimate"] - crit * frame["std_error"], rtol=1e-10)


def test_coefficient_plot_uses_reported_adjusted_intervals(results: Results) -> None:
    frame = results.to_frame()
    frame["conf_low_adjusted"] = frame["conf_low"] - 1.0
    frame["conf_high_adjusted"] = frame["conf_high"] + 2.0
    adjusted = Results(_table=frame, estimator="lin", inference="HC2", design="d")
    _, ax = coefficient_plot(results, adjusted=adjusted)
    seg = segments(ax, "adjusted ci")
    # SOURCE: the columns set above; exact.
    np.testing.assert_allclose(seg[:, 0, 0], frame["conf_low_adjusted"], rtol=1e-12)
    np.testing.assert_allclose(seg[:, 1, 0], frame["conf_high_adjusted"], rtol=1e-12)


def test_coefficient_plot_standardized_and_given_axes(results: Results) -> None:
    frame = results.to_frame()
    fig0, ax0 = plt.subplots()
    fig, ax = coefficient_plot(results, standardized=True, ax=ax0)
    assert ax is ax0 and fig is fig0
    # SOURCE: Results.to_frame() Cohen's d columns; TOLERANCE float64 round-off.
    np.testing.assert_allclose(line(ax, "estimate").get_xdata(), frame["cohens_d"], rtol=1e-12)
    seg = segments(ax, "ci")
    np.testing.assert_allclose(seg[:, 0, 0], frame["cohens_d_low"], rtol=1e-12)
    np.testing.assert_allclose(seg[:, 1, 0], frame["cohens_d_high"], rtol=1e-12)
    assert ax.get_xlabel() == "Cohen's d"
    with pytest.raises(OptionError, match="method='holm'"):
        coefficient_plot(results, adjusted=True, method="holm")


# ---------------------------------------------------------------------------------------------- null distribution
def test_null_distribution_plot(results: Results, tmp_path) -> None:
    rng = np.random.default_rng(20260101)
    null = rng.standard_t(40, size=4_000)
    frame = results.to_frame().iloc[[0]]
    ri = Results(
        _table=frame,
        estimator="lin",
        inference="randomization",
        design="d",
        fits={
            "easq_comm": OutcomeFit(
                fit=None, rows=np.arange(3), inference={"null_statistics": null, "observed_statistic": 1.3}
            )
        },
    )
    fig, ax = null_distribution_plot(ri, bins=30)
    heights = np.array([p.get_height() for p in ax.patches])
    # SOURCE: numpy.histogram(density=True) of the same draws; TOLERANCE 1e-12.
    ref, _ = np.histogram(null, bins=30, density=True)
    np.testing.assert_allclose(heights, ref, rtol=1e-12)
    assert line(ax, "observed").get_xdata()[0] == 1.3
    assert line(ax, "mirror").get_xdata()[0] == -1.3
    assert "4,000 draws" in ax.get_title()
    fig.savefig(tmp_path / "null.png")
    assert_png(tmp_path / "null.png")
    with pytest.raises(InferenceError, match="RandomizationInference"):
        null_distribution_plot(results, "easq_comm")
    with pytest.raises(OptionError, match="outcome="):
        null_distribution_plot(results)


# ---------------------------------------------------------------------------------------------- event study
def test_event_study_plot_with_critical_value(tmp_path) -> None:
    res = event_results()
    frame = res.to_frame()
    fig, ax = event_study_plot(res, uniform_band=2.8)
    points = line(ax, "estimate")
    np.testing.assert_array_equal(points.get_xdata(), frame["event_time"])
    np.testing.assert_allclose(points.get_ydata(), frame["estimate"], rtol=1e-12)
    seg = segments(ax, "ci")
    # SOURCE: Results.to_frame(); vertical segments (e, low) -> (e, high). TOLERANCE float64 round-off.
    np.testing.assert_allclose(seg[:, 0, 1], frame["conf_low"], rtol=1e-12)
    np.testing.assert_allclose(seg[:, 1, 1], frame["conf_high"], rtol=1e-12)
    band = collection(ax, "uniform band", PolyCollection).get_paths()[0].vertices
    # SOURCE: closed form est ± 2.8 se; the band polygon's vertices include every upper bound.
    for e, hi in zip(frame["event_time"], frame["estimate"] + 2.8 * frame["std_error"], strict=True):
        assert np.any(np.isclose(band[:, 0], e) & np.isclose(band[:, 1], hi, rtol=1e-12))
    ref = line(ax, "reference")
    assert (ref.get_xdata()[0], ref.get_ydata()[0]) == (-1, 0.0)
    assert line(ax, "treatment start").get_xdata()[0] == -0.5
    fig.savefig(tmp_path / "event.png")
    assert_png(tmp_path / "event.png")


def test_event_study_plot_uses_band_columns_and_axes() -> None:
    res = event_results(with_uniform=True)
    frame = res.to_frame()
    fig0, ax0 = plt.subplots()
    fig, ax = event_study_plot(res, ax=ax0)
    assert ax is ax0 and fig is fig0
    band = collection(ax, "uniform band", PolyCollection).get_paths()[0].vertices
    for e, lo in zip(frame["event_time"], frame["uniform_low"], strict=True):
        assert np.any(np.isclose(band[:, 0], e) & np.isclose(band[:, 1], lo, rtol=1e-12))
    _, ax2 = event_study_plot(res, uniform_band=False)
    assert not [c for c in ax2.collections if c.get_label() == "uniform band"]
    with pytest.raises(ColumnNotFoundError, match="uniform_low"):
        event_study_plot(event_results(), uniform_band=True)
    with pytest.raises(ColumnNotFoundError, match="event_time"):
        event_study_plot(Results(_table=frame.drop(columns="event_time"), estimator="e", inference="i", design="d"))


# ---------------------------------------------------------------------------------------------- balance
def test_balance_plot(casita: pd.DataFrame, tmp_path) -> None:
    covariates = ["age_months", "female", "easq_comm_bl"]
    balance = ek.RandomizedTrial(casita, "treated").balance(covariates)
    fig, ax = balance_plot(balance, threshold=(0.1, 0.25))
    g = casita.groupby("treated")[covariates]
    m, s = g.mean(), g.std(ddof=1)
    # SOURCE: closed form (mean_t - mean_c)/sqrt((s_t^2 + s_c^2)/2) (Imbens & Rubin 2015, eq. 14.2) computed
    # with pandas here; TOLERANCE 1e-10.
    d = ((m.loc[1] - m.loc[0]) / np.sqrt((s.loc[1] ** 2 + s.loc[0] ** 2) / 2)).to_numpy()
    points = line(ax, "std difference")
    np.testing.assert_allclose(points.get_xdata(), d, rtol=1e-10)
    np.testing.assert_array_equal(points.get_ydata(), [2.0, 1.0, 0.0])
    cuts = sorted(ln.get_xdata()[0] for ln in ax.get_lines() if ln.get_label() == "threshold")
    assert cuts == [-0.25, -0.1, 0.1, 0.25]
    fig.savefig(tmp_path / "balance.png")
    assert_png(tmp_path / "balance.png")
    _, ax2 = balance_plot(balance, threshold=0.25, absolute=True, ax=plt.subplots()[1])
    np.testing.assert_allclose(line(ax2, "std difference").get_xdata(), np.abs(d), rtol=1e-10)
    with pytest.raises(OptionError, match="threshold"):
        balance_plot(balance, threshold=-1)


def test_import_evalkit_does_not_import_matplotlib() -> None:
    import subprocess
    import sys

    code = "import sys, evalkit, evalkit.reporting; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
