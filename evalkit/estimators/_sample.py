"""The estimation sample a design hands to an estimator: arrays only, no design knowledge."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["EstimationSample", "block_dummies", "weighted_mean"]


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
    covariate_names : tuple of str
        Names of the covariate columns.
    blocks : ndarray (n,) of int or None
        Block (stratum) codes 0..B-1.
    weights : ndarray (n,) or None
        Analytic weights.
    baseline : ndarray (n,) or None
        The outcome's baseline value (for the ``change`` estimator).
    treatment_name : str
        Name of the treatment term in results.
    """

    y: np.ndarray = field(repr=False)
    treatment: np.ndarray = field(repr=False)
    covariates: np.ndarray = field(repr=False)
    covariate_names: tuple[str, ...] = ()
    blocks: np.ndarray | None = field(default=None, repr=False)
    weights: np.ndarray | None = field(default=None, repr=False)
    baseline: np.ndarray | None = field(default=None, repr=False)
    treatment_name: str = "treated"

    @property
    def n_obs(self) -> int:
        return int(self.y.shape[0])


def weighted_mean(X: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """Column means of ``X``, weighted when ``weights`` is given."""
    if weights is None:
        return X.mean(axis=0)
    return (weights @ X) / weights.sum()


def block_dummies(blocks: np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    """Indicators for every block but the first (codes ``0..B-1``), and their names ``block[b]``."""
    levels = np.unique(blocks)
    D = (blocks[:, None] == levels[None, 1:]).astype(np.float64)
    return D, tuple(f"block[{int(b)}]" for b in levels[1:])
