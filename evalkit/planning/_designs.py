"""Variance of the impact estimator, in outcome standard-deviation units, for each planned design.

Each function returns the standard error of the intention-to-treat estimate when the outcome has unit variance
(the "standardized standard error" of Dong & Maynard, 2013) and the degrees of freedom of its t test. Sample sizes
enter as real numbers, as in PowerUp!: attrition shrinks the analysed sample continuously.

References
----------
Bloom, H. S. (2005). Randomizing groups to evaluate place-based programs. In *Learning More from Social
Experiments*, ch. 4. Russell Sage.
Dong, N., & Maynard, R. (2013). PowerUp!: A tool for calculating minimum detectable effect sizes and minimum
required sample sizes for experimental and quasi-experimental design studies. *Journal of Research on Educational
Effectiveness*, 6(1), 24-67. Designs IRA, BIRA2_1c, CRA2_2r and BCRA3_2f.
McKenzie, D. (2012). Beyond baseline and follow-up: the case for more T in experiments. *Journal of Development
Economics*, 99(2), 210-221.
Burlig, F., Preonas, L., & Woerman, M. (2020). Panel data and experimental design. *Journal of Development
Economics*, 144, 102458.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

__all__ = ["DesignName", "Sampling", "sampling"]

DesignName = Literal["individual", "blocked", "cluster", "blocked_cluster", "did"]


@dataclass(frozen=True)
class Sampling:
    """Standard error (outcome SD units, intention to treat) and t-test degrees of freedom of one design."""

    design: DesignName
    standard_error: float
    df: float
    formula: str


def individual(n: float, share: float, r2: float, covariates: int) -> Sampling:
    """IRA (Dong & Maynard 2013, eq. for IRA): ``SE^2 = (1 - R^2) / (P (1 - P) N)``, ``df = N - g - 2``."""
    se = math.sqrt((1 - r2) / (share * (1 - share) * n))
    return Sampling("individual", se, n - covariates - 2, "IRA: (1-R2)/(P(1-P)N), df = N - g - 2")


def blocked(n: float, blocks: int, share: float, r2: float, covariates: int) -> Sampling:
    """BIRA2_1c, constant effect with block fixed effects: same SE as IRA, ``df = N - B - g - 1``."""
    se = math.sqrt((1 - r2) / (share * (1 - share) * n))
    return Sampling("blocked", se, n - blocks - covariates - 1, "BIRA2_1c: (1-R2)/(P(1-P)N), df = N - B - g - 1")


def cluster(
    clusters: float, size: float, icc: float, share: float, r2_cluster: float, r2_individual: float, covariates: int
) -> Sampling:
    """CRA2_2r: ``SE^2 = rho (1-R2_2)/(P(1-P)J) + (1-rho)(1-R2_1)/(P(1-P)Jn)``, ``df = J - g - 2``."""
    pq = share * (1 - share)
    var = icc * (1 - r2_cluster) / (pq * clusters) + (1 - icc) * (1 - r2_individual) / (pq * clusters * size)
    return Sampling(
        "cluster",
        math.sqrt(var),
        clusters - covariates - 2,
        "CRA2_2r: rho(1-R2c)/(PQJ) + (1-rho)(1-R2i)/(PQJn), df = J - g - 2",
    )


def blocked_cluster(
    clusters: float,
    size: float,
    blocks: int,
    icc: float,
    share: float,
    r2_cluster: float,
    r2_individual: float,
    covariates: int,
) -> Sampling:
    """BCRA3_2f (fixed block effects): the CRA2_2r variance with ``J`` all clusters, ``df = K (J_k - 2) - g``."""
    pq = share * (1 - share)
    var = icc * (1 - r2_cluster) / (pq * clusters) + (1 - icc) * (1 - r2_individual) / (pq * clusters * size)
    df = clusters - 2 * blocks - covariates
    return Sampling(
        "blocked_cluster",
        math.sqrt(var),
        df,
        "BCRA3_2f: rho(1-R2c)/(PQJ) + (1-rho)(1-R2i)/(PQJn), J = all clusters, df = J - 2K - g",
    )


def did(
    clusters: float, size: float, icc: float, share: float, rho_cluster: float, rho_individual: float, covariates: int
) -> Sampling:
    """Two-period difference in differences with clusters (change scores).

    ``SE^2 = 2 [rho (1 - phi_c) + (1 - rho)(1 - phi_i) / n] / (P (1 - P) J)``, ``df = J - g - 2``; see
    :func:`evalkit.planning.mde` for the model.
    """
    pq = share * (1 - share)
    var = 2 * (icc * (1 - rho_cluster) + (1 - icc) * (1 - rho_individual) / size) / (pq * clusters)
    return Sampling(
        "did",
        math.sqrt(var),
        clusters - covariates - 2,
        "DiD (2 periods): 2[rho(1-phi_c) + (1-rho)(1-phi_i)/n]/(PQJ), df = J - g - 2",
    )


def sampling(
    design: DesignName,
    *,
    n: float | None,
    clusters: float | None,
    size: float | None,
    blocks: int | None,
    icc: float,
    share: float,
    r2_cluster: float,
    r2_individual: float,
    covariates: int,
    cluster_covariates: int,
    rho_cluster: float,
    rho_individual: float,
) -> Sampling:
    """Dispatch to the design's formula (sizes already net of attrition)."""
    if design == "individual":
        return individual(n, share, r2_individual, covariates)
    if design == "blocked":
        return blocked(n, blocks, share, r2_individual, covariates)
    if design == "cluster":
        return cluster(clusters, size, icc, share, r2_cluster, r2_individual, cluster_covariates)
    if design == "blocked_cluster":
        return blocked_cluster(clusters, size, blocks, icc, share, r2_cluster, r2_individual, cluster_covariates)
    return did(clusters, size, icc, share, rho_cluster, rho_individual, cluster_covariates)
