"""Replication reports: a console table, JSON and Markdown."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from evalkit.replication.runner import ReplicationOutcome

__all__ = ["console_table", "markdown_report", "write_reports"]


def _reproduced(value: float, tolerance: float) -> str:
    """The reproduced number with one more decimal than the tolerance resolves."""
    if not np.isfinite(value):
        return "—"
    decimals = max(0, int(np.ceil(-np.log10(tolerance))) + 1) if tolerance > 0 else 6
    return f"{value:.{decimals}f}"


def _rows(outcome: ReplicationOutcome) -> list[tuple[str, ...]]:
    return [
        (
            c.estimate_id,
            c.label,
            f"{c.published:g}",
            _reproduced(c.reproduced, c.tolerance),
            f"{c.tolerance:g}",
            c.status,
            c.source,
        )
        for c in outcome.checks
    ]


HEADER = ("estimate", "number", "published", "reproduced", "tolerance", "status", "source")


def console_table(outcomes: Sequence[ReplicationOutcome]) -> str:
    """Published vs reproduced for every file, one line per number, aligned for a terminal."""
    lines: list[str] = []
    for out in outcomes:
        status = "PASS" if out.passed else "FAIL"
        lines.append(f"{status}  {out.name}  ({out.path})")
        if out.error:
            lines.append(f"      error: {out.error}")
            continue
        rows = [HEADER, *_rows(out)]
        widths = [min(max(len(r[i]) for r in rows), 48) for i in range(len(HEADER) - 1)]
        for r in rows:
            cells = [r[i][:48].ljust(widths[i]) for i in range(len(HEADER) - 1)]
            lines.append("      " + "  ".join(cells) + "  " + r[-1])
        prov = out.provenance
        if prov:
            lines.append(
                f"      evalkit {prov.get('evalkit_version')}, data hash {prov.get('data_hash')}, "
                f"{prov.get('n_rows')} rows"
            )
    n_fail = sum(not o.passed for o in outcomes)
    lines.append(f"{len(outcomes) - n_fail} of {len(outcomes)} replication file(s) reproduced within tolerance.")
    return "\n".join(lines)


def markdown_report(outcomes: Sequence[ReplicationOutcome]) -> str:
    """A Markdown report with one table per replication file and its provenance."""
    parts = ["# evalkit replication report", ""]
    for out in outcomes:
        parts += [f"## {out.name}", "", f"File `{out.path}`. Source: {out.source}", ""]
        if out.error:
            parts += [f"**Error:** {out.error}", ""]
            continue
        parts.append("| " + " | ".join(HEADER) + " |")
        parts.append("|" + "---|" * len(HEADER))
        parts += ["| " + " | ".join(r) + " |" for r in _rows(out)]
        parts.append("")
        for key, value in out.provenance.items():
            if key != "estimates":
                parts.append(f"- {key}: `{value}`")
        parts.append("")
    return "\n".join(parts)


def write_reports(outcomes: Sequence[ReplicationOutcome], directory: str | Path) -> tuple[Path, Path]:
    """Write ``replication.json`` and ``replication.md`` into ``directory``; return their paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    payload = [
        {
            "path": o.path,
            "name": o.name,
            "source": o.source,
            "passed": o.passed,
            "error": o.error,
            "provenance": o.provenance,
            "checks": [
                {
                    "estimate": c.estimate_id,
                    "label": c.label,
                    "column": c.column,
                    "outcome": c.outcome,
                    "term": c.term,
                    "published": c.published,
                    "reproduced": c.reproduced,
                    "tolerance": c.tolerance,
                    "status": c.status,
                    "source": c.source,
                    "where": c.where,
                }
                for c in o.checks
            ],
        }
        for o in outcomes
    ]
    json_path = directory / "replication.json"
    md_path = directory / "replication.md"
    json_path.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    md_path.write_text(markdown_report(outcomes), encoding="utf-8")
    return json_path, md_path
