"""Every registered estimator owns a batched form, and the batched fits equal the per-draw fits.

The reference throughout is the unbatched path: the estimator's own ``fit`` run on each re-drawn assignment, then
``evalkit.inference.sandwich.sandwich`` on that fit (sandwich is itself checked against estimatr, clubSandwich and
statsmodels in test_sandwich*.py). The batched path is what randomization inference runs:
``REGISTRY[name].batch_design(sample, fit)`` fitted by ``evalkit.inference.batched.fit_treatment_design``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pytest
from _simulate import community_panel

import evalkit as ek
import evalkit.inference.randomization as randomization
from evalkit.errors import EstimationError, InferenceError
from evalkit.estimators import REGISTRY, DiDTreatmentDesign, Estimator, LinearFit, TreatmentDesign
from evalkit.estimators.regression import lin
from evalkit.inference._base import InferenceContext, InferenceMethod, InferenceOutcome
from evalkit.inference.batched import fit_treatment_design
from evalkit.inference.randomization import RandomizationInference
from evalkit.inference.sandwich import sandwich

RI = RandomizationInference
N_DRAWS = 20
HC_TYPES = ["classical", "HC0", "HC1", "HC2", "HC3"]
CR_TYPES = ["CR0", "CR1", "CR2"]


# ---------------------------------------------------------------------------------------------------- designs
def _trial_data(kind: str, seed: int = 11) -> pd.DataFrame:
    """48 units: complete (20 of 48 treated), blocked (4 blocks of 12, 5 treated each), matched pairs (24 pairs),
    or cluster (12 clusters of 4 in 3 blocks, 2 of 4 clusters treated per block). Two covariates, a baseline and
    weights."""
    rng = np.random.default_rng(seed)
    n = 48
    data = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.uniform(size=n), "w": rng.uniform(0.5, 2.0, size=n)})
    if kind == "complete":
        data["treated"] = rng.permutation(np.r_[np.ones(20), np.zeros(28)])
    elif kind == "blocked":
        data["block"] = np.repeat(np.arange(4), 12)
        data["treated"] = np.concatenate([rng.permutation(np.r_[np.ones(5), np.zeros(7)]) for _ in range(4)])
    elif kind == "matched_pairs":
        data["pair"] = np.repeat(np.arange(24), 2)
        data["treated"] = np.concatenate([rng.permutation([1.0, 0.0]) for _ in range(24)])
    else:
        cluster = np.repeat(np.arange(12), 4)
        data["cluster"] = cluster
        data["block"] = cluster % 3
        treated_clusters = np.zeros(12)
        for b in range(3):
            treated_clusters[rng.choice(np.flatnonzero(np.arange(12) % 3 == b), 2, replace=False)] = 1.0
        data["treated"] = treated_clusters[cluster]
    pair_effect = rng.normal(size=n) if kind != "matched_pairs" else np.repeat(rng.normal(size=24), 2)
    noise = rng.normal(size=n) * (1.0 + 0.6 * data["treated"])  # heteroskedastic: HC types differ
    data["y_bl"] = pair_effect + rng.normal(scale=0.5, size=n)
    data["y"] = 0.5 * data["treated"] + 0.8 * data["x1"] - 0.4 * data["x2"] + pair_effect + noise
    return data


def _trial(kind: str, weighted: bool) -> ek.RandomizedTrial:
    data = _trial_data(kind)
    w = "w" if weighted else None
    if kind == "complete":
        return ek.RandomizedTrial(data, treatment="treated", weights=w)
    if kind == "blocked":
        return ek.RandomizedTrial(data, treatment="treated", blocks="block", weights=w)
    if kind == "matched_pairs":
        return ek.RandomizedTrial(data, treatment="treated", blocks="pair", weights=w)
    return ek.RandomizedTrial(data, treatment="treated", blocks="block", clusters="cluster", weights=w)


def _panel(seed: int = 3, n_comm: int = 12, per_comm: int = 3, periods: int = 4, start: int = 2) -> pd.DataFrame:
    """Households in communities in 3 districts, half of each district's communities treated from ``start`` on."""
    rng = np.random.default_rng(seed)
    rows = community_panel(rng, n_comm, per_comm, periods, start)
    hh = np.arange(n_comm * per_comm)
    rows["x"] = rng.normal(size=len(rows))
    rows["w"] = rng.uniform(0.5, 2.0, size=hh.size)[rows.household]
    noise = rng.normal(size=len(rows)) * (1 + 0.5 * rows.treated)
    rows["y"] = rng.normal(size=hh.size)[rows.household] + 0.4 * rows.wave + 0.3 * rows.x + rows.treated + noise
    return rows


def _cross_sections(seed: int = 5, n_comm: int = 12) -> pd.DataFrame:
    """Repeated cross-sections of 12 communities in 3 districts, 2 of 4 treated per district."""
    rng = np.random.default_rng(seed)
    comm = np.arange(n_comm)
    district = comm % 3
    treated_comm = np.zeros(n_comm, dtype=bool)
    for b in range(3):
        treated_comm[rng.choice(comm[district == b], 2, replace=False)] = True
    size = rng.integers(3, 7, size=(n_comm, 2))
    c = np.concatenate([np.repeat(comm, size[:, p]) for p in (0, 1)])
    post = np.concatenate([np.zeros(size[:, 0].sum(), dtype=int), np.ones(size[:, 1].sum(), dtype=int)])
    rows = pd.DataFrame({"community": c, "post": post, "district": district[c], "g": treated_comm[c].astype(int)})
    rows["x"] = rng.normal(size=len(rows))
    rows["w"] = rng.uniform(0.5, 2.0, size=len(rows))
    rows["y"] = rng.normal(scale=0.5, size=n_comm)[c] + 0.5 * post + 0.4 * rows.x + rows.g * post
    rows["y"] += rng.normal(size=len(rows)) * (1 + 0.5 * rows.g)
    return rows


def _did(kind: str, weighted: bool) -> ek.DiffInDiff:
    w = "w" if weighted else None
    if kind == "did_2x2":
        return ek.DiffInDiff(
            _cross_sections(),
            treatment="g",
            post="post",
            clusters="community",
            blocks="district",
            weights=w,
            assignment=ek.BlockClusterRandomization(),
        )
    return ek.DiffInDiff(
        _panel(),
        treatment="treated",
        unit="household",
        time="wave",
        clusters="community",
        blocks="district",
        weights=w,
        assignment=ek.BlockClusterRandomization(),
    )


@dataclass(frozen=True)
class _Probe(InferenceMethod):
    """An inference method that keeps what the design hands down (the fit and the context)."""

    store: dict
    name = "probe"

    def infer(self, fit: LinearFit, ctx: InferenceContext) -> InferenceOutcome:
        self.store.setdefault("calls", []).append((fit, ctx))
        return InferenceOutcome(np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, None, "probe")


def _handed_down(estimator: str, kind: str, weighted: bool) -> list[tuple[LinearFit, InferenceContext]]:
    store: dict = {}
    if kind in ("complete", "blocked", "matched_pairs", "cluster"):
        covariates = None if estimator == "difference_in_means" else ["x1", "x2"]
        baseline = "y_bl" if estimator == "change" else None
        _trial(kind, weighted).estimate(
            "y", estimator=estimator, covariates=covariates, baseline=baseline, inference=_Probe(store)
        )
    else:
        kwargs = {"estimator": estimator, "covariates": ["x"]}
        if estimator == "event_study":
            kwargs.update(leads=1, lags=1)  # event times -3..1 binned into [-2, 1]: end-point binning exercised
        _did(kind, weighted).estimate("y", inference=_Probe(store), **kwargs)
    return store["calls"]


# Every registered estimator x every design kind it accepts. ``lin`` on matched pairs is refused by the estimator
# itself (2 + 2 (p + B - 1) > 2B coefficients; see test_lin_refuses_matched_pairs), so it has no batched case.
TRIAL_KINDS = ("complete", "blocked", "matched_pairs", "cluster")
CASES = [
    *[(e, k) for e in ("difference_in_means", "ols", "change") for k in TRIAL_KINDS],
    *[("lin", k) for k in ("complete", "blocked", "cluster")],
    ("did", "did_2x2"),
    ("twfe", "twfe_panel"),
    ("event_study", "event_study"),
]


def _cov_types(kind: str) -> list[str]:
    return HC_TYPES + CR_TYPES if kind in ("cluster", "did_2x2", "twfe_panel", "event_study") else HC_TYPES


PARAMS = [
    pytest.param(e, k, c, w, id=f"{e}-{k}-{c}{'-weighted' if w else ''}")
    for e, k in CASES
    for c in _cov_types(k)
    for w in (False, True)
]


# ------------------------------------------------------------------------------------------------------ tests
# Registered without a batched form, with the batched estimator randomization inference runs instead: 2SLS is tested
# on its reduced form, the ``ols`` fit of the outcome on assignment (tests/estimators/test_iv.py checks it is batched).
UNBATCHED = {"iv": "ols"}


def test_every_registered_estimator_has_a_batched_form_and_a_case():
    # A new estimator must come with a batched form (or say why not, and which batched form RI uses) and a case here.
    assert {e for e, _ in CASES} | set(UNBATCHED) == set(REGISTRY)
    for name, estimator in REGISTRY.items():
        assert estimator.name == name
        if name in UNBATCHED:
            assert not estimator.batched and estimator.unbatched_reason
            assert REGISTRY[UNBATCHED[name]].batched
            continue
        assert estimator.batched, f"{name} has no batched form: {estimator.unbatched_reason}"


@pytest.mark.parametrize(("estimator", "kind", "cov_type", "weighted"), PARAMS)
def test_batched_fit_equals_per_draw_fit_and_sandwich(estimator, kind, cov_type, weighted):
    # SOURCE: the unbatched path -- REGISTRY[estimator].fit on each of 20 re-drawn assignments, then
    # evalkit.inference.sandwich.sandwich on that fit, with the design's small-sample correction (panels: the
    # absorbed unit effects counted by HC1 / CR1 / classical). Weighted CR2: the batched fits work on sqrt(w) X,
    # i.e. the inverse-variance working model, so that is the reference (sandwich()'s default for weighted CR2 is
    # the identity working model since issue 8 item 6; the batched identity model is not written yet).
    # TOLERANCE: 1e-10 relative on estimate and standard error (1e-12 absolute floor for estimates that are zero up
    # to rounding).
    calls = _handed_down(estimator, kind, weighted)
    est = REGISTRY[estimator]
    for fit, ctx in calls:  # one call per reported term (an event study: every event time)
        design = est.batch_design(ctx.sample, fit)
        expected_type = DiDTreatmentDesign if estimator in ("did", "twfe", "event_study") else TreatmentDesign
        assert isinstance(design, expected_type), "the batched form must be used, not the per-draw loop"
        Z = ctx.draw(np.random.default_rng(2026), N_DRAWS).astype(np.float64)
        clusters = ctx.clusters if cov_type.startswith("CR") else None
        Y = np.column_stack([fit.y, ctx.sample.treatment])  # what randomization inference fits
        if ctx.correction.absorbed and cov_type in ("HC2", "HC3"):
            # absorbed unit effects: the kernel refuses HC2/HC3 (their leverages are not the model's), so must the batch
            with pytest.raises(InferenceError, match="absorbed"):
                sandwich(fit.X, fit.residuals, cov_type, weights=fit.weights, correction=ctx.correction)
            with pytest.raises(InferenceError, match="absorbed"):
                fit_treatment_design(
                    design,
                    Z,
                    Y,
                    cov_type=cov_type,
                    weights=ctx.sample.weights,
                    clusters=clusters,
                    correction=ctx.correction,
                )
            continue
        batch = fit_treatment_design(
            design, Z, Y, cov_type=cov_type, weights=ctx.sample.weights, clusters=clusters, correction=ctx.correction
        )
        for b in range(N_DRAWS):
            refit = replace(est.fit(replace(ctx.sample, treatment=Z[b])), target=fit.target)
            cov = sandwich(
                refit.X,
                refit.residuals,
                cov_type,
                weights=refit.weights,
                clusters=clusters,
                correction=ctx.correction,
                working_model="inverse_variance",  # the batched weighted CR2 (see below)
            )
            assert batch.estimates[b] == pytest.approx(refit.estimate, rel=1e-10, abs=1e-12)
            assert batch.std_errors[b] == pytest.approx(np.sqrt(cov.vcov[fit.target, fit.target]), rel=1e-10)


def test_lin_refuses_matched_pairs():
    # Lin's estimator interacts treatment with every centred pair indicator: 2 + 2 (p + B - 1) = 52 coefficients
    # for 48 units (B = 24 pairs, p = 2 covariates), so neither its fit nor its batched form exists.
    trial = _trial("matched_pairs", weighted=False)
    with pytest.raises(EstimationError):
        trial.estimate("y", estimator="lin", covariates=["x1", "x2"])


def test_matched_pairs_batched_form_is_the_pair_fixed_effects_regression():
    # Matched pairs: X = [1, z, D] with D the pair indicators (no centring, no interaction), the regression whose
    # HC2 variance is Imai's (2008) sum((d_b - mean d)^2) / (B (B - 1)). SOURCE: that closed form on the pair
    # differences of a re-drawn assignment; TOLERANCE: 1e-10 relative.
    (fit, ctx), *_ = _handed_down("difference_in_means", "matched_pairs", weighted=False)
    design = REGISTRY["difference_in_means"].batch_design(ctx.sample, fit)
    assert isinstance(design, TreatmentDesign)
    assert design.interacted.shape[1] == 0 and design.fixed.shape[1] == 23
    Z = ctx.draw(np.random.default_rng(5), 3).astype(np.float64)
    batch = fit_treatment_design(design, Z, fit.y[:, None], cov_type="HC2", weights=None, clusters=None)
    y = ctx.sample.y
    for b in range(3):
        z = Z[b].reshape(24, 2)
        pair_y = y.reshape(24, 2)
        d = (pair_y * z).sum(axis=1) - (pair_y * (1 - z)).sum(axis=1)
        assert batch.estimates[b] == pytest.approx(d.mean(), rel=1e-10)
        assert batch.std_errors[b] == pytest.approx(np.sqrt(((d - d.mean()) ** 2).sum() / (24 * 23)), rel=1e-10)


def test_matched_pairs_randomization_inference_takes_the_batched_path():
    # Issue 8 item 8: matched-pairs randomization inference used to fall back to the per-draw loop, silently.
    # SOURCE for the numbers: the per-draw loop on the same draws (an estimator name the registry does not know
    # forces it); TOLERANCE: 1e-9 relative on the null statistics, 1e-12 absolute on the p-value.
    trial = _trial("matched_pairs", weighted=False)
    inference = RI(reps=500, seed=3, enumerate="never", progress=False)
    res = trial.estimate("y", inference=inference)
    extra = res.fits["y"].inference
    assert extra["batched"] is True
    assert not any("draw by draw" in note for note in res.notes)

    @dataclass(frozen=True)
    class Looped(InferenceMethod):
        name = "looped randomization inference"

        def infer(self, fit: LinearFit, ctx: InferenceContext) -> InferenceOutcome:
            return inference.infer(fit, replace(ctx, estimator="matched pairs, unregistered"))

    looped = trial.estimate("y", inference=Looped())
    assert looped.fits["y"].inference["batched"] is False
    assert any("draw by draw" in note and "not a registered estimator" in note for note in looped.notes)
    np.testing.assert_allclose(extra["null_statistics"], looped.fits["y"].inference["null_statistics"], rtol=1e-9)
    assert res.to_frame()["p_value"].iloc[0] == pytest.approx(looped.to_frame()["p_value"].iloc[0], abs=1e-12)


def test_an_estimator_without_batched_form_must_say_why_and_randomization_inference_reports_it(monkeypatch):
    # Registering an estimator without a batched form is refused unless the reason is stated ...
    with pytest.raises(EstimationError, match="without a batched form"):
        Estimator("lin_without_batch", lin, None)
    with pytest.raises(EstimationError, match="one or the other"):
        Estimator("lin_both", lin, REGISTRY["lin"].design_function, unbatched_reason="no reason")
    # ... and randomization inference then loops per draw and puts that reason in the results' notes.
    unbatched = Estimator("lin_unbatched", lin, None, unbatched_reason="a test estimator with no batched form")
    monkeypatch.setattr(randomization, "REGISTRY", {**REGISTRY, unbatched.name: unbatched})
    trial = _trial("complete", weighted=False)
    store: dict = {}
    trial.estimate("y", estimator="lin", covariates=["x1"], inference=_Probe(store))
    fit, ctx = store["calls"][0]
    out = RI(reps=50, seed=1, progress=False).infer(fit, replace(ctx, estimator="lin_unbatched"))
    assert out.extra["batched"] is False
    assert out.notes and "a test estimator with no batched form" in out.notes[0]


def test_difference_in_differences_results_carry_the_per_draw_note():
    # did.py passes the inference method's notes on to Results.notes, as trials do.
    did = _did("twfe_panel", weighted=False)
    inference = RI(reps=20, seed=1, enumerate="never", confidence_interval=False, progress=False)

    @dataclass(frozen=True)
    class Looped(InferenceMethod):
        name = "looped randomization inference"

        def infer(self, fit: LinearFit, ctx: InferenceContext) -> InferenceOutcome:
            return inference.infer(fit, replace(ctx, estimator="twfe, unregistered"))

    assert any("draw by draw" in note for note in did.estimate("y", inference=Looped()).notes)
    assert not any("draw by draw" in note for note in did.estimate("y", inference=inference).notes)


@pytest.mark.parametrize("fe_dof", ["nested", "full"])
@pytest.mark.parametrize("cov_type", ["classical", "HC1", "CR1"])
def test_panel_randomization_inference_reports_the_tables_standard_error(cov_type, fe_dof):
    # The batched sandwich counts the absorbed unit effects through the kernel's small_sample_factor, as the table's
    # sandwich does (issue 8 item 3). SOURCE: DiffInDiff.estimate(inference=cov_type) on the same panel, whose SE is
    # checked against fixest/pyfixest in test_did.py; TOLERANCE: 1e-10 relative on the standard error, and the
    # observed statistic equals estimate / std_error to 1e-10.
    did = _did("twfe_panel", weighted=False)
    table = did.estimate("y", inference=cov_type, fe_dof=fe_dof).to_frame().iloc[0]
    inference = RI(reps=20, seed=1, enumerate="never", cov_type=cov_type, confidence_interval=False, progress=False)
    ri = did.estimate("y", inference=inference, fe_dof=fe_dof).to_frame().iloc[0]
    assert ri["std_error"] == pytest.approx(table["std_error"], rel=1e-10)
    # the real check: the batched engine's observed statistic studentizes with that same SE
    assert ri["statistic"] == pytest.approx(ri["estimate"] / ri["std_error"], rel=1e-10)


@pytest.mark.parametrize("weighted", [False, True])
def test_clustered_randomization_statistic_is_estimate_over_std_error(weighted):
    # CR2, weighted or not: the observed statistic is estimate / std_error (the same kernel and working model for
    # both; closed-form identity, TOLERANCE 1e-10 relative), and no note speaks of a working-model mismatch.
    trial = _trial("cluster", weighted=weighted)
    res = trial.estimate("y", inference=RI(reps=50, seed=1, confidence_interval=False, progress=False))
    row = res.to_frame().iloc[0]
    assert not any("inverse-variance working model" in note for note in res.notes)
    assert row["statistic"] == pytest.approx(row["estimate"] / row["std_error"], rel=1e-10)
