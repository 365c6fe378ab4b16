"""The replication file format: a TOML file read with the standard library, validated into frozen dataclasses.

A replication file is data, never code: it names a data source, a design, ``estimate()`` calls and the published
values to reproduce. Derived columns come from a short whitelist of operations; nothing is evaluated.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalkit.errors import EvalkitError

__all__ = [
    "COLUMN_OPERATIONS",
    "DESIGNS",
    "INFERENCE_TYPES",
    "EstimateSpec",
    "Expectation",
    "ReplicationError",
    "ReplicationSpec",
    "SummarySpec",
    "read_replication",
]

#: Design classes a replication file may name (``[design] type = ...``).
DESIGNS: tuple[str, ...] = ("RandomizedTrial", "DiffInDiff", "StaggeredDiD")
#: Inference objects a replication file may build (``inference = {type = ...}``).
INFERENCE_TYPES: tuple[str, ...] = ("Sandwich", "RandomizationInference", "WildClusterBootstrap")
#: Operations for derived columns (``[data.columns] name = {op = ..., ...}``).
COLUMN_OPERATIONS: tuple[str, ...] = (
    "power",
    "product",
    "equals",
    "greater_equal",
    "and",
    "or",
    "difference",
    "unit_change",
)


class ReplicationError(EvalkitError, ValueError):
    """A replication file is malformed or names something that does not exist; the message names file and line."""


def _line_of(text: str, *needles: str) -> int | None:
    """The first line (1-based) of ``text`` containing every needle, to point error messages at the file."""
    for number, line in enumerate(text.splitlines(), start=1):
        if all(n in line for n in needles):
            return number
    return None


@dataclass(frozen=True)
class Expectation:
    """One published number: where it is in the results, its value, tolerance and source."""

    column: str
    value: float
    tolerance: float
    source: str
    outcome: str | None = None
    term: str | None = None
    label: str = ""
    line: int | None = None
    where: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EstimateSpec:
    """One ``estimate()`` call and the published numbers it should reproduce."""

    id: str
    arguments: Mapping[str, Any]
    expect: tuple[Expectation, ...]
    line: int | None = None


@dataclass(frozen=True)
class SummarySpec:
    """A descriptive number computed from the data (a share or mean over a subset), e.g. a published share.

    The results of a summary are one row with columns ``mean``, ``sum`` and ``n`` of ``column`` over the rows that
    match every ``where`` equality.
    """

    id: str
    column: str
    where: Mapping[str, Any]
    expect: tuple[Expectation, ...]
    line: int | None = None


@dataclass(frozen=True)
class ReplicationSpec:
    """A whole replication file."""

    path: Path
    name: str
    source: str
    data: Mapping[str, Any]
    columns: Mapping[str, Mapping[str, Any]]
    design: Mapping[str, Any]
    estimates: tuple[EstimateSpec, ...]
    summaries: tuple[SummarySpec, ...] = ()
    text: str = field(repr=False, default="")

    def where(self, *needles: str) -> str:
        """``file:line`` of the first line holding all needles (or just the file)."""
        line = _line_of(self.text, *needles)
        return f"{self.path}:{line}" if line else str(self.path)


def _require(table: Mapping[str, Any], key: str, what: str, path: Path, text: str) -> Any:
    if key not in table:
        line = _line_of(text, f"[{what}")
        where = f"{path}:{line}" if line else str(path)
        raise ReplicationError(f"{where}: [{what}] needs a '{key}' entry.")
    return table[key]


def _value_lines(text: str) -> list[int]:
    """Line numbers (1-based) of every ``value = ...`` entry, in file order (expectations are read in that order)."""
    return [n for n, line in enumerate(text.splitlines(), start=1) if line.strip().startswith("value")]


def _expectation(raw: Mapping[str, Any], path: Path, text: str, line: int | None) -> Expectation:
    for key in ("column", "value", "source"):
        if key not in raw:
            where = f"{path}:{line}" if line else str(path)
            raise ReplicationError(f"{where}: an [[estimate.expect]] entry needs '{key}' (has {sorted(raw)}).")
    where = f"{path}:{line}" if line else str(path)
    if not isinstance(raw["value"], int | float) or isinstance(raw["value"], bool):
        raise ReplicationError(f"{where}: value = {raw['value']!r} must be a number.")
    if "digits" in raw and (not isinstance(raw["digits"], int) or isinstance(raw["digits"], bool) or raw["digits"] < 0):
        raise ReplicationError(f"{where}: digits = {raw['digits']!r} must be a whole number >= 0.")
    if "tolerance" in raw and (
        not isinstance(raw["tolerance"], int | float)
        or isinstance(raw["tolerance"], bool)
        or not 0 <= raw["tolerance"] < float("inf")
    ):
        raise ReplicationError(f"{where}: tolerance = {raw['tolerance']!r} must be a finite number >= 0.")
    if "where" in raw and not isinstance(raw["where"], Mapping):
        raise ReplicationError(f'{where}: where = {raw["where"]!r} must be a table, e.g. where = {{ type = "x" }}.')
    if "tolerance" in raw and "digits" in raw:
        raise ReplicationError(f"{path}: give either tolerance or digits for {raw['column']!r}, not both.")
    if "digits" in raw:
        tolerance = 0.5 * 10 ** (-int(raw["digits"]))
    elif "tolerance" in raw:
        tolerance = float(raw["tolerance"])
    else:
        raise ReplicationError(
            f"{path}: expected value {raw['value']!r} of {raw['column']!r} needs a tolerance (absolute) or digits "
            "(the printed precision)."
        )
    unknown = set(raw) - {"column", "value", "tolerance", "digits", "source", "outcome", "term", "label", "where"}
    if unknown:
        raise ReplicationError(f"{path}: unknown key(s) {sorted(unknown)} in an [[estimate.expect]] entry.")
    return Expectation(
        column=str(raw["column"]),
        value=float(raw["value"]),
        tolerance=tolerance,
        source=str(raw["source"]),
        outcome=raw.get("outcome"),
        term=raw.get("term"),
        label=str(raw.get("label", "")),
        line=line,
        where=dict(raw.get("where", {})),
    )


def read_replication(path: str | Path) -> ReplicationSpec:
    """Read and check a replication file.

    Parameters
    ----------
    path : str or Path
        A ``.toml`` file.

    Returns
    -------
    ReplicationSpec

    Raises
    ------
    ReplicationError
        For malformed TOML, missing sections or keys, unknown designs, inference types or column operations,
        naming the file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise ReplicationError(f"replication file {str(path)!r} does not exist.")
    text = path.read_text(encoding="utf-8")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ReplicationError(f"{path}: not valid TOML ({exc}).") from exc
    study = _require(raw, "study", "study", path, text)
    for section in ("study", "data", "design"):
        if section in raw and not isinstance(raw[section], Mapping):
            raise ReplicationError(f"{path}:{_line_of(text, section)}: '{section}' must be a [{section}] table.")
    data = dict(_require(raw, "data", "data", path, text))
    columns = dict(data.pop("columns", {}))
    for name, op in columns.items():
        if not isinstance(op, Mapping) or op.get("op") not in COLUMN_OPERATIONS:
            line = _line_of(text, name, "op")
            raise ReplicationError(
                f"{path}:{line}: derived column {name!r} needs op = one of {', '.join(COLUMN_OPERATIONS)}."
            )
    sources = [k for k in ("sample", "csv", "loader") if k in data]
    if len(sources) != 1:
        line = _line_of(text, "[data")
        raise ReplicationError(
            f"{path}:{line}: [data] needs exactly one of sample = ..., csv = ... or loader = ... (found {sources})."
        )
    design = dict(_require(raw, "design", "design", path, text))
    dtype = _require(design, "type", "design", path, text)
    if dtype not in DESIGNS:
        raise ReplicationError(
            f"{path}:{_line_of(text, 'type', str(dtype))}: design type {dtype!r} is not one of {', '.join(DESIGNS)}."
        )
    estimates = []
    value_lines = iter(_value_lines(text))
    for i, est in enumerate(raw.get("estimate", [])):
        est = dict(est)
        expect_raw = est.pop("expect", [])
        est_id = str(est.pop("id", f"estimate {i + 1}"))
        if "outcomes" not in est and "outcome" not in est:
            raise ReplicationError(f"{path}:{_line_of(text, est_id)}: estimate {est_id!r} needs outcomes = [...].")
        inference = est.get("inference")
        if isinstance(inference, Mapping) and inference.get("type") not in INFERENCE_TYPES:
            raise ReplicationError(
                f"{path}:{_line_of(text, 'inference', 'type')}: inference type {inference.get('type')!r} is not one "
                f"of {', '.join(INFERENCE_TYPES)}."
            )
        estimates.append(
            EstimateSpec(
                id=est_id,
                arguments=est,
                expect=tuple(_expectation(e, path, text, next(value_lines, None)) for e in expect_raw),
                line=_line_of(text, est_id),
            )
        )
    summaries = []
    for i, summ in enumerate(raw.get("summary", [])):
        summ = dict(summ)
        summ_id = str(summ.get("id", f"summary {i + 1}"))
        if "column" not in summ:
            raise ReplicationError(f"{path}:{_line_of(text, summ_id)}: summary {summ_id!r} needs column = ....")
        unknown = set(summ) - {"id", "column", "where", "expect"}
        if unknown:
            raise ReplicationError(f"{path}:{_line_of(text, summ_id)}: unknown key(s) {sorted(unknown)} in summary.")
        summaries.append(
            SummarySpec(
                id=summ_id,
                column=str(summ["column"]),
                where=dict(summ.get("where", {})),
                expect=tuple(_expectation(e, path, text, next(value_lines, None)) for e in summ.get("expect", [])),
                line=_line_of(text, summ_id),
            )
        )
    if not estimates and not summaries:
        raise ReplicationError(f"{path}: no [[estimate]] or [[summary]] sections; nothing to replicate.")
    return ReplicationSpec(
        path=path,
        name=str(study.get("name", path.stem)),
        source=str(study.get("source", "")),
        data=data,
        columns=columns,
        design=design,
        estimates=tuple(estimates),
        summaries=tuple(summaries),
        text=text,
    )
