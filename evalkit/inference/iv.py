"""Inference for a 2SLS fit (``estimator="iv"``): how each inference method treats it (:class:`TwoStageInference`),
and what it reports beside the complier effect -- the intention-to-treat effect, the first stage, its F and the
Anderson-Rubin interval -- all from the one covariance kernel (:func:`evalkit.inference.sandwich.sandwich`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from evalkit.errors import InferenceError
from evalkit.estimators import REGISTRY, LinearFit
from evalkit.estimators.iv import IVFit
from evalkit.inference._base import InferenceContext, InferenceMethod, InferenceOutcome
from evalkit.inference.analytic import Sandwich, t_tests
from evalkit.inference.randomization import RandomizationInference
from evalkit.inference.sandwich import NO_CORRECTION, CovType, DfMethod, SmallSampleCorrection, WorkingModel, sandwich

__all__ = [
    "RANDOMIZATION_NOTE",
    "AndersonRubin",
    "IVStatistics",
    "TwoStageInference",
    "anderson_rubin",
    "iv_statistics",
    "two_stage_columns",
]


@dataclass(frozen=True)
class AndersonRubin:
    """The Anderson-Rubin confidence set for the complier effect, with one instrument.

    Attributes
    ----------
    conf_low, conf_high : float
        Its ends when it is an interval; ``-inf`` / ``inf`` when it is unbounded (two rays, or the whole line).
    kind : {"interval", "two rays", "ray", "whole line", "empty", "undefined"}
        The shape of the set.
    description : str
        The set as text, e.g. ``"[0.12, 0.55]"`` or ``"(-inf, -3.1] U [0.2, inf)"``.
    boundary : tuple of float
        The finite points where the test's statistic equals the critical value (the ends of the interval, of the
        two rays or of the ray), in increasing order.
    """

    conf_low: float
    conf_high: float
    kind: str
    description: str
    boundary: tuple[float, ...] = ()


@dataclass(frozen=True)
class IVStatistics:
    """The intention-to-treat effect, the first stage and the weak-instrument-robust interval of a 2SLS fit.

    Attributes
    ----------
    itt, itt_std_error, itt_statistic, itt_p_value, itt_conf_low, itt_conf_high, itt_df : float
        The coefficient of assignment in the reduced form (outcome on assignment and the exogenous regressors), its
        standard error (same covariance type as the complier effect), t test and interval.
    first_stage, first_stage_std_error : float
        The coefficient of assignment in the first stage (take-up on the same regressors): the compliance rate,
        i.e. the difference in take-up rates between arms (covariate-adjusted with covariates), and its standard
        error.
    first_stage_f : float
        The first-stage F statistic of the instrument, :math:`(\\hat\\pi / \\widehat{se}(\\hat\\pi))^2` with the
        robust standard error (one instrument: the robust Wald F; ``estimatr::iv_robust(diagnostics = TRUE)``'s weak
        instrument F).
    anderson_rubin : AndersonRubin
        The Anderson-Rubin confidence set.
    """

    itt: float
    itt_std_error: float
    itt_statistic: float
    itt_p_value: float
    itt_conf_low: float
    itt_conf_high: float
    itt_df: float
    first_stage: float
    first_stage_std_error: float
    first_stage_f: float
    anderson_rubin: AndersonRubin


def iv_statistics(
    fit: IVFit,
    cov_type: CovType,
    *,
    alpha: float,
    clusters: np.ndarray | None = None,
    correction: SmallSampleCorrection = NO_CORRECTION,
    working_model: WorkingModel = "identity",
    df_method: DfMethod = "default",
) -> IVStatistics:
    """ITT, first stage, first-stage F and Anderson-Rubin interval of a 2SLS fit (see :func:`anderson_rubin`).

    The reduced form and the first stage share their regressors :math:`X = (1, Z, W)`, so one kernel call per
    residual vector gives their variances, and their covariance follows by polarization (the sandwich meat is a
    quadratic form in the residuals): :math:`v_{yd} = s_y s_d (V(u_y + u_d) - V(u_y - u_d))/4` with
    :math:`u = e/s` the residuals divided by their largest absolute value (so neither swamps the other).
    """
    reduced, first = fit.reduced_form, fit.first_stage
    if reduced is None or first is None:
        raise InferenceError("iv_statistics needs an IVFit from two_stage_least_squares (with its reduced form).")
    t = reduced.target

    def variance(residuals: np.ndarray) -> tuple[float, float]:
        cov = sandwich(
            reduced.X,
            residuals,
            cov_type,
            weights=reduced.weights,
            clusters=clusters,
            df_for=[t],
            correction=correction,
            working_model=working_model,
            df_method=df_method,
        )
        return float(cov.vcov[t, t]), float(cov.df[t])

    e_y, e_d = reduced.residuals, first.residuals
    v_yy, df = variance(e_y)
    v_dd, _ = variance(e_d)
    # polarization on residuals of unit scale (the meat is bilinear): e_y + e_d would lose e_d entirely when the
    # outcome is 1e150 times take-up's scale
    s_y, s_d = (float(np.max(np.abs(e), initial=0.0)) or 1.0 for e in (e_y, e_d))
    u_y, u_d = e_y / s_y, e_d / s_d
    v_yd = s_y * s_d * 0.25 * (variance(u_y + u_d)[0] - variance(u_y - u_d)[0])
    pi_y, pi_d = float(reduced.coef[t]), float(first.coef[t])
    itt = t_tests(pi_y, np.sqrt(v_yy), df, alpha=alpha, scale=_scale(reduced))
    fs = t_tests(pi_d, np.sqrt(v_dd), df, alpha=alpha, scale=_scale(first))
    crit = float(stats.norm.ppf(1 - alpha / 2) if np.isinf(df) else stats.t.ppf(1 - alpha / 2, df))
    return IVStatistics(
        itt=pi_y,
        itt_std_error=float(itt.std_error[0]),
        itt_statistic=float(itt.statistic[0]),
        itt_p_value=float(itt.p_value[0]),
        itt_conf_low=float(itt.conf_low[0]),
        itt_conf_high=float(itt.conf_high[0]),
        itt_df=df,
        first_stage=pi_d,
        first_stage_std_error=float(fs.std_error[0]),
        first_stage_f=float(fs.statistic[0]) ** 2,
        # an ITT variance the data cannot estimate (zero up to rounding, or underflowed: NaN with the degenerate-SE
        # note) leaves the AR set undefined too, not a spuriously narrow interval
        anderson_rubin=anderson_rubin(pi_y, pi_d, v_yy if np.isfinite(itt.std_error[0]) else np.nan, v_dd, v_yd, crit),
    )


def anderson_rubin(pi_y: float, pi_d: float, v_yy: float, v_dd: float, v_yd: float, crit: float) -> AndersonRubin:
    """The Anderson-Rubin set :math:`\\{\\beta_0 : |t_{AR}(\\beta_0)| \\le c\\}` for one instrument, in closed form.

    Parameters
    ----------
    pi_y, pi_d : float
        Reduced-form (ITT) and first-stage coefficients of the instrument.
    v_yy, v_dd, v_yd : float
        Their (robust) variances and covariance.
    crit : float
        The critical value :math:`c` (:math:`t_{\\nu, 1-\\alpha/2}`).

    Returns
    -------
    AndersonRubin

    Notes
    -----
    Under :math:`H_0: \\beta = \\beta_0` the outcome net of the hypothesised effect, :math:`y - \\beta_0 D`, does not
    depend on assignment, so the coefficient of :math:`Z` in its regression on :math:`(Z, W)`,
    :math:`\\hat\\pi_y - \\beta_0\\hat\\pi_d`, is zero in expectation; its residuals are :math:`e_y - \\beta_0 e_d`,
    hence its sandwich variance is :math:`v_{yy} - 2\\beta_0 v_{yd} + \\beta_0^2 v_{dd}` (Anderson and Rubin 1949;
    robust and clustered versions as in Andrews, Stock and Sun 2019, section 5). The test does not use the first
    stage's strength, so the set has coverage :math:`1-\\alpha` however weak the instrument. Accepting
    :math:`\\beta_0` means :math:`a\\beta_0^2 + b\\beta_0 + c_0 \\le 0` with :math:`a = \\hat\\pi_d^2 - c^2 v_{dd}`,
    :math:`b = -2(\\hat\\pi_y\\hat\\pi_d - c^2 v_{yd})`, :math:`c_0 = \\hat\\pi_y^2 - c^2 v_{yy}`: a bounded interval
    when :math:`a > 0` (the first-stage F exceeds :math:`c^2`), otherwise two rays or the whole line.

    References
    ----------
    Anderson, T. W. and Rubin, H. (1949). Estimation of the parameters of a single equation in a complete system of
    stochastic equations. Annals of Mathematical Statistics 20(1), 46-63.

    Andrews, I., Stock, J. H. and Sun, L. (2019). Weak instruments in instrumental variables regression: theory and
    practice. Annual Review of Economics 11, 727-753.
    """
    # The set is equivariant in the outcome's scale s (beta0 -> s beta0): solve it for y / s, so that squares of
    # huge outcomes (1e200) do not overflow, and scale the ends back.
    scale = max(abs(pi_y), float(np.sqrt(v_yy)) if v_yy > 0 else 0.0)
    scale = scale if np.isfinite(scale) and scale > 0 else 1.0
    pi_y, v_yy, v_yd = pi_y / scale, v_yy / scale / scale, v_yd / scale
    c2 = crit**2
    a = pi_d**2 - c2 * v_dd
    b = -2.0 * (pi_y * pi_d - c2 * v_yd)
    c0 = pi_y**2 - c2 * v_yy
    if not all(np.isfinite(v) for v in (a, b, c0)):
        return AndersonRubin(np.nan, np.nan, "undefined", "undefined")
    disc = b * b - 4.0 * a * c0
    if a == 0.0:  # linear: b beta + c0 <= 0
        if b == 0.0:
            return _whole_line() if c0 <= 0 else AndersonRubin(np.nan, np.nan, "empty", "empty")
        root = -c0 / b * scale
        if b > 0:
            return AndersonRubin(-np.inf, root, "ray", f"(-inf, {root:.6g}]", (root,))
        return AndersonRubin(root, np.inf, "ray", f"[{root:.6g}, inf)", (root,))
    if disc < 0:
        return _whole_line() if a < 0 else AndersonRubin(np.nan, np.nan, "empty", "empty")
    sq = np.sqrt(disc)
    # the numerically stable pair of roots of a x^2 + b x + c0
    q = -0.5 * (b + np.copysign(sq, b))
    r = [x * scale for x in sorted([q / a, c0 / q] if q != 0 else [0.0, 0.0])]
    if a > 0:
        return AndersonRubin(r[0], r[1], "interval", f"[{r[0]:.6g}, {r[1]:.6g}]", (r[0], r[1]))
    return AndersonRubin(-np.inf, np.inf, "two rays", f"(-inf, {r[0]:.6g}] U [{r[1]:.6g}, inf)", (r[0], r[1]))


def _whole_line() -> AndersonRubin:
    return AndersonRubin(-np.inf, np.inf, "whole line", "(-inf, inf)")


RANDOMIZATION_NOTE = (
    "Randomization inference under estimator='iv' tests the sharp null that assignment has no effect on the outcome "
    "of any unit (with null=b: no effect on the outcome net of b times take-up), by re-drawing assignment from the "
    "design and re-computing the reduced-form (ITT) statistic; under the exclusion restriction this is the null of "
    "no effect of take-up. The re-draws never use take-up, which assignment moves. std_error is the analytic 2SLS "
    "standard error; conf_low / conf_high are not computed (see ar_conf_low / ar_conf_high, the Anderson-Rubin "
    "interval)."
)


@dataclass(frozen=True)
class TwoStageInference(InferenceMethod):
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
    """(cov_type, df method, working model) of the analytic columns (ITT, first stage, Anderson-Rubin): the reported
    standard error's sandwich, or for randomization inference its ``cov_type`` (default HC2, CR2 when clustered)."""
    inner = method.inner if isinstance(method, TwoStageInference) else method
    if isinstance(inner, Sandwich):
        return inner.cov_type, inner.df, inner.working_model
    if isinstance(inner, RandomizationInference) and inner.cov_type is not None:
        return inner.cov_type, "default", inner.working_model
    return ("CR2" if clustered else "HC2"), "default", inner.working_model


def two_stage_columns(fit: LinearFit, ctx: InferenceContext, method: InferenceMethod) -> dict[str, object]:
    """The ITT, first-stage, first-stage F and Anderson-Rubin columns of a complier-effect row.

    They use the covariance type of the reported standard error (for randomization inference its ``cov_type``,
    default HC2 / CR2), with the same df rule (:func:`iv_statistics`).
    """
    if not isinstance(fit, IVFit):
        raise InferenceError("the IV columns need a 2SLS fit (estimator='iv').")
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
    return {
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
    }


def _scale(fit: LinearFit) -> float:
    y = np.asarray(fit.y, dtype=np.float64)
    return float(y.std()) if y.size > 1 else 0.0
