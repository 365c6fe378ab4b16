"""Non-compliance in a randomized trial (``estimator="iv"``, ``take_up=``): what the trial hands the one estimation
loop beside the 2SLS fit -- how each inference method treats it, the ITT / first-stage / Anderson-Rubin columns of the
complier-effect row, and the notes on the pattern of take-up.

The complier effect is one row per outcome (``term`` = the take-up column); the intention-to-treat effect, the
first stage (compliance rate), its F and the Anderson-Rubin set are columns of that row, so that a table stays one
row per outcome and ``Results.adjust`` corrects the complier effects' p-values only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from evalkit.errors import DataError, InferenceError, OptionError
from evalkit.estimators import REGISTRY, EstimationSample, LinearFit
from evalkit.estimators.iv import IVFit
from evalkit.inference._base import InferenceContext, InferenceMethod, InferenceOutcome
from evalkit.inference.analytic import Sandwich
from evalkit.inference.iv import iv_statistics
from evalkit.inference.randomization import RandomizationInference

__all__ = ["IVInference", "check_take_up", "iv_columns", "iv_result_notes", "take_up_notes"]

RANDOMIZATION_NOTE = (
    "Randomization inference under estimator='iv' tests the sharp null that assignment has no effect on the outcome "
    "of any unit (with null=b: no effect on the outcome net of b times take-up), by re-drawing assignment from the "
    "design and re-computing the reduced-form (ITT) statistic; under the exclusion restriction this is the null of "
    "no effect of take-up. The re-draws never use take-up, which assignment moves. std_error is the analytic 2SLS "
    "standard error; conf_low / conf_high are not computed (see ar_conf_low / ar_conf_high, the Anderson-Rubin "
    "interval)."
)


@dataclass(frozen=True)
class IVInference(InferenceMethod):
    """The user's inference method, applied to a 2SLS fit.

    A sandwich (``"HC2"``, ``"CR2"``, ...) is computed on the fit as it is: the second-stage design with fitted
    take-up and the structural residuals (``estimatr::iv_robust``). :class:`RandomizationInference` tests the sharp
    null of no effect of assignment on the reduced form (see :data:`RANDOMIZATION_NOTE`). Other methods refuse.
    """

    inner: InferenceMethod

    @property
    def name(self) -> str:
        """The wrapped method's label."""
        return self.inner.name

    @property
    def sandwich_type(self) -> str | None:
        """The wrapped method's sandwich type."""
        return self.inner.sandwich_type

    @property
    def working_model(self) -> str:
        """The wrapped method's working model."""
        return self.inner.working_model

    def infer(self, fit: LinearFit, ctx: InferenceContext) -> InferenceOutcome:
        """Standard error, test and interval of the complier effect."""
        return self.infer_terms(fit, ctx, [fit.target])[0]

    def infer_terms(self, fit: LinearFit, ctx: InferenceContext, terms: Sequence[int]) -> tuple[InferenceOutcome, ...]:
        """The complier effect's inference (the only term reported)."""
        if isinstance(self.inner, Sandwich):
            return self.inner.infer_terms(fit, ctx, terms)
        if isinstance(self.inner, RandomizationInference):
            return tuple(self._randomization(fit, ctx, self.inner) for _ in terms)
        raise InferenceError(
            f"estimator='iv' supports sandwich standard errors ('HC2', 'CR2', ...) and "
            f"RandomizationInference, not {type(self.inner).__name__}; a wild bootstrap of 2SLS needs the restricted "
            "first and second stages (not written). Use inference='CR2' or RandomizationInference."
        )

    def _randomization(self, fit: LinearFit, ctx: InferenceContext, ri: RandomizationInference) -> InferenceOutcome:
        sample = ctx.sample
        if not isinstance(fit, IVFit) or sample is None or sample.take_up is None:
            raise InferenceError("randomization inference for estimator='iv' needs the 2SLS fit and its sample.")
        ols = REGISTRY["ols"]
        net = dataclasses.replace(sample, y=sample.y - float(ri.null) * np.asarray(sample.take_up, dtype=np.float64))
        reduced = ols.fit(net)
        on_reduced = dataclasses.replace(ri, null=0.0, confidence_interval=False, seed=ri.seed_used)
        out = on_reduced.infer(reduced, dataclasses.replace(ctx, sample=net, refit=ols.fit, estimator="ols"))
        cov_type = ri.cov_type or ("CR2" if ctx.clusters is not None else "HC2")
        analytic = Sandwich(cov_type, working_model=ri.working_model).infer(fit, ctx)
        return InferenceOutcome(
            std_error=analytic.std_error,
            statistic=out.statistic,
            p_value=out.p_value,
            conf_low=np.nan,
            conf_high=np.nan,
            df=np.nan,
            n_clusters=out.n_clusters,
            label=f"{out.label}, reduced form",
            extra={**dict(out.extra), "null": float(ri.null), "reduced_form": True},
            columns=dict(out.columns),
            notes=(*out.notes, *analytic.notes, RANDOMIZATION_NOTE),
        )


def _analytic_settings(method: InferenceMethod, clustered: bool) -> tuple[str, str, str]:
    """(cov_type, df method, working model) of the analytic columns (ITT, first stage, Anderson-Rubin)."""
    inner = method.inner if isinstance(method, IVInference) else method
    if isinstance(inner, Sandwich):
        return inner.cov_type, inner.df, inner.working_model
    if isinstance(inner, RandomizationInference) and inner.cov_type is not None:
        return inner.cov_type, "default", inner.working_model
    return ("CR2" if clustered else "HC2"), "default", inner.working_model


def iv_columns(fit: LinearFit, ctx: InferenceContext, method: InferenceMethod) -> dict[str, object]:
    """The ITT, first-stage, first-stage F, Anderson-Rubin and take-up columns of a complier-effect row.

    They use the covariance type of the reported standard error (for randomization inference its ``cov_type``,
    default HC2 / CR2), with the same df rule.
    """
    if not isinstance(fit, IVFit) or ctx.sample is None or ctx.sample.take_up is None:
        raise InferenceError("the IV columns need a 2SLS fit (estimator='iv') and its sample.")
    cov_type, df_method, working_model = _analytic_settings(method, ctx.clusters is not None)
    s = iv_statistics(
        fit,
        cov_type,  # type: ignore[arg-type]
        alpha=ctx.alpha,
        clusters=ctx.clusters if cov_type.startswith("CR") else None,
        correction=ctx.correction,
        working_model=working_model,  # type: ignore[arg-type]
        df_method=df_method,  # type: ignore[arg-type]
    )
    rates = _take_up_rates(ctx.sample)
    return {
        "estimand": "CACE (2SLS)",
        "itt": s.itt,
        "itt_std_error": s.itt_std_error,
        "itt_p_value": s.itt_p_value,
        "itt_conf_low": s.itt_conf_low,
        "itt_conf_high": s.itt_conf_high,
        "first_stage": s.first_stage,
        "first_stage_std_error": s.first_stage_std_error,
        "first_stage_f": s.first_stage_f,
        "ar_conf_low": s.anderson_rubin.conf_low,
        "ar_conf_high": s.anderson_rubin.conf_high,
        "ar_set": s.anderson_rubin.description,
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
