"""Randomization inference on a dask client (``RandomizationInference(client=...)``): the same numbers, bit for
bit, as the serial run with the same seed, for random draws, a split enumeration and a clustered DiD; the client is
not a setting (repr, equality, hashing, pickling); the serial run never imports dask."""

from __future__ import annotations

import dataclasses
import math
import pickle
import sys

import numpy as np
import pandas as pd
import pytest
from _dask import local_client
from _simulate import community_panel

import evalkit as ek
from evalkit.designs.assignment import BlockClusterRandomization, BlockRandomization
from evalkit.errors import EvalkitError, OptionError
from evalkit.inference.randomization import RandomizationInference


@pytest.fixture(scope="module")
def dask_client():
    with local_client() as client:
        yield client


def _blocked_trial(n_per_block: int = 20, seed: int = 4) -> ek.RandomizedTrial:
    rng = np.random.default_rng(seed)
    block = np.repeat(["a", "b", "c"], n_per_block)
    treated = np.concatenate([rng.permutation(np.arange(n_per_block) < n_per_block // 2) for _ in range(3)])
    x = rng.normal(size=block.size)
    y = 0.4 * treated + 0.6 * x + rng.standard_t(4, size=block.size)
    data = pd.DataFrame({"y": y, "t": treated.astype(int), "x": x, "block": block})
    return ek.RandomizedTrial(data, "t", blocks="block", assignment=BlockRandomization())


def _panel_did(seed: int = 3) -> ek.DiffInDiff:
    rng = np.random.default_rng(seed)
    rows = community_panel(rng, 12, 3, 3, 1)
    rows["y"] = rng.normal(size=len(rows)) + 0.3 * rows.wave + 0.5 * rows.treated
    return ek.DiffInDiff(
        rows,
        treatment="treated",
        unit="household",
        time="wave",
        clusters="community",
        blocks="district",
        assignment=BlockClusterRandomization(),
    )


def _same(serial: ek.Results, distributed: ek.Results, outcome: str = "y") -> None:
    """Property: identical tables and identical per-draw statistics (bit for bit), the runner recorded."""
    pd.testing.assert_frame_equal(distributed.to_frame(), serial.to_frame(), check_exact=True)
    a, b = serial.fits[outcome].inference, distributed.fits[outcome].inference
    assert np.array_equal(a["null_statistics"], b["null_statistics"], equal_nan=True)
    assert a["runner"] == "serial"
    assert b["runner"] == "dask client with 2 worker(s)"


def test_blocked_trial_random_draws_match_serial_bit_for_bit(dask_client):
    trial = _blocked_trial()
    ri = RandomizationInference(reps=600, seed=11, batch_size=64, enumerate="never")  # 10 tasks, the last of 24
    serial = trial.estimate("y", covariates=["x"], estimator="lin", inference=ri)
    distributed = trial.estimate(
        "y", covariates=["x"], estimator="lin", inference=dataclasses.replace(ri, client=dask_client)
    )
    _same(serial, distributed)
    assert serial.to_frame()["n_draws"].iloc[0] == 600 and np.isfinite(serial.to_frame()["conf_low"].iloc[0])


def test_exact_enumeration_split_across_tasks_matches_serial(dask_client):
    # 3 blocks of 6 with 3 treated each: C(6, 3)^3 = 8,000 assignments, 16 ranges of 500
    trial = _blocked_trial(n_per_block=6, seed=2)
    assert trial.assignment.count() == math.comb(6, 3) ** 3
    ri = RandomizationInference(reps=10_000, batch_size=500, statistic="estimate", enumerate="always")
    serial = trial.estimate("y", inference=ri)
    distributed = trial.estimate("y", inference=dataclasses.replace(ri, client=dask_client))
    _same(serial, distributed)
    frame = serial.to_frame()
    assert bool(frame["exact"].iloc[0]) and frame["n_draws"].iloc[0] == 8_000
    # Property of an exact test: the p-value is a multiple of 1/K (K = 8,000 assignments).
    assert abs(frame["p_value"].iloc[0] * 8_000 - round(frame["p_value"].iloc[0] * 8_000)) < 1e-9


def test_cluster_did_matches_serial(dask_client):
    did = _panel_did()
    ri = RandomizationInference(reps=300, seed=5, batch_size=40, enumerate="never")  # CR2, batched TWFE
    serial = did.estimate("y", inference=ri)
    distributed = did.estimate("y", inference=dataclasses.replace(ri, client=dask_client))
    _same(serial, distributed)
    assert serial.fits["y"].inference["cov_type"] == "CR2"


def test_worker_processes_match_serial():
    """The engine, the design's draw function and the data are pickled to two worker processes once."""
    trial = _blocked_trial()
    ri = RandomizationInference(reps=200, seed=3, batch_size=50, enumerate="never", confidence_interval=False)
    serial = trial.estimate("y", inference=ri)
    with local_client(processes=True) as client:
        distributed = trial.estimate("y", inference=dataclasses.replace(ri, client=client))
    _same(serial, distributed)


def test_progress_bar_follows_the_batches_on_a_client(dask_client, capsys):
    trial = _blocked_trial()
    ri = RandomizationInference(reps=300, seed=1, batch_size=100, progress=True, client=dask_client)
    trial.estimate("y", inference=ri)
    err = capsys.readouterr().err
    assert "randomization inference" in err and "300/300" in err


def test_a_client_that_is_not_a_dask_client_is_refused():
    with pytest.raises(OptionError, match="not a dask.distributed Client") as info:
        RandomizationInference(reps=100, seed=1, client="tcp://127.0.0.1:8786")
    assert isinstance(info.value, EvalkitError) and "evalkit[dask]" in str(info.value)


def test_client_is_not_a_setting(dask_client):
    """Property: the client does not enter repr, equality, hashing or pickling (a pickled copy runs serially),
    nor the results' provenance; the results record how the run was executed."""
    ri = RandomizationInference(reps=100, seed=1)
    on_client = dataclasses.replace(ri, client=dask_client)
    assert on_client == ri and hash(on_client) == hash(ri) and repr(on_client) == repr(ri)
    copy = pickle.loads(pickle.dumps(on_client))
    assert copy.client is None and copy == ri and copy.seed_used == ri.seed_used
    res = _blocked_trial().estimate("y", inference=on_client)
    assert res.fits["y"].inference["runner"] == "dask client with 2 worker(s)"
    assert "Client" not in str(res.provenance)


def test_serial_run_does_not_import_dask(monkeypatch):
    """Property: without a client nothing imports distributed (a None entry makes any import raise)."""
    monkeypatch.setitem(sys.modules, "distributed", None)
    res = _blocked_trial().estimate("y", inference=RandomizationInference(reps=99, seed=2, batch_size=40))
    assert res.fits["y"].inference["runner"] == "serial"


def test_batch_draws_depend_only_on_the_seed_and_the_batch_index():
    """Property: batch k's draws come from SeedSequence(seed).spawn(n)[k], so the first batches of a longer run
    are the draws of a shorter one, and the second batch differs from the first."""
    trial = _blocked_trial()
    short = trial.estimate("y", inference=RandomizationInference(reps=100, seed=9, batch_size=50))
    long = trial.estimate("y", inference=RandomizationInference(reps=230, seed=9, batch_size=50))
    a, b = short.fits["y"].inference["null_statistics"], long.fits["y"].inference["null_statistics"]
    assert np.array_equal(a, b[:100]) and not np.array_equal(b[:50], b[50:100])


def test_diagnose_with_randomization_inference_never_nests_the_client(dask_client):
    """Property: an RI whose client is set, used as diagnose's inference, runs serially inside each task (no
    nested use of the client from a worker), with the numbers of the serial diagnosis."""
    trial = _blocked_trial(n_per_block=8)
    ri = RandomizationInference(reps=40, seed=1, batch_size=16, confidence_interval=False)
    serial = trial.diagnose("y", effect=0.3, sims=4, seed=2, task_size=2, inference=ri)
    nested = trial.diagnose(
        "y",
        effect=0.3,
        sims=4,
        seed=2,
        task_size=2,
        inference=dataclasses.replace(ri, client=dask_client),
        client=dask_client,
    )
    assert nested.simulations.equals(serial.simulations)
