"""``mde``, ``power`` and ``sample_size`` for individual, blocked, cluster, blocked-cluster and two-period DiD designs.

The three functions take the same description of a design and solve for a different unknown. Everything is in
outcome standard-deviation units. See :func:`mde` for the parameters and the formulas.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from evalkit._boundary import known_keywords
from evalkit._validation import check_option
from evalkit.errors import OptionError
from evalkit.planning import _designs
from evalkit.planning._designs import DesignName, Sampling
from evalkit.planning._power import Alternative, Method, power_of_test, solve_ncp
from evalkit.planning.results import PlanningInputs, PlanningResult

__all__ = ["mde", "power", "sample_size"]

DesignKind = Literal["trial", "did"]


def _number(name: str, value: Any, fix: str) -> float:
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise OptionError(f"{name}={value!r} must be a finite number; {fix}")
    return float(value)


def _positive(name: str, value: Any, fix: str) -> float:
    out = _number(name, value, fix)
    if out <= 0:
        raise OptionError(f"{name}={value!r} must be a positive number; {fix}")
    return out


def _count(name: str, value: Any, minimum: int, fix: str) -> int:
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral) or value < minimum:
        raise OptionError(f"{name}={value!r} must be a whole number of at least {minimum}; {fix}")
    return int(value)


def _share(name: str, value: Any, *, closed_low: bool, closed_high: bool, meaning: str) -> float:
    out = _number(name, value, meaning)
    low_ok = out >= 0 if closed_low else out > 0
    high_ok = out <= 1 if closed_high else out < 1
    if not (low_ok and high_ok):
        interval = f"{'[' if closed_low else '('}0, 1{']' if closed_high else ')'}"
        raise OptionError(f"{name}={value!r} must lie in {interval}: {meaning}")
    return out


@dataclass(frozen=True)
class _Plan:
    """A checked design: which formula, the sizes after attrition and how the unknown sample size is counted."""

    design: DesignName
    inputs: PlanningInputs
    share: float
    notes: tuple[str, ...]

    def sampling(self, size: float | None = None) -> Sampling:
        """The design's SE and df; ``size`` replaces the solved-for count (units or clusters, before attrition)."""
        i = self.inputs
        keep = 1 - i.attrition
        clustered = self.design in ("cluster", "blocked_cluster", "did")
        n = None
        clusters = None
        if clustered:
            clusters = size if size is not None else i.n_clusters
        else:
            n = size if size is not None else (i.n if i.n is not None else i.n_treated + i.n_control)
            n *= keep
        return _designs.sampling(
            self.design,
            n=n,
            clusters=clusters,
            size=None if i.cluster_size is None else i.cluster_size * keep,
            blocks=i.n_blocks,
            icc=i.icc,
            share=self.share,
            r2_cluster=i.r2_cluster,
            r2_individual=i.r2_individual,
            covariates=i.n_covariates,
            cluster_covariates=i.n_cluster_covariates,
            rho_cluster=i.autocorrelation_cluster,
            rho_individual=i.autocorrelation_individual,
        )


def _plan(quantity: str, kw: dict[str, Any]) -> _Plan:
    method = check_option("method", kw["method"], Method)
    alternative = check_option("alternative", kw["alternative"], Alternative)
    kind = check_option("design", kw["design"], DesignKind)
    alpha = _share("alpha", kw["alpha"], closed_low=False, closed_high=False, meaning="e.g. alpha=0.05.")
    solving_size = quantity == "sample_size"
    notes: list[str] = []

    icc = _share(
        "icc",
        kw["icc"],
        closed_low=True,
        closed_high=False,
        meaning="the share of the outcome variance between clusters (intraclass correlation), e.g. icc=0.07.",
    )
    r2c = _share(
        "r2_cluster",
        kw["r2_cluster"],
        closed_low=True,
        closed_high=False,
        meaning="the share of the between-cluster variance explained by covariates, e.g. 0.3.",
    )
    r2i = _share(
        "r2_individual",
        kw["r2_individual"],
        closed_low=True,
        closed_high=False,
        meaning="the share of the (within-cluster) individual variance explained by covariates, e.g. 0.2.",
    )
    attrition = _share(
        "attrition",
        kw["attrition"],
        closed_low=True,
        closed_high=False,
        meaning="the share of the sample lost before follow-up, e.g. attrition=0.1.",
    )
    take_up = _share(
        "take_up",
        kw["take_up"],
        closed_low=False,
        closed_high=True,
        meaning="the difference in take-up between the treated and control groups (the complier "
        "share); with no take-up the complier effect is not identified. Use e.g. take_up=0.6.",
    )
    phi_c = _share(
        "autocorrelation_cluster",
        kw["autocorrelation_cluster"],
        closed_low=True,
        closed_high=True,
        meaning="the correlation of a cluster's effect between the two periods, e.g. 0.7.",
    )
    phi_i = _share(
        "autocorrelation_individual",
        kw["autocorrelation_individual"],
        closed_low=True,
        closed_high=True,
        meaning="the correlation of an individual's outcome between the two periods (0 for repeated "
        "cross-sections), e.g. 0.5.",
    )
    covariates = _count("n_covariates", kw["n_covariates"], 0, "the number of individual-level covariates.")
    cluster_covariates = _count(
        "n_cluster_covariates", kw["n_cluster_covariates"], 0, "the number of cluster-level covariates."
    )

    def size(name: str) -> float | None:
        value = kw[name]
        return None if value is None else _positive(name, value, f"pass the planned number, e.g. {name}=100.")

    n, n_t, n_c = size("n"), size("n_treated"), size("n_control")
    n_clusters, cluster_size = size("n_clusters"), size("cluster_size")
    n_blocks = None if kw["n_blocks"] is None else _count("n_blocks", kw["n_blocks"], 1, "the number of blocks.")
    share_given = kw["share_treated"]
    share = (
        0.5
        if share_given is None
        else _share(
            "share_treated",
            share_given,
            closed_low=False,
            closed_high=False,
            meaning="the share of units (or clusters) assigned to treatment, e.g. share_treated=0.5.",
        )
    )

    clustered = kind == "did" or n_clusters is not None or cluster_size is not None
    if clustered:
        if n is not None or n_t is not None or n_c is not None:
            raise OptionError(
                "n / n_treated / n_control describe an individual trial; for a cluster design give "
                "n_clusters and cluster_size (and share_treated) instead."
            )
        if cluster_size is None:
            raise OptionError("a cluster design needs cluster_size (the average number of people per cluster).")
        if n_clusters is None and not solving_size:
            raise OptionError("a cluster design needs n_clusters (the number of clusters randomized).")
        if n_clusters is not None and solving_size:
            raise OptionError("sample_size solves for n_clusters; leave n_clusters out (give cluster_size).")
        if kind == "did":
            if n_blocks is not None:
                raise OptionError("design='did' has no blocked version here; drop n_blocks (or use design='trial').")
            if r2c or r2i:
                raise OptionError(
                    "design='did' works with change scores, where the baseline plays the covariates' "
                    "role; set r2_cluster and r2_individual to 0 (use the autocorrelations instead)."
                )
            design: DesignName = "did"
        else:
            design = "cluster" if n_blocks is None else "blocked_cluster"
            if covariates:
                notes.append(
                    "individual-level covariates cost no degrees of freedom in a cluster design (PowerUp!); "
                    "their effect enters through r2_individual."
                )
    else:
        if icc or r2c or cluster_covariates:
            raise OptionError(
                "icc, r2_cluster and n_cluster_covariates describe clusters; give n_clusters and "
                "cluster_size too, or drop them for an individual trial."
            )
        if n_t is not None or n_c is not None:
            if n_t is None or n_c is None:
                raise OptionError("give both n_treated and n_control (or n and share_treated).")
            if n is not None or share_given is not None:
                raise OptionError("give either n_treated and n_control, or n and share_treated, not both.")
            if solving_size:
                raise OptionError("sample_size solves for n; leave n_treated and n_control out (use share_treated).")
            share = n_t / (n_t + n_c)
        elif n is None and not solving_size:
            raise OptionError(
                "give the sample: n_treated and n_control, or n (and share_treated), or n_clusters "
                "and cluster_size for a cluster design."
            )
        elif n is not None and solving_size:
            raise OptionError("sample_size solves for n; leave n out.")
        design = "individual" if n_blocks is None else "blocked"
    if kind == "trial" and (phi_c or phi_i):
        raise OptionError(
            "autocorrelation_cluster / autocorrelation_individual describe a two-period DiD; pass "
            "design='did' (with n_clusters and cluster_size) or drop them."
        )
    if attrition:
        notes.append(
            f"attrition={attrition:g}: {'cluster sizes' if clustered else 'the sample'} shrink by that share, "
            "equally in both arms (attrition unrelated to treatment)."
        )
    if take_up < 1:
        notes.append(
            f"take_up={take_up:g}: effects are complier average causal effects, MDE = ITT MDE / take_up "
            "(Bloom 1984); the extra variance of the IV estimate is ignored."
        )
    notes.append(
        "exact: noncentral-t power (pwr.t2n.test's computation)"
        if method == "exact"
        else "multiplier: MDE = (t_{1-a/2,df} + t_{power,df}) SE, the PowerUp! / Bloom (2005) approximation"
    )

    inputs = PlanningInputs(
        n=n,
        n_treated=n_t,
        n_control=n_c,
        n_clusters=n_clusters,
        cluster_size=cluster_size,
        n_blocks=n_blocks,
        icc=icc,
        share_treated=share,
        r2_cluster=r2c,
        r2_individual=r2i,
        n_covariates=covariates,
        n_cluster_covariates=cluster_covariates,
        attrition=attrition,
        take_up=take_up,
        autocorrelation_cluster=phi_c,
        autocorrelation_individual=phi_i,
        alpha=alpha,
        power=None,
        effect=None,
        mde=None,
        design=kind,
        method=method,
        alternative=alternative,
    )
    return _Plan(design, inputs, share, tuple(notes))


def _check_df(plan: _Plan, s: Sampling) -> None:
    if s.df < 1:
        what = "clusters" if plan.design in ("cluster", "blocked_cluster", "did") else "units"
        raise OptionError(
            f"the {plan.design} design has {s.df:g} degrees of freedom ({s.formula}); add {what} or use fewer "
            "covariates (or blocks)."
        )


def _target_power(value: Any, alpha: float) -> float:
    out = _share(
        "power",
        value,
        closed_low=False,
        closed_high=False,
        meaning="the probability of detecting the effect, e.g. power=0.8.",
    )
    if out <= alpha:
        raise OptionError(
            f"power={value!r} must exceed alpha={alpha:g} (a test rejects with probability alpha "
            "even with no effect); use e.g. power=0.8."
        )
    return out


def _result(
    plan: _Plan,
    quantity: str,
    s: Sampling,
    mde_value: float,
    power_value: float,
    effect: float,
    size: int | None,
    inputs: PlanningInputs,
) -> PlanningResult:
    i = plan.inputs
    return PlanningResult(
        quantity=quantity,
        design=plan.design,
        mde=mde_value,
        power=power_value,
        effect=effect,
        sample_size=size,
        sample_unit="clusters" if plan.design in ("cluster", "blocked_cluster", "did") else "units",
        standard_error=s.standard_error,
        df=s.df,
        method=i.method,
        alternative=i.alternative,
        alpha=i.alpha,
        formula=s.formula,
        inputs=inputs,
        notes=plan.notes,
    )


def _mde_of(plan: _Plan, s: Sampling, target: float) -> float:
    i = plan.inputs
    return solve_ncp(i.alpha, target, s.df, i.alternative, i.method) * s.standard_error / i.take_up


def _power_of(plan: _Plan, s: Sampling, effect: float) -> float:
    i = plan.inputs
    return power_of_test(effect * i.take_up / s.standard_error, i.alpha, s.df, i.alternative, i.method)


_DESIGN_PARAMETERS = """\
    n_treated, n_control : float, optional
        Individual trial: the number of people in each arm (unequal allocation allowed, e.g. 41 and 19).
    n : float, optional
        Individual trial: the total number of people, split by ``share_treated``.
    n_clusters, cluster_size : float, optional
        Cluster trial (or ``design="did"``): the number of clusters randomized and their average size (use the
        harmonic mean when sizes vary).
    n_blocks : int, optional
        Blocked designs: the number of blocks (strata) within which assignment was done. With ``n`` (or the arm
        sizes), a blocked individual trial with block fixed effects (PowerUp! BIRA2_1c); with ``n_clusters``, a
        blocked cluster trial with fixed block effects (BCRA3_2f; ``n_clusters`` counts all clusters).
    icc : float, default 0
        Intraclass correlation: the share of the outcome variance between clusters, in [0, 1).
    share_treated : float, optional
        Share of units (or clusters) assigned to treatment, in (0, 1); default 0.5, or n_treated / n.
    r2_cluster, r2_individual : float, default 0
        Share of the between-cluster and of the individual (within-cluster) variance explained by covariates.
    n_covariates, n_cluster_covariates : int, default 0
        Number of individual-level and cluster-level covariates; each costs one degree of freedom (individual-level
        covariates in individual and blocked trials, cluster-level covariates in cluster designs, as in PowerUp!).
    attrition : float, default 0
        Share of the sample lost (of the people; clusters are kept), the same in both arms.
    take_up : float, default 1
        Difference in take-up between the arms (the complier share). Below 1, effects refer to the complier
        average causal effect: its MDE is the intention-to-treat MDE divided by ``take_up`` (Bloom, 1984).
    design : {"trial", "did"}, default "trial"
        ``"did"``: a two-period difference in differences with clusters (needs ``n_clusters``, ``cluster_size``).
    autocorrelation_cluster, autocorrelation_individual : float, default 0
        DiD only: correlation between the two periods of the cluster effect and of the individual component
        (0 for repeated cross-sections of different people).
    alpha : float, default 0.05
        Significance level of the test.
    alternative : {"two-sided", "one-sided"}, default "two-sided"
    method : {"exact", "multiplier"}, default "exact"
        ``"exact"``: noncentral-t power with the design's df (the computation of R's ``pwr.t2n.test``; exact under
        normality for the individual trial and for cluster-mean t tests without covariates). ``"multiplier"``:
        ``MDE = (t_{1-a/2,df} + t_{power,df}) SE`` as in Bloom (2005), Optimal Design and PowerUp!, whose
        published tables it reproduces; power is its central-t inverse."""

_NOTES = r"""
    Notes
    -----
    With outcome variance 1, ICC :math:`\rho`, share treated :math:`P`, :math:`J` clusters of :math:`n` people
    (after attrition) and :math:`N` people in individual trials, the standard error of the intention-to-treat
    estimate is (Dong & Maynard, 2013; Bloom, 2005)

    - individual (IRA): :math:`\sqrt{(1-R^2_1)/(P(1-P)N)}`, df :math:`N-g-2`;
    - blocked (BIRA2_1c, block fixed effects): the same, df :math:`N-B-g-1`;
    - cluster (CRA2_2r): :math:`\sqrt{\rho(1-R^2_2)/(P(1-P)J) + (1-\rho)(1-R^2_1)/(P(1-P)Jn)}`, df :math:`J-g-2`;
    - blocked cluster (BCRA3_2f, fixed blocks): the same with :math:`J` all clusters, df :math:`J-2B-g`
      (PowerUp!'s :math:`K(J_k-2)-g`);
    - two-period DiD with clusters: with :math:`y_{ijt} = \mu_t + \delta D_j \text{post}_t + c_{jt} + e_{ijt}`,
      :math:`\operatorname{Var} c_{jt} = \rho`, :math:`\operatorname{Var} e_{ijt} = 1-\rho`,
      :math:`\operatorname{corr}(c_{j0}, c_{j1}) = \phi_c` and :math:`\operatorname{corr}(e_{ij0}, e_{ij1}) = \phi_i`,
      the DiD estimate is the treated-minus-control difference of cluster-mean changes, whose variance is
      :math:`2[\rho(1-\phi_c) + (1-\rho)(1-\phi_i)/n] / (P(1-P)J)` with df :math:`J-g-2`. This is the two-period
      (:math:`m=r=1`) case of McKenzie (2012) and Burlig, Preonas & Woerman (2020), with the serial
      correlation split by level; :math:`\phi_i = 0` gives repeated cross-sections.

    ``method="exact"`` finds the effect at which the noncentral-t power equals the target; ``"multiplier"`` uses
    :math:`M = t_{1-\alpha/2,df} + t_{1-\beta,df}`. With ICC 0.1 and 20 people per cluster the two MDEs differ by
    1.2% at 6 clusters, 0.2% at 10 and 0.01% at 20.

    References
    ----------
    Bloom, H. S. (1984). Accounting for no-shows in experimental evaluation designs. *Evaluation Review*, 8, 225-246.
    Bloom, H. S. (2005). Randomizing groups to evaluate place-based programs. In H. S. Bloom (ed.), *Learning More
    from Social Experiments*. Russell Sage.
    Dong, N., & Maynard, R. (2013). PowerUp!. *Journal of Research on Educational Effectiveness*, 6(1), 24-67.
    McKenzie, D. (2012). Beyond baseline and follow-up. *Journal of Development Economics*, 99(2), 210-221.
    Burlig, F., Preonas, L., & Woerman, M. (2020). Panel data and experimental design. *Journal of Development
    Economics*, 144, 102458.
"""


@known_keywords
def mde(
    *,
    n_treated: float | None = None,
    n_control: float | None = None,
    n: float | None = None,
    n_clusters: float | None = None,
    cluster_size: float | None = None,
    n_blocks: int | None = None,
    icc: float = 0.0,
    share_treated: float | None = None,
    r2_cluster: float = 0.0,
    r2_individual: float = 0.0,
    n_covariates: int = 0,
    n_cluster_covariates: int = 0,
    attrition: float = 0.0,
    take_up: float = 1.0,
    design: DesignKind = "trial",
    autocorrelation_cluster: float = 0.0,
    autocorrelation_individual: float = 0.0,
    alpha: float = 0.05,
    power: float = 0.8,
    alternative: Alternative = "two-sided",
    method: Method = "exact",
) -> PlanningResult:
    """Minimum detectable effect (outcome SD units) of a planned design at the given power.

    Parameters
    ----------
    {parameters}
    power : float, default 0.8
        Target power, in (alpha, 1).

    Returns
    -------
    PlanningResult
        ``.mde`` is the answer; ``.to_frame()``, ``.plot()`` (power curve) and ``.inputs`` carry the rest.
    {notes}
    Examples
    --------
    >>> import evalkit as ek
    >>> round(ek.planning.mde(n_treated=41, n_control=19).mde, 4)  # R: pwr.t2n.test(41, 19, power = .8)
    0.7907
    """
    kw = dict(locals())
    plan = _plan("mde", kw)
    target = _target_power(power, plan.inputs.alpha)
    s = plan.sampling()
    _check_df(plan, s)
    value = _mde_of(plan, s, target)
    return _result(plan, "mde", s, value, target, value, None, replace(plan.inputs, power=target))


@known_keywords
def power(
    effect: float,
    *,
    n_treated: float | None = None,
    n_control: float | None = None,
    n: float | None = None,
    n_clusters: float | None = None,
    cluster_size: float | None = None,
    n_blocks: int | None = None,
    icc: float = 0.0,
    share_treated: float | None = None,
    r2_cluster: float = 0.0,
    r2_individual: float = 0.0,
    n_covariates: int = 0,
    n_cluster_covariates: int = 0,
    attrition: float = 0.0,
    take_up: float = 1.0,
    design: DesignKind = "trial",
    autocorrelation_cluster: float = 0.0,
    autocorrelation_individual: float = 0.0,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    method: Method = "exact",
) -> PlanningResult:
    """Power of a planned design against a true effect of ``effect`` outcome SDs.

    Parameters
    ----------
    effect : float
        The true effect (a magnitude, at least 0), in outcome SD units; of compliers when ``take_up < 1``.
    {parameters}

    Returns
    -------
    PlanningResult
        ``.power`` is the answer; ``.mde`` is the MDE at power 0.8 for reference.
    {notes}
    Examples
    --------
    >>> import evalkit as ek
    >>> res = ek.planning.power(0.10, n_clusters=180, cluster_size=28, icc=0.07)
    """
    kw = dict(locals())
    plan = _plan("power", kw)
    effect_value = _number("effect", effect, "pass the effect in outcome SD units, e.g. effect=0.2.")
    if effect_value < 0:
        raise OptionError(f"effect={effect!r} must be a magnitude (at least 0); pass abs(effect).")
    s = plan.sampling()
    _check_df(plan, s)
    reference = max(0.8, plan.inputs.alpha + 1e-6)
    return _result(
        plan,
        "power",
        s,
        _mde_of(plan, s, reference),
        _power_of(plan, s, effect_value),
        effect_value,
        None,
        replace(plan.inputs, effect=effect_value),
    )


@known_keywords
def sample_size(
    mde: float,
    *,
    cluster_size: float | None = None,
    n_blocks: int | None = None,
    icc: float = 0.0,
    share_treated: float | None = None,
    r2_cluster: float = 0.0,
    r2_individual: float = 0.0,
    n_covariates: int = 0,
    n_cluster_covariates: int = 0,
    attrition: float = 0.0,
    take_up: float = 1.0,
    design: DesignKind = "trial",
    autocorrelation_cluster: float = 0.0,
    autocorrelation_individual: float = 0.0,
    alpha: float = 0.05,
    power: float = 0.8,
    alternative: Alternative = "two-sided",
    method: Method = "exact",
) -> PlanningResult:
    """Smallest sample that detects an effect of ``mde`` outcome SDs with the given power.

    Counts clusters when ``cluster_size`` is given (or ``design="did"``), people otherwise. With ``n_blocks`` the
    search runs over whole units (or clusters) per block and returns the total, a multiple of ``n_blocks``
    (PowerUp!'s MRSS for BIRA2_1c / BCRA3_2f fixes the number of blocks the same way). The count is before
    attrition.

    Parameters
    ----------
    mde : float
        The effect to detect (> 0), in outcome SD units; of compliers when ``take_up < 1``.
    {parameters}
    power : float, default 0.8
        Target power, in (alpha, 1).

    Returns
    -------
    PlanningResult
        ``.sample_size`` (in ``.sample_unit``) is the answer; ``.power`` is the power reached there and ``.mde``
        the design's MDE at that size.
    {notes}
    Examples
    --------
    >>> import evalkit as ek
    >>> ek.planning.sample_size(mde=0.25, cluster_size=28, icc=0.07).sample_size
    54
    """
    kw = dict(locals(), n=None, n_treated=None, n_control=None, n_clusters=None)
    target_effect = _positive("mde", mde, "pass the effect to detect in outcome SD units, e.g. mde=0.2.")
    plan = _plan("sample_size", kw)
    target = _target_power(power, plan.inputs.alpha)
    per = plan.inputs.n_blocks or 1
    clustered = plan.design in ("cluster", "blocked_cluster", "did")
    keep = 1.0 if clustered else 1 - plan.inputs.attrition
    share = plan.share

    def feasible(k: int) -> Sampling | None:
        """The design at ``k`` units/clusters per block, or None when an arm is empty or df < 1."""
        per_block = k * keep
        if per_block * share < 1 or per_block * (1 - share) < 1:
            return None
        s = plan.sampling(float(k * per))
        return s if s.df >= 1 else None

    def reaches(k: int) -> bool:
        s = feasible(k)
        return s is not None and _power_of(plan, s, target_effect) >= target

    lo = 1
    while feasible(lo) is None:
        lo += 1
        if lo > 10**6:  # pragma: no cover - every design becomes feasible long before
            raise OptionError("no feasible sample size; check share_treated and the number of covariates.")
    hi = lo
    while not reaches(hi):
        lo, hi = hi + 1, hi * 2
        if hi > 10**9:
            raise OptionError(
                f"mde={mde!r} needs more than 10^9 units; with icc > 0 more clusters of the same size "
                "cannot push the MDE below the cluster-level floor. Raise cluster_size or the mde."
            )
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if reaches(mid) else (mid + 1, hi)
    total = hi * per
    s = plan.sampling(float(total))
    sized = replace(plan.inputs, mde=target_effect, power=target)
    sized = replace(sized, n_clusters=float(total)) if clustered else replace(sized, n=float(total))
    return _result(
        plan,
        "sample_size",
        s,
        _mde_of(plan, s, target),
        _power_of(plan, s, target_effect),
        target_effect,
        total,
        sized,
    )


for _f in (mde, power, sample_size):
    _f.__doc__ = _f.__doc__.replace("    {parameters}", _DESIGN_PARAMETERS).replace(
        "    {notes}", "\n" + _NOTES.strip("\n") + "\n"
    )
del _f
