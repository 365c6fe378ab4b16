"""Replication files: published numbers re-run from declarative TOML files (``evalkit replicate``)."""

from __future__ import annotations

from evalkit.replication.report import console_table, markdown_report, write_reports
from evalkit.replication.runner import Check, ReplicationOutcome, data_hash, load_data, run_replication
from evalkit.replication.spec import ReplicationError, ReplicationSpec, read_replication

__all__ = [
    "Check",
    "ReplicationError",
    "ReplicationOutcome",
    "ReplicationSpec",
    "console_table",
    "data_hash",
    "load_data",
    "markdown_report",
    "read_replication",
    "run_replication",
    "write_reports",
]
