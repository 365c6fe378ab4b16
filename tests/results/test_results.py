"""Results: provenance, tables and figures through the Results methods, inference notes."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import hashlib

import numpy as np
import pandas as pd
import pytest

import evalkit as ek


def test_provenance_records_versions_data_hash_and_seed(small_trial: pd.DataFrame) -> None:
    trial = ek.RandomizedTrial(small_trial, "treated")
    res = trial.estimate("y", inference=ek.inference.RandomizationInference(reps=200, seed=11))
    prov = res.provenance
    assert prov["evalkit_version"] == ek.__version__
    assert prov["seed"] == 11 and prov["assignment"] == "complete"
    assert prov["settings"]["outcomes"] == "y" and prov["design"] == "RandomizedTrial"
    # The hash is SHA-256 over column names and pandas' row hashes (computed here independently with hashlib).
    digest = hashlib.sha256("\x1f".join(small_trial.columns).encode())
    digest.update(pd.util.hash_pandas_object(small_trial, index=True).to_numpy().tobytes())
    assert prov["data_hash"] == digest.hexdigest()[:16]
    changed = small_trial.copy()
    changed.loc[0, "y"] += 1e-9
    assert ek.RandomizedTrial(changed, "treated").estimate("y").provenance["data_hash"] != prov["data_hash"]
    adjusted = res.adjust("holm")
    assert adjusted.provenance["data_hash"] == prov["data_hash"]
    assert adjusted.provenance["adjustment"]["method"] == "holm"


def test_results_tables_and_plot(small_trial: pd.DataFrame) -> None:
    res = ek.RandomizedTrial(small_trial, "treated").estimate(["y", "y2"])
    frame = res.to_frame()
    markdown = res.to_markdown()
    for value in frame["estimate"]:
        assert f"{value:.3f}" in markdown
    latex = res.to_latex()
    assert latex.count(r"\begin{tabular}") == latex.count(r"\end{tabular}") == 1
    assert "<table" in res.to_html()
    _fig, ax = res.plot()
    points = [line for line in ax.lines if line.get_label() == "estimate"]
    assert points and np.allclose(sorted(points[0].get_xdata()), sorted(frame["estimate"]))
    with pytest.raises(ek.errors.OptionError, match="coefficients"):
        res.plot(kind="violin")


def test_inference_notes_reach_results(cluster_trial: pd.DataFrame) -> None:
    trial = ek.RandomizedTrial(cluster_trial, "treated", clusters="cluster")
    res = trial.estimate("y", inference=ek.inference.WildClusterBootstrap(reps=999, seed=1))
    # 12 clusters, 6 treated: no few-cluster note is due; with only the first 3 blocks' 8 clusters it is.
    few = cluster_trial[cluster_trial.block != "B2"]
    res_few = ek.RandomizedTrial(few, "treated", clusters="cluster").estimate(
        "y", inference=ek.inference.WildClusterBootstrap(reps=999, seed=1)
    )
    assert not any("clusters" in n and "unreliable" in n for n in res.notes)
    assert any("Only 8 clusters" in n for n in res_few.notes)
