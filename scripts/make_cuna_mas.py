"""Generate the Cuna Más sample data set (``data/sample/cuna_mas.csv`` and ``cuna_mas.meta.json``).

The data are simulated, shaped after the impact evaluation of Cuna Más home visiting (Servicio de Acompañamiento a
Familias) by Araujo, Dormal, Grantham-McGregor, Lazarte, Rubio-Codina and Schady (J. Public Econ. Plus 2021;
AEARCTR-0000988; shared/STUDIES.md section 3): 180 districts in 12 departments (published) randomized to early or
late roll-out within departments, about 28 children under 3 per district (assumed; 5,040 in all, published: more
than 5,000), a baseline (2013) and a follow-up (2015) measurement of child development, about 10% of children lost
at follow-up (assumed), and a +0.10 SD effect on child development (published).

Model (all assumed). Domain ``k`` (cognitive, language, motor, socioemotional) of child ``i`` in district ``j`` is an
age-standardized z-score

    y0_ijk = m_k + female effect + u_j + w_jk + eta0_i + e0_ik                          (baseline)
    y1_ijk = m_k + female effect + tau_k early_j + u_j + w_jk + s_j + eta1_i + e1_ik     (follow-up)

with a district effect ``u_j`` shared by the domains (part of it explained by the district's poverty rate), a
domain-specific district effect ``w_jk``, a follow-up district shock ``s_j``, a child's developmental level
``eta`` (correlated over waves) and domain noise ``e``. The variances add to 1 at baseline, so a domain's
intra-cluster correlation is ``var(u) + var(w)``; the composite's is higher because the shared part does not
average out over domains. ``dev_index`` is the Kling-Liebman-Katz (2007) equally weighted index of the four
domains at each wave, standardized by the late (control) arm: it is the "child development" outcome of the
published effect. Follow-up scores are missing (NaN, all together) for children lost to follow-up.

Calibration (deterministic, one scalar). The published +0.10 SD is reproduced to its printed precision by the
declared analysis: complete cases; OLS of ``dev_index`` on ``treated``, department fixed effects, ``dev_index_bl``,
``age_months`` and ``female``; standard errors clustered by district. After the draw, one constant ``c`` is added
to the four follow-up domain scores of every early-arm child; the estimate is linear in ``c`` (the control arm,
which standardizes the index, is unchanged), so ``c`` is solved exactly. The raw draw's estimate and ``c`` are in the
metadata. Scores are then rounded to 3 decimals, the index is recomputed from the rounded domains, and every
check runs on the CSV as written and read back.

Run ``python scripts/make_cuna_mas.py`` from the repository root; the outputs are rewritten bit for bit.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import optimize, special

SEED = 20210988
SCRIPT = "scripts/make_cuna_mas.py"
REPO = Path(__file__).resolve().parents[1]
OUT_DIR = REPO / "data" / "sample"
CSV_PATH = OUT_DIR / "cuna_mas.csv"
META_PATH = OUT_DIR / "cuna_mas.meta.json"

# ---- design: 180 districts in 12 departments (published); allocation assumed -------------------------------
N_DEPARTMENTS = 12
N_DISTRICTS = 180
DEPARTMENTS = tuple(f"DEP{k:02d}" for k in range(1, N_DEPARTMENTS + 1))  # anonymised
DISTRICTS_PER_DEPARTMENT = (10, 12, 13, 14, 14, 15, 15, 16, 16, 17, 18, 20)  # assumed, sums to 180
EARLY_PER_DEPARTMENT = (5, 6, 7, 7, 7, 7, 8, 8, 8, 8, 9, 10)  # assumed: about half, 90 early / 90 late
CHILDREN_RANGE = (20, 36)  # assumed children per district
N_CHILDREN = 5040  # assumed: 180 x 28 (published: more than 5,000)
AGE_RANGE_MONTHS = (1.0, 35.0)  # assumed within the published "under 3"
P_FEMALE = 0.5  # assumed

# ---- outcomes ------------------------------------------------------------------------------------------------
DOMAINS = ("cognitive", "language", "motor", "socioemotional")
# assumed baseline means (children in poverty score below the reference population) and girls' advantage
DOMAIN_MEANS = {"cognitive": -0.45, "language": -0.55, "motor": -0.30, "socioemotional": -0.35}
FEMALE_EFFECT = {"cognitive": 0.05, "language": 0.10, "motor": 0.0, "socioemotional": 0.08}
# assumed effects of early roll-out on the follow-up domain z-scores (before the calibration shift): their mean,
# divided by the model SD of the domain mean at follow-up (about 0.76), is about 0.10 SD of the composite
DOMAIN_EFFECTS = {"cognitive": 0.08, "language": 0.09, "motor": 0.05, "socioemotional": 0.09}
# assumed variance components on the z scale (baseline total 1 per domain)
VARIANCE = {
    "district_shared": 0.035,  # u_j, shared by the four domains and both waves
    "district_domain": 0.035,  # w_jk, specific to a domain, both waves
    "child_level": 0.400,  # eta_i, shared by the domains
    "domain_noise": 0.530,  # e_ik; 1 - the three above
    "followup_district_shock": 0.005,  # s_j, follow-up only (implementation intensity), taken from the noise
}
CHILD_LEVEL_RHO = 0.5  # assumed correlation of eta over the two waves
NOISE_RHO = 0.2  # assumed correlation of e over the two waves
R2_POVERTY = 0.4  # assumed share of the shared district effect u_j explained by district poverty
POVERTY_BETA = (6.0, 4.0)  # assumed Beta distribution of the district poverty rate (mean 0.6)
# assumed attrition: P(lost) = logistic(a + b * standardized poverty), same in both arms; a solved for a 10% mean
ATTRITION = {"target_share": 0.10, "poverty_slope": 0.4}

PUBLISHED_EFFECT = 0.10  # SD, printed with 2 decimals (Araujo et al. 2021 via shared/STUDIES.md section 3)
ICC_RANGE = (0.05, 0.10)  # assumed (STUDIES.md section 3)
DECLARED_COVARIATES = ("dev_index_bl", "age_months", "female")

BL_COLS = [f"{d}_bl" for d in DOMAINS] + ["dev_index_bl"]
FU_COLS = [*DOMAINS, "dev_index"]
COLUMNS = [
    "child_id",
    "department",
    "district",
    "treated",
    "district_poverty",
    "age_months",
    "female",
    *BL_COLS,
    *FU_COLS,
]


# ----------------------------------------------------------------------------------------------------------
# statistics used by the calibration, the checks and the metadata
# ----------------------------------------------------------------------------------------------------------
def klk_index(domains: np.ndarray, control: np.ndarray) -> np.ndarray:
    """Kling-Liebman-Katz (2007) index: components and their mean standardized by the control rows (NaN kept).

    Parameters
    ----------
    domains : ndarray, shape (n, k)
        Component scores; rows with every component missing give NaN.
    control : ndarray of bool, shape (n,)
        The reference (late roll-out) rows.
    """
    ok = control & ~np.isnan(domains).any(axis=1)
    z = (domains - domains[ok].mean(axis=0)) / domains[ok].std(axis=0, ddof=1)
    mean = z.mean(axis=1)
    return (mean - mean[ok].mean()) / mean[ok].std(ddof=1)


def declared_analysis(df: pd.DataFrame, outcome: str = "dev_index") -> dict:
    """The declared analysis of ``outcome`` with statsmodels, on complete cases.

    OLS of ``outcome`` on an intercept, ``treated``, department fixed effects, ``<outcome>_bl``, ``age_months`` and
    ``female``; standard error clustered by district (statsmodels' CR1).

    Returns
    -------
    dict
        estimate, std_error, n_obs, n_clusters.
    """
    covs = [f"{outcome}_bl", "age_months", "female"]
    cc = df.dropna(subset=[outcome, *covs])
    dummies = pd.get_dummies(cc["department"], drop_first=True, dtype=float)
    X = sm.add_constant(pd.concat([cc[["treated", *covs]].astype(float), dummies], axis=1), has_constant="add")
    groups = pd.factorize(cc["district"])[0]
    fit = sm.OLS(cc[outcome].to_numpy(dtype=float), X).fit(cov_type="cluster", cov_kwds={"groups": groups})
    return {
        "estimate": float(fit.params["treated"]),
        "std_error": float(fit.bse["treated"]),
        "n_obs": len(cc),
        "n_clusters": len(np.unique(groups)),
    }


def icc_anova(values: np.ndarray, clusters: np.ndarray) -> float:
    """One-way ANOVA estimator of the intra-cluster correlation (unequal cluster sizes; Donner 1986).

    ``(MSB - MSW) / (MSB + (n0 - 1) MSW)`` with ``n0 = (N - sum n_c^2 / N) / (C - 1)``.
    """
    codes, uniq = pd.factorize(clusters)
    c, n = len(uniq), len(values)
    sizes = np.bincount(codes).astype(float)
    means = np.bincount(codes, weights=values) / sizes
    msb = float(np.sum(sizes * (means - values.mean()) ** 2) / (c - 1))
    msw = float(np.sum((values - means[codes]) ** 2) / (n - c))
    n0 = (n - np.sum(sizes**2) / n) / (c - 1)
    return float((msb - msw) / (msb + (n0 - 1) * msw))


def model_icc() -> dict[str, float]:
    """Intra-cluster correlations implied by the assumed variance components (baseline and follow-up)."""
    v = VARIANCE
    k = len(DOMAINS)
    dom0 = v["district_shared"] + v["district_domain"]
    comp_between0 = v["district_shared"] + v["district_domain"] / k
    comp_total0 = comp_between0 + v["child_level"] + v["domain_noise"] / k
    noise1 = v["domain_noise"] - v["followup_district_shock"]
    comp_between1 = comp_between0 + v["followup_district_shock"]
    comp_total1 = comp_between1 + v["child_level"] + noise1 / k
    return {
        "domain_baseline": dom0,
        "domain_followup": dom0 + v["followup_district_shock"],
        "dev_index_baseline": comp_between0 / comp_total0,
        "dev_index_followup": comp_between1 / comp_total1,
        "r2_cluster_dev_index_baseline": R2_POVERTY * v["district_shared"] / comp_between0,
    }


# ----------------------------------------------------------------------------------------------------------
# generation
# ----------------------------------------------------------------------------------------------------------
def _district_sizes(rng: np.random.Generator) -> np.ndarray:
    """Children per district, each in ``CHILDREN_RANGE``, adjusted one at a time to total N_CHILDREN."""
    lo, hi = CHILDREN_RANGE
    sizes = rng.integers(lo, hi + 1, size=N_DISTRICTS)
    while sizes.sum() != N_CHILDREN:
        step = 1 if sizes.sum() < N_CHILDREN else -1
        ok = np.flatnonzero((sizes + step >= lo) & (sizes + step <= hi))
        sizes[rng.choice(ok)] += step
    return sizes


def _attrition_intercept(pov_z: np.ndarray) -> float:
    """Intercept ``a`` with mean(logistic(a + b * pov_z)) = target share over the children."""
    b, target = ATTRITION["poverty_slope"], ATTRITION["target_share"]
    return float(optimize.brentq(lambda a: special.expit(a + b * pov_z).mean() - target, -10.0, 10.0, xtol=1e-12))


def _frame(
    ids: dict[str, np.ndarray], y0: np.ndarray, y1: np.ndarray, lost: np.ndarray, treated: np.ndarray
) -> pd.DataFrame:
    """Assemble the data frame from unrounded scores: round domains to 3 decimals, then build the index."""
    y0 = np.round(y0, 3)
    y1 = np.where(lost[:, None], np.nan, np.round(y1, 3))
    control = treated == 0
    df = pd.DataFrame(ids)
    for k, d in enumerate(DOMAINS):
        df[f"{d}_bl"] = y0[:, k]
    df["dev_index_bl"] = np.round(klk_index(y0, control), 3)
    for k, d in enumerate(DOMAINS):
        df[d] = y1[:, k]
    df["dev_index"] = np.round(klk_index(y1, control), 3)
    return df[COLUMNS]


def build(seed: int = SEED) -> pd.DataFrame:
    """Build the Cuna Más sample data frame (deterministic given ``seed``).

    Parameters
    ----------
    seed : int
        Root of :class:`numpy.random.SeedSequence`; one child stream per block of the simulation.

    Returns
    -------
    pandas.DataFrame
        One row per child with the columns ``COLUMNS``, sorted by department, district, child. Follow-up scores
        are missing (NaN) for children lost to follow-up. ``attrs["calibration"]`` holds the raw estimate and the
        shift ``c`` (see the module docstring).
    """
    ss = np.random.SeedSequence(seed)
    rng_design, rng_child, rng_dist, rng_score, rng_lost = (np.random.default_rng(s) for s in ss.spawn(5))

    # --- departments, districts and the blocked cluster assignment -------------------------------------------
    dept_of = np.repeat(np.arange(N_DEPARTMENTS), DISTRICTS_PER_DEPARTMENT)
    early_d = np.zeros(N_DISTRICTS, dtype=int)
    for d, m in enumerate(EARLY_PER_DEPARTMENT):
        early_d[rng_design.choice(np.flatnonzero(dept_of == d), size=m, replace=False)] = 1
    sizes = _district_sizes(rng_design)
    district = np.repeat(np.arange(N_DISTRICTS), sizes)
    n = len(district)
    treated = early_d[district]

    # --- children ---------------------------------------------------------------------------------------------
    lo, hi = AGE_RANGE_MONTHS
    age = np.round(rng_child.uniform(lo, hi, size=n), 1)
    female = rng_child.binomial(1, P_FEMALE, size=n)

    # --- district level: poverty and effects ------------------------------------------------------------------
    v = VARIANCE
    poverty = np.round(rng_dist.beta(*POVERTY_BETA, size=N_DISTRICTS), 3)
    a, b = POVERTY_BETA
    pov_mean, pov_sd = a / (a + b), math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
    pov_z = (poverty - pov_mean) / pov_sd
    u = -math.sqrt(R2_POVERTY * v["district_shared"]) * pov_z + rng_dist.normal(
        0.0, math.sqrt((1 - R2_POVERTY) * v["district_shared"]), size=N_DISTRICTS
    )
    w = rng_dist.normal(0.0, math.sqrt(v["district_domain"]), size=(N_DISTRICTS, len(DOMAINS)))
    s = rng_dist.normal(0.0, math.sqrt(v["followup_district_shock"]), size=N_DISTRICTS)

    # --- scores ----------------------------------------------------------------------------------------------
    k = len(DOMAINS)
    mean = np.array([DOMAIN_MEANS[d] for d in DOMAINS])[None, :]
    girls = female[:, None] * np.array([FEMALE_EFFECT[d] for d in DOMAINS])[None, :]
    tau = np.array([DOMAIN_EFFECTS[d] for d in DOMAINS])[None, :]
    sd_eta = math.sqrt(v["child_level"])
    eta0 = rng_score.normal(0.0, sd_eta, size=n)
    eta1 = CHILD_LEVEL_RHO * eta0 + math.sqrt(1 - CHILD_LEVEL_RHO**2) * rng_score.normal(0.0, sd_eta, size=n)
    var_e0 = v["domain_noise"]
    var_e1 = var_e0 - v["followup_district_shock"]
    e0 = rng_score.normal(0.0, math.sqrt(var_e0), size=(n, k))
    e1 = math.sqrt(var_e1 / var_e0) * (
        NOISE_RHO * e0 + math.sqrt(1 - NOISE_RHO**2) * rng_score.normal(0.0, math.sqrt(var_e0), size=(n, k))
    )
    district_part = u[district][:, None] + w[district]
    y0 = mean + girls + district_part + eta0[:, None] + e0
    y1 = mean + girls + tau * treated[:, None] + district_part + s[district][:, None] + eta1[:, None] + e1

    # --- attrition ----------------------------------------------------------------------------------------------
    child_pov_z = pov_z[district]
    p_lost = special.expit(_attrition_intercept(child_pov_z) + ATTRITION["poverty_slope"] * child_pov_z)
    lost = rng_lost.uniform(size=n) < p_lost

    ids = {
        "child_id": np.arange(1, n + 1),
        "department": np.array(DEPARTMENTS)[dept_of[district]],
        "district": np.array([f"D{j + 1:03d}" for j in range(N_DISTRICTS)])[district],
        "treated": treated,
        "district_poverty": poverty[district],
        "age_months": age,
        "female": female,
    }

    # --- calibration: one constant c on the early arm's follow-up domains (the estimate is linear in c) --------
    def estimate(c: float) -> float:
        return declared_analysis(_frame(ids, y0, y1 + c * treated[:, None], lost, treated))["estimate"]

    raw = estimate(0.0)
    slope = estimate(1.0) - raw
    shift = (PUBLISHED_EFFECT - raw) / slope
    df = _frame(ids, y0, y1 + shift * treated[:, None], lost, treated)
    df.attrs["calibration"] = {"raw_estimate": raw, "shift": shift, "slope": slope}
    return df


# ----------------------------------------------------------------------------------------------------------
# metadata
# ----------------------------------------------------------------------------------------------------------
def _param(name: str, value, label: str, source: str) -> dict:
    key = "source" if label in ("published", "derived") else "note"
    return {"name": name, "value": value, "label": label, key: source}


def _realized(df: pd.DataFrame) -> dict:
    """ICCs, attrition, district-covariate R^2 and per-outcome declared estimates of the data."""
    icc = {c: icc_anova(df[c].to_numpy(dtype=float), df["district"].to_numpy()) for c in BL_COLS}
    fu = df.dropna(subset=["dev_index"])
    icc.update({c: icc_anova(fu[c].to_numpy(dtype=float), fu["district"].to_numpy()) for c in FU_COLS})
    lost = df["dev_index"].isna()
    dist = df.groupby("district").agg(poverty=("district_poverty", "first"), y=("dev_index_bl", "mean"))
    r2_means = float(np.corrcoef(dist["poverty"], dist["y"])[0, 1] ** 2)
    return {
        "icc": icc,
        "n_lost": int(lost.sum()),
        "attrition_share": float(lost.mean()),
        "attrition_by_arm": {str(t): float(lost[df["treated"] == t].mean()) for t in (0, 1)},
        "r2_poverty_district_means_dev_index_bl": r2_means,
        "effects": {o: declared_analysis(df, o) for o in FU_COLS},
    }


def build_metadata(df: pd.DataFrame) -> dict:
    """Metadata for ``cuna_mas.csv``: description, design, columns, labelled parameters and calibration."""
    studies = "shared/STUDIES.md section 3"
    pub_src = (
        "Araujo MC, Dormal M, Grantham-McGregor S, Lazarte F, Rubio-Codina M, Schady N, J. Public Econ. Plus 2021; "
        "AEARCTR-0000988 (via " + studies + ")"
    )
    prog_src = "Programa Nacional Cuna Más, 2021 figures (via " + studies + ")"
    real = _realized(df)
    cal = df.attrs.get("calibration", {})
    mi = model_icc()
    dist = df.groupby("district").agg(department=("department", "first"), treated=("treated", "first"))
    alloc = {
        dep: {
            "districts": sorted(g.index.tolist()),
            "early": sorted(g.index[g["treated"] == 1].tolist()),
            "late": sorted(g.index[g["treated"] == 0].tolist()),
        }
        for dep, g in dist.groupby("department")
    }
    sizes = df.groupby("district").size()
    mean_effect = round(float(np.mean([DOMAIN_EFFECTS[d] for d in DOMAINS])), 6)

    columns: dict[str, dict] = {
        "child_id": {"description": "Child identifier, 1..5040", "units": None, "dtype": "int"},
        "department": {
            "description": "Department (region; the stratum of the assignment), DEP01..DEP12; anonymised",
            "units": None,
            "dtype": "string",
        },
        "district": {
            "description": "District (the cluster and unit of assignment), D001..D180; anonymised",
            "units": None,
            "dtype": "string",
        },
        "treated": {
            "description": "District's roll-out: 1 = early (home visits from 2013), 0 = late (after the follow-up)",
            "units": None,
            "dtype": "int",
        },
        "district_poverty": {
            "description": "District poverty rate (share of the population in monetary poverty); a district-level "
            "pre-treatment covariate, constant within district (simulated)",
            "units": "share 0-1, 3 decimals",
            "dtype": "float",
        },
        "age_months": {"description": "Child's age at baseline", "units": "months, 1 decimal", "dtype": "float"},
        "female": {"description": "1 = girl, 0 = boy", "units": None, "dtype": "int"},
    }
    text = {
        "cognitive": "cognitive (problem solving)",
        "language": "language and communication",
        "motor": "motor (gross and fine)",
        "socioemotional": "socio-emotional (personal-social)",
    }
    for d in DOMAINS:
        columns[f"{d}_bl"] = {
            "description": f"Baseline (2013) age-standardized z-score, {text[d]} domain",
            "units": "z, 3 decimals",
            "dtype": "float",
        }
    columns["dev_index_bl"] = {
        "description": "Baseline child-development index: Kling-Liebman-Katz equally weighted index of the four "
        "baseline domains, components and index standardized by the late (control) arm",
        "units": "control-group SD, 3 decimals",
        "dtype": "float",
    }
    for d in DOMAINS:
        columns[d] = {
            "description": f"Follow-up (2015) age-standardized z-score, {text[d]} domain; NaN if lost to follow-up",
            "units": "z, 3 decimals",
            "dtype": "float",
        }
    columns["dev_index"] = {
        "description": "Follow-up child-development index (as dev_index_bl, on the follow-up domains and the late "
        "arm's children followed up); NaN if lost to follow-up. The outcome of the published +0.10 SD",
        "units": "control-group SD, 3 decimals",
        "dtype": "float",
    }
    columns = {c: columns[c] for c in df.columns}

    achieved = real["effects"]["dev_index"]
    params = [
        _param("n_districts", N_DISTRICTS, "published", pub_src),
        _param("n_departments", N_DEPARTMENTS, "published", pub_src),
        _param("assignment_unit", "district, early vs late roll-out", "published", pub_src),
        _param("n_children_published", "more than 5,000 children under 3", "published", pub_src),
        _param("baseline_year", 2013, "published", pub_src),
        _param("followup_year", 2015, "published", pub_src),
        _param("published_effect_sd", PUBLISHED_EFFECT, "published", pub_src + ": +0.10 SD on child development"),
        _param("instruments", ["ASQ-3", "Bayley-III"], "published", pub_src),
        _param("benefit_cost_ratio", 5.4, "published", pub_src + ". Not represented in the data"),
        _param(
            "programme_2021",
            {"families_saf": 116652, "children_scd": 60228, "districts": 1096, "regions": 25},
            "published",
            prog_src + ". Not represented in the data",
        ),
        _param(
            "target_effect",
            PUBLISHED_EFFECT,
            "derived",
            "The published +0.10 SD taken as the declared analysis's estimate on dev_index, reproduced to the "
            "printed 2 decimals (achieved value in calibration.published_effect)",
        ),
        _param(
            "n_early_districts",
            int(sum(EARLY_PER_DEPARTMENT)),
            "derived",
            "Sum of early_districts_per_department (assumed): 90 early, 90 late",
        ),
        _param(
            "model_icc",
            {key: round(val, 6) for key, val in mi.items()},
            "derived",
            "Implied by variance_components: a domain's ICC is district_shared + district_domain; the index's is "
            "(district_shared + district_domain / 4) / (that + child_level + domain_noise / 4); follow-up adds the "
            "district shock. r2_cluster: share of the index's baseline between-district variance explained by "
            "district_poverty",
        ),
        _param(
            "shift_c",
            round(cal.get("shift", float("nan")), 6),
            "derived",
            "Constant added to the four follow-up domain z-scores of every early-arm child so that the declared "
            f"analysis gives exactly 0.10 (raw draw: {cal.get('raw_estimate', float('nan')):.4f}); the realized "
            "domain effects are domain_effects + shift_c",
        ),
        _param("seed", SEED, "assumed", "numpy.random.SeedSequence root of " + SCRIPT),
        _param(
            "assignment",
            "blocked cluster randomization: districts randomized to early roll-out within departments, a fixed "
            "number per department",
            "assumed",
            "The per-department allocation is not in STUDIES.md; the districts' identities are anonymised",
        ),
        _param(
            "districts_per_department",
            dict(zip(DEPARTMENTS, DISTRICTS_PER_DEPARTMENT, strict=True)),
            "assumed",
            "Sums to the published 180",
        ),
        _param(
            "early_districts_per_department",
            dict(zip(DEPARTMENTS, EARLY_PER_DEPARTMENT, strict=True)),
            "assumed",
            "About half of each department (floor or ceiling of half for odd counts), 90 in all",
        ),
        _param(
            "children_per_district_range",
            list(CHILDREN_RANGE),
            "assumed",
            "STUDIES.md: about 28 children per district; sizes drawn uniformly and adjusted to the total",
        ),
        _param("n_children", N_CHILDREN, "assumed", "180 x 28 (published: more than 5,000)"),
        _param("age_range_months", list(AGE_RANGE_MONTHS), "assumed", "Uniform at baseline, within 'under 3'"),
        _param("p_female", P_FEMALE, "assumed", "Probability a child is a girl"),
        _param(
            "domains",
            list(DOMAINS),
            "assumed",
            "Bayley-III style domains; which instrument measured which domain is not in STUDIES.md",
        ),
        _param("domain_baseline_means", DOMAIN_MEANS, "assumed", "Children in poverty: below the reference"),
        _param("female_effects", FEMALE_EFFECT, "assumed", "Girls' advantage per domain (z), both waves"),
        _param(
            "domain_effects",
            DOMAIN_EFFECTS,
            "assumed",
            f"Effect of early roll-out on each follow-up domain z before the calibration shift (mean {mean_effect}"
            "; divided by the model SD of the follow-up domain mean, about 0.76, this is about 0.10 SD of the index)",
        ),
        _param(
            "variance_components",
            VARIANCE,
            "assumed",
            "z scale, baseline total 1 per domain: shared district effect, domain-specific district effect, "
            "child's developmental level, domain noise; follow-up district shock taken from the noise",
        ),
        _param("child_level_wave_correlation", CHILD_LEVEL_RHO, "assumed", "Correlation of eta over the waves"),
        _param("noise_wave_correlation", NOISE_RHO, "assumed", "Correlation of the domain noise over the waves"),
        _param(
            "icc_target",
            list(ICC_RANGE),
            "assumed",
            studies + ": intra-cluster correlation 0.05-0.10; realized values in calibration.icc",
        ),
        _param(
            "district_poverty_distribution",
            {"beta": list(POVERTY_BETA), "decimals": 3},
            "assumed",
            "District poverty rate ~ Beta(6, 4) (mean 0.6)",
        ),
        _param(
            "r2_poverty_shared_district_effect",
            R2_POVERTY,
            "assumed",
            "Share of the shared district effect u_j explained by poverty (u_j decreases with poverty): a "
            "district-level covariate for planning with r2_cluster",
        ),
        _param(
            "attrition_model",
            {
                **ATTRITION,
                "form": "P(lost) = logistic(a + poverty_slope * standardized poverty), a solved so the "
                "mean over children is target_share; same in both arms",
            },
            "assumed",
            studies + ": about 10% attrition; the mechanism (more loss in poorer districts, not by arm) is assumed. "
            "All follow-up scores of a lost child are missing together",
        ),
    ]
    return {
        "name": "cuna_mas",
        "title": "Cuna Más: national home visiting, early vs late roll-out by district (simulated sample)",
        "description": (
            "Simulated data shaped after the impact evaluation of Peru's Cuna Más home-visiting service (Servicio "
            "de Acompañamiento a Familias): 5,040 children under 3 in 180 districts of 12 departments, districts "
            "randomized within departments to early (90) or late (90) roll-out. One row per child; baseline (2013) "
            "and follow-up (2015) age-standardized z-scores in four domains and a child-development index, with "
            "about 10% of children lost at follow-up. The index is calibrated so that the declared ANCOVA gives the "
            "published +0.10 SD to the printed precision; every other value is simulated. These are not the real "
            "study data."
        ),
        "source": {"paper": pub_src, "registry": "AEA RCT Registry AEARCTR-0000988", "notes": studies},
        "design": {
            "units": "children (one row each) in districts (clusters, units of assignment) in departments (strata)",
            "n_children": len(df),
            "n_districts": N_DISTRICTS,
            "n_departments": N_DEPARTMENTS,
            "n_early_districts": int(dist["treated"].sum()),
            "n_late_districts": int((dist["treated"] == 0).sum()),
            "children_per_district": {str(k): int(val) for k, val in sizes.items()},
            "allocation": alloc,
            "assumed_assignment": "districts randomized within departments (blocked cluster randomization), with the "
            "per-department numbers of early districts fixed as in 'allocation' (assumed)",
            "attrition": f"{real['n_lost']} of {len(df)} children ({real['attrition_share']:.3f}) lost at follow-up: "
            "every follow-up column missing (assumed mechanism, see parameters)",
        },
        "analysis": {
            "estimator": "ols",
            "description": "Complete cases; OLS of the follow-up outcome on treated, department fixed effects, the "
            "outcome's baseline, age_months and female; standard errors clustered by district (CR2 with "
            "Bell-McCaffrey degrees of freedom in evalkit: RandomizedTrial(data, 'treated', blocks='department', "
            "clusters='district').estimate(outcome, estimator='ols', covariates=['{outcome}_bl', 'age_months', "
            "'female'])).",
            "treatment": "treated",
            "clusters": "district",
            "blocks": "department",
            "covariates": ["{outcome}_bl", "age_months", "female"],
            "cluster_covariate": "district_poverty",
        },
        "columns": columns,
        "parameters": params,
        "calibration": {
            "published_effect": {
                "published": PUBLISHED_EFFECT,
                "source": pub_src,
                "outcome": "dev_index",
                "raw_estimate": round(cal.get("raw_estimate", float("nan")), 6),
                "shift_c": round(cal.get("shift", float("nan")), 6),
                "estimate": round(achieved["estimate"], 6),
                "cluster_se_cr1": round(achieved["std_error"], 6),
                "n_obs": achieved["n_obs"],
                "matched": bool(round(achieved["estimate"], 2) == PUBLISHED_EFFECT),
            },
            "domain_effects": {
                d: {
                    "generating": round(DOMAIN_EFFECTS[d] + cal.get("shift", float("nan")), 6),
                    "estimate": round(real["effects"][d]["estimate"], 6),
                    "cluster_se_cr1": round(real["effects"][d]["std_error"], 6),
                }
                for d in DOMAINS
            },
            "effects_note": "estimate: the declared analysis with statsmodels (cluster-robust CR1 SE by district); "
            "generating = assumed domain effect + shift_c",
            "icc": {key: round(val, 4) for key, val in real["icc"].items()},
            "icc_note": "One-way ANOVA estimator (Donner 1986), districts as clusters; follow-up on children "
            "followed up",
            "attrition_share": round(real["attrition_share"], 4),
            "attrition_by_arm": {key: round(val, 4) for key, val in real["attrition_by_arm"].items()},
            "r2_poverty_district_means_dev_index_bl": round(real["r2_poverty_district_means_dev_index_bl"], 4),
            "verified_on": "the CSV as written and read back",
        },
        "generator": {"script": SCRIPT, "seed": SEED, "numpy_rng": "numpy.random.SeedSequence(seed).spawn(5)"},
        "files": {"data": "cuna_mas.csv"},
    }


def check(df: pd.DataFrame) -> None:
    """Raise if the published effect is not reproduced or an ICC / the attrition share is off target."""
    r = declared_analysis(df)
    if round(r["estimate"], 2) != PUBLISHED_EFFECT or abs(r["estimate"] - PUBLISHED_EFFECT) > 5e-4:
        raise RuntimeError(f"dev_index: estimate {r['estimate']:.6f} does not reproduce {PUBLISHED_EFFECT}")
    for c in BL_COLS:
        icc = icc_anova(df[c].to_numpy(dtype=float), df["district"].to_numpy())
        if not ICC_RANGE[0] <= icc <= ICC_RANGE[1]:
            raise RuntimeError(f"{c}: baseline ICC {icc:.4f} outside {ICC_RANGE}")
    share = float(df["dev_index"].isna().mean())
    if not 0.08 <= share <= 0.12:
        raise RuntimeError(f"attrition share {share:.4f} is not about 10%")


def main() -> None:
    df = build(SEED)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    df.to_csv(CSV_PATH, index=False)
    back = pd.read_csv(CSV_PATH)
    check(back)
    back.attrs = dict(df.attrs)
    meta = build_metadata(back)
    META_PATH.write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print("published effect", meta["calibration"]["published_effect"])
    for key, val in meta["calibration"]["domain_effects"].items():
        print(key, val)
    print("icc", meta["calibration"]["icc"])
    print("attrition", meta["calibration"]["attrition_share"], meta["calibration"]["attrition_by_arm"])
    print("r2 poverty", meta["calibration"]["r2_poverty_district_means_dev_index_bl"])
    print(f"wrote {CSV_PATH.relative_to(REPO)} and {META_PATH.relative_to(REPO)}")


if __name__ == "__main__":
    main()
