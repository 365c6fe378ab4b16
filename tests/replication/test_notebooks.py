"""Notebooks run top to bottom from a fresh clone, and their key numbers equal the replication files'."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from evalkit.replication import read_replication

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
#: Seconds a single cell may take before the run fails (the time budget of CI's notebook step).
CELL_TIMEOUT = 600


def run_notebook(path: Path) -> dict[str, float]:
    """Execute a notebook in a fresh kernel and return its ``KEY_NUMBERS`` dictionary."""
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import json; print(json.dumps(KEY_NUMBERS))"))
    NotebookClient(
        nb, timeout=CELL_TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    ).execute()
    output = nb.cells[-1].outputs[0]["text"]
    return json.loads(output)


def published(file: str) -> dict[str, tuple[float, float]]:
    """Key -> (expected value, tolerance) from a replication file.

    The key is the expectation's ``label`` when it has one, else ``outcome.column`` (estimates) or
    ``column.column`` (summaries). Two expectations with one key are refused: the later would silently replace the
    earlier and the notebook's number would be checked against the wrong value.
    """
    spec = read_replication(ROOT / "replications" / file)
    pairs = [(e.label or f"{e.outcome}.{e.column}", e) for est in spec.estimates for e in est.expect]
    pairs += [(e.label or f"{s.column}.{e.column}", e) for s in spec.summaries for e in s.expect]
    keys = [key for key, _ in pairs]
    duplicated = sorted({k for k in keys if keys.count(k) > 1})
    assert not duplicated, f"{file}: expectations share the key(s) {duplicated}; give them distinct labels"
    return {key: (e.value, e.tolerance) for key, e in pairs}


def replication_file(path: Path) -> str:
    """The replication file a notebook is checked against: its own name, else its first word (quickstart: casita)."""
    if path.stem == "quickstart":
        return "casita.toml"
    if (ROOT / "replications" / f"{path.stem}.toml").is_file():
        return f"{path.stem}.toml"
    return f"{path.stem.split('_')[0]}.toml"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_and_matches_replication(path: Path) -> None:
    numbers = run_notebook(path)
    assert numbers, f"{path.name} defines an empty KEY_NUMBERS"
    reference = published(replication_file(path))
    shared = set(numbers) & set(reference)
    assert shared, f"{path.name} prints none of the replication file's numbers"
    for key in shared:
        value, tolerance = reference[key]
        # Published value and tolerance from the replication file (source written there).
        assert abs(numbers[key] - value) <= tolerance, (key, numbers[key], value)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_committed_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs; clear them before committing"
