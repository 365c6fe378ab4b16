"""``ek.planning`` against printed and published numbers and the closed forms they come from.

Sources
-------
- R pwr 1.3-0, ``pwr.t2n.test(n1 = 41, n2 = 19, sig.level = .05, power = .8)`` prints ``d = 0.7906964`` (pwr finds d
  with ``uniroot`` at tol ~1.2e-4, so it is good to about 1e-4; evalkit solves to 1e-12). Other printed pwr values
  below were produced by the same package (``test_against_pwr.py`` recomputes them live).
- PowerUpR (Bulus, Dong, Kelcey & Spybrook; R implementation of PowerUp!, Dong & Maynard 2013): the cross-check
  examples of its manual (``man/cra2.Rd``: ``mdes.cra2(rho2=.17, n=15, J=20)``, ``mdes.bcra3f2(rho2=.10, n=20,
  J=44, K=5)`` with ``mrss.bcra3f2(es=.145, rho2=.10, n=20, K=5)``) and its printed output for
  ``mdes.bira2c1(n=15, J=20)`` and ``mdes.ira1r1(n=250)``: MDES, degrees of freedom and standardized standard
  error, printed to three decimals. PowerUp! computes the MDES with the multiplier
  ``M = t_{1-a/2,df} + t_{power,df}``: ``method="multiplier"`` here.
- Bloom (1995, 2005): the multiplier for a two-sided 5% test with 80% power tends to 2.80 as df grows.
"""

from __future__ import annotations

import math

import pytest
from scipy import stats

import evalkit as ek

PRINTED_3 = 5e-4  # TOLERANCE for numbers printed to three decimals
POWER_D09_A01 = 0.717021492228  # pwr.t2n.test(41, 19, d = 0.9, sig.level = .01)$power, printed with digits = 12
MDE_P08_A01 = 0.976505110586  # pwr.t2n.test(41, 19, power = .8, sig.level = .01)$d


def test_unequal_allocation_41_19_equals_pwr_t2n_test() -> None:
    res = ek.planning.mde(n_treated=41, n_control=19, alpha=0.05, power=0.8)
    # SOURCE: pwr.t2n.test(n1=41, n2=19, power=.8) prints d = 0.7906964. TOLERANCE: 1e-4 (pwr's uniroot tol).
    assert res.mde == pytest.approx(0.7906964, abs=1e-4)
    assert round(res.mde, 4) == 0.7907
    assert res.df == 58 and res.design == "individual" and res.method == "exact"
    # SOURCE: pwr.t2n.test(n1=41, n2=19, d=0.5)$power = 0.4254598845 (printed, digits=10). TOLERANCE: 1e-9.
    assert ek.planning.power(0.5, n_treated=41, n_control=19).power == pytest.approx(0.4254598845, abs=1e-9)
    # SOURCE: pwr.t2n.test(41, 19, d=0.5, alternative="greater")$power = 0.55396848. TOLERANCE: 1e-8.
    one = ek.planning.power(0.5, n_treated=41, n_control=19, alternative="one-sided")
    assert one.power == pytest.approx(0.55396848, abs=1e-8)
    # SOURCE: pwr.t2n.test(41, 19, power=.9, sig.level=.01)$d = 1.102331848. TOLERANCE: 1e-4 (uniroot tol).
    assert ek.planning.mde(n_treated=41, n_control=19, power=0.9, alpha=0.01).mde == pytest.approx(1.10233, abs=1e-4)


def test_exact_individual_power_is_the_noncentral_t_closed_form() -> None:
    # Closed form: P(|T| > t_{.975,58}), T ~ t(58, d / sqrt(1/41 + 1/19)). TOLERANCE: 1e-12.
    d, df = 0.6, 58
    ncp = d / math.sqrt(1 / 41 + 1 / 19)
    c = stats.t.ppf(0.975, df)
    expected = stats.nct.sf(c, df, ncp) + stats.nct.cdf(-c, df, ncp)
    assert ek.planning.power(d, n_treated=41, n_control=19).power == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "mdes", "df", "sse"),
    [
        # SOURCE: PowerUpR mdes.cra2r2(rho2=.17, n=15, J=20): MDES 0.629, df 18, SSE 0.212 (CRA2_2r).
        ({"n_clusters": 20, "cluster_size": 15, "icc": 0.17}, 0.629, 18, 0.212),
        # SOURCE: PowerUpR mdes.bcra3f2(rho2=.10, n=20, J=44, K=5): MDES 0.145, df 210, SSE 0.051 (BCRA3_2f).
        ({"n_clusters": 5 * 44, "cluster_size": 20, "n_blocks": 5, "icc": 0.10}, 0.145, 210, 0.051),
        # SOURCE: PowerUpR mdes.bira2c1(n=15, J=20): MDES 0.325, df 279, SSE 0.115 (BIRA2_1c).
        ({"n": 15 * 20, "n_blocks": 20}, 0.325, 279, 0.115),
        # SOURCE: PowerUpR mdes.ira1r1(n=250): MDES 0.356, df 248, SSE 0.126 (IRA).
        ({"n": 250}, 0.356, 248, 0.126),
    ],
)
def test_powerup_printed_examples(kwargs, mdes, df, sse) -> None:
    res = ek.planning.mde(method="multiplier", **kwargs)
    # TOLERANCE: 5e-4, the rounding of the printed three decimals; df exact.
    assert res.mde == pytest.approx(mdes, abs=PRINTED_3)
    assert res.standard_error == pytest.approx(sse, abs=PRINTED_3)
    assert res.df == df


def test_cluster_mde_equals_dong_maynard_closed_form_with_covariates_and_unequal_allocation() -> None:
    # Closed form CRA2_2r (Dong & Maynard 2013; Bloom 2005 eq. 4.x): M_{J-g-2} sqrt(rho(1-R2_2)/(P(1-P)J)
    # + (1-rho)(1-R2_1)/(P(1-P)Jn)), written out here independently. TOLERANCE: 1e-12 relative.
    J, n, rho, p, r22, r21, g = 60, 25, 0.12, 0.3, 0.45, 0.2, 3
    df = J - g - 2
    m = stats.t.ppf(0.975, df) + stats.t.ppf(0.8, df)
    se = math.sqrt(rho * (1 - r22) / (p * (1 - p) * J) + (1 - rho) * (1 - r21) / (p * (1 - p) * J * n))
    res = ek.planning.mde(
        n_clusters=J,
        cluster_size=n,
        icc=rho,
        share_treated=p,
        r2_cluster=r22,
        r2_individual=r21,
        n_cluster_covariates=g,
        method="multiplier",
    )
    assert res.mde == pytest.approx(m * se, rel=1e-12)
    assert res.df == df
    # Attrition shrinks the cluster size: 25 people with 20% attrition are 20 analysed people.
    lost = ek.planning.mde(
        n_clusters=J,
        cluster_size=n,
        icc=rho,
        share_treated=p,
        r2_cluster=r22,
        r2_individual=r21,
        n_cluster_covariates=g,
        method="multiplier",
        attrition=0.2,
    )
    se20 = math.sqrt(rho * (1 - r22) / (p * (1 - p) * J) + (1 - rho) * (1 - r21) / (p * (1 - p) * J * 20))
    assert lost.mde == pytest.approx(m * se20, rel=1e-12)
    # Take-up 0.6: the complier MDE is the ITT MDE / 0.6 (Bloom 1984). TOLERANCE: 1e-12 relative.
    cace = ek.planning.mde(
        n_clusters=J,
        cluster_size=n,
        icc=rho,
        share_treated=p,
        r2_cluster=r22,
        r2_individual=r21,
        n_cluster_covariates=g,
        method="multiplier",
        take_up=0.6,
    )
    assert cace.mde == pytest.approx(m * se / 0.6, rel=1e-12)


def test_powerup_sample_size_cross_checks() -> None:
    # SOURCE: PowerUpR man/cra2.Rd cross-check, mrss.bcra3f2(es=.145, rho2=.10, n=20, K=5) gives J = 44 clusters
    # per block: 220 clusters in all. Exact integer.
    res = ek.planning.sample_size(mde=0.145, cluster_size=20, n_blocks=5, icc=0.10, method="multiplier")
    assert res.sample_size == 220 and res.sample_unit == "clusters"
    assert res.power >= 0.8
    # SOURCE: mrss.cra2(es=.629, rho2=.17, n=15) -> J = 20. The MDES at J = 20 is 0.62901 (printed 0.629), so the
    # smallest J whose MDES is at most the target is 20 for a target of 0.6291 and 21 for exactly 0.629.
    assert ek.planning.sample_size(mde=0.6291, cluster_size=15, icc=0.17, method="multiplier").sample_size == 20
    assert ek.planning.sample_size(mde=0.629, cluster_size=15, icc=0.17, method="multiplier").sample_size == 21


def test_bloom_multiplier_tends_to_2_80() -> None:
    # SOURCE: Bloom (1995; 2005, ch. 4): M = 2.80 for a two-sided 5% test with 80% power and many df.
    # TOLERANCE: 5e-3 (printed to two decimals). The MDE of a design with SE 1 is M.
    res = ek.planning.mde(n=4e7, share_treated=0.5, method="multiplier")
    assert res.mde / res.standard_error == pytest.approx(2.80, abs=5e-3)


def test_exact_and_multiplier_agree_for_large_df_and_differ_for_small() -> None:
    # Property: with many df both methods give the normal-theory MDE (z_.975 + z_.8) SE; with 8 df the exact
    # noncentral-t MDE differs (the multiplier ignores the lower rejection tail and the noncentral shape).
    big = {"n_clusters": 4000, "cluster_size": 20, "icc": 0.1}
    assert ek.planning.mde(**big).mde == pytest.approx(ek.planning.mde(method="multiplier", **big).mde, rel=2e-3)
    small = {"n_clusters": 10, "cluster_size": 20, "icc": 0.1}
    gap = abs(ek.planning.mde(**small).mde - ek.planning.mde(method="multiplier", **small).mde)
    assert gap > 1e-3


def test_far_tail_power_is_finite_regression() -> None:
    # Regression: scipy's nct.cdf(-2.66, 58, 7.02) is NaN, which broke the root search of mde() at alpha = .01
    # ("The function value at x=7.02... is NaN"), and power(), which reports the MDE too.
    # SOURCE: pwr.t2n.test(41, 19, d=0.9, sig.level=.01)$power, evaluated without a root search, and
    # pwr.t2n.test(41, 19, power=.8, sig.level=.01)$d (uniroot tol ~1.2e-4), both R pwr 1.3-0.
    res = ek.planning.power(0.9, n_treated=41, n_control=19, alpha=0.01)
    assert res.power == pytest.approx(POWER_D09_A01, rel=1e-9)
    assert ek.planning.mde(n_treated=41, n_control=19, alpha=0.01).mde == pytest.approx(MDE_P08_A01, abs=2e-4)
