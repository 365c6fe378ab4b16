"""The fuzz suite (issue 9): property-based tests that call every public entry point on hostile frames.

CI runs the fixed-seed "ci" profile (derandomized, a bounded number of examples; about a minute on two idle cores,
under three when they are shared)::

    python -m pytest tests/fuzz -q -p no:cacheprovider

The long run (random seeds, 1,200 examples per test, about half an hour on two cores)::

    EVALKIT_FUZZ=long python -m pytest tests/fuzz -q -p no:cacheprovider

``EVALKIT_FUZZ_EXAMPLES=n`` sets the number of examples per test in either profile. At the end the run prints how
many entry-point calls it made and what happened to them (returned, refused with an EvalkitError, known open).
"""

from __future__ import annotations

from typing import Any


def pytest_terminal_summary(terminalreporter: Any) -> None:
    from _harness import CALLS, report

    if CALLS:
        terminalreporter.write_line(report())
