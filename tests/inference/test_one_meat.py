"""One covariance meat: sandwich(), the batched resampling engine and the wild-bootstrap studentizer share it.

Issue 8 ("one covariance kernel ... so a batched and an unbatched SE cannot drift"): the leverage weights of
HC2/HC3 (with the leverage-one check), the cluster sums of CR0/CR1, the CR2 score adjustment and the classical
variance were written three times (``sandwich()``, ``batched.target_gram`` and the CR2 batch pieces, and
``multiple_testing._studentizer``, which had no leverage-one check and returned infinite weights). They now live in
``evalkit/inference/sandwich.py`` only (``leverage_scale``, ``coefficient_meat``, ``cr2_adjusted_scores``,
``coefficient_score_weights``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import evalkit.inference as inference_pkg
from evalkit._linear_algebra import condition_design
from evalkit.errors import InferenceError
from evalkit.estimators import fit_least_squares
from evalkit.inference import batched
from evalkit.inference.multiple_testing import _studentizer
from evalkit.inference.sandwich import (
    coefficient_meat,
    coefficient_score_weights,
    leverage_scale,
    sandwich,
    small_sample_factor,
)

_PACKAGE = Path(inference_pkg.__file__).parent
_CONSUMERS = ("batched.py", "multiple_testing.py")
_LEVERAGE_NAMES = {"h", "lev", "leverage", "leverages", "hat", "h_ii"}
_COUNT_NAMES = {"n", "N", "G", "n_obs", "n_clusters", "n_groups"}


def _is_one(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value in (1, 1.0) and not isinstance(node.value, bool)


def _name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _meat_patterns(source: str) -> list[str]:
    """Places where a module computes a leverage weight, a small-sample factor or the CR2 score adjustment."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Sub):
            # 1 - h (leverage weight)
            if _is_one(node.left) and _name(node.right) in _LEVERAGE_NAMES:
                found.append(f"line {node.lineno}: 1 - {_name(node.right)}")
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div) and isinstance(node.right, ast.BinOp):
            # n / (n - k), (n - 1) / (n - k), G / (G - 1): a small-sample factor
            right = node.right
            if isinstance(right.op, ast.Sub) and _name(right.left) in _COUNT_NAMES:
                found.append(f"line {node.lineno}: ... / ({_name(right.left)} - ...)")
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult) and isinstance(node.right, ast.BinOp):
            # cross @ (phi @ scores): the CR2 adjustment X_g'e_g + C_g Phi_g X_g'e_g
            if isinstance(node.right.op, ast.MatMult) and _name(node.right.left) == "phi":
                found.append(f"line {node.lineno}: ... @ (phi @ ...)")
        if isinstance(node, ast.Name) and node.id == "LEVERAGE_TOL":
            found.append(f"line {node.lineno}: LEVERAGE_TOL")
        if isinstance(node, ast.Call) and _name(node.func) == "cr2_identity_directions":
            found.append(f"line {node.lineno}: cr2_identity_directions(...)")
    return found


# ------------------------------------------------------------------------------------------------ structure
@pytest.mark.parametrize("module", _CONSUMERS)
def test_consumers_compute_no_meat_themselves(module: str) -> None:
    # SOURCE: issue 8 (one covariance kernel). Before this change batched.py had `1.0 - h`, LEVERAGE_TOL and two
    # `cross @ (phi @ XE)`, and multiple_testing.py had `np.sqrt(1.0 - h)`, `1.0 - h` and its own CR2 directions.
    found = _meat_patterns((_PACKAGE / module).read_text())
    assert found == [], f"{module} computes covariance meat itself (use evalkit.inference.sandwich): {found}"


def test_the_detector_sees_the_patterns() -> None:
    # The structural test above can fail: each pattern it forbids is found in a snippet that has it.
    snippet = (
        "a = c / np.sqrt(1.0 - h)\n"
        "b = n / (n - k)\n"
        "f = G / (G - 1) * (n - 1) / (n - k)\n"
        "s = XE + cross @ (phi @ XE)\n"
        "ok = one_minus >= LEVERAGE_TOL\n"
        "d = cr2_identity_directions(X, w, g, G, c, L)\n"
    )
    found = _meat_patterns(snippet)
    assert [f.split(":")[0] for f in found].count("line 3") == 2  # G / (G - 1) and (n - 1) / (n - k)
    assert {f.split(":")[0] for f in found} == {f"line {i}" for i in range(1, 7)}
    assert _meat_patterns(_PACKAGE.joinpath("sandwich.py").read_text())  # the one copy is where it belongs


def test_batched_engine_uses_the_kernels_meat() -> None:
    # batched.target_gram (public name kept) is the kernel's coefficient_meat, not a second copy.
    assert batched.target_gram is coefficient_meat


# ------------------------------------------------------------------------------------------------ leverage one
def _leverage_one_fit():
    """y ~ 1 + z + x + dummy, the dummy equal to 1 for observation 7 only: h_77 = 1."""
    rng = np.random.default_rng(8)
    n = 20
    dummy = np.zeros(n)
    dummy[7] = 1.0
    X = np.column_stack([np.ones(n), np.arange(n) % 2, rng.normal(size=n), dummy])
    y = X @ [1.0, 0.5, 0.2, 0.3] + rng.normal(size=n)
    return X, fit_least_squares(y, X, ("(Intercept)", "z", "x", "d"), 1)


@pytest.mark.parametrize("cov_type", ["HC2", "HC3"])
def test_studentizer_refuses_a_leverage_of_one(cov_type: str) -> None:
    # SOURCE: sandwich() refuses HC2/HC3 when h_ii = 1 (MacKinnon and White 1985: the weight 1/(1 - h_ii) is
    # undefined); before this change the studentizer divided by zero and studentized with infinite weights.
    X, fit = _leverage_one_fit()
    with pytest.raises(InferenceError, match=r"observation\(s\) 7 have leverage h_ii = 1"):
        sandwich(X, fit.residuals, cov_type)
    with pytest.raises(InferenceError, match=r"observation\(s\) 7 have leverage h_ii = 1"):
        _studentizer(fit, cov_type, None, impose_null=True)


def test_studentizer_accepts_the_same_fit_under_hc1() -> None:
    # HC1 has no leverage weight: the same fit is fine (the refusal above is about HC2/HC3 only).
    _, fit = _leverage_one_fit()
    st = _studentizer(fit, "HC1", None, impose_null=True)
    assert np.isfinite(st.d).all()


def test_leverage_scale_closed_forms() -> None:
    # SOURCE: closed forms (MacKinnon and White 1985): HC2 s = (1 - h)^(-1/2), HC3 s = 1 / (1 - h); h = 1 is
    # undefined (strict raises, batched marks the fit). TOLERANCE: 1e-15 relative.
    h = np.array([[0.0, 0.5, 0.75], [0.2, 1.0, 0.1]])
    s2, good2 = leverage_scale(h, "HC2", strict=False)
    np.testing.assert_allclose(s2[0], [1.0, np.sqrt(2.0), 2.0], rtol=1e-15)
    s3, good3 = leverage_scale(h, "HC3", strict=False)
    np.testing.assert_allclose(s3[0], [1.0, 2.0, 4.0], rtol=1e-15)
    assert good2.tolist() == [True, False] and good3.tolist() == [True, False]
    s1, good1 = leverage_scale(h, "HC1", strict=True)
    assert (s1 == 1.0).all() and good1.all()
    with pytest.raises(InferenceError, match="leverage h_ii = 1"):
        leverage_scale(h, "HC2")


# ------------------------------------------------------------------------------------------------ numbers
def test_coefficient_meat_hc2_is_the_neyman_variance() -> None:
    # SOURCE: closed form: for y ~ 1 + z (z binary), HC2 Var(tau) = s1^2/n1 + s0^2/n0 with ddof-1 variances
    # (Imbens and Kolesar 2016, section 2). TOLERANCE: 1e-12 relative.
    rng = np.random.default_rng(3)
    z = np.r_[np.ones(7), np.zeros(12)]
    y = 1.0 + 0.4 * z + rng.normal(size=z.size) * (1 + z)
    X = np.column_stack([np.ones(z.size), z])
    B = np.linalg.inv(X.T @ X)
    a = (B @ X.T)[1]
    e = y - X @ (B @ X.T @ y)
    h = np.einsum("ij,jk,ik->i", X, B, X)
    gram, good = coefficient_meat(a[None], e[None, :, None], "HC2", z.size, 2, h=h[None])
    expected = y[z == 1].var(ddof=1) / 7 + y[z == 0].var(ddof=1) / 12
    assert good.all()
    np.testing.assert_allclose(gram[0, 0, 0], expected, rtol=1e-12)


@pytest.mark.parametrize("cov_type", ["classical", "HC0", "HC1", "HC2", "HC3", "CR0", "CR1"])
def test_coefficient_meat_matches_the_full_sandwich(cov_type: str) -> None:
    # SOURCE: sandwich()'s full matrix (checked live against estimatr in tests/r_reference), entry [1, 1], computed
    # on the conditioned design there and on the raw one here. TOLERANCE: 1e-10 relative.
    rng = np.random.default_rng(12)
    n = 24
    X = np.column_stack([np.ones(n), np.arange(n) % 2, rng.normal(size=n)])
    y = X @ [0.5, 0.3, -0.2] + rng.normal(size=n) * (1 + X[:, 1])
    clusters = np.repeat(np.arange(8), 3)
    cl = clusters if cov_type.startswith("CR") else None
    B = np.linalg.inv(X.T @ X)
    a = (B @ X.T)[1]
    e = y - X @ (B @ X.T @ y)
    h = np.einsum("ij,jk,ik->i", X, B, X)
    groups = None if cl is None else (clusters[None, :] == np.arange(8)[:, None]).astype(float)
    gram, _ = coefficient_meat(a[None], e[None, :, None], cov_type, n, 3, np.array([B[1, 1]]), h[None], groups=groups)
    np.testing.assert_allclose(gram[0, 0, 0], sandwich(X, e, cov_type, clusters=cl).vcov[1, 1], rtol=1e-10)


@pytest.mark.parametrize("cov_type", ["HC0", "HC1", "HC2", "HC3", "CR0", "CR1", "CR2"])
@pytest.mark.parametrize("working_model", ["identity", "inverse_variance"])
def test_score_weights_give_the_sandwich_variance(cov_type: str, working_model: str) -> None:
    # SOURCE: sandwich() (estimatr/clubSandwich conventions, checked live in tests/r_reference): the studentizer's
    # per-row weights d give Var(beta_1) = factor * sum_i (d_i e~_i)^2 (HC) or factor * sum_g (sum_g d_i e~_i)^2
    # (CR), weighted fit. TOLERANCE: 1e-10 relative.
    rng = np.random.default_rng(21)
    n = 30
    X = np.column_stack([np.ones(n), rng.integers(0, 2, n), rng.normal(size=n)])
    y = X @ [1.0, 0.4, 0.3] + rng.normal(size=n)
    w = rng.uniform(0.5, 2.0, n)
    codes = np.repeat(np.arange(10), 3)
    clustered = cov_type.startswith("CR")
    fit = fit_least_squares(y, X, ("(Intercept)", "z", "x"), 1, weights=w)
    design = condition_design(X, fit.residuals, w, keep=1)
    d = coefficient_score_weights(
        design, np.eye(3)[:, 1], cov_type, codes=codes, n_clusters=10, working_model=working_model
    )
    u = d * np.asarray(design.et)
    if clustered:
        u = np.bincount(codes, weights=u, minlength=10)
    factor = small_sample_factor(cov_type, n, 3, 10)
    expected = sandwich(
        X, fit.residuals, cov_type, weights=w, clusters=codes if clustered else None, working_model=working_model
    )
    np.testing.assert_allclose(factor * (u @ u), expected.vcov[1, 1], rtol=1e-10)
