"""Inference from influence functions: analytic and multiplier-bootstrap standard errors, the Wald pre-test.

Callaway and Sant'Anna's estimators (:mod:`evalkit.estimators.callaway_santanna`) hand down each estimate's
influence function (units x estimates); this module turns them into standard errors, a simultaneous band and the
pre-test of parallel trends, as the R package ``did`` does. The methods follow one protocol,
:class:`InfluenceInference` (:class:`AnalyticInfluence`, short name ``"analytic"``, and :class:`MultiplierBootstrap`),
and :func:`resolve_influence_inference` turns a design's ``inference=`` into one of them. A standard error or
pre-test covariance that is zero up to rounding follows the one rule of
:func:`evalkit.inference.analytic.degenerate_se`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy import stats

from evalkit._boundary import KnownKeywords
from evalkit._seeds import seed_to_use
from evalkit._threads import single_threaded_blas
from evalkit._validation import check_int, check_option
from evalkit.errors import InferenceError
from evalkit.estimators.callaway_santanna import GroupTimeFit
from evalkit.inference.analytic import degenerate_se

__all__ = [
    "AnalyticInfluence",
    "BootstrapOutcome",
    "InfluenceInference",
    "MultiplierBootstrap",
    "PreTest",
    "analytic_se",
    "multiplier_bootstrap",
    "pretest",
    "resolve_influence_inference",
    "wald_from_influence",
]

BootWeights = Literal["mammen", "rademacher"]


class InfluenceInference(KnownKeywords, ABC):
    """The protocol of inference from influence functions: settings only, and the standard errors they give.

    An estimator that hands down each estimate's influence function (units x estimates, e.g. Callaway and
    Sant'Anna's ATT(g,t) and their aggregations) is asked for standard errors through this protocol alone, so a
    design never branches on which method it holds. Subclasses are frozen dataclasses holding settings; they
    implement :attr:`name` and :meth:`standard_errors`, and override :attr:`simultaneous` and :meth:`generator`
    when they draw (a bootstrap).
    """

    @property
    @abstractmethod
    def name(self) -> str:
        """The label shown in results' ``inference`` column (before the clustering is named)."""

    @property
    def simultaneous(self) -> bool:
        """Whether :meth:`standard_errors` returns a simultaneous-band (sup-t) critical value, not NaN."""
        return False

    def generator(self) -> np.random.Generator | None:
        """The random stream of one ``estimate()`` call, shared by its blocks of estimates; None if no draws."""
        return None

    @abstractmethod
    def standard_errors(
        self,
        influence: np.ndarray,
        clusters: np.ndarray | None,
        alpha: float,
        rng: np.random.Generator | None,
    ) -> tuple[np.ndarray, float]:
        """Standard errors of the estimates whose influence functions are the columns of ``influence``.

        Parameters
        ----------
        influence : ndarray of shape (n_units, n_estimates)
            Influence functions, finite.
        clusters : ndarray of shape (n_units,) or None
            Integer codes ``0..G-1`` of each unit's cluster; None: each unit its own cluster.
        alpha : float
            One minus the confidence level of the simultaneous band.
        rng : numpy.random.Generator or None
            The stream from :meth:`generator` (None for methods that do not draw).

        Returns
        -------
        std_errors : ndarray of shape (n_estimates,)
            As estimated, never censored by a threshold of the method's own: the design hands over only columns
            whose standard error is not zero up to rounding (the one rule of
            :func:`~evalkit.inference.analytic.degenerate_se`, against the outcome's scale) and its
            :func:`~evalkit.inference.analytic.t_tests` turns any degenerate one into NaN.
        critical_value : float
            The sup-t critical value of a simultaneous :math:`1-\\alpha` band over these estimates; NaN when the
            method gives none (:attr:`simultaneous` is False).
        """


@dataclass(frozen=True)
class AnalyticInfluence(InfluenceInference):
    """Analytic standard errors from influence functions (``did``'s ``bstrap=FALSE``); short name ``"analytic"``.

    Notes
    -----
    :math:`\\widehat{se}_j = \\sqrt{\\sum_c (\\sum_{i \\in c}\\psi_{ij})^2}/n`, the clusters :math:`c` being the
    units unless the design declares coarser ones; no small-sample factor, normal critical values, no simultaneous
    band (see :func:`analytic_se`). Callaway and Sant'Anna (2021), J. Econometrics 225(2):200-230, Sec. 4.

    Examples
    --------
    >>> AnalyticInfluence().name
    'influence function (normal)'
    """

    @property
    def name(self) -> str:
        """``"influence function (normal)"``."""
        return "influence function (normal)"

    def standard_errors(
        self,
        influence: np.ndarray,
        clusters: np.ndarray | None,
        alpha: float,
        rng: np.random.Generator | None,
    ) -> tuple[np.ndarray, float]:
        """:func:`analytic_se` of the columns of ``influence``, and no critical value (NaN)."""
        return analytic_se(influence, clusters), np.nan


def resolve_influence_inference(
    inference: object, default: Callable[[], tuple[InfluenceInference, str]]
) -> tuple[InfluenceInference, str | None]:
    """Turn the ``inference=`` argument of an influence-function estimator into an :class:`InfluenceInference`.

    Parameters
    ----------
    inference : None, "analytic" or InfluenceInference
        ``None`` takes the design's default; ``"analytic"`` is short for :class:`AnalyticInfluence`; an
        influence-function method (:class:`AnalyticInfluence`, :class:`MultiplierBootstrap`) is used as it is.
    default : callable
        The design's default, stated once where the design is: returns the method and the note that says why.

    Returns
    -------
    method : InfluenceInference
    note : str or None
        The default's note, or None when the user chose.

    Raises
    ------
    InferenceError
        For anything else, naming the accepted values.
    """
    if inference is None:
        return default()
    if isinstance(inference, InfluenceInference):
        return inference, None
    if isinstance(inference, str) and inference == "analytic":
        return AnalyticInfluence(), None
    raise InferenceError(
        f"inference={inference!r} is not understood for influence-function estimates; use 'analytic' (or "
        "ek.inference.AnalyticInfluence()) or ek.inference.MultiplierBootstrap(reps=999, weights='mammen', seed=1)."
    )


@dataclass(frozen=True)
class MultiplierBootstrap(InfluenceInference):
    """Settings for the multiplier bootstrap of influence functions (``did``'s ``bstrap=TRUE``).

    Parameters
    ----------
    reps : int
        Number of bootstrap draws (``did``'s ``biters``; default 999).
    weights : {"mammen", "rademacher"}
        Distribution of the multipliers: Mammen's two-point weights (``did``'s default) or Rademacher (+1/-1).
    seed : int, numpy.random.SeedSequence or numpy.random.Generator, optional
        Source of randomness; the same seed gives bit-identical output. ``None`` draws fresh entropy once, when the
        object is created; that integer (:attr:`seed_used`) is recorded in ``Results.provenance["seed"]`` and
        repeats the run when passed back as ``seed=``.
    batch_size : int
        Draws per batch; each batch is one (batch x clusters) @ (clusters x estimates) product.

    Notes
    -----
    Draw :math:`b` perturbs the cluster sums of the influence functions with i.i.d. multipliers :math:`V_{cb}`
    (mean 0, variance 1): :math:`\\hat\\theta^*_b - \\hat\\theta = \\frac1n\\sum_c V_{cb}\\,\\psi_c`. The standard
    error is the bootstrap interquartile range divided by :math:`z_{.75} - z_{.25}` and the simultaneous band uses
    the :math:`1-\\alpha` quantile of :math:`\\max_j |\\hat\\theta^*_{bj} - \\hat\\theta_j| / \\widehat{se}_j` (sup-t),
    as Callaway and Sant'Anna (2021, Sec. 4) and ``did::mboot``. Mammen (1993), Ann. Statist. 21(1):255-285.
    """

    reps: int = 999
    weights: BootWeights = "mammen"
    seed: int | np.random.SeedSequence | np.random.Generator | None = None
    batch_size: int = 256
    _seed_used: int | np.random.SeedSequence | np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        check_int("reps", self.reps, minimum=2)
        check_option("weights", self.weights, BootWeights)
        if self.seed is not None and not isinstance(self.seed, np.random.Generator | np.random.SeedSequence):
            check_int("seed", self.seed, minimum=0)
        check_int("batch_size", self.batch_size, minimum=1)
        object.__setattr__(self, "_seed_used", seed_to_use(self.seed))

    @property
    def seed_used(self) -> int | None:
        """The int seed of the draws (``seed``, or the entropy drawn at creation); None for a Generator seed."""
        return None if isinstance(self._seed_used, np.random.Generator) else self._seed_used

    @property
    def name(self) -> str:
        """E.g. ``"multiplier bootstrap (mammen, 999 draws, normal)"``."""
        return f"multiplier bootstrap ({self.weights}, {self.reps} draws, normal)"

    @property
    def simultaneous(self) -> bool:
        """True: the bootstrap gives the sup-t critical value of a simultaneous band."""
        return True

    def generator(self) -> np.random.Generator:
        """A generator on the seed used (the ``Generator`` itself when one was given)."""
        return np.random.default_rng(self._seed_used)

    def standard_errors(
        self,
        influence: np.ndarray,
        clusters: np.ndarray | None,
        alpha: float,
        rng: np.random.Generator | None,
    ) -> tuple[np.ndarray, float]:
        """Bootstrap standard errors and the sup-t critical value (:func:`multiplier_bootstrap`)."""
        boot = multiplier_bootstrap(influence, self, alpha=alpha, clusters=clusters, rng=rng)
        return boot.std_errors, boot.critical_value


# --------------------------------------------------------------------------------------------- 2x2 building block


def _cluster_sums(influence: np.ndarray, clusters: np.ndarray | None) -> np.ndarray:
    if clusters is None:
        return influence
    n_c = int(clusters.max()) + 1
    out = np.zeros((n_c, influence.shape[1]))
    np.add.at(out, clusters, influence)
    return out


def analytic_se(influence: np.ndarray, clusters: np.ndarray | None = None) -> np.ndarray:
    """Standard errors from influence functions: :math:`\\sqrt{\\sum_c (\\sum_{i \\in c}\\psi_i)^2}/n`.

    ``clusters`` holds integer codes ``0..G-1`` of each unit's cluster (None: each unit its own cluster, the
    ``did`` default). No small-sample factor is applied, as ``did`` and ``csdid``.
    """
    n = influence.shape[0]
    sums = _cluster_sums(influence, clusters)
    return np.sqrt(np.einsum("ij,ij->j", sums, sums)) / n


def analytic_vcov(influence: np.ndarray, clusters: np.ndarray | None = None) -> np.ndarray:
    """Joint covariance of estimates from their influence functions: :math:`S'S/n^2`, ``S`` the cluster sums.

    The off-diagonal companion of :func:`analytic_se` (its diagonal is ``analytic_se(...)**2``).
    """
    n = influence.shape[0]
    sums = _cluster_sums(influence, clusters)
    with single_threaded_blas():  # a thin product: one thread is as fast, and does not wait for a busy core
        return sums.T @ sums / n**2


@dataclass(frozen=True)
class BootstrapOutcome:
    """Bootstrap standard errors and the simultaneous-band critical value."""

    std_errors: np.ndarray
    critical_value: float
    reps: int


def multiplier_bootstrap(
    influence: np.ndarray,
    settings: MultiplierBootstrap,
    *,
    alpha: float = 0.05,
    clusters: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
    estimates: np.ndarray | None = None,
    scale: float = 0.0,
) -> BootstrapOutcome:
    """Multiplier bootstrap of influence functions (see :class:`MultiplierBootstrap` for the formulas).

    Units (or clusters, when ``clusters`` codes are given) receive i.i.d. multipliers; draws are processed in
    batches of ``settings.batch_size``, one matrix product per batch. ``rng`` (default: a generator from
    ``settings.seed``) lets a caller draw several bootstraps from one stream.

    The standard errors are returned as estimated (the caller's :func:`~evalkit.inference.analytic.t_tests`
    sets degenerate ones to NaN). The sup-t critical value is taken over the columns whose standard error is
    finite, positive and not zero up to rounding relative to ``estimates`` and ``scale`` (the one rule,
    :func:`~evalkit.inference.analytic.degenerate_se`; without ``estimates`` only exact zeros are left out), so
    it does not depend on the units the outcome is measured in; NaN when no column is left.
    """
    n = influence.shape[0]
    sums = _cluster_sums(influence, clusters)
    if clusters is not None:  # did: cluster means of the IF, scaled by sqrt(G)
        sizes = np.bincount(clusters).astype(np.float64)
        sums = sums / sizes[:, None]
        factor = 1.0 / np.sqrt(sums.shape[0])
    else:
        factor = 1.0 / np.sqrt(n)
    rng = settings.generator() if rng is None else rng
    G = sums.shape[0]
    draws = np.empty((settings.reps, influence.shape[1]))
    if settings.weights == "mammen":
        root5 = np.sqrt(5.0)
        lo, hi = (1 - root5) / 2, (1 + root5) / 2
        p_lo = (root5 + 1) / (2 * root5)
    for start in range(0, settings.reps, settings.batch_size):
        b = min(settings.batch_size, settings.reps - start)
        u = rng.random((b, G))
        V = np.where(u < p_lo, lo, hi) if settings.weights == "mammen" else np.where(u < 0.5, -1.0, 1.0)
        draws[start : start + b] = (V @ sums) * factor  # sqrt(n) (theta* - theta)
    q75, q25 = np.quantile(draws, [0.75, 0.25], axis=0)
    sigma = (q75 - q25) / (stats.norm.ppf(0.75) - stats.norm.ppf(0.25))
    denom = np.sqrt(G) if clusters is not None else np.sqrt(n)
    se = sigma / denom
    reference = np.zeros(se.shape) if estimates is None else np.asarray(estimates, dtype=np.float64)
    usable = np.isfinite(se) & (se > 0) & ~degenerate_se(se, reference, scale)
    if usable.any():
        sup_t = np.max(np.abs(draws[:, usable]) / sigma[usable], axis=1)
        crit = float(np.quantile(sup_t, 1 - alpha))
    else:
        crit = np.nan
    return BootstrapOutcome(std_errors=se, critical_value=crit, reps=settings.reps)


@dataclass(frozen=True)
class PreTest:
    """Wald pre-test that every pre-treatment ATT(g,t) is zero."""

    statistic: float
    df: int
    p_value: float


def pretest(fit: GroupTimeFit, clusters: np.ndarray | None = None, *, scale: float | None = None) -> PreTest:
    """Wald test of :math:`H_0: ATT(g,t) = 0` for all pre-treatment cells (``did``'s summary pre-test).

    Notes
    -----
    :math:`W = n\\,\\hat\\theta_{pre}'\\hat V_{pre}^{-1}\\hat\\theta_{pre}`, :math:`\\hat V = \\frac1n\\Psi'\\Psi`
    from the (cluster-summed) influence functions, compared with :math:`\\chi^2_q`, q the number of pre-treatment
    cells (Callaway and Sant'Anna 2021, Sec. 4.1). Returns NaN when there are no pre-treatment cells, when one of
    them is NaN (it is not skipped), when one of their standard errors is zero up to rounding
    (:func:`~evalkit.inference.analytic.degenerate_se`: one cluster) or when their covariance is singular.

    ``scale`` is the scale of the data the ATT(g,t) are measured in, against which a standard error is judged
    zero up to rounding: pass the outcome's standard deviation, as the results table does (``StaggeredDiD``
    passes ``np.nanstd`` of the outcome panel), so that the pre-test and the table's tests follow the same rule.
    Without it the standard deviation of the ATT(g,t) is used, which is (close to) zero when every effect is.
    """
    keep = fit.pre & fit.identified
    q = int(keep.sum())
    if q == 0:
        return PreTest(np.nan, 0, np.nan)
    if not (np.all(np.isfinite(fit.att[keep])) and np.all(np.isfinite(fit.influence[:, keep]))):
        return PreTest(np.nan, q, np.nan)
    n = fit.n_units
    sums = _cluster_sums(fit.influence[:, keep], clusters)
    with single_threaded_blas():
        V = sums.T @ sums / n
    if np.linalg.cond(V) > 1 / np.finfo(float).eps:
        return PreTest(np.nan, q, np.nan)
    theta = fit.att[keep]
    if scale is None:
        scale = float(np.nanstd(fit.att)) if fit.att.size > 1 else 0.0
    if degenerate_se(np.sqrt(np.diag(V) / n), theta, scale).any():
        return PreTest(np.nan, q, np.nan)
    W = float(n * theta @ np.linalg.solve(V, theta))
    return PreTest(W, q, float(stats.chi2.sf(W, q)))


def wald_from_influence(theta: np.ndarray, influence: np.ndarray, clusters: np.ndarray | None = None) -> PreTest:
    """Wald test that every estimate in ``theta`` is zero, from their influence functions (units x estimates).

    Notes
    -----
    :math:`W = \\hat\\theta'\\hat V^{-1}\\hat\\theta` with :math:`\\hat V = \\Psi_c'\\Psi_c/n^2`, :math:`\\Psi_c`
    the cluster sums of the influence functions (the covariance whose diagonal is :func:`analytic_se` squared),
    compared with :math:`\\chi^2_q`. NaN when an estimate or influence value is not finite or :math:`\\hat V` is
    singular (e.g. one cluster). The same statistic as :func:`pretest`, for estimates that are not ATT(g,t).
    """
    theta = np.asarray(theta, dtype=np.float64)
    q = int(theta.size)
    if q == 0 or not (np.all(np.isfinite(theta)) and np.all(np.isfinite(influence))):
        return PreTest(np.nan, q, np.nan)
    n = influence.shape[0]
    sums = _cluster_sums(influence, clusters)
    with single_threaded_blas():
        V = sums.T @ sums / n**2
    if np.linalg.cond(V) > 1 / np.finfo(float).eps:
        return PreTest(np.nan, q, np.nan)
    W = float(theta @ np.linalg.solve(V, theta))
    return PreTest(W, q, float(stats.chi2.sf(W, q)))
