"""Simulating a design as declared, for :meth:`RandomizedTrial.diagnose <evalkit.RandomizedTrial.diagnose>` and
:meth:`DiffInDiff.diagnose <evalkit.DiffInDiff.diagnose>`.

:class:`TrialSimulator` is the picklable object that :func:`evalkit.diagnostics.diagnose.run_diagnosis` runs in
tasks (here or on dask workers): it re-draws the trial's own assignment, builds the observed outcome from the
potential outcomes and runs the trial's own estimator and inference, through the one estimation path
(:func:`evalkit.designs._outcomes.estimate_outcomes`) or, where that is exact, through the batched estimators of
:mod:`evalkit.inference.batched` (a whole task as one stack of assignments).

:class:`DiDSimulator` does the same for a difference-in-differences design with a declared random assignment and
one start date: the treated units of assignment are re-drawn (within blocks) as randomization inference re-draws
them, the effect enters the treated post-period rows, and the estimator and inference are those ``estimate``
prepared (its estimation sample and inference context, recorded once), or
:func:`evalkit.inference.batched.fit_did_design` where that reproduces them.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from evalkit._linear_algebra import cr2_phi
from evalkit._threads import single_threaded_blas
from evalkit._validation import as_list, check_alpha, check_option, require_columns, to_float_array
from evalkit.designs._outcomes import estimate_outcomes, fill_template, is_template, resolve_baseline
from evalkit.diagnostics.diagnose import Diagnosis, run_diagnosis
from evalkit.errors import DataError, DesignError, EvalkitError, OptionError
from evalkit.estimators import EstimationSample, EstimatorName, LinearFit, get_estimator
from evalkit.estimators.treatment_design import DiDTreatmentDesign, TreatmentDesign, sorted_starts
from evalkit.inference._base import InferenceContext, InferenceMethod, InferenceOutcome, JointTest
from evalkit.inference.analytic import TTests, degenerate_se, resolve_inference, t_tests
from evalkit.inference.batched import MEMORY_BUDGET, batch_estimates, batch_least_squares, fit_did_design
from evalkit.inference.sandwich import _bm_df_from_pieces

__all__ = ["DiDSimulator", "Engine", "TrialSimulator", "diagnose_did", "diagnose_trial"]

Engine = Literal["auto", "batched", "loop"]

_Y = "__evalkit_diagnose_y"  # the simulated observed outcome
_Y0 = "__evalkit_diagnose_y0"  # the control potential outcome (the same assignment under the sharp null)
_BATCHED_ESTIMATORS = ("difference_in_means", "ols", "lin")
_BATCHED_TYPES = ("classical", "HC0", "HC1", "HC2", "HC3")
_LOOP_WORK = 20_000  # observations one loop simulation is worth, for the automatic progress bar (100 sims ~ 4 s)


@dataclass(frozen=True)
class _Batched:
    """What the batched engine needs, prepared once from the observed assignment."""

    sample: EstimationSample = field(repr=False)  # the estimation sample of the control outcomes (column)
    design: TreatmentDesign = field(repr=False)  # how the regressors depend on treatment
    cov_type: str
    welch: bool  # Welch-Satterthwaite df per draw (HC2 difference in means), else the constant df below
    df: float


@dataclass(frozen=True)
class TrialSimulator:
    """A trial's simulation as settings and arrays (picklable with the trial it holds).

    ``run(seed, size)`` draws ``size`` assignments with the trial's mechanism, then (the order fixes the random
    stream) one integer seed per simulation for a seeded inference method, then the control potential outcomes
    of each simulation when they are drawn by a function.
    """

    trial: Any = field(repr=False)
    frame: pd.DataFrame = field(repr=False)  # the columns estimation reads (outcome, covariates, baseline)
    outcome_name: Hashable
    draw_outcome: Callable[[pd.DataFrame, np.random.Generator], Any] | None = field(repr=False)
    effects: np.ndarray = field(repr=False)  # the unit-level effect tau_i, (n,)
    constant_effect: float | None
    estimator: str
    covariates: tuple[Hashable, ...]
    baseline: Hashable | None  # the baseline column of the outcome (estimator='change')
    inference: object
    alpha: float
    batched: _Batched | None = field(default=None, repr=False)

    # ------------------------------------------------------------------------------------------------ tasks
    def run(self, seed: np.random.SeedSequence, size: int) -> dict[str, Any]:
        """Simulate ``size`` times with ``numpy.random.default_rng(seed)``; arrays of the simulation columns."""
        with single_threaded_blas():  # thin products: one BLAS thread (see evalkit._threads)
            return self._run(seed, size)

    def _run(self, seed: np.random.SeedSequence, size: int) -> dict[str, Any]:
        rng = np.random.default_rng(seed)
        draws = self.trial._assignment.draw(rng, size)
        if self.batched is not None:
            return self._run_batched(draws, rng)
        seeded = _is_seeded(self.inference)
        seeds = rng.integers(0, 2**63 - 1, size=size) if seeded else None
        columns = {c: np.full(size, np.nan) for c in _COLUMNS}
        notes: list[str] = []
        for b in range(size):
            y0 = self._control_outcomes(rng)
            method = dataclasses.replace(self.inference, seed=int(seeds[b])) if seeds is not None else self.inference
            try:
                row = self._one(draws[b], y0, method)
            except EvalkitError as error:  # the simulation stays in the table as failed (NaN), with the reason
                message = f"{type(error).__name__}: {error}"
                if message not in notes:
                    notes.append(message)
                continue
            for c, v in row.items():
                columns[c][b] = v
        return {**columns, "notes": tuple(notes)}

    def _control_outcomes(self, rng: np.random.Generator) -> np.ndarray:
        if self.draw_outcome is None:
            return self.frame[self.outcome_name].to_numpy(dtype=np.float64)
        return _as_outcome(self.draw_outcome(self.trial.data, rng), len(self.frame), "outcome")

    def _estimate(self, z: np.ndarray, y0: np.ndarray, method: object, outcomes: Sequence[str]) -> Any:
        """The trial's one estimation path on treatment ``z`` with outcomes ``y = y0 + tau z`` and ``y0``."""
        trial = self.trial
        frame = self.frame.copy(deep=False)
        frame[_Y] = y0 + self.effects * z
        frame[_Y0] = y0
        return estimate_outcomes(
            frame,
            outcomes,
            treatment=z,
            treatment_name=trial.treatment,
            estimator=self.estimator,  # type: ignore[arg-type]
            covariates=list(self.covariates),
            baseline=None if self.baseline is None else {o: self.baseline for o in outcomes},
            domains=None,
            inference=method,
            default_inference=trial._default_inference,
            alpha=self.alpha,
            block_codes=trial._block_codes,
            block_labels=trial._block_labels,
            block_column=trial.blocks,
            cluster_codes=trial._cluster_codes,
            weights=trial._w,
            draw=trial._assignment.draw,
            enumerate_all=trial._assignment.enumerate,
            count=trial._assignment.count,
            design=trial.describe(),
            roles=trial._roles,
        )

    def _one(self, z_bool: np.ndarray, y0: np.ndarray, method: object) -> dict[str, float]:
        """One simulation through the trial's one estimation path."""
        null_needed = self.constant_effect != 0.0
        res = self._estimate(z_bool.astype(np.float64), y0, method, [_Y, _Y0] if null_needed else [_Y])
        table = res.to_frame()
        first = table.iloc[0]
        rows = res.fits[_Y].rows
        w = self.trial._w
        estimand = float(np.average(self.effects[rows], weights=None if w is None else w[rows]))
        return {
            "estimand": estimand,
            "estimate": float(first["estimate"]),
            "std_error": float(first["std_error"]),
            "p_value": float(first["p_value"]),
            "conf_low": float(first["conf_low"]),
            "conf_high": float(first["conf_high"]),
            "p_value_null": float(table.iloc[1]["p_value"]) if null_needed else float(first["p_value"]),
        }

    def _run_batched(self, draws: np.ndarray, rng: np.random.Generator) -> dict[str, Any]:
        """A whole task as one stack of assignments (:mod:`evalkit.inference.batched`).

        With fixed control outcomes and a constant effect :math:`c`, fitting :math:`y(0) + cZ^*` on the design of
        :math:`Z^*` gives the coefficient of :math:`y(0)` plus :math:`c` and the same residuals, hence the same
        standard error and df: one batched fit of :math:`y(0)` (Frisch-Waugh-Lovell where it applies) serves
        both the simulated data and the sharp null. Otherwise the stacked design matrices are fitted to the two
        responses :math:`y(0) + \\tau \\circ Z^*` and :math:`y(0)` of each draw. Draws whose drawn outcomes are
        not all finite go through the one estimation path (:meth:`_one`), which drops the incomplete rows.
        """
        spec = self.batched
        assert spec is not None
        size = draws.shape[0]
        w = spec.sample.weights
        estimand = np.full(size, float(np.average(self.effects, weights=w)))
        if self.draw_outcome is None and self.constant_effect is not None:
            fit = batch_estimates(self.estimator, spec.sample, draws, cov_type=spec.cov_type)
            est0, se0 = fit.estimates, fit.std_errors
            est, se = est0 + self.constant_effect, se0
            y, y0 = spec.sample.y, spec.sample.y
        else:
            y0 = np.stack([self._control_outcomes(rng) for _ in range(size)]) if self.draw_outcome else spec.sample.y
            y0 = np.broadcast_to(y0, draws.shape)
            y = y0 + self.effects * draws
            fit = batch_least_squares(
                spec.design.matrices(draws),
                np.stack([y, y0], axis=2),
                target=spec.design.target,
                cov_type=spec.cov_type,
                weights=w,
            )
            est, est0 = fit.coef[:, 0], fit.coef[:, 1]
            se, se0 = np.sqrt(fit.gram[:, 0, 0]), np.sqrt(fit.gram[:, 1, 1])
        df = _welch_df(draws, y) if spec.welch else spec.df
        df0 = _welch_df(draws, y0) if spec.welch else spec.df
        observed = _t_tests(est, se, df, self.alpha, _scale(y))
        null = _t_tests(est0, se0, df0, self.alpha, _scale(y0))
        out = {
            "estimand": estimand,
            "estimate": est,
            "std_error": observed.std_error,
            "p_value": observed.p_value,
            "conf_low": observed.conf_low,
            "conf_high": observed.conf_high,
            "p_value_null": null.p_value,
        }
        out = {k: np.array(v, dtype=np.float64) for k, v in out.items()}
        notes: list[str] = []
        incomplete = ~np.isfinite(np.broadcast_to(y0, draws.shape)).all(axis=1)
        for b in np.flatnonzero(incomplete):
            try:
                row = self._one(draws[b], np.broadcast_to(y0, draws.shape)[b], self.inference)
            except EvalkitError as error:
                row = dict.fromkeys(out, np.nan)
                if (message := f"{type(error).__name__}: {error}") not in notes:
                    notes.append(message)
            for c, v in row.items():
                out[c][b] = v
        return {**out, "notes": tuple(notes)}


def _scale(y: np.ndarray) -> np.ndarray:
    """The outcome's SD per draw, the scale against which a standard error is judged zero (as the one path)."""
    return np.atleast_2d(y).std(axis=-1)


def _t_tests(est: np.ndarray, se: np.ndarray, df: np.ndarray | float, alpha: float, scale: np.ndarray) -> TTests:
    """:func:`~evalkit.inference.analytic.t_tests` with a scale per draw for the degenerate-SE rule."""
    se = np.where(degenerate_se(se, np.maximum(np.abs(est), scale)), 0.0, se)  # t_tests makes SEs <= 0 NaN
    return t_tests(est, se, df, alpha=alpha)


_COLUMNS = ("estimand", "estimate", "std_error", "p_value", "conf_low", "conf_high", "p_value_null")


def _is_seeded(method: object) -> bool:
    """A frozen-dataclass inference method with a ``seed`` (randomization inference, the wild bootstrap)."""
    return dataclasses.is_dataclass(method) and any(f.name == "seed" and f.init for f in dataclasses.fields(method))


def _welch_df(draws: np.ndarray, y: np.ndarray) -> np.ndarray:
    # y: (n,) shared by the draws, or (B, n), one per draw
    """Welch-Satterthwaite df of the difference in means under each assignment (rows of ``draws``).

    :math:`\\nu = (v_1 + v_0)^2 / (v_1^2/(n_1-1) + v_0^2/(n_0-1))` with :math:`v_a = s_a^2/n_a`, the df that
    :class:`~evalkit.inference.Sandwich` uses for the unblocked, unweighted HC2 difference in means.
    """
    z = draws.astype(np.float64)
    yc = np.broadcast_to(y, z.shape)
    yc = yc - yc.mean(axis=1, keepdims=True)
    n1 = z.sum(axis=1)
    n0 = z.shape[1] - n1
    s1, q1 = (z * yc).sum(axis=1), (z * yc**2).sum(axis=1)
    s0, q0 = yc.sum(axis=1) - s1, (yc**2).sum(axis=1) - q1
    v1 = (q1 - s1**2 / n1) / (n1 - 1) / n1
    v0 = (q0 - s0**2 / n0) / (n0 - 1) / n0
    with np.errstate(divide="ignore", invalid="ignore"):
        return (v1 + v0) ** 2 / (v1**2 / (n1 - 1) + v0**2 / (n0 - 1))


def _as_outcome(values: Any, n: int, what: str) -> np.ndarray:
    out = np.asarray(values, dtype=np.float64).reshape(-1)
    if out.size != n:
        raise DataError(f"the {what} function returned {out.size} values for {n} rows; return one value per row.")
    return out


def _outcome_spec(
    outcome: Any, data: pd.DataFrame, roles: Sequence[Hashable], role_names: str
) -> tuple[Callable[[pd.DataFrame, np.random.Generator], Any] | None, Hashable | None, str]:
    """``(draw_outcome, column, description)`` of a diagnosis' ``outcome=``: a function drawing y(0), or a column."""
    if callable(outcome):
        return outcome, None, _describe(outcome)
    require_columns(data, [outcome], "outcome")
    if outcome in roles:
        raise DataError(f"column {outcome!r} is a role of the design ({role_names}).")
    return None, outcome, str(outcome)


def _effect_spec(effect: Any, data: pd.DataFrame, n: int) -> tuple[np.ndarray, float | None]:
    """``(tau_i per row, the constant or None)`` of a diagnosis' ``effect=``: a number or ``effect(data)``."""
    if callable(effect):
        effects = _as_outcome(effect(data), n, "effect")
        if not np.all(np.isfinite(effects)):
            raise DataError("the effect function returned missing or infinite values; return a finite effect per row.")
        return effects, None
    if isinstance(effect, bool) or not isinstance(effect, int | float | np.integer | np.floating):
        raise OptionError(f"effect={effect!r} must be a number (a constant effect) or a function data -> effects.")
    if not np.isfinite(effect):
        raise OptionError(f"effect={effect!r} must be finite.")
    return np.full(n, float(effect)), float(effect)


def _finish(table: pd.DataFrame, info: dict[str, Any], sims: int, default_note: str | None, **fields: Any) -> Diagnosis:
    """The :class:`Diagnosis` of a run: the failed simulations and the default-inference note added to its notes."""
    notes = list(info["notes"])
    n_failed = int(table["estimate"].isna().sum())
    if n_failed:
        notes.insert(0, f"{n_failed} of {sims} simulation(s) failed and are left out of the diagnosands (NaN).")
    if default_note is not None:
        notes.append(default_note)
    return Diagnosis(
        sims=int(sims),
        seed=info["seed"],
        task_size=info["task_size"],
        runner=info["runner"],
        _simulations=table,
        notes=tuple(notes),
        **fields,
    )


def _describe(value: Any) -> str:
    if callable(value):
        return getattr(value, "__qualname__", None) or repr(value)
    return repr(value) if isinstance(value, str) else f"{value:g}"


def _prepare_batched(sim: TrialSimulator, method: object) -> _Batched | None:
    """The batched engine's inputs when it reproduces the one estimation path, else None.

    Needs an estimator with a batched form (difference in means, ``ols``, ``lin``), a non-clustered sandwich
    (the method's ``sandwich_type``) with its usual df (:math:`n-k`, or Welch-Satterthwaite for the HC2
    difference in means) and no rows dropped for missing values. The batched fit of the observed assignment is
    checked against the one estimation path (estimate, SE, df, p-value and interval to 1e-9): any difference
    (e.g. Bell-McCaffrey df) falls back to the loop.
    """
    trial = sim.trial
    if (
        sim.estimator not in _BATCHED_ESTIMATORS
        or sim.baseline is not None
        or method.sandwich_type not in _BATCHED_TYPES  # the protocol: None unless the method is a sandwich
        or trial._cluster_codes is not None
    ):
        return None
    y0 = sim._control_outcomes(np.random.default_rng(0))  # a column, or one draw of the outcome function
    z = trial._z.astype(np.float64)
    try:
        res = sim._estimate(z, y0, method, [_Y0])  # the control outcomes: the batched fit shifts them afterwards
    except EvalkitError:
        return None
    rows = res.fits[_Y0].rows
    if rows.size != len(sim.frame):  # rows dropped for missing values: the loop keeps the one path's checks
        return None
    row = res.to_frame().iloc[0]
    label = str(row["inference"])
    welch = label.endswith("(Welch-Satterthwaite df)")
    if not (welch or label == "classical" or label.endswith("(n - k df)")):
        return None  # e.g. Bell-McCaffrey df, which depend on each draw's design matrix
    sample = EstimationSample(
        y=y0,
        treatment=z,
        covariates=to_float_array(sim.frame, list(sim.covariates), "covariate"),
        covariate_names=tuple(sim.covariates),
        blocks=trial._block_codes,
        weights=trial._w,
        treatment_name=trial.treatment,
    )
    estimator = get_estimator(sim.estimator)
    try:
        design = estimator.batch_design(sample, estimator.fit(sample))
        if design is None or not isinstance(design, TreatmentDesign):
            return None
        fit = batch_estimates(estimator, sample, z[None, :].astype(bool), cov_type=method.sandwich_type)
    except EvalkitError:
        return None
    spec = _Batched(sample=sample, design=design, cov_type=method.sandwich_type, welch=welch, df=float(row["df"]))
    df = _welch_df(z[None, :].astype(bool), y0) if welch else spec.df
    tests = _t_tests(fit.estimates, fit.std_errors, df, sim.alpha, _scale(y0))
    checked = ("std_error", "df", "p_value", "conf_low", "conf_high")
    batched = [fit.estimates[0], *(getattr(tests, c)[0] for c in checked)]
    one_path = [row[c] for c in ("estimate", *checked)]
    same = np.allclose(np.asarray(batched, dtype=float), np.asarray(one_path, dtype=float), rtol=1e-9, atol=0)
    return spec if same else None


def diagnose_trial(
    trial: Any,
    outcome: Hashable | Callable[[pd.DataFrame, np.random.Generator], Any],
    *,
    effect: float | Callable[[pd.DataFrame], Any] = 0.0,
    sims: int = 1_000,
    seed: int | np.random.SeedSequence | None = None,
    client: Any = None,
    estimator: EstimatorName = "difference_in_means",
    covariates: Hashable | Sequence[Hashable] | None = None,
    inference: object | None = None,
    baseline: Hashable | None = None,
    alpha: float = 0.05,
    engine: Engine = "auto",
    task_size: int | None = None,
    progress: bool | None = None,
) -> Diagnosis:
    """Diagnose a randomized trial as declared; see :meth:`evalkit.RandomizedTrial.diagnose`."""
    alpha = check_alpha(alpha)
    check_option("engine", engine, Engine)
    n = len(trial._data)
    draw_outcome, name, described = _outcome_spec(
        outcome, trial._data, trial._roles, "treatment, blocks, clusters or weights"
    )
    effects, constant = _effect_spec(effect, trial.data, n)
    template_name = name if name is not None else described
    covariate_list = [fill_template(c, template_name) for c in as_list(covariates)]
    require_columns(trial._data, [c for c in covariate_list if not is_template(c)], "covariate")
    if name is not None and name in covariate_list:
        raise DataError(f"outcome {name!r} is also among its covariates; remove it from covariates.")
    base_col = resolve_baseline(baseline, [template_name]).get(template_name) if baseline is not None else None
    columns = list(dict.fromkeys([*([name] if name is not None else []), *covariate_list, *as_list(base_col)]))
    require_columns(trial._data, columns, "column")
    method, default_note = resolve_inference(inference, trial._default_inference)
    if getattr(method, "client", None) is not None:
        # each simulation's inference runs inside a task (serially, or on a worker): never on a nested client
        method = dataclasses.replace(method, client=None)  # type: ignore[type-var]
    sim = TrialSimulator(
        trial=trial,
        frame=trial._data[columns].copy(),
        outcome_name=name,
        draw_outcome=draw_outcome,
        effects=effects,
        constant_effect=constant,
        estimator=estimator,
        covariates=tuple(covariate_list),
        baseline=base_col,
        inference=method,
        alpha=alpha,
    )
    # the declared analysis on the observed assignment, so that a wrong setting raises here, not in every simulation
    y_check = sim._control_outcomes(np.random.default_rng(0))
    sim._estimate(trial._z.astype(np.float64), y_check, method, [_Y])
    batched = None if engine == "loop" else _prepare_batched(sim, method)
    if engine == "batched" and batched is None:
        raise OptionError(
            "engine='batched' needs a constant effect on an outcome column without missing values, estimator "
            "'difference_in_means', 'ols' or 'lin', and non-clustered sandwich inference ('classical', 'HC0'-'HC3'); "
            "use engine='auto' or 'loop' for this diagnosis."
        )
    sim = dataclasses.replace(sim, batched=batched)
    # a simulation of the loop engine costs tens of milliseconds whatever n (the one estimation path's overhead)
    work = n if batched is not None else n + _LOOP_WORK
    table, info = run_diagnosis(
        sim, sims=sims, seed=seed, client=client, task_size=task_size, progress=progress, work_per_sim=work
    )
    return _finish(
        table,
        info,
        sims,
        default_note,
        outcome=described,
        effect=_describe(effect),
        alpha=alpha,
        estimator=str(estimator),
        inference=method.name,
        design=trial.describe(),
        engine="batched" if batched is not None else "loop",
    )


# ---------------------------------------------------------------------------------------------------------------
# difference in differences
# ---------------------------------------------------------------------------------------------------------------

_DID_ESTIMATORS = ("did", "twfe")
_RESPONSES_PER_FIT = 16  # drawn outcomes: draws whose responses are fitted together by the batched engine


@dataclass(frozen=True)
class _Capture(InferenceMethod):
    """The design's inference method, recording the fit and context ``estimate`` hands it (the estimation sample,
    clusters and small-sample correction of the one preparation path), and otherwise doing exactly what it does."""

    method: InferenceMethod
    seen: list[tuple[LinearFit, InferenceContext]] = field(default_factory=list, compare=False, repr=False)

    @property
    def name(self) -> str:
        return self.method.name

    @property
    def sandwich_type(self) -> str | None:
        return self.method.sandwich_type

    @property
    def working_model(self) -> str:
        return self.method.working_model

    def infer(self, fit: LinearFit, ctx: InferenceContext) -> InferenceOutcome:
        return self.infer_terms(fit, ctx, [fit.target])[0]

    def infer_terms(self, fit: LinearFit, ctx: InferenceContext, terms: Sequence[int]) -> tuple[InferenceOutcome, ...]:
        self.seen.append((fit, ctx))
        return self.method.infer_terms(fit, ctx, terms)

    def joint_test(self, fit: LinearFit, ctx: InferenceContext, terms: Sequence[int]) -> JointTest | None:
        return self.method.joint_test(fit, ctx, terms)


@dataclass(frozen=True)
class _DiDBatched:
    """What the batched DiD engine needs, prepared once from the observed assignment."""

    design: DiDTreatmentDesign = field(repr=False)
    cov_type: str
    bell_mccaffrey: bool  # CR2: Bell-McCaffrey df per draw (they depend on which clusters are treated)
    df: float  # the df of the other types (the same for every draw)


@dataclass(frozen=True)
class DiDSimulator:
    """A difference-in-differences design's simulation as settings and arrays (picklable with the design it holds).

    ``run(seed, size)`` re-draws which units of assignment are treated with the design's declared assignment
    (:meth:`DiffInDiff._draw <evalkit.DiffInDiff.draw_assignment>`: the treatment regressor is the drawn group
    times the common post period), then one integer seed per simulation for a seeded inference method, then the
    control potential outcomes of each simulation when a function draws them. The observed outcome is
    :math:`y = y(0) + \\tau \\circ z^*` (the effect only in treated post-period rows); the estimator and inference
    are those :meth:`~evalkit.DiffInDiff.estimate` runs, on the estimation sample and inference context it prepared.
    """

    did: Any = field(repr=False)
    rows: np.ndarray = field(repr=False)  # positions of the estimation sample's rows in the design's data
    sample: EstimationSample = field(repr=False)  # the estimation sample (its y and treatment replaced per draw)
    context: InferenceContext = field(repr=False)  # estimate's context, without its (unpicklable) closures
    estimator: str
    draw_outcome: Callable[[pd.DataFrame, np.random.Generator], Any] | None = field(repr=False)
    effects: np.ndarray = field(repr=False)  # tau_i on the sample's rows
    constant_effect: float | None
    inference: object
    alpha: float
    batched: _DiDBatched | None = field(default=None, repr=False)

    def run(self, seed: np.random.SeedSequence, size: int) -> dict[str, Any]:
        """Simulate ``size`` times with ``numpy.random.default_rng(seed)``; arrays of the simulation columns."""
        rng = np.random.default_rng(seed)
        with single_threaded_blas():  # thin products: one BLAS thread (see evalkit._threads)
            Z = self.did._draw(rng, size)[:, self.rows]
            if self.batched is not None:
                return self._run_batched(Z, rng)
            seeds = rng.integers(0, 2**63 - 1, size=size) if _is_seeded(self.inference) else None
            columns = {c: np.full(size, np.nan) for c in _COLUMNS}
            notes: list[str] = []
            data = self.did.data if self.draw_outcome is not None else None  # one copy of the data per task
            for b in range(size):
                method = self.inference if seeds is None else dataclasses.replace(self.inference, seed=int(seeds[b]))
                try:
                    row = self._one(Z[b], self._control_outcomes(rng, data), method)
                except EvalkitError as error:  # the simulation stays in the table as failed (NaN), with the reason
                    if (message := f"{type(error).__name__}: {error}") not in notes:
                        notes.append(message)
                    continue
                for c, v in row.items():
                    columns[c][b] = v
            return {**columns, "notes": tuple(notes)}

    def _control_outcomes(self, rng: np.random.Generator, data: pd.DataFrame | None = None) -> np.ndarray:
        if self.draw_outcome is None:
            return self.sample.y
        data = self.did.data if data is None else data
        y0 = _as_outcome(self.draw_outcome(data, rng), len(data), "outcome")[self.rows]
        if not np.all(np.isfinite(y0)):
            raise DataError("the outcome function returned missing or infinite values in the estimation sample.")
        return y0

    def _context(self, sample: EstimationSample) -> InferenceContext:
        """estimate's inference context for ``sample``, with the design's draws on the sample's rows."""
        did, rows = self.did, self.rows
        return dataclasses.replace(
            self.context,
            sample=sample,
            refit=get_estimator(self.estimator).fit,
            draw=lambda rng, size: did._draw(rng, size)[:, rows],
            enumerate=lambda limit, start=0, stop=None: did._enumerate(limit, start, stop)[:, rows],
            count=did._bound.count,
        )

    def _infer(self, z: np.ndarray, y: np.ndarray, method: Any) -> tuple[float, InferenceOutcome]:
        """The estimate and inference of :meth:`~evalkit.DiffInDiff.estimate` with treatment ``z`` and outcome ``y``."""
        sample = dataclasses.replace(self.sample, y=y, treatment=z)
        fit = get_estimator(self.estimator).fit(sample)
        return float(fit.coef[fit.target]), method.infer(fit, self._context(sample))

    def _estimand(self, Z: np.ndarray) -> np.ndarray:
        """The mean effect of the treated (post-period) rows of each draw, weighted as the fit: the ATT."""
        if self.constant_effect is not None:
            return np.full(Z.shape[0], self.constant_effect)
        w = np.ones(Z.shape[1]) if self.sample.weights is None else self.sample.weights
        Zw = Z * w
        return (Zw @ self.effects) / Zw.sum(axis=1)

    def _one(self, z_bool: np.ndarray, y0: np.ndarray, method: object) -> dict[str, float]:
        """One simulation: the design's estimator and inference on ``y = y0 + tau z`` (and on ``y0``)."""
        z = z_bool.astype(np.float64)
        estimate, out = self._infer(z, y0 + self.effects * z, method)
        null = out if self.constant_effect == 0.0 else self._infer(z, y0, method)[1]
        return {
            "estimand": float(self._estimand(z[None, :])[0]),
            "estimate": estimate,
            "std_error": out.std_error,
            "p_value": out.p_value,
            "conf_low": out.conf_low,
            "conf_high": out.conf_high,
            "p_value_null": null.p_value,
        }

    def _run_batched(self, Z: np.ndarray, rng: np.random.Generator) -> dict[str, Any]:
        """A whole task through :func:`~evalkit.inference.batched.fit_did_design` (Frisch-Waugh-Lovell per draw).

        With fixed control outcomes and a constant effect :math:`c`, the fit of :math:`y(0) + cz^*` on the design
        of :math:`z^*` has the coefficient of :math:`y(0)` plus :math:`c` and the same residuals (hence standard
        error and df): one batched fit of :math:`y(0)` serves the simulated data and the sharp null. Otherwise
        each draw fits its two responses :math:`y(0) + \\tau \\circ z^*` and :math:`y(0)`. CR2's Bell-McCaffrey df
        depend on which clusters are treated: :func:`~evalkit.inference.sandwich.bell_mccaffrey_df` of each
        draw's design matrix.
        """
        spec = self.batched
        assert spec is not None
        sample, ctx, design = self.sample, self.context, spec.design
        size = Z.shape[0]
        Zf = Z.astype(np.float64)

        def fit(z: np.ndarray, Y: np.ndarray) -> Any:
            return fit_did_design(
                design,
                z,
                Y,
                cov_type=spec.cov_type,
                weights=sample.weights,
                clusters=ctx.clusters,
                correction=ctx.correction,
            )

        if self.draw_outcome is None and self.constant_effect is not None:
            one = fit(Zf, sample.y)
            est0, se0 = one.coef[:, 0], np.sqrt(one.gram[:, 0, 0])
            est, se = est0 + self.constant_effect, se0
            within_y0 = design.within(sample.y[:, None])
            scale0 = np.full(size, within_y0.std())
            scale = (within_y0 + self.constant_effect * design.within(Zf.T)).std(axis=0)
        else:
            data = self.did.data if self.draw_outcome is not None else None  # one copy of the data per task
            y0s = np.stack([self._control_outcomes(rng, data) for _ in range(size)])
            ys = y0s + self.effects * Zf
            est, se, est0, se0 = (np.full(size, np.nan) for _ in range(4))
            # a few draws at a time, their 2b responses fitted together (the fixed part projected once per group);
            # draw j's numbers are its own columns j (y) and b + j (y0)
            for start in range(0, size, _RESPONSES_PER_FIT):
                part = slice(start, start + _RESPONSES_PER_FIT)
                b = ys[part].shape[0]
                one = fit(Zf[part], np.concatenate([ys[part], y0s[part]]).T)
                j = np.arange(b)
                est[part], est0[part] = one.coef[j, j], one.coef[j, b + j]
                se[part], se0[part] = np.sqrt(one.gram[j, j, j]), np.sqrt(one.gram[j, b + j, b + j])
            scale, scale0 = design.within(ys.T).std(axis=0), design.within(y0s.T).std(axis=0)
        if spec.bell_mccaffrey:
            df = _bell_mccaffrey_dfs(design, Zf, ctx.clusters, np.isfinite(se))
        else:
            df = np.full(size, spec.df)
        observed = _t_tests(est, se, df, self.alpha, scale)
        null = _t_tests(est0, se0, df, self.alpha, scale0)
        out = {
            "estimand": self._estimand(Zf),
            "estimate": est,
            "std_error": observed.std_error,
            "p_value": observed.p_value,
            "conf_low": observed.conf_low,
            "conf_high": observed.conf_high,
            "p_value_null": null.p_value,
        }
        return {**{k: np.array(v, dtype=np.float64) for k, v in out.items()}, "notes": ()}


def _bell_mccaffrey_dfs(
    design: DiDTreatmentDesign, Z: np.ndarray, clusters: np.ndarray, defined: np.ndarray
) -> np.ndarray:
    """CR2's Bell-McCaffrey df of the target coefficient under each treatment regressor in ``Z`` (B, n); NaN where
    the fit is not ``defined`` (its design refused as collinear by the batched fit).

    The df depend on the design matrix only, which changes with the draw. Per chunk of draws: the design matrices
    :math:`X_b` (:meth:`DiDTreatmentDesign.matrices`), the per-cluster cross products :math:`X_{bg}'X_{bg}`, the
    bread :math:`B_b = (X_b'X_b)^{-1}` and the CR2 matrices :math:`\\Phi_{bg}`
    (:func:`~evalkit._linear_algebra.cr2_phi`) at once; then the one Bell-McCaffrey formula of
    :func:`~evalkit.inference.sandwich.bell_mccaffrey_df` (its ``_bm_df_from_pieces``) per draw. The df are
    invariant to the column basis, so the design need not be centred and scaled first; the engine is used only
    after its numbers on the observed assignment matched :meth:`~evalkit.DiffInDiff.estimate`'s.
    """
    order, starts, _ = sorted_starts(clusters)
    ends = np.r_[starts[1:], order.size]
    B_draws, n = Z.shape
    k = design.n_columns
    contrast = np.zeros((k, 1))
    contrast[design.target] = 1.0
    out = np.full(B_draws, np.nan)
    step = max(1, MEMORY_BUDGET // (8 * n * k * 2))
    for start in range(0, B_draws, step):
        X = design.matrices(Z[start : start + step])[:, order, :]
        cross = np.stack([np.swapaxes(X[:, a:e], 1, 2) @ X[:, a:e] for a, e in zip(starts, ends, strict=True)], 1)
        gram = cross.sum(axis=1)
        ok = defined[start : start + step]
        bread = np.linalg.inv(np.where(ok[:, None, None], gram, np.eye(k)))
        bread = 0.5 * (bread + np.swapaxes(bread, 1, 2))
        phi = cr2_phi(cross, np.linalg.cholesky(bread))
        for j in np.flatnonzero(ok):
            out[start + j] = _bm_df_from_pieces(cross[j], phi[j], bread[j], contrast)[0]
    return out


def _prepare_did_batched(sim: DiDSimulator, fit: LinearFit, observed: pd.Series) -> _DiDBatched | None:
    """The batched engine's inputs when it reproduces ``estimate`` on the observed assignment, else None.

    Needs the ``"did"`` or ``"twfe"`` estimator's batched form (:class:`DiDTreatmentDesign`) and a sandwich
    (classical, HC, CR0-CR2; weighted CR2 under the identity working model has no batched form) with its usual df
    (:math:`n-K`, :math:`G-1`, or CR2's Bell-McCaffrey df, computed per draw). The batched fit of the observed
    assignment is checked against ``estimate``'s row (estimate, SE, df, p-value and interval to 1e-9): any
    difference falls back to the loop.
    """
    method: Any = sim.inference
    cov_type = method.sandwich_type
    sample = sim.sample
    if cov_type is None or (cov_type == "CR2" and sample.weights is not None):
        return None
    label = str(observed["inference"])
    bm = cov_type == "CR2"
    if not (bm or label == "classical" or "(n - k df)" in label or "(G - 1 df" in label):
        return None  # e.g. HC2 with Bell-McCaffrey df
    try:
        design = get_estimator(sim.estimator).batch_design(sample, fit)
    except EvalkitError:
        return None
    if not isinstance(design, DiDTreatmentDesign):
        return None
    spec = _DiDBatched(design=design, cov_type=cov_type, bell_mccaffrey=bm, df=float(observed["df"]))
    check = dataclasses.replace(sim, batched=spec, draw_outcome=None, constant_effect=0.0)
    try:
        with single_threaded_blas():
            row = check._run_batched(np.asarray(sample.treatment, dtype=bool)[None, :], np.random.default_rng(0))
    except EvalkitError:
        return None
    names = ("estimate", "std_error", "p_value", "conf_low", "conf_high")
    batched = [row[c][0] for c in names]
    one_path = [observed[c] for c in names]
    same = np.allclose(np.asarray(batched, dtype=float), np.asarray(one_path, dtype=float), rtol=1e-9, atol=0)
    return spec if same else None


def _did_refusal(did: Any) -> str:
    """Why a difference-in-differences design without a declared random assignment cannot be diagnosed."""
    if did._switch_off is not None:
        return (
            f"{did._switch_off}: a diagnosis re-draws which clusters are treated from one common start date, and a "
            "treatment that switches off has no such assignment to re-draw."
        )
    if did.is_panel:
        k, d = did._keep, did._d == 1
        firsts = pd.Series(did._period_codes[k & d]).groupby(did._unit_codes[k & d]).min()
        if firsts.nunique() > 1:
            return (
                f"treated units start treatment in {firsts.nunique()} different periods (staggered adoption): a "
                "diagnosis re-draws which clusters are treated from one common start date; re-drawing adoption "
                "dates is not supported."
            )
    return (
        "this difference-in-differences design was declared not randomized (the default), so there is no "
        "assignment to re-draw; pass assignment=ek.BlockClusterRandomization() (or another spec) to DiffInDiff to "
        "state how the groups were assigned."
    )


def diagnose_did(
    did: Any,
    outcome: Hashable | Callable[[pd.DataFrame, np.random.Generator], Any],
    *,
    effect: float | Callable[[pd.DataFrame], Any] = 0.0,
    sims: int = 1_000,
    seed: int | np.random.SeedSequence | None = None,
    client: Any = None,
    estimator: str | None = None,
    covariates: Hashable | Sequence[Hashable] | None = None,
    inference: object | None = None,
    fe_dof: str = "nested",
    alpha: float = 0.05,
    engine: Engine = "auto",
    task_size: int | None = None,
    progress: bool | None = None,
) -> Diagnosis:
    """Diagnose a difference-in-differences design as declared; see :meth:`evalkit.DiffInDiff.diagnose`."""
    alpha = check_alpha(alpha)
    check_option("engine", engine, Engine)
    if did._bound is None:
        raise DesignError(f"cannot diagnose this design: {_did_refusal(did)}")
    est = estimator or ("twfe" if did.is_panel else "did")
    if est not in _DID_ESTIMATORS:
        raise OptionError(
            f"estimator={est!r} cannot be diagnosed yet: a diagnosis simulates the single effect of "
            f"estimator='twfe' (panel) or 'did' (2x2); an event study reports one effect per event time and 'dcdh' "
            "is for treatments that switch. Diagnose estimator='twfe' (the average post-period effect)."
        )
    roles = [c for c in (did.treatment, did.post, did.unit, did.time, did.clusters, did.blocks, did.weights) if c]
    draw_outcome, name, described = _outcome_spec(
        outcome, did._data, roles, "treatment, post, unit, time, clusters, blocks or weights"
    )
    n = len(did._data)
    effects, constant = _effect_spec(effect, did.data, n)
    method, default_note = resolve_inference(inference, lambda: did._default_inference(did._keep))
    # the declared analysis on the observed assignment, through estimate's own path: a wrong setting raises here,
    # and the estimation sample and inference context it prepares are the ones every simulation reuses
    probe = did
    if name is None:
        name = _Y0
        probe = copy.copy(did)  # the same design with the first drawn y(0) as a column (the caller's data untouched)
        probe._data = did._data.copy(deep=False)
        probe._data[_Y0] = _as_outcome(draw_outcome(did.data, np.random.default_rng(0)), n, "outcome")  # type: ignore[misc]
    capture = _Capture(method)
    res = probe.estimate(
        name,
        estimator=est,
        covariates=covariates,
        inference=capture,
        fe_dof=fe_dof,
        alpha=alpha,  # type: ignore[arg-type]
    )
    fit, ctx = capture.seen[0]
    rows = np.asarray(ctx.rows)
    sim = DiDSimulator(
        did=did,
        rows=rows,
        sample=ctx.sample,  # type: ignore[arg-type]
        context=dataclasses.replace(ctx, sample=None, refit=None, draw=None, enumerate=None, count=None),
        estimator=est,
        draw_outcome=draw_outcome,
        effects=effects[rows],
        constant_effect=constant,
        inference=method,
        alpha=alpha,
    )
    batched = None if engine == "loop" else _prepare_did_batched(sim, fit, res.to_frame().iloc[0])
    if engine == "batched" and batched is None:
        raise OptionError(
            "engine='batched' needs estimator 'twfe' or 'did' with sandwich inference ('CR0'-'CR2', 'classical', "
            "'HC0'/'HC1'; not weighted CR2) that the batched fit reproduces; use engine='auto' or 'loop' for this "
            "diagnosis."
        )
    sim = dataclasses.replace(sim, batched=batched)
    work = len(rows) if batched is not None else len(rows) + _LOOP_WORK
    table, info = run_diagnosis(
        sim, sims=sims, seed=seed, client=client, task_size=task_size, progress=progress, work_per_sim=work
    )
    return _finish(
        table,
        info,
        sims,
        default_note,
        outcome=described,
        effect=_describe(effect),
        alpha=alpha,
        estimator=est,
        inference=method.name,
        design=did.describe(),
        engine="batched" if batched is not None else "loop",
    )
