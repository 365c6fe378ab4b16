"""evalkit.inference.sandwich against numbers printed by other software, on data rebuilt exactly here.

No published CR2 (or Bell-McCaffrey df) figure with more than one observation per cluster was found on data
that can be rebuilt offline: the clubSandwich vignettes and the clubSandwich-Stata logs use MortalityRates,
AchievementAwardsRCT and dropoutPrevention (binary .RData/.dta, or robumeta weights), Stata 18's
``vce(hc2 clustvar, dfadjust)`` example uses nlswork, and estimatr / clubSandwich compare CR2 live against
each other rather than against stored values. What can be checked against printed output is:

- CR2 with one observation per cluster, which is HC2 by definition (Bell and McCaffrey 2002), against
  Stata's ``vce(hc2)`` and R estimatr's HC2;
- CR1 (Stata's small-sample factor) against Stata's ``vce(cluster)``, on the same data.
"""

from __future__ import annotations

import numpy as np

from evalkit.inference.sandwich import sandwich

from _references import ESTIMATR_SLEEP_HC2, KOLESAR_STATA

# ----------------------------------------------------------------------------------------------------------
# Kolesar's dfadjust test data, with Stata results hard-coded in the test
# ----------------------------------------------------------------------------------------------------------
#
# Source: github.com/kolesarm/Robust-Small-Sample-Standard-Errors, tests/testthat/test_clustervar.R,
# test "Test clustering if clusters out of order". The data are deterministic:
#     y = c(cos(0:9), tan(1:10)), x = c(sin(1:10), sin(2:11)),
#     clusters = factor(c(2, 1, 3, 2, 2, 3, 3, 1, 1, 2))   (recycled to the 20 rows by data.frame)
# and the expected values come from Stata (`reg y x, cluster(clusters)`, `reg y x, r`, `reg y x, vce(hc2)`,
# printed with esttab b(%11.10f) se(%11.10f)); they are tests/_references.py's KOLESAR_STATA, with their tolerance:
# 1e-10 absolute, one unit in the tenth (last printed) decimal; evalkit agrees to < 5e-11.

STATA_TOL = KOLESAR_STATA["tolerance"]


def _kolesar_data():
    y = np.r_[np.cos(np.arange(0, 10)), np.tan(np.arange(1, 11))]
    x = np.r_[np.sin(np.arange(1, 11)), np.sin(np.arange(2, 12))]
    clusters = np.tile([2, 1, 3, 2, 2, 3, 3, 1, 1, 2], 2)
    X = np.column_stack([np.ones(20), x])
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    return X, y - X @ beta, beta, clusters


def test_kolesar_data_coefficients_match_stata():
    _, _, beta, _ = _kolesar_data()
    np.testing.assert_allclose(beta, KOLESAR_STATA["coefficients"], rtol=0, atol=STATA_TOL)


def test_cr1_matches_stata_vce_cluster():
    X, e, _, clusters = _kolesar_data()
    cov = sandwich(X, e, "CR1", clusters=clusters)
    np.testing.assert_allclose(cov.std_errors, KOLESAR_STATA["se_cluster"], rtol=0, atol=STATA_TOL)
    assert cov.n_clusters == 3
    np.testing.assert_array_equal(cov.df, [2.0, 2.0])  # Stata's G - 1


def test_cr2_with_singleton_clusters_matches_stata_vce_hc2():
    # With every observation its own cluster, CR2 reduces to HC2: A_g = (1 - h_ii)^(-1/2).
    X, e, _, _ = _kolesar_data()
    expected = KOLESAR_STATA["se_hc2"]
    cr2 = sandwich(X, e, "CR2", clusters=np.arange(20))
    np.testing.assert_allclose(cr2.std_errors, expected, rtol=0, atol=STATA_TOL)
    # The cluster labels' order must not matter (the dfadjust test also permutes them).
    cr2_perm = sandwich(X, e, "CR2", clusters=np.r_[np.arange(10)[::-1], np.arange(10, 20)])
    np.testing.assert_allclose(cr2_perm.std_errors, expected, rtol=0, atol=STATA_TOL)
    np.testing.assert_allclose(cr2_perm.df, cr2.df, rtol=1e-12)
    hc2 = sandwich(X, e, "HC2")
    np.testing.assert_allclose(hc2.std_errors, expected, rtol=0, atol=STATA_TOL)


def test_hc1_matches_stata_robust():
    X, e, _, _ = _kolesar_data()
    cov = sandwich(X, e, "HC1")
    np.testing.assert_allclose(cov.std_errors, KOLESAR_STATA["se_robust"], rtol=0, atol=STATA_TOL)


# ----------------------------------------------------------------------------------------------------------
# Student's sleep data (R datasets::sleep), estimatr's printed HC2 output
# ----------------------------------------------------------------------------------------------------------
#
# Source: github.com/DeclareDesign/estimatr, tests/sleep.Rout.save (and tests/testthat/sleep-demo.txt):
#     > lm_robust(extra~group, sleep)
#                 Estimate Std. Error  t value   Pr(>|t|)   CI Lower CI Upper DF
#     (Intercept)     0.75  0.5657345 1.325710 0.20151554 -0.4385641 1.938564 18
#     group2          1.58  0.8490910 1.860813 0.07918671 -0.2038740 3.363874 18
# (lm_robust's default se_type is HC2.) The data are the 20 values of `extra` in R's datasets::sleep
# (Cushny and Peebles 1905, as tabulated by Student 1908), group 1 then group 2. The printed numbers are
# tests/_references.py's ESTIMATR_SLEEP_HC2, with their tolerance: 5e-8 absolute, half a unit in the seventh printed
# decimal.

SLEEP_EXTRA = np.array(
    [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0, 1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]
)
R_TOL = ESTIMATR_SLEEP_HC2["tolerance"]


def _sleep_fit():
    X = np.column_stack([np.ones(20), np.r_[np.zeros(10), np.ones(10)]])
    beta = np.linalg.lstsq(X, SLEEP_EXTRA, rcond=None)[0]
    return X, SLEEP_EXTRA - X @ beta, beta


def test_sleep_hc2_matches_estimatr():
    X, e, beta = _sleep_fit()
    np.testing.assert_allclose(beta, ESTIMATR_SLEEP_HC2["coefficients"], rtol=0, atol=1e-12)
    hc2 = sandwich(X, e, "HC2")
    np.testing.assert_allclose(hc2.std_errors, ESTIMATR_SLEEP_HC2["std_errors"], rtol=0, atol=R_TOL)
    np.testing.assert_array_equal(hc2.df, [ESTIMATR_SLEEP_HC2["df"]] * 2)


def test_sleep_cr2_with_singleton_clusters_matches_estimatr_hc2():
    X, e, _ = _sleep_fit()
    cr2 = sandwich(X, e, "CR2", clusters=np.arange(20))
    np.testing.assert_allclose(cr2.std_errors, ESTIMATR_SLEEP_HC2["std_errors"], rtol=0, atol=R_TOL)
    # Not printed by the source: the Bell-McCaffrey df under the homoskedastic working model are
    # n_1 - 1 = 9 for the group-1 mean and, with equal group sizes, (n_1 + n_2 - 2) = 18 for the difference.
    np.testing.assert_allclose(cr2.df, [9.0, 18.0], rtol=1e-10)
    assert cr2.df_method == "Bell-McCaffrey"
