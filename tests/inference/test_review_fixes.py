"""Regression tests for reviewer findings 4, 6, 8 and 22 on issue 8.

- 4: Westfall-Young after randomization inference gave each draw a p-value by an exact comparison while the observed
  p-value used the tie-tolerant rule, so equivalent assignments whose statistics differ by rounding were not ties.
- 6: ``bell_mccaffrey_df(X, c, weights=w)`` (clusters=None, "the df of the HC2 t test") used the identity working
  model while ``sandwich(..., "HC2", df_method="bell_mccaffrey")`` used the inverse-variance one (6.3 vs 9.0).
- 8: ``Sandwich("HC2", df="bell_mccaffrey").joint_test`` used the first term's df as an F denominator labelled
  "n - K" instead of the Hotelling form with the smallest Bell-McCaffrey df.
- 22: ``DiDTreatmentDesign`` checked its event-study inputs with ``assert`` (gone under ``python -O``).
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import evalkit as ek
from evalkit.errors import EstimationError, EvalkitError
from evalkit.estimators import LinearFit
from evalkit.estimators.treatment_design import DiDTreatmentDesign
from evalkit.inference import InferenceContext, _pvalue
from evalkit.inference._pvalue import at_least_as_extreme
from evalkit.inference.analytic import Sandwich
from evalkit.inference.sandwich import bell_mccaffrey_df, sandwich

# ----------------------------------------------------------------------------------------------------------
# finding 4: Westfall-Young on randomization draws, one tie rule
# ----------------------------------------------------------------------------------------------------------

N_UNITS, N_TREATED = 10, 5  # C(10, 5) = 252 assignments, enumerated by RandomizationInference


def _tied_codes() -> np.ndarray:
    """Three outcomes coded 0..3 (times a scale): many assignments give equal differences in means."""
    rng = np.random.default_rng(2)  # /tmp/review/p10.py, seed 2: the exact comparison changes the adjusted p-values
    return np.column_stack([rng.integers(0, 4, N_UNITS) for _ in range(3)])


def _brute_force_westfall_young(codes: np.ndarray, treated: np.ndarray) -> np.ndarray:
    """Westfall-Young free step-down min-p over all 252 assignments, in exact integer arithmetic.

    The two-sided statistic is |sum over treated - sum over control| of the integer codes (the difference in means
    times N_TREATED / scale), so ties are exact. p-values of the observed data and of every assignment are counts of
    assignments at least as extreme over 252 (an enumeration contains the observed assignment; Westfall and Young
    1993, Algorithm 2.8); p-values are compared through their integer counts.
    """
    assignments = [np.isin(np.arange(N_UNITS), idx) for idx in combinations(range(N_UNITS), N_TREATED)]
    stat = np.array([[abs(int(c[z].sum() - c[~z].sum())) for c in codes.T] for z in assignments])  # (252, 3)
    observed = np.array([abs(int(c[treated].sum() - c[~treated].sum())) for c in codes.T])
    n_draws, m = stat.shape
    p_obs = np.array([(stat[:, j] >= observed[j]).sum() for j in range(m)])  # counts
    p_null = np.array([[(stat[:, j] >= stat[b, j]).sum() for j in range(m)] for b in range(n_draws)])
    order = sorted(range(m), key=lambda j: p_obs[j])  # stable, as np.argsort(kind="stable")
    raw = []
    for s, j in enumerate(order):
        rest = order[s:]
        raw.append(sum(1 for b in range(n_draws) if min(p_null[b, r] for r in rest) <= p_obs[j]) / n_draws)
    adjusted = np.minimum(np.maximum.accumulate(raw), 1.0)
    out = np.empty(m)
    out[order] = adjusted
    return out


@pytest.mark.parametrize("scale", [0.1, 0.1e-11])
def test_westfall_young_randomization_equals_brute_force_with_ties(scale: float) -> None:
    codes = _tied_codes()
    treated = np.array([1, 0] * (N_UNITS // 2), dtype=bool)
    data = pd.DataFrame({"t": treated.astype(int), **{f"y{j}": codes[:, j] * scale for j in range(3)}})
    outcomes = [f"y{j}" for j in range(3)]
    res = ek.RandomizedTrial(data, treatment="t").estimate(
        outcomes, inference=ek.inference.RandomizationInference(statistic="estimate", confidence_interval=False)
    )
    table = res.adjust("westfall_young").to_frame().set_index("outcome").loc[outcomes]
    # SOURCE: brute force over the 252 assignments in exact integer arithmetic (docstring above); the outcome codes
    # times 0.1 (and that outcome times 1e-11: the adjusted p-values are scale invariant) must give these numbers.
    # TOLERANCE: 1e-12 absolute (p-values are counts over 252).
    expected = _brute_force_westfall_young(codes, treated)
    np.testing.assert_allclose(table["p_adjusted"].to_numpy(), expected, rtol=0, atol=1e-12)


def test_count_at_least_as_extreme_is_the_scalar_rule() -> None:
    # SOURCE: at_least_as_extreme(observed[i], draws, direction).sum(), the documented rule, for every i; draws with
    # exact ties, ties up to rounding, NaN and infinite values. TOLERANCE: exact (integer counts).
    draws = np.array([0.3, 0.1 + 0.2, -0.3, 0.7, np.nan, np.inf, -np.inf, 0.0, 1e-3, -0.7000000000000001])
    observed = np.r_[draws, 0.5, -2.0]
    for direction in ("greater", "less", "two-sided"):
        expected = [int(at_least_as_extreme(t, draws, direction).sum()) if np.isfinite(t) else None for t in observed]
        got = _pvalue.count_at_least_as_extreme(observed, draws, direction)
        finite = np.isfinite(observed)
        np.testing.assert_array_equal(got[finite], np.array([e for e in expected if e is not None]))
    # An infinite observed value ties only with equally infinite draws (tolerance 0, no inf - inf = NaN).
    assert _pvalue.count_at_least_as_extreme(np.array([np.inf]), draws, "greater")[0] == 1
    assert _pvalue.count_at_least_as_extreme(np.array([np.nan]), draws, "greater")[0] == 0


def test_infinite_observed_statistic_ties_with_infinite_draws() -> None:
    # SOURCE: definition (T* >= T counts as extreme; inf >= inf). Before: inf - inf = NaN made every draw False.
    got = at_least_as_extreme(np.inf, np.array([1.0, np.inf, np.nan]), "greater")
    np.testing.assert_array_equal(got, [False, True, False])


# ----------------------------------------------------------------------------------------------------------
# finding 6: the Bell-McCaffrey df of weighted HC2, one working model
# ----------------------------------------------------------------------------------------------------------


def _weighted_design() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)  # /tmp/review/p6.py
    n = 30
    X = np.column_stack([np.ones(n), rng.integers(0, 2, n), rng.normal(size=n)])
    w = rng.uniform(0.2, 3, n)
    e = rng.normal(size=n)
    return X, w, e


def _brute_hc2_df(X: np.ndarray, w: np.ndarray, c: np.ndarray) -> float:
    """Satterthwaite df of c'V^{HC2}c under the working model Var(sqrt(w) e) = sigma^2 I (n x n matrices).

    HC2 on the transformed rows Xt = sqrt(w) X: c'Vc = sum_i (p_i' eps)^2 with P = (I - H) diag(a), H the hat matrix
    of Xt and a_i = (Xt B c)_i / sqrt(1 - h_ii); df = tr(P'P)^2 / tr((P'P)^2) (Bell and McCaffrey 2002; Imbens and
    Kolesar 2016).
    """
    Xt = X * np.sqrt(w)[:, None]
    B = np.linalg.inv(Xt.T @ Xt)
    H = Xt @ B @ Xt.T
    P = (np.eye(len(w)) - H) @ np.diag((Xt @ B @ c) / np.sqrt(1.0 - np.diag(H)))
    PP = P.T @ P
    return float(np.trace(PP) ** 2 / np.sum(PP * PP))


def test_weighted_hc2_bell_mccaffrey_df_is_one_number() -> None:
    X, w, e = _weighted_design()
    hc2 = sandwich(X, e, "HC2", weights=w, df_method="bell_mccaffrey")
    for j in range(3):
        c = np.eye(3)[j]
        # SOURCE: brute force above (the df of the HC2 estimator that sandwich() reports). TOLERANCE: 1e-10 relative.
        expected = _brute_hc2_df(X, w, c)
        np.testing.assert_allclose(hc2.df[j], expected, rtol=1e-10)
        # bell_mccaffrey_df with clusters=None is "the df of the HC2 t test": the same number by default.
        np.testing.assert_allclose(bell_mccaffrey_df(X, c, weights=w), expected, rtol=1e-10)
    # The identity working model with singleton clusters is another estimator (clubSandwich's default vcovCR with
    # cluster = 1:n); it stays available explicitly and differs here (6.32 vs 8.99 for the coefficient of z).
    identity = bell_mccaffrey_df(X, np.eye(3)[1], weights=w, working_model="identity")
    assert not np.isclose(identity, hc2.df[1], rtol=1e-3)
    # With clusters the default stays CR2's identity model (as sandwich()).
    cl = np.repeat(np.arange(10), 3)
    np.testing.assert_allclose(
        bell_mccaffrey_df(X, np.eye(3)[1], weights=w, clusters=cl),
        sandwich(X, e, "CR2", weights=w, clusters=cl).df[1],
        rtol=1e-10,
    )


# ----------------------------------------------------------------------------------------------------------
# finding 8: joint test of HC2 with Bell-McCaffrey df
# ----------------------------------------------------------------------------------------------------------


def _three_groups() -> LinearFit:
    rng = np.random.default_rng(8)
    sizes = (8, 12, 4)  # the smallest Bell-McCaffrey df is the second term's
    g = np.repeat([0, 1, 2], sizes)
    y = np.array([0.0, 0.6, -0.4])[g] + rng.normal(size=g.size) * np.array([1.0, 2.0, 0.5])[g]
    X = np.column_stack([np.ones(g.size), g == 1, g == 2]).astype(float)
    coef = np.linalg.lstsq(X, y, rcond=None)[0]
    return LinearFit(coef=coef, X=X, y=y, residuals=y - X @ coef, term_names=("(Intercept)", "g1", "g2"), target=1)


def _group_closed_form(fit: LinearFit) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """b, V^{HC2}, Bell-McCaffrey df of each difference, group sizes of y ~ 1 + g1 + g2 (closed forms).

    In the saturated one-way model the coefficients are m_j - m_0 and HC2 gives v_g = s_g^2 / n_g per group, so
    V = [[v1 + v0, v0], [v0, v2 + v0]]; c'Vc = v_j + v_0 is a sum of independent scaled chi-squares under
    homoskedasticity, so its Satterthwaite (Bell-McCaffrey) df is (1/n_j + 1/n_0)^2 / (1/(n_j^2 (n_j-1)) +
    1/(n_0^2 (n_0-1))) (Imbens and Kolesar 2016, Sec. 4).
    """
    g = (fit.X[:, 1] + 2 * fit.X[:, 2]).astype(int)
    n = np.array([(g == k).sum() for k in range(3)], dtype=float)
    m = np.array([fit.y[g == k].mean() for k in range(3)])
    v = np.array([fit.y[g == k].var(ddof=1) for k in range(3)]) / n
    b = m[1:] - m[0]
    V = np.array([[v[1] + v[0], v[0]], [v[0], v[2] + v[0]]])
    dfs = np.array(
        [(1 / n[j] + 1 / n[0]) ** 2 / (1 / (n[j] ** 2 * (n[j] - 1)) + 1 / (n[0] ** 2 * (n[0] - 1))) for j in (1, 2)]
    )
    return b, V, dfs, n


def test_hc2_bell_mccaffrey_joint_test_is_hotelling() -> None:
    fit = _three_groups()
    b, V, dfs, _ = _group_closed_form(fit)
    W = float(b @ np.linalg.solve(V, b))
    q, eta = 2, float(dfs.min())
    assert dfs.argmin() == 1  # the first term's df is not the smallest: the old code took it
    got = Sandwich("HC2", df="bell_mccaffrey").joint_test(fit, InferenceContext(alpha=0.05), [1, 2])
    # SOURCE: closed form (docstring of _group_closed_form) and the Hotelling T^2 approximation
    # F = W (eta - q + 1) / (eta q) on (q, eta - q + 1), eta = min Bell-McCaffrey df (Pustejovsky and Tipton 2018,
    # Sec. 3.3), as CR2's joint test. TOLERANCE: 1e-10 relative.
    np.testing.assert_allclose(got.statistic, W * (eta - q + 1) / (eta * q), rtol=1e-10)
    np.testing.assert_allclose(got.df_denom, eta - q + 1, rtol=1e-10)
    np.testing.assert_allclose(got.p_value, stats.f.sf(W * (eta - q + 1) / (eta * q), q, eta - q + 1), rtol=1e-10)
    assert got.df_num == q
    assert "Hotelling" in got.method and "Bell-McCaffrey" in got.method


def test_hc2_default_joint_test_keeps_n_minus_k() -> None:
    fit = _three_groups()
    b, V, _, n = _group_closed_form(fit)
    W = float(b @ np.linalg.solve(V, b))
    got = Sandwich("HC2").joint_test(fit, InferenceContext(alpha=0.05), [1, 2])
    # SOURCE: closed form, F = W / q on (q, n - k) (Wald F; n - k = 24 - 3). TOLERANCE: 1e-10 relative.
    np.testing.assert_allclose(got.statistic, W / 2, rtol=1e-10)
    assert got.df_denom == n.sum() - 3
    assert got.method == "Wald F with n - K df"


# ----------------------------------------------------------------------------------------------------------
# finding 22: DiDTreatmentDesign validates its input
# ----------------------------------------------------------------------------------------------------------


def _panel_columns(n_units: int = 4, n_periods: int = 3) -> dict:
    units = np.repeat(np.arange(n_units), n_periods)
    periods = np.tile(np.arange(n_periods), n_units)
    fixed = (periods[:, None] == np.arange(1, n_periods)).astype(float)
    return {"fixed": fixed, "units": units, "periods": periods}


@pytest.mark.parametrize("missing", ["units", "periods", "window"])
def test_event_study_design_needs_its_inputs(missing: str) -> None:
    cols = _panel_columns()
    kwargs = {**cols, "event_times": (0, 1), "window": (-1, 1)}
    kwargs[missing] = None
    with pytest.raises(EstimationError, match=missing):
        DiDTreatmentDesign("event_study", varying_columns=(0, 1), target=0, **kwargs)


def test_did_treatment_design_refuses_inconsistent_input() -> None:
    cols = _panel_columns()
    with pytest.raises(EstimationError, match="window"):
        DiDTreatmentDesign("event_study", varying_columns=(0, 1), target=0, event_times=(0, 1), window=(1, -1), **cols)
    with pytest.raises(EstimationError, match="event_times"):
        DiDTreatmentDesign("event_study", varying_columns=(0, 1), target=0, event_times=(0,), window=(-1, 1), **cols)
    with pytest.raises(EstimationError, match="periods has shape"):
        DiDTreatmentDesign(
            "event_study",
            cols["fixed"],
            (0, 1),
            0,
            units=cols["units"],
            periods=cols["periods"][:-1],
            event_times=(0, 1),
            window=(-1, 1),
        )
    with pytest.raises(EstimationError, match="varying_columns"):
        DiDTreatmentDesign("twfe", cols["fixed"], (0, 1), 0, units=cols["units"])
    assert issubclass(EstimationError, EvalkitError)
    # A consistent event-study design still builds its columns (unit 0 first treated in period 1: event times 0, 1).
    ok = DiDTreatmentDesign("event_study", varying_columns=(0, 1), target=0, event_times=(0, 1), window=(-1, 1), **cols)
    z = (cols["units"] == 0) & (cols["periods"] >= 1)
    V = ok.varying(z[None, :].astype(float))[0]
    # SOURCE: by hand, unit 0's rows at periods 1 and 2 are event times 0 and 1. TOLERANCE: exact.
    np.testing.assert_array_equal(V[:3], [[0, 0], [1, 0], [0, 1]])
    assert V[3:].sum() == 0
