"""Progress bars (issue 9 item 7): tqdm.auto in terminals and notebooks, for the wild bootstrap too; progress=False.

The properties checked: a bar is drawn (on standard error) exactly when asked (``progress=True``) or when the run is
interactive and long (``progress=None``), where "interactive" includes a Jupyter kernel, whose ``sys.stderr`` is not
a terminal; ``progress=False`` never draws one; the bar never changes a number (same seed, same p-value, bit for bit).
"""

from __future__ import annotations

import sys
import types

import numpy as np
import pandas as pd
import pytest

import evalkit as ek
import evalkit.inference.randomization as randomization
import evalkit.inference.wild_bootstrap as wild_bootstrap
from evalkit.errors import OptionError


@pytest.fixture
def clustered(cluster_trial: pd.DataFrame) -> ek.RandomizedTrial:
    return ek.RandomizedTrial(cluster_trial, "treated", clusters="cluster")


@pytest.fixture
def notebook_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend to run in a Jupyter kernel: IPython is loaded and its shell has a kernel; stderr is no terminal."""
    shell = types.SimpleNamespace(kernel=object(), config={})
    fake = types.ModuleType("IPython")
    fake.get_ipython = lambda: shell  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", fake)


@pytest.fixture
def long_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every run count as long, so that the automatic choice depends only on interactivity."""
    monkeypatch.setattr(wild_bootstrap, "_PROGRESS_MIN_WORK", 0, raising=False)
    monkeypatch.setattr(randomization, "_PROGRESS_MIN_ROWS", 0, raising=False)


def _wild(progress: bool | None) -> ek.inference.WildClusterBootstrap:
    return ek.inference.WildClusterBootstrap(reps=499, weights="webb", seed=3, progress=progress)


@pytest.mark.usefixtures("long_runs")
def test_wild_bootstrap_bar_on_request_and_same_numbers(
    clustered: ek.RandomizedTrial, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    shown = clustered.estimate("y", inference=_wild(True)).to_frame().iloc[0]
    err = capsys.readouterr().err
    assert "wild cluster bootstrap" in err and "499/499" in err  # tqdm's text bar, complete
    hidden = clustered.estimate("y", inference=_wild(False)).to_frame().iloc[0]
    assert capsys.readouterr().err == ""
    # the bar changes no number (same seed, same draws): p-value and interval identical bit for bit
    assert (shown["p_value"], shown["conf_low"], shown["conf_high"]) == (
        hidden["p_value"],
        hidden["conf_low"],
        hidden["conf_high"],
    )
    # by default (progress=None) no bar in a script or CI job (no terminal, no notebook kernel), however long
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    clustered.estimate("y", inference=_wild(None))
    clustered.estimate("y", inference=ek.inference.RandomizationInference(reps=200, seed=1))
    assert capsys.readouterr().err == ""


@pytest.mark.usefixtures("notebook_kernel", "long_runs")
@pytest.mark.parametrize("method", ["wild", "randomization"])
def test_automatic_bar_shows_in_a_notebook_kernel(
    clustered: ek.RandomizedTrial, capsys: pytest.CaptureFixture[str], method: str
) -> None:
    inference = (
        _wild(None) if method == "wild" else ek.inference.RandomizationInference(reps=200, seed=1, batch_size=100)
    )
    clustered.estimate("y", inference=inference)
    err = capsys.readouterr().err
    assert ("wild cluster bootstrap" if method == "wild" else "randomization inference") in err


@pytest.mark.usefixtures("notebook_kernel", "long_runs")
def test_progress_false_turns_the_bar_off_even_in_a_notebook(
    clustered: ek.RandomizedTrial, capsys: pytest.CaptureFixture[str]
) -> None:
    clustered.estimate("y", inference=_wild(False))
    clustered.estimate("y", inference=ek.inference.RandomizationInference(reps=200, seed=1, progress=False))
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("bad", ["yes", 1, np.float64(1.0)])
def test_progress_option_is_checked(bad: object) -> None:
    with pytest.raises(OptionError, match=r"progress=.* must be True, False or None"):
        ek.inference.WildClusterBootstrap(reps=99, progress=bad)  # type: ignore[arg-type]
