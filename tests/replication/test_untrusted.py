"""Replication files are untrusted data: every hostile file ends as a ReplicationError naming file and key.

Each case edits the shipped ``casita.toml`` (which passes, see ``test_replication.py``) in one place. The property
checked is the contract of issue 9 item 5: paths outside the file's folder are refused before they are read (so no
column name of a foreign file reaches a message or a report), type names resolve only from an allow-list, and
wrong types, deep nesting and absurd sizes become a :class:`ReplicationError` while the other files still run.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import evalkit
from evalkit.cli import main
from evalkit.datasets import load_sample
from evalkit.replication import ReplicationError, read_replication, run_replication

CASITA = Path(__file__).resolve().parents[2] / "replications" / "casita.toml"
SECRET = "secret_column_name_xyz"


def _write(folder: Path, old: str, new: str, name: str = "bad.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = CASITA.read_text()
    assert old in text  # the edit must apply, else the test would check the unedited file
    path = folder / name
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.fixture
def outside_csv(tmp_path: Path) -> Path:
    """A csv file outside the replication file's folder, with a column name that must never be shown."""
    path = tmp_path / "outside.csv"
    path.write_text(f"{SECRET},treated\n1,0\n2,1\n")
    return path


@pytest.mark.parametrize("csv", ["../outside.csv", "ABSOLUTE"])
def test_csv_outside_the_file_folder_is_refused_without_leaking(tmp_path: Path, outside_csv: Path, csv: str) -> None:
    value = str(outside_csv) if csv == "ABSOLUTE" else csv
    path = _write(tmp_path / "study", 'sample = "casita"', f'csv = "{value}"')
    with pytest.raises(
        ReplicationError, match=r"bad\.toml:\d+: csv = .* is outside the replication file's folder"
    ) as e:
        run_replication(path)
    assert SECRET not in str(e.value)


def test_etc_passwd_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, 'sample = "casita"', 'csv = "/etc/passwd"')
    with pytest.raises(ReplicationError, match="outside the replication file's folder"):
        run_replication(path)


def test_symbolic_link_out_of_the_folder_is_refused(tmp_path: Path, outside_csv: Path) -> None:
    study = tmp_path / "study"
    study.mkdir()
    (study / "data.csv").symlink_to(outside_csv)
    path = _write(study, 'sample = "casita"', 'csv = "data.csv"')
    with pytest.raises(ReplicationError, match="outside the replication file's folder") as e:
        run_replication(path)
    assert SECRET not in str(e.value)


def test_csv_in_the_folder_or_the_data_root_is_read(tmp_path: Path) -> None:
    # Positive control: the Casita sample written to csv reproduces the published numbers of casita.toml (the
    # numbers and tolerances are those of the shipped file).
    study = tmp_path / "study"
    (study / "data").mkdir(parents=True)
    load_sample("casita").to_csv(study / "data" / "casita.csv", index=False)
    inside = _write(study, 'sample = "casita"', 'csv = "data/casita.csv"')
    assert run_replication(inside).passed
    shared = tmp_path / "shared"
    shared.mkdir()
    load_sample("casita").to_csv(shared / "casita.csv", index=False)
    beside = _write(study, 'sample = "casita"', 'csv = "../shared/casita.csv"', name="beside.toml")
    with pytest.raises(ReplicationError, match="outside"):
        run_replication(beside)
    assert run_replication(beside, data_root=shared).passed


@pytest.mark.parametrize("name", ["__init__", "__class__", "datasets", "RandomizedTrial", "assign"])
def test_assignment_type_resolves_only_from_the_allow_list(tmp_path: Path, name: str) -> None:
    path = _write(tmp_path, 'treatment = "treated"', f'treatment = "treated"\nassignment = {{ type = "{name}" }}')
    with pytest.raises(ReplicationError, match=r"bad\.toml:\d+: \[design\] assignment .* must name one of"):
        read_replication(path)
    with pytest.raises(ReplicationError, match=re.escape(repr(name))):
        run_replication(path)
    assert evalkit.__name__ == "evalkit"  # the package module was not touched (it used to be renamed)
    # A name on the list is still built: CompleteRandomization() is the default assignment of a trial without
    # blocks, so the published numbers of casita.toml (HC2, tolerances as in that file) still hold.
    allowed = _write(
        tmp_path, 'treatment = "treated"', 'treatment = "treated"\nassignment = { type = "CompleteRandomization" }'
    )
    assert run_replication(allowed).passed


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ('sample = "casita"', "loader = 5", "loader"),
        ('sample = "casita"', "csv = 5", "csv"),
        ('sample = "casita"', 'loader = "causaldata:os.path"', "loader 'causaldata:os.path' is not understood"),
        ('sample = "casita"', "sample = [1]", "sample"),
        ("[design]", '[data.columns]\nz = { op = "difference", columns = ["easq_global"] }\n[design]', "columns"),
        ("[design]", '[data.columns]\nz = { op = "difference", columns = 5 }\n[design]', "columns"),
        ("[design]", '[data.columns]\nz = { op = "power", column = "easq_global" }\n[design]', "exponent"),
        ("[design]", '[data.columns]\nz = { op = "equals", column = "female", value = 1, x = 2 }\n[design]', "'x'"),
        ("[design]", "[data.columns]\nz = 5\n[design]", "'z'"),
        ("[design]", "deep = " + "[" * 3000 + "]" * 3000 + "\n[design]", "'deep'"),
        ('inference = "HC2"', 'inference = { type = "RandomizationInference", reps = 1e17, seed = 1 }', "reps"),
        ('inference = "HC2"', 'inference = { type = "RandomizationInference", reps = 100000000000000000 }', "reps"),
    ],
)
def test_hostile_values_become_replication_errors(tmp_path: Path, old: str, new: str, key: str) -> None:
    path = _write(tmp_path, old, new)
    with pytest.raises(ReplicationError, match=r"bad\.toml:\d+: .*" + re.escape(key)):
        run_replication(path)


def test_hostile_files_do_not_stop_the_others_and_a_report_is_written(
    tmp_path: Path, outside_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "study"
    bad = [
        _write(folder, 'sample = "casita"', "loader = 5", name="a_loader.toml"),
        _write(folder, "[design]", "deep = " + "[" * 3000 + "]" * 3000 + "\n[design]", name="b_deep.toml"),
        _write(folder, 'sample = "casita"', 'csv = "../outside.csv"', name="c_outside.toml"),
        _write(
            folder,
            'inference = "HC2"',
            'inference = { type = "RandomizationInference", reps = 100000000000000000 }',
            name="d_reps.toml",
        ),
        _write(folder, "[design]", '[data.columns]\nz = { op = "difference", columns = ["x"] }\n[design]', "e_op.toml"),
    ]
    out = tmp_path / "reports"
    assert main(["replicate", *map(str, bad), str(CASITA), "--out", str(out)]) == 1
    printed = capsys.readouterr().out
    assert printed.count("FAIL  ") == len(bad) and "PASS  Casita" in printed
    report = json.loads((out / "replication.json").read_text())
    assert [r["passed"] for r in report] == [False] * len(bad) + [True]
    assert all(r["error"].startswith(str(p)) for r, p in zip(report, bad, strict=False))
    for text in (printed, (out / "replication.json").read_text(), (out / "replication.md").read_text()):
        assert SECRET not in text


@pytest.mark.parametrize("name", ["__init__", "__class__", "balance", "with_index", "estimate_each", "5"])
def test_estimate_method_resolves_only_from_the_allow_list(tmp_path: Path, name: str) -> None:
    # method = ... names one of "estimate", "subgroups", "bounds" (issue 10 item 4); any other name, including
    # dunder and non-estimating methods of the design, is refused when the file is read and never looked up.
    value = name if name == "5" else f'"{name}"'
    path = _write(tmp_path, 'estimator = "change"', f'method = {value}\nestimator = "change"')
    with pytest.raises(ReplicationError, match=r"bad\.toml:\d+: estimate .* method = .* is not one of estimate"):
        read_replication(path)
    with pytest.raises(ReplicationError, match="is not one of estimate, subgroups, bounds"):
        run_replication(path)


def test_bounds_take_one_outcome_and_unknown_keywords_are_named(tmp_path: Path) -> None:
    many = _write(tmp_path, 'method = "bounds"\noutcome = "easq_global"', 'method = "bounds"\noutcomes = ["a", "b"]')
    with pytest.raises(ReplicationError, match=r"method = 'bounds' takes one outcome"):
        read_replication(many)
    unknown = _write(tmp_path, 'method = "bounds"', 'method = "bounds"\nhostile = 1')
    with pytest.raises(ReplicationError, match=r"bad\.toml:\d+: .*Lee \(2009\) bounds.*hostile"):
        run_replication(unknown)


# ------------------------------------------------------------------ method = "sensitivity" (issue 11 item 5)
VRAEM = CASITA.parent / "vraem.toml"
_SENS = 'sensitivity = { method = "bounded", m = [0, 1, 2, 3, 4, 5, 6] }'


def _vraem(folder: Path, old: str, new: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = VRAEM.read_text()
    assert old in text  # the edit must apply, else the test would check the unedited file
    path = folder / "bad.toml"
    path.write_text(text.replace(old, new, 1))
    return path


def test_sensitivity_method_runs_results_sensitivity(tmp_path: Path) -> None:
    # property: the pinned rows are Results.sensitivity's numbers on design.estimate's event study (the file's
    # expectations are checked by test_replication); a drifted value is reported, not passed
    out = run_replication(VRAEM)
    assert out.passed
    sens = [c for c in out.checks if c.estimate_id == "social capital: bounded-variation sensitivity"]
    assert {c.term for c in sens} == {"M=2", "breakdown_exact"}
    assert out.provenance["estimates"]["social capital: bounded-variation sensitivity"]["method"] == "sensitivity"
    drift = _vraem(tmp_path, "value = 3.437233", "value = 3.5")
    assert not run_replication(drift).passed


@pytest.mark.parametrize(
    ("new", "key"),
    [
        ('sensitivity = { method = "linear", m = [1] }', "sensitivity method = 'linear'"),
        ('sensitivity = { method = "bounded", m = [1], hostile = 1 }', "unknown key(s) ['hostile']"),
        ('sensitivity = { method = "bounded", m = [-1] }', "sensitivity m = [-1]"),
        ('sensitivity = { method = "bounded", m = "1" }', "sensitivity m = '1'"),
        ('sensitivity = { method = "bounded", m = [' + "1, " * 300 + "1] }", "list of 1 to 200"),
        ('sensitivity = { method = "relative_magnitudes", mbar = 1, grid_points = 100000000 }', "grid_points"),
        ('sensitivity = { method = "relative_magnitudes", mbar = 1, sims = 1e9 }', "sims"),
        ('sensitivity = { method = "bounded", m = 1, alpha = 2 }', "alpha"),
        ('sensitivity = { method = "bounded", m = 1, e = true }', "sensitivity e = True"),
        ("sensitivity = 5", "needs sensitivity = {"),
        (_SENS + "\nextra = 1", "unknown key(s) ['extra']"),
    ],
)
def test_sensitivity_tables_are_checked_when_read(tmp_path: Path, new: str, key: str) -> None:
    path = _vraem(tmp_path, _SENS, new)
    with pytest.raises(ReplicationError, match=r"bad\.toml:\d+: estimate .*sensitivity.*" + re.escape(key)):
        read_replication(path)
    with pytest.raises(ReplicationError, match=re.escape(key)):
        run_replication(path)


def test_sensitivity_failures_name_the_file_and_estimate(tmp_path: Path) -> None:
    # relative magnitudes on a baseline/endline event study: the design's refusal, as this file's error
    rm = _vraem(tmp_path, _SENS, 'sensitivity = { method = "relative_magnitudes", mbar = [1] }')
    with pytest.raises(ReplicationError, match=r"bad\.toml:\d+: estimate .*failed: .*no pre-period coefficient"):
        run_replication(rm)
    many = _vraem(tmp_path, 'outcome = "social_capital"\nestimate =', 'outcome = ["a", "b"]\nestimate =')
    with pytest.raises(ReplicationError, match="takes one outcome"):
        read_replication(many)
    bad_arg = _vraem(tmp_path, "reference_period = -1 }", "reference_period = -1, hostile = 1 }")
    with pytest.raises(ReplicationError, match=r"bad\.toml:\d+: estimate .*hostile"):
        run_replication(bad_arg)
    inference = _vraem(
        tmp_path, "reference_period = -1 }", 'reference_period = -1, inference = { type = "Eval", reps = 1 } }'
    )
    with pytest.raises(ReplicationError, match=r"inference type 'Eval' is not one of"):
        read_replication(inference)
