"""Attrition: who is missing an outcome, by arm, and whether the arms lost different people."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from evalkit.diagnostics.balance import BalanceTable, balance_table, difference_test
from evalkit.errors import EvalkitError

__all__ = ["AttritionTable", "attrition_table"]

ATTRITION_COLUMNS: tuple[str, ...] = (
    "outcome",
    "n_treated",
    "n_control",
    "missing_treated",
    "missing_control",
    "rate_treated",
    "rate_control",
    "difference",
    "std_error",
    "p_value",
)


@dataclass(frozen=True)
class AttritionTable:
    """Attrition by outcome and arm, with a test of differential attrition.

    Attributes
    ----------
    inference : str
        Covariance used for the tests.
    retained_balance : dict of str to BalanceTable
        Per outcome, baseline balance among units with the outcome observed (when covariates were given).
    """

    _table: pd.DataFrame = field(repr=False)
    inference: str
    retained_balance: dict[str, BalanceTable] = field(default_factory=dict, repr=False)
    notes: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        """One row per outcome (a copy)."""
        return self._table.copy()

    def summary(self, digits: int = 3) -> str:
        """Readable text."""
        text = self._table.to_string(index=False, float_format=lambda v: f"{v:.{digits}f}")
        return "\n".join([text, *(f"Note: {n}" for n in self.notes)])

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        return self._table.to_html(index=False, float_format=lambda v: f"{v:.3f}")


def attrition_table(
    data: pd.DataFrame,
    outcomes: list[str],
    *,
    treatment: np.ndarray,
    covariates: list[str] | None = None,
    block_codes: np.ndarray | None = None,
    cluster_codes: np.ndarray | None = None,
    block_labels: np.ndarray | None = None,
) -> AttritionTable:
    """Attrition rates by arm and the difference between them, per outcome.

    Notes
    -----
    For outcome :math:`y`, let :math:`R_i = 1[y_i \\text{ missing}]`. The differential attrition is the difference
    in means of :math:`R` between arms (block-size weighted within blocks) with an HC2 (CR2 when clustered) t test,
    as recommended by the What Works Clearinghouse standards and Gerber & Green (2012, ch. 7). When covariates are
    given, the balance of baseline covariates among the retained units is reported too: imbalance there signals
    that attrition may bias the comparison even when the rates are equal.
    """
    cov_type = "CR2" if cluster_codes is not None else "HC2"
    rows = []
    retained: dict[str, BalanceTable] = {}
    notes: list[str] = []
    for outcome in outcomes:
        missing = data[outcome].isna().to_numpy().astype(np.float64)
        t, c = treatment == 1, treatment == 0
        diff, se, p = float(missing[t].mean() - missing[c].mean()), 0.0, np.nan
        if np.ptp(missing) > 0:
            diff, test = difference_test(
                missing, treatment, cov_type, block_codes=block_codes, cluster_codes=cluster_codes
            )
            se, p = float(test.std_error[0]), float(test.p_value[0])
            notes.extend(test.notes([f"the attrition difference for {outcome!r}"]))
            if covariates:
                keep = missing == 0
                try:
                    retained[outcome] = balance_table(
                        data.loc[keep],
                        covariates,
                        treatment=treatment[keep],
                        block_codes=None if block_codes is None else block_codes[keep],
                        cluster_codes=None if cluster_codes is None else cluster_codes[keep],
                        block_labels=block_labels,
                    )
                except EvalkitError as error:
                    notes.append(f"Balance among units retained for {outcome!r} not computed: {error}")
        rows.append(
            {
                "outcome": outcome,
                "n_treated": int(t.sum()),
                "n_control": int(c.sum()),
                "missing_treated": int(missing[t].sum()),
                "missing_control": int(missing[c].sum()),
                "rate_treated": float(missing[t].mean()),
                "rate_control": float(missing[c].mean()),
                "difference": diff,
                "std_error": se,
                "p_value": p,
            }
        )
    return AttritionTable(
        _table=pd.DataFrame(rows, columns=list(ATTRITION_COLUMNS)),
        inference=cov_type,
        retained_balance=retained,
        notes=tuple(notes),
    )
