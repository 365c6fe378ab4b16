"""The fuzz suite (issue 9): property-based tests that call every public entry point on hostile frames.

CI runs the fixed-seed "ci" profile (derandomized, a bounded number of examples; about 30 s of CPU for the whole
folder, i.e. about half a minute on two idle cores, longer when they are shared)::

    python -m pytest tests/fuzz -q -p no:cacheprovider

The long run (random seeds, 1,200 examples per test, about half an hour on two cores)::

    EVALKIT_FUZZ=long python -m pytest tests/fuzz -q -p no:cacheprovider

``EVALKIT_FUZZ_EXAMPLES=n`` sets the number of examples per test in either profile. The files: test_fuzz_trial.py
(RandomizedTrial, assign), test_fuzz_did.py (2x2, panel TWFE / event study / dCDH, StaggeredDiD with CS, SA, TWFE and
imputation, Results.sensitivity) and test_fuzz_extensions.py (trial IV / moderators / attrition weights / missing
covariates / subgroups / bounds / diagnose, and ek.planning). At the end the run prints how
many entry-point calls it made and what happened to them (returned, refused with an EvalkitError, known open).
"""

from __future__ import annotations

from typing import Any


def pytest_terminal_summary(terminalreporter: Any) -> None:
    from _harness import CALLS, report

    if CALLS:
        terminalreporter.write_line(report())
