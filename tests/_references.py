"""Published numbers the tests check, in one place.

Two homes, no third:

- a number that a replication file (``replications/*.toml``) states is read from that file with
  :func:`published`, which returns the value and the tolerance exactly as the file states them (``tolerance`` is
  absolute; ``digits = d`` means half a unit in the d-th decimal, 0.5 * 10**-d, as ``evalkit.replication`` reads it);
- a number printed by a paper or another package that no replication file holds is a constant below, with its
  source and tolerance next to it.

The TOML is read here with ``tomllib`` directly, not with ``evalkit.replication`` (the code under test), so a bug in
evalkit's reader cannot move a test's expected value.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

__all__ = [
    "CUNA_MAS",
    "ESTIMATR_SLEEP_HC2",
    "KOLESAR_STATA",
    "MPDTA_README",
    "REPLICATIONS",
    "STATA_SHARPENED_Q",
    "VRAEM_DESIGN",
    "Published",
    "published",
]

#: The shipped replication files (the single source of the published numbers they state).
REPLICATIONS = Path(__file__).resolve().parents[1] / "replications"


@dataclass(frozen=True)
class Published:
    """One published number from a replication file: value, absolute tolerance and the source line of the file."""

    value: float
    tolerance: float
    source: str


@cache
def _expectations(file: str) -> tuple[dict[str, Any], ...]:
    """Every ``expect`` entry of a replication file, each with the ``id`` of its ``[[estimate]]``/``[[summary]]``."""
    with (REPLICATIONS / file).open("rb") as handle:
        spec = tomllib.load(handle)
    return tuple(
        {**expect, "id": block["id"]}
        for section in ("estimate", "summary")
        for block in spec.get(section, [])
        for expect in block.get("expect", [])
    )


def published(
    file: str,
    column: str,
    *,
    id: str | None = None,
    outcome: str | None = None,
    term: str | None = None,
    where: Mapping[str, Any] | None = None,
) -> Published:
    """The one expectation of ``file`` (a name in ``replications/``) for ``column`` matching every given key.

    ``id`` is the ``[[estimate]]`` or ``[[summary]]`` id; ``outcome``, ``term`` and ``where`` are those of the
    ``expect`` entry. Raises ``LookupError`` unless exactly one entry matches, so a renamed or duplicated entry
    fails the test that reads it instead of silently picking another number.
    """
    wanted = {"column": column, "id": id, "outcome": outcome, "term": term}
    matches = [
        e
        for e in _expectations(file)
        if all(v is None or e.get(k) == v for k, v in wanted.items())
        and (where is None or dict(e.get("where", {})) == dict(where))
    ]
    if len(matches) != 1:
        raise LookupError(
            f"replications/{file}: {len(matches)} expectations match column={column!r}, id={id!r}, "
            f"outcome={outcome!r}, term={term!r}, where={where!r}; need exactly one (narrow the keys)."
        )
    (entry,) = matches
    tolerance = 0.5 * 10 ** (-int(entry["digits"])) if "digits" in entry else float(entry["tolerance"])
    return Published(value=float(entry["value"]), tolerance=tolerance, source=entry["source"])


# ----------------------------------------------------------------------------------------------------------------
# Numbers no replication file holds
# ----------------------------------------------------------------------------------------------------------------

#: Kolesar's dfadjust test data (y = c(cos(0:9), tan(1:10)), x = c(sin(1:10), sin(2:11)), clusters
#: c(2, 1, 3, 2, 2, 3, 3, 1, 1, 2) recycled to 20 rows), Stata results hard-coded in
#: github.com/kolesarm/Robust-Small-Sample-Standard-Errors, tests/testthat/test_clustervar.R ("Test clustering if
#: clusters out of order"), printed with esttab b(%11.10f) se(%11.10f); (_cons, x) in each entry.
#: TOLERANCE: 1e-10 absolute, one unit in the tenth (last printed) decimal.
KOLESAR_STATA: Mapping[str, Any] = {
    "coefficients": (-0.4456202905, 0.3241183110),  # reg y x
    "se_cluster": (0.4827602183, 0.1814501834),  # reg y x, cluster(clusters)  (CR1)
    "se_hc2": (0.4227339762, 0.4421048122),  # reg y x, vce(hc2)
    "se_robust": (0.4278077455, 0.4392155956),  # reg y x, r  (HC1)
    "tolerance": 1e-10,
}

#: R's datasets::sleep, lm_robust(extra ~ group, sleep) (default se_type HC2), printed in
#: github.com/DeclareDesign/estimatr, tests/sleep.Rout.save: (Intercept) 0.75 (0.5657345), group2 1.58 (0.8490910),
#: DF 18. TOLERANCE: 5e-8 absolute on the SEs (half a unit in the seventh printed decimal); the coefficients are the
#: group means, exact up to round-off (1e-12).
ESTIMATR_SLEEP_HC2: Mapping[str, Any] = {
    "coefficients": (0.75, 1.58),
    "std_errors": (0.5657345, 0.8490910),
    "df": 18.0,
    "tolerance": 5e-8,
}

#: Sharpened FDR q-values (Anderson 2008) printed by Anderson's Stata code fdr_sharpened_qvalues.do (Stata 14), as
#: recorded in github.com/josh-ashkinaze/sharp-q-values, tests/test_compute_q.py: (p-values, printed q-values).
#: TOLERANCE: 1e-10 absolute (the q-values sit on Anderson's 0.001 grid).
STATA_SHARPENED_Q: tuple[tuple[list[float], list[float]], ...] = (
    ([0.02, 0.01, 0.03, 0.08, 0.168, 0.168, 0.168], [0.076, 0.076, 0.076, 0.087, 0.107, 0.107, 0.107]),
    ([0.001, 0.005, 0.01, 0.05, 0.1, 0.5], [0.007, 0.013, 0.016, 0.039, 0.064, 0.137]),
    ([0.9, 0.8, 0.7, 0.6, 0.5], [1.0] * 5),
    ([0.001], [0.002]),
    ([0.001] * 5, [0.002] * 5),
    ([0.05, 0.05, 0.05, 0.1, 0.1], [0.091] * 5),
    ([0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1], [0.112] * 10),
    ([0.0001, 0.0005, 0.001, 0.005, 0.01], [0.001, 0.002, 0.002, 0.003, 0.005]),
    ([0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], [1.0] * 7),
    (
        [0.001, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5],
        [0.012, 0.334, 0.429, 0.51, 0.563, 0.579, 0.579, 0.579, 0.579, 0.579, 0.579],
    ),
)

#: The R ``did`` README (bcallaway11/did README.md) on mpdta, the numbers replications/callaway_santanna_mpdta.toml
#: does not state (the ATT(g,t) point estimates, the pre-test p-value and the two overall aggregates are read from
#: that file with :func:`published`). All printed to 4 decimals: TOLERANCE 5e-5 on point estimates. The SEs are
#: multiplier-bootstrap SEs (1000 draws, R's RNG): tests compare them loosely and state their own tolerance.
MPDTA_README: Mapping[str, Any] = {
    # summary(att_gt(...)): bootstrap SE of each ATT(g,t), in the (group, time) order of the README table
    "att_gt_se": {
        (2004, 2004): 0.0241,
        (2004, 2005): 0.0313,
        (2004, 2006): 0.0380,
        (2004, 2007): 0.0337,
        (2006, 2004): 0.0223,
        (2006, 2005): 0.0196,
        (2006, 2006): 0.0188,
        (2006, 2007): 0.0202,
        (2007, 2004): 0.0154,
        (2007, 2005): 0.0168,
        (2007, 2006): 0.0190,
        (2007, 2007): 0.0182,
    },
    # simultaneous confidence band of ATT(2004,2004), [-0.0749, 0.0539]: critical value (0.0539 + 0.0749) / 2 / 0.0241
    "att_gt_crit_uniform": 2.67,
    # aggte(type = "group"): groups 2004, 2006, 2007
    "group": {2004: -0.0797, 2006: -0.0229, 2007: -0.0261},
    # aggte(type = "dynamic"): event times -3..3, and the overall bootstrap SE
    "dynamic": {-3: 0.0305, -2: -0.0006, -1: -0.0245, 0: -0.0199, 1: -0.0510, 2: -0.1373, 3: -0.1008},
    "dynamic_overall_se": 0.0196,
    "tolerance": 5e-5,
}

#: The VRAEM programme's design as published (MSH Peru, USAID-funded VRAEM programme, final results, via
#: shared/STUDIES.md section 2): 31 communities in 6 districts, 17 intervention and 14 control. Exact counts. (The
#: programme's published shares are in replications/vraem.toml.)
VRAEM_DESIGN: Mapping[str, int] = {
    "n_communities": 31,
    "n_districts": 6,
    "n_intervention_communities": 17,
    "n_control_communities": 14,
}

#: The Cuna Más impact evaluation as published (Araujo, Dormal, Grantham-McGregor, Lazarte, Rubio-Codina & Schady,
#: J. Public Econ. Plus 2021; AEARCTR-0000988; via shared/STUDIES.md section 3), the numbers
#: replications/cuna_mas.toml cannot state (the +0.10 SD effect and the 180 districts are read from that file with
#: :func:`published`): 12 departments (an exact count; no estimate() column holds it) and "more than 5,000 children
#: under 3" (a bound, not a value). Exact: no tolerance.
CUNA_MAS: Mapping[str, float] = {
    "n_departments": 12,
    "min_children": 5000,
}
