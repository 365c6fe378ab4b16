"""Wild cluster bootstrap (restricted, WCR) t tests and confidence intervals by test inversion.

``design.estimate(..., inference=WildClusterBootstrap(reps=9_999, weights="webb", seed=1))`` tests the coefficient
of interest with the wild cluster bootstrap of Cameron, Gelbach and Miller (2008), computed with the "fast and
wild" algebra of Roodman, Nielsen, MacKinnon and Webb (2019): every quantity a bootstrap draw needs is reduced to
cluster-level sums once, so a draw costs :math:`O(G^2)` (or :math:`O(Gk)`) operations instead of a refit on
:math:`n` rows, and all draws of a batch are one matrix product.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy import stats

from evalkit._linear_algebra import bread, condition_design, factorize_clusters, group_sum
from evalkit._seeds import seed_to_use
from evalkit._validation import check_bool, check_int, check_option
from evalkit.errors import InferenceError, OptionError
from evalkit.estimators import LinearFit
from evalkit.inference._base import InferenceContext, InferenceMethod, InferenceOutcome
from evalkit.inference._budget import TimeBudget, check_memory
from evalkit.inference._progress import check_progress, progress_bar, show_progress
from evalkit.inference._pvalue import at_least_as_extreme
from evalkit.inference.analytic import degenerate_note, degenerate_se
from evalkit.inference.sandwich import NO_CORRECTION, SmallSampleCorrection, small_sample_factor

__all__ = [
    "Alternative",
    "BootstrapType",
    "FullEnumeration",
    "WeightsType",
    "WildClusterBootstrap",
    "bootstrap_weights",
]

WeightsType = Literal["rademacher", "webb", "mammen", "norm"]
Alternative = Literal["two-sided", "greater", "less"]
BootstrapType = Literal["11", "31"]
FullEnumeration = Literal["auto", "always", "never"]

#: Largest number of clusters for which ``full_enumeration="always"`` enumerates the 2^G sign vectors.
_MAX_ENUMERATION_CLUSTERS = 20
#: Fewer clusters than this (or fewer treated / control clusters than ``_FEW_ARM_CLUSTERS``) adds a note.
_FEW_CLUSTERS = 12
_FEW_ARM_CLUSTERS = 5
#: Default memory budget of one batch (floats in each B x G work array).
_BATCH_FLOATS = 1 << 21
#: Rademacher and Webb weights are drawn as int8 codes in chunks of about this many cells (16 MiB), a whole number
#: of rows fixed by G alone (never by ``batch_size``), so the draws do not depend on the batch size.
_DRAW_CELLS = 1 << 24
#: ``extra["weights"]`` keeps the B x G weight matrix only up to this many cells (16 MiB of floats); larger runs
#: store None there (:func:`bootstrap_weights` regenerates the matrix from the recorded seed).
_KEEP_WEIGHTS_CELLS = 1 << 21
# Memory estimate of the up-front check: bytes kept per draw (five moments, the bootstrap t and the temporaries of
# the p-value and interval search) and bytes per cell of a batch's B x G work arrays (weights, Z0, Z1, products).
_BYTES_PER_DRAW = 96
_BYTES_PER_CELL = 48
_PROGRESS_MIN_WORK = 1e8  # samples x clusters above which an interactive run shows a progress bar (~3 s)

_WEBB_VALUES = np.sqrt(np.array([1.5, 1.0, 0.5, 0.5, 1.0, 1.5])) * np.array([-1, -1, -1, 1, 1, 1])
_SQRT5 = np.sqrt(5.0)
_MAMMEN_LOW = -(_SQRT5 - 1) / 2
_MAMMEN_HIGH = (_SQRT5 + 1) / 2
_MAMMEN_P_LOW = (_SQRT5 + 1) / (2 * _SQRT5)


# ----------------------------------------------------------------------------------------------------------
# weights
# ----------------------------------------------------------------------------------------------------------


def bootstrap_weights(kind: WeightsType, n_clusters: int, reps: int, rng: np.random.Generator) -> np.ndarray:
    """Draw a ``(reps, n_clusters)`` matrix of wild bootstrap weights, one row per bootstrap sample.

    Parameters
    ----------
    kind : {"rademacher", "webb", "mammen", "norm"}
        Distribution of the weights (mean 0, variance 1).
    n_clusters : int
        Number of clusters G (columns).
    reps : int
        Number of bootstrap samples B (rows).
    rng : numpy.random.Generator
        Source of randomness. The matrix is the concatenation of the batches :class:`WildClusterBootstrap` draws
        (same chunk schedule, which depends on G only, never on a batch size), so
        ``bootstrap_weights(kind, G, reps, np.random.default_rng(seed))`` regenerates the weights of a run with
        that ``seed``.

    Returns
    -------
    ndarray of shape (reps, n_clusters), float64

    Notes
    -----
    - Rademacher: :math:`\\pm 1` with probability 1/2 each.
    - Webb (2023) six-point: :math:`\\pm\\sqrt{1/2}, \\pm 1, \\pm\\sqrt{3/2}`, probability 1/6 each; it has
      :math:`6^G` distinct sign patterns instead of :math:`2^G`, which matters when G is small.
    - Mammen (1993): :math:`-(\\sqrt5-1)/2` with probability :math:`(\\sqrt5+1)/(2\\sqrt5)`, else
      :math:`(\\sqrt5+1)/2`.
    - norm: standard normal.

    Random stream: Mammen and normal weights are drawn batch by batch (``Generator.random`` and
    ``Generator.standard_normal`` give the same numbers in any row chunks); Rademacher and Webb weights are drawn
    as int8 codes in chunks of :math:`\\lfloor 2^{24}/G \\rfloor` rows rounded down to a multiple of 4 (at least
    4). Rademacher codes in chunks of a multiple of 4 cells are the numbers of one single draw; Webb codes (bounded
    integers with rejection) are not, so Webb weights equal those of a single ``(reps, G)`` draw (the draw of
    evalkit 0.1.0) only when ``reps`` is at most one chunk of rows. For every kind the weights depend on the seed,
    G and ``reps`` only, never on ``batch_size``.

    References
    ----------
    Webb, M. D. (2023). Reworking wild bootstrap-based inference for clustered errors. Canadian Journal of
    Economics 56(3), 839-858.

    Mammen, E. (1993). Bootstrap and wild bootstrap for high dimensional linear models. Annals of Statistics
    21(1), 255-285.
    """
    check_option("weights", kind, WeightsType)
    reps, n_clusters = int(reps), int(n_clusters)
    batch = max(1, _BATCH_FLOATS // max(n_clusters, 1))
    out = np.empty((reps, n_clusters))
    done = 0
    for v in _weight_batches(kind, n_clusters, reps, rng, batch):
        out[done : done + v.shape[0]] = v
        done += v.shape[0]
    return out


def _draw_rows(n_clusters: int) -> int:
    """Rows per int8 draw of Rademacher / Webb codes: a multiple of 4 near ``_DRAW_CELLS / G`` (G alone)."""
    return max(4, (_DRAW_CELLS // max(n_clusters, 1)) // 4 * 4)


def _weight_batches(
    kind: WeightsType, n_clusters: int, reps: int, rng: np.random.Generator, batch: int
) -> Iterator[np.ndarray]:
    """The rows of :func:`bootstrap_weights`, ``batch`` at a time (the last may be shorter); same numbers."""
    if kind in ("mammen", "norm"):
        for start in range(0, reps, batch):
            shape = (min(batch, reps - start), n_clusters)
            if kind == "mammen":
                yield np.where(rng.random(shape) < _MAMMEN_P_LOW, _MAMMEN_LOW, _MAMMEN_HIGH)
            else:
                yield rng.standard_normal(shape)
        return
    chunk = _draw_rows(n_clusters)
    for start in range(0, reps, chunk):
        shape = (min(chunk, reps - start), n_clusters)
        codes = rng.integers(0, 2 if kind == "rademacher" else 6, size=shape, dtype=np.int8)
        for at in range(0, codes.shape[0], batch):
            part = codes[at : at + batch]
            yield 2.0 * part.astype(np.float64) - 1.0 if kind == "rademacher" else _WEBB_VALUES[part]


def _sign_vector_rows(n_clusters: int, start: int, stop: int) -> np.ndarray:
    """Rows ``start:stop`` of all 2^G Rademacher vectors, in ``itertools.product([-1, 1], repeat=G)`` order."""
    rows = np.arange(start, stop, dtype=np.int64)[:, None]
    bits = (rows >> np.arange(n_clusters - 1, -1, -1, dtype=np.int64)[None, :]) & 1
    return 2.0 * bits.astype(np.float64) - 1.0


def _all_sign_vectors(n_clusters: int) -> np.ndarray:
    """All 2^G Rademacher vectors as rows, in ``itertools.product([-1, 1], repeat=G)`` order."""
    return _sign_vector_rows(n_clusters, 0, 1 << n_clusters)


# ----------------------------------------------------------------------------------------------------------
# the "fast and wild" pieces
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Problem:
    """Cluster-level pieces of the bootstrap test of ``beta_target = null + delta`` (affine in ``delta``).

    With bootstrap scores :math:`s_g(\\delta) = s^0_g + \\delta s^1_g` (rows of ``S0``, ``S1``),
    :math:`b = (X'X)^{-1}e_j`, :math:`D_g = X_g'X_g b`, :math:`P(\\delta) = S(\\delta)(X'X)^{-1}`:
    numerator :math:`c(\\delta)'v` with :math:`c = P e_j`, cluster contributions to the CR1 variance
    :math:`Z_g = c_g v_g - D_g'P' v`.
    """

    estimate: float
    null: float
    std_error: float
    ssc: float
    D: np.ndarray  # (G, k)
    P0: np.ndarray  # (G, k)
    P1: np.ndarray  # (G, k)
    target: int
    n_clusters: int
    n_obs: int


def _build_problem(
    Xt: np.ndarray,
    yt: np.ndarray,
    et: np.ndarray,
    estimate: float,
    target: int,
    codes: np.ndarray,
    n_clusters: int,
    null: float,
    impose_null: bool,
    bootstrap_type: BootstrapType,
    correction: SmallSampleCorrection = NO_CORRECTION,
) -> _Problem:
    n, k = Xt.shape
    G = n_clusters
    if n <= correction.n_params(k, "CR1"):
        raise InferenceError(
            f"the wild cluster bootstrap needs residual degrees of freedom: {n} observations for "
            f"{correction.n_params(k, 'CR1')} parameters."
        )
    B, _ = bread(Xt)
    b = B[:, target]
    q = float(b[target])
    ssc = small_sample_factor("CR1", n, k, G, correction)
    D = group_sum(Xt * (Xt @ b)[:, None], codes, G)  # X_g'X_g b
    score_hat = group_sum(Xt * et[:, None], codes, G)  # X_g'e_g
    cvec = score_hat @ b
    std_error = float(np.sqrt(ssc * (cvec @ cvec)))
    if bootstrap_type == "11":
        if impose_null:
            # restricted residuals u(r) = e + X b (estimate - r) / q, r = null + delta
            S0 = score_hat + ((estimate - null) / q) * D
            S1 = -D / q
        else:
            S0, S1 = score_hat, np.zeros_like(score_hat)
    else:
        S0, S1 = _jackknife_scores(Xt, yt, target, codes, G, null, impose_null)
    return _Problem(
        estimate=estimate,
        null=null,
        std_error=std_error,
        ssc=ssc,
        D=D,
        P0=S0 @ B,
        P1=S1 @ B,
        target=target,
        n_clusters=G,
        n_obs=n,
    )


def _jackknife_scores(
    Xt: np.ndarray, yt: np.ndarray, target: int, codes: np.ndarray, G: int, null: float, impose_null: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Scores X_g'u_g with leave-cluster-g-out residuals (the "3" residuals of WCR31 / WCU31).

    Restricted: :math:`u_g = y_g - r x_{jg} - X_{1g}\\tilde\\beta_1^{(g)}(r)`, the restricted model (target fixed
    at r) fitted without cluster g; unrestricted: :math:`u_g = y_g - X_g\\hat\\beta^{(g)}`. Singular
    leave-one-out cross products use the Moore-Penrose inverse (as ``wildboottest`` / ``fwildclusterboot``).
    """
    k = Xt.shape[1]
    XX_g = group_sum(np.einsum("ni,nj->nij", Xt, Xt), codes, G)  # (G, k, k)
    XX = XX_g.sum(axis=0)
    if not impose_null:
        Xy_g = group_sum(Xt * yt[:, None], codes, G)
        beta_g = np.einsum("gij,gj->gi", np.linalg.pinv(XX[None] - XX_g), Xy_g.sum(axis=0)[None] - Xy_g)
        S0 = Xy_g - np.einsum("gij,gj->gi", XX_g, beta_g)
        return S0, np.zeros_like(S0)
    keep = np.r_[0:target, target + 1 : k]
    x = Xt[:, target]
    y0 = yt - null * x
    inv = np.linalg.pinv(XX[keep][:, keep][None] - XX_g[:, keep][:, :, keep])  # (G, k-1, k-1)
    X1y_g = group_sum(Xt[:, keep] * y0[:, None], codes, G)
    X1x_g = group_sum(Xt[:, keep] * x[:, None], codes, G)
    beta0 = np.einsum("gij,gj->gi", inv, X1y_g.sum(axis=0)[None] - X1y_g)  # at r = null
    beta1 = -np.einsum("gij,gj->gi", inv, X1x_g.sum(axis=0)[None] - X1x_g)  # d beta / d r
    XX1_g = XX_g[:, :, keep]  # X_g'X_1g
    Xy0_g = group_sum(Xt * y0[:, None], codes, G)
    Xx_g = XX_g[:, :, target]  # X_g'x_g
    S0 = Xy0_g - np.einsum("gij,gj->gi", XX1_g, beta0)
    S1 = -Xx_g - np.einsum("gij,gj->gi", XX1_g, beta1)
    return S0, S1


@dataclass(frozen=True)
class _Moments:
    """Per-draw pieces of the bootstrap t statistic as a function of the tested value ``null + delta``.

    :math:`t^*(\\delta) = (n_0 + \\delta n_1) / \\sqrt{ssc (A + 2\\delta C_{01} + \\delta^2 C_{11})}`.
    """

    n0: np.ndarray
    n1: np.ndarray
    A: np.ndarray
    C01: np.ndarray
    C11: np.ndarray
    ssc: float

    def t_stats(self, delta: float = 0.0) -> np.ndarray:
        """Bootstrap t statistics when testing ``null + delta``."""
        num = self.n0 + delta * self.n1
        if delta == 0.0:
            var = self.ssc * self.A
        else:
            var = self.ssc * (self.A + 2.0 * delta * self.C01 + delta * delta * self.C11)
        with np.errstate(divide="ignore", invalid="ignore"):
            return num / np.sqrt(np.maximum(var, 0.0))


def _moments(
    problem: _Problem,
    V: np.ndarray | Iterable[np.ndarray],
    batch_size: int,
    update: Callable[[int], None] = lambda n: None,
    total: int | None = None,
    after_batch: Callable[[int], None] = lambda n: None,
) -> _Moments:
    """Bootstrap numerators and variance pieces for the draws in the rows of ``V`` (B, G), batch by batch.

    ``V`` is the whole matrix (cut into ``batch_size`` rows), or an iterable of row batches holding ``total`` rows
    in all, so that the weights need never be held at once. ``after_batch(done)`` is called after each batch.
    """
    G, k = problem.D.shape
    j = problem.target
    c0, c1 = problem.P0[:, j], problem.P1[:, j]
    use_h = G <= 2 * k
    if use_h:
        H0T, H1T = (problem.D @ problem.P0.T).T, (problem.D @ problem.P1.T).T  # (G, G): v -> H v
    if isinstance(V, np.ndarray):
        Bn = V.shape[0]
        batches: Iterable[np.ndarray] = (V[i : i + batch_size] for i in range(0, Bn, batch_size))
    else:
        if total is None:
            raise ValueError("_moments needs total= with an iterable of batches")  # internal misuse
        Bn, batches = int(total), V
    out = {name: np.empty(Bn) for name in ("n0", "n1", "A", "C01", "C11")}
    start = 0
    for v in batches:
        if use_h:
            Z0 = v * c0 - v @ H0T
            Z1 = v * c1 - v @ H1T
        else:
            Z0 = v * c0 - (v @ problem.P0) @ problem.D.T
            Z1 = v * c1 - (v @ problem.P1) @ problem.D.T
        sl = slice(start, start + v.shape[0])
        out["n0"][sl] = v @ c0
        out["n1"][sl] = v @ c1
        out["A"][sl] = np.einsum("bg,bg->b", Z0, Z0)
        out["C01"][sl] = np.einsum("bg,bg->b", Z0, Z1)
        out["C11"][sl] = np.einsum("bg,bg->b", Z1, Z1)
        start += v.shape[0]
        update(v.shape[0])  # the progress bar, if shown
        after_batch(start)
    return _Moments(**out, ssc=problem.ssc)


def _keeping(batches: Iterable[np.ndarray], kept: list[np.ndarray]) -> Iterator[np.ndarray]:
    """Pass the batches through, appending each to ``kept``."""
    for v in batches:
        kept.append(v)
        yield v


def _p_value(t_obs: float, t_boot: np.ndarray, alternative: Alternative) -> float:
    # ties count as extreme: under full enumeration the all-ones sign vector reproduces the observed t in theory
    return float(np.count_nonzero(at_least_as_extreme(t_obs, t_boot, alternative)) / t_boot.shape[0])


def _p_at(problem: _Problem, moments: _Moments, value: float, alternative: Alternative) -> float:
    delta = value - problem.null
    t_obs = (problem.estimate - value) / problem.std_error
    return _p_value(t_obs, moments.t_stats(delta), alternative)


def _invert(problem: _Problem, moments: _Moments, alpha: float, alternative: Alternative) -> tuple[float, float]:
    """Confidence limits {r : p(r) > alpha} by bracketing and bisection, as ``boottest``."""
    est, se = problem.estimate, problem.std_error
    if not (np.isfinite(se) and se > 0):
        return np.nan, np.nan
    crit = float(stats.norm.ppf(1 - alpha / (2 if alternative == "two-sided" else 1)))

    def limit(direction: float) -> float:
        inside = est
        step = max(crit, 1.0) * se
        outside = est + direction * step
        for _ in range(64):
            if _p_at(problem, moments, outside, alternative) <= alpha:
                break
            inside, step = outside, 2.0 * step
            outside = est + direction * step
        else:
            return direction * np.inf
        for _ in range(200):
            mid = 0.5 * (inside + outside)
            if abs(outside - inside) <= 1e-10 * se or mid in (inside, outside):
                break
            if _p_at(problem, moments, mid, alternative) <= alpha:
                outside = mid
            else:
                inside = mid
        return 0.5 * (inside + outside)

    low = limit(-1.0) if alternative in ("two-sided", "greater") else -np.inf
    high = limit(1.0) if alternative in ("two-sided", "less") else np.inf
    return low, high


# ----------------------------------------------------------------------------------------------------------
# the settings object
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WildClusterBootstrap(InferenceMethod):
    """Wild cluster bootstrap t test (restricted WCR11 by default), with a confidence interval by test inversion.

    Parameters
    ----------
    reps : int, default 9999
        Number of bootstrap samples B. Choose B so that :math:`\\alpha(B+1)` is an integer (999, 9999).
    weights : {"rademacher", "webb", "mammen", "norm"}, default "rademacher"
        Distribution of the cluster weights. Names and default follow ``fwildclusterboot`` and ``wildboottest``
        (``boottest`` calls the normal ``"normal"``); Rademacher is the default of all three. With fewer than
        about 12 clusters prefer ``"webb"``: Rademacher weights give only :math:`2^G` distinct bootstrap samples
        (Webb 2023).
    seed : int, optional
        Seed of the weights' random generator. ``None`` draws fresh entropy **once, when the object is created**
        (``numpy.random.SeedSequence().entropy``), so every outcome and ``estimate()`` call using this object draws
        the same weights. The seed used (:attr:`seed_used`) is recorded in ``Results.provenance["seed"]`` and in
        the ``inference`` extras (``"seed"``); pass it back as ``seed=`` to repeat the run bit for bit.
    impose_null : bool, default True
        Impose the null hypothesis on the bootstrap data-generating process (WCR, restricted residuals;
        Cameron, Gelbach and Miller 2008; MacKinnon and Webb 2017). ``False`` gives WCU.
    null : float, default 0.0
        Value of the coefficient under the null hypothesis.
    alternative : {"two-sided", "greater", "less"}, default "two-sided"
        Two-sided symmetric test :math:`p = \\#\\{|t^*_b| \\ge |t|\\}/B`, or one-sided
        (:math:`t^*_b \\ge t` for ``"greater"``, :math:`t^*_b \\le t` for ``"less"``). One-sided alternatives get a
        one-sided interval (the other limit infinite).
    bootstrap_type : {"11", "31"}, default "11"
        ``"11"``: ordinary residuals in the bootstrap DGP and CR1 studentization (WCR11). ``"31"``: residuals
        from leave-one-cluster-out (jackknife) fits in the DGP and CR1 studentization (WCR31, MacKinnon, Nielsen
        and Webb 2023).
    full_enumeration : {"auto", "always", "never"}, default "auto"
        With Rademacher weights, ``"auto"`` uses all :math:`2^G` sign vectors instead of random draws when
        :math:`2^G \\le` ``reps``; the p-value is then exact given the bootstrap (no Monte Carlo error).
        ``"always"`` enumerates whenever :math:`G \\le 20`.
    confidence_interval : bool, default True
        Compute the interval by inverting the bootstrap test (same weights), as ``boottest``; else NaN limits.
    batch_size : int, optional
        Bootstrap samples per matrix product; bounds memory at about ``6 * batch_size * G`` floats (the weights of
        the batch and its work arrays; Rademacher and Webb codes add a fixed 16 MiB int8 chunk) plus 12 floats per
        sample, whatever ``reps``. Default: about two million floats per work array. The draws do not depend on it
        (:func:`bootstrap_weights` describes the random stream).
    progress : bool, optional
        Show a progress bar over the bootstrap samples (``tqdm.auto``: a widget in Jupyter, text in a terminal).
        ``None``: only when the run is interactive (a terminal or a notebook kernel) and long (samples x
        clusters >= 100 million, a few seconds); ``False`` never, ``True`` always. The draws do not depend on it.

    Notes
    -----
    Let :math:`\\tilde X = W^{1/2}X`, :math:`\\tilde y = W^{1/2}y` (WLS weights; the identity for OLS),
    :math:`j` the coefficient tested and :math:`r` its null value. The restricted estimate is
    :math:`\\tilde\\beta = \\hat\\beta - (X'X)^{-1}e_j(\\hat\\beta_j - r)/[(X'X)^{-1}]_{jj}` with residuals
    :math:`\\tilde u`. Bootstrap sample :math:`b` is :math:`y^*_{ig} = x_{ig}'\\tilde\\beta + \\tilde u_{ig} v_{bg}`
    with one weight :math:`v_{bg}` per cluster;
    :math:`t^*_b = (\\hat\\beta^*_j - r)/\\widehat{se}_{CR1}(\\hat\\beta^*_j)` with the CR1 factor
    :math:`\\frac{G}{G-1}\\frac{n-1}{n-k}` (the default of ``boottest`` and ``fwildclusterboot``; it
    cancels from the p-value). Following Roodman et al. (2019, section 3), with
    :math:`s_g = X_g'\\tilde u_g`, :math:`c_g = e_j'(X'X)^{-1}s_g` and
    :math:`H_{gh} = e_j'(X'X)^{-1}X_g'X_g(X'X)^{-1}s_h`,

    .. math:: t^*_b = \\frac{c'v_b}{\\sqrt{ssc \\sum_g (c_g v_{bg} - H_{g\\cdot} v_b)^2}},

    so a batch of draws is one :math:`B\\times G` by :math:`G\\times G` product (or two thin products through
    :math:`k` when :math:`k < G/2`). Because :math:`s_g` is affine in :math:`r`, so are the numerator and the
    cluster contributions, and :math:`t^*_b(r)` for any :math:`r` follows from five stored numbers per draw;
    the interval :math:`\\{r : p(r) > \\alpha\\}` is found by bracketing and bisection on :math:`p(r)` with the
    same weights. Reported ``std_error`` and ``statistic`` are the CR1 standard error and t statistic of the
    observed fit; ``df`` is NaN (the bootstrap replaces the t distribution).

    p-value conventions: two-sided symmetric, counting ties as extreme (:math:`\\ge`, as ``boottest`` and
    ``fwildclusterboot``; ``wildboottest`` counts strictly :math:`>`, which differs only on ties, e.g. under
    full enumeration where the all-ones vector reproduces the observed :math:`t`, so that
    :math:`p \\ge 2/2^G`). Statistics within a relative :math:`10^{-9}` of the statistic's scale count as ties
    (:func:`evalkit.inference._pvalue.tie_tolerance`).

    Memory and time: the weights are drawn (or, under full enumeration, listed) batch by batch and never held at
    once; five numbers per draw are kept for the p-value and the interval. ``extra["weights"]`` holds the
    :math:`B\\times G` weight matrix only when :math:`BG \\le 2^{21}` (16 MiB), and None otherwise;
    ``bootstrap_weights(weights, G, reps, numpy.random.default_rng(extra["seed"]))`` regenerates it. A run whose
    estimated memory exceeds the memory available is refused before drawing, and one projected from its first
    batch to take more than a day is stopped, with :class:`~evalkit.errors.ResourceLimitError` naming the estimate
    and the fix.

    Few clusters: with fewer than about 12 clusters, or few treated or control clusters, WCR tends to
    under-reject and WCU to over-reject (MacKinnon and Webb 2017); a note is added to the results
    (``bootstrap_note``).

    References
    ----------
    Cameron, A. C., Gelbach, J. B. and Miller, D. L. (2008). Bootstrap-based improvements for inference with
    clustered errors. Review of Economics and Statistics 90(3), 414-427.

    MacKinnon, J. G. and Webb, M. D. (2017). Wild bootstrap inference for wildly different cluster sizes.
    Journal of Applied Econometrics 32(2), 233-254.

    Roodman, D., Nielsen, M. Ø., MacKinnon, J. G. and Webb, M. D. (2019). Fast and wild: bootstrap inference in
    Stata using boottest. Stata Journal 19(1), 4-60.

    MacKinnon, J. G., Nielsen, M. Ø. and Webb, M. D. (2023). Fast and reliable jackknife and bootstrap methods
    for cluster-robust inference. Journal of Applied Econometrics 38(5), 671-694.

    Webb, M. D. (2023). Reworking wild bootstrap-based inference for clustered errors. Canadian Journal of
    Economics 56(3), 839-858.

    Examples
    --------
    >>> import evalkit as ek
    >>> from evalkit.inference.wild_bootstrap import WildClusterBootstrap
    >>> spec = WildClusterBootstrap(reps=9_999, weights="webb", seed=1)
    """

    reps: int = 9_999
    weights: WeightsType = "rademacher"
    seed: int | None = None
    impose_null: bool = True
    null: float = 0.0
    alternative: Alternative = "two-sided"
    bootstrap_type: BootstrapType = "11"
    full_enumeration: FullEnumeration = "auto"
    confidence_interval: bool = True
    batch_size: int | None = None
    progress: bool | None = None
    _entropy: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        check_int("reps", self.reps, minimum=1)
        check_option("weights", self.weights, WeightsType)
        if self.seed is not None:
            check_int("seed", self.seed, minimum=0)
        check_bool("impose_null", self.impose_null)
        check_bool("confidence_interval", self.confidence_interval)
        if isinstance(self.null, bool) or not isinstance(self.null, numbers.Real) or not np.isfinite(self.null):
            raise OptionError(f"null={self.null!r} must be a finite number, the coefficient's value under H0.")
        check_option("alternative", self.alternative, Alternative)
        check_option("bootstrap_type", self.bootstrap_type, BootstrapType)
        check_option("full_enumeration", self.full_enumeration, FullEnumeration)
        if self.full_enumeration == "always" and self.weights != "rademacher":
            raise OptionError(
                f"full_enumeration='always' enumerates Rademacher sign vectors, but weights={self.weights!r}; "
                "use weights='rademacher' or full_enumeration='auto'."
            )
        if self.batch_size is not None:
            check_int("batch_size", self.batch_size, minimum=1)
        check_progress(self.progress)
        object.__setattr__(self, "_entropy", seed_to_use(self.seed))

    @property
    def seed_used(self) -> int:
        """The seed of the weights: ``seed``, or the entropy drawn when the object was created."""
        return self._entropy

    @property
    def name(self) -> str:
        """The label shown in results' ``inference`` column."""
        kind = ("WCR" if self.impose_null else "WCU") + self.bootstrap_type
        return f"wild cluster bootstrap {kind} ({self.weights})"

    def infer(self, fit: LinearFit, ctx: InferenceContext) -> InferenceOutcome:
        """Bootstrap p-value and inverted interval for ``fit``'s target coefficient, clusters from ``ctx``.

        Raises
        ------
        InferenceError
            If the design has no clusters, has only one, or the model has no residual degrees of freedom.
        """
        if ctx.clusters is None:
            raise InferenceError(
                "the wild cluster bootstrap needs clusters, and this design has none; declare them in the design, "
                "e.g. ek.RandomizedTrial(data, 'treated', clusters='community'), or use inference='HC2'."
            )
        # centred, unit-scaled basis with the target's column (and coefficient) unchanged: shift- and scale-free
        design = condition_design(fit.X, fit.residuals, fit.weights, keep=fit.target)
        Xt, et, sw = design.Xt, np.asarray(design.et), design.sw
        yt = np.asarray(fit.y, dtype=np.float64) * (1.0 if sw is None else sw)
        codes, G = _cluster_codes(ctx.clusters, Xt.shape[0])
        problem = _build_problem(
            Xt,
            yt,
            et,
            fit.estimate,
            fit.target,
            codes,
            G,
            float(self.null),
            self.impose_null,
            self.bootstrap_type,
            ctx.correction,
        )
        enumerate_all = self._enumerates(G)
        batch = self.batch_size or max(1, _BATCH_FLOATS // G)
        n_boot = (1 << G) if enumerate_all else int(self.reps)
        keep = n_boot * G <= _KEEP_WEIGHTS_CELLS
        what = f"the wild cluster bootstrap with reps={self.reps:,}" + (
            f" ({n_boot:,} sign vectors)" if enumerate_all else ""
        )
        fix = (
            "use fewer draws (reps=...)"
            + (" or full_enumeration='never'" if enumerate_all else "")
            + f", or a smaller batch_size (now {batch:,})."
        )
        check_memory(
            what, n_boot, _BYTES_PER_DRAW + (8 * G if keep else 0), min(batch, n_boot) * G * _BYTES_PER_CELL, fix
        )
        if enumerate_all:
            batches = (_sign_vector_rows(G, i, min(i + batch, n_boot)) for i in range(0, n_boot, batch))
            entropy = self.seed
        else:
            seq = np.random.SeedSequence(self.seed_used)
            entropy = seq.entropy
            batches = _weight_batches(self.weights, G, n_boot, np.random.default_rng(seq), batch)
        kept: list[np.ndarray] = []
        if keep:  # small runs keep the weights for the results (bounded: _KEEP_WEIGHTS_CELLS)
            batches = _keeping(batches, kept)
        clock = TimeBudget(what, n_boot, fix)
        show = show_progress(self.progress, n_boot * G, _PROGRESS_MIN_WORK)
        with progress_bar(n_boot, show, "wild cluster bootstrap") as update:
            clock.start()
            moments = _moments(problem, batches, batch, update, total=n_boot, after_batch=clock.first_batch)
        V = None
        if keep:
            V = np.concatenate(kept) if kept else np.zeros((0, G))
            V.setflags(write=False)
        t_boot = moments.t_stats(0.0)
        se = problem.std_error
        degenerate = bool(degenerate_se(se, problem.estimate, float(np.std(fit.y))).item() or not se > 0)
        if degenerate:
            se = np.nan  # zero up to rounding: the one rule of evalkit.inference.analytic.degenerate_se
        t_obs = (problem.estimate - problem.null) / se if np.isfinite(se) else np.nan
        p = _p_value(t_obs, t_boot, self.alternative) if np.isfinite(t_obs) else np.nan
        low, high = (np.nan, np.nan)
        if self.confidence_interval and not degenerate:  # no test, no interval (inverting it gives width 0)
            low, high = _invert(problem, moments, ctx.alpha, self.alternative)
        t_boot.setflags(write=False)
        note = self._note(G, codes, ctx)
        notes = () if note is None else (note,)
        if degenerate:
            notes += (degenerate_note([fit.term_names[fit.target]]),)
        return InferenceOutcome(
            std_error=se,
            statistic=float(t_obs),
            p_value=p,
            conf_low=float(low),
            conf_high=float(high),
            df=np.nan,
            n_clusters=G,
            label=f"{self.name}, B={n_boot}{' (all sign vectors)' if enumerate_all else ''}; SE: CR1",
            extra={
                "bootstrap_statistics": t_boot,
                "weights": V,
                "weights_type": self.weights,
                "seed": entropy,
            },
            columns={
                "n_boot": n_boot,
                "boot_weights": self.weights,
                "exact": bool(enumerate_all),
                "bootstrap_note": note,
            },
            notes=notes,
        )

    def _enumerates(self, G: int) -> bool:
        if self.weights != "rademacher" or self.full_enumeration == "never":
            return False
        if self.full_enumeration == "always":
            if G > _MAX_ENUMERATION_CLUSTERS:
                raise InferenceError(
                    f"full_enumeration='always' with {G} clusters would need 2^{G} bootstrap samples; enumeration "
                    f"is available up to {_MAX_ENUMERATION_CLUSTERS} clusters. Use full_enumeration='auto'."
                )
            return True
        return (1 << min(G, 63)) <= self.reps

    def _note(self, G: int, codes: np.ndarray, ctx: InferenceContext) -> str | None:
        notes = []
        if G < _FEW_CLUSTERS:
            extra = (
                f" Rademacher weights allow only 2^{G} = {1 << G} distinct bootstrap samples; Webb weights "
                "(weights='webb') are recommended (Webb 2023)."
                if self.weights == "rademacher"
                else ""
            )
            notes.append(f"Only {G} clusters: bootstrap tests may be unreliable (MacKinnon and Webb 2017).{extra}")
        z = None if ctx.sample is None else np.asarray(ctx.sample.treatment)
        if z is not None and z.shape[0] == codes.shape[0]:
            ever = np.zeros(G, dtype=bool)
            np.logical_or.at(ever, codes, z > 0)
            n_treated, n_control = int(ever.sum()), int(G - ever.sum())
            if min(n_treated, n_control) < _FEW_ARM_CLUSTERS:
                notes.append(
                    f"{n_treated} treated and {n_control} control clusters: with few treated (or control) "
                    "clusters the restricted wild cluster bootstrap under-rejects and the unrestricted one "
                    "over-rejects (MacKinnon and Webb 2017); consider randomization inference."
                )
        return " ".join(notes) or None


# ----------------------------------------------------------------------------------------------------------
# small checks
# ----------------------------------------------------------------------------------------------------------


def _cluster_codes(clusters: Any, n: int) -> tuple[np.ndarray, int]:
    codes, uniques = factorize_clusters(
        clusters, n, needs="the wild cluster bootstrap needs", because="there is nothing to resample"
    )
    return codes, len(uniques)
