"""Analytic inference: the :class:`Sandwich` method, t tests with small-sample df, and the degenerate-SE rule.

:class:`Sandwich` is the inference method behind ``inference="HC2"``, ``"CR2"``, ...: it asks the covariance
kernel (:func:`evalkit.inference.sandwich.sandwich`) for one covariance matrix of the tested terms, with the
design's small-sample correction, and turns it into t tests and a joint Wald test. Every analytic test in evalkit
goes through :func:`t_tests` (one coefficient: :func:`t_inference`): trials, DiD,
Callaway-Sant'Anna, Sun-Abraham and TWFE. It is also where a standard error that is zero up to rounding is
turned into NaN with a note (:func:`degenerate_se`), so no estimator reports p = 0 from a variance it could not
estimate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats

from evalkit._validation import check_option
from evalkit.errors import InferenceError
from evalkit.estimators import LinearFit
from evalkit.inference._base import InferenceContext, InferenceMethod, InferenceOutcome, JointTest
from evalkit.inference.estimated_weights import estimated_weights_adjustment
from evalkit.inference.sandwich import (
    CovarianceEstimate,
    CovType,
    DfMethod,
    WorkingModel,
    check_bm_type,
    sandwich,
)

__all__ = [
    "DEGENERATE_RTOL",
    "Sandwich",
    "TTests",
    "degenerate_note",
    "degenerate_se",
    "resolve_inference",
    "t_inference",
    "t_tests",
]

#: A standard error at or below this fraction of the estimate's scale is zero up to rounding (see degenerate_se).
DEGENERATE_RTOL = 1e-10


def degenerate_se(std_errors: np.ndarray | float, estimates: np.ndarray | float, scale: float = 0.0) -> np.ndarray:
    """Which standard errors are zero up to rounding, relative to the scale of their estimates.

    Parameters
    ----------
    std_errors, estimates : array-like
        Standard errors and the estimates they belong to (broadcast together).
    scale : float, default 0
        A scale of the data the estimates are measured in (e.g. the outcome's standard deviation), used when an
        estimate is itself (close to) zero.

    Returns
    -------
    ndarray of bool
        True where :math:`\\widehat{se} \\le \\epsilon_{rel} \\max(|\\hat\\tau|, s)` with
        :math:`\\epsilon_{rel}` = :data:`DEGENERATE_RTOL` (1e-10). NaN standard errors are not flagged.

    Notes
    -----
    A variance that is zero in exact arithmetic (one cluster, a cell whose units sit in one cluster, an exact fit)
    comes out of floating point as a sum of rounding errors, :math:`O(\\epsilon_{mach}\\sqrt n)` times the data's
    scale (about 1e-17 in the Callaway-Sant'Anna one-cluster case of issue 8), while a genuine standard error of
    :math:`\\sigma/\\sqrt n` stays above 1e-10 of the scale for any :math:`n < 10^{20}`. The threshold sits between the
    two, with six orders of magnitude to spare on either side.
    """
    se = np.asarray(std_errors, dtype=np.float64)
    reference = np.maximum(np.abs(np.asarray(estimates, dtype=np.float64)), float(scale))
    with np.errstate(invalid="ignore"):
        return np.isfinite(se) & (se <= DEGENERATE_RTOL * reference)


def degenerate_note(terms: Sequence[str]) -> str:
    """The note that goes with standard errors set to NaN by :func:`degenerate_se`."""
    shown = ", ".join(map(str, terms[:5])) + (f" and {len(terms) - 5} more" if len(terms) > 5 else "")
    return (
        f"The standard error of {shown} is zero up to rounding (at most {DEGENERATE_RTOL:g} of the estimate's scale): "
        "the data cannot estimate that variance (usual causes: a single cluster, every unit of a cell in one "
        "cluster, or an exact fit). It is reported as NaN, with no test or interval; use more clusters, "
        "randomization inference, or a coarser aggregation."
    )


@dataclass(frozen=True)
class TTests:
    """Vectorized t (or normal, ``df = inf``) tests of zero and intervals, with degenerate SEs set to NaN.

    Attributes
    ----------
    std_error, statistic, p_value, conf_low, conf_high, df : ndarray
        One entry per estimate.
    degenerate : ndarray of bool
        Which standard errors were zero up to rounding (now NaN).
    """

    std_error: np.ndarray
    statistic: np.ndarray
    p_value: np.ndarray
    conf_low: np.ndarray
    conf_high: np.ndarray
    df: np.ndarray
    degenerate: np.ndarray

    def notes(self, terms: Sequence[str]) -> tuple[str, ...]:
        """The degenerate-SE note naming the affected ``terms`` (one name per estimate), or nothing."""
        bad = [t for t, d in zip(terms, self.degenerate, strict=True) if d]
        return (degenerate_note(bad),) if bad else ()


def t_tests(
    estimates: np.ndarray | float,
    std_errors: np.ndarray | float,
    df: np.ndarray | float,
    *,
    alpha: float,
    scale: float = 0.0,
) -> TTests:
    """Two-sided tests of zero and :math:`1-\\alpha` intervals for estimates with standard errors.

    Notes
    -----
    :math:`t = \\hat\\tau / \\widehat{se}`; :math:`p = 2\\,P(T_\\nu > |t|)` and the interval
    :math:`\\hat\\tau \\pm t_{\\nu, 1-\\alpha/2}\\,\\widehat{se}`; :math:`\\nu = \\infty` gives the normal
    distribution (influence-function inference). Standard errors that are zero up to rounding
    (:func:`degenerate_se`) become NaN, and so do their statistic, p-value and interval.
    """
    est = np.atleast_1d(np.asarray(estimates, dtype=np.float64))
    se = np.atleast_1d(np.asarray(std_errors, dtype=np.float64)).copy()
    nu = np.broadcast_to(np.asarray(df, dtype=np.float64), est.shape).copy()
    bad = degenerate_se(se, est, scale) | (se <= 0)
    se[bad] = np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        t = est / se
        crit = np.where(np.isinf(nu), stats.norm.ppf(1 - alpha / 2), stats.t.ppf(1 - alpha / 2, nu))
        p = np.where(np.isinf(nu), 2 * stats.norm.sf(np.abs(t)), 2 * stats.t.sf(np.abs(t), nu))
    return TTests(
        std_error=se,
        statistic=t,
        p_value=p,
        conf_low=est - crit * se,
        conf_high=est + crit * se,
        df=nu,
        degenerate=bad & np.isfinite(est),
    )


def resolve_inference(
    inference: object, default: Callable[[], tuple[InferenceMethod, str]]
) -> tuple[InferenceMethod, str | None]:
    """Turn the ``inference=`` argument of ``estimate()`` into an inference method.

    Parameters
    ----------
    inference : None, str or InferenceMethod
        ``None`` takes the design's default; a string names a covariance type (``"HC2"`` is short for
        ``Sandwich("HC2")``); an inference method is used as it is.
    default : callable
        The design's default, stated once where the design is: returns the method and the note that says why it
        was chosen.

    Returns
    -------
    method : InferenceMethod
    note : str or None
        The default's note, or None when the user chose.
    """
    if inference is None:
        return default()
    if isinstance(inference, str):
        return Sandwich(inference), None  # type: ignore[arg-type]  # validates the name
    if not isinstance(inference, InferenceMethod):
        raise InferenceError(
            f"inference={inference!r} is not understood; pass a covariance type such as 'HC2' or 'CR2', or an "
            "object from evalkit.inference (e.g. ek.inference.Sandwich('CR2'), "
            "ek.inference.RandomizationInference(reps=10_000, seed=1))."
        )
    return inference, None


@dataclass(frozen=True)
class Sandwich(InferenceMethod):
    """Settings for sandwich (robust) standard errors; ``inference="HC2"`` is short for ``Sandwich("HC2")``.

    Parameters
    ----------
    cov_type : {"classical", "HC0", "HC1", "HC2", "HC3", "CR0", "CR1", "CR2"}, default "HC2"
        Which covariance estimator to use; see :func:`sandwich` for the formulas. The ``CR`` types need the
        design to have clusters.
    df : {"default", "bell_mccaffrey"}, default "default"
        ``"default"``: the type's usual t-test df (:math:`n-k`; :math:`G-1` for CR0/CR1; Bell-McCaffrey for CR2;
        Welch-Satterthwaite for the unblocked, unclustered, unweighted difference in means with HC2, as
        ``estimatr::difference_in_means``). ``"bell_mccaffrey"`` (HC2 and CR2 only): the Bell-McCaffrey df of
        the HC2 t test (Imbens and Kolesar 2016), see :func:`bell_mccaffrey_df` (with weights under the
        inverse-variance working model, the one under which HC2 is CR2 with singleton clusters); joint tests then
        use the Hotelling approximation with the smallest of those df, as CR2 (:meth:`joint_test`).
    working_model : {"identity", "inverse_variance"}, default "identity"
        Weighted CR2 only (ignored otherwise): the working model of the bias correction and of the df.
        ``"identity"`` (equal error variances) is the default of ``estimatr::lm_robust`` and of
        ``clubSandwich::vcovCR`` for a weighted fit; ``"inverse_variance"`` (variances proportional to
        :math:`1/w`) computes CR2 on the regression of :math:`\\sqrt{w}y` on :math:`\\sqrt{w}X`. See :func:`sandwich`.

    Examples
    --------
    >>> import evalkit as ek
    >>> ek.inference.Sandwich("CR2", working_model="inverse_variance").working_model
    'inverse_variance'
    """

    cov_type: CovType = "HC2"
    df: DfMethod = "default"
    working_model: WorkingModel = "identity"

    def __post_init__(self) -> None:
        check_option("cov_type", self.cov_type, CovType)
        check_option("df", self.df, DfMethod)
        check_option("working_model", self.working_model, WorkingModel)
        check_bm_type(self.cov_type, self.df)

    @property
    def name(self) -> str:
        """The label shown in results' ``inference`` column, e.g. ``"HC2"``."""
        return self.cov_type

    @property
    def sandwich_type(self) -> str:
        """The covariance type (this method is a sandwich)."""
        return self.cov_type

    @property
    def clustered(self) -> bool:
        """Whether this estimator needs cluster labels."""
        return self.cov_type.startswith("CR")

    def infer(self, fit: LinearFit, ctx: InferenceContext) -> InferenceOutcome:
        """t test and interval for the fit's target coefficient (see :meth:`infer_terms`)."""
        return self.infer_terms(fit, ctx, [fit.target])[0]

    def infer_terms(self, fit: LinearFit, ctx: InferenceContext, terms: Sequence[int]) -> tuple[InferenceOutcome, ...]:
        """t tests and intervals for the coefficients ``terms``, from one covariance matrix.

        Notes
        -----
        :math:`t = \\hat\\tau / \\widehat{se}`; two-sided :math:`p = 2\\,P(T_\\nu > |t|)` and interval
        :math:`\\hat\\tau \\pm t_{\\nu, 1-\\alpha/2}\\,\\widehat{se}`, with :math:`\\nu` the degrees of freedom of
        the covariance type (:math:`n-K`; :math:`G-1` for CR0/CR1; Bell-McCaffrey for CR2, and for HC2 with
        ``df="bell_mccaffrey"``), as ``estimatr::lm_robust``; the small-sample factor and :math:`K` count the
        parameters absorbed outside the design matrix (``ctx.correction``).

        The difference in means without blocks, clusters or weights, with HC2 (its Neyman / Welch variance
        :math:`s_1^2/n_1 + s_0^2/n_0`) and ``df="default"``, uses the Welch (1947)-Satterthwaite df
        :math:`\\nu = (v_1 + v_0)^2 / (v_1^2/(n_1-1) + v_0^2/(n_0-1))`, :math:`v_j = s_j^2/n_j`, as
        ``estimatr::difference_in_means``. With blocks it keeps :math:`n - 2B` (the fully interacted regression's
        :math:`n - k`, estimatr's blocked df), with weights :math:`n - 2` (estimatr runs ``lm_robust`` HC2), with
        matched pairs :math:`B - 1`; with clusters, CR2's Bell-McCaffrey df (see
        :func:`evalkit.estimators.difference_in_means`).
        """
        terms = list(terms)
        cov = self._covariance(fit, ctx, terms)
        welch = _welch_df(fit, self, ctx) if terms == [fit.target] else None
        how = "Welch-Satterthwaite" if welch is not None else cov.df_method
        label = self.cov_type if self.cov_type == "classical" else f"{self.cov_type} ({how} df)"
        if self.cov_type == "CR2" and fit.weights is not None and self.working_model == "inverse_variance":
            label = f"CR2 ({how} df, inverse-variance working model)"
        if ctx.correction.absorbed and self.cov_type == "CR1":
            counted = "nested in clusters not counted" if ctx.correction.nested else "counted"
            label = f"CR1 (G - 1 df; fixed effects {counted})"
        scale = _outcome_scale(fit)
        outs = tuple(
            t_inference(
                float(fit.coef[j]),
                float(np.sqrt(cov.vcov[j, j])),
                welch if welch is not None else float(cov.df[j]),
                alpha=ctx.alpha,
                n_clusters=cov.n_clusters,
                label=label,
                scale=scale,
                term=fit.term_names[j],
            )
            for j in terms
        )
        if ctx.response_model is not None:  # kept on the results: resampling corrections must not ignore it
            outs = tuple(replace(o, extra={"estimated_weights": True}) for o in outs)
        return outs

    def joint_test(self, fit: LinearFit, ctx: InferenceContext, terms: Sequence[int]) -> JointTest | None:
        """Wald test that the coefficients ``terms`` are all zero, with small-sample df.

        Notes
        -----
        :math:`W = b'\\hat V^{-1} b` over the :math:`q` terms. Non-clustered types with their usual df:
        :math:`F = W/q` on :math:`(q, n-K)` df. CR0/CR1: :math:`F = W/q` on :math:`(q, G-1)`. CR2, and HC2 with
        ``df="bell_mccaffrey"`` (whose t tests use Bell-McCaffrey df, so the joint test must not fall back to
        :math:`n-K`): the Hotelling :math:`T^2` approximation :math:`F = W(\\eta - q + 1)/(\\eta q)` on
        :math:`(q, \\eta - q + 1)` with :math:`\\eta` the smallest Bell-McCaffrey df of the terms (Pustejovsky and
        Tipton 2018, JBES 36(4), Sec. 3.3, propose the more accurate HTZ test). NaN when a term's standard error is
        zero up to rounding (:func:`degenerate_se`).
        """
        terms = list(terms)
        if not terms:
            return None
        cov = self._covariance(fit, ctx, terms)
        V, df = cov.vcov, cov.df
        b = fit.coef[terms]
        se = np.sqrt(np.diag(V)[terms])
        q = len(terms)
        if degenerate_se(se, b, _outcome_scale(fit)).any():
            W = np.nan
        else:
            W = float(b @ np.linalg.solve(V[np.ix_(terms, terms)], b))
        if self.cov_type == "CR2" or self.df == "bell_mccaffrey":
            eta = float(np.min(df[terms]))
            d2 = eta - q + 1
            F, method = W * d2 / (eta * q), "Hotelling T2 with eta = min Bell-McCaffrey df"
        elif not self.clustered:
            F, d2, method = W / q, float(df[terms[0]]), "Wald F with n - K df"
        else:
            F, d2, method = W / q, float(cov.n_clusters - 1), "Wald F with G - 1 df"
        p = float(stats.f.sf(F, q, d2)) if d2 > 0 and np.isfinite(F) else np.nan
        names = tuple(fit.term_names[j] for j in terms)
        return JointTest(statistic=F, df_num=float(q), df_denom=float(d2), p_value=p, terms=names, method=method)

    def covariance(self, fit: LinearFit, ctx: InferenceContext, terms: Sequence[int]) -> CovarianceEstimate:
        """The covariance of all of ``fit``'s coefficients (one kernel call), with df for ``terms``.

        The same estimate :meth:`infer_terms` and :meth:`joint_test` use (see
        :func:`evalkit.inference.sandwich.sandwich`).
        """
        return self._covariance(fit, ctx, terms)

    def _covariance(self, fit: LinearFit, ctx: InferenceContext, terms: Sequence[int]) -> CovarianceEstimate:
        if self.clustered and ctx.clusters is None:
            raise InferenceError(
                f"inference={self.cov_type!r} needs clusters, and this design has none; declare clusters= in the "
                "design or use 'HC2'."
            )
        cov = sandwich(
            fit.X,
            fit.residuals,
            self.cov_type,
            weights=fit.weights,
            clusters=ctx.clusters if self.clustered else None,
            df_for=terms,
            correction=ctx.correction,
            working_model=self.working_model,
            df_method=self.df,
            design=fit.design,
        )
        if ctx.response_model is None:
            return cov
        # weights estimated by a response model: add the two-step (stacked M-estimation) term to the kernel's
        # known-weights sandwich; the df stay the kernel's
        if ctx.sample is None or ctx.refit is None:
            raise InferenceError("the estimated-weights correction needs the estimation sample and the estimator.")
        delta = estimated_weights_adjustment(fit, ctx.response_model, ctx.sample, ctx.refit, clustered=self.clustered)
        return replace(cov, vcov=cov.vcov + 0.5 * (delta + delta.T))


def _welch_df(fit: LinearFit, spec: Sandwich, context: InferenceContext) -> float | None:
    """The Welch-Satterthwaite df of an unblocked, unclustered, unweighted difference in means with HC2, else None."""
    sample = context.sample
    if (
        context.estimator != "difference_in_means"
        or spec.cov_type != "HC2"
        or spec.df != "default"
        or fit.weights is not None
        or context.clusters is not None
        or sample is None
        or (sample.blocks is not None and np.unique(sample.blocks).size > 1)
        or fit.X.shape[1] != 2
    ):
        return None
    z = fit.X[:, fit.target] == 1
    v1 = fit.y[z].var(ddof=1) / z.sum()
    v0 = fit.y[~z].var(ddof=1) / (~z).sum()
    with np.errstate(divide="ignore", invalid="ignore"):  # both arms constant: NaN df (and a degenerate SE)
        return float((v1 + v0) ** 2 / (v1**2 / (z.sum() - 1) + v0**2 / ((~z).sum() - 1)))


def _outcome_scale(fit: LinearFit) -> float:
    """The outcome's standard deviation, the scale against which a standard error is judged degenerate."""
    y = np.asarray(fit.y, dtype=np.float64)
    return float(y.std()) if y.size > 1 else 0.0


def t_inference(
    estimate: float,
    std_error: float,
    df: float,
    *,
    alpha: float,
    n_clusters: int | None,
    label: str,
    scale: float = 0.0,
    term: str = "the treatment effect",
) -> InferenceOutcome:
    """Two-sided t test of zero and the :math:`1-\\alpha` interval for one coefficient (see :func:`t_tests`)."""
    out = t_tests(estimate, std_error, df, alpha=alpha, scale=scale)
    return InferenceOutcome(
        std_error=float(out.std_error[0]),
        statistic=float(out.statistic[0]),
        p_value=float(out.p_value[0]),
        conf_low=float(out.conf_low[0]),
        conf_high=float(out.conf_high[0]),
        df=df,
        n_clusters=n_clusters,
        label=label,
        notes=out.notes([term]),
    )
