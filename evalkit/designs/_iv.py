"""Non-compliance in a randomized trial (``estimator="iv"``, ``take_up=``): what the trial hands the one estimation
loop beside the 2SLS fit: the ITT / first-stage / Anderson-Rubin and take-up columns of the complier-effect row, the
notes on the pattern of take-up, and the refusals. How each inference method treats a 2SLS fit is
:class:`evalkit.inference.iv.TwoStageInference`.

The complier effect is one row per outcome (``term`` = the take-up column); the intention-to-treat effect, the
first stage (compliance rate), its F and the Anderson-Rubin set are columns of that row, so that a table stays one
row per outcome and ``Results.adjust`` corrects the complier effects' p-values only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from evalkit.errors import DataError, InferenceError, OptionError
from evalkit.estimators import EstimationSample, LinearFit
from evalkit.inference._base import InferenceContext, InferenceMethod
from evalkit.inference.iv import two_stage_columns

__all__ = ["check_take_up", "iv_columns", "iv_result_notes", "take_up_notes"]


def iv_columns(fit: LinearFit, ctx: InferenceContext, method: InferenceMethod) -> dict[str, object]:
    """The ITT, first-stage, first-stage F, Anderson-Rubin (:func:`evalkit.inference.iv.two_stage_columns`) and
    take-up columns of a complier-effect row."""
    if ctx.sample is None or ctx.sample.take_up is None:
        raise InferenceError("the IV columns need the 2SLS sample (estimator='iv').")
    rates = _take_up_rates(ctx.sample)
    return {
        "estimand": "CACE (2SLS)",
        **two_stage_columns(fit, ctx, method),
        "take_up_treated": rates[1],
        "take_up_control": rates[0],
        "one_sided": bool(_one_sided(ctx.sample)),
    }


def _take_up_rates(sample: EstimationSample) -> tuple[float, float]:
    d, z = np.asarray(sample.take_up, dtype=np.float64), np.asarray(sample.treatment) == 1
    w = np.ones_like(d) if sample.weights is None else np.asarray(sample.weights, dtype=np.float64)
    return float(np.average(d[~z], weights=w[~z])), float(np.average(d[z], weights=w[z]))


def _one_sided(sample: EstimationSample) -> bool:
    d, z = np.asarray(sample.take_up, dtype=np.float64), np.asarray(sample.treatment) == 1
    return bool((d[~z] == 0).all())


def take_up_notes(sample: EstimationSample) -> tuple[str, ...]:
    """Plain-language notes on the pattern of take-up in one outcome's sample."""
    d, z = np.asarray(sample.take_up, dtype=np.float64), np.asarray(sample.treatment) == 1
    name = sample.take_up_name
    notes = []
    if not np.isin(d, (0.0, 1.0)).all():
        notes.append(
            f"Take-up {name!r} is not 0/1: 2SLS estimates a weighted average of the effects of a unit increase in "
            "take-up (Angrist and Imbens 1995), and first_stage is the difference in mean take-up between arms."
        )
    if (d == z).all():
        notes.append(
            f"Take-up {name!r} equals assignment for every unit (full compliance): the complier effect is the "
            "intention-to-treat effect."
        )
    elif (d[~z] == 0).all():
        notes.append(
            f"One-sided non-compliance detected: no control unit took up treatment ({name!r} "
            "is 0 in the control arm), so there are no always-takers and the complier effect is the average effect "
            "of treatment on the treated (Bloom 1984: ITT divided by the take-up rate among the assigned)."
        )
    elif np.isin(d, (0.0, 1.0)).all() and (d[z] == 1).all():
        notes.append(
            f"Every assigned unit took up treatment ({name!r} is 1 in the treated arm): there are no never-takers, so "
            "the complier effect is the average effect of treatment on the untreated."
        )
    return tuple(notes)


#: The Staiger and Stock (1997) rule of thumb for a weak first stage with one instrument.
WEAK_F = 10.0


def iv_result_notes(rows: Sequence[dict[str, object]], take_up: str, treatment: str) -> list[str]:
    """What a 2SLS table's rows are, and which outcomes have a weak first stage (F below :data:`WEAK_F`)."""
    notes = [
        f"estimator='iv': each row is the complier average causal effect (CACE) of take-up {take_up!r}, by 2SLS with "
        f"the assignment {treatment!r} as the instrument; the row also gives the intention-to-treat effect (itt*), "
        "the first stage (first_stage*: the compliance rate), its F (first_stage_f) and the Anderson-Rubin set "
        "(ar_conf_low, ar_conf_high, ar_set). Effect-size intervals are not computed for 2SLS."
    ]
    weak = [str(r["outcome"]) for r in rows if float(r["first_stage_f"]) < WEAK_F]  # type: ignore[arg-type]
    if weak:
        notes.append(
            f"Weak first stage (F < {WEAK_F:g}, Staiger and Stock 1997) for {', '.join(map(repr, weak[:5]))}: the "
            "2SLS interval can under-cover; use the Anderson-Rubin set (ar_conf_low / ar_conf_high), valid however "
            "weak compliance is."
        )
    return notes


def check_take_up(take_up: object, *, estimator: str, treatment: str, roles: Sequence[object]) -> None:
    """Refuse a ``take_up`` that cannot be the treatment received of a 2SLS analysis, or one given without 2SLS."""
    if take_up is None:
        if estimator == "iv":
            raise OptionError(
                "estimator='iv' needs take_up=: the column of the treatment actually received (e.g. "
                "take_up='attended'); the design's treatment column is the random assignment, the instrument."
            )
        return
    if estimator != "iv":
        raise OptionError(
            f"take_up={take_up!r} is used only by estimator='iv' (2SLS with assignment as the instrument); with "
            f"estimator={estimator!r} the effect estimated is the intention-to-treat effect of assignment. Pass "
            "estimator='iv' for the complier effect, or drop take_up=."
        )
    if take_up == treatment:
        raise DataError(
            f"take_up={take_up!r} is the design's treatment column. The design's treatment must be the random "
            "assignment (the instrument) and take_up the treatment received: build the trial with "
            "treatment='<assignment column>' and pass take_up='<received column>'. If only take-up was recorded, "
            "the assignment is unknown and 2SLS is not possible."
        )
    if take_up in roles:
        raise DataError(
            f"take_up={take_up!r} is a role of the design (blocks, clusters or weights); take-up must be its own "
            "column."
        )
