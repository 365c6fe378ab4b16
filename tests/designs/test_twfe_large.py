"""Two-way fixed effects on large panels (issue 12, item 5): the linear-time code paths agree with their references.

The speed work replaced ``np.unique``/sorting by counting on integer codes, sorting the rows of a panel by grouped
minima, the sandwich's second SVD by the fit's conditioned design, and the direct SVD of a tall design by the R-SVD.
Each is checked here against the reference it replaced (numpy, pandas, the old algorithm written out), and the whole
estimate against pyfixest on an unbalanced, unsorted panel whose clusters are not its units.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evalkit._codes import dense_codes, first_rows, n_distinct
from evalkit._linear_algebra import factorize_clusters, group_sum, thin_svd
from evalkit.designs._roles import encode_labels
from evalkit.designs.did import DiffInDiff
from evalkit.errors import DesignError
from evalkit.estimators._linear import fit_least_squares
from evalkit.inference.sandwich import sandwich

pf = pytest.importorskip("pyfixest")


def staggered_panel(seed: int = 5, units: int = 240, periods: int = 6, drop: int = 90) -> pd.DataFrame:
    """Units in 40 communities (the clusters), adoption in periods 2..4 or never, rows dropped and shuffled."""
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(units), periods)
    period = np.tile(np.arange(periods), units) + 2000  # years: labels are not codes
    start = rng.choice([2002, 2003, 2004, 9999], units)
    treated = (period >= start[unit]).astype(int)
    community = (np.arange(units) // 6)[unit]
    y = rng.normal(size=units)[unit] + 0.3 * (period - 2000) + 0.5 * treated + rng.normal(size=unit.size)
    d = pd.DataFrame({"unit": unit * 7 + 3, "year": period, "community": community, "treated": treated, "y": y})
    d = d.drop(index=rng.choice(len(d), drop, replace=False))
    return d.sample(frac=1.0, random_state=1).reset_index(drop=True)  # unsorted rows


# ----------------------------------------------------------------------------------------------------- end to end
def test_unbalanced_unsorted_clusters_not_units_match_pyfixest() -> None:
    d = staggered_panel()
    did = DiffInDiff(d, treatment="treated", unit="unit", time="year", clusters="community")
    res = did.estimate("y", inference="CR1")
    row = res.to_frame().iloc[0]
    ref = pf.feols("y ~ treated | unit + year", data=d, vcov={"CRV1": "community"})
    # SOURCE: pyfixest feols, CRV1 by community (fixest's small-sample convention), run here. TOLERANCE: 1e-8 rel.
    assert row["estimate"] == pytest.approx(ref.coef()["treated"], rel=1e-8)
    assert row["std_error"] == pytest.approx(ref.se()["treated"], rel=1e-8)
    assert row["panel"] == "unbalanced"
    assert row["n_clusters"] == 40


def test_row_order_changes_nothing() -> None:
    # Property: the panel checks no longer sort the rows, so the estimate, its SE, the notes and the dropped rows
    # must not depend on their order (always-treated units and a unit without a pre-period included).
    d = staggered_panel(seed=8)
    d.loc[d.unit == d.unit.iloc[0], "treated"] = 1  # treated in its first observed period: dropped
    ordered = d.sort_values(["unit", "year"]).reset_index(drop=True)
    out = []
    for frame in (d, ordered):
        res = DiffInDiff(frame, treatment="treated", unit="unit", time="year", clusters="community").estimate(
            "y", inference="CR1"
        )
        out.append(res)
    a, b = (r.to_frame().iloc[0] for r in out)
    assert a["estimate"] == pytest.approx(b["estimate"], rel=1e-12)
    assert a["std_error"] == pytest.approx(b["std_error"], rel=1e-10)
    assert out[0].notes == out[1].notes
    assert any("already treated in their first observed period" in n for n in out[0].notes)
    pd.testing.assert_frame_equal(out[0].dropped, out[1].dropped)


def _old_switch_off(d: pd.DataFrame) -> tuple[int, object, object]:
    """The pre-issue-12 algorithm written out: sort by unit and period, find a 1 followed by a 0 in a unit."""
    s = d.sort_values(["unit", "year"], kind="stable")
    drop = (s.unit.to_numpy()[1:] == s.unit.to_numpy()[:-1]) & (s.treated.to_numpy()[1:] < s.treated.to_numpy()[:-1])
    after = s.iloc[1:][drop]
    return after.unit.nunique(), int(after.unit.iloc[0]), int(after.year.iloc[0])


@pytest.mark.parametrize("in_order", [False, True], ids=["shuffled rows", "rows in unit-period order"])
def test_switch_off_note_matches_sorted_algorithm(in_order: bool) -> None:
    d = staggered_panel(seed=9, drop=0)
    if in_order:
        d = d.sort_values(["unit", "year"]).reset_index(drop=True)
    rng = np.random.default_rng(0)
    treated_units = d.loc[d.treated == 1, "unit"].unique()
    for u in rng.choice(treated_units, 5, replace=False):  # switch off in the last period
        d.loc[(d.unit == u) & (d.year == 2005), "treated"] = 0
    n_off, u0, t0 = _old_switch_off(d)
    did = DiffInDiff(d, treatment="treated", unit="unit", time="year")
    note = next(n for n in did.estimate("y", inference="CR1").notes if n.startswith("Non-absorbing"))
    assert f"switches off for {n_off} unit(s) of 'unit', e.g. unit={u0!r} (1 then 0 at year={t0!r})" in note


def _old_duplicate(d: pd.DataFrame) -> tuple[int, int, int]:
    """The pre-issue-12 algorithm written out: stable sort by unit and period, count equal neighbours, and name the
    second row of the first equal pair."""
    s = d.sort_values(["unit", "year"], kind="stable")
    same = (s.unit.to_numpy()[1:] == s.unit.to_numpy()[:-1]) & (s.year.to_numpy()[1:] == s.year.to_numpy()[:-1])
    second = s.iloc[1:][same]
    return int(same.sum()), int(second.unit.iloc[0]), int(second.year.iloc[0])


@pytest.mark.parametrize("sparse", [False, True], ids=["counted cells", "sorted cells"])
def test_duplicates_named_as_before(sparse: bool) -> None:
    # Both paths (a dense panel counts its cells, a sparse one sorts them) name the first duplicated cell in unit-
    # period order and the number of extra rows, as the sorting algorithm did.
    d = staggered_panel(seed=10, drop=0)
    if sparse:  # many periods, each observed in few rows: NT > 4n
        d["year"] = d["year"] * 1000 + np.arange(len(d)) % 997
    rng = np.random.default_rng(6)
    extra = d.iloc[rng.choice(len(d), 3, replace=False)]
    dup = pd.concat([d, extra, extra.iloc[:1]]).sample(frac=1.0, random_state=2)
    n_dup, unit, year = _old_duplicate(dup)
    assert n_dup == 4
    with pytest.raises(DesignError, match=rf"^4 duplicate 'unit'-'year' row\(s\), e.g. unit={unit}, year={year};"):
        DiffInDiff(dup, treatment="treated", unit="unit", time="year")


def test_design_is_not_changed_by_the_caller_and_does_not_change_it() -> None:
    d = staggered_panel(seed=11)
    before = d.copy()
    did = DiffInDiff(d, treatment="treated", unit="unit", time="year", clusters="community")
    first = did.estimate("y", inference="CR1").to_frame().iloc[0]
    d.loc[d.index[:50], "y"] = 1e6  # the caller edits its frame in place after building the design
    d["treated"] = 0
    again = did.estimate("y", inference="CR1").to_frame().iloc[0]
    # Property: the design kept its own data (a shallow copy is enough under copy-on-write, a deep one otherwise).
    assert again["estimate"] == first["estimate"] and again["std_error"] == first["std_error"]
    pd.testing.assert_frame_equal(did.data, before)


# ----------------------------------------------------------------------------------------------------- building blocks
def test_codes_match_numpy_unique() -> None:
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 50, 1000) * 3  # gaps between the codes
    # SOURCE: numpy.unique, which these replace. TOLERANCE: exact.
    assert n_distinct(codes) == np.unique(codes).size
    assert n_distinct(codes[:0]) == 0
    np.testing.assert_array_equal(dense_codes(codes), np.unique(codes, return_inverse=True)[1])
    present, idx = np.unique(codes, return_index=True)
    first = first_rows(codes, codes.max() + 2)
    np.testing.assert_array_equal(first[present], idx)
    assert (np.delete(first, present) == -1).all()


@pytest.mark.parametrize(
    "values",
    [np.arange(-5, 40)[::-1].repeat(3), np.array([10**12, 3, 10**12, 7]), np.array([2, 0, 2], dtype=np.uint8)],
    ids=["negative ids", "wide range", "uint8"],
)
def test_encode_labels_matches_pandas_factorize(values: np.ndarray) -> None:
    frame = pd.DataFrame({"id": values})
    codes, labels = encode_labels(frame, "id", "unit")
    ref_codes, ref_labels = pd.factorize(frame["id"], sort=True)
    # SOURCE: pandas.factorize(sort=True), the previous implementation. TOLERANCE: exact, label types included.
    np.testing.assert_array_equal(codes, ref_codes)
    ref = np.asarray(ref_labels, dtype=object)
    assert list(labels) == list(ref) and [type(v) for v in labels] == [type(v) for v in ref]


@pytest.mark.parametrize("shape", [(), (3,), (5, 5)], ids=["1-d", "narrow", "wide (sorted path)"])
def test_group_sum_matches_loop(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(2)
    codes = rng.integers(0, 7, 200)
    codes[codes == 4] = 5  # a group without rows
    values = rng.normal(size=(200, *shape))
    out = group_sum(values, codes, 8)
    ref = np.stack([values[codes == g].sum(axis=0) for g in range(8)])
    # SOURCE: the definition S_g = sum of the rows of group g. TOLERANCE: 1e-12 absolute (summation order).
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-12)


def test_cluster_codes_in_any_order_give_the_same_cr1() -> None:
    rng = np.random.default_rng(3)
    n = 300
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    e = rng.normal(size=n)
    clusters = rng.permutation(np.repeat(np.arange(30), 10))
    codes, uniques = factorize_clusters(clusters, n, any_order=True)
    assert len(uniques) == 30 and (codes == clusters).all()  # 0..29 are kept as they are
    # Property: CR1 does not depend on how clusters are numbered; strings take pandas' path. TOLERANCE: 1e-12.
    by_int = sandwich(X, e, "CR1", clusters=clusters).vcov
    by_text = sandwich(X, e, "CR1", clusters=np.array([f"c{c}" for c in clusters])).vcov
    np.testing.assert_allclose(by_int, by_text, rtol=1e-12)


def test_thin_svd_matches_lapack_svd() -> None:
    rng = np.random.default_rng(4)
    A = rng.normal(size=(500, 4)) @ np.diag([1.0, 1e-3, 1e3, 1.0])
    u, s, vt = thin_svd(A)
    s_ref = np.linalg.svd(A, compute_uv=False)
    # SOURCE: numpy.linalg.svd (LAPACK gesdd). TOLERANCE: 1e-12 relative on the singular values; U orthonormal and
    # U S V' = A to rounding.
    np.testing.assert_allclose(s, s_ref, rtol=1e-12)
    np.testing.assert_allclose(u.T @ u, np.eye(4), atol=1e-13)
    np.testing.assert_allclose((u * s) @ vt, A, atol=1e-9)


def test_sandwich_reuses_only_the_fits_own_design() -> None:
    rng = np.random.default_rng(5)
    n = 400
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.normal(size=n)])
    y = X @ [1.0, 0.5, -0.2] + rng.normal(size=n)
    clusters = np.repeat(np.arange(40), 10)
    fit = fit_least_squares(y, X, ("a", "b", "c"), 1)
    fresh = sandwich(fit.X, fit.residuals, "CR1", clusters=clusters)
    reused = sandwich(fit.X, fit.residuals, "CR1", clusters=clusters, design=fit.design)
    # Property: reusing the fit's conditioned design changes nothing. TOLERANCE: exact.
    np.testing.assert_array_equal(reused.vcov, fresh.vcov)
    other = X.copy()
    other[:, 2] *= 2.0  # a different matrix: the design must not be applied to it
    assert fit.design.reuse_for(other, fit.residuals, None) is None
    np.testing.assert_allclose(
        sandwich(other, fit.residuals, "CR1", clusters=clusters, design=fit.design).vcov,
        sandwich(other, fit.residuals, "CR1", clusters=clusters).vcov,
        rtol=0,
        atol=0,
    )
