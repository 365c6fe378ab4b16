"""The frozen result of a power calculation: the inputs, the answer, and a power curve."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from evalkit.planning._designs import DesignName
from evalkit.planning._power import Alternative, Method, power_of_test

if TYPE_CHECKING:
    from collections.abc import Sequence

    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["PlanningInputs", "PlanningResult"]

Quantity = Literal["mde", "power", "sample_size"]


@dataclass(frozen=True)
class PlanningInputs:
    """The arguments of the call, as given (``None`` where not given; sizes before attrition)."""

    n: float | None
    n_treated: float | None
    n_control: float | None
    n_clusters: float | None
    cluster_size: float | None
    n_blocks: int | None
    icc: float
    share_treated: float
    r2_cluster: float
    r2_individual: float
    n_covariates: int
    n_cluster_covariates: int
    attrition: float
    take_up: float
    autocorrelation_cluster: float
    autocorrelation_individual: float
    alpha: float
    power: float | None
    effect: float | None
    mde: float | None
    design: Literal["trial", "did"]
    method: Method
    alternative: Alternative


@dataclass(frozen=True)
class PlanningResult:
    """Minimum detectable effect, power or sample size of one planned design.

    Attributes
    ----------
    quantity : {"mde", "power", "sample_size"}
        What was solved for.
    design : {"individual", "blocked", "cluster", "blocked_cluster", "did"}
        The design the arguments describe.
    mde : float
        Minimum detectable effect at ``power`` (outcome SD units; of the complier average causal effect when
        ``take_up < 1``).
    power : float
        Power at ``effect`` (for ``quantity="mde"``, the target power; for ``"sample_size"``, the power reached at
        the returned size, at least the target).
    effect : float
        The effect the power refers to (equals ``mde`` for an MDE query).
    sample_size : int or None
        For ``quantity="sample_size"``: the number of ``sample_unit`` needed (before attrition).
    sample_unit : {"units", "clusters"}
        What the sample size counts.
    standard_error : float
        Standard error of the intention-to-treat estimate in outcome SD units (after attrition).
    df : float
        Degrees of freedom of the design's t test.
    method, alternative, alpha
        How power was computed (see :func:`evalkit.planning.power`).
    formula : str
        The variance formula used, with its PowerUp! design name.
    inputs : PlanningInputs
        The call's arguments.
    notes : tuple of str
        Approximations used and adjustments made.
    """

    quantity: Quantity
    design: DesignName
    mde: float
    power: float
    effect: float
    sample_size: int | None
    sample_unit: Literal["units", "clusters"]
    standard_error: float
    df: float
    method: Method
    alternative: Alternative
    alpha: float
    formula: str
    inputs: PlanningInputs
    notes: tuple[str, ...] = ()

    def power_at(self, effect: float | Sequence[float] | np.ndarray) -> np.ndarray:
        """Power of this design (at its sample size) against each effect in ``effect`` (outcome SD units)."""
        effects = np.atleast_1d(np.asarray(effect, dtype=float))
        ncp = np.abs(effects) * self.inputs.take_up / self.standard_error
        return np.array(
            [power_of_test(float(x), self.alpha, self.df, self.alternative, self.method) for x in ncp], dtype=float
        )

    def to_frame(self) -> pd.DataFrame:
        """One row: the answer (quantity, design, mde, power, effect, sample_size, ...) then the inputs."""
        row = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("inputs", "notes")}
        for name, value in dataclasses.asdict(self.inputs).items():
            row.setdefault(name, value)
        row["notes"] = "; ".join(self.notes)
        return pd.DataFrame([row])

    def summary(self) -> str:
        """A few lines of text: design, answer and the main inputs."""
        size = "" if self.sample_size is None else f"sample size: {self.sample_size} {self.sample_unit}\n"
        return (
            f"Planning ({self.design} design, {self.method} power, {self.alternative}, alpha = {self.alpha:g})\n"
            f"{size}MDE at power {self.power if self.quantity == 'mde' else self.inputs.power or 0.8:.3g}: "
            f"{self.mde:.4f} SD\n"
            f"power against {self.effect:.4f} SD: {self.power:.4f}\n"
            f"standard error {self.standard_error:.4f} SD, df = {self.df:g}\n{self.formula}"
        )

    def __str__(self) -> str:
        return self.summary()

    def plot(
        self, effects: Sequence[float] | np.ndarray | None = None, *, ax: Axes | None = None
    ) -> tuple[Figure, Axes]:
        """Power curve: power against the true effect (SD units), with the MDE marked.

        Parameters
        ----------
        effects : array-like, optional
            Effects at which to draw the curve; default 0 to 2.5 times the MDE.
        ax : matplotlib Axes, optional
            Draw here instead of on a new figure.

        Returns
        -------
        (Figure, Axes)
            Artists are labelled ``"power curve"`` and ``"mde"``.
        """
        grid = np.linspace(0.0, 2.5 * self.mde, 201) if effects is None else np.asarray(effects, dtype=float)
        if ax is None:
            import matplotlib.pyplot as plt

            fig, ax = plt.subplots(figsize=(5.5, 3.8), layout="constrained")
        else:
            fig = ax.figure
        ax.plot(grid, self.power_at(grid), label="power curve", color="C0")
        target = self.power if self.quantity == "mde" else (self.inputs.power or 0.8)
        ax.axvline(self.mde, linestyle="--", color="0.4", label="mde")
        ax.axhline(target, linestyle=":", color="0.6")
        ax.set_xlabel("true effect (outcome SD)" + (" of compliers" if self.inputs.take_up < 1 else ""))
        ax.set_ylabel("power")
        ax.set_ylim(0, 1.02)
        ax.set_title(f"{self.design} design: MDE {self.mde:.3f} at power {target:.2f}")
        ax.legend(loc="lower right")
        return fig, ax
