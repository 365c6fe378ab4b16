"""Rambachan-Roth (2023) sensitivity analysis and Roth (2022) pre-trend power.

References: the R HonestDiD README's Medicaid example (published intervals), the `honestdid` PyPI port and
moderndid's `didhonest` (a port of the R package) on the same betahat and sigma, closed forms.
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from evalkit import DiffInDiff
from evalkit.errors import EstimationError, EvalkitError, OptionError
from evalkit.inference.sensitivity import (
    SensitivityResult,
    bounded_breakdown,
    bounded_ci,
    flci,
    honest_sensitivity,
    pretrend_power,
    relative_magnitudes_ci,
)

# The R HonestDiD README (github.com/asheshrambachan/HonestDiD, "Example usage - Medicaid expansions"): TWFE event
# study of dins on i(year, D, ref = 2013) | stfips + year, clustered by stfips, 5 pre and 2 post periods; the
# intervals as printed (3 significant digits).
README_SD = {  # M: (lb, ub), FLCI
    0.00: ("0.0259", "0.0607"),
    0.01: ("0.0132", "0.0787"),
    0.02: ("0.00286", "0.0907"),
    0.03: ("-0.00714", "0.101"),
    0.04: ("-0.0171", "0.111"),
    0.05: ("-0.0271", "0.121"),
}
README_RM = {  # Mbar: (lb, ub), C-LF
    0.5: ("0.0240", "0.0672"),
    1.0: ("0.0170", "0.0720"),
    1.5: ("0.00824", "0.0797"),
    2.0: ("-0.000916", "0.0881"),
}


def printed_tolerance(text: str) -> float:
    """Half a unit in the last printed digit, plus 1e-4 (the README's covariance convention may differ slightly)."""
    decimals = len(text.split(".")[1])
    return 0.5 * 10.0**-decimals + 1e-4


@pytest.fixture(scope="module")
def medicaid():
    from moderndid.core.data import load_ehec

    df = load_ehec().to_pandas()
    df = df[(df.year < 2016) & (df.yexp2.isna() | (df.yexp2 != 2015))].copy()
    df["treated"] = ((df.yexp2 == 2014) & (df.year >= 2014)).astype(int)
    return df


@pytest.fixture(scope="module")
def medicaid_es(medicaid):
    res = DiffInDiff(medicaid, treatment="treated", unit="stfips", time="year").estimate(
        "dins", estimator="event_study", inference="CR1"
    )
    tab = res.to_frame()
    return res, tab["estimate"].to_numpy(), res.vcov("dins").to_numpy()


def test_medicaid_event_study_is_the_readme_regression(medicaid, medicaid_es):
    pf = pytest.importorskip("pyfixest")
    d = medicaid.assign(D=(medicaid.yexp2 == 2014).astype(float))
    ref = pf.feols("dins ~ i(year, D, ref=2013) | stfips + year", data=d, vcov={"CRV1": "stfips"})
    _, b, V = medicaid_es
    # SOURCE: pyfixest, the README's fixest call. TOLERANCE: 1e-10 absolute.
    np.testing.assert_allclose(b, ref.coef().to_numpy(), atol=1e-10)
    np.testing.assert_allclose(V, ref._vcov, atol=1e-10)


def test_flci_matches_readme(medicaid_es):
    _, b, V = medicaid_es
    for M, (lo, hi) in README_SD.items():
        ours = flci(b, V, 5, M)
        # SOURCE: R HonestDiD README (printed digits). TOLERANCE: half a unit in the last digit + 1e-4.
        assert ours.lb == pytest.approx(float(lo), abs=printed_tolerance(lo))
        assert ours.ub == pytest.approx(float(hi), abs=printed_tolerance(hi))


@pytest.mark.slow
@pytest.mark.parametrize("M", [0.01, 0.03])
def test_flci_matches_honestdid(medicaid_es, M):
    # optional local check: honestdid pulls torch, cvxpy and CUDA wheels, so CI does not install it (the published
    # README intervals and the M = 0 closed form above check the FLCI in CI)
    hd = pytest.importorskip(
        "honestdid", reason="honestdid is not a test dependency (it pulls torch); pip install honestdid"
    )
    _, b, V = medicaid_es
    ours = flci(b, V, 5, M)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = hd.find_optimal_flci(b, V, M=M, numPrePeriods=5, numPostPeriods=2)["FLCI"]
    # SOURCE: honestdid 0.1.1 find_optimal_flci on the same betahat/sigma. TOLERANCE: 1e-4 (measured 1.5e-5: its
    # search over the standard deviation is approximate; ours is at the optimum, see the closed form below).
    assert ours.lb == pytest.approx(theirs[0], abs=1e-4)
    assert ours.ub == pytest.approx(theirs[1], abs=1e-4)
    assert ours.ub - ours.lb <= theirs[1] - theirs[0] + 1e-6  # never longer than theirs


def test_flci_at_m0_is_the_shortest_unbiased_interval(medicaid_es):
    """M = 0: linear trends only; the FLCI is v'b +/- z sd with v the minimum-variance weights with v_post = l and
    v orthogonal to t (closed form from the Lagrangian)."""
    _, b, V = medicaid_es
    t = np.array([-5, -4, -3, -2, -1, 1, 2], dtype=float)
    l_vec = np.array([0.3, 0.7])
    tp, c = t[:5], -(l_vec @ t[5:])
    K = np.block([[2 * V[:5, :5], tp[:, None]], [tp[None, :], np.zeros((1, 1))]])
    w = np.linalg.solve(K, np.concatenate([-2 * V[:5, 5:] @ l_vec, [c]]))[:5]
    v = np.concatenate([w, l_vec])
    half = stats.norm.ppf(0.975) * np.sqrt(v @ V @ v)
    ours = flci(b, V, 5, 0.0, l_vec=l_vec)
    # SOURCE: closed form above. TOLERANCE: 1e-8 absolute.
    assert ours.lb == pytest.approx(v @ b - half, abs=1e-8)
    assert ours.ub == pytest.approx(v @ b + half, abs=1e-8)


def test_flci_grows_with_m_and_covers_the_identified_set(medicaid_es):
    _, b, V = medicaid_es
    lengths = [flci(b, V, 5, M).half_length for M in (0.0, 0.01, 0.02, 0.04)]
    assert np.all(np.diff(lengths) > 0)  # property: a larger Delta never gives a shorter interval
    r = flci(b, V, 5, 0.02)
    assert r.half_length >= stats.norm.ppf(0.975) * r.std_error  # at least the no-bias half-length


def test_relative_magnitudes_match_readme(medicaid_es):
    """The README's intervals were computed on HonestDiD's earlier grid, +/- 20 sd(theta-hat) around 0 in 1000
    points; on that grid the C-LF intervals agree to the printed digits."""
    _, b, V = medicaid_es
    sd = math.sqrt(V[5, 5])
    grid = np.linspace(-20 * sd, 20 * sd, 1000)
    for mbar, (lo, hi) in README_RM.items():
        ours = relative_magnitudes_ci(b, V, 5, mbar, grid=grid)
        # SOURCE: R HonestDiD README (printed digits). TOLERANCE: half a unit in the last digit + 1e-4 (the grid
        # step is 3.7e-4, so agreement this close means the same grid points are accepted).
        assert ours[0] == pytest.approx(float(lo), abs=printed_tolerance(lo))
        assert ours[1] == pytest.approx(float(hi), abs=printed_tolerance(hi))


@pytest.mark.slow
@pytest.mark.parametrize(("interval", "flag", "mbar"), [("Conditional", "ARP", 1.0), ("C-LF", "LF", 2.0)])
def test_relative_magnitudes_match_moderndid(medicaid_es, interval, flag, mbar):
    from moderndid.didhonest.delta.rm.rm import compute_conditional_cs_rm

    _, b, V = medicaid_es
    ours = relative_magnitudes_ci(b, V, 5, mbar, interval=interval, grid_points=200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = compute_conditional_cs_rm(b, V, 5, 2, m_bar=mbar, hybrid_flag=flag, grid_points=200)
    accepted = theirs["grid"][theirs["accept"] == 1]
    # SOURCE: moderndid 0.2.0 didhonest (port of R HonestDiD) on the same betahat, sigma and default grid.
    # TOLERANCE: 1e-10 — the same grid points are accepted (the least-favourable critical value is simulated
    # with different draws; here it does not change which grid points pass).
    assert ours[0] == pytest.approx(accepted.min(), abs=1e-10)
    assert ours[1] == pytest.approx(accepted.max(), abs=1e-10)


def test_relative_magnitudes_properties(medicaid_es):
    _, b, V = medicaid_es
    cond = [relative_magnitudes_ci(b, V, 5, m, interval="Conditional", grid_points=300) for m in (0.5, 1.0, 2.0)]
    # property: Delta^RM(Mbar) grows with Mbar, so the interval does too
    assert cond[0][0] >= cond[1][0] >= cond[2][0]
    assert cond[0][1] <= cond[1][1] <= cond[2][1]
    # property: same seed, same interval (no global random state)
    assert relative_magnitudes_ci(b, V, 5, 1.0, seed=3, grid_points=100) == relative_magnitudes_ci(
        b, V, 5, 1.0, seed=3, grid_points=100
    )


def test_results_sensitivity_is_the_function_on_vcov(medicaid_es):
    res, b, V = medicaid_es
    got = res.sensitivity(method="relative_magnitudes", mbar=[0.5, 1], grid_points=200)
    want = honest_sensitivity(b, V, 5, "relative_magnitudes", [0.5, 1], grid_points=200)
    assert got == want  # property: the method is the function on the table's estimates and res.vcov
    frame = got.to_frame()
    assert list(frame.columns) == ["method", "Mbar", "lb", "ub"]
    assert frame.iloc[0]["method"] == "Original"
    row = res.to_frame().set_index("term").loc["event_time::0"]
    # SOURCE: the table's own interval (CR1, df = G - 1) vs the normal one HonestDiD reports. TOLERANCE: the
    # estimate exactly; the original interval is the normal (z) one, as constructOriginalCS.
    assert got.original[0] == row["estimate"]
    assert got.original[1] == pytest.approx(row["std_error"], rel=1e-12)
    avg = res.sensitivity(method="smoothness", m=[0, 0.02], e="average")
    assert avg == honest_sensitivity(b, V, 5, "smoothness", [0, 0.02], l_vec=[0.5, 0.5])
    second = res.sensitivity(method="smoothness", m=0.01, e=1)
    assert second.lb[0] == flci(b, V, 5, 0.01, l_vec=[0, 1]).lb
    with pytest.raises(dataclasses.FrozenInstanceError):
        got.lb = ()  # type: ignore[misc]


def test_breakdown_and_plot(medicaid_es):
    res, b, V = medicaid_es
    sd = res.sensitivity(method="smoothness", m=[0, 0.01, 0.02, 0.03, 0.04])
    # README: "the breakdown value for a significant effect is M ~ 0.03"
    assert sd.breakdown == 0.03
    assert sd.lb[2] > 0 > sd.lb[3]
    robust = honest_sensitivity(b, V, 5, "smoothness", [0.0])
    assert robust.breakdown is None
    import matplotlib

    matplotlib.use("Agg")
    fig, ax = sd.plot()
    assert len(ax.collections) == 2
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_pretrend_power_closed_form_and_simulation(medicaid_es):
    res, _, V = medicaid_es
    S, t = V[:5, :5], np.arange(-5, 0, dtype=float)
    out = res.pretrend_power(slope=0.004)
    info = t @ np.linalg.solve(S, t)
    crit = stats.chi2.ppf(0.95, 5)
    # SOURCE: noncentral chi-square, noncentrality slope^2 t'S^-1 t. TOLERANCE: 1e-12.
    assert out.power == pytest.approx(stats.ncx2.sf(crit, 5, 0.004**2 * info), abs=1e-12)
    for target, slope in ((0.5, out.slope_50), (0.8, out.slope_80)):
        assert stats.ncx2.sf(crit, 5, slope**2 * info) == pytest.approx(target, abs=1e-9)
    # SOURCE: Monte Carlo of the Wald pre-test (200_000 draws, seed 1). TOLERANCE: 4 MC standard errors.
    rng = np.random.default_rng(1)
    draws = rng.multivariate_normal(out.slope_80 * t, S, size=200_000)
    wald = np.einsum("ij,ij->i", draws @ np.linalg.inv(S), draws)
    assert np.mean(wald > crit) == pytest.approx(0.8, abs=4 * math.sqrt(0.16 / 200_000))
    assert pretrend_power(S, t, slope=0.0).power == pytest.approx(0.05)


def test_refusals(medicaid, medicaid_es):
    res, b, V = medicaid_es
    with pytest.raises(OptionError, match="mbar"):
        res.sensitivity(mbar=[-0.5])
    with pytest.raises(OptionError, match="m="):
        res.sensitivity(method="relative_magnitudes", m=[1])
    with pytest.raises(OptionError, match="e=7"):
        res.sensitivity(method="smoothness", m=0.01, e=7)
    with pytest.raises(OptionError, match="method"):
        res.sensitivity(method="linear")
    did = DiffInDiff(medicaid, treatment="treated", unit="stfips", time="year")
    with pytest.raises(EstimationError, match="not an event study"):
        did.estimate("dins", inference="CR1").sensitivity(mbar=1)
    # reference period at the window's edge: no omitted period between pre and post
    edge = did.estimate("dins", estimator="event_study", inference="CR1", reference_period=-6)
    with pytest.raises(EstimationError, match="reference period"):
        edge.sensitivity(mbar=1)
    with pytest.raises(EvalkitError, match="sigma"):
        honest_sensitivity(b, V[:3, :3], 5)
    with pytest.raises(OptionError, match="l_vec"):
        flci(b, V, 5, 0.0, l_vec=[0, 0])


def test_result_is_a_frozen_dataclass():
    r = SensitivityResult("smoothness", "FLCI", (0.0,), (1.0,), (2.0,), (1.5, 0.1, 1.3, 1.7), (1.0,))
    assert isinstance(r.to_frame(), pd.DataFrame)
    assert r.to_frame().columns[1] == "M"


def test_lp_path_equals_vertex_path(medicaid_es):
    """The ARP test by linear programs (used when the dual has too many candidate vertices to enumerate) and by
    vertex enumeration agree on every draw: two ways of computing the same conditional test (property)."""
    from evalkit.inference import sensitivity as sens

    _, b, V = medicaid_es
    rng = np.random.default_rng(7)
    Ginv = np.linalg.inv(sens._theta_basis(np.array([1.0, 0.0])))
    disagreements = 0
    for s, sign in ((0, 1.0), (2, -1.0), (4, 1.0)):
        A = sens._rm_rows(5, 2, 1.0, s, sign)
        AG = A[:, 5:] @ Ginv
        Sy, X = A @ V @ A.T, AG[:, 1:]
        vertices = sens._dual_vertices(np.column_stack([np.sqrt(np.diag(Sy)), X]))
        assert vertices is not None
        for theta in rng.uniform(-0.05, 0.15, size=15):
            y = A @ b - AG[:, 0] * theta
            for lf in (None, 2.5):
                lp = sens._arp_reject(y, X, Sy, 0.05, lf, 0.005)
                vx = sens._arp_reject_vertices(y, vertices, Sy, 0.05, lf, 0.005)
                disagreements += lp != vx
    assert disagreements == 0


@pytest.fixture(scope="module")
def ehec_staggered():
    from moderndid.core.data import load_ehec

    df = load_ehec().to_pandas()
    df["g"] = df.yexp2.fillna(0)
    return df


def test_callaway_santanna_dynamic_vcov_matches_moderndid(ehec_staggered):
    import moderndid as md
    import polars as pl

    from evalkit import StaggeredDiD

    res = StaggeredDiD(ehec_staggered, unit="stfips", time="year", cohort="g").estimate(
        "dins", estimator="callaway_santanna", control="not_yet_treated", aggregate="dynamic", base_period="universal"
    )
    data = pl.from_pandas(ehec_staggered.drop(columns="g")).with_columns(pl.col("yexp2").fill_null(3000))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        att = md.att_gt(
            data=data,
            yname="dins",
            tname="year",
            idname="stfips",
            gname="yexp2",
            control_group="notyettreated",
            base_period="universal",
        )
        es = md.aggte(att, type="dynamic")
    psi = np.asarray(es.influence_func)
    keep = np.asarray(es.event_times) != -1  # the universal base period's row, 0 by construction
    ref = (psi.T @ psi / psi.shape[0] ** 2)[np.ix_(keep, keep)]
    ours = res.vcov("dins")
    # SOURCE: moderndid 0.2.0 aggte(type="dynamic") influence functions, V = psi'psi / n^2 (as the R README's
    # honest_did.AGGTEobj). TOLERANCE: 1e-12 absolute (entries ~5e-4).
    np.testing.assert_allclose(ours.to_numpy(), ref, atol=1e-12)
    assert ours.index[0] == "event -11" and "event -1" not in ours.index
    beta = np.asarray(es.att_by_event)[keep]
    got = res.sensitivity(method="smoothness", m=[0.0, 0.01])
    npre = int((np.asarray(es.event_times)[keep] < -1).sum())
    want = honest_sensitivity(beta, ref, npre, "smoothness", [0.0, 0.01])
    # property: the method is the function on moderndid's aggregated estimates and influence covariance.
    # TOLERANCE: 1e-9 (the two covariances differ by 1e-19 in summation order).
    np.testing.assert_allclose(got.lb + got.ub, want.lb + want.ub, atol=1e-9)
    varying = StaggeredDiD(ehec_staggered, unit="stfips", time="year", cohort="g").estimate(
        "dins", estimator="callaway_santanna", aggregate="dynamic"
    )
    with pytest.raises(EstimationError, match="universal"):
        varying.sensitivity(mbar=1)


def test_sun_abraham_vcov_and_sensitivity(ehec_staggered):
    from evalkit import StaggeredDiD

    res = StaggeredDiD(ehec_staggered, unit="stfips", time="year", cohort="g").estimate(
        "dins", estimator="sun_abraham", inference="CR1"
    )
    tab = res.to_frame()
    V = res.vcov("dins")
    # property: the joint covariance's diagonal is the table's squared standard errors (same sandwich, same
    # aggregation). TOLERANCE: 1e-12 relative.
    np.testing.assert_allclose(np.sqrt(np.diag(V)), tab.set_index("term").loc[V.index, "std_error"], rtol=1e-12)
    times = tab.set_index("term").loc[V.index, "event_time"].to_numpy()
    got = res.sensitivity(method="smoothness", m=0.01, e=1)
    want = honest_sensitivity(
        tab.set_index("term").loc[V.index, "estimate"].to_numpy(),
        V.to_numpy(),
        int((times < -1).sum()),
        "smoothness",
        [0.01],
        l_vec=(times[times > -1] == 1).astype(float),
    )
    assert got == want


# ------------------------------------------------------------------ bounded variation (no pre-period needed)
@pytest.mark.parametrize(("b", "sd", "m"), [(2.0, 1.0, 0.0), (2.0, 1.0, 0.5), (-0.3, 0.1, 0.25), (0.05, 0.2, 3.0)])
def test_bounded_ci_is_the_folded_normal_interval(b, sd, m):
    # SOURCE: closed form, scipy.stats.foldnorm (|N(c, 1)|, c = bias / sd): b +/- sd q_{1-alpha}(|N(M/sd, 1)|)
    # (Armstrong and Kolesar 2018's FLCI with a known bias bound); M = 0: the normal interval. TOLERANCE: 1e-10.
    got = bounded_ci([b], [[sd**2]], 0, m)
    half = sd * (stats.foldnorm.ppf(0.95, m / sd) if m > 0 else stats.norm.ppf(0.975))
    assert (got.lb, got.ub) == (pytest.approx(b - half, abs=1e-10), pytest.approx(b + half, abs=1e-10))
    assert got.max_bias == m and got.std_error == pytest.approx(sd, rel=1e-14)


def test_bounded_breakdown_is_where_the_interval_reaches_zero(medicaid_es):
    _, b, V = medicaid_es
    # property: at the breakdown M the interval's near end is 0 (TOLERANCE 1e-10); below it 0 is excluded, above
    # it included; an insignificant effect breaks down at 0. The pre-periods are not used (num_pre only places the
    # post block), and an average target's bias is M times sum |l|.
    for lv in ([1.0, 0.0], [0.5, 0.5], [0.0, 1.0]):
        m_star = bounded_breakdown(b, V, 5, lv)
        assert m_star > 0
        assert bounded_ci(b, V, 5, m_star, lv).lb == pytest.approx(0.0, abs=1e-10)
        assert bounded_ci(b, V, 5, 0.99 * m_star, lv).lb > 0 > bounded_ci(b, V, 5, 1.01 * m_star, lv).lb
        post = bounded_ci(b[5:], V[5:, 5:], 0, m_star, lv)
        assert (post.lb, post.ub) == (bounded_ci(b, V, 5, m_star, lv).lb, bounded_ci(b, V, 5, m_star, lv).ub)
    assert bounded_breakdown([0.1], [[1.0]], 0) == 0.0
    res = honest_sensitivity(b, V, 5, "bounded", [0.0, 0.01])
    assert res.exact_breakdown == bounded_breakdown(b, V, 5) and res.parameter == "M" and res.interval == "FLCI"
    assert honest_sensitivity(b, V, 5, "smoothness", [0.0]).exact_breakdown is None


@pytest.fixture(scope="module")
def vraem_event():
    import evalkit as ek

    did = ek.DiffInDiff(
        ek.datasets.load_vraem(),
        treatment="treated_post",
        unit="household_id",
        time="wave",
        clusters="community",
        blocks="district",
    )
    return did.estimate("social_capital", estimator="event_study", reference_period=-1)


def test_baseline_endline_event_study_takes_bounded_and_refuses_the_rest(vraem_event):
    # property: with one post-period coefficient and no pre-period one, method="bounded" is the function on the
    # table's estimate and vcov; relative magnitudes, smoothness and the pre-trend power are refused by name.
    got = vraem_event.sensitivity("bounded", m=[0.0, 1.0, 5.0])
    b, V = vraem_event.to_frame()["estimate"].to_numpy(), vraem_event.vcov("social_capital").to_numpy()
    assert got == honest_sensitivity(b, V, 0, "bounded", [0.0, 1.0, 5.0])
    assert got.breakdown == 5.0 and 1.0 < got.exact_breakdown < 5.0
    for call in (
        lambda: vraem_event.sensitivity(mbar=1),
        lambda: vraem_event.sensitivity("smoothness", m=0.1),
        vraem_event.pretrend_power,
    ):
        with pytest.raises(EstimationError, match="no pre-period coefficient") as info:
            call()
        assert "method='bounded'" in str(info.value)
    with pytest.raises(OptionError, match="mbar= belongs to the other method"):
        vraem_event.sensitivity("bounded", mbar=1)
