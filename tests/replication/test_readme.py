"""The README's Python examples run as written (the data set the README leaves to the reader is loaded here)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_examples_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 2
    source = "\n".join(blocks).replace(
        "mpdta = ...  # e.g. moderndid.load_mpdta().to_pandas()",
        "import moderndid\nmpdta = moderndid.load_mpdta().to_pandas()",
    )
    assert "moderndid.load_mpdta" in source
    namespace: dict[str, object] = {}
    exec(compile(source, str(README), "exec"), namespace)  # the README's own code, nothing else
    assert namespace["res"].to_frame()["n_obs"].iloc[0] == 47  # type: ignore[attr-defined]


def test_readme_commands_are_the_ones_ci_runs() -> None:
    text = README.read_text()
    assert "python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/evalkit demo" in text
    assert 'python3 -m venv .venv && .venv/bin/pip install -e ".[test]" && .venv/bin/python -m pytest' in text
    ci = (README.parent / ".ci" / "run").read_text()
    assert 'pip install --quiet -e ".[test]"' in ci and "pytest" in ci and 'evalkit" demo' in ci
