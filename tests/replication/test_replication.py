"""Replication files: every shipped file reproduces its published numbers; drift and bad files fail loudly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from evalkit.cli import main
from evalkit.replication import ReplicationError, read_replication, run_replication

REPLICATIONS = sorted((Path(__file__).resolve().parents[2] / "replications").glob("*.toml"))


@pytest.mark.parametrize("path", REPLICATIONS, ids=[p.stem for p in REPLICATIONS])
def test_shipped_replication_files_pass(path: Path) -> None:
    # The published values, their sources and tolerances are written in each file.
    outcome = run_replication(path)
    failing = [(c.label, c.published, c.reproduced, c.tolerance) for c in outcome.checks if c.status != "ok"]
    assert outcome.checks and not failing, failing


def test_cli_fails_and_names_a_drifted_number(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (REPLICATIONS[0].parent / "casita.toml").read_text()
    edited = tmp_path / "casita_edited.toml"
    edited.write_text(text.replace("value = 6.33", "value = 6.93"))
    assert main(["replicate", str(edited), "--out", str(tmp_path / "reports")]) == 1
    out = capsys.readouterr().out
    drift = [line for line in out.splitlines() if "DRIFT" in line]
    assert len(drift) == 1 and "6.93" in drift[0] and "home_total" in drift[0]
    assert (tmp_path / "reports" / "replication.json").is_file()
    assert (tmp_path / "reports" / "replication.md").read_text().count("DRIFT") == 1


def test_cli_passes_on_an_unchanged_file(tmp_path: Path) -> None:
    assert main(["replicate", str(REPLICATIONS[0].parent / "casita.toml"), "--out", str(tmp_path)]) == 0


def _edited(tmp_path: Path, old: str, new: str) -> Path:
    path = tmp_path / "bad.toml"
    path.write_text((REPLICATIONS[0].parent / "casita.toml").read_text().replace(old, new, 1))
    return path


def test_wrong_column_names_file_and_line(tmp_path: Path) -> None:
    path = _edited(tmp_path, 'column = "conf_low"', 'column = "conf_lo"')
    line = next(i for i, s in enumerate(path.read_text().splitlines(), 1) if s.strip().startswith("value = 0.55"))
    with pytest.raises(ReplicationError, match=re.escape(f"bad.toml:{line}") + ".*'conf_lo'"):
        run_replication(path)


def test_wrong_outcome_column_is_named(tmp_path: Path) -> None:
    path = _edited(tmp_path, 'outcomes = ["easq_global"]', 'outcomes = ["easq_glob"]')
    with pytest.raises(ReplicationError, match=r"bad\.toml:\d+.*'easq_glob'"):
        run_replication(path)


def test_unknown_dataset_and_loader(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="casitas"):
        run_replication(_edited(tmp_path, 'sample = "casita"', 'sample = "casitas"'))
    with pytest.raises(ReplicationError, match=r"bad\.toml:\d+.*'nopkg:data'"):
        run_replication(_edited(tmp_path, 'sample = "casita"', 'loader = "nopkg:data"'))


def test_missing_keys_and_code_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ReplicationError, match="tolerance"):
        read_replication(_edited(tmp_path, "  digits = 2\n", "  note = 'x'\n"))
    path = tmp_path / "code.toml"
    path.write_text(
        '[study]\nname="x"\n[data]\nsample="casita"\n[data.columns]\nz = { op = "eval", expr = "__import__(1)" }\n'
        '[design]\ntype="RandomizedTrial"\ntreatment="treated"\n'
    )
    with pytest.raises(ReplicationError, match=r"code\.toml:6: derived column 'z' needs op"):
        read_replication(path)
    with pytest.raises(ReplicationError, match="not valid TOML"):
        (tmp_path / "broken.toml").write_text("[study\n")
        read_replication(tmp_path / "broken.toml")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('inference = "HC2"', 'inference = { type = "Sandwich", cov = "HC2" }', "Did you mean cov_type="),
        ("value = 6.33", 'value = "abc"', "must be a number"),
        ("  digits = 2\n", '  digits = "two"\n', "whole number"),
        ("  digits = 2\n", "  tolerance = -1\n", "finite number >= 0"),
        ('type = "RandomizedTrial"', 'type = "RandomizedTrial"\nassignment = {}', "assignment .* must name one of"),
    ],
)
def test_malformed_files_raise_replication_errors(tmp_path: Path, old: str, new: str, message: str) -> None:
    with pytest.raises(ReplicationError, match=message):
        run_replication(_edited(tmp_path, old, new))


def test_one_bad_file_does_not_stop_the_others(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = _edited(tmp_path, "value = 6.33", 'value = "abc"')
    good = REPLICATIONS[0].parent / "casita.toml"
    assert main(["replicate", str(bad), str(good), "--out", str(tmp_path / "out")]) == 1
    out = capsys.readouterr().out
    assert "FAIL  bad" in out and "PASS  Casita" in out
    assert (tmp_path / "out" / "replication.json").is_file()
