"""Batched randomization inference for difference-in-differences designs (2x2, two-way fixed effects, event study).

The batched path (evalkit.estimators.DiDTreatmentDesign, fitted by evalkit.inference.batched.fit_did_design) must
reproduce, draw by draw, the estimator run through did.py's registry plus evalkit.inference.sandwich.sandwich on its
(within-transformed) fit, and the per-draw loop of RandomizationInference, which refits twice per draw.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from _simulate import community_panel

import evalkit as ek
from evalkit.designs.assignment import BlockClusterRandomization, ClusterRandomization
from evalkit.designs.did import _ESTIMATORS, DiffInDiff
from evalkit.errors import EstimationError
from evalkit.estimators import REGISTRY, DiDTreatmentDesign, LinearFit
from evalkit.inference._base import InferenceContext, InferenceMethod, InferenceOutcome
from evalkit.inference.batched import batch_estimates, fit_treatment_design
from evalkit.inference.randomization import RandomizationInference
from evalkit.inference.sandwich import sandwich

RI = RandomizationInference
COV_TYPES = ["classical", "HC0", "HC1", "HC2", "HC3", "CR0", "CR1", "CR2"]


# ---------------------------------------------------------------------------------------------------- helpers
def simulate_panel(seed: int = 3, n_comm: int = 12, per_comm: int = 4, periods: int = 4, start: int = 2):
    """Communities in 3 districts, half of each district's communities treated from period ``start`` on."""
    rng = np.random.default_rng(seed)
    rows = community_panel(rng, n_comm, per_comm, periods, start)
    hh = np.arange(n_comm * per_comm)
    alpha = rng.normal(size=hh.size)[rows.household]
    shock = rng.normal(scale=0.4, size=(n_comm, periods))[rows.community, rows.wave]
    rows["x"] = rng.normal(size=len(rows))
    rows["w"] = rng.uniform(0.5, 2.0, size=hh.size)[rows.household]
    noise = rng.normal(size=len(rows)) * (1 + 0.5 * rows.treated)
    rows["y"] = alpha + 0.4 * rows.wave + shock + 0.3 * rows.x + 1.5 * rows.treated + noise
    return rows


def simulate_cross_sections(seed: int = 5, n_comm: int = 12, per_cell: int = 6):
    """Repeated cross-sections: communities in 3 districts observed before and after, 2 of 4 treated per district."""
    rng = np.random.default_rng(seed)
    comm = np.arange(n_comm)
    district = comm % 3
    treated_comm = np.zeros(n_comm, dtype=bool)
    for b in range(3):
        treated_comm[rng.choice(comm[district == b], 2, replace=False)] = True
    size = rng.integers(per_cell - 2, per_cell + 3, size=(n_comm, 2))
    c = np.concatenate([np.repeat(comm, size[:, p]) for p in (0, 1)])
    post = np.concatenate([np.zeros(size[:, 0].sum(), dtype=int), np.ones(size[:, 1].sum(), dtype=int)])
    rows = pd.DataFrame({"community": c, "post": post, "district": district[c], "g": treated_comm[c].astype(int)})
    rows["x"] = rng.normal(size=len(rows))
    shock = rng.normal(scale=0.5, size=n_comm)[c]
    rows["y"] = shock + 0.5 * rows.post + 0.4 * rows.x + 1.0 * rows.g * rows.post + rng.normal(size=len(rows))
    return rows


@dataclass(frozen=True)
class _Probe(InferenceMethod):
    """An inference method that keeps what the design hands down (the fit and the context)."""

    store: dict
    name = "probe"

    def infer(self, fit: LinearFit, ctx: InferenceContext) -> InferenceOutcome:
        self.store.setdefault("calls", []).append((fit, ctx))
        return InferenceOutcome(np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, None, "probe")


@dataclass(frozen=True)
class _Looped(InferenceMethod):
    """Randomization inference forced onto the per-draw loop (an estimator name the registry does not know)."""

    inner: RandomizationInference
    name = "looped randomization inference"

    def infer(self, fit: LinearFit, ctx: InferenceContext) -> InferenceOutcome:
        return self.inner.infer(fit, replace(ctx, estimator=f"per-draw loop of {ctx.estimator}"))


def _handed_down(did: DiffInDiff, outcome: str, **kwargs) -> list[tuple[LinearFit, InferenceContext]]:
    store: dict = {}
    did.estimate(outcome, inference=_Probe(store), **kwargs)
    return store["calls"]


def _panel_design(data: pd.DataFrame, weights: str | None = None) -> DiffInDiff:
    return DiffInDiff(
        data,
        treatment="treated",
        unit="household",
        time="wave",
        clusters="community",
        blocks="district",
        weights=weights,
        assignment=BlockClusterRandomization(),
    )


def _cross_section_design(data: pd.DataFrame) -> DiffInDiff:
    return DiffInDiff(
        data,
        treatment="g",
        post="post",
        clusters="community",
        blocks="district",
        assignment=BlockClusterRandomization(),
    )


def _unbalanced(data: pd.DataFrame, start: int = 2, seed: int = 9) -> pd.DataFrame:
    """Drop about 15% of the rows, never from the first period or the start period (one common start date)."""
    rng = np.random.default_rng(seed)
    drop = (data.wave > 0) & (data.wave != start) & (rng.uniform(size=len(data)) < 0.15)
    return data.loc[~drop].reset_index(drop=True)


# ------------------------------------------------------------------------- batched fits == refit + sandwich()
CASES = {
    "twfe": lambda: (_panel_design(simulate_panel()), {"covariates": ["x"]}),
    "twfe-weighted-unbalanced": lambda: (
        _panel_design(_unbalanced(simulate_panel()), weights="w"),
        {"covariates": ["x"]},
    ),
    "event_study": lambda: (_panel_design(simulate_panel()), {"estimator": "event_study", "covariates": ["x"]}),
    "event_study-binned-weighted": lambda: (
        _panel_design(simulate_panel(periods=5, start=3), weights="w"),
        {"estimator": "event_study", "leads": 2, "lags": 1},
    ),
    "did": lambda: (_cross_section_design(simulate_cross_sections()), {"covariates": ["x"]}),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_batched_fit_equals_refit_and_sandwich_on_redrawn_assignments(case, cov_type):
    # SOURCE: did.py's registry (the estimator itself) refitted on each re-drawn treatment regressor, and
    # evalkit.inference.sandwich.sandwich on that (within-transformed) fit -- sandwich is checked against estimatr,
    # clubSandwich and statsmodels in test_sandwich*.py. TOLERANCE: 1e-10 relative (estimate and standard error).
    did, kwargs = CASES[case]()
    calls = _handed_down(did, "y", **kwargs)
    for fit, ctx in calls:  # one call per term (event studies: every event time)
        design = REGISTRY[ctx.estimator].batch_design(ctx.sample, fit)
        assert isinstance(design, DiDTreatmentDesign), "the batched path must be taken, not the per-draw loop"
        assert design.target == fit.target
        Z = ctx.draw(np.random.default_rng(2), 6)
        clusters = ctx.clusters if cov_type.startswith("CR") else None
        batch = fit_treatment_design(
            design, Z, ctx.sample.y, cov_type=cov_type, weights=ctx.sample.weights, clusters=clusters
        )
        for b in range(Z.shape[0]):
            refit = replace(ctx.refit(replace(ctx.sample, treatment=Z[b].astype(float))), target=fit.target)
            # batched weighted CR2 works on sqrt(w) X: the inverse-variance working model (sandwich()'s default for
            # weighted CR2 is the identity model since issue 8)
            cov = sandwich(
                refit.X,
                refit.residuals,
                cov_type,
                weights=refit.weights,
                clusters=clusters,
                working_model="inverse_variance",
            )
            se = np.sqrt(cov.vcov[fit.target, fit.target])
            assert batch.estimates[b] == pytest.approx(refit.estimate, rel=1e-10, abs=1e-12)
            assert batch.std_errors[b] == pytest.approx(se, rel=1e-10)


@pytest.mark.parametrize("estimator", ["twfe", "did"])
def test_batch_estimates_entry_point_matches_registry(estimator):
    # batch_estimates(estimator, sample, Z) on the design's sample, against _ESTIMATORS[estimator] + sandwich (CR2).
    # SOURCE: the estimator and sandwich() run draw by draw. TOLERANCE: 1e-10 relative.
    did = (
        _panel_design(simulate_panel(seed=4))
        if estimator == "twfe"
        else _cross_section_design(simulate_cross_sections())
    )
    _, ctx = _handed_down(did, "y")[0]
    Z = ctx.draw(np.random.default_rng(7), 4)
    batch = batch_estimates(estimator, ctx.sample, Z, cov_type="CR2", clusters=ctx.clusters)
    for b in range(Z.shape[0]):
        refit = _ESTIMATORS[estimator](replace(ctx.sample, treatment=Z[b].astype(float)))
        cov = sandwich(refit.X, refit.residuals, "CR2", weights=refit.weights, clusters=ctx.clusters)
        assert batch.estimates[b] == pytest.approx(refit.estimate, rel=1e-10)
        assert batch.std_errors[b] == pytest.approx(np.sqrt(cov.vcov[refit.target, refit.target]), rel=1e-10)


def test_vraem_cr2_per_draw_equals_twfe_and_sandwich():
    # VRAEM household panel (31 communities in 6 districts), social capital, CR2 by community (the DiD default).
    # SOURCE: twfe(sample) refitted per draw + sandwich(fit.X, fit.residuals, "CR2"). TOLERANCE: 1e-10 relative.
    did = _vraem()
    fit, ctx = _handed_down(did, "social_capital")[0]
    design = REGISTRY["twfe"].batch_design(ctx.sample, fit)
    assert isinstance(design, DiDTreatmentDesign)
    Z = ctx.draw(np.random.default_rng(11), 5)
    Y = np.column_stack([fit.y, ctx.sample.treatment])
    batch = fit_treatment_design(design, Z, Y, cov_type="CR2", weights=None, clusters=ctx.clusters)
    for b in range(Z.shape[0]):
        refit = _ESTIMATORS["twfe"](replace(ctx.sample, treatment=Z[b].astype(float)))
        cov = sandwich(refit.X, refit.residuals, "CR2", clusters=ctx.clusters)
        assert batch.estimates[b] == pytest.approx(refit.estimate, rel=1e-10)
        assert batch.std_errors[b] == pytest.approx(np.sqrt(cov.vcov[0, 0]), rel=1e-10)


# ----------------------------------------------------------------------------------- batched == per-draw loop
def _vraem() -> DiffInDiff:
    data = ek.datasets.load_vraem()
    return ek.DiffInDiff(
        data,
        treatment="treated_post",
        unit="household_id",
        time="wave",
        clusters="community",
        blocks="district",
        assignment=ek.BlockClusterRandomization(),
    )


def _compare_with_loop(did: DiffInDiff, outcome: str, inference: RandomizationInference, **kwargs) -> None:
    # SOURCE: RandomizationInference's per-draw loop (the estimator refitted twice per draw, then sandwich formulas
    # on its fit) on the same draws. TOLERANCE: 1e-9 relative on the null statistics and the interval ends, 1e-12
    # absolute on the p-value (a ratio of counts).
    for fit, ctx in _handed_down(did, outcome, **kwargs):  # the batched path is the one RandomizationInference takes
        assert isinstance(REGISTRY[ctx.estimator].batch_design(ctx.sample, fit), DiDTreatmentDesign)
    batched = did.estimate(outcome, inference=inference, **kwargs)
    looped = did.estimate(outcome, inference=_Looped(inference), **kwargs)
    for fb, fl in zip(batched.fits.values(), looped.fits.values(), strict=True):
        assert fb.inference["null_statistics"].shape == (fl.inference["null_statistics"].shape[0],)
        np.testing.assert_allclose(fb.inference["null_statistics"], fl.inference["null_statistics"], rtol=1e-9)
        assert fb.inference["n_undefined"] == fl.inference["n_undefined"]
    tb, tl = batched.to_frame(), looped.to_frame()
    assert len(tb) == len(tl)
    np.testing.assert_allclose(tb["p_value"], tl["p_value"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(tb["statistic"], tl["statistic"], rtol=1e-9)
    if inference.confidence_interval:
        ends_b, ends_l = tb[["conf_low", "conf_high"]].to_numpy(), tl[["conf_low", "conf_high"]].to_numpy()
        # An event-study lead does not move with the constant effect of the sharp null (D is zero before the start):
        # its inverted interval is unbounded, and both paths stop the bracketing at a numerically arbitrary end
        # beyond 1e8; compare the bounded ends only.
        bounded = np.abs(ends_l) < 1e8
        np.testing.assert_allclose(ends_b[bounded], ends_l[bounded], rtol=1e-9)
        assert (np.abs(ends_b[~bounded]) > 1e8).all()
    assert tb["inference"].tolist() == tl["inference"].tolist()


@pytest.mark.parametrize(
    ("case", "cov_type"),
    [
        ("twfe", None),  # CR2 by community, the default
        ("twfe-weighted-unbalanced", "CR1"),
        ("event_study", "CR2"),
        ("did", "HC2"),
        ("did", None),
    ],
)
def test_batched_equals_loop_on_simulated_designs(case, cov_type):
    did, kwargs = CASES[case]()
    inference = RI(reps=150, seed=3, cov_type=cov_type, null=0.5, batch_size=64, progress=False)
    _compare_with_loop(did, "y", inference, **kwargs)


def test_batched_equals_loop_on_vraem_panel():
    # 300 draws of the 17-of-31 community assignment within the 6 districts, social capital, CR2 studentized.
    inference = RI(reps=300, seed=20260, progress=False)
    _compare_with_loop(_vraem(), "social_capital", inference)


# ------------------------------------------------------------------------------------------ exact enumeration
def _tiny_panel() -> pd.DataFrame:
    """8 communities in 2 districts (2 of 4 treated in each), 2 households each, 2 waves: C(4, 2)^2 = 36 draws."""
    rng = np.random.default_rng(21)
    comm = np.repeat(np.arange(8), 2)
    hh = np.arange(16)
    treated_comm = np.array([1, 0, 1, 0, 0, 1, 1, 0])
    rows = pd.DataFrame({"household": np.repeat(hh, 2), "wave": np.tile([0, 1], 16)})
    rows["community"] = comm[rows.household]
    rows["district"] = rows.community // 4
    rows["treated"] = treated_comm[rows.community] * rows.wave
    rows["y"] = rng.normal(size=16)[rows.household] + 0.5 * rows.wave + 0.8 * rows.treated + rng.normal(size=32)
    return rows


def _brute_force_t(data: pd.DataFrame, kind: str) -> dict[tuple[int, ...], float]:
    """t statistics of the DiD coefficient under every within-district assignment of 2 of 4 communities, by
    statsmodels OLS on the full-rank dummy-variable regression with CR0 (Liang-Zeger, no small-sample factor) by
    community. Panel: intercept, household dummies, district x wave-1 dummies; 2x2: intercept, group, post,
    district and district x post dummies."""
    comm = data.community.to_numpy()
    district = data.district.to_numpy()
    post = data.wave.to_numpy(dtype=float)
    by_district = [np.unique(comm[district == b]) for b in np.unique(district)]
    d1 = (district == 1).astype(float)
    if kind == "panel":
        households = pd.get_dummies(data.household.astype(str), drop_first=True, dtype=float).to_numpy()
        fixed = np.column_stack([households, (1 - d1) * post, d1 * post])
    else:
        fixed = np.column_stack([post, d1, d1 * post])
    out = {}
    for picks in itertools.product(*[itertools.combinations(c, 2) for c in by_district]):
        treated = np.isin(comm, np.concatenate(picks)).astype(float)
        X = np.column_stack([np.ones(len(data)), treated * post, fixed])
        if kind == "2x2":
            X = np.column_stack([X, treated])
        assert np.linalg.matrix_rank(X) == X.shape[1]
        res = sm.OLS(data.y.to_numpy(), X).fit(cov_type="cluster", cov_kwds={"groups": comm, "use_correction": False})
        out[tuple(int(c) for c in np.concatenate(picks))] = float(res.tvalues[1])
    return out


@pytest.mark.parametrize("kind", ["panel", "2x2"])
def test_exact_enumeration_equals_brute_force_statsmodels(kind):
    # SOURCE: brute-force loop over all C(4, 2)^2 = 36 assignments, each a statsmodels OLS dummy-variable regression
    # (panel: unit and district x wave dummies; 2x2: group, post, district and district x post) with CR0 by
    # community; with unit effects nested in the clusters CR0 of the within fit equals the dummy-variable CR0
    # (same residuals and same row of (X'X)^{-1}X', Frisch-Waugh-Lovell). TOLERANCE: 1e-9 relative on the sorted
    # null t statistics, 1e-12 on the exact p-value (a ratio of counts).
    data = _tiny_panel()
    if kind == "panel":
        did = DiffInDiff(
            data,
            treatment="treated",
            unit="household",
            time="wave",
            clusters="community",
            blocks="district",
            assignment=BlockClusterRandomization(),
        )
    else:
        data = data.assign(g=data.treated.groupby(data.community).transform("max"), post=data.wave)
        did = DiffInDiff(
            data.drop(columns=["household", "treated"]),
            treatment="g",
            post="post",
            clusters="community",
            blocks="district",
            assignment=BlockClusterRandomization(),
        )
    ts = _brute_force_t(_tiny_panel(), kind)
    inference = RI(enumerate="always", cov_type="CR0", confidence_interval=False)
    res = did.estimate("y", inference=inference)
    row = res.to_frame().iloc[0]
    null = np.sort(res.fits["y"].inference["null_statistics"])
    assert bool(row["exact"]) and row["n_draws"] == 36
    np.testing.assert_allclose(null, np.sort(list(ts.values())), rtol=1e-9)
    observed = tuple(int(c) for c in np.flatnonzero(np.array([1, 0, 1, 0, 0, 1, 1, 0])))
    t_obs = ts[observed]
    assert row["statistic"] == pytest.approx(t_obs, rel=1e-9)
    expected = np.mean(np.abs(list(ts.values())) >= abs(t_obs) - 1e-10)
    assert row["p_value"] == pytest.approx(expected, abs=1e-12)


# ------------------------------------------------------------------------------------ reproducibility, fallbacks
def test_same_seed_bit_identical_and_other_seed_differs():
    did = _panel_design(simulate_panel(seed=6))
    # 216 possible assignments: enumerate="never" so that the seed matters
    a = did.estimate("y", inference=RI(reps=400, seed=17, enumerate="never", progress=False))
    b = did.estimate("y", inference=RI(reps=400, seed=17, enumerate="never", progress=False))
    c = did.estimate("y", inference=RI(reps=400, seed=18, enumerate="never", progress=False))
    na, nb, nc = (r.fits["y"].inference["null_statistics"] for r in (a, b, c))
    np.testing.assert_array_equal(na, nb)
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())
    assert not np.array_equal(na, nc)


def test_designs_the_batch_cannot_rebuild_fall_back_to_the_loop():
    did = _panel_design(simulate_panel())
    fit, ctx = _handed_down(did, "y")[0]
    assert REGISTRY["twfe"].batch_design(ctx.sample, fit) is not None
    assert REGISTRY["twfe"].batch_design(ctx.sample, replace(fit, X=fit.X + 1.0)) is None  # not the estimator's X
    with pytest.raises(EstimationError, match="panel units"):  # the batched form refuses what twfe() refuses
        REGISTRY["twfe"].batch_design(replace(ctx.sample, units=None))
    es_fit, es_ctx = _handed_down(did, "y", estimator="event_study")[0]
    # documented: without a fixed window the event times (columns) follow each draw
    assert REGISTRY["event_study"].batch_design(replace(es_ctx.sample, event_window=None), es_fit) is None
    with pytest.raises(EstimationError, match="post"):  # a panel sample has no post indicator
        REGISTRY["did"].batch_design(ctx.sample)


def test_collinear_draw_gives_nan_like_the_loop():
    # One treated community of 9 and a covariate that flags community 8: the draw that treats community 8 makes the
    # group indicator equal to that covariate, the estimator raises (collinear) and the loop records NaN (counted
    # as extreme); the batch must do the same. SOURCE: the per-draw loop; exact enumeration of the 9 assignments.
    # TOLERANCE: identical NaN pattern, 1e-9 elsewhere.
    data = simulate_cross_sections(n_comm=9)
    data = data.assign(g=(data.community == 0).astype(int), flag=(data.community == 8).astype(float))
    did = DiffInDiff(data, treatment="g", post="post", clusters="community", assignment=ClusterRandomization())
    inference = RI(reps=120, seed=1, progress=False)
    _compare_with_loop(did, "y", inference, covariates=["flag"])
    res = did.estimate("y", inference=inference, covariates=["flag"])
    assert res.fits["y"].inference["n_undefined"] == 1
    assert res.to_frame()["n_draws"].iloc[0] == 9
