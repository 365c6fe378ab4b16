"""Randomization (Fisher) inference: re-draw the design's assignment, re-run the same estimator.

``trial.estimate(..., inference=RandomizationInference(reps=10_000, seed=1))`` tests the sharp null of a constant
effect by comparing the observed statistic with its distribution over assignments the design could have produced,
and inverts that test for a confidence interval.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from evalkit._distributed import check_client, client_threads, describe_client, run_tasks
from evalkit._linear_algebra import condition_design, factorize_clusters, group_sum
from evalkit._seeds import seed_to_use
from evalkit._threads import single_threaded_blas
from evalkit._validation import check_option
from evalkit.errors import DesignError, EstimationError, InferenceError, OptionError
from evalkit.estimators import REGISTRY, LinearFit
from evalkit.inference._base import InferenceContext, InferenceMethod, InferenceOutcome
from evalkit.inference._budget import TimeBudget, check_memory
from evalkit.inference._cr2_identity import cr2_identity_directions
from evalkit.inference._progress import show_progress
from evalkit.inference._pvalue import at_least_as_extreme
from evalkit.inference.analytic import degenerate_note, degenerate_se
from evalkit.inference.batched import BatchFit, batch_least_squares, treatment_design_fitter
from evalkit.inference.sandwich import CovType, WorkingModel, sandwich, small_sample_factor

__all__ = ["Alternative", "EnumerateOption", "RandomizationInference", "RandomizationStatistic"]

RandomizationStatistic = Literal["t", "estimate"]
Alternative = Literal["two-sided", "greater", "less"]
EnumerateOption = Literal["auto", "always", "never"]

_MAX_ENUMERATE = 5_000_000  # enumerate="always" refuses designs with more possible assignments than this
_PROGRESS_MIN_ROWS = 20_000_000  # draws x observations above which an interactive run shows a progress bar
# Memory estimate of the up-front check: bytes kept per draw (coefficients and Gram matrix of the two responses,
# 48 bytes, plus the statistics and temporaries of the p-value and the interval search) and bytes per cell of a
# batch's (batch_size x n_obs) work arrays (the bool draw, its float copy and the batched solver's arrays; measured
# with tracemalloc at 55 (classical), 97 (HC2) and 105-195 (CR2) bytes per cell: the check uses 100, so that it
# refuses only batches that cannot fit).
_BYTES_PER_DRAW = 112
_BYTES_PER_CELL = 100


@dataclass(frozen=True)
class RandomizationInference(InferenceMethod):
    """Randomization inference for the sharp null of a constant treatment effect.

    Parameters
    ----------
    reps : int, default 10_000
        Number of re-drawn assignments (Monte Carlo), or the largest number of possible assignments that is still
        enumerated in full when ``enumerate="auto"``.
    seed : int, optional
        Seed of the random draws. ``None`` draws fresh entropy **once, when the object is created**
        (``numpy.random.SeedSequence()``); every outcome and every ``estimate()`` call that uses this object then
        uses that entropy, so that all outcomes share the same draws. The seed used is recorded in the results
        (``extra["seed"]``); pass it back as ``seed=`` to repeat the run bit for bit.
    statistic : {"t", "estimate"}, default "t"
        ``"t"``: the coefficient divided by the design's standard error, recomputed under every draw (the
        studentized test of Wu and Ding 2021, which stays valid for the weak null of a zero *average* effect when
        effects vary); ``"estimate"``: the raw coefficient.
    alternative : {"two-sided", "greater", "less"}, default "two-sided"
        Two-sided compares absolute values; ``"greater"`` tests against effects above ``null``.
    null : float, default 0.0
        The constant effect of the sharp null :math:`H_0: Y_i(1) - Y_i(0) = \\tau_0` for every unit.
    enumerate : {"auto", "always", "never"}, default "auto"
        ``"auto"`` enumerates every possible assignment (exact p-value) when there are at most ``reps`` of them,
        and otherwise draws ``reps`` at random; ``"always"`` enumerates (refusing beyond 5,000,000 assignments);
        ``"never"`` always draws.
    cov_type : {"classical", "HC0", "HC1", "HC2", "HC3", "CR0", "CR1", "CR2"}, optional
        Standard error used for the studentized statistic and reported as ``std_error``. Default: HC2, or CR2 when
        the design is clustered.
    working_model : {"identity", "inverse_variance"}, default "identity"
        Weighted CR2 only (ignored otherwise): the working model of the CR2 adjustment, for the reported
        ``std_error`` and for the studentized statistic of every draw alike, as in
        :class:`evalkit.inference.Sandwich` (``"identity"``: the default of ``estimatr::lm_robust`` and
        ``clubSandwich::vcovCR``). The batched engine computes ``"inverse_variance"`` (CR2 of the regression of
        :math:`\\sqrt{w}y` on :math:`\\sqrt{w}X`); under ``"identity"`` the estimator is re-run draw by draw with
        :func:`~evalkit.inference.sandwich.sandwich` (same numbers as a per-draw run, slower; a note says so).
    confidence_interval : bool, default True
        Invert the test for an interval of constant effects (``conf_low``, ``conf_high``); NaN when False.
    batch_size : int, default 2_000
        Assignments drawn (or enumerated) and estimated per batch; memory is about ``100 * batch_size * n_obs``
        bytes for the batch plus 112 bytes per draw, whatever ``reps`` or the number of possible assignments. It
        fixes the random stream (batch :math:`k` draws from its own stream, spawned from ``seed``), so the same
        seed with a different ``batch_size`` gives different draws; an enumeration is the same list in the same
        order at any ``batch_size``.
    progress : bool, optional
        Show a progress bar (``tqdm.auto``: a widget in Jupyter, text in a terminal). ``None``: only when the run
        is interactive (a terminal or a notebook kernel) and long (draws x observations >= 20 million, more than a
        few seconds); ``False`` never, ``True`` always. On a client the bar advances as batches finish.
    client : dask.distributed.Client, optional
        Run the batches on the client's workers (``pip install evalkit[dask]``): each batch of draws (or range of
        the enumeration) is a task, the estimator and its data are sent to every worker once, and workers send
        back only the per-draw statistics. The p-value, interval and ``null_statistics`` are identical, bit for
        bit, to ``client=None`` with the same ``seed`` and ``batch_size``. The client is not part of the settings:
        it is left out of ``repr``, equality, hashing and pickling (a pickled copy runs serially); how the run
        was executed is recorded in ``extra["runner"]`` (``"serial"`` or ``"dask client with N worker(s)"``).

    Notes
    -----
    **Statistic.** Under the sharp null :math:`\\tau_0` the control outcomes are known,
    :math:`y_i(0) = y_i - \\tau_0 Z_i`, and under an assignment :math:`Z^*` the data would have been
    :math:`y(0) + \\tau_0 Z^*`. The estimator (the same one, with the same covariates) is re-run for every
    :math:`Z^*`; for a least-squares estimator whose regressors include :math:`Z^*` this gives
    :math:`T^* = \\hat\\tau(y(0), Z^*)/\\widehat{se}(y(0), Z^*)` (``"t"``) or :math:`\\hat\\tau(y(0), Z^*)`
    (``"estimate"``), and the observed statistic is :math:`T = (\\hat\\tau - \\tau_0)/\\widehat{se}` or
    :math:`\\hat\\tau - \\tau_0`.

    **p-values.** With "extreme" meaning :math:`|T^*| \\ge |T|` (two-sided), :math:`T^* \\ge T` (greater) or
    :math:`T^* \\le T` (less), ties counting as extreme (within a relative :math:`10^{-9}` of the statistic's scale,
    so that rescaling the outcome changes nothing; :func:`evalkit.inference._pvalue.tie_tolerance`):

    * enumeration (exact): :math:`p = \\#\\{\\text{extreme}\\}/K` over all :math:`K` possible assignments, the
      observed one included (as R's ``ri2`` with complete enumeration);
    * Monte Carlo: :math:`p = (1 + \\#\\{\\text{extreme}\\})/(1 + R)` over :math:`R` independent draws, which counts
      the observed assignment once and keeps the test valid at every :math:`R` (Phipson and Smyth 2010); the
      column ``p_value_mc_se`` is :math:`\\sqrt{p(1-p)/R}`.

    Draws whose statistic is undefined (collinear regressors, a leverage of one) count as extreme (conservative);
    their number is kept in ``extra["n_undefined"]``.

    **Interval.** The :math:`1-\\alpha` interval is the set of :math:`\\tau_0` whose sharp-null test is not
    rejected at level :math:`\\alpha` (two-sided test; for one-sided alternatives the matching one-sided
    bound), found by bracketing outwards from :math:`\\hat\\tau` in steps of the standard error and bisecting, with
    the **same** assignments for every :math:`\\tau_0` (Imbens and Rubin 2015, ch. 5). The statistic is an exact
    function of :math:`\\tau_0` given two fits per assignment (outcome and treatment as responses), so no
    estimator is re-run during the search. An end is infinite when no :math:`\\tau_0` on that side is rejected
    (e.g. when the smallest attainable p-value exceeds :math:`\\alpha`).

    **Reported values.** ``std_error`` is the analytic (design) standard error of the observed fit (``cov_type``),
    not a randomization quantity; ``statistic`` is the observed :math:`T`; ``df`` is NaN. ``extra`` keeps
    ``null_statistics`` (:math:`T^*` for every draw, in draw order), ``observed_statistic``, ``exact``, ``seed``,
    ``n_undefined``; ``columns`` adds ``p_value_mc_se``, ``n_draws`` and ``exact`` to the results table.

    **Random stream.** The draws of batch :math:`k` (of :math:`\\lceil R/\\text{batch\\_size}\\rceil`) come from
    ``numpy.random.default_rng(SeedSequence(seed).spawn(n_batches)[k])``: they depend on the seed and :math:`k`
    only, so that batches can run in any order and anywhere (``client=``) with the same numbers.

    **Memory and time.** Draws and enumerated assignments alike are produced one batch at a time (an
    enumeration by position, :meth:`evalkit.designs.assignment.BoundAssignment.enumerate` with ``start`` and
    ``stop``), and only two coefficients and a 2x2 Gram matrix are kept per draw. Before drawing, a run whose
    estimated memory exceeds the memory available is refused, and after the first batch a run projected to take
    more than a day (:data:`evalkit.inference._budget.MAX_SECONDS`) is stopped; both raise
    :class:`~evalkit.errors.ResourceLimitError` with the estimate and the fix (fewer ``reps``, a smaller
    ``batch_size``).

    **Computation.** For the trial estimators (difference in means, ``ols``, ``lin``, ``change``) and the
    difference-in-differences estimators (``did``, ``twfe``, ``event_study``) the design matrices of a batch of
    draws are stacked, or projected by Frisch–Waugh–Lovell, and solved with batched BLAS
    (:mod:`evalkit.inference.batched`, with each estimator's batched form
    :meth:`evalkit.estimators.Estimator.batch_design`; ``extra["batched"]`` is True); any other estimator is re-run
    draw by draw through the design's ``refit`` (and a note in the results says so), which assumes, as for every
    least-squares estimator, that the fit is affine in the outcome. An interval end that is not reached within
    :math:`10^8` standard errors is reported as infinite.

    References
    ----------
    Fisher, R. A. (1935). *The Design of Experiments*. Oliver and Boyd, ch. 2.

    Imbens, G. W. and Rubin, D. B. (2015). *Causal Inference for Statistics, Social, and Biomedical Sciences*.
    Cambridge University Press, ch. 5.

    Wu, J. and Ding, P. (2021). Randomization tests for weak null hypotheses in randomized experiments. *Journal of
    the American Statistical Association* 116(536), 1898-1913.

    Phipson, B. and Smyth, G. K. (2010). Permutation p-values should never be zero. *Statistical Applications in
    Genetics and Molecular Biology* 9(1), article 39.
    """

    reps: int = 10_000
    seed: int | None = None
    statistic: RandomizationStatistic = "t"
    alternative: Alternative = "two-sided"
    null: float = 0.0
    enumerate: EnumerateOption = "auto"
    cov_type: CovType | None = None
    working_model: WorkingModel = "identity"
    confidence_interval: bool = True
    batch_size: int = 2_000
    progress: bool | None = None
    client: Any = field(default=None, repr=False, compare=False)
    _entropy: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        check_option("statistic", self.statistic, RandomizationStatistic)
        check_option("alternative", self.alternative, Alternative)
        check_option("enumerate", self.enumerate, EnumerateOption)
        check_option("working_model", self.working_model, WorkingModel)
        if self.cov_type is not None:
            check_option("cov_type", self.cov_type, CovType)
        for name in ("reps", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise OptionError(f"{name}={value!r} must be a positive int (e.g. {name}=10_000).")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer))):
            raise OptionError(f"seed={self.seed!r} must be an int or None.")
        if self.seed is not None and self.seed < 0:
            raise OptionError(f"seed={self.seed!r} must be a non-negative int.")
        if isinstance(self.null, bool) or not isinstance(self.null, numbers.Real) or not np.isfinite(self.null):
            raise OptionError(f"null={self.null!r} must be a finite number (the constant effect under the null).")
        if not isinstance(self.confidence_interval, bool | np.bool_):
            raise OptionError(f"confidence_interval={self.confidence_interval!r} must be True or False.")
        if self.progress is not None and not isinstance(self.progress, bool | np.bool_):
            raise OptionError(f"progress={self.progress!r} must be True, False or None (automatic).")
        check_client(self.client)
        entropy = seed_to_use(self.seed)
        object.__setattr__(self, "_entropy", entropy)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without its client (a live connection of this process); the copy runs serially."""
        return {**self.__dict__, "client": None}

    @property
    def name(self) -> str:
        """Short label for results."""
        return f"randomization-{self.statistic}"

    @property
    def seed_used(self) -> int:
        """The seed of the draws: ``seed``, or the entropy drawn when the object was created."""
        return self._entropy

    # ------------------------------------------------------------------------------------------------------
    def infer(self, fit: LinearFit, ctx: InferenceContext) -> InferenceOutcome:
        """Randomization p-value and interval for the fit's coefficient of interest.

        Parameters
        ----------
        fit : LinearFit
            The estimator's fit on the observed assignment.
        ctx : InferenceContext
            What the design hands down: the sample, the estimator (``refit``), and the assignment's ``draw``,
            ``enumerate`` and ``count``.

        Returns
        -------
        InferenceOutcome

        Raises
        ------
        InferenceError
            If the design was declared not randomized, or the requested covariance or enumeration is not possible.
        """
        if ctx.draw is None:
            raise InferenceError(
                "randomization inference needs a randomized design, but this design's treatment was declared not "
                "randomized (assignment=ek.NotRandomized()), so there is no assignment distribution to re-draw "
                "from. State how treatment was assigned (e.g. assignment=ek.CompleteRandomization()) if it was "
                "random, or use analytic inference such as inference='HC2'."
            )
        if ctx.sample is None:
            raise InferenceError("randomization inference needs the estimation sample (InferenceContext.sample).")
        cov_type = self.cov_type or ("CR2" if ctx.clusters is not None else "HC2")
        clusters = ctx.clusters if cov_type.startswith("CR") else None
        if cov_type.startswith("CR") and clusters is None:
            raise InferenceError(
                f"cov_type={cov_type!r} needs clusters, and this design has none; declare clusters= in the design "
                "or use cov_type='HC2'."
            )
        cov = sandwich(
            fit.X,
            fit.residuals,
            cov_type,
            weights=fit.weights,
            clusters=clusters,
            df_for=[fit.target],
            correction=ctx.correction,
            working_model=self.working_model,
        )
        std_error = float(np.sqrt(cov.vcov[fit.target, fit.target]))

        engine = _engine(fit, ctx, cov_type, clusters, self.working_model, self.statistic)
        observed = engine(ctx.sample.treatment[None, :].astype(np.float64))
        exact, tasks, total = self._assignments(ctx)
        what = f"randomization inference with reps={self.reps:,}" + (f" ({total:,} assignments)" if exact else "")
        fix = (
            "use fewer draws (reps=...)" + (" or enumerate='never'" if exact else "") + ", or a smaller "
            f"batch_size (now {self.batch_size:,})."
        )
        # the batches' work arrays live where the batches run: here, or on the client's workers
        batch_bytes = 0 if self.client is not None else min(self.batch_size, total) * ctx.sample.n_obs * _BYTES_PER_CELL
        check_memory(what, total, _BYTES_PER_DRAW, batch_bytes, fix)
        coef = np.empty((total, 2))
        gram = np.empty((total, 2, 2))
        done = 0
        clock = TimeBudget(what, total, fix, parallel=client_threads(self.client))
        job = _Batches(engine, None if exact else ctx.draw, ctx.enumerate if exact else None, total)
        clock.start()
        for k, (c, g) in run_tasks(
            _run_batch,
            job,
            tasks,
            client=self.client,
            size_of=tasks.size,
            show=self._show_progress(total, ctx.sample.n_obs),
            desc="randomization inference",
        ):
            _, start, stop = tasks[k]
            coef[start:stop] = c
            gram[start:stop] = g
            done += stop - start
            clock.first_batch(done)
        null_fits = BatchFit(coef=coef, gram=gram, cov_type=cov_type)

        scale = float(np.std(fit.y))
        notes = engine.notes
        if degenerate_se(std_error, fit.estimate, scale).item():
            std_error = np.nan  # zero up to rounding: the one rule, as in the table
            notes = (*notes, degenerate_note([fit.term_names[fit.target]]))
        pvalue = _PValue(observed, null_fits, self.statistic, self.alternative, exact, scale)
        p = pvalue(self.null)
        n_draws = null_fits.coef.shape[0]
        t_obs = float(_statistic(observed, self.statistic, self.null, scale)[0])
        t_null = _statistic(null_fits, self.statistic, self.null, scale)
        low, high = (np.nan, np.nan)
        if self.confidence_interval and np.isfinite(p):
            low, high = _invert(pvalue, fit.estimate, std_error, ctx.alpha, self.alternative)
        mc_se = (0.0 if exact else float(np.sqrt(p * (1 - p) / n_draws))) if np.isfinite(p) else np.nan
        how = f"exact, {n_draws:,} assignments" if exact else f"{n_draws:,} draws"
        return InferenceOutcome(
            std_error=std_error,
            statistic=t_obs,
            p_value=p,
            conf_low=low,
            conf_high=high,
            df=np.nan,
            n_clusters=cov.n_clusters,
            label=f"{self.name} ({cov_type}, {how})",
            extra={
                "null_statistics": t_null,
                "observed_statistic": t_obs,
                "exact": exact,
                "seed": None if exact else self.seed_used,
                "statistic": self.statistic,
                "alternative": self.alternative,
                "null": float(self.null),
                "cov_type": cov_type,
                "working_model": self.working_model,
                "n_undefined": int((~np.isfinite(t_null)).sum()),
                "batched": engine.batched,
                "runner": describe_client(self.client),
            },
            columns={"p_value_mc_se": mc_se, "n_draws": n_draws, "exact": exact},
            notes=notes,
        )

    # ------------------------------------------------------------------------------------------------------
    def _assignments(self, ctx: InferenceContext) -> tuple[bool, _Tasks, int]:
        """(exact?, the batches as tasks ``(seed, start, stop)``, total number of assignments).

        An enumeration is cut into ranges ``start:stop`` of its fixed order (``seed`` None); random draws into
        batches of ``batch_size`` (then the remainder), batch ``k`` drawn with its own stream
        ``numpy.random.default_rng(SeedSequence(seed_used).spawn(n_batches)[k])``, so that its draws depend on the
        seed and ``k`` only, not on the other batches or on where the batch runs.
        """
        count: int | None = None
        if self.enumerate != "never" and ctx.count is not None and ctx.enumerate is not None:
            try:
                count = int(ctx.count())
            except DesignError:
                if self.enumerate == "always":
                    raise
                count = None
        if self.enumerate == "always":
            if count is None:
                raise InferenceError(
                    "enumerate='always' needs a design whose possible assignments can be listed; this one cannot. "
                    "Use enumerate='auto' or 'never'."
                )
            if count > _MAX_ENUMERATE:
                raise InferenceError(
                    f"enumerate='always': the design has {count:,} possible assignments, more than "
                    f"{_MAX_ENUMERATE:,}; use enumerate='auto' with reps=... for a Monte Carlo test."
                )
        step = self.batch_size
        if count is not None and (self.enumerate == "always" or count <= self.reps):
            # the enumeration is read range by range, like the random draws: memory is one batch, not the count
            return True, _Tasks(count, step, None), count

        if ctx.draw is None:  # infer() refuses earlier; kept for direct callers
            raise InferenceError("randomization inference needs the design's draw function.")
        return False, _Tasks(self.reps, step, self.seed_used), self.reps

    def _show_progress(self, total: int, n: int) -> bool:
        return show_progress(self.progress, total * n, _PROGRESS_MIN_ROWS)


@dataclass(frozen=True)
class _Tasks(Sequence[tuple[np.random.SeedSequence | None, int, int]]):
    """The batches of a run as tasks ``(seed, start, stop)``, computed when read (a run refused after its first
    batch never lists the others): full batches of ``step``, then the remainder. ``seed`` is batch ``k``'s own
    ``SeedSequence(entropy, spawn_key=(k,))``, which is ``SeedSequence(entropy).spawn(n_batches)[k]``; None for
    the ranges of an enumeration (``entropy`` None)."""

    total: int
    step: int
    entropy: int | None

    def __len__(self) -> int:
        return -(-self.total // self.step)

    def __getitem__(self, k: int) -> tuple[np.random.SeedSequence | None, int, int]:  # type: ignore[override]
        if not 0 <= k < len(self):
            raise IndexError(k)
        seed = None if self.entropy is None else np.random.SeedSequence(self.entropy, spawn_key=(k,))
        return seed, k * self.step, min((k + 1) * self.step, self.total)

    def size(self, k: int) -> int:
        """Assignments in batch ``k``."""
        return min(self.step, self.total - k * self.step)


@dataclass(frozen=True)
class _Batches:
    """What every batch reads (scattered once to a client's workers): the engine and where assignments come from.

    ``draw(rng, size)`` re-draws from the design; ``enumerate(count, start, stop)`` lists a range of the
    enumeration (None when drawing). Picklable with the design's arrays it closes over.
    """

    engine: _Engine = field(repr=False)
    draw: Callable[[np.random.Generator, int], np.ndarray] | None = field(repr=False)
    enumerate: Callable[..., np.ndarray] | None = field(repr=False)
    count: int


def _run_batch(
    job: _Batches, seed: np.random.SeedSequence | None, start: int, stop: int
) -> tuple[np.ndarray, np.ndarray]:
    """One batch (a task, here or on a worker): its assignments, fitted; only the per-draw statistics come back,
    the two coefficients (B, 2) and the 2x2 Gram matrices (B, 2, 2)."""
    if seed is None:
        Z = job.enumerate(job.count, start, stop)  # type: ignore[misc]
    else:
        Z = job.draw(np.random.default_rng(seed), stop - start)  # type: ignore[misc]
    fits = job.engine(Z.astype(np.float64))
    return fits.coef, fits.gram


@dataclass(frozen=True)
class _Engine:
    """Treatment vectors (B, n) -> fits of [outcome, observed treatment]; ``batched`` says which path is taken."""

    run: Callable[[np.ndarray], BatchFit]
    batched: bool
    notes: tuple[str, ...] = ()

    def __call__(self, Z: np.ndarray) -> BatchFit:
        return self.run(Z)


def _engine(
    fit: LinearFit,
    ctx: InferenceContext,
    cov_type: str,
    clusters: np.ndarray | None,
    working_model: str = "identity",
    statistic: str = "t",
) -> _Engine:
    """A function mapping treatment vectors (B, n) to fits of [outcome, observed treatment] as responses.

    The second response column is what the sharp null subtracts: the statistic at ``tau0`` uses the combination
    ``[1, -tau0]`` of the two columns. The estimator's batched form (``REGISTRY[ctx.estimator].batch_design``) is
    used when it rebuilds the fit's regressors and the covariance has a batched form; otherwise the estimator is
    re-run draw by draw, and a note says why. Weighted CR2 under the identity working model has no batched form
    (its adjustment matrices need a :math:`2k \times 2k` eigen-decomposition per cluster and draw): it is re-run
    draw by draw with :func:`~evalkit.inference.sandwich.sandwich`, so that every statistic uses the working model
    of the reported ``std_error``.

    With ``statistic="estimate"`` the batched form fits coefficients only (the draws' variances are not used:
    ``gram`` is NaN). Batches run with one BLAS thread (:func:`evalkit._threads.single_threaded_blas`): their
    products are thin, and a multi-threaded BLAS waiting for a busy core slows them many-fold.
    """
    sample = ctx.sample
    if sample is None:
        raise InferenceError("randomization inference needs the estimation sample (InferenceContext.sample).")
    identity_cr2 = cov_type == "CR2" and sample.weights is not None and working_model == "identity"
    estimator = REGISTRY.get(ctx.estimator)
    design = None if estimator is None or identity_cr2 else estimator.batch_design(sample, fit)
    if design is not None:
        Y = np.column_stack([fit.y, sample.treatment])

        with single_threaded_blas():  # the draw-independent work, once
            fitter = treatment_design_fitter(
                design,
                Y,
                cov_type=cov_type,
                weights=sample.weights,
                clusters=clusters,
                correction=ctx.correction,
                variance=statistic != "estimate",
            )

        def batched(Z: np.ndarray) -> BatchFit:
            with single_threaded_blas():
                return fitter(Z)

        return _Engine(batched, batched=True)

    if ctx.refit is None:
        raise InferenceError(
            f"randomization inference cannot re-run estimator={ctx.estimator!r}: the design handed down no refit "
            "function."
        )
    if estimator is None:
        why = "it is not a registered estimator"
    elif not estimator.batched:
        why = estimator.unbatched_reason
    elif fit.target in fit.moderator_columns:  # the batched form's target is the treatment column only
        why = (
            f"its batched form computes the treatment coefficient only, and {fit.term_names[fit.target]!r} is a "
            "treatment-by-moderator interaction: each draw rebuilds the interactions from the drawn treatment and "
            "refits"
        )
    else:
        why = "its batched form does not rebuild the fitted regressors on this sample"
    note = (
        f"Randomization inference re-ran estimator {ctx.estimator!r} draw by draw ({why}); the p-values are the "
        "same as a batched run would give, only slower."
    )
    if identity_cr2:
        note = (
            f"Randomization inference re-ran estimator {ctx.estimator!r} draw by draw: weighted CR2 under the "
            "identity working model (the default, as estimatr and clubSandwich) has no batched form, so every "
            "draw's statistic is computed with sandwich(..., working_model='identity'), as std_error is (correct, "
            "slower). RandomizationInference(working_model='inverse_variance') is batched."
        )
    refit = ctx.refit
    shifted = dataclasses.replace(sample, y=sample.y - sample.treatment)

    def looped(Z: np.ndarray) -> BatchFit:
        coef = np.full((Z.shape[0], 2), np.nan)
        gram = np.full((Z.shape[0], 2, 2), np.nan)
        for b, z in enumerate(Z):
            try:
                fa = refit(dataclasses.replace(sample, treatment=z))
                fb = refit(dataclasses.replace(shifted, treatment=z))
            except EstimationError:
                continue
            if identity_cr2:
                coef[b], gram[b] = _identity_cr2_draw(fa, fb, clusters, ctx)
                continue
            Y = np.column_stack([fa.y, fa.y - fb.y])  # fit-space outcome and observed treatment (affine fits)
            one = batch_least_squares(
                fa.X[None],
                Y,
                target=fa.target,
                cov_type=cov_type,
                weights=fa.weights,
                clusters=clusters,
                correction=ctx.correction,
            )
            coef[b], gram[b] = one.coef[0], one.gram[0]
        return BatchFit(coef=coef, gram=gram, cov_type=cov_type)

    return _Engine(looped, batched=False, notes=(note,))


def _identity_cr2_draw(
    fa: LinearFit, fb: LinearFit, clusters: np.ndarray | None, ctx: InferenceContext
) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients and CR2 Gram matrix (identity working model) of [outcome, observed treatment] for one draw.

    ``fa`` is the fit of the outcome and ``fb`` that of the outcome minus the observed treatment (same regressors),
    so the responses ``[y, z_obs]`` have coefficients ``[a_t, a_t - b_t]`` and residuals ``E = [e_a, e_a - e_b]``.
    With the kernel of :func:`~evalkit.inference.sandwich.sandwich` for weighted CR2 under the identity working
    model (:func:`~evalkit._linear_algebra.condition_design`, then
    :func:`~evalkit.inference._cr2_identity.cr2_identity_directions`): :math:`c'\\hat Vc = f\\sum_g (a_g'e_g)^2`
    for the target's contrast :math:`c`, so the Gram matrix over the response columns is :math:`f\\,U'U` with
    :math:`U_g = a_g'E_g` and :math:`f` the small-sample factor (Pustejovsky and Tipton 2018, JBES 36(4)).
    """
    if clusters is None or fa.weights is None:  # the engine only routes weighted, clustered CR2 here
        raise InferenceError("weighted CR2 under the identity working model needs weights and clusters.")
    t = fa.target
    n, k = fa.X.shape
    design = condition_design(fa.X, weights=fa.weights)
    codes, _ = factorize_clusters(clusters, n)
    G = int(codes.max()) + 1
    a = cr2_identity_directions(design.X, fa.weights, codes, G, design.contrasts(np.eye(k)[:, t]), design.L)
    E = np.column_stack([fa.residuals, fa.residuals - fb.residuals])
    U = group_sum(a[:, None] * E, codes, G)  # (G, 2)
    gram = (U.T @ U) * small_sample_factor("CR2", n, k, G, ctx.correction)
    return np.array([fa.coef[t], fa.coef[t] - fb.coef[t]]), 0.5 * (gram + gram.T)


def _statistic(fits: BatchFit, statistic: str, tau0: float, scale: float = 0.0) -> np.ndarray:
    """Statistic of the fits of ``y - tau0 * z_obs`` (the control outcomes under the sharp null tau0).

    A studentized statistic whose standard error is zero up to rounding (the one rule,
    :func:`evalkit.inference.analytic.degenerate_se`, judged against ``scale``, the outcome's scale) is NaN: the draw
    is undefined, never an infinite statistic."""
    est = fits.coef[:, 0] - tau0 * fits.coef[:, 1]
    if statistic == "estimate":
        return est
    g = fits.gram
    var = g[:, 0, 0] - 2.0 * tau0 * g[:, 0, 1] + tau0 * tau0 * g[:, 1, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(np.where(var > 0, var, np.nan))
        return est / np.where(degenerate_se(se, est, scale), np.nan, se)


@dataclass(frozen=True)
class _PValue:
    """The randomization p-value as a function of the null effect tau0, on fixed draws."""

    observed: BatchFit
    null_fits: BatchFit
    statistic: str
    alternative: str
    exact: bool
    scale: float = 0.0

    def __call__(self, tau0: float) -> float:
        alternative = self.alternative
        t = float(_statistic(self.observed, self.statistic, tau0, self.scale)[0])
        t_null = _statistic(self.null_fits, self.statistic, tau0, self.scale)
        if not np.isfinite(t):
            return np.nan  # the observed statistic is undefined (a degenerate SE): no test
        extreme = at_least_as_extreme(t, t_null, alternative) | ~np.isfinite(t_null)  # type: ignore[arg-type]
        count = int(extreme.sum())
        n = t_null.size
        return count / n if self.exact else (1 + count) / (1 + n)


#: Beyond this many standard errors from the estimate an interval end is reported as infinite.
_UNBOUNDED = 1e8


def _invert(pvalue: _PValue, estimate: float, se: float, alpha: float, alternative: str) -> tuple[float, float]:
    """Ends of {tau0 : p(tau0) > alpha} by bracketing from the estimate and bisection."""
    scale = se if np.isfinite(se) and se > 0 else max(1.0, abs(estimate))

    def accepted(tau0: float) -> bool:
        # two-sided: both ends; "greater" rejects small tau0 (a lower bound), "less" large tau0 (an upper bound)
        return pvalue(tau0) > alpha

    def end(direction: float) -> float:
        inside = estimate
        step = scale
        outside = None
        for _ in range(60):
            trial = estimate + direction * step
            if not accepted(trial):
                outside = trial
                break
            inside = trial
            step *= 2.0
        if outside is None or abs(outside - estimate) > _UNBOUNDED * scale:
            # Not rejected within 10^8 standard errors: the statistic does not respond to the constant effect
            # (e.g. an event-study lead, whose coefficient is unchanged by subtracting tau0 * D), or rejection far
            # out is round-off. The interval is unbounded on this side.
            return direction * np.inf
        for _ in range(100):
            mid = 0.5 * (inside + outside)
            if abs(outside - inside) <= 1e-8 * scale or mid in (inside, outside):
                break
            if accepted(mid):
                inside = mid
            else:
                outside = mid
        return 0.5 * (inside + outside)

    low = -np.inf if alternative == "less" else end(-1.0)
    high = np.inf if alternative == "greater" else end(1.0)
    return float(low), float(high)
