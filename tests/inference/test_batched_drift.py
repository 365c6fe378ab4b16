"""The batched randomization engine must give the numbers of the per-draw kernel (issue 8 follow-up).

Two drifts are pinned here:

* a covariate far from zero (shifted by 1e4 ... 1e10) must change nothing: the per-draw path fits on the centred,
  unit-scaled basis of :func:`evalkit._linear_algebra.condition_design`, and so must the batched path (the
  treatment coefficient and every sandwich are invariant to an affine map of the other columns: closed-form
  identity, so the reference is the unshifted run of the same design);
* weighted CR2: the studentized statistic of the draws uses the working model of the ``Sandwich`` asked for
  (``working_model=``), the reference being the estimator's ``fit`` plus
  :func:`evalkit.inference.sandwich.sandwich` on every re-drawn assignment.

The covariates are dyadic (multiples of 2**-10) so that ``x + shift`` is exactly representable for every shift up
to 1e10 (< 2**34, whose float64 spacing is 2**-18): the shifted data are the same data, not a rounded copy.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import pytest
from _simulate import community_panel

import evalkit as ek
import evalkit.inference.randomization as randomization
from evalkit.estimators import REGISTRY, LinearFit
from evalkit.inference._base import InferenceContext, InferenceMethod, InferenceOutcome
from evalkit.inference.batched import fit_treatment_design
from evalkit.inference.randomization import RandomizationInference
from evalkit.inference.sandwich import sandwich

RI = RandomizationInference
SHIFTS = [1e4, 1e7, 1e8, 1e10]


def _dyadic(values: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(values) * 1024.0) / 1024.0


def _trial_data(seed: int = 11) -> pd.DataFrame:
    """48 units in 12 clusters of 4 (3 blocks, 2 of 4 clusters treated per block) and 48 units, 20 treated."""
    rng = np.random.default_rng(seed)
    n = 48
    cluster = np.repeat(np.arange(12), 4)
    treated_clusters = np.zeros(12)
    for b in range(3):
        treated_clusters[rng.choice(np.flatnonzero(np.arange(12) % 3 == b), 2, replace=False)] = 1.0
    data = pd.DataFrame(
        {
            "cluster": cluster,
            "block": cluster % 3,
            "ctreated": treated_clusters[cluster],
            "treated": rng.permutation(np.r_[np.ones(20), np.zeros(28)]),
            "x": _dyadic(rng.normal(size=n)),
            "w": _dyadic(rng.uniform(0.5, 2.0, size=n)),
        }
    )
    data["y"] = 0.3 * data["treated"] + 0.2 * data["ctreated"] + 0.8 * data["x"] + rng.normal(size=n)
    data["y"] += rng.normal(size=12)[cluster]
    return data


def _trial(data: pd.DataFrame, clustered: bool, weighted: bool = False) -> ek.RandomizedTrial:
    w = "w" if weighted else None
    if clustered:
        return ek.RandomizedTrial(data, treatment="ctreated", blocks="block", clusters="cluster", weights=w)
    return ek.RandomizedTrial(data, treatment="treated", weights=w)


def _cross_sections(seed: int = 5, n_comm: int = 12) -> pd.DataFrame:
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
    rows["x"] = _dyadic(rng.normal(size=len(rows)))
    rows["y"] = rng.normal(scale=0.5, size=n_comm)[c] + 0.5 * post + 0.4 * rows.x + 0.3 * rows.g * post
    rows["y"] += rng.normal(size=len(rows))
    return rows


def _panel(seed: int = 3, n_comm: int = 12, per_comm: int = 3, periods: int = 4, start: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = community_panel(rng, n_comm, per_comm, periods, start)
    hh = np.arange(n_comm * per_comm)
    rows["x"] = _dyadic(rng.normal(size=len(rows)))
    rows["y"] = rng.normal(size=hh.size)[rows.household] + 0.4 * rows.wave + 0.3 * rows.x + 0.3 * rows.treated
    rows["y"] += rng.normal(size=len(rows))
    return rows


def _did(kind: str, data: pd.DataFrame) -> ek.DiffInDiff:
    if kind == "did_2x2":
        return ek.DiffInDiff(
            data,
            treatment="g",
            post="post",
            clusters="community",
            blocks="district",
            assignment=ek.BlockClusterRandomization(),
        )
    return ek.DiffInDiff(
        data,
        treatment="treated",
        unit="household",
        time="wave",
        clusters="community",
        blocks="district",
        assignment=ek.BlockClusterRandomization(),
    )


def _shifted(data: pd.DataFrame, shift: float) -> pd.DataFrame:
    out = data.copy()
    out["x"] = out["x"] + shift
    assert np.array_equal(out["x"] - shift, data["x"])  # exactly representable: the same data
    return out


def _ri(results: ek.Results) -> tuple[pd.Series, dict]:
    return results.to_frame().iloc[0], results.fits["y"].inference


INFERENCE = RI(reps=500, seed=4, confidence_interval=False, progress=False)


def _run(kind: str, estimator: str, data: pd.DataFrame) -> tuple[pd.Series, dict]:
    if kind in ("trial", "clustered_trial"):
        design = _trial(data, clustered=kind == "clustered_trial")
        return _ri(design.estimate("y", estimator=estimator, covariates=["x"], inference=INFERENCE))
    return _ri(_did(kind, data).estimate("y", estimator=estimator, covariates=["x"], inference=INFERENCE))


SHIFT_CASES = [
    *[(kind, est) for kind in ("trial", "clustered_trial") for est in ("ols", "lin")],
    ("did_2x2", "did"),
    ("twfe_panel", "twfe"),
]


@pytest.mark.parametrize(("kind", "estimator"), SHIFT_CASES)
def test_shifted_covariate_changes_nothing(kind, estimator):
    # Reference: the unshifted run (closed-form invariance of the treatment coefficient and of every sandwich to
    # x -> x + c with an intercept or absorbed unit effects). TOLERANCE: null statistics 1e-8 relative, p-value
    # and the number of undefined draws exactly.
    base = (_cross_sections() if kind == "did_2x2" else _panel()) if kind in ("did_2x2", "twfe_panel") else None
    data = _trial_data() if base is None else base
    row0, extra0 = _run(kind, estimator, data)
    assert extra0["batched"] is True
    assert extra0["n_undefined"] == 0
    for shift in SHIFTS:
        row, extra = _run(kind, estimator, _shifted(data, shift))
        assert extra["batched"] is True, shift
        assert extra["n_undefined"] == 0, shift
        np.testing.assert_allclose(extra["null_statistics"], extra0["null_statistics"], rtol=1e-8, err_msg=str(shift))
        assert row["p_value"] == row0["p_value"], shift
        assert row["statistic"] == pytest.approx(row0["statistic"], rel=1e-8), shift


# ------------------------------------------------------------------------------------------- collinear draws
def _near_collinear_sample(kappa_scale: float):
    """A trial sample whose covariate is one possible assignment ``z1`` plus ``kappa_scale`` times noise: the
    design of the draw ``z1`` has a condition number of about ``1 / kappa_scale``."""
    rng = np.random.default_rng(2)
    n = 40
    z0 = rng.permutation(np.r_[np.ones(16), np.zeros(24)])
    z1 = rng.permutation(np.r_[np.ones(16), np.zeros(24)])
    x = z1 + kappa_scale * rng.normal(size=n)
    y = 0.5 * z0 + x + rng.normal(size=n)
    sample = ek.estimators.EstimationSample(y=y, treatment=z0, covariates=x[:, None], covariate_names=("x",))
    return sample, np.vstack([z0, z1, 1.0 - z1])


@pytest.mark.parametrize("kappa_scale", [0.0, 1e-12, 1e-9, 3e-8, 1e-7, 1e-6])
@pytest.mark.parametrize("cov_type", ["HC2", "CR2"])
def test_a_collinear_draw_is_undefined_in_both_paths_alike(kappa_scale, cov_type):
    # Reference: the per-draw path, REGISTRY["ols"].fit on the sample with each re-drawn treatment, which refuses
    # (EstimationError) a design whose centred, unit-scaled condition number exceeds CONDITION_LIMIT = 1/sqrt(eps)
    # (condition_design). The batched fit must be NaN for exactly those draws, and equal the per-draw sandwich
    # elsewhere (TOLERANCE 1e-6 relative: the draws near the limit lose up to half of the digits by construction).
    from evalkit.errors import EstimationError

    sample, Z = _near_collinear_sample(kappa_scale)
    clusters = np.repeat(np.arange(20), 2) if cov_type == "CR2" else None
    est = REGISTRY["ols"]
    design = est.batch_design(sample, est.fit(sample))
    batched = fit_treatment_design(design, Z, sample.y[:, None], cov_type=cov_type, weights=None, clusters=clusters)
    for b, z in enumerate(Z):
        try:
            fit = est.fit(replace(sample, treatment=z))
        except EstimationError:
            assert np.isnan(batched.estimates[b]) and np.isnan(batched.std_errors[b]), (kappa_scale, b)
            continue
        se = np.sqrt(sandwich(fit.X, fit.residuals, cov_type, clusters=clusters).vcov[1, 1])
        assert batched.estimates[b] == pytest.approx(fit.estimate, rel=1e-6), (kappa_scale, b)
        assert batched.std_errors[b] == pytest.approx(se, rel=1e-6), (kappa_scale, b)


# ------------------------------------------------------------------------------------- weighted CR2 working model
@dataclass(frozen=True)
class _Probe(InferenceMethod):
    """Keeps what the design hands down to an inference method (the fit and the context)."""

    store: dict
    name = "probe"

    def infer(self, fit: LinearFit, ctx: InferenceContext) -> InferenceOutcome:
        self.store["call"] = (fit, ctx)
        return InferenceOutcome(np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, None, "probe")


def _weighted_design(kind: str):
    if kind == "clustered_trial":
        return _trial(_trial_data(), clustered=True, weighted=True), {"estimator": "ols", "covariates": ["x"]}
    data = _panel()
    data["w"] = _dyadic(np.random.default_rng(8).uniform(0.5, 2.0, size=data["household"].max() + 1))[data["household"]]
    design = ek.DiffInDiff(
        data,
        treatment="treated",
        unit="household",
        time="wave",
        clusters="community",
        blocks="district",
        weights="w",
        assignment=ek.BlockClusterRandomization(),
    )
    return design, {"estimator": "twfe", "covariates": ["x"]}


@pytest.mark.parametrize("kind", ["clustered_trial", "twfe_panel"])
@pytest.mark.parametrize("working_model", ["identity", "inverse_variance"])
def test_weighted_cr2_statistic_uses_the_working_model_asked_for(kind, working_model):
    # Reference 1: the table's estimate / std_error (std_error = sandwich(..., working_model=...), the same kernel;
    # closed-form identity, TOLERANCE 1e-10 relative). Reference 2: for 20 re-drawn assignments, the estimator's
    # own fit and sandwich(fit.X, fit.residuals, "CR2", weights, clusters, working_model=...) per draw
    # (sandwich is checked against clubSandwich in test_sandwich*.py); TOLERANCE 1e-10 relative.
    design, kwargs = _weighted_design(kind)
    ri = RI(reps=50, seed=3, confidence_interval=False, progress=False, working_model=working_model)
    res = design.estimate("y", inference=ri, **kwargs)
    row, extra = _ri(res)
    assert row["statistic"] == pytest.approx(row["estimate"] / row["std_error"], rel=1e-10)
    assert extra["batched"] is (working_model == "inverse_variance")
    assert not any("inverse-variance working model" in note for note in res.notes)

    store: dict = {}
    design.estimate("y", inference=_Probe(store), **kwargs)
    fit, ctx = store["call"]
    Z = ctx.draw(np.random.default_rng(5), 20).astype(np.float64)
    engine = randomization._engine(fit, ctx, "CR2", ctx.clusters, working_model)
    fits = engine(Z)
    stats = fits.coef[:, 0] / np.sqrt(fits.gram[:, 0, 0])
    est = REGISTRY[ctx.estimator]
    expected = []
    for z in Z:
        f = est.fit(replace(ctx.sample, treatment=z))
        cov = sandwich(
            f.X,
            f.residuals,
            "CR2",
            weights=f.weights,
            clusters=ctx.clusters,
            correction=ctx.correction,
            working_model=working_model,
        )
        expected.append(f.estimate / np.sqrt(cov.vcov[f.target, f.target]))
    np.testing.assert_allclose(stats, expected, rtol=1e-10)


def test_working_model_is_checked():
    # House rule: Literal options are checked (check_option raises OptionError naming the value).
    with pytest.raises(ek.errors.OptionError, match="working_model"):
        RI(working_model="inverse-variance")
