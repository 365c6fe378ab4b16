"""A randomized trial's outcomes: templates, complete cases, estimation samples and effect sizes, handed to the one
estimation loop (:mod:`evalkit.designs._loop`); also the complete-case helper the other designs use."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Hashable, Mapping, Sequence

import numpy as np
import pandas as pd

from evalkit._validation import check_alpha, check_option, require_columns, to_float_array
from evalkit.designs._attrition import (
    AttritionCases,
    MissingCovariates,
    attrition_cases,
    covariate_means,
    fill_with_indicators,
)
from evalkit.designs._iv import check_take_up, iv_columns, iv_result_notes, take_up_notes
from evalkit.designs._loop import OutcomeDesign, PreparedOutcome, assemble_results, estimate_each
from evalkit.designs._moderators import encode_moderators, interaction_covariate_notes
from evalkit.designs._roles import arms_in_every_group
from evalkit.errors import DataError, OptionError
from evalkit.estimators import EstimationSample, EstimatorName, LinearFit, get_estimator
from evalkit.estimators.effect_sizes import standardized_effects
from evalkit.estimators.response_weights import fit_response_model
from evalkit.inference._base import InferenceContext, InferenceMethod
from evalkit.inference.analytic import resolve_inference
from evalkit.inference.iv import TwoStageInference
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


def _complete_cases(data: pd.DataFrame, outcome: str, columns: Sequence[str]) -> AttritionCases:
    """Rows with every value of ``columns`` (the outcome first), and the records of the others."""
    return attrition_cases(data, outcome, columns, weighted=False)


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
    moderators: Sequence[str] = (),
    take_up: str | None = None,
    attrition_weights: Sequence[str] = (),
    missing_covariates: MissingCovariates = "listwise",
) -> Results:
    """Estimate each outcome on its complete cases and collect one tidy row per outcome.

    The design hands down arrays and callables only (treatment, block and cluster codes, its assignment's draw
    function); nothing here knows which design it serves. With ``estimator="iv"``, ``take_up`` names the treatment
    received and ``treatment`` (assignment) is the instrument (see :mod:`evalkit.designs._iv`).

    With ``attrition_weights`` (baseline covariates), each outcome's rows with every covariate form the response
    model's population: a logit of "outcome observed" on treatment and those covariates
    (:func:`evalkit.estimators.response_weights.fit_response_model`) gives the weights :math:`w_i/\\hat p_i` of the
    respondents, the estimator runs with them, and the sandwich adds the two-step correction for the estimated
    weights (:func:`evalkit.inference.estimated_weights.estimated_weights_adjustment`). With
    ``missing_covariates="indicator"`` missing covariate values are set to the column's mean over all rows and a
    missing indicator is added (:func:`evalkit.designs._attrition.fill_with_indicators`) instead of dropping rows.
    """
    check_alpha(alpha)
    check_take_up(take_up, estimator=estimator, treatment=treatment_name, roles=roles)
    check_outcome_list(outcomes, roles)
    check_option("missing_covariates", missing_covariates, MissingCovariates)
    spec, default_note = resolve_inference(inference, default_inference)
    attrition_weights = list(attrition_weights)
    if attrition_weights and take_up is not None:
        raise OptionError(
            "attrition_weights= with estimator='iv' is not supported: the two-step correction for estimated response "
            "weights is derived for the one-equation estimators. Estimate the ITT with attrition_weights=, or the "
            "CACE on complete cases (and bound it with trial.bounds())."
        )
    if attrition_weights and spec.sandwich_type is None:  # only the sandwich adds the estimated-weights term
        raise OptionError(
            f"attrition_weights= works with sandwich inference ('HC2', 'CR2', ek.inference.Sandwich(...)); "
            f"inference={spec.name!r} would ignore that the weights are estimated. Use a sandwich type."
        )
    require_columns(data, attrition_weights, "attrition_weights covariate")
    for column in attrition_weights:
        if column in roles:
            raise DataError(
                f"column {column!r} is a role of the design (treatment, blocks, clusters or weights); the treatment "
                "enters the response model on its own. Remove it from attrition_weights=."
            )
    extra_notes: list[str] = []
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

    check_moderators(moderators, covariates, roles, estimator)
    registered = get_estimator(estimator)
    warned: list[str] = []
    if take_up is not None:
        require_columns(data, [take_up], "take-up")
        spec = TwoStageInference(spec)
    take_up_seen: list[str] = []

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
        if outcome in moderators:
            raise DataError(f"outcome {outcome!r} is also a moderator; a moderator must be measured before treatment.")
        if take_up is not None and (take_up == outcome or take_up in own_covariates):
            raise DataError(
                f"take_up={take_up!r} is also the outcome or a covariate (outcome {outcome!r}); take-up is the "
                "treatment received and must be neither."
            )
        if outcome in attrition_weights:
            raise DataError(
                f"outcome {outcome!r} is also in attrition_weights=; the response model needs baseline "
                "covariates, not the outcome."
            )
        filled = list(dict.fromkeys([*own_covariates, *attrition_weights])) if missing_covariates == "indicator" else []
        listwise = [c for c in (*own_covariates, *attrition_weights) if c not in filled]
        columns = list(
            dict.fromkeys(
                [
                    outcome,
                    *([base_col] if base_col else []),
                    *listwise,
                    *moderators,
                    *([take_up] if take_up else []),
                ]
            )
        )
        cases = attrition_cases(data, outcome, columns, weighted=bool(attrition_weights))
        mask = cases.mask
        means = covariate_means(data, filled) if filled else {}
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
        moderated = encode_moderators(sub, moderators, outcome) if moderators else None
        X, names = to_float_array(sub, own_covariates, "covariate"), tuple(own_covariates)
        if filled:
            X, names, counts = fill_with_indicators(X, names, means)
            if counts:
                shown = ", ".join(f"{c!r} ({k})" for c, k in counts.items())
                extra_notes.append(
                    f"missing_covariates='indicator' ({outcome!r}): missing values of {shown} were set to the "
                    "column's mean over all rows, and a '<covariate>_missing' indicator was added to the covariates."
                )
        model = None
        unit_weights = None if weights is None else weights[mask]
        if attrition_weights:
            population = cases.population
            V = np.column_stack(
                [treatment[population], to_float_array(data.loc[population], attrition_weights, "covariate")]
            )
            v_names: tuple = (treatment_name, *attrition_weights)
            if filled:
                V, v_names, _ = fill_with_indicators(V, v_names, {treatment_name: 0.0, **means})
            model = fit_response_model(
                ~data[outcome].isna().to_numpy()[population],
                V,
                tuple(v_names),
                outcome=outcome,
                base_weights=None if weights is None else weights[population],
                clusters=None if cluster_codes is None else cluster_codes[population],
            )
            unit_weights = model.weights()
            extra_notes.append(
                f"{outcome!r} is weighted by the inverse of the estimated probability that it is observed "
                f"(attrition_weights: {model.describe()}); rows missing the outcome enter the response model, not "
                "the estimate. Standard errors account for the estimated weights (two-step M-estimation correction "
                "added to the sandwich)."
            )
        sample = EstimationSample(
            y=to_float_array(sub, [outcome], "outcome")[:, 0],
            treatment=z,
            covariates=X,
            covariate_names=names,
            blocks=None if block_codes is None else block_codes[mask],
            weights=unit_weights,
            baseline=None if base_col is None else to_float_array(sub, [base_col], "baseline")[:, 0],
            treatment_name=treatment_name,
            moderators=None if moderated is None else moderated.values,
            moderator_names=() if moderated is None else moderated.names,
            take_up=None if take_up is None else to_float_array(sub, [take_up], "take-up")[:, 0],
            take_up_name="take_up" if take_up is None else str(take_up),
        )
        for note in interaction_covariate_notes(sub, z, sample.covariate_names, sample.covariates, treatment_name):
            if note not in warned:
                warned.append(note)
                warnings.warn(note, UserWarning, stacklevel=7)  # the caller of design.estimate()
        if take_up is not None:
            take_up_seen.extend(n for n in take_up_notes(sample) if n not in take_up_seen)
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
            response_model=model,
        )
        return PreparedOutcome(outcome=outcome, sample=sample, context=ctx, dropped=tuple(cases.dropped))

    def effect_sizes(prepared: PreparedOutcome, fit: LinearFit, term: int, joint: object) -> dict[str, object]:
        analysed, z = _analysed(prepared.sample, estimator), prepared.sample.treatment
        eff = standardized_effects(fit.estimate, analysed, z, alpha=alpha)
        heterogeneity = _heterogeneity_columns(joint) if moderators else {}
        if term != fit.target:  # an interaction: how the effect changes with a moderator, not an effect size
            columns = {"control_mean": float(analysed[z == 0].mean()), "control_sd": eff.sd_control, **heterogeneity}
            if _randomization(spec):  # inverting a constant-effect null gives no interval for an interaction
                columns.update(conf_low=np.nan, conf_high=np.nan)
            return columns
        return {
            **heterogeneity,
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

    columns = effect_sizes
    if take_up is not None:

        def columns(prepared: PreparedOutcome, fit: LinearFit, term: int, joint: object) -> dict[str, object]:
            # standardized complier effects; their intervals (difference-in-means formulas) do not apply to 2SLS
            sizes = {
                k: (np.nan if k.endswith(("_low", "_high")) else v)
                for k, v in effect_sizes(prepared, fit, term, joint).items()
            }
            return {**sizes, **iv_columns(fit, prepared.context, spec)}

    outcome_design = OutcomeDesign(prepare=prepare, columns=columns)
    if moderators:
        outcome_design = OutcomeDesign(
            prepare=prepare,
            columns=columns,
            terms=_target_and_moderators,
            joint_terms=_moderator_terms,
            joint_name="heterogeneity_test",
        )
    done = estimate_each(outcomes, registered, spec, outcome_design)
    all_notes = [*notes, *warned, *take_up_seen, *done.notes, *extra_notes]
    if take_up is not None:
        all_notes.extend(iv_result_notes(done.rows, take_up, treatment_name))
    if moderators:
        all_notes.extend(_moderator_notes(spec))
        for outcome, of in done.fits.items():
            test = of.inference.get("heterogeneity_test")
            if test is not None:
                all_notes.append(
                    f"Effect heterogeneity ({outcome}): F({test.df_num:g}, {test.df_denom:.4g}) = "
                    f"{test.statistic:.3f}, p = {test.p_value:.3g}, joint test that {', '.join(test.terms)} are zero "
                    f"({test.method})."
                )
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


def check_moderators(
    moderators: Sequence[str], covariates: Sequence[str], roles: Sequence[str | None], estimator: str
) -> None:
    """Refuse moderators with an estimator that has no regression, listed twice, or also a covariate or role."""
    if not moderators:
        return
    if estimator not in ("ols", "lin", "change"):
        raise OptionError(
            f"moderators= needs a regression estimator, and estimator={estimator!r} is not one; use "
            "estimator='ols' (ANCOVA plus the centred moderators and their interactions with treatment) or 'lin'."
        )
    seen: set[str] = set()
    for moderator in moderators:
        if moderator in seen:
            raise DataError(f"moderator {moderator!r} is listed twice; list each moderator once.")
        seen.add(moderator)
        if moderator in roles:
            raise DataError(
                f"column {moderator!r} is a role of the design (treatment, blocks, clusters or weights) and cannot "
                "also be a moderator; for effects by block use trial.subgroups(outcomes, by=...)."
            )
        if moderator in covariates:
            raise DataError(
                f"{moderator!r} is both a covariate and a moderator; list it only in moderators= (a moderator enters "
                "with its main effect as well as its interaction with treatment)."
            )


def _target_and_moderators(fit: LinearFit) -> list[int]:
    return [fit.target, *fit.moderator_columns]


def _moderator_terms(fit: LinearFit, terms: Sequence[int]) -> list[int]:
    return list(fit.moderator_columns)


def _heterogeneity_columns(joint: object) -> dict[str, object]:
    """The joint test that the effect does not vary with the moderators, on every row of the outcome."""
    if joint is None:
        return {"heterogeneity_F": np.nan, "heterogeneity_p": np.nan}
    return {"heterogeneity_F": joint.statistic, "heterogeneity_p": joint.p_value}  # type: ignore[attr-defined]


def _randomization(spec: InferenceMethod) -> bool:
    """Whether ``spec`` is randomization inference (its tests are of sharp nulls)."""
    return spec.sandwich_type is None and spec.name.startswith("randomization")


def _moderator_notes(spec: InferenceMethod) -> list[str]:
    """What the moderator rows and their joint test are, and what randomization inference tests with them."""
    notes = [
        "Moderators enter centred at their sample means, with their main effects and their interactions with "
        "treatment (rows '<treatment>:<moderator>', '<treatment>:<moderator>[<level>]' for a level of a "
        "categorical moderator against its first level); the treatment row stays the average effect. "
        "heterogeneity_F / heterogeneity_p: joint test that every interaction is zero (the effect does not vary "
        "with the moderators)."
    ]
    if _randomization(spec):
        null = float(getattr(spec, "null", 0.0))
        sharp = "of no effect for any unit" if null == 0 else f"that every unit's effect is {null:g}"
        notes.append(
            f"With {spec.name} inference the interaction rows test the sharp null {sharp} with the "
            "interaction's statistic, not that the effect does not vary (Ding, Feller and Miratrix 2016, JRSS-B "
            "78(3)); their intervals are not reported (inverting a constant-effect null says nothing about an "
            "interaction) and there is no joint heterogeneity test (heterogeneity_p is NaN). Use inference='HC2' "
            "or 'CR2' for tests and intervals of effect heterogeneity."
        )
    elif spec.sandwich_type is None:
        notes.append(
            f"{spec.name} inference offers no joint test, so heterogeneity_F / heterogeneity_p are NaN; "
            "inference='HC2' or 'CR2' gives the joint test that the effect does not vary."
        )
    return notes


def _analysed(sample: EstimationSample, estimator: str) -> np.ndarray:
    """The outcome the estimator compares: the change from baseline for ``"change"``, the outcome otherwise."""
    return sample.y if sample.baseline is None or estimator != "change" else sample.y - sample.baseline
