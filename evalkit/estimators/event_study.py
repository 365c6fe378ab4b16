"""Event-study (dynamic) two-way fixed effects: one coefficient per period relative to first treatment."""

from __future__ import annotations

import dataclasses

import numpy as np

from evalkit.errors import EstimationError
from evalkit.estimators._linear import LinearFit
from evalkit.estimators._sample import EstimationSample
from evalkit.estimators.base import Estimator
from evalkit.estimators.treatment_design import DiDTreatmentDesign
from evalkit.estimators.twfe import _absorbed_fit, absorbed_fixed_columns

__all__ = ["EVENT_STUDY", "event_study", "event_study_design", "event_term", "event_times"]


def event_term(k: int) -> str:
    """The results term of event time ``k``, e.g. ``"event_time::-2"`` (pyfixest's ``i()`` naming)."""
    return f"event_time::{k}"


def event_times(treatment: np.ndarray, units: np.ndarray, periods: np.ndarray) -> np.ndarray:
    """Each row's period minus its unit's first treated period (float; NaN for never-treated units).

    Periods are counted in positions of the sorted distinct time values, so event time 1 is "one period after"
    whatever the spacing of the time labels.
    """
    d = np.asarray(treatment, dtype=np.float64)
    first = np.full(int(units.max()) + 1, np.inf)
    np.minimum.at(first, units[d > 0], periods[d > 0].astype(np.float64))
    rel = periods - first[units]
    return np.where(np.isfinite(rel), rel, np.nan)


def event_study(sample: EstimationSample) -> LinearFit:
    """Event-study regression ``y ~ sum_k 1[t - E_i = k] | unit + time`` with the reference period omitted.

    The first treated period :math:`E_i` of each unit is read from ``sample.treatment`` (the status ``D_it``), so
    a re-drawn treatment gives re-drawn event times. Event times outside ``sample.event_window`` are binned into
    its end points; never-treated units have no event indicator (they identify the time effects).

    Returns
    -------
    LinearFit
        Columns of ``X``: the event-time indicators ``event_time::k`` in increasing ``k`` (the reference omitted),
        then covariates and period indicators, all within-unit transformed. ``target`` is event time 0 (or the
        first post-treatment term). ``event_columns`` / ``event_times`` say which columns are the indicators and
        their event times (the names are for display only).

    Notes
    -----
    :math:`y_{it} = \\alpha_i + \\lambda_t + \\sum_{k \\ne r} \\mu_k 1[\\operatorname{bin}(t - E_i) = k] +
    X_{it}'\\beta + e_{it}`, with :math:`\\operatorname{bin}` clipping to :math:`[k_{lo}, k_{hi}]` and
    :math:`r` the reference period (Borusyak, Jaravel and Spiess 2024, Rev. Econ. Stud.; Schmidheiny and
    Siegloch 2023, J. Appl. Econometrics 38(5) on binned end points). With staggered adoption and heterogeneous
    effects the :math:`\\mu_k` mix effects of other periods (Sun and Abraham 2021, J. Econometrics 225(2)).
    """
    if sample.units is None or sample.periods is None:
        raise EstimationError("an event study needs panel units and periods; build the design with unit= and time=.")
    rel = event_times(sample.treatment, sample.units, sample.periods)
    treated = np.isfinite(rel)
    if not treated.any():
        raise EstimationError("no unit is ever treated in this sample; there are no event times to estimate.")
    lo, hi = sample.event_window or (int(np.nanmin(rel)), int(np.nanmax(rel)))
    ref = sample.reference_period
    if not lo <= ref <= hi:
        raise EstimationError(
            f"reference_period={ref} is outside the event window [{lo}, {hi}]; choose a period inside it (usually -1)."
        )
    binned = np.clip(np.where(treated, rel, 0.0), lo, hi).astype(np.int64)
    ks = [k for k in range(lo, hi + 1) if k != ref]
    E = np.zeros((sample.n_obs, len(ks)))
    for j, k in enumerate(ks):
        E[:, j] = treated & (binned == k)
    empty = [k for j, k in enumerate(ks) if not E[:, j].any()]
    if empty:
        raise EstimationError(
            f"no observation at event time(s) {', '.join(map(str, empty))}; narrow the window with leads=/lags=."
        )
    post = [j for j, k in enumerate(ks) if k >= 0]
    target = post[0] if post else 0
    fit = _absorbed_fit(sample, E, tuple(event_term(k) for k in ks), target)
    # The event-time columns are said by position, never recognised by name: a covariate may be called anything.
    return dataclasses.replace(fit, event_columns=tuple(range(len(ks))), event_times=tuple(int(k) for k in ks))


def event_study_design(sample: EstimationSample) -> DiDTreatmentDesign | None:
    """The batched form of :func:`event_study`: ``M [E(z), covariates, P]``, or ``None`` without a fixed window.

    ``E(z)`` are the event-time indicators, with each unit's first treated period read from ``z`` and event times
    binned into ``sample.event_window``.

    Returns
    -------
    DiDTreatmentDesign or None
        ``None`` when ``sample.event_window`` is None: :func:`event_study` then reads the window from each draw's
        own event times, so the columns (not only their values) change between draws and randomization inference
        re-runs the estimator draw by draw. Designs always pass a window (``DiffInDiff.estimate``).

    Raises
    ------
    EstimationError
        Without panel units and periods, or with the reference period outside the window, as :func:`event_study`.
    """
    fixed = absorbed_fixed_columns(sample)
    if sample.event_window is None:
        return None
    lo, hi = sample.event_window
    ref = sample.reference_period
    if not lo <= ref <= hi:
        raise EstimationError(
            f"reference_period={ref} is outside the event window [{lo}, {hi}]; choose a period inside it (usually -1)."
        )
    ks = tuple(k for k in range(lo, hi + 1) if k != ref)
    if not ks:
        raise EstimationError(f"the event window [{lo}, {hi}] holds only the reference period; widen it.")
    post = [j for j, k in enumerate(ks) if k >= 0]
    return DiDTreatmentDesign(
        "event_study",
        fixed,
        tuple(range(len(ks))),
        post[0] if post else 0,
        units=np.asarray(sample.units),
        weights=sample.weights,
        periods=np.asarray(sample.periods),
        event_times=ks,
        window=(int(lo), int(hi)),
    )


#: The event study, registered with its batched form.
EVENT_STUDY = Estimator("event_study", event_study, event_study_design)
