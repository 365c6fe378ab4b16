"""The estimation sample a design hands to an estimator: arrays only, no design knowledge."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evalkit._linear_algebra import centre_columns

__all__ = ["EstimationSample", "block_dummies", "centre"]


@dataclass(frozen=True)
class EstimationSample:
    """Complete cases for one outcome.

    Attributes
    ----------
    y : ndarray (n,)
        Outcome.
    treatment : ndarray (n,)
        0/1 treatment indicator.
    covariates : ndarray (n, p)
        Covariates (p may be 0).
    covariate_names : tuple
        Names of the covariate columns: the caller's labels (text, or any hashable such as an integer); term names
        are their ``str()``.
    blocks : ndarray (n,) of int or None
        Block (stratum) codes 0..B-1.
    weights : ndarray (n,) or None
        Analytic weights.
    baseline : ndarray (n,) or None
        The outcome's baseline value (for the ``change`` estimator).
    treatment_name : str
        Name of the treatment term in results.
    units : ndarray (n,) of int or None
        Panel unit codes ``0..N-1`` whose fixed effects are absorbed (difference-in-differences on a panel).
    periods : ndarray (n,) of int or None
        Time-period codes ``0..T-1`` in time order (panel).
    period_labels : tuple or None
        The period (label) of each code of ``periods`` (e.g. the year), naming the period-effect terms
        ``time[1988]``; None: they are named by their code.
    post : ndarray (n,) or None
        0/1 post-period indicator (2x2 difference-in-differences on repeated cross-sections).
    group : ndarray (n,) or None
        0/1 treated-group indicator (2x2 difference-in-differences); ``treatment`` is then ``group * post``.
    assignment_units : ndarray (n,) of int or None
        Codes of the units of assignment (clusters); when given, 2x2 estimators recover the group indicator from
        ``treatment`` as its maximum within each unit, so that a re-drawn ``treatment`` implies a re-drawn group.
    event_window : tuple of int or None
        ``(lowest, highest)`` event time of an event study; times outside are binned into the end points.
    reference_period : int
        Event time whose coefficient is normalised to zero (event study).
    moderators : ndarray (n, m) or None
        Moderator columns, uncentred (a categorical moderator already expanded to indicators of its levels but
        the first); trial regression estimators centre them at their (weighted) sample means and add them with
        their interactions with treatment.
    moderator_names : tuple of str
        Names of the moderator columns: ``"female"``, or ``"age_group[2]"`` for a level of a categorical moderator.
    take_up : ndarray (n,) or None
        Treatment received (non-compliance): the endogenous regressor of the ``iv`` estimator, for which
        ``treatment`` (the assignment) is the instrument.
    take_up_name : str
        Name of the take-up term in results.
    """

    y: np.ndarray = field(repr=False)
    treatment: np.ndarray = field(repr=False)
    covariates: np.ndarray = field(repr=False)
    covariate_names: tuple[str, ...] = ()
    blocks: np.ndarray | None = field(default=None, repr=False)
    weights: np.ndarray | None = field(default=None, repr=False)
    baseline: np.ndarray | None = field(default=None, repr=False)
    treatment_name: str = "treated"
    units: np.ndarray | None = field(default=None, repr=False)
    periods: np.ndarray | None = field(default=None, repr=False)
    period_labels: tuple[Any, ...] | None = field(default=None, repr=False)
    post: np.ndarray | None = field(default=None, repr=False)
    group: np.ndarray | None = field(default=None, repr=False)
    assignment_units: np.ndarray | None = field(default=None, repr=False)
    event_window: tuple[int, int] | None = None
    reference_period: int = -1
    moderators: np.ndarray | None = field(default=None, repr=False)
    moderator_names: tuple[str, ...] = ()
    take_up: np.ndarray | None = field(default=None, repr=False)
    take_up_name: str = "take_up"

    @property
    def n_obs(self) -> int:
        return int(self.y.shape[0])


def centre(X: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """``X`` minus its (weighted) column means, to full relative precision even far from zero; a new array.

    Notes
    -----
    Two-pass centring (:func:`evalkit._linear_algebra.centre_columns`). Lin's (2013) estimate moves with the
    centring point (by the interaction coefficients times its error), so a one-pass ``X - mean(X)``, whose mean of a
    covariate shifted by :math:`10^{10}` is only representable to :math:`2 \\times 10^{-6}`, is not good enough.
    """
    return centre_columns(X, weights)[0]


def block_dummies(blocks: np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    """Indicators for every block but the first (codes ``0..B-1``), and their names ``block[b]``."""
    blocks = np.asarray(blocks)
    if blocks.dtype.kind in "iu" and blocks.size and blocks.min() >= 0:
        levels = np.flatnonzero(np.bincount(blocks))  # np.unique of codes, in O(n + B)
    else:
        levels = np.unique(blocks)
    D = np.empty((blocks.shape[0], max(levels.size - 1, 0)))
    for j, level in enumerate(levels[1:]):  # column by column: no (n, B) boolean temporary
        np.equal(blocks, level, out=D[:, j])
    return D, tuple(f"block[{int(b)}]" for b in levels[1:])
