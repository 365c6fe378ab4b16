"""Issue 9, item 1: list- and dict-valued cells.

An unused list or dict column must not stop ``estimate()`` (provenance hashes it through a stable text form), and a
list-valued label in a role (blocks, clusters, unit, time) is refused with a DataError naming the column, instead of
a ``TypeError: unhashable`` from deep inside pandas.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pandas as pd
import pytest

import evalkit as ek
from evalkit._linear_algebra import factorize_clusters
from evalkit.errors import DataError
from evalkit.provenance import data_hash


# ----------------------------------------------------------------------------------------------------- data
def _trial() -> pd.DataFrame:
    """40 units in 4 blocks of 10, 8 clusters of 5 (two per block, one of them treated)."""
    rng = np.random.default_rng(9)
    cluster = np.repeat(np.arange(8), 5)
    treated = (cluster % 2).astype(int)
    return pd.DataFrame(
        {
            "y": rng.normal(size=40) + 0.5 * treated,
            "treated": treated,
            "x": rng.normal(size=40),
            "block": np.repeat(["a", "b", "c", "d"], 10),
            "cluster": cluster,
        }
    )


def _panel() -> pd.DataFrame:
    """12 units x 6 periods, cohorts 3, 4 and never treated (0); clusters of 2 units."""
    rng = np.random.default_rng(19)
    rows = []
    for u in range(12):
        g = (3, 4, 0)[u % 3]
        for t in range(1, 7):
            d = int(g > 0 and t >= g)
            rows.append({"unit": u, "time": t, "d": d, "cohort": g, "y": rng.normal() + d + 0.1 * t, "cl": u // 2})
    return pd.DataFrame(rows)


def _with_list_and_dict(data: pd.DataFrame) -> pd.DataFrame:
    out = data.copy()
    out["tags"] = [[i, "x"] for i in range(len(out))]  # a survey export's multi-select
    out["meta"] = [{"wave": i % 3, "ok": True} for i in range(len(out))]  # JSON records
    return out


DESIGNS = {
    "trial": (_trial, lambda d: ek.RandomizedTrial(d, "treated", blocks="block").estimate("y")),
    "trial clustered": (_trial, lambda d: ek.RandomizedTrial(d, "treated", clusters="cluster").estimate("y")),
    "did panel": (_panel, lambda d: ek.DiffInDiff(d, "d", unit="unit", time="time").estimate("y")),
    "staggered": (_panel, lambda d: ek.StaggeredDiD(d, unit="unit", time="time", cohort="cohort").estimate("y")),
}


# ----------------------------------------------------------------------------------------------------- provenance
@pytest.mark.parametrize("name", list(DESIGNS))
def test_unused_list_and_dict_columns_do_not_stop_estimate(name: str) -> None:
    make, run = DESIGNS[name]
    plain = make()
    hostile = _with_list_and_dict(plain)
    before = hostile.copy(deep=True)
    res = run(hostile)  # TypeError: unhashable type: 'list' before the fix (provenance hashing)
    # Reference: the same design without the extra columns (the estimate cannot depend on unused columns); exact.
    pd.testing.assert_frame_equal(res.to_frame(), run(plain).to_frame(), check_exact=True)
    assert re.fullmatch(r"[0-9a-f]{16}", res.provenance["data_hash"])
    assert res.provenance["data_hash"] != run(plain).provenance["data_hash"]  # the extra columns are hashed
    pd.testing.assert_frame_equal(hostile, before)  # the caller's frame is unchanged


def test_data_hash_of_unhashable_cells_is_stable_and_sensitive() -> None:
    a = _with_list_and_dict(_trial())
    h = data_hash(a)
    assert data_hash(a.copy(deep=True)) == h  # equal frames, equal hashes
    # Dict key order is not part of the value: {"wave": 0, "ok": True} == {"ok": True, "wave": 0}.
    reordered = a.copy()
    reordered["meta"] = [{"ok": m["ok"], "wave": m["wave"]} for m in a["meta"]]
    assert data_hash(reordered) == h
    changed = a.copy()
    changed["tags"] = [list(t) for t in a["tags"]]
    changed.at[3, "tags"] = [3, "y"]
    assert data_hash(changed) != h
    # A list column and a text column spelling the same characters are different data.
    as_text = a.copy()
    as_text["tags"] = as_text["tags"].map(str)
    assert data_hash(as_text) != h


def test_data_hash_of_ordinary_frames_is_unchanged() -> None:
    # Reference: the pre-issue-9 definition, computed here with hashlib (string names joined by \x1f, then pandas'
    # row hashes); frames without unhashable cells and with string names must keep their hash (replication reports).
    data = _trial()
    digest = hashlib.sha256("\x1f".join(data.columns).encode())
    digest.update(pd.util.hash_pandas_object(data, index=True).to_numpy().tobytes())
    assert data_hash(data) == digest.hexdigest()[:16]


def test_data_hash_tells_integer_from_text_column_names() -> None:
    data = _trial()
    as_int = data.set_axis(range(data.shape[1]), axis=1)
    as_text = data.set_axis([str(i) for i in range(data.shape[1])], axis=1)
    assert data_hash(as_int) != data_hash(as_text)


# ----------------------------------------------------------------------------------------------------- roles
def _listify(data: pd.DataFrame, column: str) -> pd.DataFrame:
    out = data.copy()
    out[column] = [[v] for v in data[column]]
    return out


ROLE_CASES = {
    "trial blocks": (_trial, "block", lambda d: ek.RandomizedTrial(d, "treated", blocks="block")),
    "trial clusters": (_trial, "cluster", lambda d: ek.RandomizedTrial(d, "treated", clusters="cluster")),
    "did unit": (_panel, "unit", lambda d: ek.DiffInDiff(d, "d", unit="unit", time="time")),
    "did time": (_panel, "time", lambda d: ek.DiffInDiff(d, "d", unit="unit", time="time")),
    "did clusters": (_panel, "cl", lambda d: ek.DiffInDiff(d, "d", unit="unit", time="time", clusters="cl")),
    "did blocks": (_panel, "cl", lambda d: ek.DiffInDiff(d, "d", unit="unit", time="time", blocks="cl")),
    "staggered unit": (_panel, "unit", lambda d: ek.StaggeredDiD(d, unit="unit", time="time", cohort="cohort")),
    "staggered time": (_panel, "time", lambda d: ek.StaggeredDiD(d, unit="unit", time="time", cohort="cohort")),
    "staggered cohort": (_panel, "cohort", lambda d: ek.StaggeredDiD(d, unit="unit", time="time", cohort="cohort")),
    "staggered clusters": (
        _panel,
        "cl",
        lambda d: ek.StaggeredDiD(d, unit="unit", time="time", cohort="cohort", clusters="cl"),
    ),
    "assign blocks": (
        _trial,
        "block",
        lambda d: ek.assign(d, ek.BlockRandomization(share=0.5), blocks="block", seed=1),
    ),
    "assign clusters": (
        _trial,
        "cluster",
        lambda d: ek.assign(d, ek.ClusterRandomization(share=0.5), clusters="cluster", seed=1),
    ),
}


@pytest.mark.parametrize("name", list(ROLE_CASES))
def test_list_valued_role_labels_are_refused_by_name(name: str) -> None:
    make, column, build = ROLE_CASES[name]
    data = _listify(make(), column)
    before = data.copy(deep=True)
    with pytest.raises(DataError, match=rf"'{column}'.*unhashable.*\[") as info:  # TypeError before the fix
        build(data)
    assert "Convert them" in str(info.value)
    pd.testing.assert_frame_equal(data, before)


def test_assignment_spec_and_cluster_factorizer_refuse_unhashable_labels() -> None:
    labels = np.empty(6, dtype=object)
    labels[:] = [[0], [0], [1], [1], [2], [2]]
    with pytest.raises(DataError, match="blocks has an unhashable label"):
        ek.BlockRandomization(share=0.5).bind(6, blocks=labels)
    with pytest.raises(DataError, match="clusters has an unhashable label"):
        factorize_clusters(labels, 6)
