"""Summary indices: Anderson (2008) inverse-covariance weights and Kling-Liebman-Katz (2007) means."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import evalkit as ek
from evalkit.errors import DataError, OptionError
from evalkit.estimators.indices import summary_index

CASITA_OUTCOMES = ["easq_comm", "easq_gross_motor", "easq_fine_motor", "easq_problem", "easq_social"]


def _orthonormal_frame(n: int = 40, rho: float = 0.6, seed: int = 0) -> pd.DataFrame:
    """Three outcomes whose sample correlations are exactly [[1, rho, 0], [rho, 1, 0], [0, 0, 1]]."""
    rng = np.random.default_rng(seed)
    raw = rng.normal(size=(n, 3))
    raw -= raw.mean(axis=0)
    q, _ = np.linalg.qr(raw)  # orthonormal, mean-zero columns
    e = q * np.sqrt(n - 1)  # sample SD exactly 1, zero sample correlations
    y1 = e[:, 0]
    y2 = rho * e[:, 0] + np.sqrt(1 - rho**2) * e[:, 1]
    y3 = e[:, 2]
    return pd.DataFrame({"treated": np.tile([0, 1], n // 2), "y1": 3 + 2 * y1, "y2": -1 + 5 * y2, "y3": 10 * y3})


def test_anderson_weights_closed_form() -> None:
    rho = 0.6
    data = _orthonormal_frame(rho=rho)
    idx = summary_index(data, ["y1", "y2", "y3"], treatment="treated", reference="all")
    # SOURCE: closed form. For the correlation matrix [[1, r, 0], [r, 1, 0], [0, 0, 1]], Sigma^{-1} 1 =
    # (1/(1+r), 1/(1+r), 1); normalised to sum to one. TOLERANCE: 1e-12.
    w = np.array([1 / (1 + rho), 1 / (1 + rho), 1.0])
    np.testing.assert_allclose(list(idx.attrs["weights"].values()), w / w.sum(), rtol=0, atol=1e-12)
    # The index is that weighted mean of the standardized outcomes, re-standardized (closed form, 1e-12).
    z = (data[["y1", "y2", "y3"]] - data[["y1", "y2", "y3"]].mean()) / data[["y1", "y2", "y3"]].std()
    s = z.to_numpy() @ (w / w.sum())
    np.testing.assert_allclose(idx, (s - s.mean()) / s.std(ddof=1), rtol=0, atol=1e-12)


def test_two_uncorrelated_outcomes_get_equal_weights_and_duplicates_collapse() -> None:
    data = _orthonormal_frame(rho=0.0)
    two = summary_index(data, ["y1", "y3"], treatment="treated", reference="all")
    np.testing.assert_allclose(list(two.attrs["weights"].values()), [0.5, 0.5], rtol=0, atol=1e-12)
    # Two identical outcomes carry no more information than one: the index equals the standardized outcome.
    data["y1_copy"] = data["y1"]
    dup = summary_index(data, ["y1", "y1_copy"], treatment="treated")
    one = summary_index(data, ["y1"], treatment="treated")
    control = data["treated"] == 0
    expected = (data["y1"] - data.loc[control, "y1"].mean()) / data.loc[control, "y1"].std()
    # SOURCE: closed form (control-group z-score). TOLERANCE: 1e-12.
    np.testing.assert_allclose(dup, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(one, expected, rtol=0, atol=1e-12)


def test_klk_hand_computed() -> None:
    data = pd.DataFrame(
        {"treated": [0, 0, 0, 1, 1], "a": [1.0, 2.0, 3.0, 4.0, 5.0], "b": [10.0, 30.0, 20.0, np.nan, 40.0]}
    )
    idx = summary_index(data, ["a", "b"], treatment="treated", method="klk", higher_is_better={"a": True, "b": False})
    # Hand computation: control mean/SD of a = 2, 1; of b = 20, 10 (b flipped: lower is better).
    za = np.array([-1.0, 0.0, 1.0, 2.0, 3.0])
    zb = -np.array([-1.0, 1.0, 0.0, np.nan, 2.0])
    mean = np.array([(za[i] + zb[i]) / 2 if not np.isnan(zb[i]) else za[i] for i in range(5)])
    # control values of the mean: -1, -0.5, 0.5 -> mean -1/3, SD sqrt(((2/3)^2 + (1/6)^2 + (5/6)^2)/2)
    m0 = np.mean(mean[:3])
    s0 = np.sqrt(((mean[:3] - m0) ** 2).sum() / 2)
    # SOURCE: hand computation above. TOLERANCE: 1e-12.
    np.testing.assert_allclose(idx, (mean - m0) / s0, rtol=0, atol=1e-12)
    assert idx.name == "klk_index" and list(idx.index) == list(data.index)


def test_direction_flip_and_missing_components() -> None:
    data = _orthonormal_frame(rho=0.3, seed=2)
    data["y3_bad"] = -data["y3"]
    up = summary_index(data, ["y1", "y2", "y3"], treatment="treated")
    flipped = summary_index(
        data, ["y1", "y2", "y3_bad"], treatment="treated", higher_is_better={"y1": True, "y2": True, "y3_bad": False}
    )
    # Flipping a "lower is better" column back gives the same index (closed form: identical inputs), 1e-12.
    np.testing.assert_allclose(up, flipped, rtol=0, atol=1e-12)
    # A row missing a component keeps the other components' weights (Anderson 2008, section 3.1).
    holed = data.copy()
    holed.loc[[3, 4], "y3"] = np.nan
    idx = summary_index(holed, ["y1", "y2", "y3"], treatment="treated", reference="all")
    w = idx.attrs["weights"]
    assert idx.notna().all()
    # Undo the final standardization using rows with all components, then check row 3 by hand.
    full = summary_index(data, ["y1", "y2", "y3"], treatment="treated", reference="all")
    assert np.isfinite(full).all()
    zs = (holed[["y1", "y2", "y3"]] - holed[["y1", "y2", "y3"]].mean()) / holed[["y1", "y2", "y3"]].std()
    raw = (zs["y1"] * w["y1"] + zs["y2"] * w["y2"] + zs["y3"].fillna(0) * w["y3"]) / np.where(
        zs["y3"].isna(), w["y1"] + w["y2"], 1.0
    )
    np.testing.assert_allclose(idx, (raw - raw.mean()) / raw.std(), rtol=0, atol=1e-12)
    # All components missing -> missing index.
    holed.loc[7, ["y1", "y2", "y3"]] = np.nan
    assert np.isnan(summary_index(holed, ["y1", "y2", "y3"], treatment="treated").iloc[7])


def test_no_mutation_and_errors() -> None:
    data = _orthonormal_frame()
    data.index = [f"r{i}" for i in range(len(data))]
    before = data.copy(deep=True)
    out = summary_index(data, ["y1", "y2"], treatment="treated", name="idx")
    pd.testing.assert_frame_equal(data, before)
    assert out.name == "idx" and out.index.equals(data.index)
    control = data["treated"] == 0
    assert abs(out[control].mean()) < 1e-12 and abs(out[control].std() - 1) < 1e-12
    with pytest.raises(OptionError, match="method='pca'"):
        summary_index(data, ["y1"], treatment="treated", method="pca")  # type: ignore[arg-type]
    with pytest.raises(OptionError, match="'y2'"):
        summary_index(data, ["y1", "y2"], treatment="treated", higher_is_better={"y1": True})
    data["const"] = 1.0
    with pytest.raises(DataError, match="'const' does not vary"):
        summary_index(data, ["y1", "const"], treatment="treated")
    with pytest.raises(DataError, match="not found"):
        summary_index(data, ["nope"], treatment="treated")


def test_casita_summary_index_effect() -> None:
    data = ek.datasets.load_casita()
    data["easq_index"] = summary_index(data, CASITA_OUTCOMES, treatment="treated")
    data["easq_index_bl"] = summary_index(data, [f"{o}_bl" for o in CASITA_OUTCOMES], treatment="treated")
    trial = ek.RandomizedTrial(data, "treated")
    cov = ["age_months", "female"]
    index = trial.estimate("easq_index", estimator="ols", covariates=["easq_index_bl", *cov])["easq_index"]
    parts = trial.estimate(
        CASITA_OUTCOMES, estimator="change", baseline="{outcome}_bl", covariates=["{outcome}_bl", *cov]
    ).to_frame()
    # Properties: the index (in control-group SD units) moves in the direction of most domains, and pooling five
    # correlated domains gives a test at least as strong as the median domain's.
    assert np.sign(index["estimate"]) == np.sign(np.median(parts["estimate"]))
    assert abs(index["statistic"]) >= np.median(np.abs(parts["statistic"]))
    assert index["n_obs"] == parts["n_obs"].max()
