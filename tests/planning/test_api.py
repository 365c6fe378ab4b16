"""``ek.planning``: properties that must hold, refusals with named arguments, and the frozen result."""

from __future__ import annotations

import dataclasses

import matplotlib
import numpy as np
import pytest

import evalkit as ek
from evalkit.errors import EvalkitError, KeywordError, OptionError

matplotlib.use("Agg")

CLUSTER = {"n_clusters": 180, "cluster_size": 28, "icc": 0.07, "r2_cluster": 0.3, "n_cluster_covariates": 1}
DESIGNS = [
    {"n_treated": 41, "n_control": 19},
    {"n": 400, "n_blocks": 10, "r2_individual": 0.3, "n_covariates": 2},
    CLUSTER,
    {"n_clusters": 60, "cluster_size": 12, "n_blocks": 6, "icc": 0.1},
    {"design": "did", "n_clusters": 50, "cluster_size": 20, "icc": 0.1, "autocorrelation_cluster": 0.7},
]


@pytest.mark.parametrize("method", ["exact", "multiplier"])
@pytest.mark.parametrize("design", DESIGNS)
def test_power_at_the_mde_is_the_target(design, method) -> None:
    # Property: power(mde(p)) = p within each method. TOLERANCE: 1e-9 (root-finding to 1e-12).
    for target in (0.5, 0.8, 0.95):
        res = ek.planning.mde(power=target, method=method, **design)
        assert ek.planning.power(res.mde, method=method, **design).power == pytest.approx(target, abs=1e-9)
        assert res.power_at(res.mde)[0] == pytest.approx(target, abs=1e-9)


def test_the_issue_example_runs_and_records_inputs() -> None:
    res = ek.planning.mde(
        n_clusters=180,
        cluster_size=28,
        icc=0.07,
        share_treated=0.5,
        r2_cluster=0.3,
        r2_individual=0.0,
        n_cluster_covariates=1,
        attrition=0.1,
        take_up=1.0,
        alpha=0.05,
        power=0.8,
    )
    assert res.design == "cluster" and res.df == 180 - 1 - 2
    assert res.inputs.cluster_size == 28 and res.inputs.attrition == 0.1 and res.inputs.power == 0.8
    # Attrition 10% of 28 people is the same design as 25.2 people per cluster.
    same = ek.planning.mde(n_clusters=180, cluster_size=25.2, icc=0.07, r2_cluster=0.3, n_cluster_covariates=1)
    assert res.mde == pytest.approx(same.mde, rel=1e-12)
    assert any("attrition" in note for note in res.notes)


def test_monotone_in_the_design_parameters() -> None:
    base = ek.planning.mde(**CLUSTER).mde
    assert ek.planning.mde(**{**CLUSTER, "n_clusters": 200}).mde < base  # more clusters
    assert ek.planning.mde(**{**CLUSTER, "icc": 0.15}).mde > base  # more clustering
    assert ek.planning.mde(**{**CLUSTER, "r2_cluster": 0.6}).mde < base  # better covariates
    assert ek.planning.mde(**{**CLUSTER, "share_treated": 0.3}).mde > base  # unbalanced arms
    # A covariate that explains nothing costs one df, so the MDE rises slightly.
    assert ek.planning.mde(**{**CLUSTER, "n_cluster_covariates": 5}).mde > base
    # Take-up: the complier MDE is the ITT MDE over the complier share, for both methods.
    for method in ("exact", "multiplier"):
        itt = ek.planning.mde(method=method, **CLUSTER).mde
        assert ek.planning.mde(take_up=0.5, method=method, **CLUSTER).mde == pytest.approx(2 * itt, rel=1e-12)
    # Balanced 30/30 beats 41/19 with the same 60 people.
    assert ek.planning.mde(n=60).mde < ek.planning.mde(n_treated=41, n_control=19).mde
    # n + share_treated is the same design as n_treated + n_control.
    assert ek.planning.mde(n=60, share_treated=41 / 60).mde == pytest.approx(
        ek.planning.mde(n_treated=41, n_control=19).mde, rel=1e-12
    )


@pytest.mark.parametrize(
    ("kwargs", "unit"),
    [
        ({"mde": 0.10, "cluster_size": 28, "icc": 0.07}, "clusters"),
        ({"mde": 0.25, "share_treated": 0.3, "attrition": 0.15}, "units"),
        ({"mde": 0.3, "n_blocks": 8, "n_covariates": 2, "r2_individual": 0.4}, "units"),
        ({"mde": 0.2, "cluster_size": 15, "n_blocks": 4, "icc": 0.12}, "clusters"),
        ({"mde": 0.2, "design": "did", "cluster_size": 15, "icc": 0.12, "autocorrelation_cluster": 0.8}, "clusters"),
    ],
)
def test_sample_size_is_the_smallest_that_reaches_the_power(kwargs, unit) -> None:
    res = ek.planning.sample_size(**kwargs)
    assert res.sample_unit == unit and res.power >= 0.8
    target = kwargs.pop("mde")
    step = kwargs.get("n_blocks", 1)
    size = "n_clusters" if unit == "clusters" else "n"
    at = ek.planning.power(target, **{size: res.sample_size}, **kwargs)
    below = ek.planning.power(target, **{size: res.sample_size - step}, **kwargs)
    assert at.power == pytest.approx(res.power, rel=1e-12)
    assert below.power < 0.8 <= at.power
    assert res.sample_size % step == 0


def test_sample_size_refuses_an_mde_below_the_cluster_floor() -> None:
    # With icc > 0 the MDE cannot fall below ~2.8 sqrt(icc / (P(1-P) J)) -> 0 only as J grows: a tiny mde needs
    # more than 10^9 clusters.
    with pytest.raises(OptionError, match="mde"):
        ek.planning.sample_size(mde=1e-6, cluster_size=28, icc=0.07)


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"n": -10}, "n=-10"),
        ({"n_treated": 0, "n_control": 19}, "n_treated=0"),
        ({"n_clusters": 40, "cluster_size": 10, "icc": 1.0}, "icc=1.0"),
        ({"n_clusters": 40, "cluster_size": 10, "icc": -0.1}, "icc=-0.1"),
        ({"n": 100, "power": 1.2}, "power=1.2"),
        ({"n": 100, "power": 0.0}, "power=0.0"),
        ({"n": 100, "power": 0.04}, "power=0.04"),
        ({"n": 100, "take_up": 0}, "take_up=0"),
        ({"n": 100, "take_up": 1.5}, "take_up=1.5"),
        ({"n": 100, "attrition": 1.0}, "attrition=1.0"),
        ({"n": 100, "share_treated": 1.0}, "share_treated=1.0"),
        ({"n": 100, "method": "approximate"}, "method='approximate'"),
        ({"n": 100, "alternative": "less"}, "alternative='less'"),
        ({"n": 100, "n_blocks": 2.5}, "n_blocks=2.5"),
        ({"n": 100, "n_covariates": True}, "n_covariates=True"),
        ({"n": 100, "icc": 0.1}, "icc"),
        ({"n": 100, "n_treated": 50, "n_control": 50}, "n_treated"),
        ({"n_treated": 50}, "n_control"),
        ({}, "n_treated"),
        ({"n": 100, "n_clusters": 10, "cluster_size": 10}, "n_clusters"),
        ({"n_clusters": 10}, "cluster_size"),
        ({"n_clusters": 4, "cluster_size": 10, "n_cluster_covariates": 2}, "degrees of freedom"),
        ({"design": "did", "n_clusters": 40, "cluster_size": 10, "r2_cluster": 0.2}, "r2_cluster"),
        ({"n": 100, "autocorrelation_cluster": 0.5}, "design='did'"),
        ({"design": "panel", "n": 100}, "design='panel'"),
    ],
)
def test_bad_input_raises_a_named_evalkit_error(kwargs, named) -> None:
    with pytest.raises(OptionError) as info:
        ek.planning.mde(**kwargs)
    assert isinstance(info.value, EvalkitError) and isinstance(info.value, ValueError)
    assert named in str(info.value)


def test_bad_effect_and_size_inputs() -> None:
    with pytest.raises(OptionError, match="effect=-0.2"):
        ek.planning.power(-0.2, n=100)
    with pytest.raises(OptionError, match="mde=0"):
        ek.planning.sample_size(mde=0, cluster_size=20, icc=0.1)
    with pytest.raises(KeywordError, match="n_clusters"):  # sample_size solves for it: not an argument
        ek.planning.sample_size(mde=0.2, n_clusters=20, cluster_size=20)  # type: ignore[call-arg]
    with pytest.raises(KeywordError, match="Did you mean n_clusters="):
        ek.planning.mde(n_cluster=20, cluster_size=20)  # type: ignore[call-arg]


def test_result_is_frozen_and_tidy() -> None:
    res = ek.planning.power(0.12, **CLUSTER)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.power = 0.9  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.inputs.icc = 0.2  # type: ignore[misc]
    frame = res.to_frame()
    assert len(frame) == 1
    for column in ("quantity", "design", "mde", "power", "effect", "standard_error", "df", "method", "icc", "notes"):
        assert column in frame.columns
    assert frame["power"].iloc[0] == res.power and frame["effect"].iloc[0] == 0.12
    assert "cluster design" in str(res)


def test_power_curve_plot() -> None:
    res = ek.planning.mde(**CLUSTER)
    fig, ax = res.plot()
    curve = next(line for line in ax.get_lines() if line.get_label() == "power curve")
    x, y = curve.get_data()
    assert np.all(np.diff(y) >= -1e-12)  # power rises with the effect
    assert y[0] == pytest.approx(0.05, abs=1e-9)  # power at no effect is the size of the test
    assert np.interp(res.mde, x, y) == pytest.approx(0.8, abs=5e-3)
    assert any(line.get_label() == "mde" for line in ax.get_lines())
    import matplotlib.pyplot as plt

    plt.close(fig)
