"""A randomized trial's outcomes: templates, complete cases, estimation samples and effect sizes, handed to the one
estimation loop (:mod:`evalkit.designs._loop`); also the complete-case helper the other designs use."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from evalkit._validation import check_alpha, require_columns, to_float_array
from evalkit.designs._loop import OutcomeDesign, PreparedOutcome, assemble_results, estimate_each
from evalkit.designs._roles import arms_in_every_group
from evalkit.errors import DataError, OptionError
from evalkit.estimators import EstimationSample, EstimatorName, LinearFit, get_estimator
from evalkit.estimators.effect_sizes import standardized_effects
from evalkit.inference._base import InferenceContext, InferenceMethod
from evalkit.inference.analytic import resolve_inference
from evalkit.results import Results

__all__ = ["estimate_outcomes", "resolve_baseline"]


def is_template(name: object) -> bool:
    """True for a column-name template: text containing ``{outcome}`` (a non-text name, e.g. ``0``, never is)."""
    return isinstance(name, str) and "{outcome}" in name


def fill_template(name: Hashable, outcome: Hashable) -> Hashable:
    """``name`` with every ``{outcome}`` replaced by the outcome's name as text (other braces are kept as they
    are); a name that is not a template (:func:`is_template`) is returned unchanged."""
    return name.replace("{outcome}", str(outcome)) if is_template(name) else name


def check_outcome_list(outcomes: Sequence[str], roles: Sequence[str | None]) -> None:
    """Refuse an outcome listed twice or an outcome that is a role column of the design."""
    seen: set[str] = set()
    for outcome in outcomes:
        if outcome in seen:
            raise DataError(f"outcome {outcome!r} is listed twice; list each outcome once.")
        seen.add(outcome)
        if outcome in roles:
            raise DataError(
                f"column {outcome!r} is a role of the design (treatment, blocks, clusters or weights) and cannot also "
                "be an outcome."
            )


def resolve_baseline(baseline: str | Mapping[str, str] | None, outcomes: Sequence[str]) -> dict[str, str]:
    """Map each outcome to its baseline column from a template, a single name or a mapping."""
    if baseline is None:
        return {}
    if not isinstance(baseline, Mapping):
        if is_template(baseline):
            return {o: fill_template(baseline, o) for o in outcomes}
        if len(outcomes) > 1:
            raise OptionError(
                f"baseline={baseline!r} names one column but there are {len(outcomes)} outcomes; pass a template "
                "such as '{outcome}_bl' or a mapping {outcome: baseline column}."
            )
        return {outcomes[0]: baseline}
    missing = [o for o in outcomes if o not in baseline]
    if missing:
        raise OptionError(f"baseline mapping has no entry for outcome(s) {', '.join(map(repr, missing))}.")
    return {o: baseline[o] for o in outcomes}


@dataclass(frozen=True)
class _Cases:
    mask: np.ndarray
    dropped: list[dict[str, object]]


def _complete_cases(data: pd.DataFrame, outcome: str, columns: Sequence[str]) -> _Cases:
    missing = data[list(columns)].isna().to_numpy()
    mask = ~missing.any(axis=1)
    n_dropped = int((~mask).sum())
    rows: list[dict[str, object]] = []
    if n_dropped:
        counts = missing.sum(axis=0)
        reason = "missing values in " + ", ".join(
            f"{c!r} ({int(k)})" for c, k in zip(columns, counts, strict=True) if k
        )
        for c, k in zip(columns, counts, strict=True):
            if k:
                rows.append(
                    {
                        "outcome": outcome,
                        "column": c,
                        "n_missing": int(k),
                        "n_dropped": n_dropped,
                        "reason": reason,
                    }
                )
    return _Cases(mask=mask, dropped=rows)


def estimate_outcomes(
    data: pd.DataFrame,
    outcomes: Sequence[str],
    *,
    treatment: np.ndarray,
    treatment_name: str,
    estimator: EstimatorName,
    covariates: Sequence[str],
    baseline: str | Mapping[str, str] | None,
    domains: Mapping[str, str] | None,
    inference: object | None,
    default_inference: Callable[[], tuple[InferenceMethod, str]],
    alpha: float,
    block_codes: np.ndarray | None,
    block_labels: np.ndarray | None,
    block_column: str | None,
    cluster_codes: np.ndarray | None,
    weights: np.ndarray | None,
    draw: Callable[[np.random.Generator, int], np.ndarray] | None,
    design: str,
    roles: Sequence[str | None] = (),
    enumerate_all: Callable[[int | None, int, int | None], np.ndarray] | None = None,
    count: Callable[[], int] | None = None,
    notes: tuple[str, ...] = (),
) -> Results:
    """Estimate each outcome on its complete cases and collect one tidy row per outcome.

    The design hands down arrays and callables only (treatment, block and cluster codes, its assignment's draw
    function); nothing here knows which design it serves.
    """
    check_alpha(alpha)
    check_outcome_list(outcomes, roles)
    spec, default_note = resolve_inference(inference, default_inference)
    baselines = resolve_baseline(baseline, outcomes)
    if baselines and estimator != "change":
        raise OptionError(
            "baseline= is used only by estimator='change' (the difference in change from baseline); with "
            f"estimator={estimator!r} adjust for the baseline as a covariate instead, "
            "e.g. covariates=['{outcome}_bl']."
        )
    if estimator == "change" and not baselines:
        raise OptionError(
            "estimator='change' needs baseline=: a template such as '{outcome}_bl', a column name, or a mapping "
            "outcome -> baseline column."
        )
    require_columns(data, list(baselines.values()), "baseline column")
    if domains is not None:
        unknown = [o for o in outcomes if o not in domains]
        if unknown:
            raise OptionError(
                f"domains has no entry for outcome(s) {', '.join(map(repr, unknown))}; give every outcome a domain."
            )

    registered = get_estimator(estimator)

    def prepare(outcome: str) -> PreparedOutcome:
        base_col = baselines.get(outcome)
        own_covariates = [fill_template(c, outcome) for c in covariates]
        require_columns(data, own_covariates, f"covariate (for outcome {outcome!r})")
        if outcome in own_covariates or (base_col is not None and base_col == outcome):
            raise DataError(
                f"outcome {outcome!r} is also among its own covariates or its baseline; a regression of a variable on "
                "itself fits perfectly and says nothing about the effect. Remove it from covariates / baseline."
            )
        for column in (*own_covariates, *([base_col] if base_col else [])):
            if column in roles:
                raise DataError(
                    f"column {column!r} is a role of the design (treatment, blocks, clusters or weights) and cannot "
                    f"also be a covariate or baseline (outcome {outcome!r})."
                )
        columns = list(dict.fromkeys([outcome, *([base_col] if base_col else []), *own_covariates]))
        cases = _complete_cases(data, outcome, columns)
        mask = cases.mask
        if not mask.any():
            raise DataError(
                f"no complete rows for outcome {outcome!r}: every row misses one of {', '.join(map(repr, columns))}."
            )
        sub = data.loc[mask]
        z = treatment[mask]
        context = (
            f"after dropping {int((~mask).sum())} row(s) with missing values for {outcome!r}, " if (~mask).any() else ""
        )
        if z.min() == z.max():
            arm = "control" if z[0] == 1 else "treated"
            raise DataError(f"{context}outcome {outcome!r} has no {arm} rows left; nothing to compare.")
        if block_codes is not None:
            arms_in_every_group(z, block_codes[mask], block_labels, block_column, context)
        sample = EstimationSample(
            y=to_float_array(sub, [outcome], "outcome")[:, 0],
            treatment=z,
            covariates=to_float_array(sub, own_covariates, "covariate"),
            covariate_names=tuple(own_covariates),
            blocks=None if block_codes is None else block_codes[mask],
            weights=None if weights is None else weights[mask],
            baseline=None if base_col is None else to_float_array(sub, [base_col], "baseline")[:, 0],
            treatment_name=treatment_name,
        )
        analysed = _analysed(sample, estimator)
        if np.ptp(analysed) == 0:
            what = "change in " if estimator == "change" else ""
            raise DataError(
                f"the {what}outcome {outcome!r} has no variation (every value is {analysed[0]:g}); there is no "
                "effect to estimate. Check the column."
            )
        ctx = InferenceContext(
            alpha=alpha,
            clusters=None if cluster_codes is None else cluster_codes[mask],
            sample=sample,
            refit=registered.fit,
            draw=None if draw is None else (lambda rng, size, _m=mask: draw(rng, size)[:, _m]),
            enumerate=None
            if enumerate_all is None
            else (lambda limit, start=0, stop=None, _m=mask: enumerate_all(limit, start, stop)[:, _m]),
            count=count,
            estimator=estimator,
            rows=np.flatnonzero(mask),
        )
        return PreparedOutcome(outcome=outcome, sample=sample, context=ctx, dropped=tuple(cases.dropped))

    def effect_sizes(prepared: PreparedOutcome, fit: LinearFit, term: int, joint: object) -> dict[str, object]:
        analysed, z = _analysed(prepared.sample, estimator), prepared.sample.treatment
        eff = standardized_effects(fit.estimate, analysed, z, alpha=alpha)
        return {
            "control_mean": float(analysed[z == 0].mean()),
            "control_sd": eff.sd_control,
            "glass_delta": eff.glass_delta,
            "cohens_d": eff.cohens_d,
            "cohens_d_low": eff.cohens_d_low,
            "cohens_d_high": eff.cohens_d_high,
            "hedges_g": eff.hedges_g,
            "hedges_g_low": eff.hedges_g_low,
            "hedges_g_high": eff.hedges_g_high,
        }

    done = estimate_each(outcomes, registered, spec, OutcomeDesign(prepare=prepare, columns=effect_sizes))
    all_notes = [*notes, *done.notes]
    if default_note is not None:
        all_notes.append(default_note)
    elif cluster_codes is not None and spec.sandwich_type is not None and not spec.sandwich_type.startswith("CR"):
        all_notes.append(
            f"{spec.sandwich_type} ignores the clusters of this design; cluster-robust errors (CR2) are usually needed."
        )
    return assemble_results(
        done.rows,
        estimator=estimator,
        design=design,
        alpha=alpha,
        notes=all_notes,
        dropped=done.dropped,
        fits=done.fits,
        domains=domains,
    )


def _analysed(sample: EstimationSample, estimator: str) -> np.ndarray:
    """The outcome the estimator compares: the change from baseline for ``"change"``, the outcome otherwise."""
    return sample.y if sample.baseline is None or estimator != "change" else sample.y - sample.baseline
