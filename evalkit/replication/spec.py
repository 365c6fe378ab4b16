"""The replication file format: a TOML file read with the standard library, validated into frozen dataclasses.

A replication file is data, never code: it names a data source, a design, ``estimate()`` calls (or, with
``method = "subgroups"`` or ``"bounds"``, calls of the design's ``subgroups()`` / ``bounds()``; with ``method =
"sensitivity"``, an ``estimate()`` of an event study followed by ``Results.sensitivity()``) and the published
(or derived) values to reproduce. Derived columns come from a short whitelist of operations; nothing is evaluated.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalkit.errors import EvalkitError

__all__ = [
    "ASSIGNMENT_TYPES",
    "COLUMN_OPERATIONS",
    "DESIGNS",
    "INFERENCE_TYPES",
    "MAX_REPS",
    "METHODS",
    "SENSITIVITY_KEYS",
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
#: Assignment specs a replication file may name (``[design] assignment = {type = ...}``); nothing else is resolved.
ASSIGNMENT_TYPES: tuple[str, ...] = (
    "CompleteRandomization",
    "BlockRandomization",
    "ClusterRandomization",
    "BlockClusterRandomization",
    "NotRandomized",
)
#: The largest ``reps`` a replication file may ask of a resampling method (a file is data: it must not be able to
#: ask for more work than a replication run can do).
MAX_REPS: int = 10_000_000
#: Design methods an ``[[estimate]]`` may call (``method = ...``, default ``"estimate"``); nothing else is resolved.
#: ``"subgroups"`` takes ``by = ...``; ``"bounds"`` takes one ``outcome = ...`` and returns one row (``to_frame()``);
#: ``"sensitivity"`` takes one ``outcome = ...``, ``estimate = {...}`` (the event study's ``estimate()`` arguments)
#: and ``sensitivity = {...}`` (``Results.sensitivity()`` arguments, keys from :data:`SENSITIVITY_KEYS`).
METHODS: tuple[str, ...] = ("estimate", "subgroups", "bounds", "sensitivity")
#: The keys of a ``sensitivity = {...}`` table and what each must be (checked when the file is read).
SENSITIVITY_KEYS: tuple[str, ...] = (
    "method",
    "mbar",
    "m",
    "e",
    "l_vec",
    "alpha",
    "interval",
    "grid_points",
    "sims",
    "seed",
)
#: Bounds on the work a sensitivity table may ask for: values of M / Mbar, grid points and simulations.
_MAX_SENSITIVITY_VALUES, _MAX_GRID_POINTS, _MAX_SIMS = 200, 20_000, 100_000
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


#: The keys each column operation takes (besides ``op``): ``column`` (one column name), ``columns`` (a list of
#: column names, with its minimum and maximum length), ``value`` (a string, number or boolean), ``exponent``
#: (a number), ``unit`` / ``time`` (column names).
_OPERATION_KEYS: dict[str, dict[str, str]] = {
    "power": {"column": "name", "exponent": "number"},
    "product": {"columns": "names"},
    "equals": {"column": "name", "value": "scalar"},
    "greater_equal": {"column": "name", "value": "scalar"},
    "and": {"columns": "names"},
    "or": {"columns": "names"},
    "difference": {"columns": "two names"},
    "unit_change": {"column": "name", "unit": "name", "time": "name"},
}


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


def _expectations(raw: Any, owner: str, path: Path, text: str, lines: Any) -> tuple[Expectation, ...]:
    """The ``expect`` entries of an estimate or summary (each a table), read in file order."""
    if not isinstance(raw, list) or not all(isinstance(e, Mapping) for e in raw):
        raise ReplicationError(f"{path}:{_line_of(text, 'expect')}: {owner}: expect must be [[...expect]] tables.")
    return tuple(_expectation(e, path, text, next(lines, None)) for e in raw)


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


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_operation(name: str, op: Mapping[str, Any], path: Path, text: str) -> None:
    """Refuse a derived column whose keys are missing, unknown or of the wrong type (naming file, line and key)."""
    where = f"{path}:{_line_of(text, name, 'op') or _line_of(text, name)}"
    keys = _OPERATION_KEYS[op["op"]]
    unknown = sorted(set(op) - set(keys) - {"op"})
    if unknown:
        raise ReplicationError(
            f"{where}: derived column {name!r} (op = {op['op']!r}) has unknown key(s) {unknown}; it takes "
            f"{', '.join(sorted(keys))}."
        )
    for key, kind in keys.items():
        if key not in op:
            raise ReplicationError(f"{where}: derived column {name!r} (op = {op['op']!r}) needs {key} = ....")
        value = op[key]
        if kind == "name":
            ok = isinstance(value, str)
            wanted = "a column name (a string)"
        elif kind == "number":
            ok = _is_number(value) and abs(value) < float("inf")
            wanted = "a finite number"
        elif kind == "scalar":
            ok = isinstance(value, str | bool) or (_is_number(value) and value == value)
            wanted = "a string, number or boolean"
        else:
            size = 2 if kind == "two names" else None
            ok = (
                isinstance(value, list)
                and all(isinstance(v, str) for v in value)
                and (len(value) == size if size else len(value) >= 1)
            )
            wanted = "a list of two column names" if size else "a non-empty list of column names"
        if not ok:
            raise ReplicationError(f"{where}: derived column {name!r}: {key} = {value!r} must be {wanted}.")


def _check_inference(est_id: str, inference: Mapping[str, Any], path: Path, text: str) -> None:
    where = f"{path}:{_line_of(text, 'inference', 'type')}"
    if inference.get("type") not in INFERENCE_TYPES:
        raise ReplicationError(
            f"{where}: estimate {est_id!r}: inference type {inference.get('type')!r} is not one of "
            f"{', '.join(INFERENCE_TYPES)}."
        )
    reps = inference.get("reps")
    if reps is not None and (not isinstance(reps, int) or isinstance(reps, bool) or not 1 <= reps <= MAX_REPS):
        raise ReplicationError(
            f"{where}: estimate {est_id!r}: inference reps = {reps!r} must be a whole number from 1 to "
            f"{MAX_REPS:_} in a replication file (e.g. reps = 10_000)."
        )


def _whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _check_sensitivity(est_id: str, est: Mapping[str, Any], path: Path, text: str) -> None:
    """Refuse a ``method = "sensitivity"`` estimate whose keys or values are not what ``Results.sensitivity`` takes,
    naming file, line and key; the work it may ask for is bounded (values, grid points, simulations)."""
    where = f"{path}:{_line_of(text, 'sensitivity', '{') or _line_of(text, est_id)}"
    head = f"estimate {est_id!r} (method = 'sensitivity')"
    unknown = sorted(set(est) - {"method", "outcome", "estimate", "sensitivity"})
    if unknown:
        raise ReplicationError(
            f"{where}: {head} has unknown key(s) {unknown}; it takes outcome, estimate = {{...}} and sensitivity = "
            "{...}."
        )
    if not isinstance(est.get("outcome"), str):
        raise ReplicationError(f'{where}: {head} takes one outcome, e.g. outcome = "social_capital".')
    call = est.get("estimate", {})
    if not isinstance(call, Mapping):
        raise ReplicationError(f"{where}: {head}: estimate = {call!r} must be a table of estimate() arguments.")
    if isinstance(call.get("inference"), Mapping):
        _check_inference(est_id, call["inference"], path, text)
    table = est.get("sensitivity")
    if not isinstance(table, Mapping):
        raise ReplicationError(
            f'{where}: {head} needs sensitivity = {{ method = "relative_magnitudes", mbar = [0.5, 1] }} (a table).'
        )
    bad = sorted(set(table) - set(SENSITIVITY_KEYS))
    if bad:
        raise ReplicationError(
            f"{where}: {head}: unknown key(s) {bad} in sensitivity; allowed: {', '.join(SENSITIVITY_KEYS)}."
        )
    checks: dict[str, tuple[Any, str]] = {
        "method": (
            lambda v: v in ("relative_magnitudes", "smoothness", "bounded"),
            "'relative_magnitudes', 'smoothness' or 'bounded'",
        ),
        "interval": (lambda v: v in ("C-LF", "Conditional"), "'C-LF' or 'Conditional'"),
        "e": (lambda v: v == "average" or _whole(v, -10_000, 10_000), "a whole event time or 'average'"),
        "alpha": (lambda v: _is_number(v) and 0 < v < 1, "a number between 0 and 1"),
        "grid_points": (lambda v: _whole(v, 2, _MAX_GRID_POINTS), f"a whole number from 2 to {_MAX_GRID_POINTS:_}"),
        "sims": (lambda v: _whole(v, 1, _MAX_SIMS), f"a whole number from 1 to {_MAX_SIMS:_}"),
        "seed": (lambda v: _whole(v, 0, 2**63 - 1), "a whole number >= 0"),
        "l_vec": (
            lambda v: (
                isinstance(v, list) and 0 < len(v) <= 1_000 and all(_is_number(x) and abs(x) < float("inf") for x in v)
            ),
            "a list of finite numbers (weights on the post periods)",
        ),
    }
    for key in ("mbar", "m"):
        checks[key] = (
            lambda v: (
                (_is_number(v) and 0 <= v < float("inf"))
                or (
                    isinstance(v, list)
                    and 0 < len(v) <= _MAX_SENSITIVITY_VALUES
                    and all(_is_number(x) and 0 <= x < float("inf") for x in v)
                )
            ),
            f"a finite number >= 0 or a list of 1 to {_MAX_SENSITIVITY_VALUES} of them",
        )
    for key, value in table.items():
        ok, wanted = checks[key]
        if not ok(value):
            raise ReplicationError(f"{where}: {head}: sensitivity {key} = {value!r} must be {wanted}.")


def _check_assignment(assignment: Any, path: Path, text: str) -> None:
    where = f"{path}:{_line_of(text, 'assignment')}"
    if not isinstance(assignment, Mapping) or assignment.get("type") not in ASSIGNMENT_TYPES:
        got = assignment.get("type") if isinstance(assignment, Mapping) else assignment
        raise ReplicationError(
            f"{where}: [design] assignment = {{type = ...}} must name one of {', '.join(ASSIGNMENT_TYPES)} "
            f"(got {got!r})."
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
    except RecursionError as exc:  # arrays or inline tables nested thousands deep
        lines = text.splitlines()
        deepest = max(range(len(lines)), key=lambda i: lines[i].count("[") + lines[i].count("{"), default=0)
        key = lines[deepest].partition("=")[0].strip()[:40] if lines else ""
        raise ReplicationError(
            f"{path}:{deepest + 1}: {key!r}: arrays or tables nested too deeply to read; flatten them."
        ) from exc
    study = _require(raw, "study", "study", path, text)
    for section in ("study", "data", "design"):
        if section in raw and not isinstance(raw[section], Mapping):
            raise ReplicationError(f"{path}:{_line_of(text, section)}: '{section}' must be a [{section}] table.")
    data = dict(_require(raw, "data", "data", path, text))
    columns = data.pop("columns", {})
    if not isinstance(columns, Mapping):
        raise ReplicationError(f"{path}:{_line_of(text, 'columns')}: [data.columns] must be a table.")
    columns = dict(columns)
    for name, op in columns.items():
        if not isinstance(op, Mapping) or op.get("op") not in COLUMN_OPERATIONS:
            line = _line_of(text, name, "op") or _line_of(text, name, "=")
            raise ReplicationError(
                f"{path}:{line}: derived column {name!r} needs op = one of {', '.join(COLUMN_OPERATIONS)}."
            )
        _check_operation(name, op, path, text)
    sources = [k for k in ("sample", "csv", "loader") if k in data]
    if len(sources) != 1:
        line = _line_of(text, "[data")
        raise ReplicationError(
            f"{path}:{line}: [data] needs exactly one of sample = ..., csv = ... or loader = ... (found {sources})."
        )
    if not isinstance(data[sources[0]], str):
        raise ReplicationError(
            f"{path}:{_line_of(text, sources[0], '=')}: [data] {sources[0]} = {data[sources[0]]!r} must be a string."
        )
    if not isinstance(data.get("cast_float", False), bool):
        raise ReplicationError(f"{path}:{_line_of(text, 'cast_float')}: [data] cast_float must be true or false.")
    design = dict(_require(raw, "design", "design", path, text))
    dtype = _require(design, "type", "design", path, text)
    if "assignment" in design:
        _check_assignment(design["assignment"], path, text)
    if not isinstance(dtype, str) or dtype not in DESIGNS:
        raise ReplicationError(
            f"{path}:{_line_of(text, 'type', str(dtype))}: design type {dtype!r} is not one of {', '.join(DESIGNS)}."
        )
    estimates = []
    value_lines = iter(_value_lines(text))
    for section in ("estimate", "summary"):
        if section in raw and not (
            isinstance(raw[section], list) and all(isinstance(e, Mapping) for e in raw[section])
        ):
            raise ReplicationError(f"{path}:{_line_of(text, section)}: '{section}' must be [[{section}]] tables.")
    for i, est in enumerate(raw.get("estimate", [])):
        est = dict(est)
        expect_raw = est.pop("expect", [])
        est_id = str(est.pop("id", f"estimate {i + 1}"))
        if "outcomes" not in est and "outcome" not in est:
            raise ReplicationError(f"{path}:{_line_of(text, est_id)}: estimate {est_id!r} needs outcomes = [...].")
        method = est.get("method", "estimate")
        if not isinstance(method, str) or method not in METHODS:
            raise ReplicationError(
                f"{path}:{_line_of(text, 'method') or _line_of(text, est_id)}: estimate {est_id!r}: method = "
                f"{method!r} is not one of {', '.join(METHODS)}."
            )
        if method == "sensitivity":
            _check_sensitivity(est_id, est, path, text)
        if method == "bounds" and not isinstance(est.get("outcome", est.get("outcomes")), str):
            raise ReplicationError(
                f"{path}:{_line_of(text, est_id)}: estimate {est_id!r}: method = 'bounds' takes one outcome, "
                'e.g. outcome = "easq_global".'
            )
        inference = est.get("inference")
        if isinstance(inference, Mapping):
            _check_inference(est_id, inference, path, text)
        estimates.append(
            EstimateSpec(
                id=est_id,
                arguments=est,
                expect=_expectations(expect_raw, f"estimate {est_id!r}", path, text, value_lines),
                line=_line_of(text, est_id),
            )
        )
    summaries = []
    for i, summ in enumerate(raw.get("summary", [])):
        summ = dict(summ)
        summ_id = str(summ.get("id", f"summary {i + 1}"))
        if "column" not in summ:
            raise ReplicationError(f"{path}:{_line_of(text, summ_id)}: summary {summ_id!r} needs column = ....")
        if not isinstance(summ.get("where", {}), Mapping):
            raise ReplicationError(f"{path}:{_line_of(text, summ_id)}: summary {summ_id!r}: where must be a table.")
        unknown = set(summ) - {"id", "column", "where", "expect"}
        if unknown:
            raise ReplicationError(f"{path}:{_line_of(text, summ_id)}: unknown key(s) {sorted(unknown)} in summary.")
        summaries.append(
            SummarySpec(
                id=summ_id,
                column=str(summ["column"]),
                where=dict(summ.get("where", {})),
                expect=_expectations(summ.get("expect", []), f"summary {summ_id!r}", path, text, value_lines),
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
