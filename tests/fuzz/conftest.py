"""The fuzz suite prints how many entry-point calls it made and what happened to them (issue 9)."""

from __future__ import annotations

from typing import Any


def pytest_terminal_summary(terminalreporter: Any) -> None:
    from _harness import CALLS, report

    if CALLS:
        terminalreporter.write_line(report())
