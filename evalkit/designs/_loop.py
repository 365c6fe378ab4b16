"""The one estimation loop and the one tidy-row builder that every design's ``estimate()`` runs.

A design prepares each outcome (its complete cases, estimation sample and inference context) and says which terms
it reports and which extra columns they carry; this module fits the registered estimator, asks the inference
method for every term through the :class:`~evalkit.inference.InferenceMethod` protocol, and assembles the tidy,
immutable :class:`~evalkit.results.Results`. Nothing here knows which design it serves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from evalkit.errors import DataError
from evalkit.estimators import EstimationSample, Estimator, LinearFit
from evalkit.inference._base import InferenceContext, InferenceMethod, InferenceOutcome, JointTest
from evalkit.results import DROPPED_COLUMNS, RESULT_COLUMNS, OutcomeFit, Results

__all__ = ["OutcomeDesign", "PreparedOutcome", "assemble_results", "estimate_each", "tidy_row", "tidy_table"]


@dataclass(frozen=True)
class PreparedOutcome:
    """One outcome as a design prepared it.

    Attributes
    ----------
    outcome : str
        The outcome's name.
    sample : EstimationSample
        The estimation sample (complete cases).
    context : InferenceContext
        What the inference method gets for it (clusters, draws, the small-sample correction, ...).
    dropped : tuple of dict
        Records of the rows dropped for missing values or by a design rule (``DROPPED_COLUMNS``).
    """

    outcome: str
    sample: EstimationSample = field(repr=False)
    context: InferenceContext = field(repr=False)
    dropped: tuple[dict[str, object], ...] = ()


def _target_only(fit: LinearFit) -> list[int]:
    return [fit.target]


def _no_joint_test(fit: LinearFit, terms: Sequence[int]) -> list[int]:
    return []


def _no_check(prepared: PreparedOutcome) -> None:
    return None


@dataclass(frozen=True)
class OutcomeDesign:
    """What the loop needs from a design, as callables.

    Attributes
    ----------
    prepare : callable
        ``prepare(outcome) -> PreparedOutcome``; raises a :class:`~evalkit.errors.DataError` naming the problem.
    columns : callable
        ``columns(prepared, fit, term, joint) -> dict``: the design's columns of the row of coefficient ``term``
        (they may override the tidy row's ``n_treated`` / ``n_control``).
    terms : callable, optional
        ``terms(fit) -> list of int``: the reported coefficients (default: the target).
    joint_terms : callable, optional
        ``joint_terms(fit, terms) -> list of int``: coefficients tested jointly (default: none), e.g. an event
        study's leads; the test is the method's :meth:`~evalkit.inference.InferenceMethod.joint_test`.
    check : callable, optional
        ``check(prepared)``: a design's last check before inference (e.g. clusters per arm).
    joint_name : str, default "pretrend_test"
        The key under which the joint test is kept in ``Results.fits[outcome].inference`` (an event study's
        ``"pretrend_test"``, a trial's ``"heterogeneity_test"`` of its moderators).
    """

    prepare: Callable[[str], PreparedOutcome]
    columns: Callable[[PreparedOutcome, LinearFit, int, JointTest | None], dict[str, object]]
    terms: Callable[[LinearFit], list[int]] = _target_only
    joint_terms: Callable[[LinearFit, Sequence[int]], list[int]] = _no_joint_test
    check: Callable[[PreparedOutcome], None] = _no_check
    joint_name: str = "pretrend_test"


@dataclass(frozen=True)
class _Estimated:
    rows: list[dict[str, object]]
    fits: dict[str, OutcomeFit]
    dropped: list[dict[str, object]]
    notes: list[str]


def tidy_row(
    outcome: str, fit: LinearFit, term: int, out: InferenceOutcome, *, estimator: str, treatment: np.ndarray
) -> dict[str, object]:
    """The contract columns of one reported coefficient (``RESULT_COLUMNS`` up to ``inference``); the loop adds the
    design's columns, then the inference method's own (``out.columns``)."""
    z = np.asarray(treatment)
    return {
        "outcome": outcome,
        "domain": None,
        "term": fit.term_names[term],
        "estimate": float(fit.coef[term]),
        "std_error": out.std_error,
        "statistic": out.statistic,
        "p_value": out.p_value,
        "conf_low": out.conf_low,
        "conf_high": out.conf_high,
        "df": out.df,
        "n_obs": fit.n_obs,
        "n_treated": int((z == 1).sum()),
        "n_control": int((z == 0).sum()),
        "n_clusters": out.n_clusters,
        "estimator": estimator,
        "inference": out.label,
    }


def estimate_each(
    outcomes: Sequence[str], estimator: Estimator, method: InferenceMethod, design: OutcomeDesign
) -> _Estimated:
    """Fit ``estimator`` to each outcome the design prepares and infer every reported term with ``method``.

    Raises
    ------
    DataError
        If the covariates fit an outcome perfectly (every residual zero): standard errors would be zero.
    """
    rows: list[dict[str, object]] = []
    fits: dict[str, OutcomeFit] = {}
    dropped: list[dict[str, object]] = []
    notes: list[str] = []
    for outcome in outcomes:
        prepared = design.prepare(outcome)
        dropped.extend(prepared.dropped)
        sample = prepared.sample
        fit = estimator.fit(sample)
        if sample.covariate_names and np.linalg.norm(fit.residuals) <= 1e-12 * np.linalg.norm(fit.y):
            raise DataError(
                f"the covariates ({', '.join(map(str, sample.covariate_names))}) fit outcome {outcome!r} perfectly: "
                "every residual is zero, so standard errors would be zero. Usually a covariate is a copy or a "
                "transformation of the outcome; remove it."
            )
        ctx = prepared.context
        design.check(prepared)
        terms = design.terms(fit)
        outs = method.infer_terms(fit, ctx, terms)
        joint_terms = design.joint_terms(fit, terms)
        joint = method.joint_test(fit, ctx, joint_terms) if joint_terms else None
        for j, out in zip(terms, outs, strict=True):
            rows.append(
                {
                    **tidy_row(outcome, fit, j, out, estimator=estimator.name, treatment=sample.treatment),
                    **design.columns(prepared, fit, j, joint),
                    **dict(out.columns),
                }
            )
            notes.extend(n for n in out.notes if n not in notes)
        fits[outcome] = OutcomeFit(
            fit=replace(fit, design=None) if isinstance(fit, LinearFit) else fit,  # its SVD basis is not kept (n x k)
            rows=ctx.rows,
            clusters=ctx.clusters,
            inference={**dict(outs[0].extra), **({design.joint_name: joint} if joint is not None else {})},
            method=method,
            correction=ctx.correction,
        )
    return _Estimated(rows=rows, fits=fits, dropped=dropped, notes=notes)


_DROPPED_NOTE = (
    "Rows with missing values (or left out by a rule of the design) were dropped outcome by outcome; see "
    "Results.dropped for counts and reasons."
)


def tidy_table(rows: Sequence[Mapping[str, object]] | Mapping[str, object], size: int | None = None) -> pd.DataFrame:
    """The tidy table: every contract column (``RESULT_COLUMNS``) first, in order, then the others in order of
    appearance; a contract column a design does not fill is NaN (``None`` for ``domain``).

    ``rows`` is a list of row dicts, or a dict of columns (scalars or arrays of length ``size``).
    """
    if isinstance(rows, Mapping):  # one DataFrame construction: inserting columns one by one is slow in pandas
        n = int(size if size is not None else 1)
        columns = {k: (v if np.ndim(v) else [v] * n) for k, v in rows.items()}
        ordered = {
            c: columns[c] if c in columns else np.full(n, None, dtype=object) if c == "domain" else np.full(n, np.nan)
            for c in RESULT_COLUMNS
        }
        ordered.update((c, v) for c, v in columns.items() if c not in ordered)
        return pd.DataFrame(ordered, index=pd.RangeIndex(n))
    frame = pd.DataFrame(list(rows))
    for column in RESULT_COLUMNS:
        if column not in frame:
            frame[column] = None if column == "domain" else np.nan
    extra = [c for c in frame.columns if c not in RESULT_COLUMNS]
    return frame[[*RESULT_COLUMNS, *extra]]


def assemble_results(
    rows: Sequence[Mapping[str, object]] | pd.DataFrame,
    *,
    estimator: str,
    design: str,
    alpha: float,
    notes: Sequence[str],
    dropped: Sequence[Mapping[str, object]] | pd.DataFrame = (),
    fits: Mapping[str, OutcomeFit] | None = None,
    domains: Mapping[str, str] | None = None,
    integer_columns: Sequence[str] = ("n_clusters",),
    dropped_note: str | None = _DROPPED_NOTE,
) -> Results:
    """The immutable ``Results`` every design returns, from its rows (or its :func:`tidy_table`).

    Adds ``dropped_note`` when rows were dropped; the ``inference`` label is the rows' common one, or ``"mixed"``.
    """
    table = rows.copy() if isinstance(rows, pd.DataFrame) else tidy_table(rows)
    for column in integer_columns:
        if column in table:
            table[column] = pd.array(table[column].to_numpy(dtype=object), dtype="Int64")
    if domains is not None:
        table["domain"] = table["outcome"].map(dict(domains))
    dropped_frame = (
        dropped.copy() if isinstance(dropped, pd.DataFrame) else pd.DataFrame(list(dropped), columns=DROPPED_COLUMNS)
    )
    all_notes = list(notes)
    if len(dropped_frame) and dropped_note is not None and dropped_note not in all_notes:  # once (subgroups pass
        all_notes.append(dropped_note)  # on each subgroup's notes, which may hold it already)
    labels = table["inference"].astype(str).unique()
    return Results(
        _table=table,
        estimator=estimator,
        inference=str(labels[0]) if len(labels) == 1 else "mixed",
        design=design,
        alpha=alpha,
        _dropped=dropped_frame,
        notes=tuple(all_notes),
        fits=dict(fits or {}),
    )
