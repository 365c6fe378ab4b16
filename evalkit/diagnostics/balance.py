"""Baseline covariate balance between treatment arms."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from evalkit._validation import to_float_array
from evalkit.errors import DataError, DesignError
from evalkit.estimators import EstimationSample, difference_in_means, fit_least_squares
from evalkit.estimators._sample import block_dummies
from evalkit.inference._base import InferenceContext
from evalkit.inference.analytic import DEGENERATE_RTOL, Sandwich, TTests, degenerate_note, degenerate_se, t_tests
from evalkit.inference.sandwich import sandwich

__all__ = ["BalanceTable", "balance_table"]

BALANCE_COLUMNS: tuple[str, ...] = (
    "covariate",
    "mean_treated",
    "mean_control",
    "sd_treated",
    "sd_control",
    "difference",
    "std_difference",
    "std_error",
    "p_value",
    "n_treated",
    "n_control",
    "n_missing",
)


@dataclass(frozen=True)
class BalanceTable:
    """Covariate balance: one row per covariate and a joint test that all are balanced.

    Attributes
    ----------
    joint_statistic : float
        Wald F statistic of the joint test.
    joint_df : tuple of float
        Numerator and denominator degrees of freedom.
    joint_p_value : float
        p-value of the joint test.
    joint_n_obs : int
        Complete cases used by the joint test.
    inference : str
        Covariance used for the tests.
    joint_method : str
        How the joint F and its df were formed (see :meth:`evalkit.inference.Sandwich.joint_test`).
    notes : tuple of str
        Caveats, e.g. covariates whose standard error or within-arm standard deviations are zero up to rounding
        (reported as NaN).
    """

    _table: pd.DataFrame = field(repr=False)
    joint_statistic: float
    joint_df: tuple[float, float]
    joint_p_value: float
    joint_n_obs: int
    inference: str
    joint_method: str = ""
    notes: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        """The balance table, one row per covariate (a copy)."""
        return self._table.copy()

    def summary(self, digits: int = 3) -> str:
        """Readable text: the table and the joint test."""
        body = self._table.to_string(index=False, float_format=lambda v: f"{v:.{digits}f}")
        text = (
            f"{body}\n\nJoint test ({self.inference}): F({self.joint_df[0]:g}, {self.joint_df[1]:g}) = "
            f"{self.joint_statistic:.{digits}f}, p = {self.joint_p_value:.{digits}f}, n = {self.joint_n_obs}"
            if self.joint_df[0] > 0
            else f"{body}\n\nJoint test: not computed (no covariate varies among the complete rows)."
        )
        return text + "".join(f"\nNote: {note}" for note in self.notes)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        return self._table.to_html(index=False, float_format=lambda v: f"{v:.3f}") + (
            f"<p>Joint test ({self.inference}): F = {self.joint_statistic:.3f}, p = {self.joint_p_value:.3f}</p>"
        )


def _arms_in_blocks(
    block_codes: np.ndarray, treatment: np.ndarray, what: str, labels: np.ndarray | None = None
) -> None:
    """Raise a DesignError naming the first block code left without treated or control rows."""
    treated = np.bincount(block_codes, weights=treatment)
    total = np.bincount(block_codes)
    for b in np.flatnonzero(total):
        if treated[b] in (0, total[b]):
            arm = "treated" if treated[b] == 0 else "control"
            raise DesignError(
                f"{what}: block {labels[b] if labels is not None else b!r} has no {arm} rows, so a within-block "
                "comparison is impossible; drop or impute the missing values, or merge the block."
            )


def difference_test(
    y: np.ndarray,
    treatment: np.ndarray,
    cov_type: str,
    *,
    block_codes: np.ndarray | None = None,
    cluster_codes: np.ndarray | None = None,
    alpha: float = 0.05,
) -> tuple[float, TTests]:
    """Difference in means (block-size weighted) and its robust two-sided t test.

    Returns
    -------
    estimate : float
    test : TTests
        From :func:`evalkit.inference.analytic.t_tests` with the variable's standard deviation as the scale: a
        standard error that is zero up to rounding is NaN there (``test.degenerate``), with no p-value.
    """
    sample = EstimationSample(y=y, treatment=treatment, covariates=np.empty((y.size, 0)), blocks=block_codes)
    fit = difference_in_means(sample)
    cov = sandwich(fit.X, fit.residuals, cov_type, clusters=cluster_codes, df_for=[fit.target])
    se = float(np.sqrt(cov.vcov[fit.target, fit.target]))
    test = t_tests(fit.estimate, se, cov.df[fit.target], alpha=alpha, scale=float(np.std(y)))
    return fit.estimate, test


def balance_table(
    data: pd.DataFrame,
    covariates: list[str],
    *,
    treatment: np.ndarray,
    block_codes: np.ndarray | None = None,
    cluster_codes: np.ndarray | None = None,
    alpha: float = 0.05,
    block_labels: np.ndarray | None = None,
) -> BalanceTable:
    """Compare covariate means between arms and test them one by one and jointly.

    Parameters
    ----------
    data : DataFrame
        The design's data.
    covariates : list of str
        Numeric pre-treatment covariates.
    treatment : ndarray
        0/1 treatment per row.
    block_codes, cluster_codes : ndarray, optional
        Block and cluster codes per row.
    alpha : float
        One minus the confidence level (the table reports no intervals; kept for symmetry with ``estimate``).

    Returns
    -------
    BalanceTable

    Notes
    -----
    Per covariate (available cases): arm means and SDs, the difference in means (block-size weighted within
    blocks), the standardized difference :math:`(\\bar x_1 - \\bar x_0)/\\sqrt{(s_1^2 + s_0^2)/2}` (Imbens &
    Rubin 2015, eq. 14.2), and its HC2 (CR2 when clustered) t test with :math:`n-2` (Bell-McCaffrey) df, through
    :func:`evalkit.inference.analytic.t_tests`. A standard error, or a pooled SD :math:`\\sqrt{(s_1^2+s_0^2)/2}`,
    that is zero up to rounding relative to the covariate's scale (its standard deviation, or the difference
    when larger; :func:`evalkit.inference.analytic.degenerate_se`) is reported as NaN with a note, never as
    p = 0 or a standardized difference of 1e15 (e.g. a covariate that is constant within each arm).

    Joint test (complete cases): regress treatment on the covariates (and block indicators) and test that all
    covariate coefficients are zero with :meth:`evalkit.inference.Sandwich.joint_test`, as DiD's pre-trend test:
    with HC2, :math:`F = \\hat\\beta' \\hat V^{-1} \\hat\\beta / q` on :math:`(q, n-k)` df; with CR2, the
    Hotelling :math:`T^2` approximation :math:`F = W(\\eta - q + 1)/(\\eta q)` on :math:`(q, \\eta - q + 1)` df,
    :math:`\\eta` the smallest Bell-McCaffrey df of the :math:`q` coefficients (Pustejovsky and Tipton 2018,
    J. Bus. Econ. Stat. 36(4):672-683, sec. 3); NaN when :math:`\\eta \\le q - 1`.
    """
    if not covariates:
        raise DataError("balance needs at least one covariate.")
    X_all = to_float_array(data, covariates, "covariate")
    cov_type = "CR2" if cluster_codes is not None else "HC2"
    rows = []
    no_se: list[str] = []  # standard error zero up to rounding
    no_sd: list[str] = []  # pooled within-arm SD zero up to rounding
    for j, name in enumerate(covariates):
        x = X_all[:, j]
        ok = ~np.isnan(x)
        z = treatment[ok]
        x1, x0 = x[ok][z == 1], x[ok][z == 0]
        if x1.size < 2 or x0.size < 2:
            raise DataError(f"covariate {name!r} has fewer than two non-missing values in an arm.")
        if block_codes is not None:
            _arms_in_blocks(block_codes[ok], z, f"covariate {name!r} (non-missing rows)", block_labels)
        s1, s0 = float(np.std(x1, ddof=1)), float(np.std(x0, ddof=1))
        pooled = float(np.sqrt((s1**2 + s0**2) / 2))
        raw_difference = float(x1.mean() - x0.mean())
        diff, test = difference_test(
            x[ok],
            z,
            cov_type,
            block_codes=None if block_codes is None else block_codes[ok],
            cluster_codes=None if cluster_codes is None else cluster_codes[ok],
            alpha=alpha,
        )
        if test.degenerate[0]:
            no_se.append(name)
        flat = bool(degenerate_se(pooled, raw_difference, float(np.std(x[ok]))).item())  # the one rule, for SDs
        if flat:
            no_sd.append(name)
        rows.append(
            {
                "covariate": name,
                "mean_treated": float(x1.mean()),
                "mean_control": float(x0.mean()),
                "sd_treated": s1,
                "sd_control": s0,
                "difference": diff,
                "std_difference": np.nan if flat else raw_difference / pooled,
                "std_error": float(test.std_error[0]),
                "p_value": float(test.p_value[0]),
                "n_treated": int(x1.size),
                "n_control": int(x0.size),
                "n_missing": int((~ok).sum()),
            }
        )
    table = pd.DataFrame(rows, columns=list(BALANCE_COLUMNS))

    notes = []
    if no_se:
        notes.append(degenerate_note(no_se))
    if no_sd:
        shown = ", ".join(map(repr, no_sd))
        notes.append(
            f"Covariate(s) {shown} are constant within each arm up to rounding (pooled SD at most "
            f"{DEGENERATE_RTOL:g} of the covariate's scale): their standardized difference is reported as NaN."
        )

    ok = ~np.isnan(X_all).any(axis=1)
    varying = [j for j in range(len(covariates)) if np.ptp(X_all[ok, j]) > 0]
    wald, q, df2, p_joint, method = np.nan, 0, np.nan, np.nan, ""
    if varying:
        Xc = X_all[ok][:, varying]
        parts = [np.ones((int(ok.sum()), 1)), Xc]
        names = ["(Intercept)", *(covariates[j] for j in varying)]
        if block_codes is not None and np.unique(block_codes[ok]).size > 1:
            D, dnames = block_dummies(block_codes[ok])
            parts.append(D)
            names += list(dnames)
        X = np.column_stack(parts)
        fit = fit_least_squares(treatment[ok], X, tuple(names), 1)
        clusters = None if cluster_codes is None else cluster_codes[ok]
        context = InferenceContext(alpha=alpha, clusters=clusters)
        joint = Sandwich(cov_type).joint_test(fit, context, list(range(1, 1 + len(varying))))
        if joint is not None:
            wald, q, df2, p_joint, method = (
                joint.statistic,
                len(joint.terms),
                joint.df_denom,
                joint.p_value,
                joint.method,
            )
            if not np.isfinite(p_joint):
                notes.append(
                    "Joint test: no p-value, because a covariate coefficient's standard error in the regression of "
                    "treatment on the covariates is zero up to rounding (e.g. a covariate that predicts treatment "
                    "exactly), or too few Bell-McCaffrey df are left for the Hotelling approximation."
                )
    return BalanceTable(
        _table=table,
        joint_statistic=wald,
        joint_df=(float(q), df2),
        joint_p_value=p_joint,
        joint_n_obs=int(ok.sum()),
        inference=cov_type,
        joint_method=method,
        notes=tuple(notes),
    )
