"""Degenerate staggered designs (issue 9, item 3): a named error or a right answer with a note, never a crash.

Cases: one cluster, a constant outcome, single-unit cohorts, perfect and quasi-complete separation in the
Callaway-Sant'Anna propensity score, and ordinary small cohorts with covariates (which must still be estimated, and
match ``csdid``). Panels are built by :func:`_panel` from a dict ``{cohort: number of units}`` (cohort 0 = never
treated).
"""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import pandas as pd
import pytest

from evalkit.designs.staggered import StaggeredDiD
from evalkit.errors import DesignError, EstimationError, InferenceError
from evalkit.inference.sandwich import small_sample_factor


def _panel(sizes: dict[int, int], periods: int = 4, seed: int = 0) -> pd.DataFrame:
    """One row per unit and period 1..periods: outcome y = unit effect + 0.5 x t + 1 once treated + noise, a
    time-constant covariate x, a single cluster label ``one`` and a binary covariate ``in3`` (1 for cohort 3)."""
    rng = np.random.default_rng(seed)
    rows = []
    unit = 0
    for g, k in sizes.items():
        for _ in range(k):
            a, x = rng.normal(), rng.normal()
            for t in range(1, periods + 1):
                y = a + 0.5 * x * t + (1.0 if g and t >= g else 0.0) + rng.normal()
                rows.append({"id": unit, "year": t, "g": g, "x": x, "y": y, "one": 1, "in3": float(g == 3)})
            unit += 1
    return pd.DataFrame(rows)


def _csdid(data: pd.DataFrame, **fit_kw: object) -> pd.DataFrame:
    att_gt = pytest.importorskip("csdid.att_gt")
    xformla = fit_kw.pop("xformla", None)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        model = att_gt.ATTgt(yname="y", gname="g", idname="id", tname="year", data=data, xformla=xformla)
        return model.fit(bstrap=False, **fit_kw).results


def _estimate_twice(data: pd.DataFrame, *args: object, clusters: str | None = None, **kwargs: object):
    """Estimate twice on the same frame; the frame must be unchanged and the two results identical."""
    before = data.copy(deep=True)
    first = StaggeredDiD(data, "id", "year", "g", clusters=clusters).estimate(*args, **kwargs)
    second = StaggeredDiD(data, "id", "year", "g", clusters=clusters).estimate(*args, **kwargs)
    pd.testing.assert_frame_equal(data, before)  # the caller's frame is never mutated
    pd.testing.assert_frame_equal(first.to_frame(), second.to_frame())  # reruns are bit-identical
    assert first.notes == second.notes
    return first


def _degenerate_noted(res, terms: list[str]) -> bool:
    note = next((n for n in res.notes if "zero up to rounding" in n), "")
    return all(t in note for t in terms)


# ------------------------------------------------------------------------------------------------- one cluster
@pytest.mark.parametrize("estimator", ["sun_abraham", "twfe"])
@pytest.mark.parametrize("inference", [None, "CR0", "CR1", "CR2"])
def test_one_cluster_refused_up_front_for_sun_abraham_and_twfe(estimator: str, inference: str | None) -> None:
    # before: InferenceError from the kernel advising 'HC2', which these estimators do not accept (and a
    # ZeroDivisionError in G/(G-1) when the kernel was reached with G = 1)
    data = _panel({0: 4, 3: 3, 4: 3})
    with pytest.raises(InferenceError, match=r"at least 2 clusters of 'one'.*Drop clusters="):
        StaggeredDiD(data, "id", "year", "g", clusters="one").estimate("y", estimator, inference=inference)


def test_cr1_factor_with_one_cluster_is_a_named_error() -> None:
    # before: ZeroDivisionError in G / (G - 1)
    with pytest.raises(InferenceError, match="at least 2 clusters; found 1"):
        small_sample_factor("CR1", 40, 3, 1)
    assert small_sample_factor("CR1", 40, 3, 2) == pytest.approx(2 / 1 * 39 / 37, rel=1e-15)  # G/(G-1)(n-1)/(n-K)


def test_one_cluster_callaway_santanna_nan_se_with_note() -> None:
    # closed form: one cluster's summed influence function is zero (each ATT's influence function has mean zero),
    # so every SE is zero up to rounding -> NaN with the degenerate-SE note; estimates as without clusters
    data = _panel({0: 4, 3: 3, 4: 3})
    res = _estimate_twice(data, "y", clusters="one", aggregate="all")
    plain = StaggeredDiD(data, "id", "year", "g").estimate("y", aggregate="all").to_frame()
    frame = res.to_frame()
    np.testing.assert_array_equal(frame["estimate"], plain["estimate"])
    assert frame["std_error"].isna().all() and frame["p_value"].isna().all()
    assert _degenerate_noted(res, ["ATT(3,2)"])


# ------------------------------------------------------------------------------------------------ constant outcome
@pytest.mark.parametrize("estimator", ["callaway_santanna", "sun_abraham", "twfe", "imputation"])
def test_constant_outcome_gives_zero_effects_and_nan_se_with_note(estimator: str) -> None:
    # property: every effect of a constant outcome is 0 and no variance can be estimated (SE, p, interval NaN,
    # with the note naming the terms) -- never a ZeroDivisionError, p = NaN without a note, or SE = 0 with p = 1
    data = _panel({0: 4, 3: 3, 4: 3}).assign(y=7.25)
    res = _estimate_twice(data, "y", estimator)
    frame = res.to_frame()
    np.testing.assert_allclose(frame["estimate"], 0.0, atol=1e-12)
    assert frame["std_error"].isna().all() and frame["p_value"].isna().all() and frame["conf_low"].isna().all()
    assert _degenerate_noted(res, [str(frame["term"].iloc[0])])


# ------------------------------------------------------------------------------------------- single-unit cohorts
def test_sun_abraham_single_unit_cohorts_nan_se_with_notes() -> None:
    # cohorts of one unit and a single never-treated unit: each single-unit cohort's cells fit its rows exactly,
    # so event times 1 and 2 (cohorts 2 and 3 only) have a variance zero up to rounding -- before: the rounding was
    # negative and sqrt gave a NaN SE with no note
    data = _panel({0: 1, 2: 1, 3: 1, 4: 2}, seed=7)
    res = _estimate_twice(data, "y", "sun_abraham")
    frame = res.to_frame().set_index("term")
    assert frame.loc[["event 1", "event 2"], "std_error"].isna().all()
    assert np.isfinite(frame.loc[["event 1", "event 2"], "estimate"]).all()
    assert _degenerate_noted(res, ["event 1", "event 2"])
    small = next(n for n in res.notes if n.startswith("Small groups"))
    assert "cohort 2 (1 unit)" in small and "never treated (1 unit)" in small and "single unit" in small


def test_callaway_santanna_single_unit_cohort_matches_csdid_with_note() -> None:
    # a single-unit cohort's own influence is zero, so its ATT(g,t) SEs come from the comparison units; the estimator
    # defines them (as did), they must match csdid 0.4.3 (tolerance 1e-10) and a note must name the cohort
    data = _panel({0: 6, 2: 1, 3: 4}, seed=3)
    res = _estimate_twice(data, "y")
    ref = _csdid(data)
    frame = res.to_frame()
    np.testing.assert_allclose(frame["estimate"], ref["att"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(frame["std_error"], ref["se"], rtol=1e-10)
    small = next(n for n in res.notes if n.startswith("Small groups"))
    assert "cohort 2 (1 unit)" in small and "cohort 3 (4 units)" in small and "single unit" in small


def test_no_small_group_note_on_large_cohorts() -> None:
    data = _panel({0: 6, 3: 5, 4: 5}, seed=3)
    assert not any(n.startswith("Small groups") for n in StaggeredDiD(data, "id", "year", "g").estimate("y").notes)
    # with one covariate did's threshold is 6: cohorts of 5 are small
    notes = StaggeredDiD(data, "id", "year", "g").estimate("y", covariates="x", method="reg").notes
    assert any(n.startswith("Small groups: cohort 3 (5 units), cohort 4 (5 units) have fewer than 6") for n in notes)


# ------------------------------------------------------------------------------------------ propensity separation
@pytest.mark.parametrize("method", ["dr", "ipw"])
def test_perfect_separation_is_a_named_estimation_error(method: str) -> None:
    # in3 = 1 exactly for cohort 3: the logit of cohort 3 against the never treated has no MLE.
    # before: numpy LinAlgError "Singular matrix" (ipw), an unnamed collinearity error (dr)
    data = _panel({0: 4, 3: 3, 4: 3})
    with pytest.raises(EstimationError) as err:
        StaggeredDiD(data, "id", "year", "g").estimate("y", covariates=["in3"], method=method)
    message = str(err.value)
    assert "ATT(3,2)" in message and "cohort 3: 3 unit(s)" in message and "4 never-treated" in message
    assert "covariates in3" in message and "coarser cohorts" in message and f"method={method!r}" in message
    if method == "ipw":  # the logit meets the separation first
        assert "separat" in message and "method='reg'" in message
    else:  # dr's outcome regression meets first that in3 is constant (zero) among the comparison units
        assert "collinear among the comparison units" in message


@pytest.mark.parametrize("method", ["dr", "ipw"])
def test_quasi_separation_by_a_continuous_covariate_is_refused(method: str) -> None:
    # x > 0 for every unit of cohort 3, x < 0 for every never-treated unit: no overlap, no MLE.
    # before: no error, standard errors of order 1e16
    data = _quasi_separated()
    with pytest.raises(EstimationError, match=r"ATT\(3,2\).*covariates x.*numerically 0 or 1.*method='reg'"):
        StaggeredDiD(data, "id", "year", "g").estimate("y", covariates="x", method=method)


def _quasi_separated() -> pd.DataFrame:
    """x > 0 for every unit of cohort 3, x < 0 for every never-treated unit (cohort 4 at 0)."""
    data = _panel({0: 6, 3: 3, 4: 3}, seed=5)
    data["x"] = np.where(data["g"] == 3, 1.0 + data["x"].abs(), np.where(data["g"] == 0, -1.0 - data["x"].abs(), 0))
    return data


def test_separated_covariate_with_outcome_regression_matches_csdid() -> None:
    # the fix the error names: method='reg' needs no propensity score (it extrapolates the comparison units'
    # regression); csdid 0.4.3 with est_method='reg' on the same panel, tolerance 1e-10
    data = _quasi_separated()
    res = _estimate_twice(data, "y", covariates="x", method="reg")
    ref = _csdid(data, xformla="y ~ x", est_method="reg")
    frame = res.to_frame()
    np.testing.assert_allclose(frame["estimate"], ref["att"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(frame["std_error"], ref["se"], rtol=1e-10)


# -------------------------------------------------------------------------------- ordinary small cohorts still work
@pytest.mark.parametrize("method", ["dr", "ipw", "reg"])
def test_small_cohorts_with_covariate_match_csdid(method: str) -> None:
    # cohorts of 3 units with a covariate: ill-conditioned but overlapping (no separation), estimated by Newton
    # with step halving on the conditioned basis; ATT(g,t) and analytic SEs equal csdid 0.4.3 (statsmodels GLM
    # logit) to 1e-9 (measured 2e-12)
    data = _panel({0: 6, 3: 3, 4: 3}, seed=1)
    res = _estimate_twice(data, "y", covariates="x", method=method)
    ref = _csdid(data, xformla="y ~ x", est_method=method)
    frame = res.to_frame()
    np.testing.assert_allclose(frame["estimate"], ref["att"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(frame["std_error"], ref["se"], rtol=1e-9)


def test_logit_is_the_maximum_likelihood_estimate() -> None:
    # reference: statsmodels Logit on a small overlapping sample (tolerance 1e-8 on the fitted probabilities and
    # the inverse information), through did_2x2_panel's own propensity-score step
    sm = pytest.importorskip("statsmodels.api")
    from evalkit.estimators.callaway_santanna import _logit

    rng = np.random.default_rng(11)
    x = rng.normal(size=(9, 2)) * [1.0, 1e3] + [0.0, 5e4]  # badly scaled second covariate
    d = np.array([1, 1, 1, 0, 0, 0, 0, 0, 0], dtype=float)
    x[:3, 0] += 0.8
    X = np.column_stack([np.ones(9), x])
    ps, inv_info = _logit(X, d, np.ones(9), ["a", "b"])
    ref = sm.Logit(d, X).fit(disp=0, method="newton", tol=1e-14, maxiter=200)
    np.testing.assert_allclose(ps, ref.predict(X), rtol=1e-8)
    np.testing.assert_allclose(inv_info, ref.cov_params(), rtol=1e-6)


@pytest.mark.parametrize("estimator", ["callaway_santanna", "sun_abraham", "twfe", "imputation"])
def test_one_cohort_and_no_never_treated_is_refused_by_name(estimator):
    # Found by the fuzz suite (tests/fuzz): with a single treatment cohort and no never-treated units the last cohort
    # becomes the comparison and no cohort is left; CS raised IndexError and Sun-Abraham ValueError (empty reduction).
    df = pd.DataFrame(
        {"y": [-1.2, -0.1, 1.6, 1.4] * 2, "unit": [0] * 4 + [1] * 4, "time": [2000, 2001, 2002, 2003] * 2}
    ).assign(cohort=2002)
    before = df.copy(deep=True)
    with pytest.raises(DesignError, match="every unit is in cohort 2002 of 'cohort' and none is never treated"):
        StaggeredDiD(df, "unit", "time", "cohort").estimate("y", estimator=estimator, control="not_yet_treated")
    pd.testing.assert_frame_equal(df, before)
    if estimator == "callaway_santanna":  # repeated cross-sections take the same path
        with pytest.raises(DesignError, match="every observation is in cohort 2002"):
            StaggeredDiD(df, None, "time", "cohort").estimate("y", control="not_yet_treated")
