"""de Chaisemartin and D'Haultfoeuille's difference-in-differences for treatments that switch on and off.

Pure numpy on a groups x periods panel (``Y``, ``D``; NaN marks a missing cell). :func:`dcdh` returns
:class:`DcdhFit`: ``DID_M`` and its joiners' (``DID_+``) and leavers' (``DID_-``) parts (de Chaisemartin and
D'Haultfoeuille 2020, AER 110(9):2964-2996), the dynamic effects ``DID_l`` and placebos ``DID^pl_l`` (de Chaisemartin
and D'Haultfoeuille 2024, REStat, "Difference-in-differences estimators of intertemporal treatment effects"), each
with its per-group influence function, cohort-recentred as in the 2024 paper's Web Appendix (Sec. 3.7.3), ready for
:func:`evalkit.inference.influence.analytic_se`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evalkit.errors import DataError

__all__ = ["DcdhFit", "dcdh", "switch_metadata"]


@dataclass(frozen=True)
class DcdhFit:
    """The estimates of :func:`dcdh` and their influence functions.

    Attributes
    ----------
    terms : tuple of str
        ``"overall"`` (``DID_M``), ``"joiners"`` (``DID_+``), ``"leavers"`` (``DID_-``), then
        ``"event_time::l"`` for ``DID_l`` (l = 1..L) and ``"event_time::-l"`` for the placebos.
    kinds : tuple of str
        ``"DID_M"``, ``"DID_+"``, ``"DID_-"``, ``"dynamic"`` or ``"placebo"`` per term.
    event_time : ndarray
        l for ``DID_l``, -l for the placebos, NaN for the ``DID_M`` rows.
    estimates : ndarray
        NaN when a term has no switcher.
    influence : ndarray of shape (n_groups, n_terms)
        :math:`\\psi_{g} = n\\,\\tilde U_g / N`, the cohort-recentred per-group contribution :math:`\\tilde U_g`
        scaled so that :func:`~evalkit.inference.influence.analytic_se` gives
        :math:`\\sqrt{\\sum_g \\tilde U_g^2}/N` (``n`` groups, ``N`` switchers of the term); zero for a NaN term.
    n_switchers : ndarray of int
        Switching cells (``DID_M`` rows) or switching groups (``DID_l``, placebos) the estimate averages over.
    n_controls : ndarray of int
        Distinct groups used as controls.
    dropped_cells : tuple of str
        Switching cells left out because no stable group had the same previous treatment.
    """

    terms: tuple[str, ...]
    kinds: tuple[str, ...]
    event_time: np.ndarray
    estimates: np.ndarray
    influence: np.ndarray
    n_switchers: np.ndarray
    n_controls: np.ndarray
    dropped_cells: tuple[str, ...]


def switch_metadata(D: np.ndarray, present: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each group's baseline treatment :math:`D_{g,1}`, first-switch period :math:`F_g` and direction :math:`S_g`.

    :math:`F_g` is the first period whose treatment differs from the previous observed-in-both period (-1: never
    switches); :math:`S_g = +1` for a switch in, -1 out, 0 never (2024 paper, Sec. 2).
    """
    n = D.shape[0]
    pair = present[:, 1:] & present[:, :-1]
    change = pair & (D[:, 1:] != D[:, :-1])
    has = change.any(axis=1)
    first = np.where(has, change.argmax(axis=1) + 1, -1)
    rows = np.arange(n)
    direction = np.zeros(n, dtype=np.int64)
    direction[has] = np.where(D[rows[has], first[has]] > D[rows[has], first[has] - 1], 1, -1)
    return D[:, 0].copy(), first, direction


def _recentre(U: np.ndarray, cohort: np.ndarray) -> np.ndarray:
    """Subtract each cohort's mean of ``U`` (cohorts: codes 0..K-1)."""
    sums = np.bincount(cohort, weights=U)
    sizes = np.bincount(cohort)
    return U - (sums / sizes)[cohort]


def dcdh(
    Y: np.ndarray,
    D: np.ndarray,
    *,
    effects: int = 0,
    placebo: int = 0,
    period_labels: np.ndarray | None = None,
) -> DcdhFit:
    """de Chaisemartin-D'Haultfoeuille estimates on a groups x periods panel.

    Parameters
    ----------
    Y, D : ndarray of shape (n_groups, n_periods)
        Outcome and 0/1 treatment; NaN marks an unobserved cell. Every group must be observed in the first
        period (its baseline treatment).
    effects : int
        Number L of dynamic effects ``DID_l``, l = 1..L (0: none).
    placebo : int
        Number K of placebos ``DID^pl_l``, l = 1..K (0: none).
    period_labels : ndarray, optional
        Labels of the periods, used in the names of dropped cells.

    Returns
    -------
    DcdhFit

    Notes
    -----
    **DID_M** (2020, Theorem 3). For each period :math:`t` and consecutive pair of observed periods, joiners
    (:math:`D_{g,t-1}=0, D_{g,t}=1`) are compared with the groups untreated in both periods, leavers (1 then 0)
    with those treated in both:

    .. math::
        DID_{+,t} = \\overline{\\Delta Y}_{10,t} - \\overline{\\Delta Y}_{00,t},\\quad
        DID_{-,t} = \\overline{\\Delta Y}_{11,t} - \\overline{\\Delta Y}_{01,t},\\quad
        DID_M = \\sum_t \\frac{N_{10,t} DID_{+,t} + N_{01,t} DID_{-,t}}{N_S},

    :math:`N_S = \\sum_t (N_{10,t} + N_{01,t})` counting cells (each group-period once). ``DID_+`` and ``DID_-``
    are the joiners' and leavers' averages. A switching cell with no stable group of the same previous treatment
    is left out of the average (and of :math:`N_S`) and named in ``dropped_cells``.

    **DID_l** (2024, Eq. 3-5). With :math:`F_g` the first switch, :math:`DID_{g,l} = Y_{g,F_g-1+l} - Y_{g,F_g-1}`
    minus the mean change of the groups with the same baseline treatment that have not switched by
    :math:`F_g-1+l`, and :math:`DID_l = \\sum_g S_g DID_{g,l}/N_l` over the :math:`N_l` switchers with such
    controls. The placebo :math:`DID^{pl}_l` replaces the change by :math:`Y_{g,F_g-1-l} - Y_{g,F_g-1}`, with
    controls not switched by :math:`F_g-1+l` (observed in the three periods).

    **Variance** (2024, Web Appendix Sec. 3.7.3). Each estimate is :math:`\\sum_g U_g / N`, where :math:`U_g`
    collects group g's role-weighted changes (as a switcher, and as a control weighted by the switchers' share);
    :math:`U_g` is recentred on its cohort mean, cohorts being groups with the same :math:`(D_{g,1}, F_g, S_g)`,
    and :math:`\\widehat{se} = \\sqrt{\\sum_g \\tilde U_g^2}/N`. Groups alone in their cohort contribute zero.
    """
    Y = np.asarray(Y, dtype=np.float64)
    D = np.asarray(D, dtype=np.float64)
    n, T = Y.shape
    present = np.isfinite(Y) & np.isfinite(D)
    if not present[:, 0].all():
        raise DataError("every group must be observed in the first period (its baseline treatment).")
    labels = np.arange(T) if period_labels is None else np.asarray(period_labels)
    baseline, first, direction = switch_metadata(D, present)
    keys = np.stack([baseline, first, direction], axis=1)
    cohort = np.unique(keys, axis=0, return_inverse=True)[1].ravel()

    terms: list[str] = []
    kinds: list[str] = []
    times: list[float] = []
    est: list[float] = []
    infl: list[np.ndarray] = []
    n_sw: list[int] = []
    n_ctrl: list[int] = []

    def add(term: str, kind: str, time: float, U: np.ndarray, N: int, controls: np.ndarray) -> None:
        terms.append(term)
        kinds.append(kind)
        times.append(time)
        n_sw.append(int(N))
        n_ctrl.append(int(controls.sum()))
        if N == 0:
            est.append(np.nan)
            infl.append(np.zeros(n))
            return
        est.append(float(U.sum() / N))
        infl.append(_recentre(U, cohort) * n / N)

    # ---- DID_M and its joiners' / leavers' parts
    U_plus, U_minus = np.zeros(n), np.zeros(n)
    N_plus = N_minus = 0
    ctrl_plus, ctrl_minus = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    dropped: list[str] = []
    Yf = np.where(present, Y, 0.0)
    for t in range(1, T):
        pair = present[:, t] & present[:, t - 1]
        dY = Yf[:, t] - Yf[:, t - 1]
        prev, cur = D[:, t - 1], D[:, t]
        for side, (a, b) in (("plus", (0, 1)), ("minus", (1, 0))):
            sw = pair & (prev == a) & (cur == b)
            stable = pair & (prev == a) & (cur == a)
            n_s, n_c = int(sw.sum()), int(stable.sum())
            if n_s == 0:
                continue
            if n_c == 0:
                who = "joiner" if side == "plus" else "leaver"
                dropped.append(f"{n_s} {who} cell(s) at period {labels[t]!r} (no group with treatment {a} in both)")
                continue
            sign = 1.0 if side == "plus" else -1.0
            U = U_plus if side == "plus" else U_minus
            U[sw] += sign * dY[sw]
            U[stable] -= sign * (n_s / n_c) * dY[stable]
            if side == "plus":
                N_plus += n_s
                ctrl_plus |= stable
            else:
                N_minus += n_s
                ctrl_minus |= stable
    add("overall", "DID_M", np.nan, U_plus + U_minus, N_plus + N_minus, ctrl_plus | ctrl_minus)
    add("joiners", "DID_+", np.nan, U_plus, N_plus, ctrl_plus)
    add("leavers", "DID_-", np.nan, U_minus, N_minus, ctrl_minus)

    # ---- dynamic effects and placebos: cohorts of switchers (same baseline and first switch) share controls
    switchers = first >= 0
    f_switch = np.where(switchers, first, T + 1)  # a group that never switches is a control at every horizon
    for lag, kind in [(lag, "dynamic") for lag in range(1, effects + 1)] + [
        (lag, "placebo") for lag in range(1, placebo + 1)
    ]:
        U = np.zeros(n)
        N = 0
        controls = np.zeros(n, dtype=bool)
        for b, f in {(baseline[g], first[g]) for g in np.flatnonzero(switchers)}:
            ref, fwd = f - 1, f - 1 + lag
            out = fwd if kind == "dynamic" else ref - lag
            if fwd >= T or out < 0:
                continue
            sw = switchers & (baseline == b) & (first == f) & present[:, ref] & present[:, out]
            pool = (baseline == b) & (f_switch > fwd) & present[:, ref] & present[:, out]
            if kind == "placebo":
                pool &= present[:, fwd]
            if not sw.any() or not pool.any():
                continue
            s = direction[sw].astype(np.float64)
            U[sw] += s * (Yf[sw, out] - Yf[sw, ref])
            U[pool] -= s.sum() / pool.sum() * (Yf[pool, out] - Yf[pool, ref])
            N += int(sw.sum())
            controls |= pool
        sign = 1 if kind == "dynamic" else -1
        add(f"event_time::{sign * lag}", kind, float(sign * lag), U, N, controls)

    return DcdhFit(
        terms=tuple(terms),
        kinds=tuple(kinds),
        event_time=np.asarray(times),
        estimates=np.asarray(est),
        influence=np.column_stack(infl),
        n_switchers=np.asarray(n_sw, dtype=np.int64),
        n_controls=np.asarray(n_ctrl, dtype=np.int64),
        dropped_cells=tuple(dropped),
    )
