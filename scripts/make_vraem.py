"""Generate the VRAEM sample data set (``data/sample/vraem.csv`` and ``vraem.meta.json``).

The data are simulated: a baseline/endline household panel in 31 communities of 6 districts of La Mar province
(Ayacucho), 17 intervention and 14 control communities (published), shaped after MSH Peru's USAID-funded
programme on social capital and family well-being in the VRAEM (shared/STUDIES.md section 2). Treatment is at
community level; districts are the strata of the (assumed) randomization.

Three published results are shares *within intervention communities*, not treatment-control contrasts. The data
reproduce each one exactly (the share computed from the data, rounded to the printed integer percent, equals the
published value, and the count is the integer nearest to the published share times its denominator):

* 83% of families with children under 3 improved two or more child-health practices: among households of
  intervention communities with ``has_child_under3 == 1``, the share whose ``n_child_health_practices`` rose by
  at least 2 from baseline to endline;
* 47% improved at least one of the two hygiene practices: among all households of intervention communities, the
  share with ``hand_washing`` or ``safe_water`` equal to 0 at baseline and 1 at endline;
* 50% practised 5-6 positive-parenting behaviours: among all households of intervention communities, the share
  with ``n_parenting_practices >= 5`` at endline.

Model (all assumed). Each binary practice ``j`` of household ``i`` in community ``c`` at wave ``w`` is
``1{Phi^-1(p_jgw) + u_c + v_i + s_cw + e_ijw > 0}`` with a community effect ``u_c``, a household propensity
``v_i`` (both shared by the practices of a domain and constant over waves), an endline community shock ``s_c1``
(implementation intensity, local events: what makes the 31 clusters matter for a difference-in-differences) and
a practice-specific term ``e_ijw`` that is autocorrelated over waves. The variances add to 1 at both waves, so
the marginal probability of a practice is exactly ``p_jgw``: the baseline prevalence ``p_j0`` in both arms,
``p_j0 + trend_j`` at endline in control and ``p_j0 + trend_j + effect_j`` in intervention communities. The
expected difference-in-differences of every practice is therefore the assumed ``effect_j`` (in probability
points). The social-capital index is Gaussian on 0-100 with the same structure.

Calibration (deterministic): the parameters put the expected shares near the published ones; after drawing, a
seeded repair flips single endline practices of as few households as needed (``0 -> 1`` to add a household to
a share, ``1 -> 0`` to remove one) until each count is the target count. The number of flips is recorded in
the metadata.

Run ``python scripts/make_vraem.py`` from the repository root; the outputs are rewritten bit for bit.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import optimize, stats

SEED = 20220431
SCRIPT = "scripts/make_vraem.py"
REPO = Path(__file__).resolve().parents[1]
OUT_DIR = REPO / "data" / "sample"
CSV_PATH = OUT_DIR / "vraem.csv"
META_PATH = OUT_DIR / "vraem.meta.json"

# ---- design: 31 communities in 6 districts, 17 intervention / 14 control (published totals) ---------------
DISTRICTS = ("D1", "D2", "D3", "D4", "D5", "D6")  # anonymised; the districts' identities are not published
COMMUNITIES_PER_DISTRICT = (6, 6, 5, 5, 5, 4)  # assumed, sums to 31
TREATED_PER_DISTRICT = (4, 3, 3, 3, 2, 2)  # assumed, sums to 17 (controls 2, 3, 2, 2, 3, 2 = 14)
N_COMMUNITIES = 31
N_TREATED = 17
N_CONTROL = 14
HOUSEHOLDS_RANGE = (20, 30)  # assumed households per community
N_HOUSEHOLDS = 775  # assumed: 31 x 25
P_CHILD_UNDER3 = 0.5  # assumed share of households with a child under 3 at baseline

# ---- published shares within intervention communities (shared/STUDIES.md section 2, MSH Peru) -----------------
PUBLISHED_SHARES = {
    "child_health_improved_2plus": 0.83,
    "hygiene_improved_1plus": 0.47,
    "parenting_5_6_endline": 0.50,
}

# ---- outcomes --------------------------------------------------------------------------------------------
# practice: (baseline prevalence, control trend, intervention effect), probability points; all assumed
CHILD_HEALTH = {
    "breastfeeding": (0.40, 0.30, 0.13),
    "iron_supplement": (0.25, 0.30, 0.15),
    "anaemia_screening": (0.30, 0.30, 0.14),
    "growth_monitoring": (0.35, 0.30, 0.12),
    "vaccination_up_to_date": (0.35, 0.30, 0.12),
    "iron_rich_foods": (0.20, 0.30, 0.15),
}
HYGIENE = {
    "hand_washing": (0.40, 0.03, 0.12),
    "safe_water": (0.45, 0.03, 0.10),
}
PARENTING = {
    "parenting_praise": (0.60, 0.02, 0.12),
    "parenting_play": (0.62, 0.02, 0.13),
    "parenting_stories": (0.52, 0.02, 0.14),
    "parenting_explain_rules": (0.58, 0.02, 0.12),
    "parenting_no_hitting": (0.57, 0.02, 0.12),
    "parenting_listen": (0.59, 0.02, 0.11),
}
# latent-scale variance components of a domain (total 1 at each wave) and the wave-to-wave correlation of the
# practice-specific term; all assumed
LATENT = {
    "child_health": {"community": 0.06, "household": 0.10, "endline_shock": 0.04, "rho": 0.8},
    "hygiene": {"community": 0.08, "household": 0.10, "endline_shock": 0.04, "rho": 0.2},
    "parenting": {"community": 0.05, "household": 0.20, "endline_shock": 0.04, "rho": 0.6},
}
# social-capital index 0-100 (assumed): baseline mean, SDs of community / household / idiosyncratic terms,
# endline community shock SD, wave correlation of the idiosyncratic term, control trend, intervention effect
SOCIAL_CAPITAL = {
    "baseline_mean": 45.0,
    "community_sd": 4.5,
    "household_sd": 10.0,
    "idiosyncratic_sd": 10.0,
    "endline_shock_sd": 3.0,
    "rho": 0.3,
    "trend": 1.0,
    "effect": 5.0,
}

# outcomes whose assumed effect the generator (and tests/datasets/test_vraem_data.py) checks the data recover: the
# difference-in-differences estimate within 2 cluster-robust SEs of the assumed effect. Single practices are
# reported in the metadata but not required to pass (with 14 practices about one would fall outside 2 SEs).
HEADLINE = (
    "n_child_health_practices",
    "hand_washing",
    "safe_water",
    "n_hygiene_practices",
    "n_parenting_practices",
    "social_capital",
)

CHILD_COLS = list(CHILD_HEALTH)
HYGIENE_COLS = list(HYGIENE)
PARENTING_COLS = list(PARENTING)
COLUMNS = [
    "household_id",
    "community",
    "district",
    "treated",
    "wave",
    "treated_post",
    "has_child_under3",
    *CHILD_COLS,
    "n_child_health_practices",
    *HYGIENE_COLS,
    "n_hygiene_practices",
    *PARENTING_COLS,
    "n_parenting_practices",
    "social_capital",
]


# ----------------------------------------------------------------------------------------------------------
# statistics used by the checks and the metadata
# ----------------------------------------------------------------------------------------------------------
def wide(df: pd.DataFrame, column: str) -> pd.DataFrame:
    """Baseline and endline of ``column`` side by side, one row per household (columns ``0`` and ``1``)."""
    return df.pivot(index="household_id", columns="wave", values=column)


def published_shares(df: pd.DataFrame) -> dict[str, dict]:
    """The three published shares computed from the long data: numerator, denominator, share.

    Parameters
    ----------
    df : pandas.DataFrame
        The VRAEM data (long: one row per household and wave).

    Returns
    -------
    dict
        For each key of ``PUBLISHED_SHARES``: ``numerator``, ``denominator``, ``share``, ``percent``
        (rounded to an integer) and the ``definition``.
    """
    hh = df.loc[df["wave"] == 0].set_index("household_id")
    tr = hh["treated"] == 1
    child = wide(df, "n_child_health_practices")
    improved_child = (child[1] - child[0]) >= 2
    den_child = tr & (hh["has_child_under3"] == 1)
    gains = [(wide(df, c)[0] == 0) & (wide(df, c)[1] == 1) for c in HYGIENE_COLS]
    improved_hyg = gains[0] | gains[1]
    parenting_end = wide(df, "n_parenting_practices")[1] >= 5
    out = {}
    for key, num, den, text in [
        (
            "child_health_improved_2plus",
            improved_child[den_child],
            den_child,
            "Households of intervention communities with has_child_under3 == 1 (denominator) whose "
            "n_child_health_practices increased by 2 or more from baseline (wave 0) to endline (wave 1).",
        ),
        (
            "hygiene_improved_1plus",
            improved_hyg[tr],
            tr,
            "All households of intervention communities (denominator) with at least one of hand_washing, "
            "safe_water equal to 0 at baseline and 1 at endline.",
        ),
        (
            "parenting_5_6_endline",
            parenting_end[tr],
            tr,
            "All households of intervention communities (denominator) with n_parenting_practices of 5 or 6 at endline.",
        ),
    ]:
        k, n = int(num.sum()), int(den.sum())
        out[key] = {
            "numerator": k,
            "denominator": n,
            "share": k / n,
            "percent": round(100 * k / n),
            "target_numerator": round(PUBLISHED_SHARES[key] * n),
            "definition": text,
        }
    return out


def did_ols(df: pd.DataFrame, outcome: str) -> dict:
    """2x2 difference-in-differences by OLS, ``y ~ treated * wave``, SE clustered by community (statsmodels).

    Returns
    -------
    dict
        estimate, std_error (CR1 as statsmodels computes it), n_obs, n_clusters.
    """
    d = df.dropna(subset=[outcome])
    X = sm.add_constant(
        np.column_stack([d["treated"], d["wave"], d["treated"] * d["wave"]]).astype(float), has_constant="add"
    )
    groups = pd.factorize(d["community"])[0]
    fit = sm.OLS(d[outcome].to_numpy(dtype=float), X).fit(cov_type="cluster", cov_kwds={"groups": groups})
    return {
        "estimate": float(fit.params[3]),
        "std_error": float(fit.bse[3]),
        "n_obs": len(d),
        "n_clusters": len(np.unique(groups)),
    }


def icc_anova(values: np.ndarray, clusters: np.ndarray) -> float:
    """One-way ANOVA estimator of the intra-cluster correlation (unequal cluster sizes).

    ``(MSB - MSW) / (MSB + (n0 - 1) MSW)`` with ``n0 = (N - sum n_c^2 / N) / (C - 1)`` (Donner 1986).
    """
    codes, uniq = pd.factorize(clusters)
    c, n = len(uniq), len(values)
    sizes = np.bincount(codes).astype(float)
    means = np.bincount(codes, weights=values) / sizes
    grand = values.mean()
    msb = float(np.sum(sizes * (means - grand) ** 2) / (c - 1))
    msw = float(np.sum((values - means[codes]) ** 2) / (n - c))
    n0 = (n - np.sum(sizes**2) / n) / (c - 1)
    return float((msb - msw) / (msb + (n0 - 1) * msw))


def expected_effects() -> dict[str, float]:
    """Assumed difference-in-differences effect of every outcome (counts: sums of their practices)."""
    eff = {c: v[2] for c, v in {**CHILD_HEALTH, **HYGIENE, **PARENTING}.items()}
    eff["n_child_health_practices"] = sum(v[2] for v in CHILD_HEALTH.values())
    eff["n_hygiene_practices"] = sum(v[2] for v in HYGIENE.values())
    eff["n_parenting_practices"] = sum(v[2] for v in PARENTING.values())
    eff["social_capital"] = SOCIAL_CAPITAL["effect"]
    return {k: round(v, 10) for k, v in eff.items()}


# ----------------------------------------------------------------------------------------------------------
# generation
# ----------------------------------------------------------------------------------------------------------
def _community_sizes(rng: np.random.Generator) -> np.ndarray:
    """Households per community, each in ``HOUSEHOLDS_RANGE``, adjusted one at a time to total N_HOUSEHOLDS."""
    lo, hi = HOUSEHOLDS_RANGE
    sizes = rng.integers(lo, hi + 1, size=N_COMMUNITIES)
    while sizes.sum() != N_HOUSEHOLDS:
        step = 1 if sizes.sum() < N_HOUSEHOLDS else -1
        ok = np.flatnonzero((sizes + step >= lo) & (sizes + step <= hi))
        sizes[rng.choice(ok)] += step
    return sizes


def _binary_domain(
    rng: np.random.Generator,
    spec: dict[str, tuple[float, float, float]],
    latent: dict[str, float],
    community: np.ndarray,
    treated: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Baseline and endline practices (households x practices, 0/1) of one domain (see the module docstring)."""
    n, k = len(community), len(spec)
    var_u, var_v, var_s, rho = latent["community"], latent["household"], latent["endline_shock"], latent["rho"]
    var_e0 = 1.0 - var_u - var_v
    var_e1 = var_e0 - var_s
    u = rng.normal(0.0, math.sqrt(var_u), size=community.max() + 1)[community][:, None]
    v = rng.normal(0.0, math.sqrt(var_v), size=n)[:, None]
    s = rng.normal(0.0, math.sqrt(var_s), size=community.max() + 1)[community][:, None]
    e0 = rng.normal(0.0, math.sqrt(var_e0), size=(n, k))
    e1 = math.sqrt(var_e1 / var_e0) * (rho * e0 + math.sqrt(1.0 - rho**2) * rng.normal(0.0, math.sqrt(var_e0), (n, k)))
    p0 = np.array([p[0] for p in spec.values()])
    p1_control = p0 + np.array([p[1] for p in spec.values()])
    p1_treated = p1_control + np.array([p[2] for p in spec.values()])
    mu1 = np.where(treated[:, None] == 1, stats.norm.ppf(p1_treated), stats.norm.ppf(p1_control))
    y0 = (stats.norm.ppf(p0)[None, :] + u + v + e0 > 0).astype(int)
    y1 = (mu1 + u + v + s + e1 > 0).astype(int)
    return y0, y1


def _repair(
    rng: np.random.Generator,
    member: np.ndarray,
    in_share: np.ndarray,
    target: int,
    add: Callable[[int], bool | None],
    remove: Callable[[int], bool | None],
) -> tuple[int, int]:
    """Flip single endline practices until ``in_share[member].sum() == target``.

    ``add(i)`` / ``remove(i)`` flip one practice of household ``i`` and return the new ``in_share`` value for
    it, or ``None`` if household ``i`` is not a candidate. Households are tried in a seeded random order.
    Returns the numbers of households moved into and out of the share.
    """
    n_in = n_out = 0
    for i in rng.permutation(np.flatnonzero(member)):
        current = int(in_share[member].sum())
        if current == target:
            break
        if current < target and not in_share[i]:
            res = add(i)
            n_in += bool(res)
        elif current > target and in_share[i]:
            res = remove(i)
            n_out += res is False
        else:
            continue
        if res is not None:
            in_share[i] = res
    if int(in_share[member].sum()) != target:
        raise RuntimeError("repair did not reach the target count; change the seed or the assumed parameters")
    return n_in, n_out


def build(seed: int = SEED) -> pd.DataFrame:
    """Build the VRAEM sample data frame (deterministic given ``seed``).

    Parameters
    ----------
    seed : int
        Root of :class:`numpy.random.SeedSequence`; one child stream per block of the simulation.

    Returns
    -------
    pandas.DataFrame
        One row per household and wave (baseline 0, endline 1), sorted by household then wave, with the columns
        ``COLUMNS``. Child-health practices are missing (NaN) for households without a child under 3.
    """
    ss = np.random.SeedSequence(seed)
    rng_design, rng_child, rng_hyg, rng_par, rng_soc, rng_fix = (np.random.default_rng(s) for s in ss.spawn(6))

    # --- communities, districts and the blocked cluster assignment ------------------------------------------
    district_of = np.repeat(np.arange(len(DISTRICTS)), COMMUNITIES_PER_DISTRICT)
    treated_c = np.zeros(N_COMMUNITIES, dtype=int)
    for d, m in enumerate(TREATED_PER_DISTRICT):
        idx = np.flatnonzero(district_of == d)
        treated_c[rng_design.choice(idx, size=m, replace=False)] = 1
    sizes = _community_sizes(rng_design)
    community = np.repeat(np.arange(N_COMMUNITIES), sizes)
    n = len(community)
    treated = treated_c[community]
    child = rng_design.binomial(1, P_CHILD_UNDER3, size=n)

    # --- practices ---------------------------------------------------------------------------------------
    ch0, ch1 = _binary_domain(rng_child, CHILD_HEALTH, LATENT["child_health"], community, treated)
    hy0, hy1 = _binary_domain(rng_hyg, HYGIENE, LATENT["hygiene"], community, treated)
    pa0, pa1 = _binary_domain(rng_par, PARENTING, LATENT["parenting"], community, treated)

    # --- social capital ----------------------------------------------------------------------------------
    sc = SOCIAL_CAPITAL
    u = rng_soc.normal(0.0, sc["community_sd"], size=N_COMMUNITIES)[community]
    v = rng_soc.normal(0.0, sc["household_sd"], size=n)
    s = rng_soc.normal(0.0, sc["endline_shock_sd"], size=N_COMMUNITIES)[community]
    e0 = rng_soc.normal(0.0, sc["idiosyncratic_sd"], size=n)
    e1 = sc["rho"] * e0 + math.sqrt(1.0 - sc["rho"] ** 2) * rng_soc.normal(0.0, sc["idiosyncratic_sd"], size=n)
    soc0 = sc["baseline_mean"] + u + v + e0
    soc1 = sc["baseline_mean"] + sc["trend"] + sc["effect"] * treated + u + v + s + e1
    soc0, soc1 = (np.clip(np.round(x, 1), 0.0, 100.0) for x in (soc0, soc1))

    # --- exact calibration of the three published shares (intervention communities) ----------------------
    n_fixes = {}

    def pick(row: np.ndarray, value: int) -> int:
        return int(rng_fix.choice(np.flatnonzero(row == value)))

    # child health: count rises by >= 2
    member = (treated == 1) & (child == 1)
    in_share = (ch1.sum(1) - ch0.sum(1)) >= 2
    target = round(PUBLISHED_SHARES["child_health_improved_2plus"] * int(member.sum()))

    def add_child(i: int) -> bool | None:
        if ch1[i].sum() - ch0[i].sum() != 1 or ch1[i].all():
            return None
        ch1[i, pick(ch1[i], 0)] = 1
        return True

    def remove_child(i: int) -> bool | None:
        if ch1[i].sum() - ch0[i].sum() != 2:
            return None
        ch1[i, pick(ch1[i], 1)] = 0
        return False

    n_fixes["child_health_improved_2plus"] = _repair(rng_fix, member, in_share, target, add_child, remove_child)

    # hygiene: at least one practice absent at baseline and present at endline
    member = treated == 1
    gain = (hy0 == 0) & (hy1 == 1)
    in_share = gain.any(1)
    target = round(PUBLISHED_SHARES["hygiene_improved_1plus"] * int(member.sum()))

    def add_hyg(i: int) -> bool | None:
        both_absent = (hy0[i] == 0) & (hy1[i] == 0)
        if not both_absent.any():
            return None
        hy1[i, int(rng_fix.choice(np.flatnonzero(both_absent)))] = 1
        return True

    def remove_hyg(i: int) -> bool | None:
        g = (hy0[i] == 0) & (hy1[i] == 1)
        if g.sum() != 1:
            return None
        hy1[i, int(np.flatnonzero(g)[0])] = 0
        return False

    n_fixes["hygiene_improved_1plus"] = _repair(rng_fix, member, in_share, target, add_hyg, remove_hyg)

    # parenting: 5-6 behaviours at endline
    in_share = pa1.sum(1) >= 5
    target = round(PUBLISHED_SHARES["parenting_5_6_endline"] * int(member.sum()))

    def add_par(i: int) -> bool | None:
        if pa1[i].sum() != 4:
            return None
        pa1[i, pick(pa1[i], 0)] = 1
        return True

    def remove_par(i: int) -> bool | None:
        if pa1[i].sum() != 5:
            return None
        pa1[i, pick(pa1[i], 1)] = 0
        return False

    n_fixes["parenting_5_6_endline"] = _repair(rng_fix, member, in_share, target, add_par, remove_par)

    # --- long format ---------------------------------------------------------------------------------------
    frames = []
    for wave, ch, hy, pa, soc in [(0, ch0, hy0, pa0, soc0), (1, ch1, hy1, pa1, soc1)]:
        f = pd.DataFrame(
            {
                "household_id": np.arange(1, n + 1),
                "community": [f"C{c + 1:02d}" for c in community],
                "district": np.array(DISTRICTS)[district_of[community]],
                "treated": treated,
                "wave": wave,
                "treated_post": treated * wave,
                "has_child_under3": child,
            }
        )
        chf = np.where(child[:, None] == 1, ch.astype(float), np.nan)
        for j, col in enumerate(CHILD_COLS):
            f[col] = chf[:, j]
        f["n_child_health_practices"] = chf.sum(1)  # NaN propagates for households without a child under 3
        for j, col in enumerate(HYGIENE_COLS):
            f[col] = hy[:, j]
        f["n_hygiene_practices"] = hy.sum(1)
        for j, col in enumerate(PARENTING_COLS):
            f[col] = pa[:, j]
        f["n_parenting_practices"] = pa.sum(1)
        f["social_capital"] = soc
        frames.append(f)
    df = pd.concat(frames, ignore_index=True).sort_values(["household_id", "wave"], kind="stable")
    df = df.reset_index(drop=True)[COLUMNS]
    df.attrs["repairs"] = {k: {"moved_in": a, "moved_out": b} for k, (a, b) in n_fixes.items()}
    return df


# ----------------------------------------------------------------------------------------------------------
# metadata
# ----------------------------------------------------------------------------------------------------------
def _param(name: str, value, label: str, source: str) -> dict:
    key = "source" if label in ("published", "derived") else "note"
    return {"name": name, "value": value, "label": label, key: source}


def build_metadata(df: pd.DataFrame) -> dict:
    """Metadata for ``vraem.csv``: description, design, columns, labelled parameters and calibration."""
    studies = "shared/STUDIES.md section 2"
    pub_src = "MSH Peru, USAID-funded VRAEM social capital and family well-being programme, final results (via " + (
        studies + ")"
    )
    shares = published_shares(df)
    eff = expected_effects()
    did = {k: did_ols(df, k) for k in eff}
    base = df.loc[df["wave"] == 0]
    icc = {
        "social_capital_baseline": icc_anova(base["social_capital"].to_numpy(), base["community"].to_numpy()),
        "n_parenting_practices_baseline": icc_anova(
            base["n_parenting_practices"].to_numpy(dtype=float), base["community"].to_numpy()
        ),
        "hand_washing_baseline": icc_anova(base["hand_washing"].to_numpy(dtype=float), base["community"].to_numpy()),
    }
    bc = base.loc[base["has_child_under3"] == 1]
    icc["n_child_health_practices_baseline"] = icc_anova(
        bc["n_child_health_practices"].to_numpy(dtype=float), bc["community"].to_numpy()
    )
    comm = base.groupby("community").agg(district=("district", "first"), treated=("treated", "first"))
    alloc = {
        d: {
            "communities": sorted(g.index.tolist()),
            "treated": sorted(g.index[g["treated"] == 1].tolist()),
            "control": sorted(g.index[g["treated"] == 0].tolist()),
        }
        for d, g in comm.groupby("district")
    }
    sizes = base.groupby("community").size()

    columns: dict[str, dict] = {
        "household_id": {"description": "Household identifier, 1..775 (the panel unit)", "units": None, "dtype": "int"},
        "community": {
            "description": "Community (the cluster and unit of assignment), C01..C31; anonymised",
            "units": None,
            "dtype": "string",
        },
        "district": {
            "description": "District of La Mar province (the stratum of the assignment), D1..D6; anonymised",
            "units": None,
            "dtype": "string",
        },
        "treated": {
            "description": "Community status, constant over waves: 1 = intervention community, 0 = control",
            "units": None,
            "dtype": "int",
        },
        "wave": {
            "description": "Survey round: 0 = baseline, 1 = endline (the 'post' indicator)",
            "units": None,
            "dtype": "int",
        },
        "treated_post": {
            "description": "treated x wave: the household's treatment status in that wave (1 = intervention "
            "community at endline); the treatment column for a panel difference-in-differences with unit "
            "and time fixed effects",
            "units": None,
            "dtype": "int",
        },
        "has_child_under3": {
            "description": "1 = the household had a child under 3 at baseline (constant over waves); child-health "
            "practices refer to that child and are recorded only for these households",
            "units": None,
            "dtype": "int",
        },
    }
    child_text = {
        "breastfeeding": "child breastfed as recommended for age (exclusive under 6 months, continued after)",
        "iron_supplement": "child receives iron supplements (anaemia prevention)",
        "anaemia_screening": "child had a haemoglobin (anaemia) test as scheduled",
        "growth_monitoring": "child's growth and development check-ups (CRED) up to date",
        "vaccination_up_to_date": "child's vaccinations up to date for age",
        "iron_rich_foods": "child eats iron-rich (animal-source) foods daily",
    }
    for col, text in child_text.items():
        columns[col] = {
            "description": f"Child-health practice: {text}. 1 = practised; NaN if has_child_under3 == 0",
            "units": "0/1",
            "dtype": "float",
        }
    columns["n_child_health_practices"] = {
        "description": "Number of the 6 child-health practices (sum of the columns above); NaN if "
        "has_child_under3 == 0",
        "units": "count 0-6",
        "dtype": "float",
    }
    columns["hand_washing"] = {
        "description": "Hygiene practice: hand washing with soap at key moments",
        "units": "0/1",
        "dtype": "int",
    }
    columns["safe_water"] = {
        "description": "Hygiene practice: drinking water treated (boiled, chlorinated or filtered)",
        "units": "0/1",
        "dtype": "int",
    }
    columns["n_hygiene_practices"] = {
        "description": "Number of the 2 hygiene practices",
        "units": "count 0-2",
        "dtype": "int",
    }
    par_text = {
        "parenting_praise": "praises the children for good behaviour",
        "parenting_play": "plays with the children",
        "parenting_stories": "reads or tells stories to the children",
        "parenting_explain_rules": "explains rules and consequences instead of punishing",
        "parenting_no_hitting": "does not hit or slap the children (non-violent discipline)",
        "parenting_listen": "listens to and talks with the children about their day",
    }
    for col, text in par_text.items():
        columns[col] = {
            "description": f"Positive-parenting behaviour of the main caregiver: {text}. 1 = practised",
            "units": "0/1",
            "dtype": "int",
        }
    columns["n_parenting_practices"] = {
        "description": "Number of the 6 positive-parenting behaviours",
        "units": "count 0-6",
        "dtype": "int",
    }
    columns["social_capital"] = {
        "description": "Household social-capital index (trust, participation in community organisations, mutual help)",
        "units": "index 0-100, 1 decimal",
        "dtype": "float",
    }
    columns = {c: columns[c] for c in df.columns}

    child_share = shares["child_health_improved_2plus"]
    target = PUBLISHED_SHARES["child_health_improved_2plus"]
    p_gain = optimize.brentq(lambda p: stats.binom.sf(1, 6, p) - target, 0.01, 0.99, xtol=1e-12)
    params = [
        _param("n_communities", N_COMMUNITIES, "published", pub_src),
        _param("n_districts", len(DISTRICTS), "published", pub_src),
        _param("n_intervention_communities", N_TREATED, "published", pub_src),
        _param("n_control_communities", N_CONTROL, "published", pub_src),
        _param("province", "La Mar, Ayacucho (VRAEM)", "published", pub_src),
        _param("programme_duration", "planned 2022-2026; ran two years and four months", "published", pub_src),
        _param(
            "share_child_health_improved_2plus",
            PUBLISHED_SHARES["child_health_improved_2plus"],
            "published",
            pub_src + ": families with children under 3 in intervention communities that improved two or more "
            "child-health practices",
        ),
        _param(
            "share_hygiene_improved_1plus",
            PUBLISHED_SHARES["hygiene_improved_1plus"],
            "published",
            pub_src + ": families in intervention communities that improved at least one of two hygiene "
            "practices (hand washing, safe water)",
        ),
        _param(
            "share_parenting_5_6",
            PUBLISHED_SHARES["parenting_5_6_endline"],
            "published",
            pub_src + ": families in intervention communities practising 5-6 positive-parenting behaviours",
        ),
        _param(
            "share_communities_met_annual_plan",
            0.625,
            "published",
            pub_src + ". Not represented in the data. 62.5% = 5/8 is not k/17 for any integer k (10/17 = 58.8%, "
            "11/17 = 64.7%), so its denominator was not the 17 intervention communities (derived remark)",
        ),
        _param("share_councils_assessment_and_plan", 1.0, "published", pub_src + ". Not represented in the data"),
        _param(
            "target_numerators",
            {k: v["target_numerator"] for k, v in shares.items()},
            "derived",
            "round(published share x denominator): the count nearest to the published share",
        ),
        _param(
            "child_health_control_trend_lower_bound",
            round(p_gain - max(v[2] for v in CHILD_HEALTH.values()), 4),
            "derived",
            f"With 6 practices varying independently and never lost, 83% of households gaining 2+ practices needs "
            f"a per-practice gain of at least {p_gain:.4f} (P(Binomial(6, p) >= 2) = 0.83, solved with brentq); "
            "with effects of +0.10 to +0.15 the control trend must then be about +0.30 (this value = the bound "
            "minus the largest assumed effect), not the small trend STUDIES.md suggests: the published 83% is a "
            "before-after share, mostly a common trend in these data",
        ),
        _param("seed", SEED, "assumed", "numpy.random.SeedSequence root of " + SCRIPT),
        _param(
            "assignment",
            "blocked cluster randomization: communities randomized within districts, fixed number treated per district",
            "assumed",
            "The allocation (which communities, how many per district) is not published",
        ),
        _param(
            "communities_per_district",
            dict(zip(DISTRICTS, COMMUNITIES_PER_DISTRICT, strict=True)),
            "assumed",
            "Sums to the published 31; every district has both arms (needed for within-district "
            "randomization inference)",
        ),
        _param(
            "intervention_communities_per_district",
            dict(zip(DISTRICTS, TREATED_PER_DISTRICT, strict=True)),
            "assumed",
            "Sums to the published 17; controls 2, 3, 2, 2, 3, 2 sum to 14",
        ),
        _param(
            "households_per_community_range",
            list(HOUSEHOLDS_RANGE),
            "assumed",
            "STUDIES.md: about 25 households per community",
        ),
        _param("n_households", N_HOUSEHOLDS, "assumed", "31 x 25; community sizes adjusted to this total"),
        _param("n_waves", 2, "assumed", "Baseline and endline household panel, no attrition"),
        _param("p_child_under3", P_CHILD_UNDER3, "assumed", "Share of households with a child under 3 at baseline"),
        _param(
            "child_health_practices",
            {k: {"baseline": v[0], "control_trend": v[1], "effect": v[2]} for k, v in CHILD_HEALTH.items()},
            "assumed",
            "Probability points. Effects within STUDIES.md's +10 to +15 points; the control trend is large, see "
            "child_health_control_trend_lower_bound",
        ),
        _param(
            "hygiene_practices",
            {k: {"baseline": v[0], "control_trend": v[1], "effect": v[2]} for k, v in HYGIENE.items()},
            "assumed",
            "Probability points; +10 to +15 point effects with a small control trend (STUDIES.md)",
        ),
        _param(
            "parenting_practices",
            {k: {"baseline": v[0], "control_trend": v[1], "effect": v[2]} for k, v in PARENTING.items()},
            "assumed",
            "Probability points; +10 to +15 point effects with a small control trend (STUDIES.md)",
        ),
        _param(
            "latent_variance_components",
            LATENT,
            "assumed",
            "Per domain, on the probit scale (total variance 1 at each wave): community effect, household "
            "propensity, endline community shock, and rho = wave-to-wave correlation of the practice-specific "
            "term. Low rho for hygiene: observed hygiene practices change state often, which the published 47% "
            "needs with a +10 to +15 point effect",
        ),
        _param(
            "social_capital_model",
            SOCIAL_CAPITAL,
            "assumed",
            "Index = mean + trend x wave + effect x treated x wave + community + household + endline community "
            "shock + AR(1)-over-waves noise; rounded to 1 decimal, clipped to 0-100. Effect +5 points assumed",
        ),
        _param(
            "intra_cluster_correlation_target",
            "about 0.05-0.15 (observed scale, baseline)",
            "assumed",
            "Realised values (ANOVA estimator at baseline) are in calibration.icc",
        ),
        _param(
            "calibration_repairs",
            df.attrs.get("repairs", {}),
            "derived",
            "Households moved into / out of each published share by flipping one endline practice (seeded), "
            "after the draw from the model",
        ),
    ]
    return {
        "name": "vraem",
        "title": "VRAEM: social capital and family well-being, La Mar, Ayacucho (simulated sample)",
        "description": (
            "Simulated baseline/endline household panel shaped after MSH Peru's USAID-funded programme on social "
            "capital and family well-being in the VRAEM (La Mar province, Ayacucho): 775 households in 31 "
            "communities of 6 districts, 17 intervention and 14 control communities, treatment at community "
            "level, districts as strata. Long format, one row per household and wave (1,550 rows). Binary "
            "child-health (households with a child under 3), hygiene and positive-parenting practices, their "
            "counts, and a 0-100 social-capital index. The three published shares within intervention "
            "communities are reproduced exactly; treatment-control effects, trends and variance components are "
            "assumed. These are not the real study data."
        ),
        "source": {"programme": pub_src, "notes": studies},
        "design": {
            "units": "households (panel unit) in communities (clusters, units of assignment) in districts (strata)",
            "n_households": int(base["household_id"].nunique()),
            "n_rows": len(df),
            "n_communities": N_COMMUNITIES,
            "n_treated_communities": N_TREATED,
            "n_control_communities": N_CONTROL,
            "households_per_community": {str(k): int(v) for k, v in sizes.items()},
            "allocation": alloc,
            "assumed_assignment": "communities randomized within districts (blocked cluster randomization), "
            "with the per-district numbers of intervention communities fixed as in 'allocation' (assumed: the "
            "real allocation is not published)",
            "panel": "balanced: every household at wave 0 and wave 1; no attrition (assumed)",
        },
        "analysis": {
            "estimator": "difference-in-differences",
            "description": "2x2: OLS of y on treated, wave and treated x wave (or y on treated_post with household "
            "and wave fixed effects); the coefficient of the interaction is the effect. Inference must respect "
            "the 31 communities: cluster-robust with small-sample corrections (CR2), wild cluster bootstrap, or "
            "randomization inference that re-draws the community assignment within districts.",
            "treatment": "treated (group, with post = wave) or treated_post (panel, with unit = household_id, "
            "time = wave)",
            "clusters": "community",
            "blocks": "district",
        },
        "columns": columns,
        "parameters": params,
        "calibration": {
            "published_shares": {
                k: {
                    "published": PUBLISHED_SHARES[k],
                    "source": pub_src,
                    **v,
                    "matched": bool(v["percent"] == round(100 * PUBLISHED_SHARES[k])),
                    "nearest_count": bool(v["numerator"] == v["target_numerator"]),
                }
                for k, v in shares.items()
            },
            "assumed_effects": {
                k: {
                    "assumed": eff[k],
                    "did_estimate": round(did[k]["estimate"], 6),
                    "cluster_se": round(did[k]["std_error"], 6),
                    "within_2se": bool(abs(did[k]["estimate"] - eff[k]) <= 2 * did[k]["std_error"]),
                }
                for k in eff
            },
            "assumed_effects_note": "did_estimate: OLS y ~ treated * wave with statsmodels' cluster-robust SE by "
            "community (CR1); the expected DiD of each practice is exactly its assumed effect under the model, "
            "the realised one differs by sampling noise and the calibration repairs",
            "icc": {k: round(v, 4) for k, v in icc.items()},
            "icc_note": "One-way ANOVA estimator (Donner 1986) at baseline, communities as clusters",
            "child_health_denominator": int(child_share["denominator"]),
            "verified_on": "the CSV as written and read back",
        },
        "generator": {"script": SCRIPT, "seed": SEED, "numpy_rng": "numpy.random.SeedSequence(seed).spawn(6)"},
        "files": {"data": "vraem.csv"},
    }


def check(df: pd.DataFrame) -> None:
    """Raise if a published share is not reproduced exactly or a headline assumed effect is not recovered."""
    for key, v in published_shares(df).items():
        if v["percent"] != round(100 * PUBLISHED_SHARES[key]) or v["numerator"] != v["target_numerator"]:
            raise RuntimeError(f"{key}: published share not reproduced: {v}")
    for outcome in HEADLINE:
        effect = expected_effects()[outcome]
        r = did_ols(df, outcome)
        if abs(r["estimate"] - effect) > 2 * r["std_error"]:
            raise RuntimeError(f"{outcome}: DiD {r['estimate']:.4f} (SE {r['std_error']:.4f}) vs assumed {effect}")


def main() -> None:
    df = build(SEED)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    df.to_csv(CSV_PATH, index=False)
    back = pd.read_csv(CSV_PATH)
    check(back)
    back.attrs = dict(df.attrs)
    meta = build_metadata(back)
    META_PATH.write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    for k, v in meta["calibration"]["published_shares"].items():
        print(k, v["numerator"], "/", v["denominator"], f"= {v['share']:.4f}")
    for k, v in meta["calibration"]["assumed_effects"].items():
        print(k, v)
    print("icc", meta["calibration"]["icc"])
    print(f"wrote {CSV_PATH.relative_to(REPO)} and {META_PATH.relative_to(REPO)}")


if __name__ == "__main__":
    main()
