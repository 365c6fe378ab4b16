"""Difference-in-differences regressions: the 2x2 interaction model and two-way fixed effects on a panel.

Unit fixed effects are *absorbed* by the within transformation (subtracting each unit's weighted mean, exact for
balanced and unbalanced panels alike); time effects (or block x time effects) enter as explicit indicator columns
after that transformation. Both are the Frisch-Waugh-Lovell (FWL) form of the dummy-variable regression: the same
coefficients and residuals, and a design matrix on which the sandwich formulas of :mod:`evalkit.inference` apply
(see :func:`twfe`, Notes, for why time effects are kept explicit).
"""

from __future__ import annotations

import numpy as np

from evalkit._codes import n_distinct
from evalkit._linear_algebra import column_norms
from evalkit.errors import EstimationError
from evalkit.estimators._linear import LinearFit, fit_least_squares
from evalkit.estimators._sample import EstimationSample, block_dummies
from evalkit.estimators.base import Estimator
from evalkit.estimators.treatment_design import DiDTreatmentDesign

__all__ = [
    "DID",
    "TWFE",
    "absorbed_fixed_columns",
    "did_2x2",
    "did_2x2_design",
    "group_indicator",
    "n_absorbed",
    "period_effects",
    "period_labels",
    "twfe",
    "twfe_design",
    "within",
]


def within(values: np.ndarray, codes: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Subtract the (weighted) mean of each group from ``values`` (shape (n,) or (n, k)); a new array.

    Notes
    -----
    :math:`\\tilde x_{it} = x_{it} - \\sum_s w_{is} x_{is} / \\sum_s w_{is}`: the residual of projecting on the
    group indicators, i.e. the unit fixed effects absorbed in one pass (one-way demeaning is exact; no
    alternating projections are needed). The means are computed twice, the second time of the deviations from
    the first, so that a column far from zero (shifted by :math:`10^{8}`, say) is demeaned to full relative
    precision (Higham 2002, Accuracy and Stability of Numerical Algorithms, section 1.9). Cost :math:`O(nk)`: group
    sums by ``numpy.bincount``; for a balanced panel sorted by unit (rows ``0..n-1`` in runs of ``T`` per unit, the
    codes in increasing order) the closed form on the ``(N, T)`` view, the sums of its rows, which adds in the same
    order without random access or an ``n``-long temporary.
    """
    values = np.asarray(values, dtype=np.float64)
    flat = values.ndim == 1
    M = values[:, None] if flat else values
    codes = np.asarray(codes)
    n_groups = int(codes.max()) + 1 if codes.size else 0
    out = np.array(M, order="F")  # a copy whose columns are contiguous, demeaned in place
    T = codes.size // n_groups if n_groups else 0
    if n_groups and T * n_groups == codes.size and (codes.reshape(n_groups, T) == np.arange(n_groups)[:, None]).all():
        wT = None if weights is None else np.asarray(weights, dtype=np.float64).reshape(n_groups, T)
        total = T if wT is None else wT.sum(axis=1, keepdims=True)
        for j in range(M.shape[1]):
            col = out[:, j].reshape(n_groups, T)  # a view: demeaned in place
            for _ in range(2):  # the second pass removes the rounding error of the first means (Higham 2002, 1.9)
                col -= (col if wT is None else col * wT).sum(axis=1, keepdims=True) / total
        return out[:, 0] if flat else out
    total = np.bincount(codes, weights=weights, minlength=n_groups)
    for j in range(M.shape[1]):
        col = out[:, j]
        for _ in range(2):
            col -= (np.bincount(codes, weights=col if weights is None else col * weights, minlength=n_groups) / total)[
                codes
            ]
    return out[:, 0] if flat else out


def n_absorbed(sample: EstimationSample) -> int:
    """Number of fixed effects absorbed by :func:`twfe` (distinct units in the sample); 0 without units."""
    return 0 if sample.units is None else n_distinct(sample.units)


def period_labels(sample: EstimationSample, codes: np.ndarray) -> list[str]:
    """The period label of each code, as term names show it (``1988``; an integral float without ``.0``).

    Labels come from ``sample.period_labels`` (the design's sorted periods); without them, or if two labels would
    print the same (e.g. ``1`` and ``"1"``), the codes are used, so names stay unique.
    """
    codes = np.asarray(codes, dtype=np.intp)
    if sample.period_labels is None:
        return [str(int(c)) for c in codes]
    shown = []
    for label in sample.period_labels:
        value = label.item() if isinstance(label, np.generic) else label
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        shown.append(str(value))
    if len(set(shown)) < len(shown):
        return [str(int(c)) for c in codes]
    return [shown[c] for c in codes]


def period_effects(sample: EstimationSample) -> tuple[np.ndarray, tuple[str, ...]]:
    """Indicators of every period but the first (``time[t]``, ``t`` the period's label, e.g. ``time[1988]``), or of
    every block x period cell but each block's first period (``block[b]:time[t]``) when the sample has blocks. Unit
    effects absorb the omitted ones."""
    periods = np.asarray(sample.periods)
    if sample.blocks is None or n_distinct(sample.blocks) == 1:
        D, _ = block_dummies(periods)
        levels = np.flatnonzero(np.bincount(periods.astype(np.intp)))  # codes present, in block_dummies order
        return D, tuple(f"time[{t}]" for t in period_labels(sample, levels[1:]))
    cell = sample.blocks.astype(np.int64) * (int(periods.max()) + 1) + periods
    cells, first_idx = np.unique(cell, return_index=True)
    blocks_of = sample.blocks[first_idx]
    periods_of = periods[first_idx]
    keep = np.ones(cells.size, dtype=bool)
    for b in np.unique(blocks_of):  # drop each block's first period (absorbed by the unit effects)
        idx = np.flatnonzero(blocks_of == b)
        keep[idx[np.argmin(periods_of[idx])]] = False
    cells = cells[keep]
    D = (cell[:, None] == cells[None, :]).astype(np.float64)
    shown = period_labels(sample, periods_of[keep])
    names = tuple(f"block[{int(b)}]:time[{t}]" for b, t in zip(blocks_of[keep], shown, strict=True))
    return D, names


def _require_panel(sample: EstimationSample) -> None:
    if sample.units is None or sample.periods is None:
        raise EstimationError(
            "two-way fixed effects need panel units and periods; build the design with unit= and time=."
        )


def _absorbed_fit(sample: EstimationSample, regressors: np.ndarray, names: tuple[str, ...], target: int) -> LinearFit:
    _require_panel(sample)
    P, pnames = period_effects(sample)
    X = np.column_stack([regressors, sample.covariates, P])
    terms = (*names, *sample.covariate_names, *pnames)
    w = sample.weights
    Xt = within(X, sample.units, w)
    # A column constant within every unit is absorbed: its deviations are rounding noise (zero, or ~eps^2 relative
    # after the two-pass demeaning), which scaling would blow up into a spurious regressor. Refuse it by name.
    flat = column_norms(Xt) <= 64 * np.finfo(np.float64).eps * column_norms(X)
    if flat.any():
        shown = ", ".join(repr(terms[j]) for j in np.flatnonzero(flat))
        raise EstimationError(
            f"{shown} does not vary within units, so the unit fixed effects absorb it and it has no coefficient "
            "in a fixed-effects regression; drop it (time-invariant covariates), or interact it with time."
        )
    yt = within(sample.y, sample.units, w)
    return fit_least_squares(yt, Xt, terms, target, weights=w)


def twfe(sample: EstimationSample) -> LinearFit:
    """Two-way fixed effects: ``y ~ treated + covariates | unit + time`` (block x time effects with blocks).

    Returns
    -------
    LinearFit
        ``X`` and ``y`` are the within-unit transformed regressors (treatment first, then covariates, then the
        period indicators) and outcome; ``residuals`` are those of the full dummy-variable model.

    Notes
    -----
    :math:`y_{it} = \\alpha_i + \\lambda_{b(i)t} + \\tau D_{it} + X_{it}'\\beta + e_{it}`; by Frisch-Waugh-Lovell
    :math:`\\hat\\tau` is least squares of :math:`\\tilde y` on :math:`[\\tilde D, \\tilde X, \\tilde P]`, where a
    tilde is the deviation from the unit's (weighted) mean and :math:`P` the period (or block x period)
    indicators. Time effects stay explicit columns rather than a second absorbed dimension because the CR2
    adjustment computed after absorbing a fixed effect equals the full-model one only for fixed effects nested in
    the clusters (Pustejovsky and Tipton 2018, JBES 36(4), Sec. 3.2); unit effects are nested in clusters, time
    effects are not. The cost is :math:`O(nT)`, fine for the tens of periods of programme evaluations. With one
    treatment date, :math:`\\hat\\tau` is the 2x2 difference in differences; with staggered adoption it is a
    variance-weighted average that may put negative weight on some effects (Goodman-Bacon 2021, J. Econometrics
    225(2)); use ``StaggeredDiD`` then.
    """
    d = np.asarray(sample.treatment, dtype=np.float64)
    return _absorbed_fit(sample, d[:, None], (sample.treatment_name,), 0)


def absorbed_fixed_columns(sample: EstimationSample) -> np.ndarray:
    """The untransformed columns of :func:`twfe` (and the event study) that do not depend on treatment:
    covariates, then period (or block x period) indicators."""
    _require_panel(sample)
    return np.column_stack([sample.covariates, period_effects(sample)[0]])


def twfe_design(sample: EstimationSample) -> DiDTreatmentDesign:
    """The batched form of :func:`twfe`: ``M [z, covariates, P]`` with ``M`` the within-unit transformation.

    Raises
    ------
    EstimationError
        Without panel units and periods, as :func:`twfe`.
    """
    fixed = absorbed_fixed_columns(sample)
    return DiDTreatmentDesign("twfe", fixed, (0,), 0, units=np.asarray(sample.units), weights=sample.weights)


def group_indicator(sample: EstimationSample) -> np.ndarray:
    """The treated-group indicator of a 2x2 sample: ``max(treatment)`` within each unit of assignment when those
    are given (so a re-drawn treatment implies a re-drawn group), else ``sample.group``."""
    d = np.asarray(sample.treatment, dtype=np.float64)
    if sample.assignment_units is not None:
        codes = sample.assignment_units
        top = np.zeros(int(codes.max()) + 1)
        np.maximum.at(top, codes, d)
        return top[codes]
    if sample.group is None:
        raise EstimationError("the 2x2 estimator needs the treated-group indicator; build the design with post=.")
    return np.asarray(sample.group, dtype=np.float64)


def _require_post(sample: EstimationSample) -> None:
    if sample.post is None:
        raise EstimationError("the 2x2 estimator needs the post-period indicator; build the design with post=.")


def did_2x2(sample: EstimationSample) -> LinearFit:
    """The 2x2 difference-in-differences regression ``y ~ group + post + group:post (+ covariates)``.

    ``sample.treatment`` is the interaction ``group * post``, whose coefficient is the estimate. With blocks, block
    and block x post indicators replace the intercept-and-``post`` pair (block-specific period effects).

    Notes
    -----
    :math:`y_i = \\alpha + \\gamma G_i + \\lambda P_i + \\tau G_i P_i + X_i'\\beta + e_i`; without covariates
    :math:`\\hat\\tau = (\\bar y_{11} - \\bar y_{10}) - (\\bar y_{01} - \\bar y_{00})`
    (Wooldridge, *Introductory Econometrics*, Sec. 13.2, Example 13.3; Card and Krueger 1994).
    """
    design = did_2x2_design(sample)  # one definition of the columns for the fit and its batches
    X = design.matrices(np.asarray(sample.treatment, dtype=np.float64)[None, :])[0]
    group_name, _, post_name = sample.treatment_name.partition(":")
    post_name = post_name or "post"
    bnames = block_dummies(sample.blocks)[1] if _blocked(sample) else ()
    terms = (
        "(Intercept)",
        group_name,
        post_name,
        sample.treatment_name,
        *sample.covariate_names,
        *bnames,
        *(f"{b}:{post_name}" for b in bnames),
    )
    return fit_least_squares(sample.y, X, terms, 3, weights=sample.weights)


def _blocked(sample: EstimationSample) -> bool:
    return sample.blocks is not None and n_distinct(sample.blocks) > 1


def did_2x2_design(sample: EstimationSample) -> DiDTreatmentDesign:
    """The batched form of :func:`did_2x2`: ``[1, g(z), post, z, covariates, B, B x post]``.

    The group ``g(z)`` is the maximum of ``z`` within each unit of assignment when those are given (a re-drawn
    treatment re-draws the group), else the sample's fixed group indicator.

    Raises
    ------
    EstimationError
        Without ``post``, or without a group indicator or units of assignment, as :func:`did_2x2`.
    """
    _require_post(sample)
    n = sample.n_obs
    post = np.asarray(sample.post, dtype=np.float64)
    extra = [sample.covariates]
    if _blocked(sample):
        D = block_dummies(sample.blocks)[0]
        extra += [D, D * post[:, None]]
    rest = np.column_stack(extra)
    if sample.assignment_units is None:
        g = group_indicator(sample)
        fixed = np.column_stack([np.ones(n), g, post, rest])
        return DiDTreatmentDesign("did", fixed, (3,), 3, weights=sample.weights)
    fixed = np.column_stack([np.ones(n), post, rest])
    return DiDTreatmentDesign(
        "did", fixed, (1, 3), 3, weights=sample.weights, assignment_units=np.asarray(sample.assignment_units)
    )


#: The 2x2 difference in differences and two-way fixed effects, each registered with its batched form.
DID = Estimator("did", did_2x2, did_2x2_design)
TWFE = Estimator("twfe", twfe, twfe_design)
